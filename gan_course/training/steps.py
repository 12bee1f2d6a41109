"""One training step per model - each a plain function to read top to bottom beside the book.

Every step takes the models, optimisers and one batch explicitly, updates the weights, and
returns a dict of its losses as 0-dim tensors, detached. They stay on the device: reading one
(``.item()``, ``float()``) makes the CPU wait for the GPU, so the training loop reads them all
at once every few steps (:mod:`gan_course.training.loop`).

Where this code differs from the book, it is on purpose:

* **No gradient flows into the generator during discriminator/critic updates.** Fakes for
  those updates are ``.detach()``-ed (one generator pass reused for both updates, DCGAN/MLP) or
  generated under ``torch.no_grad()`` (WGAN-GP's 5 critic steps: no generator graph is built at
  all). The book backpropagates the critic loss through the generator each time and keeps the
  graph alive with ``retain_graph=True``; that work is thrown away by ``gen.zero_grad()``.
* **The critic scores real and fake images in one pass** (WGAN-GP): it has no BatchNorm, so
  each image's score depends on that image alone and one batched call equals the book's two.
* **Discriminators are frozen during the generator update** (``frozen(D)``): the generator's
  loss still flows *through* D, but D's own weight gradients are not computed.
* **Mixed precision follows the device**: on CUDA, bfloat16 autocast where the GPU supports it
  (no scaler needed), else float16 autocast + a ``GradScaler`` per optimiser (as the book's
  CycleGAN does); on CPU and Apple MPS both are off. The plumbing (``autocast``,
  ``optimizer_step``) lives in :mod:`gan_course.training.amp`.
* **Distributed training** (``torchrun``) needs two small touches, marked ``# DDP`` below; on
  one process they do nothing. See :mod:`gan_course.training.distributed`.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

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
from gan_course.training.amp import autocast, optimizer_step
from gan_course.training.distributed import average_gradients, plain
from gan_course.training.image_pool import ImagePool

__all__ = ["cyclegan_step", "frozen", "gan_step", "wgan_gp_step"]


@contextlib.contextmanager
def frozen(*models: nn.Module):
    """Switch off ``requires_grad`` of the models' weights inside the block (inputs still get grads)."""
    params = [p for m in models for p in m.parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)


def _noise(batch: int, latent_dim: int, device: torch.device) -> torch.Tensor:
    return torch.randn(batch, latent_dim, device=device)


# ----------------------------------------------------------------------------- chapter 4: GAN
def gan_step(G, D, opt_g, opt_d, real, *, latent_dim=100, scaler_g=None, scaler_d=None,
             amp=True, real_label=1.0):
    """One step of the chapter-4 GAN: the MLP GAN on clothing and the DCGAN on faces alike.

    ``real``: a batch of real images in [-1, 1] - flattened ``(B, 784)`` for the MLP GAN,
    ``(B, 3, 64, 64)`` for the DCGAN; ``G`` maps noise ``(B, latent_dim)`` to the same shape.

    1. D learns real -> 1, fake -> 0 (BCE on logits; the book's two D updates in one). Real and
       fake go through D as separate batches (as in the book), so BatchNorm never mixes them.
    2. G learns to make D say 1 for its fakes (the non-saturating loss), reusing the same fakes.

    ``real_label`` < 1 (e.g. 0.9) is one-sided label smoothing of D's real target (book: 1).
    Returns ``{"loss_d", "loss_g", "d_real", "d_fake"}`` (the last two: mean D probabilities).
    """
    device = real.device
    with autocast(device, amp):
        fake = G(_noise(real.shape[0], latent_dim, device))  # one generator pass, used twice

    # 1. discriminator: fakes are detached, so this update never reaches G
    with autocast(device, amp):
        real_logits, fake_logits = D(real), D(fake.detach())
        loss_d = d_loss_bce(real_logits, fake_logits, real_label)
    optimizer_step(loss_d, opt_d, scaler_d)

    # 2. generator: gradient flows through D (frozen) into G
    with frozen(D), autocast(device, amp):
        loss_g = g_loss_bce(plain(D)(fake))                   # DDP: D is not updated here
    optimizer_step(loss_g, opt_g, scaler_g)

    return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
            "d_real": torch.sigmoid(real_logits.detach().float()).mean(),
            "d_fake": torch.sigmoid(fake_logits.detach().float()).mean()}


# ----------------------------------------------------------------------------- chapter 5: cWGAN-GP
def wgan_gp_step(G, critic, opt_g, opt_c, real, labels, *, latent_dim=100, critic_iters=5,
                 lambda_gp=10.0, scaler_g=None, scaler_c=None, amp=True):
    """Conditional WGAN-GP step (book ch. 5). ``real (B, 3, S, S)`` in [-1, 1], ``labels (B,)``.

    ``critic_iters`` critic updates, each: fresh fakes made under ``no_grad`` (no generator graph),
    loss ``C(fake) - C(real) + lambda_gp * GP`` (penalty in float32, outside autocast, because
    it differentiates twice). Real and fake images are scored in one critic pass: the critic
    judges every image on its own (InstanceNorm, no BatchNorm), so that equals the book's two
    calls, with half the layer calls. Then one generator update with a new batch of fakes,
    loss ``-C(G(z, y))``. The labels are the real batch's (the book's choice); the label planes
    are built inside the models from ``labels``. Returns ``{"loss_c", "loss_g", "gp", "w_dist"}``.
    """
    device, batch = real.device, real.shape[0]
    C = plain(critic)  # DDP: penalty needs double backward, which DDP's hooks do not support

    for _ in range(critic_iters):
        with torch.no_grad(), autocast(device, amp):
            fake = G(_noise(batch, latent_dim, device), labels)
        with autocast(device, amp):
            scores = C(torch.cat([real, fake]), torch.cat([labels, labels]))  # real, then fake
            w_dist = -critic_loss_wasserstein(scores[:batch], scores[batch:])
        gp = gradient_penalty(lambda x: C(x, labels), real.float(), fake.float())
        loss_c = -w_dist + lambda_gp * gp
        optimizer_step(loss_c, opt_c, scaler_c,
                       after_backward=lambda: average_gradients(critic))  # DDP: by hand

    # generator: one pass WITH a graph, through the frozen critic
    with frozen(C), autocast(device, amp):
        loss_g = g_loss_wasserstein(C(G(_noise(batch, latent_dim, device), labels), labels))
    optimizer_step(loss_g, opt_g, scaler_g)

    return {"loss_c": loss_c.detach(), "loss_g": loss_g.detach(), "gp": gp.detach(),
            "w_dist": w_dist.detach()}


# ----------------------------------------------------------------------------- chapter 6: CycleGAN
def cyclegan_step(G_AB, G_BA, D_A, D_B, opt_g, opt_d, real_A, real_B, *, lambda_cycle=10.0,
                  lambda_identity=0.0, pool_A=None, pool_B=None, scaler_g=None, scaler_d=None,
                  amp=True):
    """CycleGAN step (book ch. 6): A = black hair, B = blond hair, images ``(B, 3, S, S)``.

    ``G_AB`` turns A into B, ``G_BA`` B into A; ``D_A``/``D_B`` judge domain A/B (PatchGAN maps).
    ``opt_g`` holds both generators, ``opt_d`` both discriminators (as in the book).

    1. Discriminators, least-squares (MSE) loss: real -> 1, detached fake -> 0, averaged.
    2. Generators: fool both Ds (MSE to 1) + ``lambda_cycle`` * L1(A -> B -> A, A) and
       (B -> A -> B, B) + ``lambda_identity`` * L1(G_BA(A), A) and L1(G_AB(B), B).

    Defaults are the book's: no image pool, no identity loss (0), lambda_cycle 10; the
    reference options (``pool_A/pool_B = ImagePool(50)``, ``lambda_identity=0.5 * lambda_cycle``,
    linear LR decay via the schedulers in :mod:`gan_course.training.tasks`) are available;
    :class:`~gan_course.training.image_pool.ImagePool` keeps the past fakes.
    Returns ``{"loss_d", "loss_g", "loss_adv", "loss_cycle", "loss_identity"}``: ``loss_g`` is
    the whole generator loss, ``loss_adv`` its adversarial part alone (comparable with ``loss_d``).
    """
    device = real_A.device
    pool_A, pool_B = pool_A or ImagePool(0), pool_B or ImagePool(0)
    with autocast(device, amp):
        fake_B, fake_A = G_AB(real_A), G_BA(real_B)

    # 1. discriminators (detached fakes: no gradient into the generators)
    with autocast(device, amp):
        loss_d_A = lsgan_loss(D_A(real_A), True) + lsgan_loss(D_A(pool_A.query(fake_A.detach())), False)
        loss_d_B = lsgan_loss(D_B(real_B), True) + lsgan_loss(D_B(pool_B.query(fake_B.detach())), False)
        loss_d = (loss_d_A + loss_d_B) / 2
    optimizer_step(loss_d, opt_d, scaler_d)

    # 2. generators: adversarial + cycle (+ identity) through frozen discriminators
    with frozen(D_A, D_B), autocast(device, amp):
        loss_adv = lsgan_loss(plain(D_A)(fake_A), True) + lsgan_loss(plain(D_B)(fake_B), True)
        loss_cyc = cycle_loss(G_BA(fake_B), real_A) + cycle_loss(G_AB(fake_A), real_B)
        loss_id = torch.zeros((), device=device)
        if lambda_identity > 0:
            loss_id = identity_loss(G_BA(real_A), real_A) + identity_loss(G_AB(real_B), real_B)
        loss_g = loss_adv + lambda_cycle * loss_cyc + lambda_identity * loss_id
    optimizer_step(loss_g, opt_g, scaler_g)

    return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "loss_adv": loss_adv.detach(),
            "loss_cycle": loss_cyc.detach(), "loss_identity": loss_id.detach()}
