"""The real datasets: where they come from, how to fetch them, how to verify a folder holds them.

=============  ==========================================  ==========================================
name           source                                      layout (inside the dataset folder)
=============  ==========================================  ==========================================
anime          Kaggle ``splcher/animefacedataset``         ``images/*.jpg`` (63,632 faces)
eyeglasses     Kaggle ``jeffheaton/glasses-or-no-glasses`` ``train.csv`` (id, ..., glasses) +
                                                           ``faces-spring-2020/faces-spring-2020/
                                                           face-<id>.png``
celeba         Kaggle ``jessicali9530/celeba-dataset``     ``list_attr_celeba.csv`` + ``img_align_
                                                           celeba/img_align_celeba/*.jpg`` (202,599)
fashion_mnist  ``torchvision.datasets.FashionMNIST``       ``FashionMNIST/raw/*-ubyte`` (60,000 train,
                                                           10,000 test)
=============  ==========================================  ==========================================

``fetch`` downloads with kagglehub / torchvision. Without network it fails at once with a
:class:`DataError` that spells out the manual route (download page, folder to unpack into, and the
``python -m gan_course data check NAME PATH`` command). ``check`` verifies a folder and either
returns a :class:`CheckReport` or raises a :class:`DataError` saying what is wrong and what to do.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from gan_course.data.images import image_problem
from gan_course.runtime import DISK_ERRNOS, data_root, storage_error

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
"""File endings treated as images (the same list torchvision's ImageFolder accepts)."""


class DataError(Exception):
    """A dataset is missing, incomplete or malformed; the message says what to do about it."""


@dataclass(frozen=True)
class DatasetSpec:
    """Where a real dataset comes from and what its folder must contain."""

    name: str
    title: str
    provider: str  # "kaggle" or "torchvision"
    slug: str  # kaggle handle, or the torchvision class name
    url: str  # page to download it by hand
    layout: str  # one-line description of the folder layout
    expected: str  # human statement of the expected size
    min_images: int  # fewer than this -> warning "looks partial" (not an error)
    image_dir: str | None = None  # folder of images, relative to the dataset folder
    csv: str | None = None  # label file, relative to the dataset folder
    csv_columns: tuple[str, ...] = ()  # columns the label file must have
    # label columns and their valid values: (column, valid values, how to say them)
    label_values: tuple[tuple[str, tuple[int, ...], str], ...] = ()


DATASETS: dict[str, DatasetSpec] = {
    "anime": DatasetSpec(
        name="anime", title="Anime Face Dataset", provider="kaggle",
        slug="splcher/animefacedataset",
        url="https://www.kaggle.com/datasets/splcher/animefacedataset",
        layout="images/*.jpg (ImageFolder with one class folder)",
        expected="63,632 images", min_images=63_632, image_dir="images"),
    "eyeglasses": DatasetSpec(
        name="eyeglasses", title="Glasses or No Glasses", provider="kaggle",
        slug="jeffheaton/glasses-or-no-glasses",
        url="https://www.kaggle.com/datasets/jeffheaton/glasses-or-no-glasses",
        layout="train.csv (columns id, ..., glasses) + faces-spring-2020/faces-spring-2020/face-<id>.png",
        expected="a few thousand 1024x1024 PNG faces", min_images=1_000,
        image_dir="faces-spring-2020/faces-spring-2020", csv="train.csv",
        csv_columns=("id", "glasses"), label_values=(("glasses", (0, 1), "0 or 1"),)),
    "celeba": DatasetSpec(
        name="celeba", title="CelebFaces Attributes (CelebA)", provider="kaggle",
        slug="jessicali9530/celeba-dataset",
        url="https://www.kaggle.com/datasets/jessicali9530/celeba-dataset",
        layout="list_attr_celeba.csv + img_align_celeba/img_align_celeba/000001.jpg ...",
        expected="202,599 images", min_images=202_599,
        image_dir="img_align_celeba/img_align_celeba", csv="list_attr_celeba.csv",
        csv_columns=("image_id", "Black_Hair", "Blond_Hair", "Eyeglasses", "Male"),
        label_values=tuple((c, (-1, 0, 1), "1 or -1 (0 counts as -1)")
                           for c in ("Black_Hair", "Blond_Hair", "Eyeglasses", "Male"))),
    "fashion_mnist": DatasetSpec(
        name="fashion_mnist", title="Fashion-MNIST", provider="torchvision",
        slug="FashionMNIST", url="https://github.com/zalandoresearch/fashion-mnist",
        layout="FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte",
        expected="60,000 train + 10,000 test images", min_images=60_000),
}

FASHION_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def spec(name: str) -> DatasetSpec:
    """The registry entry for ``name``; unknown names raise a :class:`DataError` listing the choices."""
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"Unknown dataset {name!r}: choose one of {', '.join(DATASETS)}.") from None


def real_dir(name: str) -> Path:
    """Default folder of a real dataset: ``data_root()/real/<name>``."""
    return data_root() / "real" / spec(name).name


def manual_route(name: str, root: Path | None = None) -> str:
    """Step-by-step instructions to get dataset ``name`` by hand (used in error messages)."""
    s = spec(name)
    root = Path(root) if root is not None else real_dir(name)
    if s.provider == "kaggle":
        how = (f"  1. Download the archive from {s.url} (button 'Download', needs a free Kaggle "
               f"account),\n  2. unpack it into {root} so that it contains {s.layout},\n")
    else:
        how = (f"  1. Download the four *-ubyte.gz files from {s.url} (section 'Get the Data'),\n"
               f"  2. put them, gunzipped, into {root / 'FashionMNIST' / 'raw'},\n")
    return how + f"  3. run: python -m gan_course data check {name} {root}"


# ------------------------------------------------------------------------------------- fetch
def network_available(host: str = "www.kaggle.com", port: int = 443, timeout: float = 3.0) -> bool:
    """Quick connectivity probe: can we open a TCP connection to ``host`` within ``timeout`` s?"""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _kaggle_download(slug: str, out: Path) -> Path:
    """Download a Kaggle dataset into ``out`` (kagglehub); returns the folder holding the files."""
    import kagglehub

    try:
        return Path(kagglehub.dataset_download(slug, output_dir=str(out)))
    except TypeError:  # kagglehub < 0.3.x has no output_dir: download to its cache, then link
        cached = Path(kagglehub.dataset_download(slug))
        link_tree(cached, out)
        return out


def fetch(name: str, root=None) -> Path:
    """Download dataset ``name`` into ``root`` (default ``data_root()/real/<name>``), verify it and
    return the folder. Offline, raises :class:`DataError` at once with the manual route."""
    s = spec(name)
    root = Path(root) if root is not None else real_dir(name)
    if _is_complete(name, root):
        print(f"{s.title} is already in {root}")
        return root
    host = "www.kaggle.com" if s.provider == "kaggle" else "ossci-datasets.s3.amazonaws.com"
    offline = (f"Cannot download {s.title}: no network connection (could not reach {host}).\n"
               f"Get it by hand instead:\n{manual_route(name, root)}")
    if not network_available(host):
        raise DataError(offline)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(exc, f"the {s.title} download", root.parent,
                            "pass another --root folder, or set GAN_COURSE_DATA") from None
    try:
        if s.provider == "kaggle":
            got = _kaggle_download(s.slug, root)
        else:
            from torchvision.datasets import FashionMNIST

            FashionMNIST(str(root), train=True, download=True)
            FashionMNIST(str(root), train=False, download=True)
            got = root
    except OSError as exc:  # requests' errors derive from OSError too
        if exc.errno in DISK_ERRNOS:
            raise storage_error(exc, f"the {s.title} download", root,
                                "pass another --root folder, or set GAN_COURSE_DATA") from None
        raise DataError(f"Download of {s.title} failed ({exc}).\n{offline.split(chr(10), 1)[1]}") from None
    except Exception as exc:  # kagglehub raises its own classes (auth, not found, backend)
        raise DataError(f"Download of {s.title} with kagglehub failed: {type(exc).__name__}: {exc}\n"
                        f"If Kaggle asks you to log in, run kagglehub.login() or get it by hand:\n"
                        f"{manual_route(name, root)}") from None
    report = check(name, got)
    print(report)
    return got


def _is_complete(name: str, root: Path) -> bool:
    try:
        return not check(name, root).warnings
    except DataError:
        return False


# ------------------------------------------------------------------------------------- check
@dataclass
class CheckReport:
    """Result of :func:`check`: what was found in a dataset folder."""

    name: str
    path: Path
    n_images: int = 0
    n_rows: int | None = None  # label-file rows, if the dataset has one
    columns: list[str] = field(default_factory=list)
    samples_ok: int = 0
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        s = spec(self.name)
        parts = [f"{s.title} at {self.path}: {self.n_images:,} images"]
        if self.n_rows is not None:
            parts.append(f"{self.n_rows:,} label rows")
        parts.append(f"{self.samples_ok} sample images decoded OK")
        text = "; ".join(parts) + f" (full set: {s.expected})."
        return "\n".join([text, *(f"  warning: {w}" for w in self.warnings)])


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def read_label_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    """Read a label CSV with pandas; a missing/unreadable file or missing columns raise DataError."""
    if not path.is_file():
        raise DataError(f"Label file {path} is missing. It must be a CSV with columns "
                        f"{', '.join(required)}.")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise DataError(f"Cannot read {path} as CSV ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}). Re-download or restore "
                        f"the file.") from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        found = ", ".join(map(str, df.columns[:12])) + (" ..." if len(df.columns) > 12 else "")
        raise DataError(f"{path} has the wrong columns: expected {', '.join(required)}; "
                        f"missing {', '.join(missing)}; found {found}. Is this the right file?")
    return df


def _sample_images(paths: list[Path], k: int = 5) -> tuple[int, list[str]]:
    """Decode up to ``k`` evenly spaced images; returns (how many decoded, problems)."""
    if not paths:
        return 0, []
    step = max(1, len(paths) // k)
    ok, bad = 0, []
    for p in paths[::step][:k]:
        problem = image_problem(p)
        if problem is None:
            ok += 1
        else:
            bad.append(f"{p.name} {problem}")
    return ok, bad


def _show(value) -> str:
    if pd.isna(value):
        return "(empty)"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def check_labels(df: pd.DataFrame, csv: Path, s: DatasetSpec) -> None:
    """Raise :class:`DataError` if a label column of ``df`` holds a value that is not valid,
    naming the column, the bad values (up to 5, with how many rows) and the valid ones."""
    for column, valid, expected in s.label_values:
        values = pd.to_numeric(df[column], errors="coerce")
        bad = ~values.isin(valid)
        if bad.any():
            found = df.loc[bad, column].drop_duplicates()
            shown = ", ".join(_show(v) for v in found.head(5)) + (" ..." if len(found) > 5 else "")
            raise DataError(f"{csv} column {column!r} has invalid values {shown} in "
                            f"{int(bad.sum()):,} of {len(df):,} rows; expected {expected}. "
                            f"Fix those rows (or download the file again) and re-run the check.")
    if s.name == "eyeglasses":
        ids = pd.to_numeric(df["id"], errors="coerce")
        bad = ids.isna() | (ids % 1 != 0)
        if bad.any():
            shown = ", ".join(_show(v) for v in df.loc[bad, "id"].drop_duplicates().head(5))
            raise DataError(f"{csv} column 'id' has invalid values {shown} in "
                            f"{int(bad.sum()):,} rows; expected whole numbers (face-<id>.png).")


def _read_idx_header(path: Path) -> tuple[int, ...]:
    with open(path, "rb") as f:
        head = f.read(4)
        if len(head) != 4 or head[:2] != b"\0\0" or head[2] != 0x08:
            raise DataError(f"{path} is not an uncompressed IDX file (gunzip the .gz download).")
        ndim = head[3]
        dims = struct.unpack(f">{ndim}I", f.read(4 * ndim))
    expected = 4 + 4 * ndim + _prod(dims)  # ubyte payload: one byte per element
    if path.stat().st_size != expected:
        raise DataError(f"{path} is truncated: {path.stat().st_size} bytes, header says {expected}. "
                        f"Download it again.")
    return dims


def _prod(dims) -> int:
    out = 1
    for d in dims:
        out *= int(d)
    return out


def check(name: str, path) -> CheckReport:
    """Verify that ``path`` holds dataset ``name`` in the expected layout.

    Checks folders, label-file columns, image counts and that sample images decode. Returns a
    :class:`CheckReport` (with warnings, e.g. for a partial set); raises :class:`DataError` with
    what is wrong and what to do when the folder cannot be used.
    """
    s = spec(name)
    path = Path(path).expanduser()
    fix = f"\nExpected layout inside the folder: {s.layout}.\nTo get it:\n{manual_route(name, path)}"
    if not path.is_dir():
        raise DataError(f"{path} does not exist or is not a folder.{fix}")
    report = CheckReport(name=name, path=path)

    if s.provider == "torchvision":
        raw = path / "FashionMNIST" / "raw"
        missing = [f for f in FASHION_FILES if not (raw / f).is_file()]
        if missing:
            hint = ""
            if any((raw / (f + ".gz")).is_file() for f in missing):
                hint = " (found .gz files: gunzip them)"
            raise DataError(f"{raw} lacks {', '.join(missing)}{hint}.{fix}")
        dims = {f: _read_idx_header(raw / f) for f in FASHION_FILES}
        for split in ("train", "t10k"):
            if dims[f"{split}-images-idx3-ubyte"][0] != dims[f"{split}-labels-idx1-ubyte"][0]:
                raise DataError(f"{raw}: {split} images and labels have different counts. "
                                f"Download the files again.")
        report.n_images = dims["train-images-idx3-ubyte"][0]
        report.n_rows = report.n_images
        from torchvision.datasets import FashionMNIST

        try:
            ds = FashionMNIST(str(path), train=True, download=False)
            _ = ds[0]
            report.samples_ok = 1
        except Exception as exc:  # torchvision's own checks; keep the message short
            raise DataError(f"torchvision cannot load Fashion-MNIST from {path}: {exc}{fix}") from None
    else:
        img_dir = path / s.image_dir
        if not img_dir.is_dir():
            inner = [p.name for p in path.iterdir()][:8]
            raise DataError(f"{path} has no folder {s.image_dir}/ (it contains: "
                            f"{', '.join(inner) or 'nothing'}).{fix}")
        images = list_images(img_dir)
        report.n_images = len(images)
        if not images:
            raise DataError(f"{img_dir} contains no images ({', '.join(IMAGE_EXTENSIONS)}).{fix}")
        if s.csv:
            df = read_label_csv(path / s.csv, s.csv_columns)
            check_labels(df, path / s.csv, s)
            report.n_rows, report.columns = len(df), list(df.columns)
            names = (df["image_id"].astype(str) if name == "celeba"
                     else "face-" + df["id"].astype(str) + ".png")
            present = {p.name for p in images}
            absent = int((~names.isin(present)).sum())
            if absent:
                report.warnings.append(f"{absent:,} of {len(df):,} rows in {s.csv} have no image "
                                       f"file (they will be skipped)")
        ok, bad = _sample_images(images)
        report.samples_ok = ok
        if bad and ok == 0:
            raise DataError(f"No sample image in {img_dir} could be decoded ({len(bad)} tried, "
                            f"e.g. {bad[0]}). "
                            f"The download is probably corrupt; download it again.{fix}")
        if bad:
            report.warnings.append(f"unreadable sample images: {', '.join(bad)} (they will be skipped)")
    if report.n_images < s.min_images:
        report.warnings.append(f"only {report.n_images:,} images; the full set has {s.expected} "
                               f"(fine for toy data or a subset, else download it again)")
    return report


# ----------------------------------------------------------------------------- linking helpers
def link_or_copy(src: Path, dst: Path) -> str:
    """Hard-link ``src`` to ``dst`` (else copy); never touches ``src``. Returns 'link' or 'copy'.

    Written to a temporary name first and renamed, so an interrupted or failed write (a full
    disk) leaves neither a half file nor the temporary one.
    """
    tmp = dst.with_name(f".{dst.name}.tmp{os.getpid()}")
    try:
        tmp.unlink(missing_ok=True)
        try:
            os.link(src, tmp)
            how = "link"
        except OSError:  # other file system, or links not allowed: copy instead
            shutil.copy2(src, tmp)
            how = "copy"
        os.replace(tmp, dst)
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # e.g. a read-only file system: nothing was written then either
            pass
        raise
    return how


def link_tree(src: Path, dst: Path) -> int:
    """Mirror the files of ``src`` into ``dst`` with :func:`link_or_copy`; returns files added."""
    added = 0
    for p in Path(src).rglob("*"):
        if p.is_file():
            target = Path(dst) / p.relative_to(src)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                link_or_copy(p, target)
                added += 1
    return added
