"""Registry, offline fetch message, and layout checks of the real datasets (on toy copies)."""

import socket

import pytest

from gan_course.data import sources, toy
from gan_course.data.sources import DATASETS, DataError, check, fetch


def test_registry_names_and_slugs():
    assert set(DATASETS) == {"anime", "eyeglasses", "celeba", "fashion_mnist"}
    assert DATASETS["anime"].slug == "splcher/animefacedataset"
    assert DATASETS["eyeglasses"].slug == "jeffheaton/glasses-or-no-glasses"
    assert DATASETS["celeba"].slug == "jessicali9530/celeba-dataset"
    assert DATASETS["fashion_mnist"].provider == "torchvision"
    assert "63,632" in DATASETS["anime"].expected and "202,599" in DATASETS["celeba"].expected


def test_network_probe_false_on_connection_error(monkeypatch):
    def refuse(*a, **k):
        raise ConnectionRefusedError("no network")

    monkeypatch.setattr(socket, "create_connection", refuse)
    assert sources.network_available(timeout=0.1) is False


@pytest.mark.parametrize("name", ["anime", "celeba", "fashion_mnist"])
def test_fetch_offline_gives_manual_route(name, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_COURSE_DATA", str(tmp_path))

    def refuse(*a, **k):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(DataError) as err:
        fetch(name)
    msg = str(err.value)
    assert "no network" in msg
    assert f"python -m gan_course data check {name} " in msg
    assert str(tmp_path / "real" / name) in msg
    if name != "fashion_mnist":
        assert f"kaggle.com/datasets/{DATASETS[name].slug}" in msg


def test_fetch_download_connection_error_is_dataerror(tmp_path, monkeypatch):
    """Probe succeeds but kagglehub then fails with a connection error: still the manual route."""
    monkeypatch.setattr(sources, "network_available", lambda *a, **k: True)

    def boom(slug, out):
        raise ConnectionError("connection reset")

    monkeypatch.setattr(sources, "_kaggle_download", boom)
    with pytest.raises(DataError, match="data check eyeglasses"):
        fetch("eyeglasses", tmp_path / "eg")


def test_fetch_unknown_name():
    with pytest.raises(DataError, match="choose one of"):
        fetch("mnist_faces")


def test_check_toy_layouts(tmp_path):
    rep = check("eyeglasses", toy.write_eyeglasses(tmp_path / "eg", 8, size=32))
    assert rep.n_images == 8 and rep.n_rows == 8 and rep.samples_ok > 0
    assert any("only 8 images" in w for w in rep.warnings)  # partial set: a warning, no error
    assert "Glasses or No Glasses" in str(rep)
    assert check("celeba", toy.write_celeba(tmp_path / "c", 6, size=32)).n_images == 6
    assert check("anime", toy.write_anime(tmp_path / "a", 6, size=32)).n_images == 6
    rep = check("fashion_mnist", toy.write_fashion_mnist(tmp_path / "f", 30, 10))
    assert rep.n_images == 30 and rep.samples_ok == 1


def test_check_missing_and_empty(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        check("anime", tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="has no folder images/"):
        check("anime", tmp_path / "empty")
    (tmp_path / "empty" / "images").mkdir()
    with pytest.raises(DataError, match="contains no images"):
        check("anime", tmp_path / "empty")


def test_check_wrong_columns(tmp_path):
    root = toy.write_eyeglasses(tmp_path / "eg", 4, size=32)
    (root / "train.csv").write_text("ident,label\n1,0\n")
    with pytest.raises(DataError) as err:
        check("eyeglasses", root)
    msg = str(err.value)
    assert "expected id, glasses" in msg and "found ident, label" in msg


def test_check_all_corrupt_samples(tmp_path):
    root = tmp_path / "anime"
    (root / "images").mkdir(parents=True)
    for i in range(3):
        (root / "images" / f"{i}.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="could be decoded"):
        check("anime", root)


def test_check_listed_but_absent_image_is_a_warning(tmp_path):
    root = toy.write_eyeglasses(tmp_path / "eg", 5, size=32)
    (root / "train.csv").write_text("id,glasses\n" + "".join(f"{i},0\n" for i in range(1, 8)))
    rep = check("eyeglasses", root)
    assert any("2 of 7 rows" in w for w in rep.warnings)


def test_check_fashion_gz_hint(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for f in sources.FASHION_FILES:
        (raw / (f + ".gz")).write_bytes(b"\x1f\x8b")
    with pytest.raises(DataError, match="gunzip"):
        check("fashion_mnist", tmp_path)


@pytest.mark.parametrize("name,column,values,expected", [
    ("eyeglasses", "glasses", ["yes", "no"], "expected 0 or 1"),
    ("celeba", "Black_Hair", [2, "x"], "expected 1 or -1"),
])
def test_check_names_invalid_label_values(name, column, values, expected, tmp_path):
    writer = toy.write_eyeglasses if name == "eyeglasses" else toy.write_celeba
    src = writer(tmp_path / name, 6, size=32)
    csv = src / DATASETS[name].csv
    import pandas as pd

    df = pd.read_csv(csv)
    df[column] = df[column].astype(object)
    df.loc[:1, column] = values
    df.to_csv(csv, index=False)
    with pytest.raises(DataError) as err:
        check(name, src)
    msg = str(err.value)
    assert f"column {column!r} has invalid values" in msg and expected in msg
    shown = msg.split("invalid values ", 1)[1]
    for v in values:
        assert (repr(v) if isinstance(v, str) else str(v)) in shown
    assert "in 2 of 6 rows" in msg
