"""Checks for assignment a05: the label planes of the conditional critic and the gradient penalty."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ._common import call, close, own_answer, passed, scalar_tensor, shape_msg


def _ref_label_planes(labels: torch.Tensor, num_classes: int, size: int) -> torch.Tensor:
    """Reference: ``(B,)`` int labels → ``(B, num_classes, size, size)`` float one-hot planes."""
    onehot = F.one_hot(labels.long(), num_classes).float()
    return onehot[:, :, None, None].expand(-1, -1, size, size).contiguous()


def check_label_planes(fn: Callable[[torch.Tensor, int, int], torch.Tensor]) -> None:
    """Check ``label_planes(labels (B,), num_classes, size) -> (B, num_classes, size, size)`` float.

    Plane ``k`` of sample ``b`` is all ones when ``labels[b] == k``, else all zeros — the extra
    image channels a conditional critic reads next to the RGB channels.
    """
    name = "label_planes"
    own_answer(fn, name)
    cases = [(torch.tensor([0, 1, 1, 0]), 2, 4), (torch.tensor([2, 0, 1]), 3, 5),
             (torch.tensor([1]), 2, 64)]
    for labels, k, size in cases:
        call_text = f"{name}(labels={labels.tolist()}, num_classes={k}, size={size})"
        got = call(fn, name, labels.clone(), k, size)
        want = _ref_label_planes(labels, k, size)
        if not isinstance(got, torch.Tensor):
            raise AssertionError(f"{call_text}: returned {type(got).__name__}; return a torch tensor.")
        if tuple(got.shape) != tuple(want.shape):
            hint = "one plane per class, channels second: (B, num_classes, size, size)"
            if tuple(got.shape) == (len(labels), size, size, k):
                hint = "PyTorch images are channels-first: put num_classes in dim 1, not last"
            raise AssertionError(shape_msg(call_text, tuple(got.shape), tuple(want.shape), hint))
        if not got.is_floating_point():
            raise AssertionError(f"{call_text}: dtype is {got.dtype}; make it float (e.g. .float()) "
                                 f"so it can be concatenated with the float image channels.")
        if not torch.equal(got.float(), want):
            b, c = (int(i) for i in torch.nonzero((got.float() != want).flatten(2).any(-1))[0])
            raise AssertionError(
                f"{call_text}: sample {b}, plane {c} should be all "
                f"{'ones' if labels[b] == c else 'zeros'} (its label is {int(labels[b])}) — "
                f"plane k is 1 everywhere exactly when the label is k (a one-hot vector "
                f"stretched to size×size).")
    passed(name, len(cases))


def _ref_gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                         fake: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Reference WGAN-GP penalty: mean over samples of (‖∇ critic(x̂)‖₂ - 1)², x̂ = α·real + (1-α)·fake."""
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = critic(x_hat)
    grad = torch.autograd.grad(scores, x_hat, torch.ones_like(scores), create_graph=True)[0]
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


class _QuadraticCritic(nn.Module):
    """Tiny critic whose input gradient depends on the input (so the penalty depends on x̂)."""

    def __init__(self, shape: tuple[int, ...], seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(shape, generator=g) * 0.3)
        self.v = nn.Parameter(torch.randn(shape, generator=g) * 0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.w * x + self.v * x ** 2).flatten(1).sum(1)


class _LinearCritic(nn.Module):
    """critic(x) = <w, x>: the input gradient is w everywhere, so GP = (‖w‖ - 1)² for any α."""

    def __init__(self, shape: tuple[int, ...], norm: float):
        super().__init__()
        w = torch.ones(shape)
        self.w = nn.Parameter(w * norm / w.norm())
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return (self.w * x).flatten(1).sum(1, keepdim=True)


def check_gradient_penalty(fn: Callable[..., torch.Tensor]) -> None:
    """Check ``gradient_penalty(critic, real, fake, alpha=None) -> scalar tensor``.

    ``real``, ``fake``: ``(B, C, H, W)``; ``alpha``: ``(B, 1, 1, 1)`` or ``None`` (then one uniform
    random number per sample). Checked: the value against ``torch.autograd.grad`` for given
    alphas, that random alphas are per sample, and that the penalty back-propagates into the
    critic (``create_graph=True``).
    """
    name = "gradient_penalty"
    own_answer(fn, name)
    g = torch.Generator().manual_seed(5)
    shape = (4, 3, 4, 4)
    real = torch.randn(shape, generator=g)
    fake = torch.randn(shape, generator=g)
    n_cases = 0
    # 1. Given alphas, a critic with an input-dependent gradient: compare the value.
    for alpha in (torch.rand(4, 1, 1, 1, generator=g), torch.tensor([0.0, 1.0, 0.5, 0.25]).view(4, 1, 1, 1)):
        critic = _QuadraticCritic(shape[1:], seed=6)
        call_text = f"{name}(critic, real, fake, alpha=[{', '.join(f'{a:.2f}' for a in alpha.flatten())}])"
        got = scalar_tensor(call(fn, name, critic, real.clone(), fake.clone(), alpha=alpha.clone()), call_text)
        want = _ref_gradient_penalty(critic, real, fake, alpha)
        if not close(got, want, 1e-4):
            hint = ("x̂ = alpha·real + (1 - alpha)·fake; gradient of critic(x̂) w.r.t. x̂; flatten it "
                    "per sample to (B, -1), take the L2 norm over dim 1, then mean((norm - 1)²)")
            per_batch = _gp_variant(critic, real, fake, alpha, lambda n: n, whole_batch=True)
            swapped = _ref_gradient_penalty(critic, fake, real, alpha)
            no_minus = _gp_variant(critic, real, fake, alpha, lambda n: n ** 2)
            no_square = _gp_variant(critic, real, fake, alpha, lambda n: (n - 1).abs())
            if close(got, swapped, 1e-4):
                hint = "interpolate as alpha·real + (1 - alpha)·fake (you swapped real and fake)"
            elif close(got, per_batch, 1e-4):
                hint = ("take one gradient norm per sample (flatten to (B, -1), norm over dim=1), "
                        "not one norm of the whole batch")
            elif close(got, no_minus, 1e-4):
                hint = "penalise the distance of the norm from 1: (norm - 1)², not norm²"
            elif close(got, no_square, 1e-4):
                hint = "square the deviation: (norm - 1)²"
            raise AssertionError(f"{call_text}: expected {want.item():.5f}, got "
                                 f"{got.detach().item():.5f} — {hint}.")
        n_cases += 1
    # 2. alpha=None with a linear critic: the value is known, and the inputs show how α was drawn.
    critic = _LinearCritic(shape[1:], norm=2.0)
    call_text = f"{name}(critic, real, fake) with random alpha"
    fake = real - 1 - torch.rand(shape, generator=g)  # real - fake >= 1: α can be read back exactly
    got = scalar_tensor(call(fn, name, critic, real.clone(), fake.clone()), call_text)
    if not close(got, torch.tensor(1.0), 1e-4):
        raise AssertionError(f"{call_text}: with critic(x) = <w, x> and ‖w‖ = 2 the gradient is w "
                             f"everywhere, so the penalty is (2 - 1)² = 1; got "
                             f"{got.detach().item():.5f}.")
    if not critic.seen:
        raise AssertionError(f"{call_text}: the critic was never called; score the interpolated images.")
    x_hat = critic.seen[-1]
    ratio = (x_hat - fake) / (real - fake)  # the alpha each pixel was mixed with
    per_sample = ratio.flatten(1)
    if not torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample), atol=1e-4):
        raise AssertionError(f"{call_text}: alpha must be one random number per sample, shape "
                             f"(B, 1, 1, 1) — yours differs from pixel to pixel.")
    alphas = per_sample[:, 0]
    if ((alphas < -1e-4) | (alphas > 1 + 1e-4)).any():
        raise AssertionError(f"{call_text}: alpha must lie in [0, 1] (torch.rand), got "
                             f"{alphas.tolist()}.")
    if torch.allclose(alphas, alphas[:1].expand_as(alphas), atol=1e-6):
        raise AssertionError(f"{call_text}: every sample got the same alpha; draw one per sample: "
                             f"torch.rand(B, 1, 1, 1).")
    n_cases += 1
    # 3. The penalty must be differentiable w.r.t. the critic's weights (create_graph=True).
    critic.zero_grad()
    if not got.requires_grad:
        raise AssertionError(f"{call_text}: the penalty has no autograd graph, so it cannot train the "
                             f"critic — pass create_graph=True to torch.autograd.grad and do not "
                             f"detach or call .item().")
    got.backward()
    if critic.w.grad is None or not torch.allclose(critic.w.grad, 2 * (2.0 - 1) * critic.w / 2.0,
                                                   atol=1e-4):
        raise AssertionError(f"{call_text}: back-propagating the penalty gave the wrong gradient for the "
                             f"critic's weights — use create_graph=True in torch.autograd.grad.")
    passed(name, n_cases + 1)


def _gp_variant(critic, real, fake, alpha, penalty, whole_batch: bool = False) -> torch.Tensor:
    """A common wrong version of the penalty, to recognise a student's mistake."""
    x = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    grad = torch.autograd.grad(critic(x).sum(), x)[0]
    if whole_batch:  # one norm of the whole batch's gradient
        return (grad.norm() - 1) ** 2
    return penalty(grad.flatten(1).norm(2, dim=1)).mean()


# ----------------------------------------------------------------------------------------------
# Part 06 — CycleGAN: cycle-consistency loss and the residual block
