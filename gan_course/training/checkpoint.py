"""Safe checkpoints: atomic writes, and loading that never unpickles arbitrary objects.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts (model/optimiser
``state_dict``s, RNG states as uint8 tensors, the config as a dict, the history as a
dict of lists). That is exactly what ``torch.load(..., weights_only=True)`` accepts, so a file
from an untrusted source cannot run code when loaded.
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
import warnings
from pathlib import Path

import torch

FORMAT = "gan_course.checkpoint/1"
"""Marker stored in every checkpoint; a file without it was not written by this package."""


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, damaged, or not a gan_course checkpoint."""


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Write ``state`` to ``path`` atomically and return the path.

    The bytes go to a temporary file in the same folder, are flushed to disk (fsync), and only
    then renamed over ``path`` (``os.replace`` is atomic on POSIX and Windows). A crash or Ctrl-C
    mid-write therefore leaves the previous checkpoint intact, never a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"format": FORMAT, **state}
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give it normal file permissions
        with os.fdopen(fd, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _refused_global(exc: Exception) -> str | None:
    """The import a refused checkpoint asks for (torch says ``GLOBAL posix.system``), if any."""
    found = re.search(r"GLOBAL\s+([\w.]+)", str(exc))
    return found.group(1) if found else None


def _unpickler_detail(exc: Exception) -> str:
    """torch's reason without its advice: never echo "re-run with weights_only=False"."""
    text = str(exc)
    after = text.split("WeightsUnpickler error:", 1)[1] if "WeightsUnpickler error:" in text else ""
    lines = [ln.strip() for ln in after.splitlines() if ln.strip()]
    return lines[0] if lines else "a pickle instruction safe loading does not allow"


def _first_line(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Raises :class:`CheckpointError` saying what is wrong and what to do when the file is missing,
    truncated/corrupted, holds objects that would need arbitrary unpickling, or is not a
    gan_course checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"No checkpoint at {path}: check the path (training writes <out>/checkpoint.pt), "
            f"or train first with `python -m gan_course train <task> --out <dir>`.")
    only = ("Only checkpoints written by gan_course (tensors, numbers, strings, lists, dicts) "
            "are accepted: use a checkpoint.pt from `python -m gan_course train`.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's pickle-protocol warnings are not for users
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refusing an import or instruction is the security check at work; its
        # advice (re-run with weights_only=False) is exactly what must not be done with a file
        # from an unknown source, so it is not repeated.
        name = _refused_global(exc)
        if name:
            raise CheckpointError(
                f"Refusing to load {path}: it asks to import {name}, and unpickling it could "
                f"run arbitrary code. {only}") from None
        detail = (_unpickler_detail(exc) if "WeightsUnpickler" in str(exc)
                  or "weights_only" in str(exc) else _first_line(exc))
        raise CheckpointError(
            f"Cannot read checkpoint {path}: the file is truncated or corrupted, or not a torch "
            f"checkpoint ({detail}). Delete it and resume from an earlier copy, or "
            f"retrain.") from None
    except Exception as exc:  # noqa: BLE001 - any other failure means an unreadable file
        raise CheckpointError(
            f"Cannot read checkpoint {path}: the file is truncated or corrupted "
            f"({_first_line(exc)}). Delete it and resume from an earlier copy, "
            f"or retrain.") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is a valid torch file but not a gan_course checkpoint (no "
            f"'format': {FORMAT!r} entry). Pass a checkpoint.pt written by gan_course training.")
    return state


def rng_state() -> dict:
    """Snapshot of every random number generator as weights_only-safe values.

    Python's ``random`` state becomes a list of ints, NumPy's a uint8 tensor of its pickled-free
    array form, torch's (CPU and each CUDA device) uint8 tensors.
    """
    import random

    import numpy as np

    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "python": {"version": py_version, "state": list(py_state), "gauss": py_gauss},
        "numpy": {"name": np_name, "keys": torch.from_numpy(np_keys.astype(np.int64)),
                  "pos": int(np_pos), "has_gauss": int(np_has_gauss), "gauss": float(np_gauss)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` captured (the inverse; CUDA states only if CUDA is here)."""
    import random

    import numpy as np

    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    nps = state["numpy"]
    np.random.set_state((nps["name"], nps["keys"].numpy().astype(np.uint32), nps["pos"],
                         nps["has_gauss"], nps["gauss"]))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"][: torch.cuda.device_count()])
