"""Seed x thread sweep of the live demo trainings: does every run learn, on every seed?

    python benchmarks/sweep_demo.py                                 # fashion + dcgan, seeds 0 1 2, threads 1 2
    python benchmarks/sweep_demo.py --tasks dcgan --seeds 0 --threads 1
    python benchmarks/sweep_demo.py --json sweep.json --figs figs/  # numbers + each run's last sample grid

Each run trains the task's ``demo`` config (only ``seed`` changed) in a fresh subprocess with
``OMP_NUM_THREADS`` / ``torch.set_num_threads`` = the thread count, timing the training alone
(wall seconds and CPU seconds via ``time.process_time``; the data is drawn before the clock
starts). Its checkpoint is then evaluated with :func:`gan_course.evaluation.evaluate` (held-out
judges, 1,000 samples, the generator EMA when the config keeps one) beside the untrained
generator with the same seed. The table shows, per run, each sweep metric as ``trained /
untrained`` and whether the trained generator beats the untrained one on **every** sweep metric
(issue 12's requirement for the live demo):

=========  =====================================================
fashion    garment TV (lower), classes >= 4 % (higher), KID (lower)
dcgan      hair TV (lower), glasses TV (lower), KID (lower)
cgan       accuracy of the worse label, flip rate (higher), KID (lower)
cyclegan   domain black->blond, domain blond->black (higher), oracle L1 A->B and B->A (lower)
=========  =====================================================

This is a benchmark, not a test: it takes minutes per run (about 2.5 min of training per run on
one core). Runs go one after another (never two trainings at once, so timings are not disturbed
by the sweep itself); the toy data and judges are cached under ``--data-root``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/sweep_demo.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REPO = Path(__file__).resolve().parent.parent
SWEEP_METRICS = {
    "fashion": ("garment TV", "classes >= 4 %", "KID"),
    "dcgan": ("hair TV", "glasses TV", "KID"),
    "cgan": ("accuracy, worse label", "flip rate", "KID"),
    "cyclegan": ("domain black->blond", "domain blond->black", "oracle L1 A->B",
                 "oracle L1 B->A"),
}


def _worker(task: str, seed: int, threads: int, out: str) -> None:
    """Train one demo run in this (fresh) process and write ``out/timing.json``."""
    import torch

    torch.set_num_threads(threads)
    from gan_course.config import get_config
    from gan_course.data import load_data
    from gan_course.training import build_task, fit

    cfg = get_config(task, "demo", seed=seed)
    data = load_data(cfg)  # drawn/decoded before the clock starts
    wall, cpu = time.perf_counter(), time.process_time()
    history = fit(build_task(cfg, "cpu"), data, out_dir=out, progress=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    Path(out, "timing.json").write_text(json.dumps({
        "wall_s": wall, "cpu_s": cpu, "steps": len(history), "cpu_s_per_step": cpu / len(history),
        "threads": threads, "seed": seed, "config": cfg.to_dict()}))


def run_one(task: str, seed: int, threads: int, out_root: Path, n: int, env: dict,
            reuse: bool = False) -> dict:
    """Train (subprocess) and evaluate one run; returns its timing and metric rows.

    ``reuse``: a run folder with a finished training (``timing.json``) is evaluated again
    instead of retrained (to finish an interrupted sweep)."""
    out = out_root / f"{task}-seed{seed}-threads{threads}"
    if not (reuse and (out / "timing.json").is_file()):
        if out.exists():
            shutil.rmtree(out)  # a sweep trains from scratch
        env = {**env, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", task, str(seed),
               str(threads), str(out)]
        proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"training {task} seed {seed} threads {threads} failed:\n"
                               f"{proc.stderr[-3000:]}")
    timing = json.loads((out / "timing.json").read_text())
    import torch

    from gan_course.evaluation import evaluate

    torch.set_num_threads(1)
    result = evaluate(task, out / "checkpoint.pt", n=n, device="cpu", verbose=False)
    rows = {r["name"]: r for r in result["rows"]}
    picked = {m: rows[m] for m in SWEEP_METRICS[task]}
    return {"task": task, "seed": seed, "threads": threads, "out": str(out), **timing,
            "metrics": picked, "all_rows": result["rows"], "judges": result["judges"],
            "beats_all": all(r["beats_untrained"] for r in picked.values())}


def _fmt(v: float) -> str:
    return f"{int(v)}" if float(v).is_integer() else f"{v:.3f}"


def markdown(runs: list[dict]) -> str:
    """One markdown table per task: each run's time and sweep metrics, trained / untrained."""
    lines = []
    for task in dict.fromkeys(r["task"] for r in runs):
        names = SWEEP_METRICS[task]
        lines += [f"**{task}** (trained / untrained; the judges' held-out accuracy: " + ", ".join(
            f"{k} {v['heldout_accuracy']:.1%}" for k, v in
            next(r for r in runs if r["task"] == task)["judges"].items()) + ")", "",
            "| seed | threads | wall s | CPU s | CPU s/step | " + " | ".join(names)
            + " | beats untrained on all |",
            "|---:|---:|---:|---:|---:|" + "---|" * len(names) + "---|"]
        for r in (r for r in runs if r["task"] == task):
            cells = [f"{_fmt(r['metrics'][m]['trained'])} / {_fmt(r['metrics'][m]['untrained'])}"
                     for m in names]
            lines.append(f"| {r['seed']} | {r['threads']} | {r['wall_s']:.0f} | {r['cpu_s']:.0f} | "
                         f"{r['cpu_s_per_step']:.3f} | " + " | ".join(cells)
                         + f" | {'yes' if r['beats_all'] else '**no**'} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    """Run the sweep, print the markdown table, optionally write JSON and sample grids."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", nargs="+", default=["fashion", "dcgan"], choices=sorted(SWEEP_METRICS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--n", type=int, default=1000, help="samples per evaluation set (default 1000)")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "sweep",
                   help="run folders (checkpoints, samples) go here")
    p.add_argument("--data-root", type=Path, default=None,
                   help="GAN_COURSE_DATA for the runs (default: the usual data root)")
    p.add_argument("--json", type=Path, default=None, help="write every number here")
    p.add_argument("--figs", type=Path, default=None,
                   help="copy each run's last sample grid here as TASK-seedS-threadsT.png")
    p.add_argument("--reuse", action="store_true",
                   help="evaluate finished runs found in --out again instead of retraining them")
    p.add_argument("--passive-wait", action="store_true",
                   help="OMP_WAIT_POLICY=PASSIVE for the runs: on a machine busy with other "
                        "programs, spinning OpenMP threads waste CPU (measured: 8x the CPU "
                        "seconds of one thread); the numbers computed do not change")
    p.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        task, seed, threads, out = args.worker
        _worker(task, int(seed), int(threads), out)
        return []
    env = {**os.environ, "GAN_COURSE_DEVICE": "cpu",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    if args.passive_wait:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    if args.data_root:
        env["GAN_COURSE_DATA"] = str(args.data_root)
        os.environ["GAN_COURSE_DATA"] = str(args.data_root)
    runs = []
    for task in args.tasks:
        for seed in args.seeds:
            for threads in args.threads:
                r = run_one(task, seed, threads, args.out, args.n, env, args.reuse)
                runs.append(r)
                print(f"{task} seed {seed} threads {threads}: {r['wall_s']:.0f} s wall, "
                      f"{r['cpu_s']:.0f} CPU-s, beats untrained on all: {r['beats_all']}",
                      flush=True)
                if args.figs:
                    grids = sorted(Path(r["out"], "samples").glob("epoch_*.png"))
                    args.figs.mkdir(parents=True, exist_ok=True)
                    shutil.copy(grids[-1], args.figs / f"{task}-seed{seed}-threads{threads}.png")
    print()
    print(markdown(runs))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(runs, indent=2))
    return runs


if __name__ == "__main__":
    main()
