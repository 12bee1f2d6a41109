"""Toy generators: deterministic, attribute-correct, and written in layouts the real loaders read."""

import numpy as np
import pandas as pd
import pytest
from torchvision.datasets import FashionMNIST, ImageFolder

from gan_course.data import toy


def test_draw_face_is_deterministic_and_sized():
    a = toy.draw_face(3, size=64)
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, toy.draw_face(3, size=64))
    assert not np.array_equal(a, toy.draw_face(4, size=64))
    assert toy.draw_face(3, size=256).shape == (256, 256, 3)


def test_too_small_size_is_rejected():
    with pytest.raises(ValueError, match="size >= 32"):
        toy.draw_face(0, size=16)


@pytest.mark.parametrize("seed", [0, 1, 7, 123])
def test_glasses_change_only_the_eye_band(seed):
    size = 64
    on = toy.draw_face(seed, size, glasses=True).astype(int)
    off = toy.draw_face(seed, size, glasses=False).astype(int)
    rows = np.flatnonzero(np.abs(on - off).sum(axis=(1, 2)) > 0)
    assert rows.size > 0, "glasses left no visible trace"
    assert rows.min() >= 0.3 * size and rows.max() <= 0.65 * size, rows
    # clearly visible: dozens of pixels change strongly
    assert (np.abs(on - off).max(axis=2) > 60).sum() > 40


def test_hair_colour_brightness():
    size = 64
    black = toy.draw_face(5, size, hair="black", glasses=False).astype(float)
    blond = toy.draw_face(5, size, hair="blond", glasses=False).astype(float)
    diff = np.abs(black - blond).sum(axis=2) > 0
    assert diff.sum() > 100  # a lot of pixels are hair
    assert blond[diff].mean() > black[diff].mean() + 100  # blond is much brighter
    yellow = blond[diff]
    assert (yellow[:, 2] < yellow[:, 0]).mean() > 0.8  # blond is yellow: blue channel low


def test_unknown_hair_colour_is_rejected():
    with pytest.raises(ValueError, match="hair must be one of"):
        toy.draw_face(0, hair="green")


def test_make_faces_attributes_and_determinism():
    imgs, attrs = toy.make_faces(40, size=32, seed=2)
    assert imgs.shape == (40, 32, 32, 3) and imgs.dtype == np.uint8
    assert list(attrs.columns[:3]) == ["hair", "glasses", "male"] and "face_seed" in attrs
    assert set(attrs["hair"]) <= set(toy.HAIR_COLOURS) and attrs["glasses"].nunique() == 2
    imgs2, attrs2 = toy.make_faces(40, size=32, seed=2)
    assert np.array_equal(imgs, imgs2) and attrs.equals(attrs2)
    row = attrs.iloc[5]
    again = toy.draw_face(int(row.face_seed), 32, row.hair, row.glasses, row.male)
    assert np.array_equal(imgs[5], again)


def test_make_clothing():
    imgs, labels = toy.make_clothing(200, seed=0)
    assert imgs.shape == (200, 28, 28) and imgs.dtype == np.uint8 and labels.dtype == np.int64
    assert np.bincount(labels, minlength=10).min() == 20  # balanced
    assert len(toy.CLOTHING_CLASSES) == 10 and toy.CLOTHING_CLASSES[9] == "Ankle boot"
    assert imgs[:, 0, 0].max() == 0 and imgs.max() > 100  # white on black
    means = np.stack([imgs[labels == k].mean(0) for k in range(10)])
    assert np.abs(means[1] - means[8]).mean() > 10  # classes look different
    assert np.array_equal(imgs, toy.make_clothing(200, seed=0)[0])


def test_write_anime_is_imagefolder_and_idempotent(tmp_path):
    root = toy.write_anime(tmp_path / "anime", 12, size=32)
    ds = ImageFolder(str(root))
    assert len(ds) == 12 and ds.classes == ["images"]
    first = {p: p.stat().st_mtime_ns for p in (root / "images").iterdir()}
    toy.write_anime(root, 12, size=32)  # second call: no-op
    assert first == {p: p.stat().st_mtime_ns for p in (root / "images").iterdir()}


def test_write_eyeglasses_layout(tmp_path):
    root = toy.write_eyeglasses(tmp_path / "eg", 10, size=32)
    df = pd.read_csv(root / "train.csv")
    assert list(df.columns) == ["id", "glasses"] and df["id"].tolist() == list(range(1, 11))
    assert set(df["glasses"]) <= {0, 1}
    for i in df["id"]:
        assert (root / "faces-spring-2020" / "faces-spring-2020" / f"face-{i}.png").is_file()


def test_write_celeba_layout(tmp_path):
    root = toy.write_celeba(tmp_path / "celeba", 10, size=32)
    df = pd.read_csv(root / "list_attr_celeba.csv")
    assert df["image_id"].iloc[0] == "000001.jpg"
    for col in ("5_o_Clock_Shadow", "Black_Hair", "Blond_Hair", "Brown_Hair", "Eyeglasses",
                "Male", "Smiling", "Young"):
        assert set(df[col]) <= {-1, 1}, col
    assert not ((df["Black_Hair"] == 1) & (df["Blond_Hair"] == 1)).any()
    assert (root / "img_align_celeba" / "img_align_celeba" / "000010.jpg").is_file()


def test_write_fashion_mnist_read_by_torchvision(tmp_path):
    root = toy.write_fashion_mnist(tmp_path / "fm", n_train=50, n_test=20)
    train = FashionMNIST(str(root), train=True, download=False)
    test = FashionMNIST(str(root), train=False, download=False)
    assert len(train) == 50 and len(test) == 20
    assert tuple(train.data.shape) == (50, 28, 28) and int(train.targets.max()) <= 9
    assert train.classes[0] == toy.CLOTHING_CLASSES[0]


def test_writer_refuses_foreign_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="refusing to write"):
        toy.write_anime(tmp_path / "mine", 3, size=32)
    assert (tmp_path / "mine" / "holiday.jpg").read_bytes() == b"precious"


def test_every_clothing_class_draws_a_garment_sized_silhouette():
    # Regression: a sign slip once reduced every Shirt to its V-neck (a few pixels on black).
    from gan_course.data.toy import CLOTHING_CLASSES, make_clothing

    images, labels = make_clothing(200, seed=3)
    for c, name in enumerate(CLOTHING_CLASSES):
        fg = (images[labels == c] > 40).mean(axis=(1, 2))
        assert fg.min() > 0.08, f"{name}: silhouettes cover only {fg.min():.1%} of the image"


def test_clothing_is_smoothly_shaded_not_speckled():
    # Regression: garments once carried per-pixel white speckle, which an MLP GAN cannot learn
    # (it drew speckled blobs). Inside a garment, neighbouring pixels now differ smoothly: the
    # median |Laplacian| relative to the brightness was 0.33 with the speckle, ~0.09 now.
    images, _ = toy.make_clothing(500, seed=4)
    f = images.astype(np.float32)
    lap = (4 * f[:, 1:-1, 1:-1] - f[:, :-2, 1:-1] - f[:, 2:, 1:-1] - f[:, 1:-1, :-2]
           - f[:, 1:-1, 2:])
    inside = np.ones(lap.shape, bool)  # pixels whose whole 3x3 neighbourhood is garment
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            inside &= f[:, 1 + dy:27 + dy, 1 + dx:27 + dx] > 30
    rough = np.median(np.abs(lap)[inside] / f[:, 1:-1, 1:-1][inside])
    assert rough < 0.15, f"garment interiors are speckled (median relative Laplacian {rough:.2f})"


def test_clothing_varies_within_a_class():
    # Shape variants: some T-shirts/tops are sleeveless tank tops, some ankle boots have heels.
    images, labels = toy.make_clothing(400, seed=5)
    tops = images[labels == 0].astype(np.float32)
    # the sleeve zone (outer columns at shoulder height) is garment for T-shirts, empty for tanks
    sleeve_zone = tops[:, 6:10, [2, 3, 4, 23, 24, 25]].mean(axis=(1, 2))
    assert (sleeve_zone > 40).any() and (sleeve_zone < 5).any(), sleeve_zone
    # brightness: from grey to near white within each class
    for c in range(10):
        peak = images[labels == c].reshape(-1, 784).max(1)
        assert peak.min() < 200 and peak.max() > 230, (c, peak.min(), peak.max())
