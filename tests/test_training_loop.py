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
from gan_course.data import batches as batches_module
from gan_course.data.batches import Batches
from gan_course.training import loop
from gan_course.training.checkpoint import load_checkpoint
from gan_course.training.loop import TrainingDiverged, fit
from gan_course.training.tasks import build_task


def _fashion(n=64, cfg=None, epochs=2):
    cfg = replace(cfg or get_config("fashion", "smoke"), epochs=epochs)
    task = build_task(cfg, torch.device("cpu"))
    g = torch.Generator().manual_seed(1)
    data = Batches([torch.rand(n, 784, generator=g) * 2 - 1, torch.zeros(n, dtype=torch.long)],
                   cfg.batch_size)
    return task, data


def _weights(task):
    return {f"{k}.{n}": t.clone() for k, m in task.models.items()
            for n, t in m.state_dict().items()}


def test_configs_exist_for_every_task_and_profile():
    for task in TASKS:
        for profile in ("smoke", "demo", "long", "full"):
            cfg = get_config(task, profile)
            assert cfg.task == task and cfg.profile == profile
            assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert get_config("dcgan", "full").batch_size == 128
    assert get_config("cgan", "full").betas == (0.0, 0.9)
    assert get_config("fashion", "full").lr == 1e-4
    with pytest.raises(ValueError, match="Unknown task"):
        get_config("stylegan")


def test_fit_writes_history_samples_and_checkpoint(tmp_path):
    task, data = _fashion(epochs=2)
    history = fit(task, data, out_dir=tmp_path, progress=False)
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
    task, data = _fashion()
    fit(task, data, out_dir=tmp_path / "a", progress=False)
    straight = _weights(task)

    task, data = _fashion()  # same config, same seed: same initial weights as the straight run
    step_fn, calls = task.step, []

    def interrupting(batch):
        out = step_fn(batch)
        calls.append(1)
        if len(calls) == 3:  # Ctrl-C arrives during step 3
            os.kill(os.getpid(), signal.SIGINT)
        return out

    task.step = interrupting
    with pytest.raises(KeyboardInterrupt):
        fit(task, data, out_dir=tmp_path / "b", progress=False)
    state = load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    assert (state["global_step"], state["epoch"], state["batch_in_epoch"]) == (3, 0, 3)

    torch.manual_seed(123)  # fresh, other models: everything must come from the checkpoint
    task, data = _fashion(cfg=replace(get_config("fashion", "smoke"), seed=0))
    for m in task.models.values():
        for p in m.parameters():
            torch.nn.init.normal_(p.data)
    history = fit(task, data, out_dir=tmp_path / "b", resume=True, progress=False)
    assert len(history) == 8
    resumed = _weights(task)
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_nan_loss_stops_with_clear_error_and_keeps_last_good_checkpoint(tmp_path):
    task, data = _fashion(epochs=3)
    step_fn, calls = task.step, []

    def poisoned(batch):
        out = step_fn(batch)
        calls.append(1)
        if len(calls) == 6:  # second epoch
            out["loss_g"] = math.nan
        return out

    task.step = poisoned
    with pytest.raises(TrainingDiverged) as err:
        fit(task, data, out_dir=tmp_path, progress=False)
    msg = str(err.value)
    assert "step 6" in msg and "'loss_g'" in msg and "nan" in msg
    assert str(tmp_path / "checkpoint.pt") in msg
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["global_step"] == 4 and state["epoch"] == 1  # the epoch-1 checkpoint, intact
    for weights in state["task_state"]["models"].values():
        assert all(torch.isfinite(t).all() for t in weights.values() if t.is_floating_point())


def test_huge_learning_rate_is_caught(tmp_path):
    cfg = replace(get_config("fashion", "smoke"), lr=1e30)
    task, data = _fashion(cfg=cfg, epochs=20)
    with pytest.raises(TrainingDiverged, match="diverged at step"):
        fit(task, data, out_dir=tmp_path, progress=False)


def test_batches_shard_disjointly_across_ranks(monkeypatch):
    x = torch.arange(20)
    seen = []
    for rank in range(2):
        monkeypatch.setattr(batches_module, "_rank_world", lambda rank=rank: (rank, 2))
        b = Batches([x], batch_size=10)  # global batch 10: 5 per rank
        assert len(b) == 2 and b.rank_batch == 5
        seen.append(set(torch.cat([bt[0] for bt in b.epoch(torch.Generator().manual_seed(0),
                                                             "cpu")]).tolist()))
    assert seen[0].isdisjoint(seen[1]) and len(seen[0] | seen[1]) == 20


# The real training-set sizes: anime faces, eyeglasses, CelebA black / blond hair.
REAL_SIZES = {"dcgan": [63_632], "cgan": [4_500], "cyclegan": [48_472, 29_980]}


def _steps_on_every_rank(monkeypatch, sizes, batch, world, drop_last=True):
    """Steps each rank of ``world`` would run in one epoch: from ``len()`` and by iterating.

    Reading the rows is replaced by returning their positions: ~1M steps are counted here, and
    what is under test is which steps each rank runs, not how a row is read."""
    from gan_course.data.batches import PairedBatches

    monkeypatch.setattr(Batches, "_gather", lambda self, positions, pin=False: (positions,))
    lengths, counts = [], []
    for rank in range(world):
        monkeypatch.setattr(batches_module, "_rank_world", lambda r=rank, w=world: (r, w))
        parts = [Batches([torch.arange(n)], batch_size=batch, drop_last=drop_last) for n in sizes]
        data = parts[0] if len(parts) == 1 else PairedBatches(*parts)
        lengths.append(len(data))
        counts.append(sum(1 for _ in data.epoch(torch.Generator().manual_seed(0))))
    return lengths, counts


@pytest.mark.slow
@pytest.mark.parametrize("task", ["dcgan", "cgan", "cyclegan"])
def test_every_rank_runs_the_same_number_of_steps(monkeypatch, task):
    """An extra batch on one rank would hang the others in its all-reduce (21 images on 2 ranks
    once gave rank 0 one more batch). Every world size 1-16, the real dataset sizes, the full
    profile's batch (global by default; per rank for CycleGAN's batch of 1, which cannot be
    split): every rank runs the same number of steps, the same as one process would."""
    cfg = get_config(task, "full")
    for world in range(1, 17):
        run = replace(cfg, batch_per_rank=cfg.batch_size < world)
        batch = run.global_batch(world)
        lengths, counts = _steps_on_every_rank(monkeypatch, REAL_SIZES[task], batch, world)
        expected = min(n // batch for n in REAL_SIZES[task])
        assert lengths == counts == [expected] * world, (task, world, lengths, counts)


@pytest.mark.parametrize("drop_last", [True, False])
def test_uneven_sizes_and_shares_give_equal_steps(monkeypatch, drop_last):
    """Sizes and batches that divide by nothing: shares differ by one image, steps never."""
    for n, batch in [(21, 4), (1_001, 13), (97, 7)]:
        for world in (2, 3, 5, 7):
            if batch < world:
                continue
            lengths, counts = _steps_on_every_rank(monkeypatch, [n], batch, world, drop_last)
            assert len(set(lengths)) == 1 and lengths == counts, (n, batch, world, lengths)


def test_ranks_share_exactly_the_one_process_batch(monkeypatch):
    """Global batch semantics: at every step the ranks' batches together are the batch a single
    process would train on (same permutation), split into disjoint shares of 43/43/42."""
    x = torch.arange(1_000)
    monkeypatch.setattr(batches_module, "_rank_world", lambda: (0, 1))
    single = [set(b[0].tolist()) for b in Batches([x], 128).epoch(torch.Generator().manual_seed(5))]
    per_rank = []
    for rank in range(3):
        monkeypatch.setattr(batches_module, "_rank_world", lambda r=rank: (r, 3))
        b = Batches([x], 128)
        assert len(b) == len(single) == 7
        per_rank.append([set(t[0].tolist()) for t in b.epoch(torch.Generator().manual_seed(5))])
    for step, whole in enumerate(single):
        shares = [per_rank[r][step] for r in range(3)]
        assert sorted(len(s) for s in shares) == [42, 43, 43]
        assert set().union(*shares) == whole and sum(len(s) for s in shares) == 128


def test_too_little_data_is_a_clear_error():
    with pytest.raises(ValueError, match="smaller batch_size"):
        Batches([torch.zeros(3, 4)], batch_size=8)


def test_dcgan_discriminator_learns_to_separate_real_from_fake(tmp_path, monkeypatch):
    """A hundred steps of a tiny DCGAN on toy faces: D's mean probability for real images rises
    well above its probability for fakes (at step 1 both are ~0.5). Robust and seed-fixed."""
    monkeypatch.setenv("GAN_COURSE_DATA", str(tmp_path / "data"))
    from gan_course.data import load_data

    cfg = replace(get_config("dcgan", "smoke"), n_train=128, batch_size=16, features=4,
                  latent_dim=16, epochs=12)
    task = build_task(cfg, torch.device("cpu"))
    history = fit(task, load_data(cfg), out_dir=tmp_path / "run", progress=False)  # 96 steps
    gap = history["d_real"] - history["d_fake"]
    assert abs(gap.iloc[0]) < 0.2
    assert gap.iloc[-16:].mean() > 0.5, gap.iloc[-16:].tolist()
    assert history["loss_d"].iloc[-16:].mean() < 0.5 * history["loss_d"].iloc[0]


def test_resume_refuses_a_run_trained_with_other_settings(tmp_path):
    task, data = _fashion(epochs=1)
    fit(task, data, out_dir=tmp_path, progress=False)

    # Training longer is what resume is for ...
    task, data = _fashion(epochs=2)
    fit(task, data, out_dir=tmp_path, resume=True, progress=False)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 2

    # ... but other sizes or optimiser values would silently mix two runs.
    before = (tmp_path / "checkpoint.pt").read_bytes()
    other = replace(get_config("fashion", "smoke"), lr=5e-4, hidden_g=(8, 16))
    task, data = _fashion(cfg=other, epochs=3)
    msg = r"other settings \(.*lr: 0\.0001 in the checkpoint vs 0\.0005 now"
    with pytest.raises(loop.CheckpointError, match=msg):
        fit(task, data, out_dir=tmp_path, resume=True, progress=False)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before  # nothing overwritten


def test_run_messages_name_the_run_folder_relative_to_the_checkout(tmp_path, monkeypatch, capsys):
    """A stored notebook keeps what fit printed: no absolute path of the machine that ran it."""
    import gan_course.runtime as runtime

    monkeypatch.setattr(runtime, "repo_root", lambda: tmp_path)  # pretend tmp_path is the checkout
    out = tmp_path / "runs" / "smoke" / "fashion-toy-seed0"
    task, data = _fashion(epochs=1)
    fit(task, data, out_dir=out, resume=True, progress=False)
    task, data = _fashion(epochs=1)
    fit(task, data, out_dir=out, resume=True, progress=False)
    printed = capsys.readouterr().out
    assert "No checkpoint in runs/smoke/fashion-toy-seed0/ in the course checkout" in printed
    assert "the run in runs/smoke/fashion-toy-seed0/ in the course checkout is finished" in printed
    assert str(tmp_path) not in printed
