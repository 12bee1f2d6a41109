"""The one training loop shared by every model: all the bookkeeping, written once.

``fit(task, data, epochs=..., out_dir=...)`` repeats ``task.step(batch)`` over shuffled batches
and takes care of everything around it:

* a ``tqdm.auto`` progress bar (terminal or notebook) showing the live losses;
* the loss history as a pandas DataFrame (one row per step; returned, and saved as
  ``out_dir/history.csv``);
* a grid of samples from FIXED noise after every ``sample_every`` epochs
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
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from gan_course.training import distributed as ddp
from gan_course.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)

CHECKPOINT_NAME = "checkpoint.pt"


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message names the step, the loss and the checkpoint."""


# ----------------------------------------------------------------------------- data
class Batches:
    """Shuffled mini-batches of in-memory arrays, sharded across ``torchrun`` ranks.

    ``arrays`` share their first dimension N (e.g. images ``(N, 3, H, W)`` uint8 and labels
    ``(N,)``); uint8 images are turned into float32 in [-1, 1] per batch, so the whole dataset
    stays compact. Each epoch draws one permutation from the data generator - the same on every
    rank, because all ranks share its seed - and rank ``r`` of ``W`` takes ``perm[r::W]``.
    """

    def __init__(self, arrays: Sequence[Any], batch_size: int, drop_last: bool = True,
                 index: Sequence[int] | None = None):
        # tensors and numpy arrays (incl. memmaps) are indexed as they are, without a copy
        self.arrays = [a if isinstance(a, (torch.Tensor, np.ndarray)) else np.asarray(a)
                       for a in arrays]
        if any(len(a) != len(self.arrays[0]) for a in self.arrays):
            raise ValueError("all arrays passed to Batches must have the same length.")
        # optional subset of rows (e.g. one CycleGAN domain of a shared cache), still no copy
        self.index = None if index is None else torch.as_tensor(np.asarray(index), dtype=torch.long)
        self.n = len(self.arrays[0]) if self.index is None else len(self.index)
        self.batch_size, self.drop_last = int(batch_size), drop_last
        info = ddp.current()
        self.rank, self.world = info.rank, info.world
        if self.n // self.world < self.batch_size and drop_last:
            raise ValueError(
                f"Only {self.n} examples for batches of {self.batch_size} on {self.world} "
                f"process(es): use more training images (n_train) or a smaller batch_size.")

    def __len__(self) -> int:
        per_rank = len(range(self.rank, self.n, self.world))
        if self.drop_last:
            return per_rank // self.batch_size
        return math.ceil(per_rank / self.batch_size)

    def first(self, k: int) -> tuple[torch.Tensor, ...]:
        """The first ``k`` examples (unshuffled, float images) - e.g. fixed inputs for sample grids."""
        idx = torch.arange(min(k, self.n))
        if self.index is not None:
            idx = self.index[idx]
        return tuple(self._take(a, idx) for a in self.arrays)

    def _take(self, array: Any, idx: torch.Tensor) -> torch.Tensor:
        if isinstance(array, torch.Tensor):
            out = array[idx]
        else:  # numpy / memmap: fancy indexing reads (copies) just this batch
            order = idx.numpy()
            out = torch.from_numpy(np.ascontiguousarray(array[order]))
        if out.dtype == torch.uint8:
            out = out.float().div_(127.5).sub_(1.0)
        return out

    def epoch(self, generator: torch.Generator, device: torch.device,
              skip: int = 0) -> Iterator[tuple[torch.Tensor, ...]]:
        """Batches for one epoch (the permutation is drawn from ``generator`` now, not lazily).

        ``skip`` leaves out the first batches (resuming in the middle of an epoch).
        """
        perm = torch.randperm(self.n, generator=generator)[self.rank::self.world]
        return self._iterate(perm, device, skip)

    def _iterate(self, perm: torch.Tensor, device: torch.device, skip: int):
        for b in range(skip, len(self)):
            idx = perm[b * self.batch_size:(b + 1) * self.batch_size]
            if self.index is not None:
                idx = self.index[idx]
            yield tuple(self._take(a, idx).to(device, non_blocking=True) for a in self.arrays)


class PairedBatches:
    """Two unpaired domains (CycleGAN): each shuffled on its own, zipped batch by batch.

    An epoch has as many batches as the smaller domain allows, and yields ``(images_A, images_B)``.
    """

    def __init__(self, a: Batches, b: Batches):
        self.a, self.b = a, b

    def __len__(self) -> int:
        return min(len(self.a), len(self.b))

    def epoch(self, generator: torch.Generator, device: torch.device, skip: int = 0):
        batches_a = self.a.epoch(generator, device, skip)  # permutation of A drawn first,
        batches_b = self.b.epoch(generator, device, skip)  # then B's: a fixed order
        return ((img_a, img_b) for _, (img_a, *_), (img_b, *_)
                in zip(range(skip, len(self)), batches_a, batches_b))


# ----------------------------------------------------------------------------- the task bundle
@dataclass
class Task:
    """Everything :func:`fit` needs about one model (built by :func:`gan_course.training.tasks.build_task`).

    ``step(task, batch) -> dict of float losses`` trains on one batch; ``sample(task, fixed) ->
    images (B, C, H, W) in [-1, 1]``; ``make_fixed(task, data)`` builds the fixed inputs of the
    sample grids (noise, or real images to translate).
    """

    name: str
    config: Any
    device: torch.device
    models: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    step_fn: Callable[[Task, tuple], dict]
    sample_fn: Callable[[Task, Any], torch.Tensor]
    make_fixed: Callable[[Task, Any], Any]
    schedulers: dict[str, Any] = field(default_factory=dict)
    scalers: dict[str, torch.amp.GradScaler] = field(default_factory=dict)
    fixed: Any = None
    extra: dict = field(default_factory=dict)
    ema: Any = None  # EMA: a gan_course.training.ema.ModelEMA of the generator(s), or None

    def step(self, batch: tuple) -> dict:
        """Train on one batch; returns the float losses."""
        losses = self.step_fn(self, batch)
        if self.ema is not None:  # EMA: average the generator after its update
            self.ema.update()
        return losses

    @torch.no_grad()
    def sample(self, fixed: Any = None) -> torch.Tensor:
        """Images from the fixed inputs (or ``fixed``) with the models in eval mode, ``(B, C, H, W)``."""
        fixed = self.fixed if fixed is None else fixed
        modes = {k: m.training for k, m in self.models.items()}
        for m in self.models.values():
            m.eval()
        try:
            # EMA: sample grids show the averaged generator when there is one
            with self.ema.swapped() if self.ema is not None else contextlib.nullcontext():
                return self.sample_fn(self, fixed).float().cpu()
        finally:
            for k, m in self.models.items():
                m.train(modes[k])

    # -- state for checkpoints
    def state_dict(self) -> dict:
        """Weights, optimisers, schedulers, scalers and fixed inputs (all weights_only-safe)."""
        return {
            "models": {k: ddp.plain(m).state_dict() for k, m in self.models.items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "scalers": {k: s.state_dict() for k, s in self.scalers.items()},
            "fixed": self.fixed,
            **({"ema": self.ema.state_dict()} if self.ema is not None else {}),  # EMA
        }

    def load_state_dict(self, state: dict) -> None:
        """Inverse of :meth:`state_dict`."""
        for k, m in self.models.items():
            ddp.plain(m).load_state_dict(state["models"][k])
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        for k, s in self.schedulers.items():
            if k in state.get("schedulers", {}):
                s.load_state_dict(state["schedulers"][k])
        for k, s in self.scalers.items():
            if state.get("scalers", {}).get(k):
                s.load_state_dict(state["scalers"][k])
        if state.get("fixed") is not None:
            self.fixed = _to_device(state["fixed"], self.device)
        if self.ema is not None and "ema" in state:  # EMA
            self.ema.load_state_dict(state["ema"])


def _to_device(x: Any, device: torch.device) -> Any:
    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, (list, tuple)):
        return type(x)(_to_device(v, device) for v in x)
    return x


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


# ----------------------------------------------------------------------------- the loop
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


def fit(task: Task, data: Batches | PairedBatches, *, epochs: int, out_dir: str | Path,
        resume: bool = False, progress: bool = True, sample_every: int = 1,
        max_steps: int | None = None, seed: int | None = None) -> pd.DataFrame:
    """Train ``task`` on ``data`` for ``epochs`` epochs in total; returns the history DataFrame.

    Args:
        task: models + optimisers + step/sample functions (see :class:`Task`).
        data: :class:`Batches` / :class:`PairedBatches`.
        epochs: total number of epochs (a resumed run continues up to this number).
        out_dir: where ``checkpoint.pt``, ``history.csv`` and ``samples/`` are written.
        resume: continue from ``out_dir/checkpoint.pt`` if it exists (else start fresh).
        progress: show a tqdm progress bar.
        sample_every: save a sample grid every N epochs (and after the last one).
        max_steps: stop (and checkpoint) after this many steps in total; ``None`` = no limit.
        seed: seed of the data order and the noise (default ``task.config.seed``).

    History columns: ``step``, ``epoch``, ``seconds`` (wall time of the step) and one column per
    loss returned by the step function.
    """
    from tqdm.auto import tqdm

    from gan_course.viz import save_grid

    info = ddp.current()
    out_dir = Path(out_dir)
    ckpt_path = out_dir / CHECKPOINT_NAME
    seed = task.config.seed if seed is None else seed
    if info.is_main:
        (out_dir / "samples").mkdir(parents=True, exist_ok=True)

    # Fresh start: seed everything. Noise differs per rank (seed + rank) so ranks do not all
    # draw the same fakes; the data generator is shared (same permutation, disjoint shards).
    data_gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed + info.rank)
    np.random.seed((seed + info.rank) % 2**32)
    history: dict[str, list] = {}
    epoch, skip, global_step = 0, 0, 0
    epoch_data_state = data_gen.get_state()

    if resume and ckpt_path.is_file():
        state = load_checkpoint(ckpt_path, map_location="cpu")
        if state.get("task") != task.name:
            raise CheckpointError(f"{ckpt_path} holds a {state.get('task')!r} run, not "
                                  f"{task.name!r}: pass another --out folder.")
        _check_same_settings(ckpt_path, state.get("config") or {}, task.config.to_dict())
        task.load_state_dict(state["task_state"])
        epoch, skip = int(state["epoch"]), int(state["batch_in_epoch"])
        global_step, history = int(state["global_step"]), state["history"]
        epoch_data_state = state["epoch_data_state"]
        set_rng_state(state["rng"])
        if info.rank > 0:  # only rank 0's noise stream was saved; others get a fresh one
            torch.manual_seed(seed + info.rank + 7919 * global_step)
        if info.is_main:
            print(f"Resuming {task.name} from {ckpt_path}: epoch {epoch + 1}, step {global_step}.")
    elif resume and info.is_main:
        print(f"No checkpoint in {out_dir}; starting a fresh run.")
    if task.fixed is None:
        task.fixed = task.make_fixed(task, data)

    def checkpoint(ep: int, in_epoch: int, ep_state: torch.Tensor) -> None:
        for m in task.models.values():
            ddp.sync_buffers(m)
        if not info.is_main:
            return
        save_checkpoint(ckpt_path, {
            "task": task.name, "config": task.config.to_dict(), "task_state": task.state_dict(),
            "epoch": ep, "batch_in_epoch": in_epoch, "global_step": global_step,
            "epoch_data_state": ep_state, "rng": rng_state(), "history": history,
            "world_size": info.world, "torch_version": str(torch.__version__),
        })
        pd.DataFrame(history).to_csv(out_dir / "history.csv", index=False)

    stop_reason = None
    with _DeferredInterrupt() as interrupt:
        while epoch < epochs and stop_reason is None:
            data_gen.set_state(epoch_data_state)
            n_batches = len(data)
            bar = tqdm(data.epoch(data_gen, task.device, skip=skip), total=n_batches,
                       initial=skip, desc=f"{task.name} epoch {epoch + 1}/{epochs}",
                       disable=not (progress and info.is_main),
                       # one bar on screen, not one per epoch: earlier bars close when done
                       leave=epoch + 1 == epochs)
            done_in_epoch = skip
            for batch in bar:
                t0 = time.perf_counter()
                losses = task.step(batch)
                seconds = time.perf_counter() - t0
                bad = [(k, v) for k, v in losses.items() if not math.isfinite(v)]
                stop_flag, bad_flag = _agree(interrupt.requested, bool(bad), task.device)
                if bad_flag:
                    bar.close()
                    _diverged(task, global_step + 1, epoch, bad, ckpt_path)
                global_step += 1
                done_in_epoch += 1
                _append(history, {"step": global_step, "epoch": epoch + 1, "seconds": seconds,
                                  **losses})
                bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)
                if stop_flag:
                    stop_reason = "interrupt"
                elif max_steps is not None and global_step >= max_steps:
                    stop_reason = "max_steps"
                if stop_reason:
                    break
            bar.close()
            if stop_reason and done_in_epoch < n_batches:
                # mid-epoch stop: remember where in this epoch we are, to resume exactly here
                checkpoint(epoch, done_in_epoch, epoch_data_state)
                break
            # epoch finished: the generator now holds the next epoch's starting state
            for sched in task.schedulers.values():
                sched.step()
            epoch, skip, epoch_data_state = epoch + 1, 0, data_gen.get_state()
            last = epoch == epochs
            if info.is_main and (epoch % max(1, sample_every) == 0 or last):
                save_grid(task.sample(), out_dir / "samples" / f"epoch_{epoch:03d}.png")
            checkpoint(epoch, 0, epoch_data_state)

    if stop_reason == "interrupt":
        if info.is_main:
            print(f"Stopped at step {global_step}; checkpoint saved to {ckpt_path}. "
                  f"Continue with resume=True (CLI: --resume).")
        raise KeyboardInterrupt
    return pd.DataFrame(history)


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


def _diverged(task: Task, step: int, epoch: int, bad: list, ckpt_path: Path) -> None:
    name, value = bad[0] if bad else ("(another rank)", math.nan)
    where = (f"The last good checkpoint is {ckpt_path} (untouched); resume from it with "
             f"resume=True / --resume, ideally with a lower learning rate.") \
        if ckpt_path.is_file() else "No checkpoint was written yet; restart with a lower learning rate."
    raise TrainingDiverged(f"Training of {task.name} diverged at step {step} (epoch {epoch + 1}): "
                           f"loss {name!r} = {value}. {where}")
