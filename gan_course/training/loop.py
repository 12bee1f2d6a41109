"""The one training loop shared by every model: all the bookkeeping, written once.

``fit(task, batches, out_dir=...)`` repeats ``task.step(batch)`` over shuffled batches for
``task.config.epochs`` epochs and takes care of everything around it:

* a ``tqdm.auto`` progress bar (terminal or notebook) showing the live losses;
* the loss history as a pandas DataFrame (one row per step; returned, and saved as
  ``out_dir/history.csv``);
* a grid of samples from FIXED inputs after every ``sample_every`` epochs
  (``out_dir/samples/epoch_001.png``, ...), so the grids show one generator improving;
* a checkpoint ``out_dir/checkpoint.pt`` with the full state (models, optimisers, scalers,
  schedulers, extra state such as CycleGAN's image pools, epoch, step, history, every RNG of
  every rank incl. the data-shuffle generator, the config), written atomically after every
  epoch, every ``cfg.checkpoint_every`` steps / ``cfg.checkpoint_minutes`` minutes, when
  ``max_steps`` stops the run, and on Ctrl-C or SIGTERM (deferred to the end of the current
  step, so the saved state is consistent); temporary files of a killed write are removed at the
  next start;
* the losses stay on the device and are read every ``cfg.log_every`` steps (every step on CPU,
  every 20 on a GPU: each read makes the host wait for the GPU);
* ``resume=True`` continues from that checkpoint and reproduces the uninterrupted run exactly
  (same data order, same noise) - bit for bit on CPU;
* a NaN/inf loss stops training with :class:`TrainingDiverged` (at the next read, naming the
  step it happened in); the last good checkpoint is not overwritten;
* under ``torchrun`` each rank trains on its share of every batch and one rank per filesystem
  writes.

The body of :func:`fit` is three steps - restore (or start), run an epoch, finish the epoch -
each a function below.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from gan_course.runtime import display_path
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
_clock = time.monotonic  # seconds; for checkpoint_minutes (tests replace it)


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message names the step, the loss and the checkpoint."""


# ----------------------------------------------------------------------------- Ctrl-C / SIGTERM
class _StopSignals:
    """Turn Ctrl-C (SIGINT) and SIGTERM into a flag checked between steps; the loop then saves
    a checkpoint and stops.

    SIGTERM is what ``kill``, a cluster's pre-emption and ``torchrun`` (forwarding a Ctrl-C to
    its workers) send; it is handled exactly like Ctrl-C. Signals arriving within
    :attr:`GRACE` seconds of the first are the same request (a terminal's Ctrl-C under
    ``torchrun`` can reach a worker twice in the same millisecond); a second Ctrl-C after that
    stops at once, without saving.
    """

    GRACE = 1.0

    def __init__(self, announce: bool = True):
        self.requested, self.announce = False, announce
        self._first, self._old = 0.0, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        now = time.monotonic()
        if not self.requested:
            self.requested, self._first = True, now
            if self.announce:
                print(f"\n{signal.Signals(signum).name}: finishing this step and saving a "
                      f"checkpoint (Ctrl-C again to abort now).", flush=True)
        elif signum == signal.SIGINT and now - self._first > self.GRACE:
            raise KeyboardInterrupt

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


# ----------------------------------------------------------------------------- losses
class _LossWindow:
    """The losses of the steps since the last sync point, kept on the device.

    Reading a loss (``.item()``) makes the host wait for the GPU; doing it four times per step
    keeps the GPU idle between steps. The step functions return 0-dim tensors; this window reads
    all of them in ONE transfer every ``log_every`` steps (:meth:`flush`).
    """

    def __init__(self):
        self.rows: list[dict] = []

    def add(self, step: int, epoch: int, seconds: float, losses: dict) -> None:
        self.rows.append({"step": step, "epoch": epoch, "seconds": seconds, "losses": losses})

    def flush(self) -> tuple[list[dict], tuple | None]:
        """Rows with float losses, and the first non-finite loss as ``(step, name, value)``."""
        tensors = [v.detach().float().reshape(()) for r in self.rows for v in r["losses"].values()
                   if isinstance(v, torch.Tensor)]
        values = iter(torch.stack(tensors).cpu().tolist() if tensors else [])
        out, bad = [], None
        for r in self.rows:
            losses = {k: (next(values) if isinstance(v, torch.Tensor) else float(v))
                      for k, v in r["losses"].items()}
            if bad is None:
                bad = next(((r["step"], k, v) for k, v in losses.items()
                            if not math.isfinite(v)), None)
            out.append({"step": r["step"], "epoch": r["epoch"], "seconds": r["seconds"],
                        **losses})
        self.rows = []
        return out, bad


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
    writes: bool = True            # this rank writes the checkpoint, history and samples
    saved_at: float = 0.0          # clock reading at the last checkpoint (checkpoint_minutes)

    @property
    def ckpt_path(self) -> Path:
        return self.out_dir / CHECKPOINT_NAME


# Settings a resumed run may change: training longer is what resuming is for, and the rest only
# decide how often things are saved or read, or how memory is laid out - not what a step computes.
_RESUMABLE_CHANGES = frozenset({"epochs", "checkpoint_every", "checkpoint_minutes", "log_every",
                                "channels_last"})


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


def _clean_stale_temp_files(out_dir: Path) -> None:
    """Remove ``*.tmp`` files a killed write left behind (a write interrupted by SIGKILL or a
    power cut cannot clean up after itself; the real files are only ever replaced atomically)."""
    stale = [p for pattern in (f"{CHECKPOINT_NAME}.*.tmp", "history.csv.*.tmp")
             for p in out_dir.glob(pattern)]
    for p in stale:
        p.unlink(missing_ok=True)
    if stale:
        print(f"Removed {len(stale)} unfinished temporary file(s) of an earlier, killed write "
              f"in {display_path(out_dir)}.")


def _read_checkpoint(task: Task, run: _Progress, resume: bool) -> dict | None:
    """This rank's checkpoint (``None`` = start fresh), after every rank agreed on it: ranks
    that disagree (a node that cannot see the checkpoint) would train different runs."""
    state, error = None, None
    if resume and run.ckpt_path.is_file():
        try:
            state = load_checkpoint(run.ckpt_path, map_location="cpu")
        except CheckpointError as exc:
            error = str(exc)
    found = ddp.all_gather((error, None if state is None else int(state["global_step"])))
    errors = [e for e, _ in found if e]
    if errors:
        raise CheckpointError(errors[0])
    steps = {step for _, step in found}
    if len(steps) > 1:
        where = ", ".join(f"rank {r}: {'no checkpoint' if s is None else f'step {s}'}"
                          for r, (_, s) in enumerate(found))
        raise CheckpointError(
            f"The processes of this run do not find the same checkpoint in {run.out_dir} "
            f"({where}). On several machines, --out must be a shared folder or hold the same "
            f"copy on every machine.")
    return state


def _start(task: Task, out_dir: Path, resume: bool) -> _Progress:
    """Seed a fresh run, or restore the checkpoint in ``out_dir`` when ``resume`` finds one."""
    info, seed = ddp.current(), task.config.seed
    # Noise differs per rank (seed + rank) so ranks do not all draw the same fakes; the data
    # generator is shared (same permutation, disjoint shares).
    run = _Progress(out_dir, torch.Generator().manual_seed(seed))
    torch.manual_seed(seed + info.rank)
    np.random.seed((seed + info.rank) % 2**32)
    run.epoch_data_state = run.data_gen.get_state()
    run.writes, run.saved_at = ddp.writes_to(out_dir), _clock()
    if run.writes:
        (out_dir / "samples").mkdir(parents=True, exist_ok=True)
        _clean_stale_temp_files(out_dir)
    state = _read_checkpoint(task, run, resume)
    if state is None:
        if resume and info.is_main:
            print(f"No checkpoint in {display_path(out_dir)}; starting a fresh run.")
        return run
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
    saved_world = int(state.get("world_size", 1))
    if task.config.batch_per_rank and saved_world != info.world:
        raise CheckpointError(
            f"{run.ckpt_path} was trained with a batch per process on {saved_world} "
            f"process(es); on {info.world} the global batch and the lr would change. Resume on "
            f"{saved_world} process(es), or train without --batch-per-rank (global batch).")
    task.load_state_dict(state["task_state"])
    run.epoch, run.skip = int(state["epoch"]), int(state["batch_in_epoch"])
    run.global_step, run.history = int(state["global_step"]), state["history"]
    run.epoch_data_state = state["epoch_data_state"]
    per_rank = state.get("rng_per_rank")
    if per_rank and len(per_rank) == info.world:  # every rank continues its own noise stream
        set_rng_state(per_rank[info.rank])
    else:  # another world size: rank 0 continues, the others get fresh streams
        set_rng_state(state["rng"])
        if info.rank > 0:
            torch.manual_seed(seed + info.rank + 7919 * run.global_step)
    if info.is_main:
        epochs = task.config.epochs
        if run.epoch >= epochs:
            print(f"{task.name}: the run in {display_path(out_dir)} is finished ({run.epoch}/"
                  f"{epochs} epochs, {run.global_step} steps); loaded it. To train longer, raise the epochs "
                  f"(cfg.epochs / --epochs); to start over, delete that folder.")
        else:
            print(f"Resuming {task.name} from {display_path(run.ckpt_path)}: epoch "
                  f"{run.epoch + 1}/{epochs}, step {run.global_step}.")
    return run


def _save(task: Task, run: _Progress, in_epoch: int) -> None:
    """Atomic checkpoint of everything. Every rank takes part (BatchNorm buffers are synced
    from rank 0, every rank's RNG state is collected); the writing rank(s) write."""
    for m in task.models.values():
        ddp.sync_buffers(m)
    rngs = ddp.all_gather(rng_state())
    run.saved_at = _clock()
    if not run.writes:
        return
    save_checkpoint(run.ckpt_path, {
        "task": task.name, "config": task.config.to_dict(), "task_state": task.state_dict(),
        "epoch": run.epoch, "batch_in_epoch": in_epoch, "global_step": run.global_step,
        "epoch_data_state": run.epoch_data_state, "rng": rngs[0], "rng_per_rank": rngs,
        "history": run.history, "world_size": ddp.current().world,
        "torch_version": str(torch.__version__),
    })
    _write_history(run)


def _write_history(run: _Progress) -> None:
    path = run.out_dir / "history.csv"
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    pd.DataFrame(run.history).to_csv(tmp, index=False)
    os.replace(tmp, path)  # atomic, like the checkpoint


def _log_every(task: Task) -> int:
    """Steps between sync points: the config's, else every step on CPU (a read is free there)
    and every 20 on a GPU (each read waits for the GPU to finish its queue)."""
    return task.config.log_every or (1 if task.device.type == "cpu" else 20)


def _run_epoch(task: Task, data, run: _Progress, bar, signals: _StopSignals,
               max_steps: int | None) -> str | None:
    """Train one epoch (or its rest); returns why it stopped early (``interrupt``,
    ``max_steps``) or None when the epoch is complete.

    Steps run back to back; every ``log_every`` steps (and at the epoch's end, at
    ``max_steps``, at a periodic checkpoint) the loop stops at a *sync point*: it reads the
    losses of the steps since the last one (NaN guard, history, progress bar), agrees with
    the other ranks on whether to stop or save, and acts on it.
    """
    cfg = task.config
    log_every, n_steps = _log_every(task), len(data)
    run.data_gen.set_state(run.epoch_data_state)
    bar.set_description(f"{task.name} epoch {run.epoch + 1}/{cfg.epochs}", refresh=False)
    window, done, reason = _LossWindow(), run.skip, None
    batches = data.epoch(run.data_gen, task.device, skip=run.skip)
    try:
        for batch in batches:
            t0 = time.perf_counter()
            losses = task.step(batch)
            run.global_step += 1
            done += 1
            window.add(run.global_step, run.epoch + 1, time.perf_counter() - t0, losses)
            at_end = done >= n_steps
            at_max = max_steps is not None and run.global_step >= max_steps
            save_steps = cfg.checkpoint_every > 0 and run.global_step % cfg.checkpoint_every == 0
            if not (at_end or at_max or save_steps or run.global_step % log_every == 0):
                continue
            # ---- sync point: the same step on every rank
            t1 = time.perf_counter()
            rows, bad = window.flush()
            rows[-1]["seconds"] += time.perf_counter() - t1  # the wait for the device
            save_time = (cfg.checkpoint_minutes > 0 and
                         _clock() - run.saved_at >= 60 * cfg.checkpoint_minutes)
            stop, bad_anywhere, save_time = _agree(
                (signals.requested, bad is not None, save_time), task.device)
            if bad_anywhere:
                bar.close()
                _diverged(task, run, bad, rows)
            for row in rows:
                _append(run.history, row)
            bar.update(len(rows))
            bar.set_postfix({k: f"{v:.3g}" for k, v in rows[-1].items()
                             if k not in ("step", "epoch", "seconds")}, refresh=False)
            if stop:
                reason = "interrupt"
            elif at_max:
                reason = "max_steps"
            if reason:
                break
            if (save_steps or save_time) and not at_end:
                _save(task, run, in_epoch=done)  # periodic, mid-epoch: resume exactly here
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()  # ends a background batch thread when the loop stops early
    if reason and done < n_steps:
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
    if run.writes and (run.epoch % max(1, cfg.sample_every) == 0 or run.epoch == cfg.epochs):
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

    Epochs, seed (data order and noise), the sample-grid interval, periodic checkpoints
    (``checkpoint_every`` steps, ``checkpoint_minutes``) and how often the losses are read
    (``log_every``) come from ``task.config``. History columns: ``step``, ``epoch``,
    ``seconds`` (time of the step; on a GPU, where steps are queued, the wait at each read is
    added to the step that read, so sums over many steps are exact) and one column per loss
    returned by the step function.
    """
    out_dir = Path(out_dir)
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
    with _StopSignals(announce=ddp.current().is_main) as signals, bar:
        while run.epoch < epochs and reason is None:
            reason = _run_epoch(task, data, run, bar, signals, max_steps)

    if reason == "interrupt":
        if ddp.current().is_main:
            print(f"Stopped at step {run.global_step}; checkpoint saved to "
                  f"{display_path(run.ckpt_path)}. "
                  f"Continue with resume=True (CLI: --resume).")
        raise KeyboardInterrupt
    return pd.DataFrame(run.history)


def _append(history: dict[str, list], row: dict) -> None:
    n = len(next(iter(history.values()))) if history else 0
    for key in row.keys() | history.keys():
        column = history.setdefault(key, [math.nan] * n)
        column.append(row.get(key, math.nan))


def _agree(flags: tuple[bool, ...], device: torch.device) -> tuple[bool, ...]:
    """OR each flag over the ranks (stop, NaN, save) so every rank acts at the same step."""
    if not ddp.current().enabled:
        return tuple(bool(f) for f in flags)
    t = torch.tensor([float(f) for f in flags], device=device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return tuple(bool(v > 0) for v in t.tolist())


def _diverged(task: Task, run: _Progress, bad: tuple | None, rows: list[dict]) -> None:
    step, name, value = bad if bad else (rows[0]["step"], "(on another rank)", math.nan)
    where = (f"The last good checkpoint is {run.ckpt_path} (untouched); resume from it with "
             f"resume=True / --resume, ideally with a lower learning rate.") \
        if run.ckpt_path.is_file() else "No checkpoint was written yet; restart with a lower learning rate."
    raise TrainingDiverged(f"Training of {task.name} diverged at step {step} "
                           f"(epoch {run.epoch + 1}): loss {name!r} = {value}. {where}")
