"""Data for the course: toy stand-ins by default, the real datasets when you have them.

One call gives a notebook its training images::

    from gan_course import data
    faces = data.load("eyeglasses")            # toy faces, 64x64, classes ['glasses', 'no_glasses']
    for images, labels in faces.batches(64):   # float32 (64, 3, 64, 64) in [-1, 1], int64 (64,)
        ...
    faces = data.load("eyeglasses", source="real")   # the Kaggle set, once downloaded

Data flows one way: ``sources`` (fetch / check) -> ``prepare`` (sort into class folders, never
destroying the source) -> ``tensors`` (decode once into a uint8 cache) -> the training loop.

Folders (under :func:`gan_course.runtime.data_root`, ``GAN_COURSE_DATA`` overrides):
``toy/<dataset>/n<N>-<size>px/`` generated data in the real layouts, ``real/<dataset>/`` downloads,
``prepared/<toy|real>/<name>/...`` class folders, ``cache/`` decoded arrays.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from gan_course.data import toy
from gan_course.data.prepare import (
    EYEGLASSES_CLASSES,
    HAIR_CLASSES,
    PrepareReport,
    prepare_celeba_hair,
    prepare_eyeglasses,
)
from gan_course.data.sources import (
    DATASETS,
    CheckReport,
    DataError,
    check,
    fetch,
    manual_route,
    real_dir,
)
from gan_course.data.tensors import ImageCache, build_cache, to_unit_range
from gan_course.runtime import data_root, get_profile

__all__ = [
    "load", "load_fashion_mnist", "fashion_tensors", "toy_dir", "source_dir", "prepared_dir",
    "default_n", "ImageCache", "build_cache", "PrepareReport", "CheckReport", "DataError",
    "DATASETS", "check", "fetch", "prepare_eyeglasses", "prepare_celeba_hair",
    "EYEGLASSES_CLASSES", "HAIR_CLASSES", "LOAD_NAMES", "toy",
]

LOAD_NAMES = ("anime", "eyeglasses", "celeba_hair")
"""Image sets :func:`load` knows."""

_DATASET_OF = {"anime": "anime", "eyeglasses": "eyeglasses", "celeba_hair": "celeba",
               "fashion_mnist": "fashion_mnist", "celeba": "celeba"}

# Toy images written when n is not given: enough to see learning in the profile's time budget.
_DEFAULT_N = {"smoke": 256, "demo": 2000, "full": 5000}
_DEFAULT_N_FASHION = {"smoke": 1000, "demo": 10000, "full": 60000}

_WRITERS = {"anime": toy.write_anime, "eyeglasses": toy.write_eyeglasses,
            "celeba": toy.write_celeba}


def default_n(name: str, profile: str | None = None) -> int:
    """Number of toy images written for ``name`` when ``n`` is not given (depends on the profile)."""
    table = _DEFAULT_N_FASHION if _DATASET_OF.get(name) == "fashion_mnist" else _DEFAULT_N
    return table[get_profile(profile)]


def _check_name(name: str, allowed) -> str:
    if name not in allowed:
        raise ValueError(f"Unknown data set {name!r}: choose one of {', '.join(allowed)}.")
    return name


def _check_source(source: str) -> str:
    if source not in ("toy", "real"):
        raise ValueError(f"source must be 'toy' or 'real', got {source!r}.")
    return source


def toy_dir(dataset: str, n: int, size: int = 64) -> Path:
    """Where toy data for ``dataset`` ('anime'|'eyeglasses'|'celeba'|'fashion_mnist') is written."""
    tag = f"n{n}" if dataset == "fashion_mnist" else f"n{n}-{size}px"
    return data_root() / "toy" / dataset / tag


def write_toy(dataset: str, n: int | None = None, size: int = 64, root=None, seed: int = 0) -> Path:
    """Write toy data for ``dataset`` in its real layout (idempotent); returns the folder."""
    n = int(n) if n is not None else default_n(dataset)
    if n < 1:
        raise ValueError(f"n must be >= 1 toy images, got {n}")
    if dataset == "fashion_mnist":
        root = Path(root) if root is not None else toy_dir(dataset, n)
        return toy.write_fashion_mnist(root, n_train=n, n_test=max(100, n // 6), seed=seed)
    _check_name(dataset, tuple(_WRITERS))
    root = Path(root) if root is not None else toy_dir(dataset, n, size)
    return _WRITERS[dataset](root, n, seed=seed, size=size)


def source_dir(name: str, source: str = "toy", size: int = 64, n: int | None = None,
               root=None) -> Path:
    """The raw dataset folder :func:`load` reads: toy data is written there if missing, real data
    is checked (``DataError`` with instructions if absent or malformed)."""
    dataset = _DATASET_OF[name]
    if _check_source(source) == "toy":
        return write_toy(dataset, n, size, root)
    path = Path(root).expanduser() if root is not None else real_dir(dataset)
    if not path.exists():
        raise DataError(f"The real {DATASETS[dataset].title} is not in {path}. Download it with "
                        f"`python -m gan_course data fetch {dataset}` (needs network), or by hand:\n"
                        f"{manual_route(dataset, path)}")
    check(dataset, path)
    return path


def prepared_dir(name: str, source: str, src: Path) -> Path:
    """Where the class folders of ``name`` prepared from ``src`` go."""
    base = data_root() / "prepared" / source / name
    if source == "toy":
        return base / src.name  # n<N>-<size>px: one prepared set per toy set
    if src.resolve() == real_dir(_DATASET_OF[name]).resolve():
        return base
    return base.with_name(f"{name}-{hashlib.sha1(str(src.resolve()).encode()).hexdigest()[:8]}")


def prepare(name: str, source: str = "toy", size: int = 64, n: int | None = None,
            root=None) -> tuple[Path, PrepareReport | None]:
    """Make the ImageFolder-style class folders for ``name``; returns (folder, report or None)."""
    src = source_dir(_check_name(name, LOAD_NAMES), source, size, n, root)
    if name == "anime":  # already ImageFolder-shaped: images/ is its single class
        return src, None
    dst = prepared_dir(name, source, src)
    fn = prepare_eyeglasses if name == "eyeglasses" else prepare_celeba_hair
    return dst, fn(src, dst)


def load(name: str, source: str = "toy", size: int = 64, n: int | None = None,
         root=None) -> ImageCache:
    """Training images for ``name`` ('anime' | 'eyeglasses' | 'celeba_hair') as an :class:`ImageCache`.

    ``source="toy"`` writes ``n`` toy images (default: by profile, 2,000 for ``demo``) in the real
    layout if not there yet; ``source="real"`` checks the downloaded set in ``root`` (default
    ``data_root()/real/<dataset>``). Then prepares class folders and decodes them once at
    ``size`` x ``size``. Images come out of ``cache.batches(...)`` as float32 (B, 3, size, size)
    in [-1, 1]. Classes: eyeglasses ['glasses', 'no_glasses'] (label 0 = glasses), celeba_hair
    ['black', 'blond'], anime ['images']. Prints one line saying which data is used.
    """
    _check_name(name, LOAD_NAMES)
    _check_source(source)
    folder, _ = prepare(name, source, size, n, root)
    cache = build_cache(folder, size)
    counts = cache.counts()
    detail = f" ({', '.join(f'{k} {v:,}' for k, v in counts.items())})" if len(counts) > 1 else ""
    if source == "toy":
        hint = (f"for the real set: python -m gan_course data fetch {_DATASET_OF[name]}, "
                f"then load({name!r}, source='real')")
    else:
        hint = f"toy stand-in: load({name!r}, source='toy')"
    print(f"Data: {source.upper()} {name}, {len(cache):,} images {size}x{size}{detail} "
          f"from {folder} -- {hint}")
    return cache


def _fashion_root(source: str, n: int | None, root) -> Path:
    if _check_source(source) == "toy":
        return write_toy("fashion_mnist", n, root=root)
    path = Path(root).expanduser() if root is not None else real_dir("fashion_mnist")
    check("fashion_mnist", path)
    return path


def load_fashion_mnist(source: str = "toy", n: int | None = None, root=None, train: bool = True):
    """torchvision ``FashionMNIST`` over toy IDX files (``source="toy"``, ``n`` training images)
    or the real download. Items: (float32 (1, 28, 28) in [-1, 1], int label). Prints one line."""
    from torchvision import transforms as T
    from torchvision.datasets import FashionMNIST

    path = _fashion_root(source, n, root)
    tf = T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))])
    ds = FashionMNIST(str(path), train=train, download=False, transform=tf)
    split = "train" if train else "test"
    hint = ("for the real set: python -m gan_course data fetch fashion_mnist, then "
            "load_fashion_mnist(source='real')" if source == "toy"
            else "toy stand-in: load_fashion_mnist(source='toy')")
    print(f"Data: {source.upper()} Fashion-MNIST {split}, {len(ds):,} images 28x28 from {path} "
          f"-- {hint}")
    return ds


def fashion_tensors(source: str = "toy", n: int | None = None, root=None,
                    train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """All Fashion-MNIST images as one tensor: (images float32 (N, 784) in [-1, 1], labels int64 (N,)).

    Converts the dataset's uint8 array in one go instead of item by item (what the MLP GAN of
    the first notebooks trains on)."""
    ds = load_fashion_mnist(source, n, root, train)
    images = to_unit_range(ds.data.reshape(len(ds.data), -1))
    return images, ds.targets.long().clone()
