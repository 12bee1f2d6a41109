"""Batches on any device: the one uint8 -> [-1, 1] conversion, and the three ways to build a
batch (direct, background thread into pinned memory, dataset resident on the device) agree."""

import threading

import numpy as np
import pytest
import torch

from gan_course.data import batches as batches_module
from gan_course.data.batches import Batches, PairedBatches, rank_share, to_unit_range


def test_to_unit_range_is_correctly_rounded_with_exact_ends():
    x = torch.arange(256, dtype=torch.uint8).repeat(3, 1)
    y = to_unit_range(x)
    expected = (x.double() / 127.5 - 1).float()  # float64 maths, rounded once
    assert y.dtype == torch.float32 and torch.equal(y, expected)
    assert y[0, 0] == -1.0 and y[0, 255] == 1.0 and y[0, 127] < 0 < y[0, 128]
    floats = torch.rand(4)
    assert to_unit_range(floats) is floats  # already converted: unchanged
    # non-contiguous input (a channel slice, a transposed image) converts the same
    img = torch.randint(0, 256, (2, 3, 5, 7), dtype=torch.uint8)
    assert torch.equal(to_unit_range(img[:, 1]), to_unit_range(img[:, 1].contiguous()))
    assert torch.equal(to_unit_range(img.mT), to_unit_range(img).mT)


def _data(n=50, memmap_dir=None):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, 4, 4), dtype=torch.uint8, generator=g)
    labels = torch.arange(n) % 3
    if memmap_dir is None:
        return [images, labels]
    path = memmap_dir / "images.npy"
    np.save(path, images.numpy())
    return [np.load(path, mmap_mode="r"), labels.numpy()]


@pytest.mark.parametrize("kind", ["tensor", "memmap"])
@pytest.mark.parametrize("drop_last,skip", [(True, 0), (False, 0), (True, 3), (False, 5)])
def test_direct_prefetched_and_resident_batches_are_identical(tmp_path, kind, drop_last, skip):
    arrays = _data(memmap_dir=tmp_path if kind == "memmap" else None)
    index = np.arange(3, 49, 2)  # 23 of the 50 rows, as one CycleGAN domain of a shared cache
    b = Batches(arrays, 4, index=index, drop_last=drop_last)
    assert len(b) == (5 if drop_last else 6)

    def run(**how):
        return list(b.epoch(torch.Generator().manual_seed(1), "cpu", skip, **how))

    direct = run(resident=False, prefetch=False)
    assert len(direct) == len(b) - skip
    for how in ({"resident": False, "prefetch": True}, {"resident": True}):
        other = run(**how)
        assert len(other) == len(direct), how
        for (x1, y1), (x2, y2) in zip(direct, other):
            assert x2.dtype == torch.float32 and torch.equal(x1, x2) and torch.equal(y1, y2), how
    # and they are the rows the index names, converted
    x, y = direct[0]
    assert set(y.tolist()) <= {int(v) % 3 for v in index}
    assert x.min() >= -1 and x.max() <= 1


def test_pinned_gather_reads_the_same_rows(tmp_path, monkeypatch):
    """The pinned-memory branch (CUDA only) writes rows straight into the pinned buffer; with
    pinning switched off here it must read exactly what the plain gather reads."""
    real_empty = torch.empty
    monkeypatch.setattr(torch, "empty", lambda *a, pin_memory=False, **k: real_empty(*a, **k))
    for arrays in (_data(), _data(memmap_dir=tmp_path)):
        b = Batches(arrays, 4, index=np.arange(10, 40))
        rows = torch.tensor([0, 5, 7, 29])
        for plain, pinned in zip(b._gather(rows), b._gather(rows, pin=True)):
            assert torch.equal(plain, pinned)


def test_uint8_travels_to_the_device_and_is_converted_there(monkeypatch):
    """Images cross to the device as uint8 (4x fewer bytes than float) on every path."""
    seen = []
    real = batches_module.to_unit_range

    def spy(x):
        seen.append((x.device.type, x.dtype))
        return real(x)

    monkeypatch.setattr(batches_module, "to_unit_range", spy)
    b = Batches(_data(), 5)
    for how in ({"resident": False, "prefetch": False}, {"resident": False, "prefetch": True},
                {"resident": True}):
        seen.clear()
        out = list(b.epoch(torch.Generator().manual_seed(0), "meta", **how))
        assert len(out) == 10 and out[0][0].device.type == "meta"
        assert out[0][0].dtype == torch.float32
        assert ("meta", torch.uint8) in seen and all(dev == "meta" for dev, _ in seen), how


def _batch_threads():
    return [t for t in threading.enumerate() if t.name == "gan_course-batches"]


def test_prefetch_thread_ends_when_the_loop_stops_early_or_fails():
    b = Batches(_data(200), 4)
    it = b.epoch(torch.Generator().manual_seed(0), prefetch=True)
    next(it)
    assert len(_batch_threads()) == 1
    it.close()  # what a `break` out of the training loop does
    assert _batch_threads() == []

    class Broken(Batches):
        def _gather(self, positions, pin=False):
            raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(Broken(_data(), 4).epoch(torch.Generator(), prefetch=True))
    assert _batch_threads() == []


def test_paired_batches_close_both_domains():
    pair = PairedBatches(Batches(_data(40), 4), Batches(_data(24), 4))
    assert len(pair) == 6
    it = pair.epoch(torch.Generator().manual_seed(0), prefetch=True)
    next(it)
    assert len(_batch_threads()) == 2
    it.close()
    assert _batch_threads() == []
    assert len(list(pair.epoch(torch.Generator().manual_seed(0), skip=2))) == 4


def test_rank_share_covers_the_batch_without_overlap():
    for batch in (1, 7, 16, 128):
        for world in range(1, min(batch, 16) + 1):
            shares = [rank_share(batch, world, r) for r in range(world)]
            assert sum(size for _, size in shares) == batch
            assert [off for off, _ in shares] == list(np.cumsum([0] + [s for _, s in shares])[:-1])
            assert max(s for _, s in shares) - min(s for _, s in shares) <= 1


def test_a_batch_smaller_than_the_world_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(batches_module, "_rank_world", lambda: (0, 4))
    with pytest.raises(ValueError, match="cannot be split across 4 processes"):
        Batches(_data(), 2)


def test_prefetch_thread_ends_when_the_consumer_stops_after_the_last_batch_is_queued():
    """The thread may be done gathering (the end marker waiting for room in a full queue)
    when the loop stops: it must not block forever on that marker."""
    import time

    b = Batches(_data(12), 4)  # 3 batches: the queue (2) fills, the end marker waits
    it = b.epoch(torch.Generator().manual_seed(0), prefetch=True)
    next(it)
    time.sleep(0.5)  # the thread has gathered everything and waits to queue the end marker
    t0 = time.monotonic()
    it.close()
    assert _batch_threads() == [] and time.monotonic() - t0 < 5
