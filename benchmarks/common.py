"""Timing and memory helpers shared by the benchmarks.

The rules every comparison in ``benchmarks/run.py`` follows:

* **Interleaved.** The cases of one comparison run round-robin (A B, B A, A B, ...) in the same
  process, so a burst of load from another program hits every case about equally. The order is
  reversed every other round so slow drift (thermal, a neighbour starting) cancels too.
* **Median of several repetitions**, after warm-up calls that are not timed (the first call of a
  PyTorch model allocates buffers and picks kernels).
* **Ratios, not only seconds.** Seconds depend on the machine and its load; the ratio of two cases
  timed side by side mostly does not. The headline ratio is the median of the per-round ratios
  (each round's A and B ran seconds apart, under the same load).
"""

from __future__ import annotations

import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------- timing
def interleaved(cases: dict[str, Callable[[], Any]], reps: int, warmup: int = 1,
                number: int | dict[str, int] = 1) -> dict[str, list[float]]:
    """Time each case ``reps`` times, round-robin; returns seconds per call, per case.

    Args:
        cases: name -> zero-argument callable (e.g. one training step on a fixed batch).
        reps: timed rounds; in each round every case runs once (``number`` calls).
        warmup: untimed rounds run first.
        number: calls per timing (an int for all cases, or per case name) - use > 1 for
            calls so short that the timer's resolution would matter (a small matmul).

    Returns ``{name: [seconds per call, one per round]}`` (length ``reps``).
    """
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    names = list(cases)
    per = {k: (number.get(k, 1) if isinstance(number, dict) else number) for k in names}
    for _ in range(warmup):
        for k in names:
            cases[k]()
    times: dict[str, list[float]] = {k: [] for k in names}
    for r in range(reps):
        for k in (names if r % 2 == 0 else names[::-1]):  # A B, B A, ...: drift cancels
            fn, n = cases[k], per[k]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            times[k].append((time.perf_counter() - t0) / n)
    return times


def median(xs: Sequence[float]) -> float:
    """Median of a non-empty sequence."""
    return float(statistics.median(xs))


def paired_ratio(slow: Sequence[float], fast: Sequence[float]) -> float:
    """Median over rounds of ``slow[i] / fast[i]`` (> 1: ``fast`` is faster).

    Each pair was timed in the same round, seconds apart, so the load on the machine is nearly
    the same for both; the median of those ratios is steadier than a ratio of two medians.
    """
    if len(slow) != len(fast) or not slow:
        raise ValueError("paired_ratio needs two equally long, non-empty lists")
    return median([s / f for s, f in zip(slow, fast)])


def summary(times: Sequence[float]) -> dict:
    """``{"median_s", "min_s", "max_s", "reps", "all_s"}`` of a list of seconds."""
    return {"median_s": median(times), "min_s": float(min(times)), "max_s": float(max(times)),
            "reps": len(times), "all_s": [float(t) for t in times]}


# ----------------------------------------------------------------------------- FLOPs
def count_flops(fn: Callable[[], Any], track_modules: bool = True) -> int:
    """FLOPs of one call of ``fn`` as counted by ``torch.utils.flop_counter``.

    It counts matmuls and convolutions (forward and backward, incl. double backward), i.e. the
    "useful" arithmetic of a network; element-wise ops, norms and the optimiser are not counted.
    ``track_modules=True`` uses ``FlopCounterMode`` itself. Its module tracker breaks
    ``torch.autograd.grad`` on leaves (the gradient penalty), so ``track_modules=False`` counts
    with the same ``flop_registry`` in a plain dispatch mode instead - the same totals.
    """
    if track_modules:
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter:
            fn()
        return int(counter.get_total_flops())
    with _RegistryFlopCounter() as counter:
        fn()
    return int(counter.total)


def _registry_counter_class():
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class RegistryFlopCounter(TorchDispatchMode):
        """Sums ``flop_registry`` formulas over every dispatched op (no module tracking)."""

        def __init__(self):
            super().__init__()
            self.total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                self.total += formula(*args, **kwargs, out_val=out)
            return out

    return RegistryFlopCounter


def _RegistryFlopCounter():  # noqa: N802 - behaves like a class (built lazily: private torch API)
    return _registry_counter_class()()


def conv_time_share(fn: Callable[[], Any]) -> dict:
    """Run ``fn`` once under ``torch.profiler``: seconds in convolution kernels (forward and
    backward, self time) vs the whole call - where a step's time goes besides the counted FLOPs
    (norms, activations, the optimiser, Python)."""
    from torch.profiler import ProfilerActivity, profile

    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    wall = time.perf_counter() - t0
    conv_us = sum(e.self_cpu_time_total for e in prof.key_averages()
                  if "convolution" in e.key or e.key.startswith("aten::mkldnn_conv"))
    return {"profiled_wall_s": wall, "conv_s": conv_us / 1e6, "conv_share": conv_us / 1e6 / wall}


def matmul_case(n: int = 1024) -> tuple[Callable[[], Any], int]:
    """A fp32 ``(n, n) @ (n, n)`` matmul and its FLOP count ``2 n^3`` - the machine's practical
    peak for the benchmarks' GFLOP/s comparison."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    out = torch.empty(n, n)
    return (lambda: torch.mm(a, b, out=out)), 2 * n ** 3


# ----------------------------------------------------------------------------- statistics
def linear_fit(x: Sequence[float], y: Sequence[float]) -> dict:
    """Least-squares line ``y = slope * x + intercept``; returns slope, intercept and R^2."""
    n = len(x)
    if n < 2 or n != len(y):
        raise ValueError("linear_fit needs >= 2 points and len(x) == len(y)")
    mx, my = sum(x) / n, sum(y) / n
    sxx = sum((a - mx) ** 2 for a in x)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    slope = sxy / sxx
    intercept = my - slope * mx
    ss_res = sum((b - (slope * a + intercept)) ** 2 for a, b in zip(x, y))
    ss_tot = sum((b - my) ** 2 for b in y)
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return {"slope": slope, "intercept": intercept, "r2": r2}


# ----------------------------------------------------------------------------- memory
def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_mb() -> float:
    """Current resident set size of this process in MB (Linux ``VmRSS``; else the peak)."""
    kb = _status_kb("VmRSS")
    return (kb if kb is not None else peak_rss_kb_lifetime()) / 1024


def peak_rss_kb_lifetime() -> int:
    """Peak RSS of this process since it started, in kB (``getrusage``; kB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak // 1024 if sys.platform == "darwin" else peak)  # macOS reports bytes


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (``VmHWM``) to the current RSS (Linux >= 4.0).

    Lets one process measure the peak of several phases one after another. Returns False where
    that is not possible (then :func:`peak_rss_mb` falls back to the lifetime peak).
    """
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def rss_breakdown_mb() -> dict:
    """Current RSS split into anonymous memory (heap, tensors) and file-backed pages (e.g. a
    memory-mapped cache), in MB; empty where ``/proc`` is not available."""
    out = {}
    for field, key in (("RssAnon", "anon_mb"), ("RssFile", "file_mb")):
        kb = _status_kb(field)
        if kb is not None:
            out[key] = kb / 1024
    return out


def peak_rss_mb() -> float:
    """Peak RSS in MB since the last :func:`reset_peak_rss` (``VmHWM``), else since start."""
    kb = _status_kb("VmHWM")
    return (kb if kb is not None else peak_rss_kb_lifetime()) / 1024


def run_worker(func: str, kwargs: dict, timeout: float = 600.0) -> dict:
    """Run ``benchmarks.<module>:<function>(**kwargs)`` in a fresh Python process.

    A fresh process is the only clean way to measure how much memory one approach needs: the
    parent's allocator keeps freed memory, and imports would be counted twice. The function
    must return a JSON-serialisable dict; it is printed on the child's last stdout line.
    """
    module, name = func.split(":")
    code = ("import json, sys; import importlib; "
            f"m = importlib.import_module({module!r}); "
            f"r = m.{name}(**json.loads(sys.argv[1])); "
            "print('\\n@@RESULT@@' + json.dumps(r))")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(kwargs)], cwd=str(REPO),
                          env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark worker {func} failed (exit {proc.returncode}):\n"
                           f"{proc.stderr[-3000:]}")
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("@@RESULT@@"):
            return json.loads(line[len("@@RESULT@@"):])
    raise RuntimeError(f"benchmark worker {func} printed no result:\n{proc.stdout[-2000:]}")


# ----------------------------------------------------------------------------- misc
def fmt_num(x: float | None, digits: int = 3) -> str:
    """Compact number for the table: 3 significant digits, '-' for None/NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    decimals = max(0, digits - 1 - mag)
    return f"{x:,.{decimals}f}"


def machine() -> dict:
    """What the numbers were measured on: torch version, threads, CPU, load average."""
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    cpu = None
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"python": sys.version.split()[0], "torch": torch.__version__,
            "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "cpu": cpu,
            "loadavg": load}
