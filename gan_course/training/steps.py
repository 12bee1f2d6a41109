"""One training step per model - each a plain function to read top to bottom beside the book.

Every step takes the models, optimisers and one batch explicitly, updates the weights, and
returns a dict of float losses (``.item()`` is called once, at the end, so the GPU is not
synchronised in the middle of the step).

Where this code differs from the book, it is on purpose:

* **No gradient flows into the generator during discriminator/critic updates.** Fakes for
  those updates are ``.detach()``-ed (one generator pass reused for both updates, DCGAN/MLP) or
  generated under ``torch.no_grad()`` (WGAN-GP's 5 critic steps: no generator graph is built at
  all). The book backpropagates the critic loss through the generator each time and keeps the
  graph alive with ``retain_graph=True``; that work is thrown away by ``gen.zero_grad()``.
* **Discriminators are frozen during the generator update** (``frozen(D)``): the generator's
  loss still flows *through* D, but D's own weight gradients are not computed.
* **Mixed precision follows the device**: on CUDA, float16 autocast + a ``GradScaler`` per
  optimiser (as the book's CycleGAN does); on CPU both are switched off (bfloat16 on CPU was
  measured not to be faster here).
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
from gan_course.training.distributed import average_gradients, plain

__all__ = ["ImagePool", "autocast", "cyclegan_step", "dcgan_step", "frozen", "make_scaler",
           "mlp_gan_step", "optimizer_step", "wgan_gp_step"]


# ----------------------------------------------------------------------------- small helpers
def autocast(device: torch.device, enabled: bool = True):
    """float16 autocast on CUDA; a no-op context elsewhere."""
    on = enabled and device.type == "cuda"
    return torch.amp.autocast(device_type=device.type, dtype=torch.float16, enabled=on)


def make_scaler(device: torch.device, enabled: bool = True) -> torch.amp.GradScaler:
    """A ``GradScaler`` that is active on CUDA only (elsewhere it passes values through)."""
    return torch.amp.GradScaler("cuda", enabled=enabled and device.type == "cuda")


def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                   scaler: torch.amp.GradScaler | None = None) -> None:
    """``zero_grad -> backward -> step`` (through the scaler when there is one)."""
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()


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


# ----------------------------------------------------------------------------- chapter 4: MLP GAN
def mlp_gan_step(G, D, opt_g, opt_d, real, *, latent_dim=100, scaler_g=None, scaler_d=None,
                 amp=True, real_label=1.0):
    """Fashion-MNIST GAN step (book ch. 4). ``real``: flattened images ``(B, 784)`` in [-1, 1].

    1. D learns real -> 1, fake -> 0 (BCE on logits; the book's two D updates in one).
    2. G learns to make D say 1 for its fakes (non-saturating loss), reusing the same fakes.
    ``real_label`` < 1 (e.g. 0.9): one-sided label smoothing of D's real target (book: 1).
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

    return {"loss_d": loss_d.item(), "loss_g": loss_g.item(),
            "d_real": torch.sigmoid(real_logits.float()).mean().item(),
            "d_fake": torch.sigmoid(fake_logits.float()).mean().item()}


# ----------------------------------------------------------------------------- chapter 4: DCGAN
def dcgan_step(G, D, opt_g, opt_d, real, *, latent_dim=100, scaler_g=None, scaler_d=None,
               amp=True, real_label=1.0):
    """DCGAN step (book ch. 4). ``real``: images ``(B, 3, 64, 64)`` in [-1, 1].

    Same recipe as :func:`mlp_gan_step` with convolutional networks; real and fake go through D
    as separate batches (as in the book) so BatchNorm never mixes their statistics.
    ``real_label`` < 1: one-sided label smoothing (book: 1).
    Returns ``{"loss_d", "loss_g", "d_real", "d_fake"}``.
    """
    device = real.device
    with autocast(device, amp):
        fake = G(_noise(real.shape[0], latent_dim, device))

    # 1. discriminator on real (-> 1) and detached fake (-> 0) batches
    with autocast(device, amp):
        real_logits, fake_logits = D(real), D(fake.detach())
        loss_d = d_loss_bce(real_logits, fake_logits, real_label)
    optimizer_step(loss_d, opt_d, scaler_d)

    # 2. generator: make the (frozen) discriminator say "real"
    with frozen(D), autocast(device, amp):
        loss_g = g_loss_bce(plain(D)(fake))
    optimizer_step(loss_g, opt_g, scaler_g)

    return {"loss_d": loss_d.item(), "loss_g": loss_g.item(),
            "d_real": torch.sigmoid(real_logits.float()).mean().item(),
            "d_fake": torch.sigmoid(fake_logits.float()).mean().item()}


# ----------------------------------------------------------------------------- chapter 5: cWGAN-GP
def wgan_gp_step(G, critic, opt_g, opt_c, real, labels, *, latent_dim=100, critic_iters=5,
                 lambda_gp=10.0, scaler_g=None, scaler_c=None, amp=True):
    """Conditional WGAN-GP step (book ch. 5). ``real (B, 3, S, S)`` in [-1, 1], ``labels (B,)``.

    ``critic_iters`` critic updates, each: fresh fakes made under ``no_grad`` (no generator graph),
    loss ``C(fake) - C(real) + lambda_gp * GP`` (penalty in float32, outside autocast, because
    it differentiates twice). Then one generator update with a new batch of fakes,
    loss ``-C(G(z, y))``. The labels are the real batch's (the book's choice); the label planes
    are built inside the models from ``labels``. Returns ``{"loss_c", "loss_g", "gp", "w_dist"}``.
    """
    device, batch = real.device, real.shape[0]
    C = plain(critic)  # DDP: penalty needs double backward, which DDP's hooks do not support

    for _ in range(critic_iters):
        with torch.no_grad(), autocast(device, amp):
            fake = G(_noise(batch, latent_dim, device), labels)
        with autocast(device, amp):
            w_dist = -critic_loss_wasserstein(C(real, labels), C(fake, labels))
        gp = gradient_penalty(lambda x: C(x, labels), real.float(), fake.float())
        loss_c = -w_dist + lambda_gp * gp
        opt_c.zero_grad(set_to_none=True)
        (loss_c if scaler_c is None else scaler_c.scale(loss_c)).backward()
        average_gradients(critic)                           # DDP: all-reduce by hand
        if scaler_c is None:
            opt_c.step()
        else:
            scaler_c.step(opt_c)
            scaler_c.update()

    # generator: one pass WITH a graph, through the frozen critic
    with frozen(C), autocast(device, amp):
        loss_g = g_loss_wasserstein(C(G(_noise(batch, latent_dim, device), labels), labels))
    optimizer_step(loss_g, opt_g, scaler_g)

    return {"loss_c": loss_c.item(), "loss_g": loss_g.item(), "gp": gp.item(),
            "w_dist": w_dist.item()}


# ----------------------------------------------------------------------------- chapter 6: CycleGAN
class ImagePool:
    """Buffer of past fakes (Shrivastava et al.; CycleGAN paper uses 50). ``size=0``: pass-through.

    ``query(images)`` returns a batch of the same shape where each image is, with probability
    1/2 once the pool is full, swapped for an older fake - so D also sees older generators' work.
    """

    def __init__(self, size: int = 0):
        self.size, self.images = int(size), []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size <= 0:
            return images
        out = []
        for img in images.detach():
            if len(self.images) < self.size:
                self.images.append(img)
                out.append(img)
            elif torch.rand(()) < 0.5:
                k = int(torch.randint(len(self.images), ()))
                out.append(self.images[k])
                self.images[k] = img
            else:
                out.append(img)
        return torch.stack(out)


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
    linear LR decay via the schedulers in :mod:`gan_course.training.tasks`) are available.
    Returns ``{"loss_d", "loss_g", "loss_cycle", "loss_identity"}``.
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

    return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "loss_cycle": loss_cyc.item(),
            "loss_identity": loss_id.item()}
