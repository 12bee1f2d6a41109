"""Long runs: periodic checkpoints, SIGTERM handled like Ctrl-C, stale temp files, losses read
every N steps with the NaN guard intact, and the CLI flags that set all of it."""

import math
import os
import signal
from dataclasses import replace

import pytest
import torch

from gan_course.cli import main
from gan_course.config import get_config
from gan_course.data.batches import Batches
from gan_course.training import loop
from gan_course.training.checkpoint import load_checkpoint
from gan_course.training.loop import TrainingDiverged, fit
from gan_course.training.tasks import build_task


def _fashion(epochs=2, **changes):
    """fashion smoke: 64 images in batches of 16 -> 4 steps per epoch."""
    cfg = replace(get_config("fashion", "smoke"), epochs=epochs, **changes)
    task = build_task(cfg, torch.device("cpu"))
    g = torch.Generator().manual_seed(1)
    data = Batches([torch.rand(64, 784, generator=g) * 2 - 1, torch.zeros(64, dtype=torch.long)],
                   cfg.batch_size)
    return task, data


def _weights(task):
    return {f"{k}.{n}": t.clone() for k, m in task.models.items()
            for n, t in m.state_dict().items()}


def _record_saves(monkeypatch):
    saves = []
    real = loop.save_checkpoint

    def spy(path, state):
        saves.append((state["global_step"], state["batch_in_epoch"]))
        return real(path, state)

    monkeypatch.setattr(loop, "save_checkpoint", spy)
    return saves


def test_checkpoint_every_n_steps_mid_epoch(tmp_path, monkeypatch):
    saves = _record_saves(monkeypatch)
    task, data = _fashion(checkpoint_every=3)
    fit(task, data, out_dir=tmp_path, progress=False)
    # step 3 and 6 mid-epoch, steps 4 and 8 at the epoch ends (as always)
    assert saves == [(3, 3), (4, 0), (6, 2), (8, 0)]


def test_checkpoint_every_m_minutes(tmp_path, monkeypatch):
    """A clock that advances 25 s per step: with checkpoint_minutes=1 a checkpoint is due after
    every third step since the last one (epoch-end checkpoints restart the count)."""
    now = [0.0]
    monkeypatch.setattr(loop, "_clock", lambda: now[0])
    saves = _record_saves(monkeypatch)
    task, data = _fashion(epochs=3, checkpoint_minutes=1.0)
    step = task.step

    def slow_step(batch):
        now[0] += 25.0
        return step(batch)

    task.step = slow_step
    fit(task, data, out_dir=tmp_path, progress=False)
    # 75 s after the start at step 3; epoch ends at 4, 8, 12; 75 s after step 4 at step 7 ...
    assert saves == [(3, 3), (4, 0), (7, 3), (8, 0), (11, 3), (12, 0)]


@pytest.mark.parametrize("signals", [[signal.SIGTERM], [signal.SIGINT, signal.SIGTERM],
                                     [signal.SIGTERM, signal.SIGINT]])
def test_sigterm_saves_like_ctrl_c_and_resume_is_exact(tmp_path, signals):
    """SIGTERM (kill, pre-emption, torchrun) mid-epoch: finish the step, save, stop; resuming
    reproduces the uninterrupted run bit for bit. A SIGINT and a SIGTERM in the same instant
    (Ctrl-C under torchrun) are one request: still one clean save, not an abort."""
    task, data = _fashion()
    fit(task, data, out_dir=tmp_path / "a", progress=False)
    straight = _weights(task)

    task, data = _fashion()
    step, calls = task.step, []

    def interrupted(batch):
        out = step(batch)
        calls.append(1)
        if len(calls) == 3:
            for sig in signals:
                os.kill(os.getpid(), sig)
        return out

    task.step = interrupted
    with pytest.raises(KeyboardInterrupt):
        fit(task, data, out_dir=tmp_path / "b", progress=False)
    assert len(calls) == 3
    state = load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    assert (state["global_step"], state["epoch"], state["batch_in_epoch"]) == (3, 0, 3)
    # the handlers are given back: SIGTERM's default again after fit
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL

    task, data = _fashion()
    fit(task, data, out_dir=tmp_path / "b", resume=True, progress=False)
    resumed = _weights(task)
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_a_second_ctrl_c_after_the_grace_period_aborts_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(loop._StopSignals, "GRACE", 0.0)
    task, data = _fashion()
    step, calls = task.step, []

    def interrupted(batch):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)  # raises KeyboardInterrupt right here
        return step(batch)

    task.step = interrupted
    with pytest.raises(KeyboardInterrupt):
        fit(task, data, out_dir=tmp_path, progress=False)
    assert len(calls) == 2 and not (tmp_path / "checkpoint.pt").exists()  # no save: aborted


def test_stale_temporary_files_of_a_killed_write_are_removed(tmp_path, capsys):
    stale = [tmp_path / "checkpoint.pt.k3j2l1.tmp", tmp_path / "history.csv.4242.tmp"]
    for p in stale:
        p.write_bytes(b"half a file")
    other = tmp_path / "notes.tmp"  # not ours: left alone
    other.write_text("mine")
    task, data = _fashion(epochs=1)
    fit(task, data, out_dir=tmp_path, progress=False)
    assert not any(p.exists() for p in stale) and other.exists()
    assert "Removed 2 unfinished temporary file(s)" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.glob("*.tmp")) == ["notes.tmp"]


def test_losses_read_every_n_steps_keep_history_and_nan_guard(tmp_path, monkeypatch):
    reads = []
    real = loop._LossWindow.flush

    def counting(self):
        reads.append(len(self.rows))
        return real(self)

    monkeypatch.setattr(loop._LossWindow, "flush", counting)
    task, data = _fashion(log_every=3)
    history = fit(task, data, out_dir=tmp_path / "ok", progress=False)
    assert reads == [3, 1, 2, 2]  # steps 1-3, 4 (epoch end), 5-6, 7-8 (epoch end)
    assert history["step"].tolist() == list(range(1, 9))
    assert history[["loss_d", "loss_g"]].notna().all().all()

    task, data = _fashion(epochs=3, log_every=3)
    step, calls = task.step, []

    def poisoned(batch):
        out = step(batch)
        calls.append(1)
        if len(calls) == 5:
            out["loss_g"] = out["loss_g"] * math.nan  # still a tensor on the device
        return out

    task.step = poisoned
    with pytest.raises(TrainingDiverged, match=r"diverged at step 5 .*'loss_g' = nan"):
        fit(task, data, out_dir=tmp_path / "nan", progress=False)
    # noticed at the read after step 6, before any save: the epoch-1 checkpoint is intact
    assert len(calls) == 6
    assert load_checkpoint(tmp_path / "nan" / "checkpoint.pt")["global_step"] == 4


def test_cli_flags_reach_the_config(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GAN_COURSE_DATA", str(tmp_path / "data"))
    out = tmp_path / "run"
    assert main(["train", "dcgan", "--profile", "smoke", "--out", str(out), "--no-progress",
                 "--max-steps", "3", "--batch-size", "8", "--checkpoint-every", "2",
                 "--checkpoint-minutes", "30", "--log-every", "2", "--batch-per-rank"]) == 0
    printed = capsys.readouterr().out
    assert "Batch 8 per process x 1 process(es) = global 8 (batch_per_rank)" in printed
    cfg = load_checkpoint(out / "checkpoint.pt")["config"]
    assert (cfg["batch_size"], cfg["checkpoint_every"], cfg["checkpoint_minutes"],
            cfg["log_every"], cfg["batch_per_rank"]) == (8, 2, 30.0, 2, True)
    # how often to save or read may change on resume; the batch may not
    assert main(["train", "dcgan", "--profile", "smoke", "--out", str(out), "--no-progress",
                 "--max-steps", "4", "--batch-size", "8", "--batch-per-rank", "--resume"]) == 0
    assert load_checkpoint(out / "checkpoint.pt")["global_step"] == 4
    assert main(["train", "dcgan", "--profile", "smoke", "--out", str(out), "--resume",
                 "--no-progress"]) == 1
    assert "batch_size: 8 in the checkpoint vs 16 now" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["--batch-size", "0"], "--batch-size must be >= 1"),
    (["--checkpoint-every", "-1"], "--checkpoint-every must be >= 0"),
    (["--checkpoint-minutes", "-2"], "--checkpoint-minutes must be >= 0"),
    (["--log-every", "-1"], "--log-every must be >= 0"),
])
def test_bad_flag_values_exit_1(argv, message, capsys):
    assert main(["train", "dcgan", "--profile", "smoke", *argv]) == 1
    assert message in capsys.readouterr().err


def test_global_batch_and_lr_rule():
    cfg = get_config("dcgan", "full")
    assert [cfg.global_batch(w) for w in (1, 2, 8)] == [128, 128, 128]
    assert cfg.run_lr(8) == cfg.lr
    per = replace(cfg, batch_per_rank=True)
    assert per.global_batch(8) == 1024 and per.run_lr(4) == pytest.approx(2 * cfg.lr)
    assert "split over 3 processes (42-43 each)" in cfg.batch_note(3)
    one = get_config("cyclegan", "full")  # the book's batch of 1
    with pytest.raises(ValueError, match="--batch-per-rank"):
        one.global_batch(2)


def test_ranks_that_find_different_checkpoints_stop_with_a_clear_error(tmp_path, monkeypatch):
    """On several machines without a shared --out folder, a node that cannot see the
    checkpoint would start a different run than the others (and hang them): every rank
    stops with one message instead."""
    task, data = _fashion(epochs=1)
    fit(task, data, out_dir=tmp_path, progress=False)
    monkeypatch.setattr(loop.ddp, "all_gather", lambda obj: [obj, (None, None)])
    task, data = _fashion(epochs=2)
    with pytest.raises(loop.CheckpointError, match=r"rank 0: step 4, rank 1: no checkpoint"):
        fit(task, data, out_dir=tmp_path, resume=True, progress=False)
    # a rank that cannot read its copy: every rank raises that rank's message
    monkeypatch.setattr(loop.ddp, "all_gather",
                        lambda obj: [obj, ("Cannot read checkpoint X: truncated", None)])
    with pytest.raises(loop.CheckpointError, match="Cannot read checkpoint X"):
        fit(task, data, out_dir=tmp_path, resume=True, progress=False)


def test_distributed_timeouts_come_from_the_environment(monkeypatch):
    from gan_course.training import distributed

    monkeypatch.setenv("GAN_COURSE_DATA_TIMEOUT_MIN", "240")
    assert distributed._minutes("GAN_COURSE_DATA_TIMEOUT_MIN", 180).total_seconds() == 240 * 60
    monkeypatch.delenv("GAN_COURSE_DATA_TIMEOUT_MIN")
    assert distributed._minutes("GAN_COURSE_DATA_TIMEOUT_MIN", 180).total_seconds() == 180 * 60
    monkeypatch.setenv("GAN_COURSE_DIST_TIMEOUT_MIN", "soon")
    with pytest.raises(ValueError, match="GAN_COURSE_DIST_TIMEOUT_MIN must be a number"):
        distributed._minutes("GAN_COURSE_DIST_TIMEOUT_MIN", 30)


def test_cyclegan_with_image_pool_resumes_exactly(tmp_path, monkeypatch):
    """The reference CycleGAN options (image pool of past fakes) are in the checkpoint too:
    stopping mid-epoch and resuming gives the uninterrupted run's weights."""
    monkeypatch.setenv("GAN_COURSE_DATA", str(tmp_path / "data"))
    from gan_course.data import load_data

    cfg = get_config("cyclegan", "smoke", pool_size=3, epochs=2)

    def run(out, max_steps=None, resume=False):
        task = build_task(cfg, torch.device("cpu"))
        fit(task, load_data(cfg, verbose=False), out_dir=out, progress=False,
            max_steps=max_steps, resume=resume)
        return task

    straight = _weights(run(tmp_path / "a"))
    stopped = run(tmp_path / "b", max_steps=3)
    assert len(stopped.extra_state["pool_A"].images) == 3  # the pool is full when it stops
    state = load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    assert state["task_state"]["extra"]["pool_A"]["images"].shape[0] == 3
    resumed = _weights(run(tmp_path / "b", resume=True))
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_a_restored_image_pool_follows_the_fakes_device():
    from gan_course.training.image_pool import ImagePool

    pool = ImagePool(2)
    pool.query(torch.randn(2, 3, 4, 4))
    restored = ImagePool()
    restored.load_state_dict(pool.state_dict())  # CPU tensors, as from a checkpoint
    out = restored.query(torch.empty(3, 3, 4, 4, device="meta"))  # fakes on another device
    assert out.device.type == "meta" and all(i.device.type == "meta" for i in restored.images)
