"""DCGAN for 64x64 colour images (book chapter 4, anime faces).

Layer for layer the book's networks (``bias=False`` convolutions, BatchNorm, LeakyReLU(0.2) in
the discriminator, ReLU in the generator, Tanh output), with one change: the discriminator
returns **logits** (no final ``Sigmoid``). Each network keeps its layers in an ``nn.Sequential``
called ``main``, so ``print(G.main)`` shows the same list as the book.

With ``features=64`` the generator has 3,576,704 parameters and the discriminator 2,765,568.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class DCGANGenerator(nn.Module):
    """Noise -> 64x64 image, by five transposed convolutions (4x4 kernels).

    Spatial sizes: 1 -> 4 (``ConvT(4,1,0)``) -> 8 -> 16 -> 32 -> 64 (``ConvT(4,2,1)`` each);
    channels ``latent_dim -> 8f -> 4f -> 2f -> f -> channels`` with ``f = features``.
    BatchNorm + ReLU after every layer but the last, which ends in Tanh.

    Args:
        latent_dim: length of the noise vector (book: 100).
        features: width multiplier ``f`` (book: 64).
        channels: image channels (3 for RGB).

    Shapes: ``z`` of shape ``(B, latent_dim)`` or ``(B, latent_dim, 1, 1)`` ->
    ``(B, channels, 64, 64)`` in [-1, 1].
    """

    def __init__(self, latent_dim: int = 100, features: int = 64, channels: int = 3):
        super().__init__()
        self.latent_dim = int(latent_dim)
        f = int(features)
        self.main = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, f * 8, 4, 1, 0, bias=False),  # 1 -> 4
            nn.BatchNorm2d(f * 8),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(f * 8, f * 4, 4, 2, 1, bias=False),  # 4 -> 8
            nn.BatchNorm2d(f * 4),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(f * 4, f * 2, 4, 2, 1, bias=False),  # 8 -> 16
            nn.BatchNorm2d(f * 2),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(f * 2, f, 4, 2, 1, bias=False),  # 16 -> 32
            nn.BatchNorm2d(f),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(f, channels, 4, 2, 1, bias=False),  # 32 -> 64
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z (B, latent_dim)`` or ``(B, latent_dim, 1, 1)`` -> ``(B, channels, 64, 64)``."""
        if z.dim() == 2:
            z = z[:, :, None, None]  # a noise vector is a 1x1 "image" with latent_dim channels
        if z.dim() != 4 or z.shape[1] != self.latent_dim or z.shape[2:] != (1, 1):
            raise ValueError(f"DCGANGenerator expects noise of shape (B, {self.latent_dim}) or "
                             f"(B, {self.latent_dim}, 1, 1), got {tuple(z.shape)}.")
        return self.main(z)


class DCGANDiscriminator(nn.Module):
    """64x64 image -> one real/fake **logit**, by five strided convolutions (4x4 kernels).

    Spatial sizes: 64 -> 32 -> 16 -> 8 -> 4 (``Conv(4,2,1)``) -> 1 (``Conv(4,1,0)``); channels
    ``channels -> f -> 2f -> 4f -> 8f -> 1``. LeakyReLU(0.2) after each hidden layer, BatchNorm
    on all but the first (the book's layout).

    No final ``Sigmoid`` (the book has one): a logit combined with ``BCEWithLogitsLoss`` (see
    :func:`gan_course.losses.d_loss_bce`) uses the log-sum-exp trick, so it never takes
    ``log(0)`` when the discriminator is very sure, and it is allowed under
    ``torch.autocast`` (``BCELoss`` on probabilities is refused in float16). Use
    ``torch.sigmoid(D(x))`` when you want the probability "real".

    Shapes: ``(B, channels, 64, 64)`` -> ``(B, 1)``.
    """

    def __init__(self, features: int = 64, channels: int = 3):
        super().__init__()
        f = int(features)
        self.main = nn.Sequential(
            nn.Conv2d(channels, f, 4, 2, 1, bias=False),  # 64 -> 32
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(f, f * 2, 4, 2, 1, bias=False),  # 32 -> 16
            nn.BatchNorm2d(f * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(f * 2, f * 4, 4, 2, 1, bias=False),  # 16 -> 8
            nn.BatchNorm2d(f * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(f * 4, f * 8, 4, 2, 1, bias=False),  # 8 -> 4
            nn.BatchNorm2d(f * 8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(f * 8, 1, 4, 1, 0, bias=False),  # 4 -> 1
            nn.Flatten(),  # (B, 1, 1, 1) -> (B, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, channels, 64, 64)`` -> logits ``(B, 1)``."""
        if x.dim() != 4 or x.shape[-2:] != (64, 64):
            raise ValueError(f"DCGANDiscriminator expects images of shape (B, C, 64, 64), got "
                             f"{tuple(x.shape)}; resize the data to 64x64.")
        return self.main(x)
