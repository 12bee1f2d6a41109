"""Train, evaluate and export the generators shipped in ``gan_course/pretrained`` (release step).

For each task: ``python -m gan_course train TASK --profile long --device cpu`` (one thread, so
the run is reproducible), ``python -m gan_course evaluate TASK --checkpoint ... --json ...``,
then :func:`gan_course.pretrained.export` writes ``TASK.safetensors`` + ``TASK.json`` with the
exact command and the numbers. ``tests/test_pretrained.py`` fails when a recipe changed and a
shipped generator was not retrained.

    python .ci/ship_pretrained.py fashion dcgan cgan cyclegan   # tens of CPU minutes each
    python .ci/ship_pretrained.py dcgan --work /tmp/ship        # where runs and data go
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def ship(task: str, work: Path) -> Path:
    """Train (or resume) the ``long`` run of ``task`` under ``work``, evaluate and export it."""
    env = dict(os.environ, OMP_NUM_THREADS="1", GAN_COURSE_DATA=str(work / "data"),
               GAN_COURSE_RUNS=str(work / "runs"))
    train = ["python", "-m", "gan_course", "train", task, "--profile", "long", "--device", "cpu"]
    subprocess.run([sys.executable, *train[1:], "--resume", "--no-progress"], cwd=REPO, env=env,
                   check=True)
    ckpt = work / "runs" / "long" / f"{task}-toy-seed0" / "checkpoint.pt"
    numbers = work / f"{task}-evaluate.json"
    subprocess.run([sys.executable, "-m", "gan_course", "evaluate", task, "--checkpoint",
                    str(ckpt), "--device", "cpu", "--json", str(numbers)], cwd=REPO, env=env,
                   check=True)
    sys.path.insert(0, str(REPO))
    from gan_course.pretrained import export

    metrics = json.loads(numbers.read_text())
    return export(ckpt, command="OMP_NUM_THREADS=1 " + " ".join(train),
                  metrics={"rows": metrics["rows"], "judges": metrics.get("judges"),
                           "n": metrics["n"]})


def main(argv: list[str] | None = None) -> int:
    """Command line: the tasks to ship, and a work folder for their runs and data."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="+", choices=("fashion", "dcgan", "cgan", "cyclegan"))
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "ship",
                        help="folder for the training runs, toy data and judges")
    args = parser.parse_args(argv)
    for task in args.tasks:
        print(f"shipped {ship(task, args.work.resolve())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
