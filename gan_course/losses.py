"""GAN losses used in the course, each one line of maths.

Notation: ``D(x)`` is a discriminator **logit** (no sigmoid), ``C(x)`` a critic score,
``sigma`` the sigmoid, means are over the batch (and over patches / pixels where there are any).

- Non-saturating GAN (chapters 4, DCGAN), BCE written on logits:
  :func:`d_loss_bce`, :func:`g_loss_bce`.
- Wasserstein GAN with gradient penalty (chapter 5): :func:`critic_loss_wasserstein`,
  :func:`g_loss_wasserstein`, :func:`gradient_penalty`.
- CycleGAN (chapter 6): :func:`lsgan_loss`, :func:`cycle_loss`, :func:`identity_loss`.

The BCE losses use ``binary_cross_entropy_with_logits``: it computes
``log(sigma(x))`` as ``-softplus(-x)``, so it never evaluates ``log(0)`` for a confident
discriminator, and it is on autocast's "run in float32" list, so it is safe under mixed precision
(``BCELoss`` on probabilities is refused under CUDA float16 autocast).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = [
    "critic_loss_wasserstein",
    "cycle_loss",
    "d_loss_bce",
    "g_loss_bce",
    "g_loss_wasserstein",
    "gradient_penalty",
    "identity_loss",
    "lsgan_loss",
]


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def d_loss_bce(real_logits: torch.Tensor, fake_logits: torch.Tensor,
               real_label: float = 1.0) -> torch.Tensor:
    """Discriminator loss: ``-mean log sigma(D(real)) - mean log(1 - sigma(D(fake)))``.

    Equals ``BCELoss(sigma(real), 1) + BCELoss(sigma(fake), 0)`` (the sum of the book's two
    discriminator updates) but computed from logits. ``real_label < 1`` (e.g. 0.9) is one-sided
    label smoothing: the real target becomes ``real_label``, i.e.
    ``BCE(real, y) = -mean[y log sigma(x) + (1 - y) log(1 - sigma(x))]``.

    Shapes: any matching logits, e.g. ``(B, 1)`` each -> scalar.
    """
    if not 0.0 <= real_label <= 1.0:
        raise ValueError(f"real_label must be in [0, 1] (1.0 = no smoothing), got {real_label}.")
    return _bce(real_logits, real_label) + _bce(fake_logits, 0.0)


def g_loss_bce(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator loss (non-saturating): ``-mean log sigma(D(G(z)))``, i.e. BCE with target 1.

    Shapes: logits of any shape, e.g. ``(B, 1)`` -> scalar.
    """
    return _bce(fake_logits, 1.0)


def critic_loss_wasserstein(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Critic loss: ``mean C(fake) - mean C(real)`` (add ``lambda_gp * gradient_penalty``).

    Minimising it pushes real scores up and fake scores down; ``-loss`` estimates the
    Wasserstein distance. Shapes: ``(B,)`` (or any) each -> scalar.
    """
    return fake_scores.mean() - real_scores.mean()


def g_loss_wasserstein(fake_scores: torch.Tensor) -> torch.Tensor:
    """Generator loss for WGAN: ``-mean C(G(z))``. Shapes: ``(B,)`` (or any) -> scalar."""
    return -fake_scores.mean()


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP penalty: ``mean_i (||grad_x C(x_i)||_2 - 1)^2`` at ``x_i = a_i real_i + (1-a_i) fake_i``.

    - One ``a_i ~ U(0, 1)`` **per sample**, shape ``(B, 1, 1, 1)``, broadcast over the pixels
      (no ``.repeat`` copy), drawn from ``generator`` if given (reproducible).
    - ``real`` and ``fake`` are detached: the penalty trains the critic only, never the
      generator that made ``fake``.
    - ``torch.autograd.grad(..., create_graph=True)`` keeps the graph of the gradient so the
      penalty itself can be backpropagated into the critic's parameters.
    - The gradient norm is taken in float32 (safe under autocast).

    ``critic`` is any callable images -> scores, e.g. ``lambda x: critic(x, labels)`` for the
    conditional critic. Its score for sample ``i`` must depend on sample ``i`` only (no
    BatchNorm), otherwise the per-sample gradient is not what the penalty assumes.

    Shapes: ``real``, ``fake`` ``(B, ...)`` identical -> scalar.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {tuple(real.shape)} and "
                         f"{tuple(fake.shape)}.")
    if real.dim() < 2:
        raise ValueError(f"expected a batch (B, ...), got shape {tuple(real.shape)}.")
    alpha_shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    gen_device = generator.device if generator is not None else real.device
    alpha = torch.rand(alpha_shape, generator=generator, device=gen_device)
    alpha = alpha.to(device=real.device, dtype=real.dtype)
    interpolated = alpha * real.detach() + (1 - alpha) * fake.detach()
    interpolated.requires_grad_(True)
    scores = critic(interpolated)
    (grad,) = torch.autograd.grad(
        outputs=scores, inputs=interpolated, grad_outputs=torch.ones_like(scores),
        create_graph=True,
    )
    grad_norm = grad.flatten(1).float().norm(2, dim=1)
    return ((grad_norm - 1) ** 2).mean()


def lsgan_loss(pred: torch.Tensor, is_real: bool) -> torch.Tensor:
    """Least-squares GAN loss: ``mean (D(x) - 1)^2`` if ``is_real`` else ``mean D(x)^2``.

    ``pred`` is the raw (no sigmoid) output, e.g. a PatchGAN map ``(B, 1, h, w)`` -> scalar.
    """
    target = torch.ones_like(pred) if is_real else torch.zeros_like(pred)
    return F.mse_loss(pred, target)


def cycle_loss(reconstructed: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Cycle-consistency loss: ``mean |F(G(x)) - x|`` (L1, per pixel).

    Shapes: ``(B, C, H, W)`` each -> scalar.
    """
    return F.l1_loss(reconstructed, original)


def identity_loss(same: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Identity loss: ``mean |G(y) - y|`` -- a generator fed its own target domain should not
    change the image (L1, per pixel). Shapes: ``(B, C, H, W)`` each -> scalar.
    """
    return F.l1_loss(same, original)
