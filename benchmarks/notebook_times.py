"""Wall time of the training notebooks, executed top to bottom as a student runs them.

    python benchmarks/notebook_times.py                               # 04-07, seeds 0 1 2, threads 1 2
    python benchmarks/notebook_times.py --notebooks 04 --seeds 0 --threads 2
    python benchmarks/notebook_times.py --json times.json --limit 240 # flag runs over 4 min

Each run executes a fresh copy of the notebook in a fresh kernel (``nbclient``, the engine of
``jupyter nbconvert --execute``) under ``GAN_COURSE_PROFILE=demo`` with ``OMP_NUM_THREADS`` =
the thread count, the setup cell's ``setup(seed=0)`` replaced by the run's seed, and a new empty
runs folder (``GAN_COURSE_RUNS``), so the live training starts from nothing, as on a first
visit. The notebook files themselves are not touched. Datasets and judges come from the usual data
folder: the first run on a machine also draws the toy data and trains the held-out judges (a
one-time cost; ``--warm-up`` executes each notebook once, untimed, before the timed runs).

Reported per run: the whole notebook's wall time, the wall time of its training cell (the one that
calls ``fit(``) and of everything else. This is a benchmark, not a test: runs go one after
another, never two at once, and on a shared machine the times are only as quiet as the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parent.parent
TRAINING_NOTEBOOKS = {
    "04": "04_gan_clothing.ipynb",
    "05": "05_dcgan_anime_faces.ipynb",
    "06": "06_cgan_wgan_gp_eyeglasses.ipynb",
    "07": "07_cyclegan_hair.ipynb",
}


def _cell_seconds(cell: dict) -> float | None:
    """Wall seconds nbclient recorded for one executed code cell (None when absent)."""
    meta = cell.get("metadata", {}).get("execution", {})
    start, end = meta.get("iopub.execute_input"), meta.get("shell.execute_reply")
    if not (start and end):
        return None
    parse = lambda s: dt.datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def with_seed(nb, seed: int):
    """The notebook with its setup cell's ``setup(seed=0)`` changed to ``seed`` (a copy)."""
    import copy

    nb = copy.deepcopy(nb)
    pattern = re.compile(r"setup\(seed=\d+")
    for cell in nb.cells:
        if cell.cell_type == "code" and pattern.search(cell.source):
            cell.source = pattern.sub(f"setup(seed={seed}", cell.source, count=1)
            return nb
    raise ValueError("no setup(seed=...) call found in the notebook's code cells")


def run_one(name: str, seed: int, threads: int, timeout: int = 3600) -> dict:
    """Execute one notebook once; returns its wall time and its training cell's (seconds)."""
    import nbformat
    from nbclient import NotebookClient

    path = REPO / "notebooks" / TRAINING_NOTEBOOKS[name]
    nb = with_seed(nbformat.read(path, as_version=4), seed)
    with tempfile.TemporaryDirectory(prefix="nbtime-runs-") as runs, mock.patch.dict(
            os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
            GAN_COURSE_PROFILE="demo", GAN_COURSE_RUNS=runs):  # the kernel inherits these
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        start = time.perf_counter()
        client.execute()
        wall = time.perf_counter() - start
    train_s = max((s for c in nb.cells if c.cell_type == "code" and "fit(" in c.source
                   if (s := _cell_seconds(c)) is not None), default=0.0)
    return {"notebook": name, "seed": seed, "threads": threads, "wall_s": round(wall, 1),
            "training_cell_s": round(train_s, 1), "rest_s": round(wall - train_s, 1)}


def markdown(runs: list[dict], limit: float | None) -> str:
    """One table: a row per run, wall times in seconds."""
    lines = ["| notebook | seed | threads | notebook wall s | training cell s | rest s |"
             + (f" ≤ {limit:.0f} s |" if limit else ""),
             "|---|---:|---:|---:|---:|---:|" + ("---|" if limit else "")]
    for r in runs:
        lines.append(f"| {TRAINING_NOTEBOOKS[r['notebook']]} | {r['seed']} | {r['threads']} | "
                     f"{r['wall_s']:.0f} | {r['training_cell_s']:.0f} | {r['rest_s']:.0f} |"
                     + ((" yes |" if r["wall_s"] <= limit else " **no** |") if limit else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    """Run the notebooks, print the markdown table, optionally write JSON."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--notebooks", nargs="+", default=list(TRAINING_NOTEBOOKS),
                   choices=list(TRAINING_NOTEBOOKS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--limit", type=float, default=240.0,
                   help="mark runs longer than this many seconds (default 240 = 4 min; 0: off)")
    p.add_argument("--json", type=Path, default=None, help="write every number here")
    p.add_argument("--warm-up", action="store_true",
                   help="execute each notebook once first, untimed (draws data, trains judges)")
    args = p.parse_args(argv)
    if args.warm_up:
        for name in args.notebooks:
            run_one(name, args.seeds[0], max(args.threads))
    runs = []
    for name in args.notebooks:
        for seed in args.seeds:
            for threads in args.threads:
                r = run_one(name, seed, threads)
                runs.append(r)
                print(f"{TRAINING_NOTEBOOKS[name]} seed {seed} threads {threads}: "
                      f"{r['wall_s']:.0f} s ({r['training_cell_s']:.0f} s training)", flush=True)
                if args.json:  # after every run: an interrupted sweep keeps what it measured
                    args.json.parent.mkdir(parents=True, exist_ok=True)
                    args.json.write_text(json.dumps(runs, indent=2))
    print()
    print(markdown(runs, args.limit or None))
    return runs


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
