"""A 32x32 DCGAN: the book's 64x64 networks with one resolution step fewer (CPU demo only).

Same building blocks as :mod:`gan_course.models.dcgan` (4x4 kernels, stride 2, BatchNorm, ReLU in
the generator, LeakyReLU(0.2) in the discriminator, Tanh output, logits out of D); only the
outermost layer pair is gone, so each training step costs about a quarter of the 64x64 one. The
``full`` profile keeps the book's 64x64 networks; the ``demo`` profile uses these where a
laptop CPU has to show learning within minutes (see ``gan_course.config``).

Generator:     z -> 4x4 (4f) -> 8x8 (2f) -> 16x16 (f) -> 32x32 (channels)
Discriminator: 32x32 -> 16x16 (f) -> 8x8 (2f) -> 4x4 (4f) -> 1 logit
"""

from __future__ import annotations

import torch
import torch.nn as nn


class DCGANGenerator32(nn.Module):
    """Noise ``(B, latent_dim)`` or ``(B, latent_dim, 1, 1)`` -> ``(B, channels, 32, 32)`` in [-1, 1]."""

    def __init__(self, latent_dim: int = 100, features: int = 64, channels: int = 3):
        super().__init__()
        self.latent_dim = int(latent_dim)
        f = int(features)
        self.main = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, f * 4, 4, 1, 0, bias=False),  # 1 -> 4
            nn.BatchNorm2d(f * 4),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(f * 4, f * 2, 4, 2, 1, bias=False),  # 4 -> 8
            nn.BatchNorm2d(f * 2),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(f * 2, f, 4, 2, 1, bias=False),  # 8 -> 16
            nn.BatchNorm2d(f),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(f, channels, 4, 2, 1, bias=False),  # 16 -> 32
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z (B, latent_dim)`` or ``(B, latent_dim, 1, 1)`` -> ``(B, channels, 32, 32)``."""
        if z.dim() == 2:
            z = z[:, :, None, None]
        if z.dim() != 4 or z.shape[1] != self.latent_dim or z.shape[2:] != (1, 1):
            raise ValueError(f"DCGANGenerator32 expects noise of shape (B, {self.latent_dim}) or "
                             f"(B, {self.latent_dim}, 1, 1), got {tuple(z.shape)}.")
        return self.main(z)


class DCGANDiscriminator32(nn.Module):
    """``(B, channels, 32, 32)`` -> one real/fake logit per image ``(B, 1)``."""

    def __init__(self, features: int = 64, channels: int = 3):
        super().__init__()
        f = int(features)
        self.main = nn.Sequential(
            nn.Conv2d(channels, f, 4, 2, 1, bias=False),  # 32 -> 16
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(f, f * 2, 4, 2, 1, bias=False),  # 16 -> 8
            nn.BatchNorm2d(f * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(f * 2, f * 4, 4, 2, 1, bias=False),  # 8 -> 4
            nn.BatchNorm2d(f * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(f * 4, 1, 4, 1, 0, bias=False),  # 4 -> 1
            nn.Flatten(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, channels, 32, 32)`` -> logits ``(B, 1)``."""
        if x.dim() != 4 or x.shape[-2:] != (32, 32):
            raise ValueError(f"DCGANDiscriminator32 expects images of shape (B, C, 32, 32), got "
                             f"{tuple(x.shape)}; resize the data to 32x32.")
        return self.main(x)
