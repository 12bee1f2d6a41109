"""Sort labelled faces into class folders -- without ever moving or changing the source files.

The book moves files with ``shutil.move``; that destroys the download and cannot be re-run. Here
every image is **hard-linked** (no extra disk space; falls back to a copy across file systems)
into ``dst/<class>/``, and the prepared tree is kept **exactly** what the current source folder
and label file say:

* the source folder is never modified (its files keep their content and place);
* a re-run after a label is corrected, a row removed, or an image deleted or replaced in the
  download moves, removes or re-links exactly those files; a second run of an unchanged source
  finds everything in place and reports ``0 new files``;
* only files that preparation made are ever removed: it records them in
  ``dst/.gan_course_prepared.json`` (each with its source's inode, size and modification time,
  which is also how a replaced source file is noticed), and it refuses to run when a class folder
  holds an image it did not make, naming it, rather than train on it or delete it;
* rows that cannot be used (image missing, unreadable, truncated or too small; label not a valid
  value; one image named with two different labels; CelebA rows with neither hair colour) are
  counted in a :class:`PrepareReport`, not fatal -- but a class left without any image is an
  error, because it would change what the class ids mean.

CelebA rows with both ``Black_Hair`` and ``Blond_Hair`` set go to ``black``, as the book's
``if ... elif ...`` does; the report counts them.

The resulting folders are ImageFolder-style, ready for :func:`gan_course.data.tensors.build_cache`
(with the class ids fixed by name: :data:`EYEGLASSES_CLASSES`, :data:`HAIR_CLASSES`).
"""

from __future__ import annotations

import filecmp
import json
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from gan_course.data.images import image_problem
from gan_course.data.sources import (
    DATASETS,
    IMAGE_EXTENSIONS,
    DataError,
    link_or_copy,
    read_label_csv,
)
from gan_course.runtime import storage_error

EYEGLASSES_CLASSES = ("glasses", "no_glasses")
"""Class folders of the prepared eyeglasses set; label 0 = glasses (the book's one-hot [1, 0])."""
HAIR_CLASSES = ("black", "blond")
"""Class folders of the prepared CelebA hair-colour set; CycleGAN domain A = black, B = blond."""
MANIFEST = ".gan_course_prepared.json"
"""The record, inside the prepared folder, of every file preparation made there."""
_MANIFEST_VERSION = 1


@dataclass
class PrepareReport:
    """What a preparation run did: per-class totals and every kind of skipped row, counted."""

    name: str
    src: Path
    dst: Path
    classes: dict[str, int] = field(default_factory=dict)  # images per class folder after the run
    new: int = 0  # files linked/copied by this run
    existing: int = 0  # files already in place (a re-run)
    removed: int = 0  # stale files (made by an earlier run) removed by this run
    missing: int = 0  # label rows whose image file does not exist
    corrupt: int = 0  # image files that cannot be decoded (or are truncated)
    too_small: int = 0  # images below the minimum size (gan_course.data.images.MIN_IMAGE_SIDE)
    bad_label: int = 0  # label value (or id) not one of the valid values
    conflicting: int = 0  # rows naming an image that other rows give a different class
    both_hair: int = 0  # CelebA: both Black_Hair and Blond_Hair; sorted into black (the book)
    skipped_neither: int = 0  # CelebA: neither
    method: str = "link"  # 'link', 'copy' or 'link+copy'
    problems: list[str] = field(default_factory=list)  # a few examples of skipped rows

    @property
    def skipped(self) -> int:
        """All rows not used, whatever the reason."""
        return (self.missing + self.corrupt + self.too_small + self.bad_label + self.conflicting
                + self.skipped_neither)

    @property
    def has_problems(self) -> bool:
        """True when rows were skipped for a reason other than "neither class", or CelebA rows
        had both hair colours: things a user should hear about."""
        return bool(self.skipped - self.skipped_neither or self.both_hair)

    def skipped_text(self) -> str:
        """``'2 image missing, 1 invalid label'`` (empty when nothing was skipped)."""
        reasons = [(self.missing, "image missing"), (self.corrupt, "unreadable image"),
                   (self.too_small, "image too small"), (self.bad_label, "invalid label"),
                   (self.conflicting, "conflicting labels"),
                   (self.skipped_neither, "neither class")]
        return ", ".join(f"{n:,} {why}" for n, why in reasons if n)

    def notes(self) -> list[str]:
        """The lines after the first of ``str(report)``: skipped rows, and CelebA's both-colour
        rows."""
        lines = []
        if self.skipped:
            lines.append(f"  skipped rows: {self.skipped_text()}"
                         + (f" (e.g. {'; '.join(self.problems[:3])})" if self.problems else ""))
        if self.both_hair:
            rows = "1 row has" if self.both_hair == 1 else f"{self.both_hair:,} rows have"
            lines.append(f"  {rows} both Black_Hair and Blond_Hair: sorted into black, as the "
                         f"book's if/elif does")
        return lines

    def __str__(self) -> str:
        per_class = ", ".join(f"{k} {v:,}" for k, v in self.classes.items())
        done = f"{self.new:,} new files, {self.existing:,} already there"
        if self.removed:
            done += f", {self.removed:,} stale removed"
        return "\n".join([f"{self.name} prepared in {self.dst}: {per_class} ({done})",
                          *self.notes()])


def _note(report: PrepareReport, msg: str) -> None:
    if len(report.problems) < 5:
        report.problems.append(msg)


def _record(how: str, src_st: os.stat_result, dst_st: os.stat_result) -> list:
    """What the manifest keeps of a made file: how, the source's (inode, size, mtime_ns), and
    the made file's (inode, mtime_ns) -- enough to tell it is ours and still up to date."""
    return [how, src_st.st_ino, src_st.st_size, src_st.st_mtime_ns, dst_st.st_ino,
            dst_st.st_mtime_ns]


def _is_ours(record, dst_st: os.stat_result) -> bool:
    return isinstance(record, list) and len(record) == 6 and dst_st.st_ino == record[4]


def _up_to_date(record, src_st: os.stat_result, dst_st: os.stat_result) -> bool:
    return (_is_ours(record, dst_st) and dst_st.st_mtime_ns == record[5]
            and record[1:4] == [src_st.st_ino, src_st.st_size, src_st.st_mtime_ns]
            and (record[0] != "link" or dst_st.st_ino == src_st.st_ino))


def _same_file(src: Path, dst: Path, src_st: os.stat_result, dst_st: os.stat_result) -> bool:
    """A file an earlier run made without recording it (an older version, or an interrupted
    run): a hard link of its source, or a byte-identical copy."""
    if (src_st.st_dev, src_st.st_ino) == (dst_st.st_dev, dst_st.st_ino):
        return True
    return src_st.st_size == dst_st.st_size and filecmp.cmp(src, dst, shallow=False)


def _load_manifest(dst: Path) -> dict:
    try:
        data = json.loads((dst / MANIFEST).read_text())
        files = data["files"] if data.get("version") == _MANIFEST_VERSION else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
    return files if isinstance(files, dict) else {}


def _write_manifest(dst: Path, src: Path, files: dict) -> None:
    tmp = dst / f"{MANIFEST}.tmp{os.getpid()}"
    try:
        tmp.write_text(json.dumps({"version": _MANIFEST_VERSION, "source": str(src),
                                   "files": files}))
        os.replace(tmp, dst / MANIFEST)
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise


def _present(dst: Path, classes) -> dict[str, os.stat_result]:
    """Image files now in the class folders, by path relative to ``dst``."""
    found = {}
    for cls in classes:
        folder = dst / cls
        if folder.is_dir():
            for p in folder.rglob("*"):
                if (p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
                        and p.is_file()):
                    found[p.relative_to(dst).as_posix()] = p.stat()
    return found


def _stat(path: Path) -> os.stat_result | None:
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st if path.is_file() else None


def _sort_into(report: PrepareReport, jobs: list[tuple[Path, str]], img_dir: Path,
               rules: dict[str, str]) -> PrepareReport:
    """Make ``report.dst/<class>/`` hold exactly the usable images of ``jobs`` (source image,
    class), counting what is skipped; ``rules`` says in words which rows make each class."""
    dst, classes = report.dst, list(report.classes)
    # one class per image: a file that rows give two different classes is ambiguous
    rows_per_name = Counter(src.name for src, _ in jobs)
    classes_of: dict[str, set] = {}
    for src, cls in jobs:
        classes_of.setdefault(src.name, set()).add(cls)
    wanted: dict[str, Path] = {}
    for src, cls in jobs:
        if len(classes_of[src.name]) > 1:
            continue
        wanted.setdefault(f"{cls}/{src.name}", src)
    for name, cl in classes_of.items():
        if len(cl) > 1:
            report.conflicting += rows_per_name[name]
            _note(report, f"{name} labelled {' and '.join(sorted(cl))}")

    old = _load_manifest(dst)
    present = _present(dst, classes)
    records: dict[str, list] = {}
    todo: list[tuple[str, Path, os.stat_result]] = []
    foreign: list[str] = []
    for rel, src in wanted.items():
        src_st = _stat(src)
        if src_st is None:
            report.missing += 1
            _note(report, f"{src.name} missing")
            continue
        dst_st = present.get(rel)
        if dst_st is not None and _up_to_date(old.get(rel), src_st, dst_st):
            records[rel] = old[rel]  # in place and unchanged: nothing to do, no decode
        elif (dst_st is None or _is_ours(old.get(rel), dst_st)
              or _same_file(src, dst / rel, src_st, dst_st)):
            todo.append((rel, src, src_st))
        else:
            foreign.append(rel)
    stale = []
    handled = {*records, *(rel for rel, _, _ in todo), *foreign}
    for rel, dst_st in present.items():
        if rel in handled:
            continue
        src = img_dir / Path(rel).name
        src_st = _stat(src)
        if _is_ours(old.get(rel), dst_st) or (
                "/" not in rel.split("/", 1)[1] and src_st is not None
                and _same_file(src, dst / rel, src_st, dst_st)):
            stale.append(rel)
        else:
            foreign.append(rel)
    if foreign:
        raise DataError(
            f"{dst} holds {len(foreign):,} image file(s) that prepare did not make, e.g. "
            f"{', '.join(sorted(foreign)[:3])}. prepare keeps that folder exactly as the labels "
            f"say and never deletes files it did not make: move them out (or delete the whole "
            f"folder, it only holds links/copies) and run prepare again.")

    # Decoding is I/O bound and PIL releases the GIL, so threads overlap it even on few cores.
    with ThreadPoolExecutor(max_workers=8) as pool:
        verdicts = list(tqdm(pool.map(image_problem, [src for _, src, _ in todo]),
                             total=len(todo), desc=f"check {report.name}",
                             disable=len(todo) < 500, leave=False))
    good = []
    for (rel, src, src_st), problem in zip(todo, verdicts):
        if problem is None:
            good.append((rel, src, src_st))
            continue
        if problem.startswith("too small"):
            report.too_small += 1
        else:
            report.corrupt += 1
        _note(report, f"{src.name} {problem}")
        if rel in present:
            stale.append(rel)  # made by an earlier run from a file that is now unusable

    counts = Counter(rel.split("/", 1)[0] for rel in [*records, *(g[0] for g in good)])
    empty = [c for c in classes if not counts[c]]
    if empty:
        cls = empty[0]
        why = report.skipped_text() or "no row has that label"
        raise DataError(
            f"No usable image for class {cls!r} ({rules[cls]}) in {report.src}: prepare will not "
            f"write an empty class (the class ids would change meaning). Rows skipped: {why}"
            + (f" (e.g. {'; '.join(report.problems[:2])})" if report.problems else "")
            + ". Fix the label file or the images and run prepare again.")

    try:
        for cls in classes:
            (dst / cls).mkdir(parents=True, exist_ok=True)
        for rel in stale:
            (dst / rel).unlink(missing_ok=True)
            report.removed += 1
        methods = set()
        for rel, src, src_st in tqdm(good, desc=f"prepare {report.name}",
                                     disable=len(good) < 500, leave=False):
            target = dst / rel
            dst_st = present.get(rel)
            if dst_st is not None and (dst_st.st_dev, dst_st.st_ino) == (src_st.st_dev,
                                                                          src_st.st_ino):
                how = "link"  # already the source's hard link (an earlier, unrecorded run)
            else:
                how = link_or_copy(src, target)
                report.new += 1
            methods.add(how)
            records[rel] = _record(how, src_st, target.stat())
        if records != old:
            _write_manifest(dst, img_dir, records)
    except OSError as exc:
        raise storage_error(exc, f"the prepared {report.name} class folders", dst) from None
    report.existing = len(records) - report.new
    report.method = "+".join(sorted(methods)) or "link"
    report.classes = {c: counts[c] for c in classes}
    return report


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
    """Make ``dst/glasses`` and ``dst/no_glasses`` hold exactly the faces ``train.csv`` labels so.

    ``src`` holds the Kaggle layout (``train.csv`` with columns ``id`` and ``glasses`` 0/1 +
    ``faces-spring-2020/faces-spring-2020/face-<id>.png``). Idempotent and non-destructive;
    raises :class:`DataError` if a class would be empty.
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
    rules = {"glasses": "rows with glasses = 1", "no_glasses": "rows with glasses = 0"}
    return _sort_into(report, jobs, img_dir, rules)


def prepare_celeba_hair(src, dst) -> PrepareReport:
    """Make ``dst/black`` and ``dst/blond`` hold exactly the CelebA faces whose ``Black_Hair`` /
    ``Blond_Hair`` say so.

    ``src`` holds the Kaggle layout (``list_attr_celeba.csv`` + ``img_align_celeba/
    img_align_celeba/``). Values are +1 / -1 (0 is read as -1). As in the book (``if black ...
    elif blond ...``), a row with both colours goes to black (counted in ``both_hair``); rows
    with neither are skipped and counted. Idempotent and non-destructive; raises
    :class:`DataError` if a class would be empty.
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
    report.both_hair = int((is_black & is_blond).sum())
    report.skipped_neither = int((valid & ~is_black & ~is_blond).sum())
    pick = is_black | is_blond
    jobs = [(img_dir / n, "black" if b else "blond")
            for n, b in zip(names[pick], is_black[pick])]
    rules = {"black": "rows with Black_Hair = 1",
             "blond": "rows with Blond_Hair = 1 and Black_Hair not 1"}
    return _sort_into(report, jobs, img_dir, rules)
