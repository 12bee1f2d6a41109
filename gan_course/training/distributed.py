"""Data-parallel training on several processes (``torchrun``), kept out of the step functions.

How it fits together:

* ``torchrun --nproc_per_node=N -m gan_course train ...`` starts N copies; each reads ``RANK``,
  ``WORLD_SIZE`` and ``LOCAL_RANK`` and calls :func:`init_distributed` (gloo on CPU, nccl on CUDA).
* Every rank draws the SAME permutation of the data from a shared seed and takes a disjoint
  share of each step's images (see :class:`gan_course.data.batches.Batches`): the config's
  batch is the **global** batch (``TrainConfig.global_batch``), so N processes take the book's
  steps with the book's batch; with ``batch_per_rank`` it is per process instead.
* Models are wrapped in :class:`~torch.nn.parallel.DistributedDataParallel` (:func:`wrap`), which
  broadcasts rank 0's weights at start and averages gradients during ``backward()``.
* Checkpoints, sample grids and the history are written once per filesystem: by rank 0 when
  every rank sees the output folder (one machine, or a shared filesystem), else by the first
  process of each node (:func:`writes_to`), so every node can resume. Data is prepared and
  cached the same way (:func:`prepares_data`), while the others wait in a barrier with a long
  timeout (first runs decode tens of thousands of images).

Two known pitfalls and what this package does about them:

1. **Gradient penalty = double backward.** DDP's gradient hooks do not support
   ``autograd.grad(..., create_graph=True)`` followed by ``backward()`` through a DDP-wrapped
   module. So the critic loss (scores AND penalty) is computed with the *unwrapped* critic
   (``plain(critic)``): DDP's reducer only expects hooks after a forward through the wrapper, so
   it stays idle, and :func:`average_gradients` then all-reduces the critic's ``.grad`` by hand
   (sum / world). Every rank therefore applies the same averaged gradient and the critics stay
   identical - tests/test_ddp.py checks this bit for bit.
2. **BatchNorm buffers.** DDP's default ``broadcast_buffers=True`` overwrites the running stats
   in place at the start of every forward through the wrapper. A GAN step calls D several
   times (real, fake, then again for G) and in-place writes to tensors an autograd graph may
   have saved are a known source of "modified by an inplace operation" errors in DDP GANs.
   We therefore wrap with ``broadcast_buffers=False``: each rank normalises with the
   statistics of its own share of the batch, and :func:`sync_buffers` copies rank 0's running
   stats to all ranks before every checkpoint and sample grid, so saved models are identical
   (the test compares them). The one difference from the book this leaves: with the global
   batch split over N processes, a BatchNorm layer sees ``batch / N`` images (the DCGAN on 8
   GPUs: 16 instead of 128). ``batch_per_rank`` keeps the book's batch per BatchNorm (and
   grows the global batch); SyncBatchNorm would restore the book's statistics exactly but is
   CUDA-only (nothing here could test it) and costs one collective per BatchNorm layer and
   forward pass, so it is not used.
"""

from __future__ import annotations

import os
import secrets
import warnings
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


@dataclass
class DistInfo:
    """Where this process sits: ``rank`` of ``world`` processes, ``local_rank`` on this machine."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _minutes(name: str, default: float) -> timedelta:
    value = os.environ.get(name)
    try:
        return timedelta(minutes=float(value)) if value else timedelta(minutes=default)
    except ValueError:
        raise ValueError(f"{name} must be a number of minutes, got {value!r}.") from None


def init_distributed(device_type: str | None = None) -> DistInfo:
    """Join the process group that ``torchrun`` set up; a no-op single-process run otherwise.

    Reads ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``; uses nccl when ``device_type`` is ``cuda``
    (each rank on ``cuda:LOCAL_RANK``) and gloo otherwise. Collectives time out after
    ``GAN_COURSE_DIST_TIMEOUT_MIN`` minutes (default 30; torch's nccl default is 10), and a
    second, gloo group with a much longer timeout (``GAN_COURSE_DATA_TIMEOUT_MIN``, default 180)
    serves the one long wait of a run: the other ranks waiting while the data is decoded into
    its cache the first time (:func:`wait_for_data`).
    """
    global _DATA_GROUP
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend,
                                timeout=_minutes("GAN_COURSE_DIST_TIMEOUT_MIN", 30))
        _DATA_GROUP = dist.new_group(backend="gloo",
                                     timeout=_minutes("GAN_COURSE_DATA_TIMEOUT_MIN", 180))
    return DistInfo(rank=rank, world=world, local_rank=local_rank)


_DATA_GROUP = None


def current() -> DistInfo:
    """The :class:`DistInfo` of this process (after :func:`init_distributed`)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(),
                        int(os.environ.get("LOCAL_RANK", "0")))
    return DistInfo()


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """Wrap ``model`` in DDP when running distributed (see the module docstring for the options)."""
    if not current().enabled:
        return model
    ids = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else None
    with warnings.catch_warnings():
        # recent torch (2.14) deprecates the name for forward_sync_buffers, but says to keep
        # broadcast_buffers=False while buffers must not be synced at init (no successor yet)
        warnings.filterwarnings("ignore", message=".*broadcast_buffers.* is deprecated")
        return DistributedDataParallel(model, device_ids=ids, broadcast_buffers=False)


def plain(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (or the model itself): for forward passes DDP must not see."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def average_gradients(model: nn.Module) -> None:
    """All-reduce (average) ``model``'s gradients across ranks; nothing to do on one process.

    Used after a backward that bypassed DDP (the critic loss with the gradient penalty).
    Gradients are flattened into one buffer so it is one collective, not one per tensor.
    """
    info = current()
    if not info.enabled:
        return
    grads = [p.grad for p in plain(model).parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= info.world
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def sync_buffers(model: nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm running stats) to every rank."""
    if not current().enabled:
        return
    for buf in plain(model).buffers():
        dist.broadcast(buf, src=0)


def barrier() -> None:
    """Wait for all ranks (no-op on one process)."""
    if current().enabled:
        dist.barrier()


def wait_for_data() -> None:
    """Barrier for the data preparation: long timeout (see :func:`init_distributed`)."""
    if current().enabled:
        dist.barrier(group=_DATA_GROUP)


def all_gather(obj) -> list:
    """``obj`` of every rank, in rank order (``[obj]`` on one process); objects are pickled
    in memory between the ranks of this job, never loaded from a file."""
    info = current()
    if not info.enabled:
        return [obj]
    out = [None] * info.world
    dist.all_gather_object(out, obj)
    return out


def is_shared_folder(folder: str | os.PathLike) -> bool:
    """Whether every rank sees the same ``folder`` (one machine, or a shared filesystem).

    Rank 0 creates a file with a random name there; every rank looks for it. Collective: all
    ranks must call it. ``True`` on one process.
    """
    info = current()
    if not info.enabled:
        return True
    folder = Path(folder)
    name = all_gather(f".gan_course-shared-{secrets.token_hex(8)}")[0]
    probe = folder / name
    if info.is_main:
        folder.mkdir(parents=True, exist_ok=True)
        probe.touch()
    barrier()
    seen = all(all_gather(probe.exists()))
    barrier()
    if info.is_main:
        probe.unlink(missing_ok=True)
    return seen


def writes_to(folder: str | os.PathLike) -> bool:
    """Whether this rank writes the files of ``folder``: rank 0 if every rank sees the folder,
    else the first process on each node (``LOCAL_RANK == 0``). Collective."""
    info = current()
    if not info.enabled:
        return True
    return info.is_main if is_shared_folder(folder) else info.local_rank == 0


def prepares_data(data_root: str | os.PathLike) -> bool:
    """Whether this rank prepares and caches the data before the others read it: one rank per
    filesystem, as :func:`writes_to`. Collective."""
    return writes_to(data_root)


def cleanup() -> None:
    """Leave the process group (call once at the end of a distributed run)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
