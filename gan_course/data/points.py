"""2-D point data for the GAN fundamentals notebook: a ring of Gaussians and how to score a sampler.

The ring of 8 Gaussians (Metz et al. 2017, "Unrolled GANs"; Srivastava et al. 2017, "VEEGAN")
is the standard small test for mode collapse: the data has 8 well separated, very narrow modes,
so a generator that covers only some of them is easy to see and to count::

    from gan_course.data.points import mode_coverage, ring_centres, ring_of_gaussians

    real = ring_of_gaussians(1000, generator=torch.Generator().manual_seed(0))   # (1000, 2)
    cov = mode_coverage(fake, ring_centres(8, 2.0), std=0.02)
    print(cov.modes_covered, cov.high_quality)          # e.g. 8, 0.97

:func:`sliced_wasserstein` gives one distance between two point clouds (0 for identical sets),
for judging a generator with a single number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["Coverage", "mode_coverage", "ring_centres", "ring_of_gaussians", "sliced_wasserstein"]


def ring_centres(modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """Centres of ``modes`` Gaussians evenly spaced on a circle: float32 ``(modes, 2)``.

    Centre ``k`` sits at angle ``2 pi k / modes`` (centre 0 at ``(radius, 0)``).
    """
    if int(modes) != modes or modes < 1:
        raise ValueError(f"modes must be a positive whole number, got {modes!r}.")
    if not radius > 0:
        raise ValueError(f"radius must be > 0, got {radius!r}.")
    angles = torch.arange(int(modes), dtype=torch.float64) * (2 * math.pi / modes)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def ring_of_gaussians(n: int, modes: int = 8, radius: float = 2.0, std: float = 0.02,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` points from an equal mixture of ``modes`` round Gaussians on a ring: float32 ``(n, 2)``.

    Each point picks one of the :func:`ring_centres` uniformly at random and adds
    ``std * N(0, I)``. Pass a seeded ``generator`` (``torch.Generator().manual_seed(s)``) for a
    reproducible draw; without one, torch's global random state is used.
    """
    if int(n) != n or n < 0:
        raise ValueError(f"n must be a whole number >= 0, got {n!r}.")
    if not std >= 0:
        raise ValueError(f"std must be >= 0, got {std!r}.")
    centres = ring_centres(modes, radius)
    which = torch.randint(len(centres), (int(n),), generator=generator)
    noise = torch.randn(int(n), 2, generator=generator)
    return centres[which] + std * noise


@dataclass(frozen=True)
class Coverage:
    """What :func:`mode_coverage` found.

    Attributes:
        modes_covered: number of modes that received at least ``min_fraction`` of all samples
            as high-quality samples.
        n_modes: number of modes (centres) there are.
        high_quality: fraction of all samples within ``k * std`` of their nearest centre.
        counts: high-quality samples per mode, int64 ``(n_modes,)``.
        min_count: the number of samples a mode needed to count as covered.
    """

    modes_covered: int
    n_modes: int
    high_quality: float
    counts: torch.Tensor
    min_count: int

    def __str__(self) -> str:
        return (f"{self.modes_covered}/{self.n_modes} modes covered, "
                f"{self.high_quality:.0%} high-quality samples")


def mode_coverage(samples: torch.Tensor, centres: torch.Tensor, std: float, k: float = 3.0,
                  min_fraction: float | None = None) -> Coverage:
    """Score samples of a mixture: how many modes are hit, and how many samples are on a mode.

    A sample is **high-quality** if it lies within ``k * std`` of its nearest centre (the
    definition of Srivastava et al. 2017 with ``k = 3``). A mode is **covered** if it receives at
    least ``min_fraction`` of *all* samples as high-quality samples. The default,
    ``min_fraction = 0.25 / n_modes`` (a quarter of a mode's fair share: 3.1% for 8 modes), does
    not count a mode that a few stray samples pass through.

    Args:
        samples: points ``(N, 2)`` (or ``(N, D)``), N >= 1.
        centres: mode centres ``(M, D)``, e.g. :func:`ring_centres`.
        std: the data's standard deviation per mode (the ``std`` of :func:`ring_of_gaussians`).
        k: radius of a mode in standard deviations.
        min_fraction: share of all samples a mode needs to count as covered, in (0, 1].

    Returns:
        a :class:`Coverage` (``modes_covered``, ``n_modes``, ``high_quality``, ``counts``,
        ``min_count``); ``str(cov)`` reads "6/8 modes covered, 93% high-quality samples".
    """
    samples = torch.as_tensor(samples).detach().float().cpu()
    centres = torch.as_tensor(centres).detach().float().cpu()
    if samples.dim() != 2 or len(samples) == 0:
        raise ValueError(f"samples must have shape (N, D) with N >= 1, got {tuple(samples.shape)}.")
    if centres.dim() != 2 or centres.shape[1] != samples.shape[1]:
        raise ValueError(f"centres must have shape (M, {samples.shape[1]}) to match the samples, "
                         f"got {tuple(centres.shape)}; use ring_centres(modes, radius).")
    if not std > 0 or not k > 0:
        raise ValueError(f"std and k must be > 0, got std={std!r}, k={k!r}.")
    n_modes = len(centres)
    if min_fraction is None:
        min_fraction = 0.25 / n_modes
    if not 0 < min_fraction <= 1:
        raise ValueError(f"min_fraction must be in (0, 1], got {min_fraction!r}.")
    if not torch.isfinite(samples).all():
        raise ValueError("samples contain NaN or inf: the generator has diverged.")

    dist, nearest = torch.cdist(samples, centres).min(dim=1)
    good = dist <= k * std
    counts = torch.bincount(nearest[good], minlength=n_modes)
    min_count = max(1, math.ceil(min_fraction * len(samples) - 1e-9))
    return Coverage(modes_covered=int((counts >= min_count).sum()), n_modes=n_modes,
                    high_quality=float(good.float().mean()), counts=counts, min_count=min_count)


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, n_projections: int = 256,
                       generator: torch.Generator | None = None) -> float:
    """Sliced Wasserstein-1 distance between two equal-size point clouds ``(N, D)``.

    Projects both clouds on ``n_projections`` random unit directions; in 1-D the optimal
    transport pairs the sorted points, so W1 along a direction is the mean gap between sorted
    projections. Returns the average over directions (0 for identical clouds; for two clouds
    that differ by a shift ``t`` it is about ``|t| * 2 / pi`` in 2-D). Seed ``generator`` for a
    reproducible number.
    """
    a = torch.as_tensor(a).detach().float().cpu()
    b = torch.as_tensor(b).detach().float().cpu()
    if a.dim() != 2 or a.shape != b.shape or len(a) == 0:
        raise ValueError(f"a and b must be non-empty point clouds of the same shape (N, D), got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}; draw as many points from each.")
    directions = torch.randn(a.shape[1], int(n_projections), generator=generator)
    directions = directions / directions.norm(dim=0, keepdim=True)
    pa, _ = (a @ directions).sort(dim=0)
    pb, _ = (b @ directions).sort(dim=0)
    return float((pa - pb).abs().mean())
