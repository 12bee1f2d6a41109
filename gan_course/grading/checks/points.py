"""The 2-D data, networks and scores behind assignments a07 and a08 (private to the grader).

The assignments give the student the same ring sampler and networks in a provided cell (the
notebooks are self-contained); these copies let a check train and score the student's code
exactly as the notebook does. The ring of 8 Gaussians (radius 2, std 0.05) and the coverage
definition follow Srivastava et al. 2017 (VEEGAN): a sample is *high-quality* when it lies
within 3 std of its nearest centre; a mode is *covered* when it receives at least a quarter of
its fair share (``1 / (4 · n_modes)``) of all samples as high-quality samples.

Note for maintainers: ``gan_course.data.points`` holds the course's public version of the
sampler and of the coverage score; this small copy keeps the grader free of package code that
a student could import.
"""

from __future__ import annotations

import math

import torch
from torch import nn

RING_MODES, RING_RADIUS, RING_STD = 8, 2.0, 0.05


def ring_centres(modes: int = RING_MODES, radius: float = RING_RADIUS) -> torch.Tensor:
    """Centres of ``modes`` Gaussians evenly spaced on a circle, ``(modes, 2)``; centre 0 at (r, 0)."""
    angles = torch.arange(modes, dtype=torch.float64) * (2 * math.pi / modes)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def sample_ring(n: int, generator: torch.Generator, std: float = RING_STD) -> torch.Tensor:
    """``n`` points of the ring of Gaussians, ``(n, 2)``, drawn from ``generator``."""
    centres = ring_centres()
    which = torch.randint(len(centres), (n,), generator=generator)
    return centres[which] + std * torch.randn(n, 2, generator=generator)


def coverage(samples: torch.Tensor, centres: torch.Tensor, std: float,
             k: float = 3.0) -> tuple[int, float]:
    """(modes covered, fraction of high-quality samples) of ``samples`` ``(N, 2)``."""
    samples = samples.detach().float()
    if not torch.isfinite(samples).all():
        return 0, 0.0
    dist, nearest = torch.cdist(samples, centres.float()).min(dim=1)
    good = dist <= k * std
    counts = torch.bincount(nearest[good], minlength=len(centres))
    need = max(1, math.ceil(len(samples) / (4 * len(centres)) - 1e-9))
    return int((counts >= need).sum()), float(good.float().mean())


def sliced_w1(a: torch.Tensor, b: torch.Tensor, n_projections: int = 128, seed: int = 7) -> float:
    """Sliced Wasserstein-1 distance of two equal-size point clouds ``(N, 2)``.

    In 1-D the optimal transport pairs sorted points, so W1 along a unit direction is the mean
    gap between the sorted projections; the score is the mean over fixed random directions.
    """
    a, b = a.detach().float(), b.detach().float()
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        return math.inf
    d = torch.randn(a.shape[1], n_projections, generator=torch.Generator().manual_seed(seed))
    d = d / d.norm(dim=0, keepdim=True)
    pa, _ = (a @ d).sort(dim=0)
    pb, _ = (b @ d).sort(dim=0)
    return float((pa - pb).abs().mean())


def make_mlp(n_in: int, n_out: int, hidden: int = 64) -> nn.Sequential:
    """``Linear → ReLU → Linear → ReLU → Linear``: the generator, discriminator and critic."""
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, n_out))
