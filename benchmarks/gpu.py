"""GPU throughput of every model at its ``full`` (book) size, and what the book's runs would take.

    python benchmarks/gpu.py                 # on CUDA: ~2-5 minutes on one modern GPU
    python benchmarks/gpu.py --json out.json # also write every number
    python benchmarks/gpu.py --dry-run       # CPU, smoke sizes, seconds: checks the script runs

One run, five parts, each printed as a markdown table:

1. **Models** - each model of the course at its ``full`` profile size (the book's widths, image
   sizes and batches), mixed precision as training uses it (bfloat16 where the GPU supports it):
   images/s of the bare training step on a batch already on the GPU, images/s of the real loop
   (:func:`gan_course.training.fit` over uint8 :class:`~gan_course.data.batches.Batches`:
   data path, loss reads, everything but the final checkpoint), peak GPU memory, and the
   projected wall time of the book's run at the loop's speed against the targets of issue 14
   (one H200): DCGAN 20 epochs x 63,632 images <= 2 min, cGAN 100 epochs x 4,500 images at
   256 px <= 5 min, CycleGAN one epoch of 48,472 steps of batch 1 at 256 px <= 20 min.
2. **Memory layout** - the step in channels_last (NHWC) against contiguous (NCHW), per model
   (training uses channels_last on CUDA; this says whether that is right for each model).
3. **float16** - the step with float16 autocast + GradScaler (what a T4 or V100 trains in):
   images/s and where each loss scale ended (65,536 at the start; every halving is a skipped
   update).
4. **Data** - batches/s of the uint8 pipeline alone: dataset resident on the GPU, and gathered
   by the prefetch thread into pinned memory.
5. **DDP** - the loop on all visible GPUs (one process each, NCCL), global batch = the book's
   batch split across them; skipped with one GPU.

``--dry-run`` runs every part on the CPU with the ``smoke`` sizes and 2 gloo processes for the
DDP part: the numbers mean nothing, the script is ready. Seconds measured with
``torch.cuda.synchronize()`` around timed blocks; the first calls (cuDNN autotuning) are not
timed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import socket
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/gpu.py`: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

MODELS = ("fashion", "dcgan", "cgan", "cyclegan")

# The book's full runs (issue 14): images per epoch of the real set, epochs, and the target
# wall time on one H200. CycleGAN: the issue counts 48,472 steps of batch 1 (the black-haired
# images); the course's paired epoch stops at the smaller domain, 29,980 blond images.
BOOK_RUNS = {
    "fashion": {"images": 60_000, "epochs": 50, "target_s": None,
                "what": "50 epochs x 60,000"},
    "dcgan": {"images": 63_632, "epochs": 20, "target_s": 120,
              "what": "20 epochs x 63,632"},
    "cgan": {"images": 4_500, "epochs": 100, "target_s": 300,
             "what": "100 epochs x 4,500 @256px"},
    "cyclegan": {"images": 48_472, "epochs": 1, "target_s": 1200,
                 "what": "48,472 steps of 1 @256px"},
}

SETTINGS = {  # steps per measurement
    # loop: steps (k1, k2) timed inside fit, multiples of log_every (the loss reads)
    "gpu": {"profile": "full", "warmup": 5, "steps": 30, "log_every": 20, "loop": (20, 60),
            "probe_steps": 15, "data_batches": 50},
    "dry": {"profile": "smoke", "warmup": 1, "steps": 2, "log_every": 1, "loop": (1, 3),
            "probe_steps": 1, "data_batches": 3},
}


# ----------------------------------------------------------------------------- helpers
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _config(task: str, mode: dict, world: int = 1, **changes):
    from gan_course.config import get_config

    cfg = get_config(task, mode["profile"], data_source="toy", log_every=mode["log_every"],
                     **changes)
    if cfg.batch_size < world:  # CycleGAN's batch of 1 cannot be split: one image per GPU
        cfg = replace(cfg, batch_per_rank=True)
    return cfg


def synthetic_data(cfg, n: int, world: int = 1):
    """uint8 images (and labels) of the config's shape in Batches, like the real caches."""
    from gan_course.data.batches import Batches, PairedBatches

    g = torch.Generator().manual_seed(0)
    shape = (784,) if cfg.task == "fashion" else (3, cfg.image_size, cfg.image_size)
    images = torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=g)
    classes = 10 if cfg.task == "fashion" else cfg.num_classes
    labels = torch.randint(0, classes, (n,), generator=g)
    batch = cfg.global_batch(world)
    if cfg.task == "cyclegan":
        half = n // 2
        return PairedBatches(Batches([images[:half], labels[:half]], batch),
                             Batches([images[half:], labels[half:]], batch))
    return Batches([images, labels], batch)


def _device_batch(data, device):
    """One batch on the device, converted, for timing the bare step."""
    return next(data.epoch(torch.Generator().manual_seed(1), device))


def time_steps(task, batch, warmup: int, steps: int) -> float:
    """Seconds per training step on a fixed device batch (after ``warmup`` untimed steps)."""
    for _ in range(warmup):
        task.step(batch)
    _sync(task.device)
    t0 = time.perf_counter()
    for _ in range(steps):
        task.step(batch)
    _sync(task.device)
    return (time.perf_counter() - t0) / steps


def time_loop(task, data, k1: int, k2: int) -> float:
    """Seconds per step of :func:`fit` itself - data path, loss reads, everything but the
    start and the final checkpoint: the time from the start of step ``k1 + 1`` to the start
    of step ``k2 + 1``. Both are right after a loss read (``k1``, ``k2`` multiples of the
    config's ``log_every``), when the host has waited for the GPU, so nothing queued is missed.
    """
    from gan_course.training.loop import fit

    starts, step = [], task.step

    def timed(batch):
        starts.append(time.perf_counter())
        return step(batch)

    task.step = timed
    try:
        with tempfile.TemporaryDirectory() as out:
            fit(task, data, out_dir=out, progress=False, max_steps=k2 + 1)
    finally:
        task.step = step
    return (starts[k2] - starts[k1]) / (k2 - k1)


def _images_per_step(cfg, world: int = 1) -> int:
    return cfg.global_batch(world)


def projected_s(task_name: str, cfg, step_s: float, world: int = 1) -> float:
    """Wall time of the book's run at ``step_s`` per step: its steps = epochs x (images per
    epoch // global batch)."""
    book = BOOK_RUNS[task_name]
    return book["epochs"] * (book["images"] // _images_per_step(cfg, world)) * step_s


def _fmt_s(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _peak_mb(device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def _reset_peak(device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


@contextlib.contextmanager
def forced_fp16():
    """Train as a GPU without bfloat16 would (T4, V100): float16 autocast + GradScaler."""
    from gan_course.training import amp

    real = amp._bf16_ok
    amp._bf16_ok = lambda index: False
    try:
        yield
    finally:
        amp._bf16_ok = real


# ----------------------------------------------------------------------------- parts
def bench_models(device, mode: dict) -> list[dict]:
    """Part 1: step and loop throughput, peak memory, projected book runs."""
    from gan_course.training.amp import precision
    from gan_course.training.tasks import build_task

    rows = []
    for name in MODELS:
        cfg = _config(name, mode)
        _reset_peak(device)
        task = build_task(cfg, device)
        k1, k2 = mode["loop"]
        domains = 2 if name == "cyclegan" else 1
        data = synthetic_data(cfg, cfg.global_batch() * (k2 + 2) * domains)
        step_s = time_steps(task, _device_batch(data, device), mode["warmup"], mode["steps"])
        loop_s = time_loop(task, data, k1, k2)
        b = cfg.global_batch()
        proj = projected_s(name, cfg, loop_s)
        target = BOOK_RUNS[name]["target_s"]
        dtype = precision(device, cfg.amp)
        rows.append({
            "model": name, "image_size": cfg.image_size if name != "fashion" else 28,
            "batch": b, "precision": str(dtype).replace("torch.", "") if dtype else "float32",
            "step_s": step_s, "step_img_s": b / step_s, "loop_s": loop_s,
            "loop_img_s": b / loop_s, "peak_mb": _peak_mb(device),
            "book_run": BOOK_RUNS[name]["what"], "projected_s": proj, "target_s": target,
            "met": None if target is None else bool(proj <= target)})
        del task, data
    return rows


def bench_layout(device, mode: dict) -> list[dict]:
    """Part 2: the step in channels_last vs contiguous memory format."""
    from gan_course.training.tasks import build_task

    rows = []
    for name in MODELS[1:]:
        times = {}
        for nhwc in (False, True):
            cfg = _config(name, mode, channels_last=nhwc)
            task = build_task(cfg, device)
            data = synthetic_data(cfg, cfg.global_batch() * (4 if name == "cyclegan" else 2))
            times[nhwc] = time_steps(task, _device_batch(data, device), mode["warmup"],
                                     mode["probe_steps"])
            del task
        rows.append({"model": name, "nchw_s": times[False], "nhwc_s": times[True],
                     "nhwc_speedup": times[False] / times[True]})
    return rows


def bench_fp16(device, mode: dict) -> list[dict]:
    """Part 3: float16 + GradScaler: speed and where the loss scales ended."""
    from gan_course.training.tasks import build_task

    rows = []
    with forced_fp16():
        for name in MODELS:
            cfg = _config(name, mode)
            task = build_task(cfg, device)
            data = synthetic_data(cfg, cfg.global_batch() * (4 if name == "cyclegan" else 2))
            n = mode["warmup"] + mode["probe_steps"]
            step_s = time_steps(task, _device_batch(data, device), mode["warmup"],
                                mode["probe_steps"])
            scales = {k: float(s.get_scale()) if s.is_enabled() else None
                      for k, s in task.scalers.items()}
            rows.append({"model": name, "step_img_s": cfg.global_batch() / step_s,
                         "updates": n, "scales": scales})
            del task
    return rows


def bench_data(device, mode: dict) -> list[dict]:
    """Part 4: the uint8 data path alone, for the DCGAN's batches."""
    cfg = _config("dcgan", mode)
    n = cfg.global_batch() * mode["data_batches"]
    data = synthetic_data(cfg, n)
    rows = []
    for label, how in (("resident on the device", {"resident": True}),
                       ("prefetch thread (pinned on CUDA)", {"resident": False,
                                                             "prefetch": True}),
                       ("direct (no thread)", {"resident": False, "prefetch": False})):
        list(data.epoch(torch.Generator().manual_seed(0), device, **how))  # warm-up / upload
        _sync(device)
        t0 = time.perf_counter()
        steps = sum(1 for _ in data.epoch(torch.Generator().manual_seed(0), device, **how))
        _sync(device)
        dt = time.perf_counter() - t0
        rows.append({"path": label, "batch": cfg.global_batch(), "batches_s": steps / dt,
                     "img_s": steps * cfg.global_batch() / dt})
    return rows


def _ddp_worker(rank: int, world: int, port: int, mode: dict, device_type: str,
                out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank), OMP_NUM_THREADS="1")
    from gan_course.training import distributed as ddp
    from gan_course.training.tasks import build_task

    ddp.init_distributed(device_type)
    device = torch.device("cuda", rank) if device_type == "cuda" else torch.device("cpu")
    if device_type == "cpu":
        torch.set_num_threads(1)
    rows = []
    try:
        for name in MODELS[1:]:
            cfg = _config(name, mode, world)
            task = build_task(cfg, device)
            k1, k2 = mode["loop"]
            b = cfg.global_batch(world)
            data = synthetic_data(cfg, b * (k2 + 2) * (2 if name == "cyclegan" else 1), world)
            loop_s = time_loop(task, data, k1, k2)
            rows.append({"model": name, "gpus": world, "global_batch": b,
                         "batch_per_rank": cfg.batch_per_rank, "loop_s": loop_s,
                         "img_s": b / loop_s, "projected_s": projected_s(name, cfg, loop_s,
                                                                          world)})
            del task
    finally:
        ddp.cleanup()
    if rank == 0:
        Path(out).write_text(json.dumps(rows))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_ddp(device, mode: dict, world: int) -> list[dict]:
    """Part 5: the loop on ``world`` processes (one per GPU; gloo on CPU for --dry-run)."""
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "ddp.json")
        mp.start_processes(_ddp_worker, args=(world, _free_port(), mode, device.type, out),
                           nprocs=world, start_method="spawn")
        return json.loads(Path(out).read_text())


# ----------------------------------------------------------------------------- report
def _table(head: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def report(res: dict) -> str:
    """All parts as markdown."""
    out = [f"## GPU benchmark{' (DRY RUN: CPU, smoke sizes - the numbers mean nothing)' if res['dry_run'] else ''}",
           "", f"{res['env']}", ""]
    single = {r["model"]: r for r in res["models"]}
    out += ["### 1. Models at full size (one device)", "", _table(
        ["model", "size", "batch", "precision", "step img/s", "loop img/s", "peak GPU mem",
         "book run", "projected", "target", "met"],
        [[r["model"], f"{r['image_size']}px", r["batch"], r["precision"],
          f"{r['step_img_s']:,.0f}", f"{r['loop_img_s']:,.0f}",
          "-" if r["peak_mb"] is None else f"{r['peak_mb']:,.0f} MB", r["book_run"],
          _fmt_s(r["projected_s"]), _fmt_s(r["target_s"]),
          {True: "yes", False: "NO", None: "-"}[r["met"]]] for r in res["models"]]), ""]
    out += ["### 2. Memory layout: channels_last (NHWC) vs contiguous (NCHW)", "", _table(
        ["model", "NCHW step", "NHWC step", "NHWC speed-up"],
        [[r["model"], f"{r['nchw_s'] * 1e3:.1f} ms", f"{r['nhwc_s'] * 1e3:.1f} ms",
          f"{r['nhwc_speedup']:.2f}x"] for r in res["layout"]]), ""]
    out += ["### 3. float16 + GradScaler (a GPU without bfloat16)", "", _table(
        ["model", "step img/s", "vs default", "loss scales after N updates (start 65,536)"],
        [[r["model"], f"{r['step_img_s']:,.0f}",
          f"{r['step_img_s'] / single[r['model']]['step_img_s']:.2f}x",
          ", ".join(f"{k}: {'off' if v is None else f'{v:,.0f}'}" for k, v in r["scales"].items())
          + f" (N = {r['updates']})"] for r in res["fp16"]]), ""]
    out += ["### 4. Data path alone (DCGAN batches, uint8 -> [-1, 1] on the device)", "", _table(
        ["path", "batch", "batches/s", "img/s"],
        [[r["path"], r["batch"], f"{r['batches_s']:,.0f}", f"{r['img_s']:,.0f}"]
         for r in res["data"]]), ""]
    if res["ddp"]:
        out += [f"### 5. DDP on {res['ddp'][0]['gpus']} processes (global batch split)", "",
                _table(["model", "processes", "global batch", "loop img/s",
                        "vs one device", "projected book run"],
                       [[r["model"], r["gpus"], f"{r['global_batch']}"
                         + (" (1 per process)" if r["batch_per_rank"] else ""),
                         f"{r['img_s']:,.0f}",
                         f"{r['img_s'] / single[r['model']]['loop_img_s']:.2f}x",
                         _fmt_s(r["projected_s"])] for r in res["ddp"]]), ""]
    else:
        out += ["### 5. DDP", "", f"skipped: {res['ddp_note']}", ""]
    out.append(f"total {res['wall_s']:.0f} s")
    return "\n".join(out)


def _env(device) -> str:
    from gan_course.training.amp import precision

    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        cap = ".".join(map(str, torch.cuda.get_device_capability(device)))
        return (f"torch {torch.__version__}, {torch.cuda.device_count()} x {name} (sm {cap}), "
                f"autocast {precision(device)}, cudnn.benchmark on")
    return f"torch {torch.__version__}, CPU ({torch.get_num_threads()} threads), no autocast"


def main(argv: list[str] | None = None) -> dict:
    """Run every part, print the markdown report, return (and optionally write) the results."""
    ap = argparse.ArgumentParser(prog="python benchmarks/gpu.py", description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true",
                    help="CPU, smoke sizes, 2 gloo processes for DDP: checks the script in seconds")
    ap.add_argument("--json", type=Path, default=None, help="write all numbers here")
    ap.add_argument("--no-ddp", action="store_true", help="skip part 5")
    args = ap.parse_args(argv)
    if args.dry_run:
        device, mode = torch.device("cpu"), SETTINGS["dry"]
    else:
        if not torch.cuda.is_available():
            ap.error("no CUDA device here: run it on a GPU machine, or use --dry-run")
        device, mode = torch.device("cuda", 0), SETTINGS["gpu"]
    t0 = time.perf_counter()
    old_threads = torch.get_num_threads()
    if args.dry_run:
        torch.set_num_threads(1)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # the loop's own messages, not the report
            res = {"dry_run": args.dry_run, "env": _env(device), "settings": mode,
                   "models": bench_models(device, mode), "layout": bench_layout(device, mode),
                   "fp16": bench_fp16(device, mode),
                   "data": bench_data(device, mode), "ddp": [], "ddp_note": ""}
            world = 2 if args.dry_run else torch.cuda.device_count()
            if args.no_ddp:
                res["ddp_note"] = "--no-ddp"
            elif world < 2:
                res["ddp_note"] = ("one GPU visible (the multi-process path is tested on CPU "
                                   "with gloo: tests/test_ddp.py)")
            else:
                res["ddp"] = bench_ddp(device, mode, world)
    finally:
        torch.set_num_threads(old_threads)
    res["wall_s"] = time.perf_counter() - t0
    print(report(res))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
