"""Numbers for generated images: label accuracy, domain rate, round-trip error, KID, optional FID.

A grid of faces convinces a student; a number convinces a test and an instructor. This module
turns "the cGAN draws glasses when asked" into "98 % of the faces it draws for label *glasses*
are classified as *glasses*", with small tools that all run offline:

- :class:`AttributeClassifier` -- a small CNN trained on the (real or toy) training images to
  tell *glasses / no glasses* or *black / blond hair*; :func:`get_attribute_classifier` trains
  it once on a held-out split, reports its own held-out accuracy and caches it to disk.
- :func:`conditional_accuracy` -- how often the classifier agrees with the label a conditional
  generator was asked for (the "classification accuracy score" idea).
- :func:`domain_rate` and :func:`round_trip_l1` -- for CycleGAN: does a translated face land in the
  target domain, and does translating there and back give the original face?
- :func:`kid` / :func:`kid_images` -- Kernel Inception Distance (unbiased MMD² with the cubic
  polynomial kernel) on the *attribute classifier's* features. Because the feature network is not
  Inception, these values are **not comparable with published KID/FID numbers**; compare them only
  with each other (e.g. trained vs untrained generator on the same data).
- :func:`inception_fid` / :func:`inception_kid` -- the published metrics through torchmetrics,
  for users who have ``torch-fidelity`` and the Inception weights on disk. Offline without them
  they raise :class:`MetricsUnavailable` at once, saying how to get them (never a network wait).

Images everywhere are float tensors ``(B, 3, S, S)`` in ``[-1, 1]`` (what the generators output).
"""

from __future__ import annotations

import importlib.util
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "ATTRIBUTES",
    "AttributeClassifier",
    "FeatureStack",
    "KIDResult",
    "MetricsUnavailable",
    "classifier_path",
    "conditional_accuracy",
    "domain_rate",
    "extract_features",
    "get_attribute_classifier",
    "inception_fid",
    "inception_kid",
    "inception_weights_path",
    "kid",
    "kid_images",
    "predict",
    "round_trip_l1",
    "train_attribute_classifier",
]

KID_CAVEAT = ("computed on the attribute classifier's features, NOT Inception: compare only with "
              "other numbers from this course (e.g. an untrained generator), never with published "
              "KID/FID values")
"""Printed next to every feature-KID so nobody quotes it next to a paper's FID."""


class MetricsUnavailable(RuntimeError):
    """A metric cannot run here (missing optional package or network-only weights); the message says how to fix it."""


# ----------------------------------------------------------------------------------------------
# Attribute classifiers
# ----------------------------------------------------------------------------------------------

ATTRIBUTES: dict[str, tuple[str, tuple[str, ...]]] = {
    "glasses": ("eyeglasses", ("glasses", "no_glasses")),
    "hair": ("celeba", ("black", "blond")),
}
"""attribute -> (``gan_course.data.load`` dataset name, class names in label order)."""

_FORMAT_VERSION = 2  # bump when the architecture changes so stale caches are retrained


class AttributeClassifier(nn.Module):
    """Small CNN that labels a face image: ``(B, 3, S, S)`` in ``[-1, 1]`` -> logits ``(B, K)``.

    Three stride-2 convolutions, then adaptive average pooling to 4x4 (so any ``S >= 32`` works
    and the rough position of a feature -- glasses sit at the eyes -- survives), then a
    ``feature_dim``-wide hidden layer (:meth:`features`, used for KID) and a linear head.
    ``image_size`` (set when trained): inputs of another size are resized to it first, so a
    classifier trained on 64x64 faces also judges 32x32 or 256x256 generator output fairly.
    """

    def __init__(self, num_classes: int = 2, width: int = 32, feature_dim: int = 128,
                 image_size: int | None = None):
        super().__init__()
        self.num_classes = int(num_classes)
        self.image_size = image_size
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 4, 2, 1), nn.BatchNorm2d(width), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(2 * width * 16, feature_dim), nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, self.num_classes)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"AttributeClassifier expects images of shape (B, 3, S, S) in [-1, 1], "
                             f"got {shape}; add a batch dimension with x.unsqueeze(0) for one image.")
        if min(x.shape[-2:]) < 32:
            raise ValueError(f"AttributeClassifier needs images of at least 32x32, got "
                             f"{tuple(x.shape[-2:])}; upsample with F.interpolate first.")
        x = x.float()
        if self.image_size and tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            # judge every image at the resolution the classifier learned on
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear",
                              align_corners=False, antialias=True)
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations ``(B, feature_dim)`` (the KID feature space)."""
        return self.body(self._prepare(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, num_classes)``."""
        return self.head(self.features(x))


class FeatureStack(nn.Module):
    """Concatenate the ``.features`` of several networks: ``(B,3,S,S)`` -> ``(B, sum of D)``.

    Used for KID on unlabelled faces: the glasses classifier looks at the eyes, the hair
    classifier at colours; together they see more of a face than either alone.
    """

    def __init__(self, *nets: nn.Module):
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Concatenated features ``(B, D1 + D2 + ...)``."""
        return torch.cat([net.features(x) for net in self.nets], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`features`."""
        return self.features(x)


def _check_attr(attr: str) -> tuple[str, tuple[str, ...]]:
    if attr not in ATTRIBUTES:
        raise ValueError(f"Unknown attribute {attr!r}: choose one of {', '.join(ATTRIBUTES)} "
                         f"('glasses' = eyeglasses yes/no, 'hair' = black/blond hair).")
    return ATTRIBUTES[attr]


def classifier_path(attr: str, source: str = "toy", size: int = 64, n: int | None = None,
                    cache_dir: str | os.PathLike | None = None) -> Path:
    """Where :func:`get_attribute_classifier` caches a classifier (default ``data_root()/models/classifiers``)."""
    _check_attr(attr)
    if cache_dir is None:
        from gan_course.runtime import data_root

        cache_dir = data_root() / "models" / "classifiers"
    if not n and source == "toy":
        # The toy set's size depends on the profile: name it, so a classifier trained on the
        # small smoke set is never silently reused for a demo run.
        from gan_course.data import default_n

        n = default_n(ATTRIBUTES[attr][0])
    return Path(cache_dir) / f"{attr}-{source}-{size}px-n{n if n else 'all'}.pt"


def _to_unit(images_uint8: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 ``(N,3,H,W)`` -> float32 in [-1, 1]; float input is taken to be in [-1, 1] already."""
    if isinstance(images_uint8, torch.Tensor):
        t = images_uint8
    else:  # np.array copies: the cache is a read-only memmap (only the rows asked for are read)
        t = torch.from_numpy(np.array(images_uint8))
    return t.float().div(127.5).sub(1.0) if t.dtype == torch.uint8 else t.float()


def _take(images: np.ndarray | torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Rows ``idx`` of uint8 or [-1, 1] images as float32 in [-1, 1] (reads only those rows)."""
    if isinstance(images, torch.Tensor):
        return _to_unit(images[idx])
    return _to_unit(images[idx.numpy()])  # numpy fancy indexing: reads just these rows


def _batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int,
             device: torch.device | None = None) -> torch.Tensor:
    """Apply ``fn`` to ``x`` in batches (on ``device``), return the results concatenated on CPU."""
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        if device is not None:
            xb = xb.to(device)
        out.append(fn(xb).detach().cpu())
    if not out:
        raise ValueError("Got an empty batch of images (0 images); pass at least one image.")
    return torch.cat(out)


def _device_of(module: nn.Module) -> torch.device:
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def predict(classifier: nn.Module, images: torch.Tensor, batch_size: int = 100) -> torch.Tensor:
    """Predicted class ids ``(B,)`` (int64, CPU) for images ``(B, 3, S, S)`` in ``[-1, 1]``."""
    classifier.eval()
    dev = _device_of(classifier)
    return _batched(lambda xb: classifier(xb).argmax(dim=1), images, batch_size, dev)


def train_attribute_classifier(images: np.ndarray | torch.Tensor, labels: torch.Tensor, *,
                               num_classes: int = 2, test_fraction: float = 0.2, epochs: int = 8,
                               batch_size: int = 64, lr: float = 1e-3, seed: int = 0,
                               width: int = 32, target_train_accuracy: float = 0.995,
                               device: torch.device | str | None = None,
                               ) -> tuple[AttributeClassifier, dict]:
    """Train an :class:`AttributeClassifier` on ``images`` ``(N,3,S,S)``, ``labels`` ``(N,)``.

    ``images``: uint8 in [0, 255] (a tensor, array or the data cache's memmap: converted batch by
    batch, so a large real data set never sits in memory as floats) or float in [-1, 1].

    A seeded random ``test_fraction`` of the images is held out and never trained on; the
    returned info dict holds ``heldout_accuracy`` on it, ``n_train``, ``n_test``,
    ``train_seconds``, ``epochs`` (run) and ``image_size``. Horizontal flips augment the training
    images (glasses and hair colour do not change in a mirror). Training stops early, after at
    least two epochs, once an epoch's running *training* accuracy reaches
    ``target_train_accuracy`` (the held-out images are never looked at before the end).
    """
    if not isinstance(images, (torch.Tensor, np.ndarray)):
        images = np.asarray(images)
    labels = torch.as_tensor(np.asarray(labels)).long()
    if images.ndim != 4 or images.shape[1] != 3 or len(images) != len(labels):
        raise ValueError(f"Expected images (N, 3, S, S) and labels (N,), got {tuple(images.shape)} "
                         f"and {tuple(labels.shape)}.")
    n = len(images)
    n_test = max(1, int(round(n * test_fraction)))
    if n - n_test < 2 * num_classes:
        raise ValueError(f"Only {n} images: too few to train and hold out a test split; use at "
                         f"least {4 * num_classes * 5} images (pass a larger n).")
    present = set(labels.unique().tolist())
    if present != set(range(num_classes)):
        raise ValueError(f"Training labels contain classes {sorted(present)}, expected every class "
                         f"in 0..{num_classes - 1}; the data set is missing a class.")
    device = torch.device(device) if device is not None else torch.device("cpu")
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    test_idx, train_idx = perm[:n_test], perm[n_test:]
    torch.manual_seed(seed)  # deterministic weight init
    model = AttributeClassifier(num_classes=num_classes, width=width,
                                image_size=int(images.shape[-1])).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    t0 = time.perf_counter()
    model.train()
    epochs_run = 0
    for epoch in range(epochs):
        order = train_idx[torch.randperm(len(train_idx), generator=g)]
        hits = seen = 0
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            xb, yb = _take(images, idx).to(device), labels[idx].to(device)
            flip = (torch.rand(len(idx), generator=g) < 0.5).to(device)
            xb[flip] = xb[flip].flip(-1)
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            hits += int((logits.argmax(1) == yb).sum())
            seen += len(idx)
        epochs_run = epoch + 1
        if epoch >= 1 and seen and hits / seen >= target_train_accuracy:
            break
    seconds = time.perf_counter() - t0
    pred = torch.cat([predict(model, _take(images, test_idx[i:i + 1000]))
                      for i in range(0, len(test_idx), 1000)])
    acc = float((pred == labels[test_idx]).float().mean())
    info = {"heldout_accuracy": acc, "n_train": int(len(train_idx)), "n_test": int(n_test),
            "train_seconds": round(seconds, 2), "image_size": int(images.shape[-1]),
            "epochs": epochs_run, "width": width, "seed": seed}
    return model.eval(), info


def _to_uint8_rows(images: np.ndarray, rows: np.ndarray) -> torch.Tensor:
    """The sorted ``rows`` of a (memory-mapped) uint8 array, as a uint8 tensor in memory."""
    return torch.from_numpy(np.ascontiguousarray(images[rows]))


def _atomic_save(obj: dict, path: Path) -> None:
    """Write to a temp file in the same folder, then rename: a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _load_cached(path: Path, device: torch.device) -> tuple[AttributeClassifier, dict] | None:
    """The cached classifier, or ``None`` when the file is unreadable or from an older format."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        if ckpt.get("format_version") != _FORMAT_VERSION:
            return None
        info = dict(ckpt["info"])
        model = AttributeClassifier(num_classes=len(info["classes"]), width=info["width"],
                                    image_size=info["image_size"])
        model.load_state_dict(ckpt["state_dict"])
    except Exception as exc:  # a corrupt cache is just retrained; say so
        print(f"classifier cache {path} is unreadable ({type(exc).__name__}: {exc}); retraining")
        return None
    return model.to(device).eval(), info


def get_attribute_classifier(attr: str, source: str = "toy", size: int = 64,
                             device: torch.device | str | None = None, retrain: bool = False, *,
                             n: int | None = None, root: str | os.PathLike | None = None,
                             cache_dir: str | os.PathLike | None = None, epochs: int = 8,
                             max_images: int = 20_000, seed: int = 0, verbose: bool = True,
                             ) -> tuple[AttributeClassifier, dict]:
    """A trained attribute classifier for ``attr`` in {"glasses", "hair"}, cached on disk.

    Loads the training images with ``gan_course.data.load`` (``"eyeglasses"`` -> classes
    ``["glasses", "no_glasses"]``; ``"celeba"`` (hair) -> ``["black", "blond"]``) at ``size`` x
    ``size`` (``n`` images, ``root`` data folder: passed through), trains on 80 % and reports
    accuracy on the held-out 20 %. The state dict and info are saved atomically to
    :func:`classifier_path` (``cache_dir`` or ``data_root()/models/classifiers``) and reloaded
    with ``torch.load(..., weights_only=True)`` next time unless ``retrain=True``. At most
    ``max_images`` images (a seeded random subset) are used, so a large real set (CelebA) trains
    in minutes; ``epochs`` is an upper bound (training stops early once it fits).

    Returns ``(model, info)``: model in eval mode on ``device``; info has ``heldout_accuracy``,
    ``n_train``, ``n_test``, ``path``, ``classes``, ``train_seconds``, ``image_size``.
    """
    dataset, classes = _check_attr(attr)
    device = torch.device(device) if device is not None else torch.device("cpu")
    path = classifier_path(attr, source, size, n, cache_dir)
    if path.is_file() and not retrain:
        cached = _load_cached(path, device)
        if cached is not None:
            model, info = cached
            info["path"] = str(path)
            if verbose:
                print(f"{attr} classifier loaded from {path} "
                      f"(held-out accuracy {info['heldout_accuracy']:.1%} on {info['n_test']} images)")
            return model, info
    from gan_course.data import load

    cache = load(dataset, source=source, size=size, n=n, root=root)
    if list(cache.classes) != list(classes):
        raise ValueError(f"Data set {dataset!r} has classes {list(cache.classes)}, expected "
                         f"{list(classes)}; re-prepare it with `python -m gan_course data prepare`.")
    images, labels = cache.images, np.asarray(cache.labels, dtype=np.int64)
    if len(labels) > max_images:
        keep = np.sort(np.random.default_rng(seed).choice(len(labels), max_images, replace=False))
        images, labels = _to_uint8_rows(images, keep), labels[keep]
    model, info = train_attribute_classifier(images, labels, num_classes=len(classes),
                                             epochs=epochs, seed=seed, device=device)
    info.update(attr=attr, source=source, classes=list(classes))
    _atomic_save({"format_version": _FORMAT_VERSION, "state_dict": model.state_dict(),
                  "info": info}, path)
    info["path"] = str(path)
    if verbose:
        print(f"{attr} classifier trained on {info['n_train']} {source} images in "
              f"{info['train_seconds']:.1f} s: held-out accuracy {info['heldout_accuracy']:.1%} "
              f"on {info['n_test']} images; saved to {path}")
    return model, info


# ----------------------------------------------------------------------------------------------
# Conditional generators and image translation
# ----------------------------------------------------------------------------------------------

@torch.no_grad()
def conditional_accuracy(generate: Callable[[torch.Tensor], torch.Tensor], classifier: nn.Module,
                         num_classes: int = 2, n_per_label: int = 100, batch_size: int = 50,
                         ) -> dict:
    """How often ``classifier`` sees the label a conditional generator was asked for.

    ``generate(labels)`` takes int64 class ids ``(B,)`` and returns images ``(B, 3, S, S)`` in
    [-1, 1] (e.g. ``lambda y: G(torch.randn(len(y), 100), y)``). For every label ``k`` it is
    called for ``n_per_label`` images (in batches of ``batch_size``); the fraction the classifier
    labels ``k`` is ``result[k]``. ``result["mean"]`` averages the labels. A perfect cGAN scores
    ~1.0 (up to the classifier's own error); one that ignores the label ~0.5 for two classes.
    """
    if n_per_label < 1 or batch_size < 1:
        raise ValueError(f"n_per_label and batch_size must be >= 1, got {n_per_label}, {batch_size}.")
    classifier.eval()
    result: dict = {}
    for k in range(num_classes):
        correct = 0
        for i in range(0, n_per_label, batch_size):
            b = min(batch_size, n_per_label - i)
            labels = torch.full((b,), k, dtype=torch.long)
            images = generate(labels)
            if not isinstance(images, torch.Tensor) or images.shape[0] != b:
                raise ValueError(f"generate(labels) must return a tensor of {b} images (B, 3, S, S), "
                                 f"got {getattr(images, 'shape', type(images).__name__)}.")
            correct += int((predict(classifier, images) == k).sum())
        result[k] = correct / n_per_label
    result["mean"] = sum(result[k] for k in range(num_classes)) / num_classes
    return result


@torch.no_grad()
def domain_rate(translate: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
                classifier: nn.Module, target_label: int, batch_size: int = 50) -> float:
    """Fraction of ``translate(images)`` that ``classifier`` assigns to ``target_label``.

    ``images`` ``(N, 3, S, S)`` in [-1, 1] from the source domain; ``translate`` maps a batch to the
    other domain (a CycleGAN generator). 1.0 = every translated face is in the target domain.
    """
    classifier.eval()
    translated = _batched(translate, images, batch_size)
    return float((predict(classifier, translated) == int(target_label)).float().mean())


@torch.no_grad()
def round_trip_l1(forward: Callable[[torch.Tensor], torch.Tensor],
                  backward: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
                  batch_size: int = 50) -> float:
    """Mean absolute error ``|backward(forward(x)) - x|`` over ``images`` ``(N,3,S,S)`` in [-1, 1].

    The cycle-consistency error on a [-1, 1] scale: 0 = perfect reconstruction, ~0.5+ = unrelated
    images. Compare with an untrained generator pair to see what training bought.
    """
    errors = _batched(lambda xb: (backward(forward(xb)) - xb).abs().flatten(1).mean(1),
                      images, batch_size)
    return float(errors.mean())


# ----------------------------------------------------------------------------------------------
# KID on any features
# ----------------------------------------------------------------------------------------------

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
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    ix = torch.stack([torch.randperm(len(x), generator=g)[:m] for _ in range(n_subsets)])
    iy = torch.stack([torch.randperm(len(y), generator=g)[:m] for _ in range(n_subsets)])
    # all subsets at once as a batch of (m, D) matrices, in chunks of ~4M kernel entries
    chunk = max(1, 4_000_000 // (m * m))
    vals = torch.cat([_mmd2_unbiased(x[ix[i:i + chunk]], y[iy[i:i + chunk]])
                      for i in range(0, n_subsets, chunk)])
    std = float(vals.std()) if n_subsets > 1 else float("nan")
    n_independent = min(n_subsets, n_min // m)
    return KIDResult(float(vals.mean()), std / math.sqrt(n_independent))


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
