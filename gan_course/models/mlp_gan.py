"""Fully connected GAN for 28x28 Fashion-MNIST (book chapter 4).

Images are flattened to 784 values in [-1, 1]. Both networks take their layer sizes as arguments
so the book's exercise (generator hidden sizes 1000/500/200) is one call:
``MLPGenerator(hidden=(1000, 500, 200))``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn


def _activation(negative_slope: float) -> nn.Module:
    # slope 0 is the book's plain ReLU; 0.2 gives the LeakyReLU that DCGAN-style nets prefer.
    return nn.ReLU() if negative_slope == 0 else nn.LeakyReLU(negative_slope)


def _check_sizes(name: str, sizes: Sequence[int]) -> tuple[int, ...]:
    sizes = tuple(int(s) for s in sizes)
    if not sizes or any(s <= 0 for s in sizes):
        raise ValueError(f"{name} must be a non-empty sequence of positive layer sizes, "
                         f"got {sizes!r}; e.g. hidden=(1024, 512, 256).")
    return sizes


class MLPGenerator(nn.Module):
    """Noise vector -> flattened image.

    Layers: ``Linear(latent_dim, hidden[0]) -> ReLU -> ... -> Linear(hidden[-1], out_features)
    -> Tanh``. Defaults are the book's 100 -> 256 -> 512 -> 1024 -> 784.

    Args:
        latent_dim: length of the noise vector z.
        hidden: sizes of the hidden layers, in order.
        out_features: length of the output (784 = 28*28).

    Shapes: input ``(B, latent_dim)`` -> output ``(B, out_features)`` in [-1, 1]
    (reshape with ``.view(B, 1, 28, 28)`` to display).
    """

    def __init__(self, latent_dim: int = 100, hidden: Sequence[int] = (256, 512, 1024),
                 out_features: int = 784, negative_slope: float = 0.0):
        super().__init__()
        hidden = _check_sizes("hidden", hidden)
        self.latent_dim = int(latent_dim)
        self.out_features = int(out_features)
        sizes = (self.latent_dim, *hidden)
        layers: list[nn.Module] = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), _activation(negative_slope)]
        layers += [nn.Linear(sizes[-1], self.out_features), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z (B, latent_dim)`` -> images ``(B, out_features)`` in [-1, 1]."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"MLPGenerator expects noise of shape (B, {self.latent_dim}), "
                             f"got {tuple(z.shape)}; make it with torch.randn(B, {self.latent_dim}).")
        return self.main(z)


class MLPDiscriminator(nn.Module):
    """Flattened image -> one real/fake **logit** per image.

    Layers: ``Linear(in_features, hidden[0]) -> ReLU -> Dropout(dropout) -> ... ->
    Linear(hidden[-1], 1)``. Defaults are the book's 784 -> 1024 -> 512 -> 256 -> 1 with dropout
    0.3 (pass ``negative_slope=0.2`` for LeakyReLU).

    Unlike the book there is no final ``Sigmoid``: the output is a logit, to be used with
    ``BCEWithLogitsLoss`` / :func:`gan_course.losses.d_loss_bce`, which is numerically safe (no
    ``log(0)``) and allowed under mixed-precision autocast. ``torch.sigmoid(logits)`` gives the
    probability "real".

    ``pack > 1`` (PacGAN, Lin et al. 2018; not in the book) makes ``D`` judge ``pack`` images
    *together*: consecutive images of a batch are concatenated into one input of
    ``pack * in_features`` values, and the pack's one logit is returned for each of its images (so
    the losses need no change). A batch from a generator that draws the same few garments over and
    over looks different, as a group, from a batch of real garments, even when each image on its
    own is convincing: packing lets ``D`` see, and punish, missing variety (mode collapse).
    A batch whose size is not a multiple of ``pack`` is completed with its own first images.

    Shapes: input ``(B, in_features)`` (or ``(B, 1, 28, 28)``, flattened here) -> ``(B, 1)``.
    """

    def __init__(self, in_features: int = 784, hidden: Sequence[int] = (1024, 512, 256),
                 dropout: float = 0.3, negative_slope: float = 0.0, pack: int = 1):
        super().__init__()
        hidden = _check_sizes("hidden", hidden)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
        if int(pack) != pack or pack < 1:
            raise ValueError(f"pack must be a whole number >= 1 (1 = the book's discriminator), "
                             f"got {pack!r}.")
        self.in_features = int(in_features)
        self.pack = int(pack)
        sizes = (self.in_features * self.pack, *hidden)
        layers: list[nn.Module] = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), _activation(negative_slope), nn.Dropout(dropout)]
        layers.append(nn.Linear(sizes[-1], 1))
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, in_features)`` or any ``(B, ...)`` with that many values -> logits ``(B, 1)``."""
        if x.dim() < 2:
            raise ValueError(f"MLPDiscriminator expects a batch (B, {self.in_features}), got shape "
                             f"{tuple(x.shape)}; add a batch dimension with x.unsqueeze(0).")
        x = x.flatten(1)
        if x.shape[1] != self.in_features:
            raise ValueError(f"MLPDiscriminator expects {self.in_features} values per image, "
                             f"got {x.shape[1]}; Fashion-MNIST images are 1x28x28 = 784.")
        if self.pack == 1:
            return self.main(x)
        n = x.shape[0]
        short = -n % self.pack
        if short:
            x = torch.cat([x, x.repeat(-(-short // n), 1)[:short]])
        logits = self.main(x.reshape(-1, self.pack * self.in_features))
        return logits.repeat_interleave(self.pack, dim=0)[:n]
