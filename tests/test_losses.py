"""Tests for gan_course.losses: hand-computed values, BCE-on-logits, gradient penalty properties."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from gan_course.losses import (
    critic_loss_wasserstein,
    cycle_loss,
    d_loss_bce,
    g_loss_bce,
    g_loss_wasserstein,
    gradient_penalty,
    identity_loss,
    lsgan_loss,
)
from gan_course.models import CGANCritic, DCGANDiscriminator

# ---------------------------------------------------------------- hand-computed values

def test_bce_losses_by_hand():
    zero = torch.zeros(4, 1)
    assert d_loss_bce(zero, zero).item() == pytest.approx(2 * math.log(2))
    assert g_loss_bce(zero).item() == pytest.approx(math.log(2))
    x = torch.tensor([[2.0], [-1.0]])
    # -mean log sigma(x) = mean log(1 + e^-x)
    expected_g = (math.log1p(math.exp(-2)) + math.log1p(math.exp(1))) / 2
    assert g_loss_bce(x).item() == pytest.approx(expected_g, rel=1e-6)
    expected_fake = (math.log1p(math.exp(2)) + math.log1p(math.exp(-1))) / 2
    assert d_loss_bce(x, x).item() == pytest.approx(expected_g + expected_fake, rel=1e-6)


def test_label_smoothing():
    x = torch.tensor([3.0])
    s = 1 / (1 + math.exp(-3))
    expected = -(0.9 * math.log(s) + 0.1 * math.log(1 - s)) + math.log1p(math.exp(-5))
    assert d_loss_bce(x, torch.tensor([-5.0]), real_label=0.9).item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="real_label"):
        d_loss_bce(x, x, real_label=1.5)


def test_bce_on_logits_equals_bce_on_probabilities():
    torch.manual_seed(0)
    real, fake = torch.randn(16, 1) * 3, torch.randn(16, 1) * 3
    bce = nn.BCELoss()
    ref_d = bce(torch.sigmoid(real), torch.ones_like(real)) + bce(torch.sigmoid(fake), torch.zeros_like(fake))
    ref_g = bce(torch.sigmoid(fake), torch.ones_like(fake))
    assert torch.isfinite(ref_d) and torch.isfinite(ref_g)
    assert torch.allclose(d_loss_bce(real, fake), ref_d, atol=1e-5)
    assert torch.allclose(g_loss_bce(fake), ref_g, atol=1e-5)
    # where sigma saturates, the probability form hits log(0) (clamped to 100 by PyTorch);
    # the logits form stays exact: BCE(x=-200, target 1) = 200
    assert g_loss_bce(torch.tensor([-200.0])).item() == pytest.approx(200.0)


def test_wasserstein_losses_by_hand():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-2.0, 0.0])
    assert critic_loss_wasserstein(real, fake).item() == pytest.approx(-1.0 - 2.0)
    assert g_loss_wasserstein(fake).item() == pytest.approx(1.0)


def test_lsgan_cycle_identity_by_hand():
    pred = torch.tensor([[0.0, 2.0], [1.0, -1.0]])
    assert lsgan_loss(pred, True).item() == pytest.approx((1 + 1 + 0 + 4) / 4)
    assert lsgan_loss(pred, False).item() == pytest.approx((0 + 4 + 1 + 1) / 4)
    a, b = torch.tensor([0.0, 1.0, -1.0, 2.0]), torch.tensor([1.0, 1.0, 1.0, 1.0])
    assert cycle_loss(a, b).item() == pytest.approx((1 + 0 + 2 + 1) / 4)
    assert identity_loss(a, b).item() == pytest.approx(1.0)


def test_losses_under_cpu_autocast():
    torch.manual_seed(0)
    D = DCGANDiscriminator(features=4)
    real, fake = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        r, f = D(real), D(fake)
        losses = [d_loss_bce(r, f), g_loss_bce(f), critic_loss_wasserstein(r, f),
                  g_loss_wasserstein(f), lsgan_loss(f, True), cycle_loss(fake, real)]
        C = CGANCritic(num_classes=2, img_size=32, features=4)
        labels = torch.tensor([0, 1])
        gp = gradient_penalty(lambda x: C(x, labels), real[:, :, :32, :32], fake[:, :, :32, :32])
    assert r.dtype == torch.bfloat16  # autocast really was on
    for loss in [*losses, gp]:
        assert loss.dim() == 0 and torch.isfinite(loss)
    gp.backward()
    # biases only shift a piecewise-linear net, so d(grad_x)/d(bias) is 0: check the weights
    conv_weights = [m.weight for m in C.modules() if isinstance(m, nn.Conv2d)]
    assert all(w.grad is not None and w.grad.abs().sum() > 0 for w in conv_weights)


# ---------------------------------------------------------------- gradient penalty

class LinearCritic(nn.Module):
    """f(x) = <w, x> + b: its gradient is w everywhere, so the penalty is (||w|| - 1)^2."""

    def __init__(self, w: torch.Tensor, b: float = 0.3):
        super().__init__()
        self.w = nn.Parameter(w.clone())
        self.b = nn.Parameter(torch.tensor(b))

    def forward(self, x):
        return (x * self.w).flatten(1).sum(1) + self.b


@pytest.mark.parametrize("seed", range(4))
def test_gradient_penalty_of_a_linear_critic(seed):
    g = torch.Generator().manual_seed(seed)
    shape = (3, 2, 4, 4)
    w = torch.randn(shape[1:], generator=g) * (seed + 0.5) / 5
    critic = LinearCritic(w)
    expected = (w.norm() - 1) ** 2
    for _ in range(2):  # any real/fake pair gives the same value
        real, fake = torch.randn(shape, generator=g), torch.randn(shape, generator=g) * 5
        assert gradient_penalty(critic, real, fake).item() == pytest.approx(expected.item(), rel=1e-5)
    unit = LinearCritic(w / w.norm())
    assert gradient_penalty(unit, torch.randn(shape), torch.randn(shape)).item() == pytest.approx(0, abs=1e-10)


def test_gradient_penalty_is_differentiable_wrt_critic_parameters():
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Conv2d(3, 4, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(4 * 4 * 4, 1))
    gp = gradient_penalty(critic, torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8))
    gp.backward()
    # the input-gradient of a piecewise-linear net does not depend on its biases, so check
    # the weights (what the penalty is meant to constrain)
    for w in (critic[0].weight, critic[3].weight):
        assert w.grad is not None and w.grad.abs().sum() > 0
    # linear critic: d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    w = torch.randn(3, 2, 2)
    lin = LinearCritic(w)
    gradient_penalty(lin, torch.randn(2, 3, 2, 2), torch.randn(2, 3, 2, 2)).backward()
    assert torch.allclose(lin.w.grad, 2 * (w.norm() - 1) * w / w.norm(), atol=1e-5)


def test_gradient_penalty_uses_one_alpha_per_sample_and_detaches_fake():
    seen = []

    def recording_critic(x):
        seen.append(x.detach().clone())
        return x.flatten(1).pow(2).sum(1)  # f(x) = ||x||^2, grad = 2x

    B, shape = 6, (6, 3, 4, 4)
    maker = nn.Parameter(torch.tensor(1.0))  # stands in for the generator
    real, fake = torch.ones(shape), torch.zeros(shape) * maker
    gp = gradient_penalty(recording_critic, real, fake, generator=torch.Generator().manual_seed(7))
    x = seen[0]
    alpha = x[:, 0, 0, 0]
    assert torch.equal(x, alpha.view(B, 1, 1, 1).expand(shape))  # constant within a sample
    assert len(set(alpha.tolist())) == B  # different across samples
    assert torch.all((alpha >= 0) & (alpha <= 1))
    # the same alphas come from the same generator, shape (B, 1, 1, 1)
    a = torch.rand((B, 1, 1, 1), generator=torch.Generator().manual_seed(7)).flatten()
    assert torch.allclose(alpha, a)
    # ||grad|| = 2 * ||alpha * 1|| = 2 * alpha * sqrt(48)
    expected = ((2 * a * math.sqrt(48) - 1) ** 2).mean()
    assert gp.item() == pytest.approx(expected.item(), rel=1e-5)
    gp.backward()
    assert maker.grad is None  # the penalty never reaches the generator


def test_gradient_penalty_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(lambda x: x.sum((1, 2, 3)), torch.zeros(2, 3, 4, 4), torch.zeros(3, 3, 4, 4))
