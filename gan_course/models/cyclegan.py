"""CycleGAN networks (book chapter 6: black <-> blond hair).

- :class:`ResnetGenerator`: image -> image of the same size (encoder, residual blocks, decoder).
- :class:`PatchDiscriminator`: image -> a grid of real/fake logits, one per overlapping patch.

Both use reflect padding (the border is padded with a mirror of the image instead of zeros, so
the network sees no artificial black frame) and ``InstanceNorm2d`` (each image normalised on its
own: style statistics belong to one image, not to a batch, and batch size is often 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn


def _norm_act(channels: int, act: bool = True) -> list[nn.Module]:
    return [nn.InstanceNorm2d(channels), nn.ReLU(inplace=True) if act else nn.Identity()]


class ResidualBlock(nn.Module):
    """``x + F(x)`` with ``F`` = two 3x3 reflect-padded convs, InstanceNorm, ReLU between.

    The skip connection lets the generator keep the input image (most of a hair-colour
    translation is "copy the face") and gives gradients a short path through 9 blocks.

    Shapes: ``(B, channels, H, W)`` -> ``(B, channels, H, W)``.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, padding_mode="reflect"),
            *_norm_act(channels),
            nn.Conv2d(channels, channels, 3, 1, 1, padding_mode="reflect"),
            *_norm_act(channels, act=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, C, H, W)``."""
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """Image-to-image generator (Johnson et al. / CycleGAN ResNet generator, as in the book).

    ``Conv 7x7 reflect -> IN -> ReLU`` (f channels), two ``Conv 3x3 stride 2`` downsamplings
    (2f, 4f; size / 4), ``num_residuals`` :class:`ResidualBlock` (4f), two
    ``ConvTranspose 3x3 stride 2, padding 1, output_padding 1`` upsamplings (2f, f; size * 4),
    ``Conv 7x7 reflect -> Tanh``.

    ``residual=True`` (not in the book) makes the generator draw only the *change* to its input:
    ``G(x) = clamp(x + last_conv(...), -1, 1)`` -- the last layer's output (without its tanh) is
    added to the input and the sum clipped to the image range. A hair-colour translation keeps
    most of the face; the book's generator must first learn to redraw every pixel through its
    4x-downsampled bottleneck, and InstanceNorm removes each channel's mean (the background
    colour) on the way. Measured on the toy 32x32 demo (512 steps, held-out faces): the book's
    generator trained only to copy its input still misses by L1 0.17 (the same as the hair change
    itself); with ``residual=True`` skin, background and glasses stay put and the output is
    0.32-0.38x as far from the ideal translation as the unchanged input, with both target-domain
    rates 100 % (seeds 0-2, one and two threads). An earlier form, ``tanh(atanh(x) + change)``,
    kept the sum in (-1, 1) smoothly but stalled on saturated colours: the tanh's slope at a
    channel near +-1 is ~0.01, so blond hair's red channel (near 1) barely moved and blond->black
    left red streaks (84-94 % of faces judged black-haired, vs 100 % with the clamp).

    Args:
        channels: image channels in and out.
        features: width ``f`` of the first layer (book: 64).
        num_residuals: number of residual blocks (book: 9 for 256x256 images).
        residual: add the output to the input (see above); ``False`` is the book's generator.

    Shapes: ``(B, channels, H, W)`` -> ``(B, channels, H, W)`` in [-1, 1]; H and W must be
    multiples of 4 (two stride-2 steps down and up) and at least 8.
    """

    def __init__(self, channels: int = 3, features: int = 64, num_residuals: int = 9,
                 residual: bool = False):
        super().__init__()
        f = int(features)
        self.residual = bool(residual)
        if num_residuals < 0:
            raise ValueError(f"num_residuals must be >= 0, got {num_residuals}.")
        self.initial = nn.Sequential(
            nn.Conv2d(channels, f, 7, 1, 3, padding_mode="reflect"), *_norm_act(f))
        self.down = nn.Sequential(
            nn.Conv2d(f, 2 * f, 3, 2, 1, padding_mode="reflect"), *_norm_act(2 * f),
            nn.Conv2d(2 * f, 4 * f, 3, 2, 1, padding_mode="reflect"), *_norm_act(4 * f))
        self.residuals = nn.Sequential(*[ResidualBlock(4 * f) for _ in range(num_residuals)])
        self.up = nn.Sequential(
            nn.ConvTranspose2d(4 * f, 2 * f, 3, 2, 1, output_padding=1), *_norm_act(2 * f),
            nn.ConvTranspose2d(2 * f, f, 3, 2, 1, output_padding=1), *_norm_act(f))
        self.last = nn.Sequential(
            nn.Conv2d(f, channels, 7, 1, 3, padding_mode="reflect"), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, C, H, W)``."""
        if x.dim() != 4 or x.shape[-1] % 4 or x.shape[-2] % 4 or min(x.shape[-2:]) < 8:
            raise ValueError(f"ResnetGenerator expects images (B, C, H, W) with H, W multiples "
                             f"of 4 and >= 8, got {tuple(x.shape)}.")
        h = self.up(self.residuals(self.down(self.initial(x))))
        if not self.residual:
            return self.last(h)
        # the change is drawn by the book's last conv (its tanh unused); clipping keeps the range,
        # and inside it every pixel gets the full gradient (see the class docstring)
        return (x + self.last[0](h)).clamp(-1.0, 1.0)


class PatchDiscriminator(nn.Module):
    """PatchGAN discriminator: image -> map of logits, one per (overlapping) patch.

    ``Conv(4,2,1, reflect) -> LeakyReLU(0.2)`` to ``features[0]``; then for each further width a
    block ``Conv(4, stride, 1, reflect) -> InstanceNorm -> LeakyReLU(0.2)`` with stride 2, except
    the last block (stride 1); finally ``Conv(4,1,1, reflect)`` to 1 channel. For 256x256 input
    and the default widths the map is 30x30 (each logit sees a 70x70 patch); for 64x64, 6x6.

    No sigmoid: CycleGAN trains this with the least-squares (LSGAN) loss,
    ``(D(x) - 1)^2`` for real and ``D(G(x))^2`` for fake (:func:`gan_course.losses.lsgan_loss`),
    which works on raw scores. The book applies a sigmoid and then MSE; squashing to (0, 1)
    first flattens the gradient exactly where the discriminator is confident (sigmoid'
    vanishes), which is the saturation LSGAN was designed to avoid.

    The book picks the stride-1 block with ``feature == features[-1]``, which also hits an
    earlier block if a width repeats; here it is chosen by position.

    Shapes: ``(B, channels, H, W)`` -> logits ``(B, 1, h, w)``; with the default four widths
    ``h = H/8 - 2`` and ``w = W/8 - 2``.
    """

    def __init__(self, channels: int = 3, features: Sequence[int] = (64, 128, 256, 512)):
        super().__init__()
        features = tuple(int(c) for c in features)
        if not features:
            raise ValueError("features must list at least one width, e.g. (64, 128, 256, 512).")
        self.initial = nn.Sequential(
            nn.Conv2d(channels, features[0], 4, 2, 1, padding_mode="reflect"),
            nn.LeakyReLU(0.2, inplace=True))
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(features[:-1], features[1:])):
            stride = 1 if i == len(features) - 2 else 2
            layers += [nn.Conv2d(c_in, c_out, 4, stride, 1, padding_mode="reflect"),
                       nn.InstanceNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True)]
        layers.append(nn.Conv2d(features[-1], 1, 4, 1, 1, padding_mode="reflect"))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> logits ``(B, 1, h, w)``."""
        if x.dim() != 4:
            raise ValueError(f"PatchDiscriminator expects images (B, C, H, W), got {tuple(x.shape)}.")
        return self.model(self.initial(x))
