"""Decode-once cache: shapes, value range, reuse vs rebuild, bad files; the high-level load()."""

import os
import time

import numpy as np
import pytest
import torch
from PIL import Image

from gan_course import data
from gan_course.data import toy
from gan_course.data.sources import DataError
from gan_course.data.tensors import build_cache, decode_image


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "imgs"
    for cls, n in (("a", 5), ("b", 7)):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(toy.draw_face(i + n, 40)).save(root / cls / f"{i}.jpg")
    return root


def test_batches_shapes_range_labels(folder, tmp_path):
    cache = build_cache(folder, 32, cache_dir=tmp_path / "c")
    assert len(cache) == 12 and cache.classes == ["a", "b"] and cache.counts() == {"a": 5, "b": 7}
    assert cache.images.dtype == np.uint8 and cache.images.shape == (12, 3, 32, 32)
    g = torch.Generator().manual_seed(0)
    batches = list(cache.batches(5).epoch(g))
    assert len(batches) == 2 == len(cache.batches(5))  # drop_last
    x, y = batches[0]
    assert x.shape == (5, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() >= -1 and x.max() <= 1
    assert len(list(cache.batches(5, drop_last=False).epoch(g))) == 3
    # every path converts uint8 the same way: batches, take(), dataset items agree bit for bit
    xs, ys = cache.batches(4).first(12)
    assert ys.tolist() == [0] * 5 + [1] * 7
    item, label = cache.to_dataset()[11]
    assert item.shape == (3, 32, 32) and label == 1
    assert torch.equal(item, xs[11]) and torch.equal(cache.take([11])[0][0], xs[11])
    seen = torch.cat([x for x, _ in cache.batches(3).epoch(g)])
    assert any(torch.equal(seen[i], xs[11]) for i in range(len(seen)))


def test_reuse_and_rebuild(folder, tmp_path):
    first = build_cache(folder, 32, cache_dir=tmp_path / "c")
    assert first.rebuilt
    assert not build_cache(folder, 32, cache_dir=tmp_path / "c").rebuilt  # unchanged: reused
    Image.fromarray(toy.draw_face(99, 40)).save(folder / "a" / "new.png")  # add a file
    added = build_cache(folder, 32, cache_dir=tmp_path / "c")
    assert added.rebuilt and len(added) == 13
    target = folder / "b" / "0.jpg"  # modify a file (content and mtime)
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(target)
    os.utime(target, (time.time() + 5, time.time() + 5))
    modified = build_cache(folder, 32, cache_dir=tmp_path / "c")
    assert modified.rebuilt and modified.images[6].max() == 0


def test_odd_images_are_converted_and_corrupt_skipped(tmp_path):
    root = tmp_path / "imgs" / "x"
    root.mkdir(parents=True)
    Image.fromarray(np.full((30, 50, 4), 200, np.uint8), "RGBA").save(root / "rgba.png")
    Image.fromarray(np.full((70, 40), 90, np.uint8), "L").save(root / "grey.png")
    Image.fromarray(np.full((33, 33), 3, np.uint8), "P").save(root / "pal.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")
    with pytest.warns(UserWarning, match="1 of 4 images"):
        cache = build_cache(tmp_path / "imgs", 16, cache_dir=tmp_path / "c")
    assert len(cache) == 3 and cache.images.shape == (3, 3, 16, 16) and cache.skipped == 1


def test_decode_centre_crops_non_square(tmp_path):
    img = np.zeros((20, 60, 3), np.uint8)
    img[:, 20:40] = 255  # the centre square is white
    Image.fromarray(img).save(tmp_path / "wide.png")
    out = decode_image(tmp_path / "wide.png", 10)
    assert out.shape == (3, 10, 10) and out.min() > 200


def test_bad_folders(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        build_cache(tmp_path / "missing", 32)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images in class sub-folders"):
        build_cache(tmp_path / "empty", 32)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "empty" / "loose.png")
    with pytest.raises(DataError, match="class sub-folder"):
        build_cache(tmp_path / "empty", 32)
    (tmp_path / "allbad" / "x").mkdir(parents=True)
    (tmp_path / "allbad" / "x" / "a.png").write_bytes(b"nope")
    with pytest.warns(UserWarning), pytest.raises(DataError, match="None of the 1 images"):
        build_cache(tmp_path / "allbad", 8, cache_dir=tmp_path / "c2")


def test_load_toy_sets(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GAN_COURSE_DATA", str(tmp_path))
    eg = data.load("eyeglasses", n=24, size=32)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "TOY eyeglasses, 24 images 32x32" in out
    assert "--data real" in out
    assert eg.classes == ["glasses", "no_glasses"] and len(eg) == 24
    hair = data.load("celeba", n=24, size=32)
    assert hair.classes == ["black", "blond"] and 0 < len(hair) < 24
    assert data.load("anime", n=10, size=32).classes == ["images"]
    assert (tmp_path / "toy" / "eyeglasses" / "n24-32px").is_dir()
    assert (tmp_path / "prepared" / "toy" / "eyeglasses" / "n24-32px" / "glasses").is_dir()


def test_load_real_missing_and_bad_args(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_COURSE_DATA", str(tmp_path))
    with pytest.raises(DataError, match="data fetch celeba"):
        data.load("celeba", source="real")
    with pytest.raises(ValueError, match="choose one of"):
        data.load("mnist")
    with pytest.raises(ValueError, match="'toy' or 'real'"):
        data.load("anime", source="web")


def test_fashion_batches_toy(tmp_path, monkeypatch):
    from gan_course.config import get_config

    monkeypatch.setenv("GAN_COURSE_DATA", str(tmp_path))
    batches = data.load_data(get_config("fashion", "smoke", n_train=100, batch_size=10))
    x, y = next(batches.epoch(torch.Generator().manual_seed(0)))
    assert x.shape == (10, 784) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() >= -1 and x.max() <= 1 and x.min() == -1
    assert len(batches) == 10 and batches.classes[0] == "T-shirt/top"
    ds = data.load_fashion(n=100, train=False)
    assert ds.data.shape == (100, 28, 28) and ds.data.dtype == torch.uint8
    assert 0 <= int(ds.targets[0]) < 10


def _png16_rgb(path, rgb16):
    """Write a 16-bit-per-channel RGB PNG by hand (Pillow cannot write one)."""
    import struct
    import zlib

    h, w, _ = rgb16.shape
    raw = b"".join(b"\0" + rgb16[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0,
                                                                      0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_16_bit_images_are_scaled_not_clipped(tmp_path):
    grey = np.full((16, 16), 32768, np.uint16)  # mid grey in 16 bits
    grey[:, :8] = 65535
    Image.fromarray(grey).save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode == "I;16"
    out = decode_image(tmp_path / "grey16.png", 16)
    assert out[:, :, :8].min() == 255 and out[:, :, 8:].max() == 128 == out[:, :, 8:].min()
    rgb = np.zeros((16, 16, 3), np.uint16)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 65535, 32768, 0
    _png16_rgb(tmp_path / "rgb16.png", rgb)
    out = decode_image(tmp_path / "rgb16.png", 16)
    assert out[0].min() == 255 and out[1].min() == 128 == out[1].max() and out[2].max() == 0


def test_cache_notices_a_replaced_file_with_the_same_size_and_mtime(tmp_path):
    root = tmp_path / "imgs" / "a"
    root.mkdir(parents=True)
    for i in range(3):  # BMP: the file size depends on the image size only
        Image.fromarray(np.full((20, 20, 3), 100 + i, np.uint8)).save(root / f"{i}.bmp")
    assert build_cache(tmp_path / "imgs", 16, cache_dir=tmp_path / "c").images[0].min() == 100
    target = root / "0.bmp"
    st = target.stat()
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "new.bmp")
    (tmp_path / "new.bmp").replace(target)  # new content, same name and size ...
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and the old mtime (cp -p, unzip)
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    again = build_cache(tmp_path / "imgs", 16, cache_dir=tmp_path / "c")
    assert again.rebuilt and again.images[0].max() == 0


def test_class_ids_are_fixed_by_name(folder, tmp_path):
    cache = build_cache(folder, 32, cache_dir=tmp_path / "c", classes=("b", "a"))
    assert cache.classes == ["b", "a"] and cache.counts() == {"b": 7, "a": 5}
    (folder / "zzz").mkdir()  # an extra folder is not a class
    Image.fromarray(toy.draw_face(1, 40)).save(folder / "zzz" / "x.jpg")
    assert build_cache(folder, 32, cache_dir=tmp_path / "c", classes=("b", "a")).counts() == {
        "b": 7, "a": 5}
    with pytest.raises(DataError, match="no images for class 'c'.*label 1 would mean"):
        build_cache(folder, 32, cache_dir=tmp_path / "c", classes=("a", "c"))


def test_tiny_images_are_skipped_by_the_cache(folder, tmp_path):
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(folder / "a" / "dot.png")
    with pytest.warns(UserWarning, match=r"1 of 13 images .* dot.png: too small \(1x1 px"):
        cache = build_cache(folder, 32, cache_dir=tmp_path / "c")
    assert len(cache) == 12 and cache.skipped == 1
