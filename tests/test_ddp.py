"""torchrun with 2 CPU processes (gloo): training finishes and both ranks hold identical weights."""

import os
import subprocess
import sys

import pytest
import torch


@pytest.mark.parametrize("task", ["dcgan", "cgan"])
def test_two_process_training_keeps_ranks_identical(task, tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, GAN_COURSE_DATA=str(tmp_path / "data"), GAN_COURSE_PROFILE="smoke",
               GAN_COURSE_DEVICE="cpu", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "gan_course", "train", task, "--out", str(out), "--max-steps", "3",
           "--no-progress", "--save-rank-weights"]
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

    torch.manual_seed(get_config(task, "smoke").seed)
    init = build_task(task, get_config(task, "smoke"), torch.device("cpu"))
    for name, m in init.models.items():
        for key, t in m.state_dict().items():
            changed |= t.is_floating_point() and not torch.equal(t, w0[name][key])
    assert changed
    assert (out / "checkpoint.pt").is_file()
