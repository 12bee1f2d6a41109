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
