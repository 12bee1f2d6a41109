"""Data-pipeline benchmark: toy-face generation speed and decode-once cache vs the textbook loader.

    python benchmarks/bench_data.py            # full: 5,000 faces, 4,096-image A/B, 5 repetitions
    python benchmarks/bench_data.py --quick    # a few seconds
    python benchmarks/bench_data.py --json results.json

Baseline (A) is the book's pipeline: ``ImageFolder(root, Compose([Resize((64, 64)), ToTensor(),
Normalize([.5]*3, [.5]*3)]))`` + ``DataLoader(batch_size=128, shuffle=True)``. Candidate (B) is
``build_cache(...).batches(128).epoch(generator)``. Both read the same toy JPEG files; A and B alternate so that
machine noise hits both equally; we report the median images/s of each and their ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch


def _epoch_images_per_s(batches) -> float:
    t0, n = time.perf_counter(), 0
    for x, _ in batches:
        n += x.shape[0]
    return n / (time.perf_counter() - t0)


def bench_toy_faces(n: int) -> dict:
    """Seconds to draw ``n`` faces at 64x64 on one core, and the figure scaled to 5,000."""
    from gan_course.data.toy import make_faces

    make_faces(8, 64)  # warm-up (grid caches, imports)
    t0, c0 = time.perf_counter(), time.process_time()
    make_faces(n, 64, seed=1)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    # CPU seconds too: on a shared machine wall time also counts other people's work.
    return {"faces": n, "seconds": dt, "cpu_seconds": cpu, "seconds_per_5000": dt * 5000 / n,
            "cpu_seconds_per_5000": cpu * 5000 / n, "budget_s": 15.0}


def bench_cache(n: int, reps: int, workdir: Path) -> dict:
    """Interleaved A/B of the textbook ImageFolder pipeline vs the decode-once cache."""
    from torch.utils.data import DataLoader
    from torchvision import transforms as T
    from torchvision.datasets import ImageFolder

    from gan_course.data.tensors import build_cache
    from gan_course.data.toy import write_anime

    root = write_anime(workdir / "anime", n, size=64)
    t0 = time.perf_counter()
    cache = build_cache(root, 64, cache_dir=workdir / "cache", verbose=False)
    build_s = time.perf_counter() - t0
    tf = T.Compose([T.Resize((64, 64)), T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)])
    loader = DataLoader(ImageFolder(str(root), transform=tf), batch_size=128, shuffle=True)
    a, b = [], []
    g = torch.Generator().manual_seed(0)
    for _ in range(reps):
        a.append(_epoch_images_per_s(loader))
        b.append(_epoch_images_per_s(cache.batches(128).epoch(g)))
    med_a, med_b = statistics.median(a), statistics.median(b)
    return {"images": n, "reps": reps, "cache_build_s": build_s,
            "textbook_images_per_s": med_a, "cache_images_per_s": med_b,
            "ratio": med_b / med_a, "target_ratio": 40.0, "textbook_all": a, "cache_all": b}


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmarks; returns the results dict (also written to ``--json PATH``)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # "one core": the budget is stated for a single core
    try:
        return _run(args)
    finally:
        torch.set_num_threads(threads)  # callers (benchmarks/run.py) keep their own setting


def _run(args: argparse.Namespace) -> dict:
    faces_n, cache_n, reps = (1000, 1024, 3) if args.quick else (5000, 4096, 5)
    results = {"quick": args.quick, "torch": torch.__version__}
    results["toy_faces"] = tf = bench_toy_faces(faces_n)
    print(f"toy faces @64: {tf['faces']:,} in {tf['seconds']:.2f} s "
          f"-> {tf['seconds_per_5000']:.2f} s wall / {tf['cpu_seconds_per_5000']:.2f} s CPU "
          f"per 5,000 (budget {tf['budget_s']:.0f} s)")
    with tempfile.TemporaryDirectory() as tmp:
        results["cache"] = c = bench_cache(cache_n, reps, Path(tmp))
    print(f"cache build: {c['images']:,} images in {c['cache_build_s']:.2f} s")
    print(f"textbook ImageFolder+DataLoader: {c['textbook_images_per_s']:,.0f} images/s (median)")
    print(f"decode-once cache batches:        {c['cache_images_per_s']:,.0f} images/s (median)")
    print(f"ratio: {c['ratio']:.1f}x (target >= {c['target_ratio']:.0f}x)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
