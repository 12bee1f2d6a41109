"""A model of the course wired for training: what a :class:`Task` holds, and one builder per chapter.

``build_task(cfg, device)`` reads everything from the config: it builds the models
(:mod:`gan_course.models`, ``weights_init`` applied), Adam optimisers with the config's learning
rate and betas, and returns a :class:`Task` whose ``step(batch)`` trains on one batch (it
captures its models, optimisers and settings) and whose ``sample()`` draws the fixed sample grid.
Each builder reads like its chapter; they are parallel on purpose.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from gan_course.config import TASKS, TrainConfig
from gan_course.training import distributed as ddp
from gan_course.training import steps
from gan_course.training.amp import make_scaler
from gan_course.training.image_pool import ImagePool


@dataclass
class Task:
    """Everything :func:`~gan_course.training.loop.fit` needs about one model.

    ``step(batch) -> dict of losses`` (0-dim tensors, or floats) trains on one batch;
    ``sample_fn(fixed) -> images (B, C, H, W) in [-1, 1]`` draws from the fixed inputs;
    ``make_fixed(batches)`` builds those inputs (noise, or real images to translate).
    ``extra_state`` holds other objects with a ``state_dict`` (CycleGAN's image pools, the
    generator EMA) so checkpoints capture them too; ``ema`` is the generators' moving average
    (:class:`~gan_course.training.ema.ModelEMA`) when the config keeps one - sample grids and
    evaluation then use the averaged weights.
    """

    name: str
    config: TrainConfig
    device: torch.device
    models: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    step: Callable[[tuple], dict]
    sample_fn: Callable[[Any], torch.Tensor]
    make_fixed: Callable[[Any], Any]
    scalers: dict[str, torch.amp.GradScaler] = field(default_factory=dict)
    schedulers: dict[str, Any] = field(default_factory=dict)
    extra_state: dict[str, Any] = field(default_factory=dict)
    fixed: Any = None
    ema: Any = None

    def averaged(self) -> contextlib.AbstractContextManager:
        """Inside ``with task.averaged():`` the generator(s) hold their moving average (EMA)
        when the config keeps one, as sample grids and ``python -m gan_course evaluate`` use
        them; without an EMA (``ema_decay=0``) the block changes nothing. The live weights
        come back at the end of the block."""
        return self.ema.swapped() if self.ema is not None else contextlib.nullcontext()

    @torch.no_grad()
    def sample(self, fixed: Any = None) -> torch.Tensor:
        """Images from the fixed inputs (or ``fixed``) with the models in eval mode, ``(B, C, H, W)``
        (the generator's moving average when the run keeps one: :meth:`averaged`)."""
        fixed = self.fixed if fixed is None else fixed
        modes = {k: m.training for k, m in self.models.items()}
        for m in self.models.values():
            m.eval()
        try:
            with self.averaged():
                return self.sample_fn(fixed).float().cpu()
        finally:
            for k, m in self.models.items():
                m.train(modes[k])

    def state_dict(self) -> dict:
        """Weights, optimisers, schedulers, scalers, extra state and fixed inputs (weights_only-safe)."""
        return {
            "models": {k: ddp.plain(m).state_dict() for k, m in self.models.items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "scalers": {k: s.state_dict() for k, s in self.scalers.items()},
            "extra": {k: s.state_dict() for k, s in self.extra_state.items()},
            "fixed": self.fixed,
        }

    def load_state_dict(self, state: dict) -> None:
        """Inverse of :meth:`state_dict`."""
        for k, m in self.models.items():
            ddp.plain(m).load_state_dict(state["models"][k])
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        extra = dict(state.get("extra") or {})
        if "ema" not in extra and state.get("ema"):  # checkpoints of the first EMA version
            extra["ema"] = state["ema"]
        for group, objects in (("schedulers", self.schedulers), ("scalers", self.scalers),
                               ("extra", self.extra_state)):
            saved = extra if group == "extra" else state.get(group, {})
            for k, obj in objects.items():
                if saved.get(k):
                    obj.load_state_dict(saved[k])
        if self.ema is not None and not extra.get("ema"):
            # A run without a saved average: start it from the loaded weights, never from the
            # fresh initial weights the EMA was built with (that would swap in an untrained G).
            self.ema.restart_from_models()
        if state.get("fixed") is not None:
            self.fixed = _to_device(state["fixed"], self.device)


def _to_device(x: Any, device: torch.device) -> Any:
    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, (list, tuple)):
        return type(x)(_to_device(v, device) for v in x)
    return x


# ----------------------------------------------------------------------------- shared pieces
def _init(model: nn.Module, device: torch.device, channels_last: bool = False) -> nn.Module:
    from gan_course.models import weights_init

    model.apply(weights_init)  # N(0, 0.02) convolutions, N(1, 0.02) norms - as in the book
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return ddp.wrap(model, device)


def _channels_last(cfg: TrainConfig, device: torch.device) -> bool:
    """Whether the conv nets of ``cfg`` train in channels_last (NHWC) memory format.

    ``cfg.channels_last`` decides when set. Automatic: every conv net on CUDA (tensor-core
    convolutions run in NHWC; ``benchmarks/gpu.py`` measures both layouts per model), and on
    the CPU the DCGAN and cGAN, measured faster there by ``benchmarks/run.py``; the CycleGAN
    (reflection padding, instance norm) was slower on CPU in channels_last.
    """
    if cfg.task == "fashion":  # linear layers: no memory format
        return False
    if cfg.channels_last is not None:
        return bool(cfg.channels_last)
    return device.type == "cuda" or (device.type == "cpu" and cfg.task in ("dcgan", "cgan"))


def _prepare_device(device: torch.device) -> None:
    """cuDNN autotuning on CUDA: the batch shape never changes, so the fastest convolution
    algorithms are picked once (unless deterministic algorithms were asked for)."""
    if device.type == "cuda" and not torch.are_deterministic_algorithms_enabled():
        torch.backends.cudnn.benchmark = True


def _adam(cfg: TrainConfig, *models: nn.Module, discriminator: bool = False) -> torch.optim.Adam:
    params = list(itertools.chain.from_iterable(m.parameters() for m in models))
    # cfg.run_lr: the config's lr (lr_d for a discriminator when set), x sqrt(processes) when
    # the batch is per process
    lr = cfg.run_lr(ddp.current().world, discriminator)
    # fused: one kernel for the whole update on CUDA instead of several per parameter
    fused = params[0].device.type == "cuda"
    return torch.optim.Adam(params, lr=lr, betas=tuple(cfg.betas), fused=fused)


def _scalers(optimizers: dict, device: torch.device, cfg: TrainConfig) -> dict:
    return {k: make_scaler(device, cfg.amp) for k in optimizers}


def _fixed_noise(cfg: TrainConfig, device: torch.device) -> Callable[[Any], torch.Tensor]:
    def make(_data) -> torch.Tensor:
        # a private generator: the fixed noise does not shift the training noise stream
        g = torch.Generator().manual_seed(cfg.seed + 12345)
        return torch.randn(cfg.n_samples, cfg.latent_dim, generator=g).to(device)
    return make


# ----------------------------------------------------------------------------- chapter 4
def _build_gan(cfg: TrainConfig, device: torch.device) -> Task:
    """fashion (MLP GAN, flattened 28x28) and dcgan (convolutional, 3x64x64 as in the book, or
    3x32x32 with one resolution step fewer for the CPU demo): the same step."""
    from gan_course import models

    if cfg.task == "fashion":
        G = _init(models.MLPGenerator(cfg.latent_dim, cfg.hidden_g,
                                       negative_slope=cfg.negative_slope), device)
        D = _init(models.MLPDiscriminator(784, cfg.hidden_d, cfg.dropout,
                                           negative_slope=cfg.negative_slope, pack=cfg.pack),
                  device)
    else:
        nets = {64: (models.DCGANGenerator, models.DCGANDiscriminator),
                32: (models.DCGANGenerator32, models.DCGANDiscriminator32)}
        if cfg.image_size not in nets:
            raise ValueError(f"The DCGAN works on 64x64 (the book) or 32x32 images, not "
                             f"{cfg.image_size}; set image_size to 64 or 32.")
        gen_cls, disc_cls = nets[cfg.image_size]
        nhwc = _channels_last(cfg, device)
        G = _init(gen_cls(cfg.latent_dim, cfg.features), device, nhwc)
        D = _init(disc_cls(cfg.d_features or cfg.features), device, nhwc)
    optimizers = {"G": _adam(cfg, G), "D": _adam(cfg, D, discriminator=True)}
    scalers = _scalers(optimizers, device, cfg)

    def step(batch):
        images, _labels = batch
        return steps.gan_step(G, D, optimizers["G"], optimizers["D"], images,
                              latent_dim=cfg.latent_dim, scaler_g=scalers["G"],
                              scaler_d=scalers["D"], amp=cfg.amp, real_label=cfg.real_label)

    def sample(z):
        images = ddp.plain(G)(z)
        return images.view(-1, 1, 28, 28) if cfg.task == "fashion" else images

    return Task(cfg.task, cfg, device, {"G": G, "D": D}, optimizers, step, sample,
                _fixed_noise(cfg, device), scalers=scalers)


# ----------------------------------------------------------------------------- chapter 5
def _build_cgan(cfg: TrainConfig, device: torch.device) -> Task:
    from gan_course.models import CGANCritic, CGANGenerator

    nhwc = _channels_last(cfg, device)
    G = _init(CGANGenerator(cfg.latent_dim, cfg.num_classes, cfg.image_size, cfg.features),
              device, nhwc)
    C = _init(CGANCritic(cfg.num_classes, cfg.image_size, cfg.d_features or cfg.features,
                         projection=cfg.projection), device, nhwc)
    optimizers = {"G": _adam(cfg, G), "C": _adam(cfg, C, discriminator=True)}
    scalers = _scalers(optimizers, device, cfg)

    def step(batch):
        images, labels = batch
        return steps.wgan_gp_step(G, C, optimizers["G"], optimizers["C"], images, labels,
                                  latent_dim=cfg.latent_dim, critic_iters=cfg.critic_iters,
                                  lambda_gp=cfg.lambda_gp, scaler_g=scalers["G"],
                                  scaler_c=scalers["C"], amp=cfg.amp)

    def sample(fixed):
        z, labels = fixed
        return ddp.plain(G)(z, labels)

    def make_fixed(_data):
        # the SAME noise once per class: row by row, only the label changes (glasses / none)
        g = torch.Generator().manual_seed(cfg.seed + 12345)
        per_class = max(1, cfg.n_samples // cfg.num_classes)
        z = torch.randn(per_class, cfg.latent_dim, generator=g).repeat(cfg.num_classes, 1)
        labels = torch.arange(cfg.num_classes).repeat_interleave(per_class)
        return [z.to(device), labels.to(device)]

    return Task("cgan", cfg, device, {"G": G, "C": C}, optimizers, step, sample, make_fixed,
                scalers=scalers)


# ----------------------------------------------------------------------------- chapter 6
def _build_cyclegan(cfg: TrainConfig, device: torch.device) -> Task:
    from gan_course.models import PatchDiscriminator, ResnetGenerator

    d_features = cfg.d_features or (cfg.features, 2 * cfg.features, 4 * cfg.features,
                                    8 * cfg.features)
    nhwc = _channels_last(cfg, device)
    # G_AB turns black hair (domain A) blond (B), G_BA blond to black
    G_AB = _init(ResnetGenerator(3, cfg.features, cfg.num_residuals, cfg.residual), device, nhwc)
    G_BA = _init(ResnetGenerator(3, cfg.features, cfg.num_residuals, cfg.residual), device, nhwc)
    D_A = _init(PatchDiscriminator(3, d_features), device, nhwc)
    D_B = _init(PatchDiscriminator(3, d_features), device, nhwc)
    optimizers = {"G": _adam(cfg, G_AB, G_BA), "D": _adam(cfg, D_A, D_B, discriminator=True)}
    scalers = _scalers(optimizers, device, cfg)
    pools = {"pool_A": ImagePool(cfg.pool_size), "pool_B": ImagePool(cfg.pool_size)}

    def step(batch):
        real_A, real_B = batch
        return steps.cyclegan_step(G_AB, G_BA, D_A, D_B, optimizers["G"], optimizers["D"],
                                   real_A, real_B, lambda_cycle=cfg.lambda_cycle,
                                   lambda_identity=cfg.lambda_identity, pool_A=pools["pool_A"],
                                   pool_B=pools["pool_B"], scaler_g=scalers["G"],
                                   scaler_d=scalers["D"], amp=cfg.amp)

    def sample(fixed):
        # grid rows: [real A | A -> B] then [real B | B -> A]
        real_A, real_B = fixed
        fake_B, fake_A = ddp.plain(G_AB)(real_A), ddp.plain(G_BA)(real_B)
        rows = []
        for real, fake in ((real_A, fake_B), (real_B, fake_A)):
            for i in range(0, len(real), 4):
                rows += [real[i:i + 4], fake[i:i + 4]]
        return torch.cat(rows)

    def make_fixed(data):
        k = max(1, cfg.n_samples // 2)
        return [data.a.first(k)[0].to(device), data.b.first(k)[0].to(device)]

    models = {"G_AB": G_AB, "G_BA": G_BA, "D_A": D_A, "D_B": D_B}
    return Task("cyclegan", cfg, device, models, optimizers, step, sample, make_fixed,
                scalers=scalers, extra_state=pools)


def _linear_decay(optimizers: dict, epochs: int, decay_epochs: int) -> dict:
    """The CycleGAN paper's schedule: constant LR, then linear decay to 0 over the last epochs."""
    start = max(0, epochs - decay_epochs)

    def factor(epoch: int) -> float:
        return 1.0 - max(0, epoch + 1 - start) / (decay_epochs + 1)

    return {k: torch.optim.lr_scheduler.LambdaLR(o, factor) for k, o in optimizers.items()}


_BUILDERS = {"fashion": _build_gan, "dcgan": _build_gan, "cgan": _build_cgan,
             "cyclegan": _build_cyclegan}
assert set(_BUILDERS) == set(TASKS)


def build_task(cfg: TrainConfig, device: torch.device | str | None = None) -> Task:
    """The :class:`Task` that trains ``cfg.task`` as ``cfg`` says, on ``device`` (default: best).

    Models are initialised (``weights_init``), moved to the device (channels_last where it is
    faster, see :func:`_channels_last`; cuDNN autotuning on CUDA) and DDP-wrapped under
    ``torchrun``; each optimiser gets a GradScaler (active for float16 only); with
    ``cfg.decay_epochs > 0`` the learning rates decay linearly to 0 over the last epochs. The initial weights are drawn
    from ``cfg.seed`` (torch's global generator is seeded with it here), so the same config
    always starts from the same networks, and another seed from other ones.
    """
    from gan_course.runtime import get_device

    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"build_task takes a TrainConfig (get_config(task, profile)), got "
                        f"{type(cfg).__name__}.")
    device = device if isinstance(device, torch.device) else get_device(device)
    _prepare_device(device)
    torch.manual_seed(cfg.seed)
    task = _BUILDERS[cfg.task](cfg, device)
    if cfg.decay_epochs > 0:
        task.schedulers = _linear_decay(task.optimizers, cfg.epochs, cfg.decay_epochs)
    if cfg.ema_decay > 0:
        _add_ema(task)
    return task


def _add_ema(task: Task) -> None:
    """Keep a moving average of the generator(s), updated after every training step."""
    from gan_course.training.ema import ModelEMA

    ema = ModelEMA({k: m for k, m in task.models.items() if k.startswith("G")},
                   task.config.ema_decay)
    train_step = task.step

    def step(batch):
        losses = train_step(batch)
        ema.update()  # after the generator's update: the average takes in the new weights
        return losses

    task.step, task.ema, task.extra_state["ema"] = step, ema, ema
