"""Which folder holds a dataset, prepared and decoded - and the batches a training config asks for.

The data of one run flows one way::

    source_dir (toy written / real checked) -> prepare (class folders) -> build_cache (uint8)
        -> Batches / PairedBatches -> the training loop

:func:`load_data` walks that path for a :class:`~gan_course.config.TrainConfig` and returns the
batches; :func:`load` stops one stage earlier (the decoded :class:`ImageCache`), for notebooks and
evaluation. Dataset names are those of :data:`gan_course.data.sources.DATASETS`: ``anime``,
``eyeglasses`` (classes ``glasses``, ``no_glasses``: label 0 = glasses, as in the book),
``celeba`` (hair classes ``black``, ``blond``) and ``fashion_mnist``.

Folders (under :func:`gan_course.runtime.data_root`, ``GAN_COURSE_DATA`` overrides):
``toy/<dataset>/n<N>-<size>px/`` generated data in the real layouts, ``real/<dataset>/`` downloads,
``prepared/<toy|real>/<name>/...`` class folders, ``cache/`` decoded arrays.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from gan_course.data import toy
from gan_course.data.batches import Batches, PairedBatches
from gan_course.data.prepare import (
    EYEGLASSES_CLASSES,
    HAIR_CLASSES,
    PrepareReport,
    prepare_celeba_hair,
    prepare_eyeglasses,
)
from gan_course.data.sources import DATASETS, DataError, check, manual_route, real_dir
from gan_course.data.tensors import ImageCache, build_cache
from gan_course.runtime import DISK_ERRNOS, data_root, storage_error

IMAGE_SETS = ("anime", "eyeglasses", "celeba")
"""Image datasets :func:`load` decodes (Fashion-MNIST has its own IDX files: :func:`load_fashion`)."""

_WRITERS = {"anime": toy.write_anime, "eyeglasses": toy.write_eyeglasses,
            "celeba": toy.write_celeba}
CLASSES = {"anime": None, "eyeglasses": EYEGLASSES_CLASSES, "celeba": HAIR_CLASSES}
"""Class names of each image set in label order, fixed by name (None: anime's single folder)."""


def _task_of(dataset: str) -> str:
    from gan_course.config import TASK_DATASET

    return next(t for t, d in TASK_DATASET.items() if d == dataset)


def toy_defaults(dataset: str, profile: str | None = None) -> tuple[int, int]:
    """``(n, size)`` of the toy set the ``profile``'s config trains on, so ``data toy`` writes
    exactly the sets that training and the notebooks use."""
    from gan_course.config import get_config

    cfg = get_config(_task_of(_check_name(dataset, tuple(DATASETS))), profile)
    return int(cfg.n_train or 5000), int(cfg.image_size)


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


def write_toy(dataset: str, n: int | None = None, size: int | None = None, root=None,
              seed: int = 0) -> Path:
    """Write toy data for ``dataset`` in its real layout (idempotent); returns the folder.

    ``n`` and ``size`` default to what the current profile's config trains on.
    """
    n_default, size_default = toy_defaults(dataset)
    n = int(n) if n is not None else n_default
    size = int(size) if size is not None else size_default
    if n < 1:
        raise ValueError(f"n must be >= 1 toy images, got {n}")
    fashion = dataset == "fashion_mnist"
    root = Path(root) if root is not None else toy_dir(dataset, n, size)
    try:
        if fashion:
            return toy.write_fashion_mnist(root, n_train=n, n_test=max(100, n // 6), seed=seed)
        return _WRITERS[dataset](root, n, seed=seed, size=size)
    except OSError as exc:  # a full or read-only disk: one clear line, not Pillow's traceback
        if exc.errno in DISK_ERRNOS:
            raise storage_error(exc, f"the toy {dataset} data", root,
                                "pass another --root folder, or set GAN_COURSE_DATA") from None
        raise


def source_dir(dataset: str, source: str = "toy", size: int | None = None, n: int | None = None,
               root=None) -> Path:
    """The raw dataset folder :func:`load` reads: toy data is written there if missing, real data
    is checked (``DataError`` with instructions if absent or malformed)."""
    if _check_source(source) == "toy":
        return write_toy(dataset, n, size, root)
    path = Path(root).expanduser() if root is not None else real_dir(dataset)
    if not path.exists():
        raise DataError(f"The real {DATASETS[dataset].title} is not in {path}. Download it with "
                        f"`python -m gan_course data fetch {dataset}` (needs network), or by hand:\n"
                        f"{manual_route(dataset, path)}")
    check(dataset, path)
    return path


def prepared_dir(dataset: str, source: str, src: Path) -> Path:
    """Where the class folders of ``dataset`` prepared from ``src`` go."""
    base = data_root() / "prepared" / source / dataset
    if source == "toy":
        return base / src.name  # n<N>-<size>px: one prepared set per toy set
    if src.resolve() == real_dir(dataset).resolve():
        return base
    return base.with_name(f"{dataset}-{hashlib.sha1(str(src.resolve()).encode()).hexdigest()[:8]}")


def prepare(dataset: str, source: str = "toy", size: int | None = None, n: int | None = None,
            root=None) -> tuple[Path, PrepareReport | None]:
    """Make the ImageFolder-style class folders for ``dataset``; returns (folder, report or None)."""
    src = source_dir(_check_name(dataset, IMAGE_SETS), source, size, n, root)
    if dataset == "anime":  # already ImageFolder-shaped: images/ is its single class
        return src, None
    dst = prepared_dir(dataset, source, src)
    fn = prepare_eyeglasses if dataset == "eyeglasses" else prepare_celeba_hair
    return dst, fn(src, dst)


def _hint(dataset: str, source: str) -> str:
    if source == "toy":
        return (f"for the real set: python -m gan_course data fetch {dataset}, then "
                f"GAN_COURSE_PROFILE=full (the book's run) or --data real / data_source='real'")
    return "toy stand-in: --data toy (notebooks: get_config(..., data_source='toy'))"


def load(dataset: str, source: str = "toy", size: int | None = None, n: int | None = None,
         root=None, verbose: bool = True) -> ImageCache:
    """Images of ``dataset`` ('anime' | 'eyeglasses' | 'celeba') decoded once, as an :class:`ImageCache`.

    ``source="toy"`` writes ``n`` toy images (default: the profile's) in the real layout if not
    there yet; ``source="real"`` checks the downloaded set in ``root`` (default
    ``data_root()/real/<dataset>``). Then prepares class folders and decodes them once at
    ``size`` x ``size``. Prints one line saying which data is used (``verbose``).
    """
    _check_name(dataset, IMAGE_SETS)
    size = int(size) if size is not None else toy_defaults(dataset)[1]
    folder, report = prepare(dataset, _check_source(source), size, n, root)
    cache = build_cache(folder, size, classes=CLASSES[dataset])
    if verbose:
        counts = cache.counts()
        detail = (f" ({', '.join(f'{k} {v:,}' for k, v in counts.items())})"
                  if len(counts) > 1 else "")
        print(f"Data: {source.upper()} {dataset}, {len(cache):,} images {size}x{size}{detail} "
              f"-- {_hint(dataset, source)}")
        if report is not None and (report.has_problems or (source == "real" and report.skipped)):
            print("\n".join(line.strip() for line in report.notes()))
    return cache


def _fashion_root(source: str, n: int | None, root) -> Path:
    if _check_source(source) == "toy":
        return write_toy("fashion_mnist", n, root=root)
    path = Path(root).expanduser() if root is not None else real_dir("fashion_mnist")
    check("fashion_mnist", path)
    return path


def load_fashion(source: str = "toy", n: int | None = None, root=None, train: bool = True,
                 verbose: bool = True):
    """torchvision ``FashionMNIST`` over toy IDX files (``source="toy"``, ``n`` training images)
    or the real download; its ``.data`` is uint8 ``(N, 28, 28)`` and ``.targets`` int64 ``(N,)``."""
    from torchvision.datasets import FashionMNIST

    ds = FashionMNIST(str(_fashion_root(source, n, root)), train=train, download=False)
    if verbose:
        print(f"Data: {source.upper()} fashion_mnist {'train' if train else 'test'}, "
              f"{len(ds):,} images 28x28 -- {_hint('fashion_mnist', source)}")
    return ds


def fashion_arrays(source: str = "toy", n: int | None = None, root=None, train: bool = True,
                   verbose: bool = True):
    """Fashion-MNIST as arrays: images uint8 ``(N, 784)`` (flattened, for the MLP GAN) and labels
    int64 ``(N,)``; convert images with :func:`~gan_course.data.batches.to_unit_range`."""
    ds = load_fashion(source, n, root, train, verbose=verbose)
    return ds.data.reshape(len(ds.data), -1), ds.targets.long()


def _subset(n_total: int, n: int | None, seed: int) -> np.ndarray | None:
    """A seeded random subset of ``n`` rows (sorted), or None for all rows."""
    if n is None or n >= n_total:
        return None
    return np.sort(np.random.default_rng(seed).choice(n_total, int(n), replace=False))


def load_data(cfg, verbose: bool = True) -> Batches | PairedBatches:
    """The batches the config ``cfg`` trains on - the data step of every run.

    fashion -> Fashion-MNIST images flattened to ``(B, 784)``; dcgan -> anime faces; cgan ->
    eyeglasses with labels (0 = glasses); cyclegan -> CelebA black (domain A) / blond (domain B)
    hair. ``cfg.data_source`` picks toy or real data (``cfg.data_root``: a real dataset outside
    the data folder), ``cfg.image_size`` the decoded size, ``cfg.n_train`` the number of images
    (toy: drawn; real: a seeded random subset, so ``--profile smoke --data real`` stays small),
    ``cfg.global_batch(world)`` the images per step over all ``torchrun`` processes (each takes
    its share). Prints one line about the data (and one more when the data source is not the
    profile's usual one).
    """
    from gan_course.config import data_note
    from gan_course.data.batches import rank_world

    name, source = cfg.dataset, cfg.data_source
    root = cfg.data_root if source == "real" else None
    n = cfg.n_train
    batch = cfg.global_batch(rank_world()[1])
    if name == "fashion_mnist":
        images, labels = fashion_arrays(source, n, root, verbose=verbose)
        keep = _subset(len(labels), n if source == "real" else None, cfg.seed)
        if keep is not None:
            images, labels = images[keep], labels[keep]
        batches = Batches([images, labels], batch, classes=toy.CLOTHING_CLASSES)
    else:
        cache = load(name, source, cfg.image_size, n, root, verbose=verbose)
        labels = np.asarray(cache.labels)
        keep = _subset(len(labels), n if source == "real" else None, cfg.seed)
        rows = np.arange(len(labels)) if keep is None else keep
        if name != "celeba":
            batches = cache.batches(batch, index=keep)
        else:
            black, blond = (HAIR_CLASSES.index(c) for c in ("black", "blond"))  # A, B
            batches = PairedBatches(cache.batches(batch, rows[labels[rows] == black]),
                                    cache.batches(batch, rows[labels[rows] == blond]))
    if verbose and keep is not None:
        print(f"Using a seeded random subset of {len(keep):,} of these {len(labels):,} images "
              f"(n_train of the {cfg.profile} profile; the full profile uses them all).")
    note = data_note(cfg)
    if verbose and note:
        print(note)
    return batches

