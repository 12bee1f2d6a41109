"""Checkpoints: atomic writes, weights_only loading, clear errors on bad files."""

import datetime
import os
import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_course.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)


class NotAllowed:
    """A custom class: unpickling it would run arbitrary code paths, so loading must refuse."""

    def __init__(self):
        self.x = 1


def test_roundtrip_with_rng_states(tmp_path):
    state = {"weights": {"w": torch.arange(4.0)}, "step": 7, "history": {"loss": [1.0, 0.5]},
             "config": {"lr": 1e-4, "betas": [0.5, 0.999]}, "rng": rng_state()}
    path = save_checkpoint(tmp_path / "ck.pt", state)
    loaded = load_checkpoint(path)
    assert loaded["step"] == 7 and loaded["history"] == {"loss": [1.0, 0.5]}
    assert torch.equal(loaded["weights"]["w"], torch.arange(4.0))

    # restoring the RNG states repeats every stream (python, numpy, torch)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.random(), np.random.rand(), torch.rand(1)
    set_rng_state(loaded["rng"])
    again = (random.random(), np.random.rand(), torch.rand(1).item())
    assert again == expected


def test_write_is_atomic_old_file_survives_a_failed_write(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "ck.pt", {"step": 1})
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        save_checkpoint(path, {"step": 2})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]  # no temp file left behind


def test_truncated_file_gives_clear_error(tmp_path):
    path = save_checkpoint(tmp_path / "ck.pt", {"w": torch.randn(100, 100)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=re.escape(str(path))) as err:
        load_checkpoint(path)
    assert "truncated or corrupted" in str(err.value)


def test_garbage_file_gives_clear_error(tmp_path):
    path = tmp_path / "ck.pt"
    path.write_bytes(b"this is not a checkpoint at all")
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        load_checkpoint(path)


def test_missing_file_gives_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="No checkpoint at"):
        load_checkpoint(tmp_path / "nope.pt")


def test_arbitrary_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "gan_course.checkpoint/1", "obj": NotAllowed()}, path)
    with pytest.raises(CheckpointError, match="Refusing to load"):
        load_checkpoint(path)


def test_foreign_torch_file_is_refused(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not a gan_course checkpoint"):
        load_checkpoint(path)


def test_no_unsafe_torch_load_in_the_package():
    root = Path(__file__).resolve().parents[1] / "gan_course"
    offenders = []
    for py in root.rglob("*.py"):
        text = py.read_text()
        for m in re.finditer(r"torch\.load\(", text):
            call = text[m.start(): text.find(")", m.start()) + 200]
            if "weights_only=True" not in call.split("\n\n")[0]:
                offenders.append(f"{py.name}:{text[:m.start()].count(chr(10)) + 1}")
    assert not offenders, f"torch.load without weights_only=True: {offenders}"


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo would run",))


@pytest.mark.parametrize("obj,name", [(_RunsCode(), f"{os.system.__module__}.system"),
                                      (datetime.date(2020, 1, 1), "datetime.date")])
def test_refusal_names_the_global_without_torchs_advice(obj, name, tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "gan_course.checkpoint/1", "obj": obj}, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    msg = str(err.value)
    assert f"asks to import {name}," in msg and msg.count("\n") == 0
    assert "weights_only" not in msg and "Re-running" not in msg and "safe_globals" not in msg
