"""Where the course runs: device, seeds, profile and data root.

Every notebook's setup cell and every CLI command starts here, so that "which device, which
profile, which data" is decided in one place and printed the same way everywhere.

Environment variables (all optional):

``GAN_COURSE_PROFILE``  ``smoke`` | ``demo`` | ``long`` | ``full``. Default: ``long`` on CUDA (toy
                        data, so "Run all" works without any download), else ``demo``.
``GAN_COURSE_DEVICE``   ``cpu`` | ``cuda`` | ``cuda:1`` | ``mps``. Default: cuda > mps > cpu.
``GAN_COURSE_DATA``     where datasets live. Default: the repository's ``data/`` folder when the
                        package runs from a checkout, else ``./data``.
``GAN_COURSE_RUNS``     where training runs (checkpoints, samples, history) go. Default: the
                        repository's ``runs/`` folder, else ``./runs``.
"""

from __future__ import annotations

import errno
import os
import random
import sys
from pathlib import Path

import numpy as np
import torch

PROFILES = ("smoke", "demo", "long", "full")
"""``smoke``: seconds, for CI. ``demo``: minutes on a laptop CPU, toy data. ``long``: the demo's
networks trained longer on toy data (the shipped checkpoints' recipe; the default on a GPU).
``full``: the book's settings on the real datasets, for a GPU."""


class DeviceUnavailable(RuntimeError):
    """The requested device is not there (or is not a device name); the message says what is."""


class StorageError(OSError):
    """Writing data failed because of the disk (full, file too large, no permission, read-only).

    An ``OSError`` (so code that catches those still does) whose message says what could not be
    written where, why, and what to do -- instead of numpy's or Pillow's traceback.
    """


_DISK_REASONS = {
    errno.ENOSPC: ("the disk is full", "free some space, or "),
    errno.EDQUOT: ("the disk quota is used up", "free some space, or "),
    errno.EFBIG: ("the file is too large for this file system (FAT32 stops at 4 GB)", ""),
    errno.EACCES: ("permission denied", "fix the folder's permissions, or "),
    errno.EPERM: ("permission denied", "fix the folder's permissions, or "),
    errno.EROFS: ("the file system is read-only", ""),
}
DISK_ERRNOS = frozenset(_DISK_REASONS)
"""errno values that mean "this disk cannot take the write" (see :func:`storage_error`)."""


def storage_error(exc: OSError, what: str, where,
                  fix: str = "set GAN_COURSE_DATA to a folder on another disk") -> StorageError:
    """A one-line :class:`StorageError` for a failed write of ``what`` in folder ``where``:
    what, where, why (from ``exc.errno``) and what to do (``fix``, after any errno-specific
    first step such as freeing space)."""
    reason, first = _DISK_REASONS.get(exc.errno, (exc.strerror or str(exc), ""))
    todo = first + fix
    err = StorageError(f"Cannot write {what} in {where}: {reason}. {todo[:1].upper()}{todo[1:]}.")
    err.errno = exc.errno
    return err


def get_device(prefer: str | None = None) -> torch.device:
    """Pick the fastest available device: CUDA, then Apple MPS, then CPU.

    ``prefer`` (or ``GAN_COURSE_DEVICE``) overrides the choice; asking for a device that is not
    there raises :class:`DeviceUnavailable` saying what to use instead of failing later.
    """
    want = prefer or os.environ.get("GAN_COURSE_DEVICE")
    if want:
        try:
            dev = torch.device(want)
        except RuntimeError:
            raise DeviceUnavailable(f"{want!r} is not a device name: use cpu, cuda, cuda:1 or "
                                    f"mps.") from None
        if dev.type not in ("cpu", "cuda", "mps"):
            raise DeviceUnavailable(f"Device {want!r} is not supported by the course: use cpu, "
                                    f"cuda, cuda:1 or mps.")
        available = {"cuda": torch.cuda.is_available(), "mps": _mps_available(), "cpu": True}
        if not available[dev.type]:
            raise DeviceUnavailable(f"Device {want!r} was requested but {dev.type.upper()} is not "
                                    f"available here; use 'cpu' (or unset GAN_COURSE_DEVICE).")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_profile(profile: str | None = None) -> str:
    """Return the run profile: the argument, else ``GAN_COURSE_PROFILE``, else ``long`` on CUDA and
    ``demo`` elsewhere (both on toy data: the book's ``full`` run needs the real datasets, so it is
    chosen explicitly, never by default)."""
    name = profile or os.environ.get("GAN_COURSE_PROFILE")
    if not name:
        return "long" if torch.cuda.is_available() else "demo"
    name = name.strip().lower()
    if name not in PROFILES:
        raise ValueError(f"Unknown profile {name!r}: choose one of {', '.join(PROFILES)} "
                         f"(set GAN_COURSE_PROFILE or pass --profile).")
    return name


def seed_everything(seed: int = 0, deterministic: bool = False) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices) and return a seeded ``torch.Generator``.

    The returned generator is for notebook-side draws (a batch to look at, fixed noise); training
    seeds its own generators from ``cfg.seed``. ``deterministic=True`` also asks torch for deterministic kernels (slower on GPU).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # seeds every CUDA device as well
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        if torch.backends.cudnn.is_available():
            torch.backends.cudnn.benchmark = False
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def repo_root() -> Path | None:
    """The course checkout this package runs from, or ``None`` for a plain (non-editable) install."""
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").is_file() and (here / "notebooks").is_dir():
        return here
    return None


def data_root(create: bool = True) -> Path:
    """Folder where datasets are written and read (``GAN_COURSE_DATA`` overrides)."""
    env = os.environ.get("GAN_COURSE_DATA")
    if env:
        root = Path(env).expanduser()
    else:
        repo = repo_root()
        root = repo / "data" if repo is not None else Path.cwd() / "data"
    if create:
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(exc, "the data folder", root.parent,
                                "set GAN_COURSE_DATA to a folder you can write to") from None
    return root.resolve()


def runs_root() -> Path:
    """Folder that holds every training run (``GAN_COURSE_RUNS`` overrides)."""
    env = os.environ.get("GAN_COURSE_RUNS")
    if env:
        return Path(env).expanduser().resolve()
    repo = repo_root()
    return (repo / "runs" if repo is not None else Path.cwd() / "runs").resolve()


def run_dir(cfg) -> Path:
    """The folder of the training run described by ``cfg`` (a :class:`~gan_course.config.TrainConfig`).

    ``runs_root()/<profile>/<task>-<data source>-seed<seed>``: the one place run folders are named,
    shared by notebooks and the CLI, so a notebook finds what ``python -m gan_course train`` wrote
    for the same settings (and a different seed or data source never resumes another's run).
    """
    return runs_root() / cfg.profile / f"{cfg.task}-{cfg.data_source}-seed{cfg.seed}"


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def kaggle_credentials_from_colab() -> bool:
    """On Colab, copy the ``KAGGLE_USERNAME`` and ``KAGGLE_KEY`` secrets (the key icon in Colab's
    left bar; allow the notebook access) into the environment, where ``kagglehub`` finds them.

    Returns True when both were found; False off Colab or when a secret is missing or not shared
    with this notebook (then ``python -m gan_course data fetch`` explains the manual route).
    """
    try:
        from google.colab import userdata
    except ImportError:
        return False
    values = {}
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY"):
        try:
            values[name] = userdata.get(name)
        except Exception:  # SecretNotFoundError / NotebookAccessError: not set or not shared
            return False
    os.environ.update(values)
    return True


def display_path(path) -> str:
    """``path`` as printed by the course: relative to the course checkout (``data/ in the course
    checkout``) or to the home folder (``~/...``) where it lies inside one, else unchanged -- so
    notebook outputs do not carry the absolute paths of the machine that ran them."""
    path = Path(path).expanduser().resolve()
    repo = repo_root()
    if repo is not None and path.is_relative_to(repo):
        rel = path.relative_to(repo).as_posix()
        return "the course checkout" if rel == "." else f"{rel}/ in the course checkout"
    home = Path.home().resolve()
    if path.is_relative_to(home) and path != home:
        return f"~/{path.relative_to(home).as_posix()}"
    return str(path)


def describe(device: torch.device | None = None, profile: str | None = None) -> str:
    """One-paragraph environment summary printed by every notebook's setup cell."""
    device = device or get_device()
    profile = get_profile(profile)
    lines = [
        f"python {sys.version.split()[0]} | torch {torch.__version__} | device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        f"profile {profile!r} (set GAN_COURSE_PROFILE=smoke|demo|long|full to change; full = "
        f"the book's run on the real data)",
        f"data root {display_path(data_root())}",
    ]
    return "\n".join(lines)


class Setup:
    """What a notebook's setup cell decided: ``device``, ``profile``, ``seed`` and a seeded ``generator``."""

    def __init__(self, device: torch.device, profile: str, seed: int, generator: torch.Generator):
        self.device, self.profile, self.seed, self.generator = device, profile, seed, generator

    def __repr__(self) -> str:
        return f"Setup(device={self.device}, profile={self.profile!r}, seed={self.seed})"


def setup(seed: int = 0, profile: str | None = None, device: str | None = None,
          verbose: bool = True) -> Setup:
    """The one call in every notebook's setup cell: seed everything, pick device and profile, print them."""
    env = Setup(get_device(device), get_profile(profile), seed, seed_everything(seed))
    if verbose:
        print(describe(env.device, env.profile))
    return env
