"""The one training loop shared by every model: all the bookkeeping, written once.

``fit(task, batches, out_dir=...)`` repeats ``task.step(batch)`` over shuffled batches for
``task.config.epochs`` epochs and takes care of everything around it:

* a ``tqdm.auto`` progress bar (terminal or notebook) showing the live losses;
* the loss history as a pandas DataFrame (one row per step; returned, and saved as
  ``out_dir/history.csv``);
* a grid of samples from FIXED inputs after every ``sample_every`` epochs
  (``out_dir/samples/epoch_001.png``, ...), so the grids show one generator improving;
* a checkpoint ``out_dir/checkpoint.pt`` with the full state (models, optimisers, scalers,
  schedulers, epoch, step, history, every RNG incl. the data-shuffle generator, the config),
  written atomically after every epoch, when ``max_steps`` stops the run, and on Ctrl-C
  (the interrupt is deferred to the end of the current step, so the saved state is consistent);
* ``resume=True`` continues from that checkpoint and reproduces the uninterrupted run exactly
  (same data order, same noise) - bit for bit on CPU;
* a NaN/inf loss stops training with :class:`TrainingDiverged`; the last good checkpoint is not
  overwritten;
* under ``torchrun`` each rank trains on its shard of the data and only rank 0 writes.

The body of :func:`fit` is three steps - restore (or start), run an epoch, finish the epoch -
each a function below.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from gan_course.training import distributed as ddp
from gan_course.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)

if TYPE_CHECKING:
    from gan_course.data.batches import Batches, PairedBatches
    from gan_course.training.tasks import Task

CHECKPOINT_NAME = "checkpoint.pt"


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message names the step, the loss and the checkpoint."""


# ----------------------------------------------------------------------------- Ctrl-C handling
class _DeferredInterrupt:
    """Turn the first Ctrl-C into a flag checked between steps (a second Ctrl-C stops at once)."""

    def __init__(self):
        self.requested = False
        self._old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, self._old or signal.default_int_handler)
        print("\nCtrl-C: finishing this step and saving a checkpoint (press again to abort now).")

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


# ----------------------------------------------------------------------------- run state
@dataclass
class _Progress:
    """Where a run stands: what a checkpoint stores besides the task's own state."""

    out_dir: Path
    data_gen: torch.Generator
    epoch: int = 0                 # epochs completed
    skip: int = 0                  # batches of the current epoch already done
    global_step: int = 0
    history: dict = field(default_factory=dict)
    epoch_data_state: torch.Tensor | None = None  # data generator state at the epoch's start

    @property
    def ckpt_path(self) -> Path:
        return self.out_dir / CHECKPOINT_NAME


# Settings a resumed run may change: training longer is what resuming is for.
_RESUMABLE_CHANGES = frozenset({"epochs"})


def _check_same_settings(path: Path, saved: dict, current: dict) -> None:
    """Refuse to resume a run trained with other settings (sizes, lr, data…) with a clear message."""
    diff = {k: (saved.get(k), v) for k, v in current.items()
            if k not in _RESUMABLE_CHANGES and k in saved and _plain(saved[k]) != _plain(v)}
    if diff:
        lines = ", ".join(f"{k}: {a!r} in the checkpoint vs {b!r} now" for k, (a, b) in diff.items())
        raise CheckpointError(
            f"{path} was trained with other settings ({lines}). Resuming would mix two runs: "
            f"pass another --out folder, or delete that folder to start over.")


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def _start(task: Task, out_dir: Path, resume: bool) -> _Progress:
    """Seed a fresh run, or restore the checkpoint in ``out_dir`` when ``resume`` finds one."""
    info, seed = ddp.current(), task.config.seed
    # Noise differs per rank (seed + rank) so ranks do not all draw the same fakes; the data
    # generator is shared (same permutation, disjoint shards).
    run = _Progress(out_dir, torch.Generator().manual_seed(seed))
    torch.manual_seed(seed + info.rank)
    np.random.seed((seed + info.rank) % 2**32)
    run.epoch_data_state = run.data_gen.get_state()
    if not (resume and run.ckpt_path.is_file()):
        if resume and info.is_main:
            print(f"No checkpoint in {out_dir}; starting a fresh run.")
        return run
    state = load_checkpoint(run.ckpt_path, map_location="cpu")
    if state.get("untrained_models"):  # written by gan_course.training.book_checkpoint
        raise CheckpointError(
            f"{run.ckpt_path} holds imported pretrained weights, not a training run: "
            f"{', '.join(state['untrained_models'])} were initialised, never trained, so "
            f"resuming would train against them from scratch. Use it with sample/evaluate, "
            f"or pass another --out folder to train.")
    if state.get("task") != task.name:
        raise CheckpointError(f"{run.ckpt_path} holds a {state.get('task')!r} run, not "
                              f"{task.name!r}: pass another --out folder.")
    _check_same_settings(run.ckpt_path, state.get("config") or {}, task.config.to_dict())
    task.load_state_dict(state["task_state"])
    run.epoch, run.skip = int(state["epoch"]), int(state["batch_in_epoch"])
    run.global_step, run.history = int(state["global_step"]), state["history"]
    run.epoch_data_state = state["epoch_data_state"]
    set_rng_state(state["rng"])
    if info.rank > 0:  # only rank 0's noise stream was saved; others get a fresh one
        torch.manual_seed(seed + info.rank + 7919 * run.global_step)
    if info.is_main:
        epochs = task.config.epochs
        if run.epoch >= epochs:
            print(f"{task.name}: the run in {out_dir} is finished ({run.epoch}/{epochs} epochs, "
                  f"{run.global_step} steps); loaded it. To train longer, raise the epochs "
                  f"(cfg.epochs / --epochs); to start over, delete that folder.")
        else:
            print(f"Resuming {task.name} from {run.ckpt_path}: epoch {run.epoch + 1}/{epochs}, "
                  f"step {run.global_step}.")
    return run


def _save(task: Task, run: _Progress, in_epoch: int) -> None:
    """Atomic checkpoint of everything (rank 0 writes; every rank syncs BatchNorm buffers first)."""
    for m in task.models.values():
        ddp.sync_buffers(m)
    info = ddp.current()
    if not info.is_main:
        return
    save_checkpoint(run.ckpt_path, {
        "task": task.name, "config": task.config.to_dict(), "task_state": task.state_dict(),
        "epoch": run.epoch, "batch_in_epoch": in_epoch, "global_step": run.global_step,
        "epoch_data_state": run.epoch_data_state, "rng": rng_state(), "history": run.history,
        "world_size": info.world, "torch_version": str(torch.__version__),
    })
    pd.DataFrame(run.history).to_csv(run.out_dir / "history.csv", index=False)


def _run_epoch(task: Task, data, run: _Progress, bar, interrupt: _DeferredInterrupt,
               max_steps: int | None) -> str | None:
    """Train one epoch (or its rest); returns why it stopped early (``interrupt``,
    ``max_steps``) or None when the epoch is complete."""
    run.data_gen.set_state(run.epoch_data_state)
    bar.set_description(f"{task.name} epoch {run.epoch + 1}/{task.config.epochs}", refresh=False)
    done, reason = run.skip, None
    for batch in data.epoch(run.data_gen, task.device, skip=run.skip):
        t0 = time.perf_counter()
        losses = task.step(batch)
        seconds = time.perf_counter() - t0
        bad = [(k, v) for k, v in losses.items() if not math.isfinite(v)]
        stop_flag, bad_flag = _agree(interrupt.requested, bool(bad), task.device)
        if bad_flag:
            bar.close()
            _diverged(task, run, bad)
        run.global_step += 1
        done += 1
        _append(run.history, {"step": run.global_step, "epoch": run.epoch + 1,
                              "seconds": seconds, **losses})
        bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)
        bar.update()
        if stop_flag:
            reason = "interrupt"
        elif max_steps is not None and run.global_step >= max_steps:
            reason = "max_steps"
        if reason:
            break
    if reason and done < len(data):
        _save(task, run, in_epoch=done)  # mid-epoch: resume exactly here
        return reason
    _end_epoch(task, run)
    return reason


def _end_epoch(task: Task, run: _Progress) -> None:
    """Schedulers, epoch counter and checkpoint, then the sample grid (a failing grid never
    costs the checkpoint)."""
    from gan_course.notebook.grids import save_grid

    for sched in task.schedulers.values():
        sched.step()
    # the data generator now holds the next epoch's starting state
    run.epoch, run.skip, run.epoch_data_state = run.epoch + 1, 0, run.data_gen.get_state()
    _save(task, run, in_epoch=0)
    cfg = task.config
    if ddp.current().is_main and (run.epoch % max(1, cfg.sample_every) == 0
                                  or run.epoch == cfg.epochs):
        save_grid(task.sample(), run.out_dir / "samples" / f"epoch_{run.epoch:03d}.png")


def fit(task: Task, data: Batches | PairedBatches, *, out_dir: str | Path,
        resume: bool = False, progress: bool = True, max_steps: int | None = None) -> pd.DataFrame:
    """Train ``task`` on ``data`` up to ``task.config.epochs`` epochs; returns the history DataFrame.

    Args:
        task: models + optimisers + step/sample functions (see :class:`~gan_course.training.tasks.Task`).
        data: :class:`~gan_course.data.batches.Batches` / ``PairedBatches``.
        out_dir: where ``checkpoint.pt``, ``history.csv`` and ``samples/`` are written
            (:func:`gan_course.runtime.run_dir` names it from the config).
        resume: continue from ``out_dir/checkpoint.pt`` if it exists (else start fresh); a
            finished run is loaded as it is.
        progress: show a tqdm progress bar.
        max_steps: stop (and checkpoint) after this many steps in total; ``None`` = no limit.

    Epochs, seed (data order and noise) and the sample-grid interval come from ``task.config``.
    History columns: ``step``, ``epoch``, ``seconds`` (wall time of the step) and one column per
    loss returned by the step function.
    """
    out_dir = Path(out_dir)
    if ddp.current().is_main:
        (out_dir / "samples").mkdir(parents=True, exist_ok=True)
    run = _start(task, out_dir, resume)
    if task.fixed is None:
        task.fixed = task.make_fixed(data)

    from tqdm.auto import tqdm

    # one bar for the whole run (not one per epoch, which a stored notebook would keep 50 of)
    epochs, per_epoch = task.config.epochs, len(data)
    bar = tqdm(total=epochs * per_epoch, initial=min(run.epoch * per_epoch + run.skip,
                                                     epochs * per_epoch),
               disable=not (progress and ddp.current().is_main), desc=task.name)
    reason = None
    with _DeferredInterrupt() as interrupt, bar:
        while run.epoch < epochs and reason is None:
            reason = _run_epoch(task, data, run, bar, interrupt, max_steps)

    if reason == "interrupt":
        if ddp.current().is_main:
            print(f"Stopped at step {run.global_step}; checkpoint saved to {run.ckpt_path}. "
                  f"Continue with resume=True (CLI: --resume).")
        raise KeyboardInterrupt
    return pd.DataFrame(run.history)


def _append(history: dict[str, list], row: dict) -> None:
    n = len(next(iter(history.values()))) if history else 0
    for key in row.keys() | history.keys():
        column = history.setdefault(key, [math.nan] * n)
        column.append(row.get(key, math.nan))


def _agree(stop: bool, bad: bool, device: torch.device) -> tuple[bool, bool]:
    """Share the stop / NaN flags across ranks so every rank leaves the loop at the same step."""
    if not ddp.current().enabled:
        return stop, bad
    flags = torch.tensor([float(stop), float(bad)], device=device)
    torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
    return bool(flags[0] > 0), bool(flags[1] > 0)


def _diverged(task: Task, run: _Progress, bad: list) -> None:
    name, value = bad[0] if bad else ("(another rank)", math.nan)
    where = (f"The last good checkpoint is {run.ckpt_path} (untouched); resume from it with "
             f"resume=True / --resume, ideally with a lower learning rate.") \
        if run.ckpt_path.is_file() else "No checkpoint was written yet; restart with a lower learning rate."
    raise TrainingDiverged(f"Training of {task.name} diverged at step {run.global_step + 1} "
                           f"(epoch {run.epoch + 1}): loss {name!r} = {value}. {where}")
