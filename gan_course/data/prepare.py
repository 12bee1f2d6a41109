"""Sort labelled faces into class folders -- without ever moving or changing the source files.

The book moves files with ``shutil.move``; that destroys the download and cannot be re-run. Here
every image is **hard-linked** (no extra disk space; falls back to a copy across file systems)
into ``dst/<class>/``, so:

* the source folder is never modified (its files keep their content and place),
* a second run finds everything in place and reports ``0 new files``,
* rows that cannot be used (image missing or unreadable, label not a valid value, CelebA rows
  with both or neither hair colour) are counted in a :class:`PrepareReport`, not fatal.

The resulting folders are ImageFolder-style, ready for :func:`gan_course.data.tensors.build_cache`.
Images are not decoded or resized here: RGBA, greyscale and odd sizes are handled by the cache.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from gan_course.data.sources import DATASETS, DataError, link_or_copy, read_label_csv

EYEGLASSES_CLASSES = ("glasses", "no_glasses")
"""Class folders of the prepared eyeglasses set; label 0 = glasses (the book's one-hot [1, 0])."""
HAIR_CLASSES = ("black", "blond")
"""Class folders of the prepared CelebA hair-colour set."""


@dataclass
class PrepareReport:
    """What a preparation run did: per-class totals and every kind of skipped row, counted."""

    name: str
    src: Path
    dst: Path
    classes: dict[str, int] = field(default_factory=dict)  # images per class folder after the run
    new: int = 0  # files linked/copied by this run
    existing: int = 0  # files already in place (a re-run)
    missing: int = 0  # label rows whose image file does not exist
    corrupt: int = 0  # image files that cannot be opened
    bad_label: int = 0  # label value (or id) not one of the valid values
    skipped_both: int = 0  # CelebA: both Black_Hair and Blond_Hair
    skipped_neither: int = 0  # CelebA: neither
    method: str = "link"  # 'link', 'copy' or 'link+copy'
    problems: list[str] = field(default_factory=list)  # a few examples of skipped rows

    @property
    def skipped(self) -> int:
        """All rows not used, whatever the reason."""
        return (self.missing + self.corrupt + self.bad_label
                + self.skipped_both + self.skipped_neither)

    def __str__(self) -> str:
        per_class = ", ".join(f"{k} {v:,}" for k, v in self.classes.items())
        lines = [f"{self.name} prepared in {self.dst}: {per_class} "
                 f"({self.new:,} new files, {self.existing:,} already there)"]
        reasons = [(self.missing, "image missing"), (self.corrupt, "unreadable image"),
                   (self.bad_label, "invalid label"), (self.skipped_both, "both classes"),
                   (self.skipped_neither, "neither class")]
        skipped = ", ".join(f"{n:,} {why}" for n, why in reasons if n)
        if skipped:
            lines.append(f"  skipped rows: {skipped}"
                         + (f" (e.g. {'; '.join(self.problems[:3])})" if self.problems else ""))
        return "\n".join(lines)


def _readable(path: Path) -> bool:
    """Cheap integrity check: the header parses and ``verify`` passes (no full decode)."""
    try:
        with Image.open(path) as im:
            im.verify()
        return True
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return False


def _sort_into(report: PrepareReport, jobs: list[tuple[Path, str]]) -> PrepareReport:
    """Link each (source image, class) into ``report.dst/<class>/<name>``, counting problems."""
    for cls in report.classes:
        (report.dst / cls).mkdir(parents=True, exist_ok=True)
    todo = []
    for src, cls in jobs:
        target = report.dst / cls / src.name
        if not src.is_file():
            report.missing += 1
            _note(report, f"{src.name} missing")
            continue
        if target.is_file() and target.stat().st_size == src.stat().st_size:
            report.existing += 1  # already prepared: nothing to do, no decode
            continue
        todo.append((src, target))
    # Integrity checks are I/O bound, so threads overlap them even on few cores.
    with ThreadPoolExecutor(max_workers=8) as pool:
        ok = list(pool.map(_readable, [s for s, _ in todo]))
    methods = set()
    for (src, target), good in tqdm(list(zip(todo, ok)), desc=f"prepare {report.name}",
                                    disable=len(todo) < 500, leave=False):
        if not good:
            report.corrupt += 1
            _note(report, f"{src.name} unreadable")
            continue
        methods.add(link_or_copy(src, target))
        report.new += 1
    report.method = "+".join(sorted(methods)) or "link"
    for cls in report.classes:
        report.classes[cls] = sum(1 for p in (report.dst / cls).iterdir() if not p.name.startswith("."))
    return report


def _note(report: PrepareReport, msg: str) -> None:
    if len(report.problems) < 5:
        report.problems.append(msg)


def _source_dir(src, name: str) -> tuple[Path, Path]:
    s = DATASETS[name]
    src = Path(src).expanduser()
    if not src.is_dir():
        raise DataError(f"Source folder {src} does not exist. It must hold the {s.title} layout: "
                        f"{s.layout}. Run `python -m gan_course data check {name} {src}`.")
    img_dir = src / s.image_dir
    if not img_dir.is_dir():
        raise DataError(f"{src} has no folder {s.image_dir}/; expected layout: {s.layout}.")
    return src, img_dir


def prepare_eyeglasses(src, dst) -> PrepareReport:
    """Sort the eyeglasses faces into ``dst/glasses`` and ``dst/no_glasses`` by ``train.csv``.

    ``src`` holds the Kaggle layout (``train.csv`` with columns ``id`` and ``glasses`` 0/1 +
    ``faces-spring-2020/faces-spring-2020/face-<id>.png``). Idempotent and non-destructive.
    """
    src, img_dir = _source_dir(src, "eyeglasses")
    df = read_label_csv(src / "train.csv", ("id", "glasses"))
    ids = pd.to_numeric(df["id"], errors="coerce")
    label = pd.to_numeric(df["glasses"], errors="coerce")
    valid = ids.notna() & (ids % 1 == 0) & label.isin([0, 1])
    report = PrepareReport("eyeglasses", src, Path(dst), classes=dict.fromkeys(EYEGLASSES_CLASSES, 0))
    report.bad_label = int((~valid).sum())
    for raw_id, raw_label in df.loc[~valid, ["id", "glasses"]].head(3).itertuples(index=False):
        _note(report, f"id {raw_id!r}: glasses={raw_label!r} (expected 0 or 1)")
    jobs = [(img_dir / f"face-{int(i)}.png", "glasses" if g == 1 else "no_glasses")
            for i, g in zip(ids[valid], label[valid])]
    return _sort_into(report, jobs)


def prepare_celeba_hair(src, dst) -> PrepareReport:
    """Sort CelebA faces into ``dst/black`` and ``dst/blond`` by ``Black_Hair`` / ``Blond_Hair``.

    ``src`` holds the Kaggle layout (``list_attr_celeba.csv`` + ``img_align_celeba/
    img_align_celeba/``). Values are +1 / -1 (0 is read as -1); rows with both or neither
    colour are skipped and counted. Idempotent and non-destructive.
    """
    src, img_dir = _source_dir(src, "celeba")
    df = read_label_csv(src / "list_attr_celeba.csv", ("image_id", "Black_Hair", "Blond_Hair"))
    black = pd.to_numeric(df["Black_Hair"], errors="coerce")
    blond = pd.to_numeric(df["Blond_Hair"], errors="coerce")
    names = df["image_id"].astype(str).str.strip()
    # A usable id is a plain file name: no empty cells, no sub-folders ("../x" would escape src).
    name_ok = df["image_id"].notna() & (names.str.len() > 0) & ~names.str.contains(r"[/\\]")
    valid = black.isin([-1, 0, 1]) & blond.isin([-1, 0, 1]) & name_ok
    report = PrepareReport("celeba_hair", src, Path(dst), classes=dict.fromkeys(HAIR_CLASSES, 0))
    report.bad_label = int((~valid).sum())
    for row in df.loc[~valid, ["image_id", "Black_Hair", "Blond_Hair"]].head(3).itertuples(index=False):
        _note(report, f"{row[0]}: Black_Hair={row[1]!r}, Blond_Hair={row[2]!r} (expected 1 or -1)")
    is_black, is_blond = valid & (black == 1), valid & (blond == 1)
    report.skipped_both = int((is_black & is_blond).sum())
    report.skipped_neither = int((valid & ~is_black & ~is_blond).sum())
    pick = is_black ^ is_blond
    jobs = [(img_dir / n, "black" if b else "blond")
            for n, b in zip(names[pick], is_black[pick])]
    return _sort_into(report, jobs)
