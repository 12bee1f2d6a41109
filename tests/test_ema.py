"""Generator EMA: the averaging maths, buffers, swapping, checkpoints and exact resume."""

import os
import signal
from dataclasses import replace

import pytest
import torch
from torch import nn

from gan_course.config import get_config
from gan_course.data.batches import Batches
from gan_course.training.checkpoint import load_checkpoint
from gan_course.training.ema import ModelEMA
from gan_course.training.loop import fit
from gan_course.training.runs import load_trained
from gan_course.training.tasks import build_task


def test_ema_follows_the_warmup_formula():
    lin = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        lin.weight.fill_(0.0)
    ema = ModelEMA({"G": lin}, decay=0.9)
    expected = 0.0
    for t, w in enumerate([1.0, 2.0, 3.0, 4.0, 5.0] + [10.0] * 150):
        with torch.no_grad():
            lin.weight.fill_(w)
        d = min(0.9, (1 + t) / (10 + t))
        assert ema.current_decay() == pytest.approx(d)
        ema.update()
        expected = d * expected + (1 - d) * w
        assert float(ema.shadow["G"]["weight"]) == pytest.approx(expected, rel=1e-6)
    assert ema.current_decay() == 0.9  # warm-up over (t >= 80): the configured decay
    assert 9.9 < expected < 10.0  # the average has nearly caught up with the constant weight


def test_buffers_are_copied_and_swap_restores_the_live_weights():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    ema = ModelEMA({"G": net}, decay=0.99)
    net.train()
    net(torch.randn(8, 3))  # moves the BatchNorm running stats
    with torch.no_grad():
        net[0].weight.add_(1.0)
    ema.update()
    live = {k: v.clone() for k, v in net.state_dict().items()}
    assert torch.equal(ema.shadow["G"]["1.running_mean"], live["1.running_mean"])
    assert ema.shadow["G"]["1.num_batches_tracked"] == live["1.num_batches_tracked"]
    assert not torch.equal(ema.shadow["G"]["0.weight"], live["0.weight"])  # averaged, lags
    with ema.swapped():
        assert torch.equal(net[0].weight, ema.shadow["G"]["0.weight"])
    assert all(torch.equal(net.state_dict()[k], v) for k, v in live.items())
    with pytest.raises(ValueError, match="decay"):
        ModelEMA({"G": net}, decay=1.0)


def _fashion(cfg):
    task = build_task(cfg, torch.device("cpu"))
    g = torch.Generator().manual_seed(1)
    data = Batches([torch.rand(64, 784, generator=g) * 2 - 1, torch.zeros(64, dtype=torch.long)],
                   cfg.batch_size)
    return task, data


def test_ema_is_off_by_default_and_on_by_config():
    assert build_task(get_config("fashion", "smoke")).ema is None
    task = build_task(replace(get_config("cyclegan", "smoke"), ema_decay=0.9))
    assert sorted(task.ema.shadow) == ["G_AB", "G_BA"]  # both generators, no discriminator


def test_checkpoint_round_trip_and_exact_resume_with_ema(tmp_path):
    cfg = replace(get_config("fashion", "smoke"), ema_decay=0.9, epochs=2)
    task, data = _fashion(cfg)
    fit(task, data, out_dir=tmp_path / "a", progress=False)
    straight = {k: v.clone() for k, v in task.ema.shadow["G"].items()}
    assert task.ema.num_updates == 8
    live = {k: v.clone() for k, v in task.models["G"].state_dict().items()}
    assert any(not torch.equal(straight[k], live[k]) for k in live)  # EMA differs from live G

    # stored in the checkpoint (weights_only load) and used by load_trained
    state = load_checkpoint(tmp_path / "a" / "checkpoint.pt")
    assert state["task_state"]["extra"]["ema"]["num_updates"] == 8
    loaded = load_trained(tmp_path / "a" / "checkpoint.pt", device="cpu")
    assert all(torch.equal(loaded.models["G"].state_dict()[k], straight[k]) for k in straight)

    # Ctrl-C mid-epoch, then resume: the EMA ends bit-identical to the straight run's
    task, data = _fashion(cfg)
    step_fn, calls = task.step, []

    def interrupting(batch):
        out = step_fn(batch)
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    task.step = interrupting
    with pytest.raises(KeyboardInterrupt):
        fit(task, data, out_dir=tmp_path / "b", progress=False)
    task, data = _fashion(cfg)
    fit(task, data, out_dir=tmp_path / "b", resume=True, progress=False)
    assert task.ema.num_updates == 8
    assert all(torch.equal(task.ema.shadow["G"][k], straight[k]) for k in straight)
    assert all(torch.equal(task.models["G"].state_dict()[k], live[k]) for k in live)


def test_task_averaged_swaps_in_the_ema_and_is_a_no_op_without_one(tmp_path):
    cfg = replace(get_config("fashion", "smoke"), ema_decay=0.9, epochs=1)
    task, data = _fashion(cfg)
    fit(task, data, out_dir=tmp_path, progress=False)
    G = task.models["G"]
    live = {k: v.clone() for k, v in G.state_dict().items()}
    with task.averaged():
        inside = {k: v.clone() for k, v in G.state_dict().items()}
    assert all(torch.equal(inside[k], v) for k, v in task.ema.shadow["G"].items())
    assert any(not torch.equal(inside[k], live[k]) for k in live)  # the average lags the live G
    assert all(torch.equal(G.state_dict()[k], v) for k, v in live.items())  # restored after
    plain = build_task(get_config("fashion", "smoke"), torch.device("cpu"))
    before = {k: v.clone() for k, v in plain.models["G"].state_dict().items()}
    with plain.averaged():  # no EMA in the config: nothing is swapped
        assert all(torch.equal(plain.models["G"].state_dict()[k], v) for k, v in before.items())


def test_a_checkpoint_without_a_saved_average_never_swaps_in_the_initial_weights(tmp_path):
    """An EMA task loading weights but no average starts the average from the loaded weights
    (else evaluation and samples would use the initial, untrained generator); the first EMA
    checkpoint format (the average at the top level) still loads."""
    from dataclasses import replace

    from gan_course.config import get_config
    from gan_course.training.tasks import build_task

    cfg = replace(get_config("fashion", "smoke"), ema_decay=0.9)
    trained = build_task(cfg, torch.device("cpu"))
    with torch.no_grad():
        for p in trained.models["G"].parameters():
            p.add_(1.0)
    state = trained.state_dict()
    no_avg = {**state, "extra": {k: v for k, v in state["extra"].items() if k != "ema"}}
    loaded = build_task(cfg, torch.device("cpu"))
    loaded.load_state_dict(no_avg)
    with loaded.averaged():
        got = {k: v.clone() for k, v in loaded.models["G"].state_dict().items()}
    want = trained.models["G"].state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)

    legacy = {**no_avg, "ema": state["extra"]["ema"]}
    old = build_task(cfg, torch.device("cpu"))
    old.load_state_dict(legacy)
    assert all(torch.equal(old.ema.shadow["G"][k], trained.ema.shadow["G"][k])
               for k in want)
