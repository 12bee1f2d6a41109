"""KID (Kernel Inception Distance) on the judges' features, with its real-vs-real floor.

KID (Binkowski et al. 2018) is the unbiased MMD^2 between two feature sets with the cubic
polynomial kernel ``k(x, y) = (x.y / d + 1)^3``, averaged over random subsets. Here the features
are the held-out judges' penultimate layers (:func:`gan_course.evaluation.judges.judge_features`),
NOT Inception-v3: the values are comparable with each other (same judges, same subset size),
never with published KID/FID numbers (:func:`inception_fid` / :func:`inception_kid` give those
where torch-fidelity and the Inception weights are installed).

**The floor** (:func:`kid_with_floor`). An unbiased KID of two samples of one distribution is
0 +- noise, so "0" cannot be a target and "a small multiple of the real-vs-real KID" is a
multiple of a random number around zero. What a real-vs-real comparison does have is a
*noise level*: at subset size ``m``, one subset's KID between real training images and real
held-out images spreads around 0 with a root-mean-square of ``floor``. That RMS is the floor:

    floor = sqrt(mean over subsets of KID_subset(real train, real held-out)^2)   (same m)

A generator with ``KID <= 3 * floor`` is within three noise levels of real data: with ``m``
images per side a single KID comparison could hardly tell its samples from real ones. Because
the noise shrinks like ``1/m``, the floor (and the target) depend on ``m``: it is fixed at
:data:`SUBSET_SIZE` = 100 everywhere (CLI, notebooks, sweep), so the numbers share one scale.
Features are standardised with the real training images' per-dimension mean and standard
deviation first (dimensions that are constant on real images are dropped), so the scale does not
depend on how a particular judge happened to scale its activations.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn as nn

from gan_course.evaluation.classifiers import _batched, _device_of

__all__ = ["KIDReport", "KIDResult", "KID_CAVEAT", "MetricsUnavailable", "N_SUBSETS",
           "SUBSET_SIZE", "extract_features", "inception_fid", "inception_kid",
           "inception_weights_path", "kid", "kid_images", "kid_with_floor"]

SUBSET_SIZE = 100
"""Images per side in each KID subset: fixed, because the floor depends on it (see above)."""
N_SUBSETS = 100
"""Random subsets KID averages over."""

KID_CAVEAT = ("computed on the held-out judges' features, NOT Inception: compare only with other "
              "numbers from this course (its real-vs-real floor, an untrained generator), never "
              "with published KID/FID values")
"""Printed next to every feature-KID so nobody quotes it next to a paper's FID."""


class MetricsUnavailable(RuntimeError):
    """A metric cannot run here (missing optional package or network-only weights); the message says how to fix it."""

class KIDResult(NamedTuple):
    """``(mean, std_err)`` of a KID estimate; unpacks like a tuple."""

    mean: float
    std_err: float

    def __str__(self) -> str:
        return f"{self.mean:.4f} ± {self.std_err:.4f}"


def _mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD² for equal-size samples ``(..., m, d)`` -> ``(...)``.

    The diagonals of k(x, x) and k(y, y) (a point compared with itself) are left out; that is
    what makes the estimate unbiased. Leading dimensions are a batch of subsets.
    """
    m, d = x.shape[-2], x.shape[-1]

    def k(a, b):  # (xᵀy / d + 1)³ for every pair of rows, batched
        return (a @ b.transpose(-1, -2) / d + 1.0) ** 3

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    sum_xx = kxx.sum((-1, -2)) - kxx.diagonal(dim1=-2, dim2=-1).sum(-1)
    sum_yy = kyy.sum((-1, -2)) - kyy.diagonal(dim1=-2, dim2=-1).sum(-1)
    return (sum_xx + sum_yy) / (m * (m - 1)) - 2 * kxy.mean((-1, -2))


def kid(feats_real: torch.Tensor, feats_fake: torch.Tensor, subset_size: int = 100,
        n_subsets: int = 50, generator: torch.Generator | None = None) -> KIDResult:
    """Kernel Inception Distance between two feature sets ``(N, D)`` and ``(M, D)``.

    The unbiased MMD² with kernel ``k(x, y) = (xᵀy / D + 1)³``, averaged over ``n_subsets``
    random subsets of ``subset_size`` rows of each set (Bińkowski et al. 2018). It is unbiased:
    two samples of the same distribution give ~0 (small negative values happen), so unlike FID it
    can be compared across sample sizes.

    ``subset_size`` is capped at half the smaller set so that the spread of subset estimates is
    informative. ``std_err`` is conservative: the standard deviation of the subset estimates
    divided by the square root of the number of *disjoint* subsets that fit in the data (overlapping
    subsets do not add independent information).

    What it means depends on the features: :func:`kid_images` uses the attribute classifier's
    penultimate layer, so its values are NOT comparable with published (Inception) KID numbers.
    """
    x = torch.as_tensor(feats_real).double().flatten(1)
    y = torch.as_tensor(feats_fake).double().flatten(1)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"Feature sizes differ: real {tuple(x.shape)} vs fake {tuple(y.shape)}; "
                         f"extract both with the same network.")
    n_min = min(len(x), len(y))
    if n_min < 4:
        raise ValueError(f"KID needs at least 4 samples in each set, got {len(x)} real and "
                         f"{len(y)} fake; use 100 or more for a meaningful value.")
    if n_subsets < 1:
        raise ValueError(f"n_subsets must be >= 1, got {n_subsets}.")
    m = max(2, min(int(subset_size), n_min // 2))
    vals = _subset_values(x, y, m, n_subsets, generator)
    std = float(vals.std()) if n_subsets > 1 else float("nan")
    n_independent = min(n_subsets, n_min // m)
    return KIDResult(float(vals.mean()), std / math.sqrt(n_independent))


def _subset_values(x: torch.Tensor, y: torch.Tensor, m: int, n_subsets: int,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Unbiased MMD^2 of ``n_subsets`` random pairs of ``m``-row subsets of ``x`` and ``y``."""
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    ix = torch.stack([torch.randperm(len(x), generator=g)[:m] for _ in range(n_subsets)])
    iy = torch.stack([torch.randperm(len(y), generator=g)[:m] for _ in range(n_subsets)])
    # all subsets at once as a batch of (m, D) matrices, in chunks of ~4M kernel entries
    chunk = max(1, 4_000_000 // (m * m))
    return torch.cat([_mmd2_unbiased(x[ix[i:i + chunk]], y[iy[i:i + chunk]])
                      for i in range(0, n_subsets, chunk)])


@torch.no_grad()
def extract_features(feature_net: nn.Module | Callable[[torch.Tensor], torch.Tensor],
                     images: torch.Tensor, batch_size: int = 100) -> torch.Tensor:
    """Features ``(N, D)`` of images ``(N, 3, S, S)``: ``feature_net.features`` if it has one, else ``feature_net(x)``."""
    fn = getattr(feature_net, "features", feature_net)
    dev = None
    if isinstance(feature_net, nn.Module):
        feature_net.eval()
        dev = _device_of(feature_net)
    return _batched(lambda xb: fn(xb).flatten(1), images, batch_size, dev)


def kid_images(real: torch.Tensor, fake: torch.Tensor, feature_net: nn.Module,
               subset_size: int = 100, n_subsets: int = 50, batch_size: int = 100,
               generator: torch.Generator | None = None) -> KIDResult:
    """KID between image sets ``(N,3,S,S)`` and ``(M,3,S,S)`` in [-1, 1] on ``feature_net`` features.

    ``feature_net`` is an offline network with ``.features(x) -> (B, D)`` -- here the attribute
    classifier (or a :class:`FeatureStack` of both). NOT comparable with published KID/FID numbers
    (those use Inception-v3 features); compare a trained generator with an untrained one or
    with a held-out set of real images on the same features.
    """
    fr = extract_features(feature_net, real, batch_size)
    ff = extract_features(feature_net, fake, batch_size)
    return kid(fr, ff, subset_size=subset_size, n_subsets=n_subsets, generator=generator)


# ----------------------------------------------------------------------------------------------
# KID with its real-vs-real floor (the course's one scale)
# ----------------------------------------------------------------------------------------------

@dataclass
class KIDReport:
    """KIDs of several image sets against real held-out images, with the floor (see module doc)."""

    floor: float                 # RMS of real-train vs real-held-out subset KIDs
    real: KIDResult              # mean +- SE of those (about 0: the estimator is unbiased)
    scores: dict[str, KIDResult] = field(default_factory=dict)  # name -> KID vs held-out real
    subset_size: int = SUBSET_SIZE
    n_subsets: int = N_SUBSETS
    dims: int = 0                # feature dimensions used (after dropping constant ones)

    def ratio(self, name: str) -> float:
        """``KID(name) / floor``: <= 3 means within three real-vs-real noise levels."""
        return self.scores[name].mean / self.floor if self.floor > 0 else float("inf")

    def as_dict(self) -> dict:
        """Plain dict (JSON-ready)."""
        return {"floor": self.floor, "real_vs_real": list(self.real),
                "scores": {k: list(v) for k, v in self.scores.items()},
                "ratios": {k: self.ratio(k) for k in self.scores},
                "subset_size": self.subset_size, "n_subsets": self.n_subsets, "dims": self.dims}


def kid_with_floor(feature_net: nn.Module, real_train: torch.Tensor, real_heldout: torch.Tensor,
                   samples: dict[str, torch.Tensor], subset_size: int = SUBSET_SIZE,
                   n_subsets: int = N_SUBSETS, seed: int = 0, batch_size: int = 100) -> KIDReport:
    """KID of each image set in ``samples`` against ``real_heldout``, plus the real-vs-real floor.

    ``real_train``: images the model trained on; ``real_heldout``: images it never saw (same
    distribution); ``samples``: e.g. ``{"trained": ..., "untrained": ...}``. All ``(N, C, S, S)``
    in [-1, 1], at least ``2 * subset_size`` images each for the stated subset size (smaller
    sets use half their size). Features are standardised with the real training statistics.
    The same seeded subsets are drawn for every set, so the numbers are reproducible.
    """
    f_train = extract_features(feature_net, real_train, batch_size).double()
    f_held = extract_features(feature_net, real_heldout, batch_size).double()
    mu, sd = f_train.mean(0), f_train.std(0)
    keep = sd > 1e-3 * float(sd.max())  # dims silent on real images carry no information

    def norm(f: torch.Tensor) -> torch.Tensor:
        return ((f.double() - mu) / sd)[:, keep]

    x_train, x_held = norm(f_train), norm(f_held)
    n_min = min(len(x_train), len(x_held), *(len(v) for v in samples.values()))
    if n_min < 4:
        raise ValueError(f"KID needs at least 4 images in every set, got {n_min}.")
    m = max(2, min(int(subset_size), n_min // 2))
    vals = _subset_values(x_train, x_held, m, n_subsets, torch.Generator().manual_seed(seed))
    n_indep = max(1, min(n_subsets, n_min // m))
    report = KIDReport(floor=float(vals.pow(2).mean().sqrt()),
                       real=KIDResult(float(vals.mean()), float(vals.std()) / math.sqrt(n_indep)),
                       subset_size=m, n_subsets=n_subsets, dims=int(keep.sum()))
    for name, images in samples.items():
        x = norm(extract_features(feature_net, images, batch_size))
        v = _subset_values(x_held, x, m, n_subsets, torch.Generator().manual_seed(seed + 1))
        report.scores[name] = KIDResult(float(v.mean()), float(v.std()) / math.sqrt(n_indep))
    return report


# ----------------------------------------------------------------------------------------------
# Inception FID / KID through torchmetrics (optional, needs torch-fidelity + weights on disk)
# ----------------------------------------------------------------------------------------------

INCEPTION_WEIGHTS_ENV = "GAN_COURSE_INCEPTION_WEIGHTS"
INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
"""File name torch-fidelity (used by torchmetrics) downloads to ``torch.hub.get_dir()/checkpoints``."""
INCEPTION_WEIGHTS_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                         + INCEPTION_WEIGHTS_FILE)


def _torch_fidelity_available() -> bool:
    return importlib.util.find_spec("torch_fidelity") is not None


def _how_to_get_weights(default: Path) -> str:
    return (f"To use Inception FID/KID: (1) pip install torch-fidelity  (or: pip install "
            f"'torchmetrics[image]'); (2) on a machine with network run once\n"
            f"    python -c \"from torchmetrics.image.fid import FrechetInceptionDistance as F; F()\"\n"
            f"which caches the weights at {default} (torch hub's checkpoints folder, TORCH_HOME "
            f"moves it), or download {INCEPTION_WEIGHTS_URL} yourself; (3) copy that file to this "
            f"machine and pass its path (weights=... / --inception-weights PATH) or set "
            f"{INCEPTION_WEIGHTS_ENV}=PATH. Without them use the offline kid_images() (not "
            f"comparable with published numbers).")


def inception_weights_path(weights: str | os.PathLike | None = None) -> Path:
    """Local Inception weights for torchmetrics FID/KID, found without touching the network.

    Looks at ``weights``, then ``$GAN_COURSE_INCEPTION_WEIGHTS``, then torch hub's cache
    (``torch.hub.get_dir()/checkpoints/weights-inception-2015-12-05-6726825d.pth``, where
    torchmetrics/torch-fidelity put it after one online run). Raises :class:`MetricsUnavailable`
    with instructions when ``torch-fidelity`` is missing or no weight file exists.
    """
    default = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE
    if not _torch_fidelity_available():
        raise MetricsUnavailable("Inception FID/KID needs the package torch-fidelity, which is not "
                                 "installed. " + _how_to_get_weights(default))
    given = weights if weights is not None else os.environ.get(INCEPTION_WEIGHTS_ENV) or None
    if given is not None:
        path = Path(given).expanduser()
        if not path.is_file():
            origin = "weights argument" if weights is not None else f"${INCEPTION_WEIGHTS_ENV}"
            raise MetricsUnavailable(f"Inception weights file {path} (from the {origin}) does not "
                                     f"exist. " + _how_to_get_weights(default))
        return path
    if default.is_file():
        return default
    raise MetricsUnavailable(f"Inception weights not found at {default} and no path given (this "
                             f"check never downloads). " + _how_to_get_weights(default))


def _to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float ``(B,3,S,S)`` -> uint8 [0, 255], what the Inception metrics expect."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def _run_inception_metric(metric, real: torch.Tensor, fake: torch.Tensor, batch_size: int,
                          device: torch.device):
    metric = metric.to(device)
    for i in range(0, len(real), batch_size):
        metric.update(_to_uint8(real[i:i + batch_size]).to(device), real=True)
    for i in range(0, len(fake), batch_size):
        metric.update(_to_uint8(fake[i:i + batch_size]).to(device), real=False)
    return metric.compute()


def inception_fid(real: torch.Tensor, fake: torch.Tensor, weights: str | os.PathLike | None = None,
                  device: torch.device | str | None = None, batch_size: int = 50) -> float:
    """Standard FID (torchmetrics, Inception-v3 pool features, 2048-d) between ``(N,3,S,S)`` sets in [-1, 1].

    Comparable with published FIDs only for the same data, resolution and sample count (FID is
    biased: use >= 10,000 images for paper-style numbers). Raises :class:`MetricsUnavailable`
    immediately when torch-fidelity or the weights are missing (see :func:`inception_weights_path`).
    """
    path = inception_weights_path(weights)
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=str(path))
    dev = torch.device(device) if device is not None else torch.device("cpu")
    return float(_run_inception_metric(metric, real, fake, batch_size, dev))


def inception_kid(real: torch.Tensor, fake: torch.Tensor, weights: str | os.PathLike | None = None,
                  subset_size: int = 100, n_subsets: int = 50,
                  device: torch.device | str | None = None, batch_size: int = 50) -> KIDResult:
    """Standard KID (torchmetrics, Inception-v3 features) as ``(mean, std)``; needs torch-fidelity + weights.

    ``std`` here is torchmetrics' standard deviation over subsets. ``subset_size`` is capped at the
    smaller set's size.
    """
    path = inception_weights_path(weights)
    from torchmetrics.image.fid import NoTrainInceptionV3
    from torchmetrics.image.kid import KernelInceptionDistance

    m = min(subset_size, len(real), len(fake))
    # KernelInceptionDistance has no weights-path argument (it would download), so hand it the
    # same Inception extractor FID uses, built from the local file.
    net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                             feature_extractor_weights_path=str(path))
    metric = KernelInceptionDistance(feature=net, subsets=n_subsets, subset_size=m)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    mean, std = _run_inception_metric(metric, real, fake, batch_size, dev)
    return KIDResult(float(mean), float(std))

