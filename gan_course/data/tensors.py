"""Decode-once image cache and fast batching.

The textbook pipeline (``ImageFolder`` + ``Resize`` + ``ToTensor`` + ``Normalize`` +
``DataLoader``) decodes and resizes every JPEG again in every epoch; on a laptop CPU that, not the
GAN, is often the bottleneck. Here an ImageFolder-style folder is decoded **once** at the target
size into a ``uint8`` array on disk (``.npy``, memory-mapped, shape (N, 3, H, W)) plus labels.
Batches (:mod:`gan_course.data.batches`) are then slices of that array, turned into floats in
[-1, 1] by the one conversion of the package, ``to_unit_range``.

A manifest (hash of every file's name, inode, size and modification time in ns, the class
names and the target size) decides whether an existing cache is reused or rebuilt, so adding,
editing or replacing an image (even by one of the same size) is picked up. Unreadable, truncated
or tiny images are skipped with a count and a warning (the same rule as preparation:
:func:`gan_course.data.images.image_problem`); RGBA / greyscale / palette / 16-bit images are
converted to 8-bit RGB; any size is resized (shorter side) and centre-cropped to a square.

Writing is disk-safe: the array is written to a temporary file whose full size is reserved first
(a full disk fails at once with a clear :class:`~gan_course.runtime.StorageError`, not with a
crash half-way), and no temporary file is left behind when anything fails.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from gan_course.data.batches import Batches, to_unit_range
from gan_course.data.images import to_rgb, too_small
from gan_course.data.sources import IMAGE_EXTENSIONS, DataError
from gan_course.runtime import data_root, storage_error

CACHE_VERSION = 2  # bump when the decoding changes, so old caches are rebuilt (2: 16-bit, min size)


def _images_in(sub: Path) -> list[Path]:
    return sorted(p for p in sub.rglob("*")
                  if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."))


def scan_folder(folder, classes=None) -> tuple[list[Path], list[int], list[str]]:
    """List an ImageFolder-style tree: ``folder/<class>/**/<image>``.

    Returns (files, labels, classes) with labels indexing ``classes``. Without ``classes`` every
    sub-folder that holds images is a class, sorted by name (torchvision's convention). With
    ``classes`` (e.g. ``("glasses", "no_glasses")``) the class ids are fixed by name -- label 0 is
    always ``classes[0]`` -- other folders are ignored, and a class folder that is missing or
    empty raises :class:`DataError` (it would silently shift what the labels mean).
    Raises :class:`DataError` for a missing or empty folder.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"Image folder {folder} does not exist. Prepare the data first "
                        f"(python -m gan_course data prepare NAME) or pass the right path.")
    files, labels = [], []
    if classes is not None:
        classes = [str(c) for c in classes]
        for label, name in enumerate(classes):
            found = _images_in(folder / name) if (folder / name).is_dir() else []
            if not found:
                raise DataError(
                    f"{folder} has no images for class {name!r} (expected {folder / name}/"
                    f"<image>): every class must be present, or label {label} would mean "
                    f"something else. Prepare the data again (python -m gan_course data prepare "
                    f"NAME) and check its report.")
            files += found
            labels += [label] * len(found)
        return files, labels, classes
    classes = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found = _images_in(sub)
        if found:
            files += found
            labels += [len(classes)] * len(found)
            classes.append(sub.name)
    if not files:
        loose = any(p.suffix.lower() in IMAGE_EXTENSIONS for p in folder.iterdir())
        hint = (" The images lie directly in it: put them in a class sub-folder, e.g. "
                f"{folder / 'images'}/." if loose else "")
        raise DataError(f"{folder} holds no images in class sub-folders "
                        f"(expected {folder}/<class>/<image>.jpg|png).{hint}")
    return files, labels, classes


def _manifest_key(folder: Path, files: list[Path], labels: list[int], classes: list[str],
                  size: int) -> str:
    """Hash of the file list with inodes, sizes and mtimes (ns), labels and class names: any
    added, removed, edited or replaced image (a new file of the same size has a new inode, and
    preparation re-links a replaced source) changes it."""
    h = hashlib.sha1(f"v{CACHE_VERSION} size={size} classes={classes}\n".encode())
    for p, label in zip(files, labels):
        st = p.stat()
        h.update(f"{p.relative_to(folder)}\t{label}\t{st.st_ino}\t{st.st_size}\t"
                 f"{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def default_cache_dir(folder, size: int) -> Path:
    """``data_root()/cache/<parent>-<folder>-<path hash>-<size>px``: one cache per folder and size."""
    folder = Path(folder).expanduser().resolve()
    tag = hashlib.sha1(str(folder).encode()).hexdigest()[:8]
    return data_root() / "cache" / f"{folder.parent.name}-{folder.name}-{tag}-{size}px"


def decode_image(path, size: int) -> np.ndarray:
    """Decode one image to uint8 (3, size, size): RGB, shorter side resized, centre-cropped.

    JPEGs are decoded at reduced scale (``Image.draft``) when much larger than ``size``, which
    is several times faster and loses nothing after the downscale. Images with a side below
    :data:`~gan_course.data.images.MIN_IMAGE_SIDE` raise ``ValueError`` instead of being
    blown up; 16-bit images are scaled to 8 bits (:func:`~gan_course.data.images.to_rgb`).
    """
    with Image.open(path) as im:
        small = too_small(im.size)
        if small:
            raise ValueError(small)
        if im.format == "JPEG":
            im.draft("RGB", (size, size))  # result stays >= size on both sides
        im = to_rgb(im)  # RGBA, L, P, CMYK, I;16 -> 8-bit RGB
        w, h = im.size
        s = min(w, h)
        box = ((w - s) / 2, (h - s) / 2, (w + s) / 2, (h + s) / 2)  # centre square
        im = im.resize((size, size), Image.Resampling.BILINEAR, box=box)
        return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1)


def _try_decode(args) -> np.ndarray | str:
    path, size = args
    try:
        return decode_image(path, size)
    except ValueError as exc:  # too small
        return f"{Path(path).name}: {exc}"
    except Exception as exc:  # any decoder failure means "skip this file", never a crash
        return f"{Path(path).name}: {type(exc).__name__}: {exc}"


class ImageCache:
    """Decoded images of one folder at one size: ``images`` uint8 memmap (N, 3, H, W),
    ``labels`` int64 (N,), ``classes`` (names, indexed by label)."""

    def __init__(self, path: Path, classes: list[str], folder: Path | None = None,
                 skipped: int = 0, rebuilt: bool = False):
        self.path = Path(path)
        self.images = np.load(self.path / "images.npy", mmap_mode="r")
        self.labels = np.load(self.path / "labels.npy")
        self.classes = list(classes)
        self.folder = folder
        self.skipped = skipped
        self.rebuilt = rebuilt

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def size(self) -> int:
        """Side length H == W of the cached images."""
        return int(self.images.shape[-1])

    def __repr__(self) -> str:
        return (f"ImageCache({len(self):,} images {self.size}x{self.size}, classes={self.classes}, "
                f"path={str(self.path)!r})")

    def counts(self) -> dict[str, int]:
        """Images per class name."""
        bins = np.bincount(self.labels, minlength=len(self.classes))
        return {c: int(n) for c, n in zip(self.classes, bins)}

    def take(self, indices, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``indices`` as float32 (B, 3, H, W) in [-1, 1] on ``device`` + labels int64 (B,)."""
        idx = np.asarray(indices, dtype=np.int64)
        # uint8 travels to the device (4x less than float) and is converted there.
        x = torch.from_numpy(np.ascontiguousarray(self.images[idx])).to(device, non_blocking=True)
        y = torch.from_numpy(self.labels[idx]).to(device, non_blocking=True)
        return to_unit_range(x), y

    def batches(self, batch_size: int = 128, index=None, drop_last: bool = True) -> Batches:
        """The cached images (and labels) as shuffled :class:`~gan_course.data.batches.Batches`.

        ``index`` restricts them to a subset of rows (e.g. one class), without a copy.
        """
        return Batches([self.images, self.labels], batch_size, index=index, drop_last=drop_last,
                       classes=self.classes)

    def to_dataset(self) -> CachedImageDataset:
        """A ``torch.utils.data.Dataset`` over the cache: item = (float (3, H, W) in [-1, 1], label)."""
        return CachedImageDataset(self.path, self.classes)


class CachedImageDataset(torch.utils.data.Dataset):
    """Map-style dataset over a cache folder; opens the memmap lazily so it pickles cheaply
    (DataLoader workers, DDP) instead of copying the array."""

    def __init__(self, path, classes):
        self.path, self.classes = Path(path), list(classes)
        self.labels = np.load(self.path / "labels.npy")
        self._images = None

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if self._images is None:
            self._images = np.load(self.path / "images.npy", mmap_mode="r")
        x = torch.from_numpy(np.array(self._images[i]))
        return to_unit_range(x), int(self.labels[i])

    def __getstate__(self):
        return {**self.__dict__, "_images": None}


def build_cache(folder, size: int = 64, cache_dir=None, verbose: bool = True,
                workers: int | None = None, classes=None) -> ImageCache:
    """Decode the ImageFolder-style ``folder`` once at ``size`` x ``size`` and return its cache.

    The cache lives in ``cache_dir`` (default :func:`default_cache_dir`) and is reused while the
    source files are unchanged; otherwise it is rebuilt. Unreadable or tiny files are skipped
    (counted, warned about). ``classes`` fixes the class ids by name (see :func:`scan_folder`).
    Returns an :class:`ImageCache` (images uint8 (N, 3, size, size)). A full or read-only disk
    raises :class:`~gan_course.runtime.StorageError` and leaves no temporary file behind.
    """
    size = int(size)
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    folder = Path(folder).expanduser()
    files, labels, classes = scan_folder(folder, classes)
    key = _manifest_key(folder, files, labels, classes, size)
    out = Path(cache_dir) if cache_dir is not None else default_cache_dir(folder, size)
    manifest_path = out / "manifest.json"
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
            if manifest.get("key") == key and (out / "images.npy").is_file():
                return ImageCache(out, manifest["classes"], folder, manifest.get("skipped", 0))
        except (OSError, ValueError, KeyError):
            pass  # damaged manifest: rebuild
    n = len(files)
    what = f"the image cache ({_human_bytes(n * 3 * size * size)})"
    tmps: list[Path] = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        manifest_path.unlink(missing_ok=True)  # from here on the old cache is invalid
        return _build(folder, files, labels, classes, size, key, out, tmps, verbose, workers)
    except OSError as exc:
        raise storage_error(exc, what, out) from None
    finally:
        for tmp in tmps:  # whatever happened, no half-written temporary file stays behind
            try:
                tmp.unlink(missing_ok=True)
            except OSError:  # read-only: then it was never written either
                pass


def _human_bytes(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.3g} {unit}" if unit != "bytes" else f"{n} bytes"
        n /= 1000
    return f"{n:.3g} TB"  # pragma: no cover


def _reserve(path: Path) -> None:
    """Allocate the whole file now, so a full disk fails here with ENOSPC -- not later with a
    SIGBUS crash while writing into the memory map."""
    if not hasattr(os, "posix_fallocate"):  # macOS, Windows: no portable way; write as we go
        return
    with open(path, "r+b") as f:
        try:
            os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise


def _new_array(path: Path, shape: tuple, tmps: list[Path]) -> np.memmap:
    tmps.append(path)
    arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
    _reserve(path)
    return arr


def _build(folder: Path, files: list[Path], labels: list[int], classes: list[str], size: int,
           key: str, out: Path, tmps: list[Path], verbose: bool,
           workers: int | None) -> ImageCache:
    n = len(files)
    tmp = out / f"images.npy.tmp{os.getpid()}"
    arr = _new_array(tmp, (n, 3, size, size), tmps)
    keep = np.zeros(n, bool)
    problems = []
    workers = workers or min(8, os.cpu_count() or 1)
    # PIL releases the GIL while decoding and resizing, so threads give real parallelism.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(_try_decode, [(p, size) for p in files], chunksize=16)
        for i, res in enumerate(tqdm(results, total=n, desc=f"decoding {folder.name} @{size}px",
                                     disable=not verbose or n <= 500, leave=False)):
            if isinstance(res, str):
                problems.append(res)
            else:
                arr[i] = res
                keep[i] = True
    if problems:
        warnings.warn(f"{len(problems)} of {n} images in {folder} could not be used and were "
                      f"skipped, e.g. {problems[0]}", stacklevel=3)
    if not keep.any():
        raise DataError(f"None of the {n} images in {folder} could be decoded "
                        f"(e.g. {problems[0]}). Re-download or re-create the data.")
    if problems:  # compact: drop the rows of skipped files
        kept = np.flatnonzero(keep)
        small = _new_array(out / f"images.npy.tmp{os.getpid()}b", (len(kept), 3, size, size), tmps)
        for s in range(0, len(kept), 4096):
            small[s:s + 4096] = arr[kept[s:s + 4096]]
        small.flush()
        del arr, small
        tmp = tmps[-1]
    else:
        arr.flush()
        del arr
    os.replace(tmp, out / "images.npy")
    labels_tmp = out / f"labels.npy.tmp{os.getpid()}"
    tmps.append(labels_tmp)
    with open(labels_tmp, "wb") as f:
        np.save(f, np.asarray(labels, np.int64)[keep])
    os.replace(labels_tmp, out / "labels.npy")
    manifest = {"key": key, "version": CACHE_VERSION, "size": size, "folder": str(folder),
                "classes": classes, "n": int(keep.sum()), "skipped": len(problems),
                "problems": problems[:20]}
    tmp_manifest = out / f"manifest.json.tmp{os.getpid()}"
    tmps.append(tmp_manifest)
    tmp_manifest.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp_manifest, out / "manifest.json")  # written last: complete manifest = valid cache
    return ImageCache(out, classes, folder, len(problems), rebuilt=True)
