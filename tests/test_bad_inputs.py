"""The bad-input matrix: every case runs the real CLI dispatcher and must give its message.

Each case: how to make the bad input, the command, the exit status, and the words the message
must contain (on stderr for failures, stdout for inputs that are counted and skipped). No case
may show a traceback (from PIL, numpy, pandas, torch or anywhere), and no failed write may leave a
``*.tmp*`` file behind.

Disk errors are simulated where the operating system would report them: a write raising
``OSError(ENOSPC | EFBIG | EACCES)`` from the very call that would fail (``posix_fallocate``,
``np.save``, ``shutil.copy2``, ``os.link``, Pillow's ``save``, the download). A read-only data
folder is imitated by :func:`read_only`, which makes every write primitive (``open`` for
writing, ``os.open``, ``mkdir``, ``link``, ``unlink``, ``rename``, ``replace``) raise ``EROFS``
under that folder, as a read-only mount does: tests run as root in containers, where ``chmod``
does not stop writes, and mounting a read-only file system needs privileges CI does not have.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import pickle
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from gan_course.cli import main
from gan_course.data import sources, toy
from gan_course.data.sources import DataError

FACES = Path("faces-spring-2020") / "faces-spring-2020"
CELEBA_IMAGES = Path("img_align_celeba") / "img_align_celeba"


# --------------------------------------------------------------------------- simulated disks
def read_only(monkeypatch, folder: Path) -> None:
    """Every write under ``folder`` fails with EROFS (reads still work), as on a read-only mount."""
    ro = os.path.abspath(folder)

    def under(path) -> bool:
        if isinstance(path, int):
            return False
        p = os.path.abspath(os.fsdecode(os.fspath(path)))
        return p == ro or p.startswith(ro + os.sep)

    def deny(path):
        raise OSError(errno.EROFS, "Read-only file system", os.fsdecode(os.fspath(path)))

    real_open, real_os_open = builtins.open, os.open

    def fake_open(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+") and under(file):
            deny(file)
        return real_open(file, mode, *args, **kwargs)

    def fake_os_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and under(path):
            deny(path)
        return real_os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(io, "open", fake_open)
    monkeypatch.setattr(os, "open", fake_os_open)
    for name in ("mkdir", "link", "unlink", "rename", "replace", "rmdir", "symlink"):
        real = getattr(os, name)

        def fake(*args, _real=real, **kwargs):
            for path in args[:2]:
                if isinstance(path, (str, bytes, os.PathLike)) and under(path):
                    deny(path)
            return _real(*args, **kwargs)

        monkeypatch.setattr(os, name, fake)


def raising(code: int, what: str = "write"):
    """A stand-in for a write call that fails with ``OSError(code)``."""
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code), what)
    return fail


# -------------------------------------------------------------------------------- test data
def glasses(tmp: Path, n: int = 8, labels=None) -> Path:
    """A toy download in the real eyeglasses layout (optionally with other labels)."""
    src = toy.write_eyeglasses(tmp / "dl" / "glasses", n, size=32)
    if labels is not None:
        pd.DataFrame({"id": range(1, n + 1), "glasses": labels}).to_csv(src / "train.csv",
                                                                        index=False)
    return src


def celeba(tmp: Path, n: int = 20, edit=None) -> Path:
    src = toy.write_celeba(tmp / "dl" / "celeba", n, size=32)
    if edit is not None:
        df = pd.read_csv(src / "list_attr_celeba.csv")
        edit(df)
        df.to_csv(src / "list_attr_celeba.csv", index=False)
    return src


def anime(tmp: Path, each_image=None) -> Path:
    src = toy.write_anime(tmp / "dl" / "anime", 8, size=32)
    for p in sorted((src / "images").iterdir()) if each_image else ():
        each_image(p)
    return src


def with_csv(tmp: Path, text: str) -> Path:
    src = glasses(tmp)
    (src / "train.csv").write_text(text)
    return src


def without_face(tmp: Path, i: int) -> Path:
    src = glasses(tmp)
    (src / FACES / f"face-{i}.png").unlink()
    return src


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def truncate_first_black(tmp):
    src = celeba(tmp)
    df = pd.read_csv(src / "list_attr_celeba.csv")
    jpg = src / CELEBA_IMAGES / df.image_id[df.Black_Hair == 1].iloc[0]
    jpg.write_bytes(jpg.read_bytes()[: jpg.stat().st_size * 6 // 10])
    return src


def tiny_face(tmp):
    src = glasses(tmp)
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(src / FACES / "face-2.png")
    return src


def both_hair(df):
    df.loc[0, ["Black_Hair", "Blond_Hair"]] = [1, 1]


def conflicting(tmp):
    src = glasses(tmp)
    df = pd.read_csv(src / "train.csv")
    pd.concat([df, df[df.id == 1].assign(glasses=1 - df.glasses[df.id == 1])]).to_csv(
        src / "train.csv", index=False)
    return src


def foreign_file(tmp, mp):
    src = glasses(tmp)
    assert main(["data", "prepare", "eyeglasses", "--source", "real", "--root", str(src)]) == 0
    from gan_course.data import prepared_dir

    dst = prepared_dir("eyeglasses", "real", src)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(dst / "glasses" / "mine.png")
    return ["data", "prepare", "eyeglasses", "--source", "real", "--root", str(src)]


def fashion_gz(tmp):
    raw = tmp / "dl" / "fm" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for f in sources.FASHION_FILES:
        (raw / (f + ".gz")).write_bytes(b"\x1f\x8b")
    return raw.parents[1]


def partial_copy_then_full(src, dst, *args, **kwargs):
    Path(dst).write_bytes(b"half a file")  # what a real copy leaves when the disk fills up
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo this would run",))


def checkpoint_with(tmp, obj, **kw):
    path = tmp / "ckpt.pt"
    if kw.get("plain"):
        path.write_bytes(pickle.dumps(obj, protocol=4))
    else:
        torch.save(obj, path)
    return str(path)


# ------------------------------------------------------------------------------- the matrix
@dataclass
class Case:
    id: str
    make: object  # (tmp, monkeypatch) -> argv
    code: int
    must: tuple[str, ...]
    stream: str = "err"  # where the message goes: err (failures) or out (counted, skipped)
    one_line: bool = True  # the whole message is one line (data layout errors add a how-to)
    must_not: tuple[str, ...] = field(default=())
    needs_checkpoint: bool = False


def _prep(src, name="eyeglasses"):
    return ["data", "prepare", name, "--source", "real", "--root", str(src)]


def _train(task, *extra):
    steps = () if "--max-steps" in extra else ("--max-steps", "1")
    return ["train", task, "--profile", "smoke", "--no-progress", *steps, *extra]


def _sample(ckpt, *extra, out="x.png"):
    return ["sample", "dcgan", "--checkpoint", str(ckpt), "--out", out, *extra]


CASES = [
    # --- data check: labels, layout, files
    Case("check: glasses labels yes/no",
         lambda t, m: ["data", "check", "eyeglasses", str(glasses(t, labels=["yes", "no"] * 4))],
         1, ("column 'glasses' has invalid values 'yes', 'no' in 8 of 8 rows; expected 0 or 1",)),
    Case("check: Black_Hair = 2",
         lambda t, m: ["data", "check", "celeba",
                       str(celeba(t, edit=lambda d: d.__setitem__("Black_Hair", d.Black_Hair.where(
                           d.index != 3, 2))))],
         1, ("column 'Black_Hair' has invalid values 2 in 1 of 20 rows; expected 1 or -1",)),
    Case("check: folder missing", lambda t, m: ["data", "check", "anime", str(t / "nowhere")],
         1, ("does not exist or is not a folder", "data check anime"), one_line=False),
    Case("check: wrong CSV columns",
         lambda t, m: ["data", "check", "eyeglasses",
                       str(with_csv(t, "file,label\nface-1.png,1\n"))],
         1, ("has the wrong columns: expected id, glasses; missing id, glasses",)),
    Case("check: empty CSV",
         lambda t, m: ["data", "check", "eyeglasses", str(with_csv(t, ""))],
         1, ("Cannot read", "train.csv as CSV (EmptyDataError"),),
    Case("check: no images",
         lambda t, m: ["data", "check", "anime", str(anime(t, Path.unlink))],
         1, ("contains no images",), one_line=False),
    Case("check: every image corrupt",
         lambda t, m: ["data", "check", "anime",
                       str(anime(t, lambda p: p.write_bytes(b"junk")))],
         1, ("No sample image in", "could be decoded (5 tried, e.g. 1.jpg unreadable (not an "
             "image file", "download it again"), one_line=False),
    Case("check: Fashion-MNIST still gzipped",
         lambda t, m: ["data", "check", "fashion_mnist", str(fashion_gz(t))],
         1, ("(found .gz files: gunzip them)",), one_line=False),
    Case("check: unknown dataset (argparse)", lambda t, m: ["data", "check", "faces", str(t)],
         2, ("invalid choice: 'faces'",), one_line=False),
    # --- data prepare on real-layout data
    Case("prepare: a class with no rows",
         lambda t, m: _prep(glasses(t, labels=[0] * 8)),
         1, ("No usable image for class 'glasses' (rows with glasses = 1)",
             "will not write an empty class")),
    Case("prepare: an image it did not make in a class folder", foreign_file,
         1, ("1 image file(s) that prepare did not make, e.g. glasses/mine.png",
             "move them out")),
    Case("prepare: truncated JPEG", lambda t, m: _prep(truncate_first_black(t), "celeba"),
         0, ("1 unreadable image", "unreadable (image file is truncated"), stream="out",
         one_line=False),
    Case("prepare: 1x1 image", lambda t, m: _prep(tiny_face(t)),
         0, ("1 image too small", "face-2.png too small (1x1 px"), stream="out", one_line=False),
    Case("prepare: both hair colours", lambda t, m: _prep(celeba(t, edit=both_hair), "celeba"),
         0, ("1 row has both Black_Hair and Blond_Hair: sorted into black",), stream="out",
         one_line=False),
    Case("prepare: one image, two labels", lambda t, m: _prep(conflicting(t)),
         0, ("2 conflicting labels", "face-1.png labelled glasses and no_glasses"), stream="out",
         one_line=False),
    Case("prepare: image missing",
         lambda t, m: _prep(without_face(t, 4)),
         0, ("1 image missing (e.g. face-4.png missing)",), stream="out", one_line=False),
    Case("prepare: read-only download (copies instead of links)",
         lambda t, m: [read_only(m, glasses(t))] and _prep(t / "dl" / "glasses"),
         0, ("8 new files",), stream="out", one_line=False),
    # --- disk errors in every data command that writes
    Case("cache: disk full (ENOSPC)",
         lambda t, m: [m.setattr(os, "posix_fallocate", raising(errno.ENOSPC), raising=False)]
         and ["data", "cache", "anime", "--n", "8", "--size", "32"],
         1, ("Cannot write the image cache", "the disk is full. Free some space, or set "
             "GAN_COURSE_DATA")),
    Case("cache: file too large (EFBIG)",
         lambda t, m: [m.setattr(os, "posix_fallocate", raising(errno.EFBIG), raising=False)]
         and ["data", "cache", "anime", "--n", "8", "--size", "32"],
         1, ("Cannot write the image cache", "too large for this file system (FAT32")),
    Case("cache: disk fills up half-way (labels)",
         lambda t, m: [m.setattr(np, "save", raising(errno.ENOSPC))]
         and ["data", "cache", "eyeglasses", "--n", "8", "--size", "32"],
         1, ("Cannot write the image cache", "the disk is full")),
    Case("prepare: disk full while copying",
         lambda t, m: [m.setattr(os, "link", raising(errno.EXDEV)),
                       m.setattr(shutil, "copy2", partial_copy_then_full)]
         and ["data", "prepare", "eyeglasses", "--n", "8", "--size", "32"],
         1, ("Cannot write the prepared eyeglasses class folders", "the disk is full")),
    Case("prepare: permission denied (EACCES)",
         lambda t, m: [m.setattr(os, "link", raising(errno.EACCES)),
                       m.setattr(shutil, "copy2", raising(errno.EACCES))]
         and ["data", "prepare", "eyeglasses", "--n", "8", "--size", "32"],
         1, ("Cannot write the prepared eyeglasses class folders", "permission denied")),
    Case("toy: disk full",
         lambda t, m: [m.setattr(Image.Image, "save", raising(errno.ENOSPC))]
         and ["data", "toy", "anime", "--n", "8", "--size", "32"],
         1, ("Cannot write the toy anime data", "the disk is full")),
    Case("fetch: disk full during the download",
         lambda t, m: [m.setattr(sources, "network_available", lambda *a, **k: True),
                       m.setattr(sources, "_kaggle_download", raising(errno.ENOSPC))]
         and ["data", "fetch", "anime", "--root", str(t / "dl" / "anime")],
         1, ("Cannot write the Anime Face Dataset download", "the disk is full")),
    Case("toy: read-only data folder",
         lambda t, m: [read_only(m, t / "data")] and ["data", "toy", "anime", "--n", "8"],
         1, ("Cannot write the toy anime data", "the file system is read-only")),
    Case("prepare: read-only data folder",
         lambda t, m: [glasses(t), read_only(m, t / "data")] and _prep(t / "dl" / "glasses"),
         1, ("Cannot write the prepared eyeglasses class folders", "read-only")),
    Case("cache: read-only data folder",
         lambda t, m: [anime(t), read_only(m, t / "data")]
         and ["data", "cache", "anime", "--source", "real", "--root", str(t / "dl" / "anime")],
         1, ("Cannot write the image cache", "the file system is read-only")),
    Case("fetch: read-only data folder",
         lambda t, m: [m.setattr(sources, "network_available", lambda *a, **k: True),
                       read_only(m, t / "data")] and ["data", "fetch", "anime"],
         1, ("Cannot write the Anime Face Dataset download", "read-only")),
    Case("check: read-only data folder (reads only)",
         lambda t, m: [anime(t), read_only(m, t / "data")]
         and ["data", "check", "anime", str(t / "dl" / "anime")],
         0, ("OK",), stream="out", one_line=False),
    # --- train
    Case("train cgan: no image has glasses",
         lambda t, m: _train("cgan", "--data", "real", "--root", str(glasses(t, labels=[0] * 8)),
                             "--out", str(t / "run")),
         1, ("No usable image for class 'glasses'",)),
    Case("train cyclegan: no blond face",
         lambda t, m: _train("cyclegan", "--data", "real", "--out", str(t / "run"), "--root",
                             str(celeba(t, edit=lambda d: d.__setitem__("Blond_Hair", -1)))),
         1, ("No usable image for class 'blond'",)),
    Case("train: --root without real data",
         lambda t, m: _train("dcgan", "--root", str(t)),
         1, ("--root names a real dataset folder: add --data real",)),
    Case("train: real data not there",
         lambda t, m: _train("dcgan", "--data", "real", "--root", str(t / "nothing")),
         1, ("The real Anime Face Dataset is not in", "data fetch anime"), one_line=False),
    Case("train: --max-steps 0", lambda t, m: _train("dcgan", "--max-steps", "0"),
         1, ("--max-steps must be >= 1, got 0",)),
    Case("train: --max-steps -3", lambda t, m: _train("dcgan", "--max-steps", "-3"),
         1, ("--max-steps must be >= 1, got -3",)),
    Case("train: --epochs 0", lambda t, m: _train("dcgan", "--epochs", "0"),
         1, ("--epochs must be >= 1, got 0",)),
    Case("train: --out is a file",
         lambda t, m: _train("dcgan", "--out", str(write(t / "f", b""))),
         1, ("is a file, not a folder",)),
    Case("train: --out on a read-only disk",
         lambda t, m: [read_only(m, t / "ro")] and _train("dcgan", "--out", str(t / "ro" / "run")),
         1, ("Cannot write to the output folder", "(Read-only file system): pass another --out")),
    Case("train: unknown --device", lambda t, m: _train("dcgan", "--device", "tpu"),
         1, ("'tpu' is not a device name: use cpu, cuda, cuda:1 or mps.",)),
    # --- sample
    Case("sample: --label-weight nan", lambda t, m: ["sample", "cgan", "--checkpoint", "c.pt",
                                                      "--out", "g.png", "--label-weight", "nan"],
         1, ("--label-weight must be a finite number",)),
    Case("sample: --label-weight inf", lambda t, m: ["sample", "cgan", "--checkpoint", "c.pt",
                                                      "--out", "g.png", "--label-weight", "inf"],
         1, ("--label-weight must be a finite number",)),
    Case("sample: --out without image extension",
         lambda t, m: _sample("c.pt", out=str(t / "grid")),
         1, ("has no image extension: end it with one of .png, .jpg",)),
    Case("sample: --n 0", lambda t, m: _sample("c.pt", "--n", "0"), 1, ("--n must be >= 1",)),
    Case("sample: checkpoint missing", lambda t, m: _sample(t / "none.pt", out=str(t / "g.png")),
         1, ("No checkpoint at",)),
    Case("sample: checkpoint of zeros",
         lambda t, m: _sample(write(t / "z.pt", b"\0" * 100), out=str(t / "g.png")),
         1, ("truncated or corrupted",), must_not=("weights_only", "Re-running")),
    Case("sample: checkpoint that would run os.system",
         lambda t, m: _sample(checkpoint_with(t, {"x": _Evil()}), out=str(t / "g.png")),
         1, ("Refusing to load", f"asks to import {os.system.__module__}.system"),
         must_not=("weights_only", "Re-running", "two options")),
    Case("sample: checkpoint with a non-allowed class",
         lambda t, m: _sample(checkpoint_with(t, {"d": pd.Timestamp(0).date()}),
                              out=str(t / "g.png")),
         1, ("Refusing to load", "asks to import datetime.date"),
         must_not=("weights_only", "add_safe_globals")),
    Case("sample: a plain pickle file",
         lambda t, m: _sample(checkpoint_with(t, {"x": 1}, plain=True), out=str(t / "g.png")),
         1, ("not a torch checkpoint (Unsupported operand",), must_not=("weights_only",)),
    Case("sample: another program's torch file",
         lambda t, m: _sample(checkpoint_with(t, {"w": torch.zeros(2)}), out=str(t / "g.png")),
         1, ("not a gan_course checkpoint",)),
    Case("sample: checkpoint of another task",
         lambda t, m: ["sample", "cgan", "--checkpoint", "CKPT", "--out", str(t / "g.png")],
         1, ("holds a 'dcgan' model, not 'cgan'",), needs_checkpoint=True),
    Case("sample: unknown --device",
         lambda t, m: _sample("CKPT", "--device", "tpu", out=str(t / "g.png")),
         1, ("'tpu' is not a device name",), needs_checkpoint=True),
]


@pytest.fixture(scope="module")
def dcgan_checkpoint(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("ckpt") / "run"
    assert main(_train("dcgan", "--out", str(out))) == 0
    return str(out / "checkpoint.pt")


def run_case(case: Case, tmp: Path, monkeypatch, capsys, checkpoint=None):
    """Run one case through the CLI; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("GAN_COURSE_DATA", str(tmp / "data"))
    (tmp / "data").mkdir(exist_ok=True)
    monkeypatch.chdir(tmp)
    argv = [checkpoint if a == "CKPT" else a for a in case.make(tmp, monkeypatch)]
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, tmp_path, monkeypatch, capsys, request):
    ckpt = request.getfixturevalue("dcgan_checkpoint") if case.needs_checkpoint else None
    code, out, err = run_case(case, tmp_path, monkeypatch, capsys, ckpt)
    text = err if case.stream == "err" else out
    assert code == case.code, (out, err)
    for words in case.must:
        assert words in text, f"{words!r} not in {text!r}"
    for words in ("Traceback", 'File "', *case.must_not):
        assert words not in out + err, f"{words!r} in {out + err!r}"
    if code == 1:
        assert err.startswith("error: ")
        if case.one_line:
            assert err.count("\n") == 1, err
    elif code == 0:
        assert err == ""
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name], "a temporary file was left"


@pytest.mark.parametrize("call,error,words", [
    ("Batches([np.zeros(4)], 0)", ValueError, "batch_size must be >= 1, got 0"),
    ("Batches([np.zeros(4)], -2)", ValueError, "batch_size must be >= 1, got -2"),
    ("build_cache(tmp, 0)", ValueError, "size must be a positive number of pixels"),
    ("decode_image(tiny, 32)", ValueError, "too small (1x1 px, the minimum is 8 px a side)"),
    ("build_cache(tmp, 16, classes=('glasses', 'no_glasses'))", DataError,
     "has no images for class 'glasses'"),
])
def test_bad_api_input(call, error, words, tmp_path):
    from gan_course.data import Batches, build_cache  # noqa: F401
    from gan_course.data.tensors import decode_image  # noqa: F401

    namespace = {**globals(), **locals(), "tmp": tmp_path, "tiny": tmp_path / "tiny.png"}
    (tmp_path / "no_glasses").mkdir()
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tmp_path / "tiny.png")
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "no_glasses" / "a.png")
    with pytest.raises(error) as exc:
        eval(call, namespace)
    assert words in str(exc.value)



@pytest.mark.parametrize("payload", ["evil", "plain"])
def test_unsafe_checkpoint_stderr_is_one_line_in_a_real_process(payload, tmp_path):
    """torch warns (pickle protocol) and advises weights_only=False; neither reaches the user."""
    ckpt = (checkpoint_with(tmp_path, {"x": _Evil()}) if payload == "evil"
            else checkpoint_with(tmp_path, {"x": 1}, plain=True))
    r = subprocess.run([sys.executable, "-m", "gan_course", "sample", "dcgan", "--checkpoint",
                        ckpt, "--out", str(tmp_path / "g.png")], capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ")
    assert "weights_only" not in r.stderr and "Warning" not in r.stderr
