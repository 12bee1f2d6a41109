"""Course vs textbook: speed and memory of the data pipeline and the training steps.

    python benchmarks/run.py                 # default: every figure, <= 10 minutes on 2 CPU cores
    python benchmarks/run.py --quick         # tiny sizes, 1-2 repetitions, < 60 s (smoke test)
    python benchmarks/run.py --json out.json # where to write the results
    python -m benchmarks                     # same as benchmarks/run.py

Prints one table (every figure, its target, whether it is met) and writes all numbers to JSON
(default ``benchmarks/results/latest.json``). The baseline is :mod:`benchmarks.textbook`, a
faithful re-implementation of the book's code; the course side is what ``gan_course`` really runs
(:func:`gan_course.training.build_task` steps, :mod:`gan_course.data` caches). Every
comparison is timed interleaved in one process (see :mod:`benchmarks.common`); memory is measured
in a fresh subprocess per approach. See ``benchmarks/README.md`` for what each figure means.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/run.py`: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch

from benchmarks import common, textbook
from benchmarks.common import fmt_num

RESULTS = common.REPO / "benchmarks" / "results"

# Sizes per mode. default = the book's widths and batches where a figure names them, sized so
# the whole run stays under 10 minutes on a 2-core CPU; quick = tiny, for the test suite.
SETTINGS = {
    "default": {
        "data": {"argv": []},
        "dcgan": {"features": 64, "batch": 64, "reps": 5, "matmul_n": 1024, "matmul_number": 5},
        "cgan": {"img_size": 64, "features": 16, "batch": 16, "critic_iters": 5, "reps": 7},
        "cyclegan": {"img_size": 64, "features": 64, "num_residuals": 9,
                     "d_features": [64, 128, 256, 512], "batch": 1, "reps": 7},
        "memory": {"img_size": 256, "n": 512, "batch": 16, "lean_variant": True},
        "scaling": {"sizes": [1000, 2000, 4000, 8000], "features": 8, "batch": 64, "reps": 3},
        "demo": {"profile": "demo", "reps": 5},
        "epochs": {"profiles": ["smoke", "demo"], "tasks": ["fashion", "dcgan", "cgan", "cyclegan"],
                   "subprocess": True},
    },
    "quick": {
        "data": {"tiny": {"n": 128, "reps": 1}},
        "dcgan": {"features": 4, "batch": 8, "reps": 2, "matmul_n": 256, "matmul_number": 10},
        "cgan": {"img_size": 32, "features": 4, "batch": 4, "critic_iters": 5, "reps": 2},
        "cyclegan": {"img_size": 32, "features": 4, "num_residuals": 1, "d_features": [4, 8],
                     "batch": 1, "reps": 2},
        "memory": {"img_size": 64, "n": 32, "batch": 8, "lean_variant": False},
        "scaling": {"sizes": [32, 64, 128], "features": 4, "batch": 16, "reps": 1},
        "demo": {"profile": "smoke", "reps": 2},
        "epochs": {"profiles": ["smoke"], "tasks": ["dcgan"], "subprocess": False},
    },
}


def _row(key: str, figure: str, *, value: float | None, unit: str, target: str,
         op: str | None, threshold: float | None, course: str = "", textbook: str = "",
         details: dict | None = None, note: str = "") -> dict:
    """One line of the table. ``met``: value ``op`` threshold (None when there is no target)."""
    met = None
    if op is not None and value is not None and threshold is not None:
        met = bool(value >= threshold) if op == ">=" else bool(value <= threshold)
    return {"key": key, "figure": figure, "value": value, "unit": unit, "target": target,
            "op": op, "threshold": threshold, "met": met, "course": course,
            "textbook": textbook, "note": note, "details": details or {}}


def _log(msg: str) -> None:
    print(msg, flush=True)


_FACES: dict = {}


def _faces(n: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` toy faces ``(n, 3, size, size)`` in [-1, 1] and glasses labels (0 = glasses)."""
    key = (n, size)
    if key not in _FACES:
        from gan_course.data.toy import make_faces

        imgs, attrs = make_faces(n, size=size, seed=123)
        x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float().div(127.5).sub(1).contiguous()
        y = torch.from_numpy((~attrs["glasses"].to_numpy()).astype(np.int64))
        _FACES[key] = (x, y)
    return _FACES[key]


def _course_task(name: str, **changes):
    """The course's task (models, optimisers, step) built by ``build_task`` on the CPU."""
    from gan_course.config import get_config
    from gan_course.training.tasks import build_task

    cfg = replace(get_config(name, "full", data_source="toy"), **changes)
    return build_task(cfg, torch.device("cpu"))


def _channels_last(task):
    for m in task.models.values():
        m.to(memory_format=torch.channels_last)
    return task


# ----------------------------------------------------------------------------- figures
def bench_data_pipeline(s: dict) -> list[dict]:
    """Normalised 64x64 batches/s: decode-once cache vs the textbook ImageFolder (bench_data.py).

    The default run calls ``bench_data.main(argv)`` (the DATA figure as its author defined it);
    ``--quick`` calls its ``bench_cache`` on a few hundred images only, to stay within seconds.
    """
    from benchmarks import bench_data

    threads = torch.get_num_threads()
    try:
        if "tiny" in s:
            with tempfile.TemporaryDirectory() as tmp:
                res = {"cache": bench_data.bench_cache(s["tiny"]["n"], s["tiny"]["reps"],
                                                       Path(tmp))}
        else:
            res = bench_data.main(list(s["argv"]))
    finally:
        torch.set_num_threads(threads)  # bench_data measures on one core; restore ours
    c = res["cache"]
    return [_row(
        "data_pipeline", "data pipeline 64px: cache vs ImageFolder", value=c["ratio"], unit="x",
        target=f">= {c.get('target_ratio', 40):.0f}x", op=">=",
        threshold=float(c.get("target_ratio", 40.0)),
        course=f"{fmt_num(c['cache_images_per_s'])} img/s",
        textbook=f"{fmt_num(c['textbook_images_per_s'])} img/s",
        details=res, note=f"{c['images']} toy JPEGs, batch 128, 1 thread, median of {c['reps']}")]


def _compare_steps(s: dict, textbook_step, course_step, course_cl_step, *,
                   extra_cases: dict | None = None, number: dict | None = None,
                   track_modules: bool = True) -> dict:
    """Time the book's step against the course's (and its channels_last variant), interleaved;
    count each side's FLOPs. Returns times, medians, the paired ratio and the channels_last gain."""
    cases = {"textbook": textbook_step, "course": course_step,
             "course_channels_last": course_cl_step, **(extra_cases or {})}
    times = common.interleaved(cases, reps=s["reps"], warmup=1, number=number or 1)
    flops = {"course": common.count_flops(course_step, track_modules=track_modules),
             "textbook": common.count_flops(textbook_step, track_modules=track_modules)}
    med = {k: common.median(v) for k, v in times.items()}
    return {"times": times, "med": med, "flops": flops,
            "ratio": common.paired_ratio(times["textbook"], times["course"]),
            "cl_gain": common.paired_ratio(times["course"], times["course_channels_last"])}


def _step_details(c: dict) -> dict:
    """The JSON details every step comparison reports."""
    return {"times": {k: common.summary(v) for k, v in c["times"].items()},
            "flops_per_step": c["flops"], "channels_last_speedup": c["cl_gain"],
            "ratio_of_medians": c["med"]["textbook"] / c["med"]["course"]}


def _step_row(key: str, figure: str, c: dict, *, threshold: float, details: dict,
              cl_label: str = "") -> dict:
    """A table row for a step comparison made by :func:`_compare_steps`."""
    med, flops = c["med"], c["flops"]
    return _row(key, figure, value=c["ratio"], unit="x", target=f">= {threshold}x", op=">=",
                threshold=threshold, course=f"{med['course']:.3f} s",
                textbook=f"{med['textbook']:.3f} s", details=details,
                note=f"channels_last: {c['cl_gain']:.2f}x{cl_label}; FLOPs/step course "
                     f"{flops['course'] / 1e9:.2f} G vs book {flops['textbook'] / 1e9:.2f} G")


def bench_dcgan(s: dict) -> list[dict]:
    """DCGAN-64 step: course vs book, channels_last probe, FLOP rate vs fp32 matmul."""
    f, b = s["features"], s["batch"]
    x, y = _faces(b, 64)
    course = _course_task("dcgan", features=f, batch_size=b)
    course_cl = _channels_last(_course_task("dcgan", features=f, batch_size=b))
    torch.manual_seed(0)
    book = textbook.DCGANTrainer(features=f)
    mm, mm_flops = common.matmul_case(s["matmul_n"])
    c = _compare_steps(s, lambda: book.step(x), lambda: course.step((x, y)),
                       lambda: course_cl.step((x, y)), extra_cases={"matmul": mm},
                       number={"matmul": s["matmul_number"]})
    share = common.conv_time_share(lambda: course.step((x, y)))
    med, flops = c["med"], c["flops"]
    mm_gflops = mm_flops / med["matmul"] / 1e9
    share["conv_kernels_gflops_per_s"] = flops["course"] / share["conv_s"] / 1e9
    share["conv_kernels_fraction_of_matmul"] = share["conv_kernels_gflops_per_s"] / mm_gflops
    rate = {k: flops["course"] / med[k] / 1e9 for k in ("course", "course_channels_last")}
    frac = rate["course"] / mm_gflops
    details = {"features": f, "batch": b, **_step_details(c),
               "course_gflops_per_s": rate["course"],
               "course_channels_last_gflops_per_s": rate["course_channels_last"],
               "matmul_n": s["matmul_n"], "matmul_gflops_per_s": mm_gflops,
               "fraction_of_matmul": frac,
               "fraction_of_matmul_channels_last": rate["course_channels_last"] / mm_gflops,
               "profile_one_step": share,
               "img_per_s": {k: b / med[k] for k in ("course", "textbook", "course_channels_last")}}
    return [
        _step_row("dcgan_step", f"DCGAN-64 train step (f={f}, batch {b})", c, threshold=1.0,
                  details=details, cl_label=" the course step"),
        _row("dcgan_flop_rate", "DCGAN-64 step FLOP rate / fp32 matmul", value=frac, unit="",
             target=">= 0.90", op=">=", threshold=0.90,
             course=f"{rate['course']:.1f} GFLOP/s",
             textbook=f"matmul {mm_gflops:.1f} GFLOP/s",
             details={"channels_last_fraction": rate["course_channels_last"] / mm_gflops,
                      "profile_one_step": share},
             note=f"{s['matmul_n']}x{s['matmul_n']} matmul timed in the same rounds; with "
                  f"channels_last {rate['course_channels_last'] / mm_gflops:.2f}; convolutions "
                  f"take {share['conv_share']:.0%} of a step and run at "
                  f"{share['conv_kernels_fraction_of_matmul']:.2f} of matmul"),
    ]


def bench_cgan(s: dict) -> list[dict]:
    """cWGAN-GP step (critic_iters critic updates + 1 generator update): course vs book."""
    size, f, b, k = s["img_size"], s["features"], s["batch"], s["critic_iters"]
    x, y = _faces(b, size)
    onehots, img_and_labels = textbook.cgan_batch(x, y)
    course = _course_task("cgan", image_size=size, features=f, batch_size=b, critic_iters=k)
    course_cl = _channels_last(_course_task("cgan", image_size=size, features=f, batch_size=b,
                                            critic_iters=k))
    torch.manual_seed(0)
    book = textbook.CGANTrainer(img_size=size, features=f, critic_iters=k)
    # FlopCounterMode's module tracker cannot run autograd.grad (the penalty): same registry,
    # no module tracking
    c = _compare_steps(s, lambda: book.train_batch(onehots, img_and_labels),
                       lambda: course.step((x, y)), lambda: course_cl.step((x, y)),
                       track_modules=False)
    details = {"img_size": size, "features": f, "batch": b, "critic_iters": k, **_step_details(c)}
    return [_step_row("cgan_step",
                      f"cWGAN-GP-{size} G step ({k} critic steps, f={f}, batch {b})", c,
                      threshold=1.35, details=details)]


def bench_cyclegan(s: dict) -> list[dict]:
    """CycleGAN step (both D, then both G): course vs book."""
    size, f, b = s["img_size"], s["features"], s["batch"]
    x, _ = _faces(2 * b, size)
    real_a, real_b = x[:b].contiguous(), x[b:].contiguous()
    kw = {"image_size": size, "features": f, "num_residuals": s["num_residuals"],
          "d_features": tuple(s["d_features"]), "batch_size": b}
    course = _course_task("cyclegan", **kw)
    course_cl = _channels_last(_course_task("cyclegan", **kw))
    torch.manual_seed(0)
    book = textbook.CycleGANTrainer(f, s["num_residuals"], tuple(s["d_features"]))
    c = _compare_steps(s, lambda: book.train_step(real_a, real_b),
                       lambda: course.step((real_a, real_b)),
                       lambda: course_cl.step((real_a, real_b)))
    details = {**kw, "d_features": list(kw["d_features"]), **_step_details(c)}
    return [_step_row("cyclegan_step",
                      f"CycleGAN-{size} step (f={f}, {s['num_residuals']} res, batch {b})", c,
                      threshold=1.0, details=details)]


def _settle() -> float:
    """Reset the peak-RSS mark after imports; returns the RSS (MB) the delta is measured from."""
    import gc

    gc.collect()
    common.reset_peak_rss()
    return common.rss_mb()


def mem_course(img_size: int, n: int, batch: int) -> dict:
    """(worker) Course path: ``data.load`` (uint8 memmap cache) + one epoch of ``Batches``.

    The first ``load`` writes the toy set and builds the cache if needed (a one-time cost, not
    measured); the measured one reopens the cache and iterates an epoch as ``fit`` does.
    """
    import gc

    from gan_course import data
    from gan_course.data.batches import Batches

    with contextlib.redirect_stdout(sys.stderr):  # data.load prints its one-line summary
        folder, _ = data.prepare("eyeglasses", "toy", img_size, n)
        first = data.load("eyeglasses", source="toy", size=img_size, n=n)
    del first
    gc.collect()
    base = _settle()
    with contextlib.redirect_stdout(sys.stderr):
        cache = data.load("eyeglasses", source="toy", size=img_size, n=n)
    batches = Batches([cache.images, cache.labels], batch)
    seen = 0
    for images, _labels in batches.epoch(torch.Generator().manual_seed(0), torch.device("cpu")):
        seen += images.shape[0]
    return {"rss_base_mb": base, "peak_mb": common.peak_rss_mb(),
            "delta_mb": common.peak_rss_mb() - base, "images": len(cache), "seen": seen,
            "end_breakdown": common.rss_breakdown_mb(), "folder": str(folder)}


def mem_textbook(folder: str, img_size: int, batch: int, keep_image: bool = True) -> dict:
    """(worker) Book path (listing 5.6): every image decoded into a list of float tensors, then
    one epoch of ``DataLoader(newdata, batch_size, shuffle=True)``. ``keep_image=False`` keeps
    only (onehot, 5-channel tensor) per example - a leaner variant than the book's."""
    import torchvision.datasets  # noqa: F401 - imported before the baseline RSS is taken
    import torchvision.transforms  # noqa: F401
    from torch.utils.data import DataLoader

    base = _settle()
    newdata = textbook.eyeglasses_dataset(folder, img_size, keep_image=keep_image)
    seen = 0
    for batch_items in DataLoader(newdata, batch_size=batch, shuffle=True):
        seen += batch_items[-1].shape[0]
    return {"rss_base_mb": base, "peak_mb": common.peak_rss_mb(),
            "delta_mb": common.peak_rss_mb() - base, "images": len(newdata), "seen": seen,
            "end_breakdown": common.rss_breakdown_mb()}


def bench_memory(s: dict) -> list[dict]:
    """Peak RSS delta of holding + iterating the eyeglasses set, course vs book, per subprocess."""
    size, n, b = s["img_size"], s["n"], s["batch"]
    course = common.run_worker("benchmarks.run:mem_course",
                               {"img_size": size, "n": n, "batch": b})
    book = common.run_worker("benchmarks.run:mem_textbook",
                             {"folder": course["folder"], "img_size": size, "batch": b})
    lean = None
    if s.get("lean_variant"):
        lean = common.run_worker("benchmarks.run:mem_textbook",
                                 {"folder": course["folder"], "img_size": size, "batch": b,
                                  "keep_image": False})
    frac = course["delta_mb"] / book["delta_mb"]
    details = {"img_size": size, "n": course["images"], "batch": b, "course": course,
               "textbook": book, "textbook_5ch_only": lean,
               "fraction_vs_5ch_only": course["delta_mb"] / lean["delta_mb"] if lean else None,
               "bytes_per_pixel": {"course_uint8": 3, "textbook_img_plus_5ch_float": 32,
                                   "textbook_5ch_float_only": 20}}
    note = "book list holds (img, label, onehot, 5-channel img_and_label) per image (listing 5.6)"
    if lean:
        note += (f"; vs a leaner variant keeping only the 5-channel tensor "
                 f"({lean['delta_mb']:.0f} MB): {details['fraction_vs_5ch_only']:.3f}")
    return [_row(
        "eyeglasses_memory",
        f"eyeglasses resident memory {size}px (n={course['images']}, peak RSS delta)",
        value=frac, unit="", target="<= 1/6 (0.167)", op="<=", threshold=1 / 6,
        course=f"{course['delta_mb']:.0f} MB", textbook=f"{book['delta_mb']:.0f} MB",
        details=details, note=note)]


def bench_scaling(s: dict) -> list[dict]:
    """Course DCGAN epoch time (cache batches + step) vs number of toy faces: linear?"""
    from gan_course import data
    from gan_course.data.batches import Batches

    sizes, b = s["sizes"], s["batch"]
    with contextlib.redirect_stdout(sys.stderr):
        cache = data.load("anime", source="toy", size=64, n=max(sizes))
    task = _course_task("dcgan", features=s["features"], batch_size=b)
    gen = torch.Generator().manual_seed(0)
    cpu = torch.device("cpu")

    def epoch(n):
        batches = Batches([cache.images, cache.labels], b, index=np.arange(n))
        return lambda: [task.step(batch) for batch in batches.epoch(gen, cpu)]

    cases = {str(n): epoch(n) for n in sizes}
    times = common.interleaved(cases, reps=s["reps"], warmup=0)
    # The fit uses each size's fastest epoch: another program's load only ever adds time, and
    # a whole epoch is long enough to be hit by it unevenly (medians are reported as well).
    best = [min(times[str(n)]) for n in sizes]
    med = [common.median(times[str(n)]) for n in sizes]
    fit = common.linear_fit([float(n) for n in sizes], best)
    details = {"sizes": sizes, "features": s["features"], "batch": b, "epoch_s": best,
               "epoch_median_s": med, "fit_on": "fastest of the repetitions",
               "ms_per_image": [1000 * t / n for t, n in zip(best, sizes)],
               "times": {k: common.summary(v) for k, v in times.items()}, **fit}
    return [_row(
        "epoch_scaling", f"epoch time vs dataset size {sizes[0]}..{sizes[-1]} (DCGAN f={s['features']})",
        value=fit["r2"], unit="R^2", target="linear: R^2 >= 0.99", op=">=", threshold=0.99,
        course=f"{1000 * fit['slope']:.2f} ms/img", textbook="",
        details=details,
        note="fastest epoch s: " + ", ".join(f"{n}: {t:.2f}" for n, t in zip(sizes, best)))]


# -- extras: demo-size throughput, epoch wall time
def _demo_cases(name: str, cfg) -> tuple:
    b = cfg.batch_size
    if name == "fashion":
        x = torch.rand(b, 784) * 2 - 1
        return (x, torch.zeros(b, dtype=torch.long)), None
    if name == "dcgan":
        x, y = _faces(b, 64)
        torch.manual_seed(0)
        book = textbook.DCGANTrainer(cfg.features, cfg.latent_dim)
        return (x, y), (lambda: book.step(x))
    if name == "cgan":
        x, y = _faces(b, cfg.image_size)
        onehots, img_and_labels = textbook.cgan_batch(x, y)
        torch.manual_seed(0)
        book = textbook.CGANTrainer(cfg.image_size, cfg.features, cfg.latent_dim,
                                    critic_iters=cfg.critic_iters)
        return (x, y), (lambda: book.train_batch(onehots, img_and_labels))
    x, _ = _faces(2 * b, cfg.image_size)
    a, bb = x[:b].contiguous(), x[b:].contiguous()
    d_features = cfg.d_features or tuple(cfg.features * m for m in (1, 2, 4, 8))
    torch.manual_seed(0)
    book = textbook.CycleGANTrainer(cfg.features, cfg.num_residuals, tuple(d_features))
    return (a, bb), (lambda: book.train_step(a, bb))


def bench_demo(s: dict) -> dict:
    """Images/s of each model's step at the profile's size (course, and the book where it has one)."""
    from gan_course.config import get_config
    from gan_course.training.tasks import build_task

    out = {}
    for name in ("fashion", "dcgan", "cgan", "cyclegan"):
        cfg = get_config(name, s["profile"], data_source="toy")
        task = build_task(cfg, torch.device("cpu"))
        batch, book_fn = _demo_cases(name, cfg)
        cases = {"course": lambda task=task, batch=batch: task.step(batch)}
        if book_fn is not None:
            cases["textbook"] = book_fn
        times = common.interleaved(cases, reps=s["reps"], warmup=1)
        med = {k: common.median(v) for k, v in times.items()}
        out[name] = {"profile": s["profile"], "batch": cfg.batch_size,
                     "image_size": cfg.image_size, "features": cfg.features,
                     "course_img_per_s": cfg.batch_size / med["course"],
                     "course_step_s": med["course"]}
        if "textbook" in med:
            out[name]["textbook_img_per_s"] = cfg.batch_size / med["textbook"]
            out[name]["ratio"] = common.paired_ratio(times["textbook"], times["course"])
    return out


def epoch_wall(profiles: list, tasks: list, out_dir: str, threads: int | None = None) -> dict:
    """(worker) Wall time of one training epoch per task and profile, as ``train()`` runs it
    (toy data loading timed separately), with the peak RSS of each."""
    from gan_course.config import get_config
    from gan_course.data import load_data
    from gan_course.training import build_task, fit

    if threads:
        torch.set_num_threads(threads)

    res = {}
    for profile in profiles:
        for name in tasks:
            cfg = get_config(name, profile, data_source="toy", epochs=1)
            common.reset_peak_rss()
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(sys.stderr):
                batches = load_data(cfg)
            t1 = time.perf_counter()
            fit(build_task(cfg, "cpu"), batches, out_dir=Path(out_dir) / f"{profile}-{name}",
                progress=False)
            t2 = time.perf_counter()
            res[f"{profile}/{name}"] = {"data_s": t1 - t0, "epoch_s": t2 - t1,
                                        "steps": len(batches), "peak_rss_mb": common.peak_rss_mb()}
    return res


# ----------------------------------------------------------------------------- report
def format_table(rows: list[dict]) -> str:
    """The results as a fixed-width text table (also pasted into benchmarks/README.md)."""
    head = ("figure", "course", "textbook", "value", "target", "met")
    lines = []
    for r in rows:
        value = "-" if r["value"] is None else (
            f"{r['value']:.2f}x" if r["unit"] == "x" else fmt_num(r["value"]))
        met = {True: "yes", False: "NO", None: "-"}[r["met"]]
        lines.append((r["figure"], r["course"], r["textbook"], value, r["target"], met))
    widths = [max(len(str(x[i])) for x in [head, *lines]) for i in range(len(head))]
    fmt = " | ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*head), "-+-".join("-" * w for w in widths)]
    out += [fmt.format(*line) for line in lines]
    return "\n".join(out)


def format_extras(extras: dict) -> str:
    """Demo-size img/s, epoch wall times and peak RSS as text lines."""
    out = []
    for name, d in extras.get("demo_throughput", {}).items():
        line = f"  {name:9s} {d['profile']} size: {d['course_img_per_s']:8.1f} img/s (course)"
        if "textbook_img_per_s" in d:
            line += f", {d['textbook_img_per_s']:8.1f} img/s (book), {d['ratio']:.2f}x"
        out.append(line)
    for key, d in extras.get("epoch_wall", {}).items():
        out.append(f"  epoch {key:18s} {d['epoch_s']:7.2f} s ({d['steps']} steps; data "
                   f"{d['data_s']:.2f} s; peak RSS {d['peak_rss_mb']:.0f} MB)")
    if "peak_rss_mb" in extras:
        out.append(f"  peak RSS of this benchmark process: {extras['peak_rss_mb']:.0f} MB")
    return "\n".join(out)


FIGURES = [("data pipeline", bench_data_pipeline, "data"), ("DCGAN", bench_dcgan, "dcgan"),
           ("cWGAN-GP", bench_cgan, "cgan"), ("CycleGAN", bench_cyclegan, "cyclegan"),
           ("memory", bench_memory, "memory"), ("epoch scaling", bench_scaling, "scaling")]


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmarks, print the table, write JSON; returns the results dict."""
    ap = argparse.ArgumentParser(prog="python benchmarks/run.py",
                                 description="Course vs textbook speed and memory benchmarks.")
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes and 1-2 repetitions (< 60 s): checks that everything runs")
    ap.add_argument("--json", type=Path, default=RESULTS / "latest.json",
                    help="where to write the results (default: benchmarks/results/latest.json)")
    ap.add_argument("--data-root", type=Path, default=None,
                    help="folder for the toy datasets the benchmarks write (default: "
                         "benchmarks/results/data, reused between runs)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: torch's choice = the CPU cores; --quick: 1, "
                         "because tiny models only measure thread start-up on a busy machine)")
    ap.add_argument("--only", nargs="*", default=None, metavar="FIGURE",
                    help="run only these figures: data dcgan cgan cyclegan memory scaling "
                         "demo epochs")
    args = ap.parse_args(argv)
    mode = "quick" if args.quick else "default"
    settings = SETTINGS[mode]
    known = {k for _, _, k in FIGURES} | {"demo", "epochs"}
    only = set(args.only) if args.only else known
    if only - known:
        ap.error(f"unknown figure(s) {sorted(only - known)}; choose from {sorted(known)}")
    data_root = (args.data_root or (RESULTS / "data")).expanduser().resolve()
    data_root.mkdir(parents=True, exist_ok=True)
    old_env = os.environ.get("GAN_COURSE_DATA")
    os.environ["GAN_COURSE_DATA"] = str(data_root)  # toy sets land here (and in subprocesses)
    threads_before = torch.get_num_threads()
    threads = args.threads or (1 if args.quick else threads_before)
    torch.set_num_threads(threads)
    t_start = time.perf_counter()
    results = {"mode": mode, "settings": settings, "machine": common.machine(),
               "started": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": [], "extras": {},
               "errors": {}}
    try:
        for title, fn, key in FIGURES:
            if key not in only:
                continue
            _log(f"[{time.perf_counter() - t_start:6.1f} s] {title} ...")
            t0 = time.perf_counter()
            try:
                rows = fn(settings[key])
            except Exception as exc:  # one broken figure must not hide the others
                results["errors"][key] = f"{type(exc).__name__}: {exc}"
                _log(f"  FAILED: {traceback.format_exc()}")
                continue
            for r in rows:
                r["seconds"] = time.perf_counter() - t0
            results["rows"] += rows
        if "demo" in only:
            _log(f"[{time.perf_counter() - t_start:6.1f} s] throughput at "
                 f"{settings['demo']['profile']} size ...")
            try:
                results["extras"]["demo_throughput"] = bench_demo(settings["demo"])
            except Exception as exc:
                results["errors"]["demo"] = f"{type(exc).__name__}: {exc}"
        if "epochs" in only:
            _log(f"[{time.perf_counter() - t_start:6.1f} s] one epoch per profile ...")
            try:
                ep = {**settings["epochs"], "threads": threads}
                in_subprocess = ep.pop("subprocess")
                with tempfile.TemporaryDirectory() as tmp:
                    results["extras"]["epoch_wall"] = (
                        common.run_worker("benchmarks.run:epoch_wall", {**ep, "out_dir": tmp})
                        if in_subprocess else epoch_wall(**ep, out_dir=tmp))
            except Exception as exc:
                results["errors"]["epochs"] = f"{type(exc).__name__}: {exc}"
    finally:
        torch.set_num_threads(threads_before)
        if old_env is None:
            os.environ.pop("GAN_COURSE_DATA", None)
        else:
            os.environ["GAN_COURSE_DATA"] = old_env
    results["extras"]["peak_rss_mb"] = common.peak_rss_kb_lifetime() / 1024
    results["wall_s"] = time.perf_counter() - t_start
    results["machine"]["loadavg_end"] = common.machine()["loadavg"]
    results["all_met"] = all(r["met"] is not False for r in results["rows"]) and not results["errors"]

    print()
    print(f"gan-course benchmarks ({mode}; torch {torch.__version__}, "
          f"{threads} threads; load avg at start "
          f"{results['machine']['loadavg']}, end {results['machine']['loadavg_end']})")
    print(format_table(results["rows"]))
    for r in results["rows"]:
        if r["note"]:
            print(f"  - {r['figure']}: {r['note']}")
    extras = format_extras(results["extras"])
    if extras:
        print("extras:")
        print(extras)
    for key, err in results["errors"].items():
        print(f"ERROR in {key}: {err}")
    print(f"total {results['wall_s']:.0f} s; results in {args.json}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.json.with_name(args.json.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=1, default=_jsonable))
    os.replace(tmp, args.json)
    return results


def _jsonable(obj):
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if isinstance(obj, (Path, torch.device)):
        return str(obj)
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


if __name__ == "__main__":
    main(sys.argv[1:])
