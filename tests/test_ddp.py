"""torchrun with 2 CPU processes (gloo): training finishes and both ranks hold identical weights."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch

# Each rank trains through the package's own entry point, then writes its weights so the test
# can compare them (rank 0 alone writes the checkpoint).
_WORKER = textwrap.dedent("""
    import sys, torch
    from gan_course.config import get_config
    from gan_course.training import distributed as ddp
    from gan_course.training.runs import train

    task_name, out = sys.argv[1], sys.argv[2]
    task, _ = train(get_config(task_name, "smoke"), out=out, device="cpu", progress=False,
                    max_steps=3)
    rank = ddp.current().rank
    torch.save({k: ddp.plain(m).state_dict() for k, m in task.models.items()},
               f"{out}/rank{rank}.pt")
    ddp.cleanup()
""")


@pytest.mark.parametrize("task", ["dcgan", "cgan", "cyclegan"])
def test_two_process_training_keeps_ranks_identical(task, tmp_path):
    out = tmp_path / "run"
    worker = tmp_path / "worker.py"
    worker.write_text(_WORKER)
    env = dict(os.environ, GAN_COURSE_DATA=str(tmp_path / "data"), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(worker), task, str(out)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    w0 = torch.load(out / "rank0.pt", weights_only=True)
    w1 = torch.load(out / "rank1.pt", weights_only=True)
    assert w0.keys() == w1.keys()
    changed = False
    for name in w0:
        for key, t in w0[name].items():
            assert torch.equal(t, w1[name][key]), f"{name}.{key} differs between ranks"
    # and training did something: weights differ from the untrained initialisation
    from gan_course.config import get_config
    from gan_course.training.tasks import build_task

    init = build_task(get_config(task, "smoke"), torch.device("cpu"))
    for name, m in init.models.items():
        for key, t in m.state_dict().items():
            changed |= t.is_floating_point() and not torch.equal(t, w0[name][key])
    assert changed
    assert (out / "checkpoint.pt").is_file()


# ----------------------------------------------------------------------------- long runs
# The CLI itself, with each step slowed down after step SLOW_AFTER (and a marker file written)
# so that the test can send SIGTERM while the run is in the middle of an epoch.
_CLI_WORKER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from gan_course.cli import main
    from gan_course.training import runs

    out, slow_after, extra = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    real_build = runs.build_task

    def build(cfg, device):
        task = real_build(cfg, device)
        step, calls = task.step, [0]

        def slowed(batch):
            losses = step(batch)
            calls[0] += 1
            if slow_after and calls[0] >= slow_after:
                Path(out, "reached-" + os.environ["RANK"]).touch()
                time.sleep(1.0)
            return losses
        task.step = slowed
        return task

    runs.build_task = build
    sys.exit(main(["train", "dcgan", "--profile", "smoke", "--epochs", "3", "--out", out,
                   "--no-progress", "--device", "cpu", *extra]))
""")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(tmp_path, worker_args, env=None, nnodes=1, node_rank=0, port=None, nproc=2):
    worker = tmp_path / "cli_worker.py"
    worker.write_text(_CLI_WORKER)
    env = {**os.environ, "GAN_COURSE_DATA": str(tmp_path / "data"), "OMP_NUM_THREADS": "1",
           **(env or {})}
    if nnodes == 1:
        where = ["--standalone"]
    else:
        where = [f"--nnodes={nnodes}", f"--node-rank={node_rank}", "--master-addr=127.0.0.1",
                 f"--master-port={port}"]
    cmd = [sys.executable, "-m", "torch.distributed.run", *where, f"--nproc-per-node={nproc}",
           str(worker), *[str(a) for a in worker_args]]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _models(path):
    from gan_course.training.checkpoint import load_checkpoint

    return load_checkpoint(path)["task_state"]["models"]


def _assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for name in a:
        for key, t in a[name].items():
            assert torch.equal(t, b[name][key]), f"{name}.{key} differs"


@pytest.mark.slow
def test_sigterm_to_torchrun_mid_epoch_then_resume_equals_a_straight_run(tmp_path):
    """kill -TERM the torchrun agent in the middle of an epoch: it forwards SIGTERM to its
    workers, which finish the step, save and exit; --resume then ends with exactly the weights
    of an uninterrupted 2-process run (every rank's noise stream is in the checkpoint)."""
    import signal
    import time

    from gan_course.training.checkpoint import load_checkpoint

    straight, cut = tmp_path / "straight", tmp_path / "cut"
    proc = _torchrun(tmp_path, [straight, 0])
    out, _ = proc.communicate(timeout=400)
    assert proc.returncode == 0, out[-3000:]

    proc = _torchrun(tmp_path, [cut, 5])
    deadline = time.monotonic() + 300
    while not all((cut / f"reached-{r}").exists() for r in (0, 1)):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0][-3000:]
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0  # stopped, not finished
    assert "SIGTERM: finishing this step and saving a checkpoint" in out, out[-3000:]
    state = load_checkpoint(cut / "checkpoint.pt")
    # dcgan smoke on 2 processes: 4 steps per epoch, 12 in all; saved mid-epoch, after step 5
    assert 5 <= state["global_step"] < 12 and state["batch_in_epoch"] > 0, state["global_step"]
    assert len(state["rng_per_rank"]) == 2

    proc = _torchrun(tmp_path, [cut, 0, "--resume"])
    out, _ = proc.communicate(timeout=400)
    assert proc.returncode == 0, out[-3000:]
    assert load_checkpoint(cut / "checkpoint.pt")["global_step"] == 12
    _assert_same_weights(_models(straight / "checkpoint.pt"), _models(cut / "checkpoint.pt"))


@pytest.mark.slow
def test_two_nodes_without_a_shared_filesystem(tmp_path):
    """Two torchrun 'nodes' on this machine, each with its own data and output folder (as two
    machines without a shared filesystem): each node prepares its data once, writes its own
    checkpoint, and both resume from it to identical weights."""
    def launch(extra):
        port = _free_port()
        procs = [_torchrun(tmp_path / f"node{n}", [tmp_path / f"node{n}" / "run", 0, *extra],
                           env={"GAN_COURSE_DATA": str(tmp_path / f"node{n}" / "data")},
                           nnodes=2, node_rank=n, port=port, nproc=1) for n in (0, 1)]
        outs = [p.communicate(timeout=400)[0] for p in procs]
        for p, out in zip(procs, outs):
            assert p.returncode == 0, out[-3000:]
        return outs

    for n in (0, 1):
        (tmp_path / f"node{n}").mkdir()
    outs = launch(["--epochs", "1"])
    assert "split over 2 processes (8 each)" in outs[0]
    for n in (0, 1):
        assert any((tmp_path / f"node{n}" / "data" / "cache").iterdir())  # built on each node
    ckpts = [tmp_path / f"node{n}" / "run" / "checkpoint.pt" for n in (0, 1)]
    _assert_same_weights(_models(ckpts[0]), _models(ckpts[1]))

    outs = launch(["--epochs", "2", "--resume"])
    assert "Resuming dcgan" in outs[0]
    from gan_course.training.checkpoint import load_checkpoint

    assert [load_checkpoint(c)["global_step"] for c in ckpts] == [8, 8]
    _assert_same_weights(_models(ckpts[0]), _models(ckpts[1]))
