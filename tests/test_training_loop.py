"""The shared loop: history, samples, checkpoints, Ctrl-C, NaN guard, sharding, learning."""

import math
import os
import signal
from dataclasses import replace

import pandas as pd
import pytest
import torch
from PIL import Image

from gan_course.config import TASKS, TrainConfig, get_config
from gan_course.training import loop
from gan_course.training.checkpoint import load_checkpoint
from gan_course.training.distributed import DistInfo
from gan_course.training.loop import Batches, TrainingDiverged, fit
from gan_course.training.tasks import build_task


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # shared CPU: avoid OpenMP oversubscription
    yield
    torch.set_num_threads(old)


def _fashion(n=64, cfg=None):
    cfg = cfg or get_config("fashion", "smoke")
    task = build_task("fashion", cfg, torch.device("cpu"))
    g = torch.Generator().manual_seed(1)
    data = Batches([torch.rand(n, 784, generator=g) * 2 - 1, torch.zeros(n, dtype=torch.long)],
                   cfg.batch_size)
    return task, data


def _weights(task):
    return {f"{k}.{n}": t.clone() for k, m in task.models.items()
            for n, t in m.state_dict().items()}


def test_configs_exist_for_every_task_and_profile():
    for task in TASKS:
        for profile in ("smoke", "demo", "full"):
            cfg = get_config(task, profile)
            assert cfg.task == task and cfg.profile == profile
            assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert get_config("dcgan", "full").batch_size == 128
    assert get_config("cgan", "full").betas == (0.0, 0.9)
    assert get_config("fashion", "full").lr == 1e-4
    with pytest.raises(ValueError, match="Unknown task"):
        get_config("stylegan")


def test_fit_writes_history_samples_and_checkpoint(tmp_path):
    task, data = _fashion()
    history = fit(task, data, epochs=2, out_dir=tmp_path, progress=False)
    assert isinstance(history, pd.DataFrame)
    assert len(history) == 2 * len(data) == 8
    assert {"step", "epoch", "loss_d", "loss_g"} <= set(history.columns)
    assert history["step"].tolist() == list(range(1, 9))
    assert pd.read_csv(tmp_path / "history.csv").shape == history.shape
    grid = Image.open(tmp_path / "samples" / "epoch_002.png")
    # 16 samples of 28x28 in rows of 8 with 2-pixel padding
    assert grid.size == (8 * 30 + 2, 2 * 30 + 2)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["epoch"] == 2 and state["global_step"] == 8 and state["task"] == "fashion"
    assert state["config"]["task"] == "fashion"


def test_resume_in_process_matches_straight_run_after_ctrl_c(tmp_path):
    """Ctrl-C mid-epoch saves a consistent checkpoint; resuming reproduces the straight run."""
    torch.manual_seed(0)
    task, data = _fashion()
    fit(task, data, epochs=2, out_dir=tmp_path / "a", progress=False)
    straight = _weights(task)

    torch.manual_seed(0)  # same initial weights as the straight run
    task, data = _fashion()
    step_fn, calls = task.step_fn, []

    def interrupting(t, batch):
        out = step_fn(t, batch)
        calls.append(1)
        if len(calls) == 3:  # Ctrl-C arrives during step 3
            os.kill(os.getpid(), signal.SIGINT)
        return out

    task.step_fn = interrupting
    with pytest.raises(KeyboardInterrupt):
        fit(task, data, epochs=2, out_dir=tmp_path / "b", progress=False)
    state = load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    assert (state["global_step"], state["epoch"], state["batch_in_epoch"]) == (3, 0, 3)

    task, data = _fashion()  # fresh models: everything must come from the checkpoint
    history = fit(task, data, epochs=2, out_dir=tmp_path / "b", resume=True, progress=False)
    assert len(history) == 8
    resumed = _weights(task)
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_nan_loss_stops_with_clear_error_and_keeps_last_good_checkpoint(tmp_path):
    task, data = _fashion()
    step_fn, calls = task.step_fn, []

    def poisoned(t, batch):
        out = step_fn(t, batch)
        calls.append(1)
        if len(calls) == 6:  # second epoch
            out["loss_g"] = math.nan
        return out

    task.step_fn = poisoned
    with pytest.raises(TrainingDiverged) as err:
        fit(task, data, epochs=3, out_dir=tmp_path, progress=False)
    msg = str(err.value)
    assert "step 6" in msg and "'loss_g'" in msg and "nan" in msg
    assert str(tmp_path / "checkpoint.pt") in msg
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["global_step"] == 4 and state["epoch"] == 1  # the epoch-1 checkpoint, intact
    for weights in state["task_state"]["models"].values():
        assert all(torch.isfinite(t).all() for t in weights.values() if t.is_floating_point())


def test_huge_learning_rate_is_caught(tmp_path):
    cfg = replace(get_config("fashion", "smoke"), lr=1e30)
    task, data = _fashion(cfg=cfg)
    with pytest.raises(TrainingDiverged, match="diverged at step"):
        fit(task, data, epochs=20, out_dir=tmp_path, progress=False)


def test_batches_shard_disjointly_across_ranks(monkeypatch):
    x = torch.arange(20)
    seen = []
    for rank in range(2):
        monkeypatch.setattr(loop.ddp, "current", lambda rank=rank: DistInfo(rank, 2))
        b = Batches([x], batch_size=5)
        assert len(b) == 2
        seen.append(set(torch.cat([bt[0] for bt in b.epoch(torch.Generator().manual_seed(0),
                                                             "cpu")]).tolist()))
    assert seen[0].isdisjoint(seen[1]) and len(seen[0] | seen[1]) == 20


def test_too_little_data_is_a_clear_error():
    with pytest.raises(ValueError, match="smaller batch_size"):
        Batches([torch.zeros(3, 4)], batch_size=8)


def test_dcgan_discriminator_learns_to_separate_real_from_fake(tmp_path, monkeypatch):
    """A hundred steps of a tiny DCGAN on toy faces: D's mean probability for real images rises
    well above its probability for fakes (at step 1 both are ~0.5). Robust and seed-fixed."""
    monkeypatch.setenv("GAN_COURSE_DATA", str(tmp_path / "data"))
    from gan_course.training.tasks import load_data

    cfg = replace(get_config("dcgan", "smoke"), n_train=128, batch_size=16, features=4,
                  latent_dim=16)
    torch.manual_seed(0)
    task = build_task("dcgan", cfg, torch.device("cpu"))
    history = fit(task, load_data("dcgan", cfg), epochs=12, out_dir=tmp_path / "run",
                  progress=False)  # 96 steps
    gap = history["d_real"] - history["d_fake"]
    assert abs(gap.iloc[0]) < 0.2
    assert gap.iloc[-16:].mean() > 0.5, gap.iloc[-16:].tolist()
    assert history["loss_d"].iloc[-16:].mean() < 0.5 * history["loss_d"].iloc[0]


def test_resume_refuses_a_run_trained_with_other_settings(tmp_path):
    task, data = _fashion()
    fit(task, data, epochs=1, out_dir=tmp_path, progress=False)

    # Training longer is what resume is for ...
    task, data = _fashion()
    fit(task, data, epochs=2, out_dir=tmp_path, resume=True, progress=False)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 2

    # ... but other sizes or optimiser values would silently mix two runs.
    before = (tmp_path / "checkpoint.pt").read_bytes()
    other = replace(get_config("fashion", "smoke"), lr=5e-4, hidden_g=(8, 16))
    task, data = _fashion(cfg=other)
    msg = r"other settings \(.*lr: 0\.0001 in the checkpoint vs 0\.0005 now"
    with pytest.raises(loop.CheckpointError, match=msg):
        fit(task, data, epochs=3, out_dir=tmp_path, resume=True, progress=False)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before  # nothing overwritten
