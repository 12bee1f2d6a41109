"""One step of every step function: finite losses, weights move, no gradient leaks into G."""

import contextlib
import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from gan_course.models import (
    CGANCritic,
    CGANGenerator,
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    PatchDiscriminator,
    ResnetGenerator,
)
from gan_course.training import amp, steps
from gan_course.training.image_pool import ImagePool


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)


def _weights(*models):
    # conv/linear weights (biases right before a norm layer legitimately get zero gradient)
    return [p for m in models for p in m.parameters() if p.dim() > 1]


def _snapshot(*models):
    return [p.detach().clone() for p in _weights(*models)]


def _all_moved(before, *models):
    return all(not torch.equal(a, b) for a, b in zip(before, _weights(*models)))


def _adam(m, betas=(0.5, 0.999)):
    return torch.optim.Adam(m.parameters(), lr=1e-3, betas=betas)


def test_mlp_gan_step_updates_both_networks():
    G, D = MLPGenerator(8, (16,)), MLPDiscriminator(784, (16,))
    before = _snapshot(G, D)
    out = steps.gan_step(G, D, _adam(G), _adam(D), torch.rand(8, 784) * 2 - 1, latent_dim=8)
    assert set(out) == {"loss_d", "loss_g", "d_real", "d_fake"}
    assert all(math.isfinite(v) for v in out.values())
    assert _all_moved(before, G, D)


def test_dcgan_step_updates_both_networks():
    G, D = DCGANGenerator(8, 4), DCGANDiscriminator(4)
    before = _snapshot(G, D)
    out = steps.gan_step(G, D, _adam(G), _adam(D), torch.rand(4, 3, 64, 64) * 2 - 1,
                         latent_dim=8)
    # 0-dim tensors without a graph: the loop reads them in one go every few steps
    assert all(isinstance(v, torch.Tensor) and v.dim() == 0 and not v.requires_grad
               and math.isfinite(v) for v in out.values())
    assert _all_moved(before, G, D)
    # D was frozen only temporarily
    assert all(p.requires_grad for p in D.parameters())


def test_wgan_gp_step_updates_both_networks():
    G, C = CGANGenerator(8, 2, 32, 4), CGANCritic(2, 32, 4)
    before = _snapshot(G, C)
    out = steps.wgan_gp_step(G, C, _adam(G, (0.0, 0.9)), _adam(C, (0.0, 0.9)),
                             torch.rand(4, 3, 32, 32) * 2 - 1, torch.tensor([0, 1, 0, 1]),
                             latent_dim=8, critic_iters=2)
    assert set(out) == {"loss_c", "loss_g", "gp", "w_dist"}
    assert all(math.isfinite(v) for v in out.values())
    assert out["gp"] >= 0
    assert _all_moved(before, G, C)


def test_critic_iterations_never_build_a_generator_graph():
    """During the critic updates G runs under no_grad and its .grad stays empty; only the final
    generator update runs G with autograd on."""
    G, C = CGANGenerator(8, 2, 32, 4), CGANCritic(2, 32, 4)
    calls = []

    def hook(module, inputs, output):
        calls.append((torch.is_grad_enabled(), output.requires_grad,
                      all(p.grad is None for p in G.parameters())))

    G.register_forward_hook(hook)
    opt_g = _adam(G, (0.0, 0.9))
    opt_g.zero_grad(set_to_none=True)
    steps.wgan_gp_step(G, C, opt_g, _adam(C, (0.0, 0.9)), torch.rand(4, 3, 32, 32) * 2 - 1,
                       torch.tensor([0, 1, 0, 1]), latent_dim=8, critic_iters=3)
    assert len(calls) == 4
    # critic iterations: no autograd, no graph on the fakes, G gradients untouched
    assert calls[:3] == [(False, False, True)] * 3
    # generator update: autograd on; G's .grad still empty when its own forward starts
    assert calls[3] == (True, True, True)
    assert all(p.grad is not None for p in G.parameters())


def test_cyclegan_step_updates_all_four_networks():
    G_AB, G_BA = ResnetGenerator(3, 4, 1), ResnetGenerator(3, 4, 1)
    D_A, D_B = PatchDiscriminator(3, (4, 8)), PatchDiscriminator(3, (4, 8))
    opt_g = torch.optim.Adam(list(G_AB.parameters()) + list(G_BA.parameters()), lr=1e-3)
    opt_d = torch.optim.Adam(list(D_A.parameters()) + list(D_B.parameters()), lr=1e-3)
    before = _snapshot(G_AB, G_BA, D_A, D_B)
    a, b = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    out = steps.cyclegan_step(G_AB, G_BA, D_A, D_B, opt_g, opt_d, a, b)
    assert all(math.isfinite(v) for v in out.values())
    assert out["loss_identity"] == 0.0  # book default: no identity loss
    # the whole G loss is the adversarial part plus 10x the cycle loss (book defaults)
    assert float(out["loss_g"]) == pytest.approx(
        float(out["loss_adv"]) + 10.0 * float(out["loss_cycle"]), rel=1e-5)
    assert _all_moved(before, G_AB, G_BA, D_A, D_B)
    # the reference options run too
    out = steps.cyclegan_step(G_AB, G_BA, D_A, D_B, opt_g, opt_d, a, b, lambda_identity=5.0,
                              pool_A=ImagePool(4), pool_B=ImagePool(4))
    assert out["loss_identity"] > 0


def test_image_pool_returns_same_shape_and_is_passthrough_when_empty():
    x = torch.randn(3, 3, 8, 8)
    assert ImagePool(0).query(x) is x
    pool = ImagePool(2)
    y = pool.query(x)
    assert y.shape == x.shape and len(pool.images) == 2


def test_amp_is_off_on_cpu_and_mps():
    for device in ("cpu", "mps"):
        assert amp.precision(device) is None
        assert not amp.make_scaler(torch.device(device)).is_enabled()
        # a plain nullcontext: torch.autocast(device_type="mps") raises on torch < 2.5
        assert isinstance(amp.autocast(torch.device(device)), contextlib.nullcontext)


@pytest.mark.parametrize("capability,dtype", [((9, 0), torch.bfloat16), ((8, 0), torch.bfloat16),
                                              ((7, 5), torch.float16), ((7, 0), torch.float16)])
def test_cuda_precision_is_bf16_where_supported_else_fp16(monkeypatch, capability, dtype):
    """H100/H200/A100 (sm 8.0+) train in bfloat16 without a scaler; a T4 (7.5) or V100 (7.0)
    in float16 with one. Decided from the compute capability, not is_bf16_supported(), which
    also says yes for GPUs that only emulate bfloat16 (slowly)."""
    amp._bf16_ok.cache_clear()
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    try:
        assert amp.precision(torch.device("cuda", 0)) is dtype
        assert amp.precision(torch.device("cuda", 0), enabled=False) is None
    finally:
        amp._bf16_ok.cache_clear()


class _HostReads(TorchDispatchMode):
    """Counts reads of a tensor's value by the host (``.item()``, ``float()``, ``bool()``,
    ``int()``): on a GPU each one makes the CPU wait until the GPU has finished its queue.

    ``ignore``: tensors that live on the CPU even in a GPU run (Adam's step counters), whose
    reads cost nothing."""

    def __init__(self, ignore=()):
        super().__init__()
        self.count, self.ignore = 0, {id(t) for t in ignore}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default and id(args[0]) not in self.ignore:
            self.count += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("task", ["fashion", "dcgan", "cgan", "cyclegan"])
def test_a_training_step_never_waits_for_the_device(task):
    """No host read in a whole step of any model (before: 4 .item() per step, plus 44 from the
    cGAN's label range check) - the loop reads the returned losses every few steps instead."""
    from gan_course.config import get_config
    from gan_course.training.tasks import build_task

    cfg = get_config(task, "smoke")
    t = build_task(cfg, "cpu")
    b = 4
    if task == "fashion":
        batch = (torch.rand(b, 784) * 2 - 1, torch.zeros(b, dtype=torch.long))
    elif task == "cyclegan":
        batch = (torch.rand(b, 3, 32, 32) * 2 - 1, torch.rand(b, 3, 32, 32) * 2 - 1)
    else:
        size = cfg.image_size
        batch = (torch.rand(b, 3, size, size) * 2 - 1, torch.tensor([0, 1, 1, 0]))
    t.step(batch)  # first call: lazy initialisations may read values
    counters = [state["step"] for opt in t.optimizers.values() for state in opt.state.values()]
    assert counters and all(c.device.type == "cpu" for c in counters)
    with _HostReads(ignore=counters) as reads:
        out = t.step(batch)
    assert reads.count == 0
    assert all(isinstance(v, torch.Tensor) and v.dim() == 0 for v in out.values())
    with _HostReads() as reads:  # the counter itself works
        float(out[next(iter(out))])
    assert reads.count == 1


def test_the_critic_scores_each_image_on_its_own():
    """wgan_gp_step scores real and fake in ONE critic call; that equals two calls only because
    the critic (InstanceNorm, no BatchNorm) judges each image independently of the batch."""
    C = CGANCritic(2, 32, 4)
    real, fake = torch.rand(3, 3, 32, 32) * 2 - 1, torch.rand(3, 3, 32, 32) * 2 - 1
    labels = torch.tensor([0, 1, 1])
    together = C(torch.cat([real, fake]), torch.cat([labels, labels]))
    apart = torch.cat([C(real, labels), C(fake, labels)])
    assert torch.allclose(together, apart, atol=1e-5)
    # a batch-dependent critic (BatchNorm) would not pass this
    C_bn = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
                               torch.nn.Flatten(), torch.nn.LazyLinear(1))
    assert not torch.allclose(C_bn(torch.cat([real, fake]))[:3], C_bn(real), atol=1e-3)
