"""Data-parallel training on several processes (``torchrun``), kept out of the step functions.

How it fits together:

* ``torchrun --nproc_per_node=N -m gan_course train ...`` starts N copies; each reads ``RANK``,
  ``WORLD_SIZE`` and ``LOCAL_RANK`` and calls :func:`init_distributed` (gloo on CPU, nccl on CUDA).
* Every rank draws the SAME permutation of the data from a shared seed and takes a disjoint
  shard of it (see :class:`gan_course.data.batches.Batches`), so the
  global batch is ``world * batch_size`` and no image is seen twice in an epoch.
* Models are wrapped in :class:`~torch.nn.parallel.DistributedDataParallel` (:func:`wrap`), which
  broadcasts rank 0's weights at start and averages gradients during ``backward()``.
* Only rank 0 writes checkpoints, sample grids, the history and the progress bar.

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
   We therefore wrap with ``broadcast_buffers=False``: each rank normalises with its own batch
   statistics (exactly like single-GPU training at the book's batch size, which is what each
   rank sees), and :func:`sync_buffers` copies rank 0's running stats to all ranks before every
   checkpoint and sample grid, so saved models are identical (the test compares them).
   SyncBatchNorm is not used: it would change the statistics to the global batch (no longer
   the book's) and costs one collective per BN layer per forward.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

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


def init_distributed(device_type: str | None = None) -> DistInfo:
    """Join the process group that ``torchrun`` set up; a no-op single-process run otherwise.

    Reads ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``; uses nccl when ``device_type`` is ``cuda``
    (each rank on ``cuda:LOCAL_RANK``) and gloo otherwise.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, world=world, local_rank=local_rank)


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


def cleanup() -> None:
    """Leave the process group (call once at the end of a distributed run)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
