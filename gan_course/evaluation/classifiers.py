"""Attribute classifiers: the small CNN every judge of the course is, how it trains, the cache.

:class:`AttributeClassifier` labels an image (faces: RGB; garments: grey) and exposes its
penultimate layer as ``features`` (the feature space of the course's KID).
:func:`train_attribute_classifier` trains one on images + labels, holding a seeded random split
out and reporting the accuracy on it. :func:`get_attribute_classifier` trains one on the
*training* data set of a chapter (real or toy, as before the held-out judges existed) and caches
it; the held-out judges of :mod:`gan_course.evaluation.judges` use the same network and cache.

Images everywhere are float tensors ``(B, C, S, S)`` in ``[-1, 1]`` (what the generators output).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from gan_course.data.batches import to_unit_range

__all__ = ["ATTRIBUTES", "AttributeClassifier", "FeatureStack", "classifier_path",
           "get_attribute_classifier", "predict", "predict_proba", "train_attribute_classifier"]

MIN_SIZE = 28
"""Smallest image side a classifier accepts (Fashion-MNIST's 28)."""

ATTRIBUTES: dict[str, tuple[str, tuple[str, ...]]] = {
    "glasses": ("eyeglasses", ("glasses", "no_glasses")),
    "hair": ("celeba", ("black", "blond")),
}
"""attribute -> (``gan_course.data.load`` dataset name, class names in label order)."""

_FORMAT_VERSION = 3  # bump when the architecture changes so stale caches are retrained


class AttributeClassifier(nn.Module):
    """Small CNN that labels an image: ``(B, C, S, S)`` in ``[-1, 1]`` -> logits ``(B, K)``.

    Three stride-2 convolutions, then adaptive average pooling to 4x4 (so any ``S >= 28`` works
    and the rough position of a feature -- glasses sit at the eyes -- survives), then a
    ``feature_dim``-wide hidden layer (:meth:`features`, used for KID) and a linear head.
    ``image_size`` (set when trained): inputs of another size are resized to it first, so a
    classifier trained on 64x64 faces also judges 32x32 or 256x256 generator output fairly.
    ``in_channels``: 3 for faces, 1 for garments.
    """

    def __init__(self, num_classes: int = 2, width: int = 32, feature_dim: int = 128,
                 image_size: int | None = None, in_channels: int = 3):
        super().__init__()
        self.num_classes = int(num_classes)
        self.image_size = image_size
        self.in_channels = int(in_channels)
        self.body = nn.Sequential(
            nn.Conv2d(self.in_channels, width, 4, 2, 1), nn.BatchNorm2d(width), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(2 * width * 16, feature_dim), nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, self.num_classes)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        c = self.in_channels
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != c:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"AttributeClassifier expects images of shape (B, {c}, S, S) in "
                             f"[-1, 1], got {shape}; add a batch dimension with x.unsqueeze(0) "
                             f"for one image (flattened 28x28 garments: x.view(-1, 1, 28, 28)).")
        if min(x.shape[-2:]) < MIN_SIZE:
            raise ValueError(f"AttributeClassifier needs images of at least {MIN_SIZE}x{MIN_SIZE}, "
                             f"got {tuple(x.shape[-2:])}; upsample with F.interpolate first.")
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
        from gan_course.data import toy_defaults

        n = toy_defaults(ATTRIBUTES[attr][0])[0]
    return Path(cache_dir) / f"{attr}-{source}-{size}px-n{n if n else 'all'}.pt"


def _to_unit(images_uint8: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 ``(N,3,H,W)`` -> float32 in [-1, 1]; float input is taken to be in [-1, 1] already."""
    if isinstance(images_uint8, torch.Tensor):
        t = images_uint8
    else:  # np.array copies: the cache is a read-only memmap (only the rows asked for are read)
        t = torch.from_numpy(np.array(images_uint8))
    return to_unit_range(t).float()  # the package's one uint8 -> [-1, 1] conversion


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
    """Predicted class ids ``(B,)`` (int64, CPU) for images ``(B, C, S, S)`` in ``[-1, 1]``."""
    classifier.eval()
    dev = _device_of(classifier)
    return _batched(lambda xb: classifier(xb).argmax(dim=1), images, batch_size, dev)


@torch.no_grad()
def predict_proba(classifier: nn.Module, images: torch.Tensor, batch_size: int = 100) -> torch.Tensor:
    """Class probabilities ``(B, K)`` (float32, CPU) for images ``(B, C, S, S)`` in ``[-1, 1]``."""
    classifier.eval()
    dev = _device_of(classifier)
    return _batched(lambda xb: classifier(xb).float().softmax(dim=1), images, batch_size, dev)


def train_attribute_classifier(images: np.ndarray | torch.Tensor, labels: torch.Tensor, *,
                               num_classes: int = 2, test_fraction: float = 0.2, epochs: int = 8,
                               batch_size: int = 64, lr: float = 1e-3, seed: int = 0,
                               width: int = 32, target_train_accuracy: float = 0.995,
                               flip_augment: bool = True,
                               device: torch.device | str | None = None,
                               ) -> tuple[AttributeClassifier, dict]:
    """Train an :class:`AttributeClassifier` on ``images`` ``(N,C,S,S)``, ``labels`` ``(N,)``.

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
    labels = torch.as_tensor(np.array(labels)).long()  # a copy: the input may be read-only
    if images.ndim != 4 or images.shape[1] not in (1, 3) or len(images) != len(labels):
        raise ValueError(f"Expected images (N, 3, S, S) or (N, 1, S, S) and labels (N,), got "
                         f"{tuple(images.shape)} and {tuple(labels.shape)}.")
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
                                image_size=int(images.shape[-1]),
                                in_channels=int(images.shape[1])).to(device)
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
            if flip_augment:  # mirrored faces keep their attributes (shoes would not)
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
            "epochs": epochs_run, "width": width, "seed": seed,
            "in_channels": int(images.shape[1])}
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
                                    image_size=info["image_size"],
                                    in_channels=info.get("in_channels", 3))
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


