"""Shuffled mini-batches of in-memory (or memory-mapped) arrays: the last stage of the data flow.

``source -> prepare -> tensors (uint8 cache) -> batches -> training loop``

:class:`Batches` serves one epoch at a time from arrays that share their first dimension (images
``(N, C, H, W)`` or flattened ``(N, 784)`` uint8, labels ``(N,)``); :class:`PairedBatches` zips two
unpaired domains for CycleGAN. Images stay uint8 until they reach the device the model runs on
and are turned into float32 in [-1, 1] there by :func:`to_unit_range` - the one conversion every
path of the package uses (batches, single dataset items, evaluation images), so they all agree
bit for bit.

**The batch size is the global batch.** One step consumes ``batch_size`` images of the epoch's
permutation, whatever the number of ``torchrun`` processes: each rank takes its own contiguous
share of those images (:func:`rank_share`; shares differ by at most one image when the batch does
not divide). So every rank runs **the same number of steps** - ``N // batch_size`` per epoch, an
extra step on one rank would wait forever for the others - and the union of the ranks' batches
at step ``k`` is exactly batch ``k`` of a one-process run.

On a GPU, batches are built without stalling the training thread:

* a dataset that fits in a quarter of the free GPU memory is copied to the GPU once and batches
  are gathered there (``resident``);
* otherwise a background thread gathers the next batches into pinned host memory while the
  current step runs (``prefetch``); the copy to the GPU is asynchronous.

Both ship uint8 (4x fewer bytes than float) and convert on the GPU.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

DEVICE_FRACTION = 0.25
"""A dataset is kept on the GPU when it needs at most this fraction of the free GPU memory."""

_HALF = np.float32(127.5)


def to_unit_range(x: torch.Tensor) -> torch.Tensor:
    """uint8 tensor (any shape, any device) -> float32 in [-1, 1]: ``(x - 127.5) / 127.5``.

    0 -> -1 and 255 -> +1 exactly, and every value is the correctly rounded float32 of
    ``x / 127.5 - 1`` (it equals ``Normalize(0.5, 0.5)(ToTensor()(img))`` up to float rounding).
    The subtraction is fused with the uint8 -> float cast (one memory pass: NumPy's buffered
    cast on CPU, the kernel's own cast on a GPU), then one in-place division. Float input is
    returned unchanged (already converted).
    """
    if x.dtype != torch.uint8:
        return x
    out = torch.empty(x.shape, dtype=torch.float32, device=x.device)
    if x.device.type == "cpu":
        np.subtract(x.numpy(), _HALF, out=out.numpy(), dtype=np.float32)
    else:
        torch.sub(x, 127.5, out=out)
    return out.div_(127.5)


def _rank_world() -> tuple[int, int]:
    """This process's rank and the world size (0, 1 outside ``torchrun``)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def rank_world() -> tuple[int, int]:
    """``(rank, world size)`` of this process as the data sees it (``(0, 1)`` on one process)."""
    return _rank_world()


def rank_share(batch: int, world: int, rank: int) -> tuple[int, int]:
    """``(offset, size)`` of rank ``rank``'s share of a global batch of ``batch`` images.

    Contiguous shares in rank order; the first ``batch % world`` ranks take one image more.
    """
    base, extra = divmod(int(batch), int(world))
    return rank * base + min(rank, extra), base + (1 if rank < extra else 0)


class Batches:
    """One dataset as shuffled mini-batches, shared across ``torchrun`` ranks.

    Args:
        arrays: tensors or NumPy arrays (memmaps included) with the same length N; uint8 ones
            are converted to float in [-1, 1] per batch, on the device, so the whole dataset
            stays compact.
        batch_size: the **global** batch - images per step over all processes (on one process
            simply the batch). Each rank takes its share (:func:`rank_share`).
        index: optional subset of rows (e.g. one CycleGAN domain of a shared cache), no copy.
        drop_last: leave out the last incomplete batch (default, as the book's ``DataLoader``).
        classes: optional class names, indexed by label (for printing).

    Each epoch draws one permutation from the generator passed to :meth:`epoch` - the same on
    every rank, because all ranks seed it alike - and step ``k`` uses its entries
    ``[k * batch_size, (k + 1) * batch_size)``, shared out among the ranks.
    """

    def __init__(self, arrays: Sequence[Any], batch_size: int, *,
                 index: Sequence[int] | None = None, drop_last: bool = True,
                 classes: Sequence[str] | None = None):
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        # tensors and numpy arrays (incl. memmaps) are indexed as they are, without a copy
        self.arrays = [a if isinstance(a, (torch.Tensor, np.ndarray)) else np.asarray(a)
                       for a in arrays]
        if any(len(a) != len(self.arrays[0]) for a in self.arrays):
            raise ValueError("all arrays passed to Batches must have the same length.")
        self.index = None if index is None else torch.as_tensor(np.asarray(index), dtype=torch.long)
        self.n = len(self.arrays[0]) if self.index is None else len(self.index)
        self.batch_size, self.drop_last = int(batch_size), drop_last
        self.classes = list(classes) if classes is not None else None
        self.rank, self.world = _rank_world()
        if self.batch_size < self.world:
            raise ValueError(
                f"A global batch of {self.batch_size} cannot be split across {self.world} "
                f"processes (each needs at least one image): use a batch size >= {self.world}.")
        self.rank_batch = rank_share(self.batch_size, self.world, self.rank)[1]
        if self.n < self.batch_size and drop_last:
            raise ValueError(
                f"Only {self.n} examples for batches of {self.batch_size}: use more training "
                f"images (n_train) or a smaller batch_size.")
        self._resident: dict[str, list[torch.Tensor]] = {}

    def __len__(self) -> int:
        """Steps per epoch - the same number on every rank."""
        full, rest = divmod(self.n, self.batch_size)
        # a last partial batch is kept only if every rank gets at least one image of it
        return full + (1 if not self.drop_last and rest >= self.world else 0)

    def __repr__(self) -> str:
        classes = f", classes={self.classes}" if self.classes else ""
        ranks = (f", {self.rank_batch} of each on rank {self.rank} of {self.world}"
                 if self.world > 1 else "")
        return (f"Batches({self.n:,} examples, {len(self)} batches of {self.batch_size} per "
                f"epoch{ranks}{classes})")

    # ------------------------------------------------------------------ reading rows
    def take(self, rows: Sequence[int] | torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The examples at positions ``rows`` (of this dataset, unshuffled) as tensors, images in [-1, 1]."""
        positions = torch.as_tensor(np.asarray(rows), dtype=torch.long)
        return tuple(to_unit_range(t) for t in self._gather(positions))

    def first(self, k: int) -> tuple[torch.Tensor, ...]:
        """The first ``k`` examples (unshuffled) - e.g. fixed inputs for sample grids."""
        return self.take(torch.arange(min(int(k), self.n)))

    def _gather(self, positions: torch.Tensor, pin: bool = False) -> tuple[torch.Tensor, ...]:
        """Rows at ``positions`` (of this dataset) of every array, raw (uint8 images, int
        labels) on the CPU; ``pin``: in pinned memory, for an asynchronous copy to a GPU."""
        idx = positions if self.index is None else self.index[positions]
        out = []
        for a in self.arrays:
            if pin:
                buf = torch.empty((len(idx), *a.shape[1:]), dtype=_torch_dtype(a),
                                  pin_memory=True)
                if isinstance(a, torch.Tensor):
                    torch.index_select(a, 0, idx, out=buf)
                else:  # numpy / memmap straight into the pinned buffer: one copy
                    np.take(a, idx.numpy(), axis=0, out=buf.numpy(), mode="clip")
                out.append(buf)
            elif isinstance(a, torch.Tensor):
                out.append(torch.index_select(a, 0, idx))  # ~10x faster than a[idx]
            else:  # numpy / memmap: fancy indexing reads (copies) just these rows
                out.append(torch.from_numpy(np.ascontiguousarray(a[idx.numpy()])))
        return tuple(out)

    # ------------------------------------------------------------------ one epoch
    def epoch(self, generator: torch.Generator, device: torch.device | str = "cpu",
              skip: int = 0, *, resident: bool | None = None,
              prefetch: bool | None = None) -> Iterator[tuple[torch.Tensor, ...]]:
        """Batches for one epoch on ``device`` (the permutation is drawn from ``generator`` now).

        ``skip`` leaves out the first batches (resuming in the middle of an epoch).
        ``resident`` keeps the dataset on the device (default: on CUDA when it fits in
        :data:`DEVICE_FRACTION` of the free memory); ``prefetch`` gathers batches in a
        background thread (default: on CUDA when not resident). All paths yield the same
        batches.
        """
        device = torch.device(device)
        perm = torch.randperm(self.n, generator=generator)
        plan = self._plan(perm, int(skip))
        if resident is None:
            resident = device.type == "cuda" and self._fits(device)
        if resident:
            return self._from_resident(plan, device)
        if prefetch is None:
            prefetch = device.type == "cuda"
        return self._prefetched(plan, device) if prefetch else self._direct(plan, device)

    def _plan(self, perm: torch.Tensor, skip: int) -> list[torch.Tensor]:
        """This rank's positions for each remaining step of the epoch (sorted within a batch: a
        batch is a set, and sorted rows turn random reads of a memmap into forward reads)."""
        steps, full = len(self), self.n // self.batch_size
        offset, size = rank_share(self.batch_size, self.world, self.rank)
        block = perm[:full * self.batch_size].view(full, self.batch_size)
        plan = list(block[skip:steps, offset:offset + size].sort(dim=1).values)
        if steps > full and skip <= full:  # the last, partial batch (drop_last=False)
            start = full * self.batch_size
            offset, size = rank_share(self.n - start, self.world, self.rank)
            plan.append(perm[start + offset:start + offset + size].sort().values)
        return plan

    def _direct(self, plan, device):
        for rows in plan:
            yield tuple(to_unit_range(t.to(device, non_blocking=True))
                        for t in self._gather(rows))

    def _prefetched(self, plan, device):
        """Gather the next batches in a thread (pinned memory for CUDA) while this one trains."""
        pin = device.type == "cuda"
        if pin and device.index is None:  # "cuda" means this thread's current GPU
            device = torch.device("cuda", torch.cuda.current_device())
        ready: queue.Queue = queue.Queue(maxsize=2)
        stop = threading.Event()

        def put(item) -> bool:
            """Queue ``item`` unless the consumer has gone (then never block: it will not read)."""
            while not stop.is_set():
                try:
                    ready.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def produce():
            try:
                if pin:  # CUDA calls from this thread go to this process's GPU, not GPU 0
                    torch.cuda.set_device(device)
                for rows in plan:
                    if not put(self._gather(rows, pin=pin)):
                        return
                put(None)
            except BaseException as exc:  # handed to the training thread, raised there
                put(exc)

        worker = threading.Thread(target=produce, name="gan_course-batches", daemon=True)
        worker.start()
        try:
            while (item := ready.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield tuple(to_unit_range(t.to(device, non_blocking=True)) for t in item)
        finally:  # also when the loop stops early: end the thread, free its queue
            stop.set()
            worker.join()

    def _fits(self, device: torch.device) -> bool:
        if device.type != "cuda" or not torch.cuda.is_available():
            return False
        need = sum(_row_bytes(a) for a in self.arrays) * self.n
        free, _total = torch.cuda.mem_get_info(device)
        return need <= DEVICE_FRACTION * free

    def _device_arrays(self, device: torch.device) -> list[torch.Tensor]:
        """The dataset's rows (``index`` applied) on ``device``, copied once in 256 MB chunks."""
        key = str(device)
        if key not in self._resident:
            arrays = [torch.empty((self.n, *a.shape[1:]), dtype=_torch_dtype(a), device=device)
                      for a in self.arrays]
            step = max(1, (256 << 20) // max(1, sum(_row_bytes(a) for a in self.arrays)))
            for s in range(0, self.n, step):
                part = self._gather(torch.arange(s, min(s + step, self.n)))
                for dst, src in zip(arrays, part):
                    dst[s:s + len(src)].copy_(src)
            self._resident[key] = arrays
        return self._resident[key]

    def _from_resident(self, plan, device):
        arrays = self._device_arrays(device)
        if not plan:
            return
        # every step's positions go to the device in ONE copy: a copy from pageable memory
        # per step would wait for the GPU each time
        positions = torch.cat(plan).to(device)
        for rows in positions.split([len(p) for p in plan]):
            yield tuple(to_unit_range(a.index_select(0, rows)) for a in arrays)


def _torch_dtype(array) -> torch.dtype:
    if isinstance(array, torch.Tensor):
        return array.dtype
    return torch.from_numpy(np.empty(0, dtype=array.dtype)).dtype


def _row_bytes(array) -> int:
    itemsize = array.element_size() if isinstance(array, torch.Tensor) else array.itemsize
    return int(itemsize * math.prod(array.shape[1:]))


class PairedBatches:
    """Two unpaired domains (CycleGAN): each shuffled on its own, zipped batch by batch.

    An epoch has as many batches as the smaller domain allows, and yields ``(images_A, images_B)``.
    """

    def __init__(self, a: Batches, b: Batches):
        self.a, self.b = a, b

    def __len__(self) -> int:
        return min(len(self.a), len(self.b))

    def __repr__(self) -> str:
        return f"PairedBatches(A: {self.a!r}, B: {self.b!r})"

    def epoch(self, generator: torch.Generator, device: torch.device | str = "cpu",
              skip: int = 0, **options) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(images_A, images_B)`` batches for one epoch (A's permutation is drawn first, then B's)."""
        batches_a = self.a.epoch(generator, device, skip, **options)
        batches_b = self.b.epoch(generator, device, skip, **options)
        return self._zip(batches_a, batches_b, len(self) - skip)

    @staticmethod
    def _zip(batches_a, batches_b, steps: int):
        try:
            for _, (img_a, *_), (img_b, *_) in zip(range(steps), batches_a, batches_b):
                yield img_a, img_b
        finally:
            batches_a.close()
            batches_b.close()
