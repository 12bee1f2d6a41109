"""Preparation: sorts by label, idempotent, never touches the source, counts bad rows."""

import hashlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from gan_course.data import toy
from gan_course.data.prepare import prepare_celeba_hair, prepare_eyeglasses
from gan_course.data.sources import DataError


def tree_hash(root):
    h = hashlib.sha1()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def test_eyeglasses_sorted_idempotent_nondestructive(tmp_path):
    src = toy.write_eyeglasses(tmp_path / "src", 20, size=32)
    before = tree_hash(src)
    labels = pd.read_csv(src / "train.csv")
    rep = prepare_eyeglasses(src, tmp_path / "dst")
    assert rep.new == 20 and rep.skipped == 0
    assert rep.classes == {"glasses": int(labels.glasses.sum()),
                           "no_glasses": int((labels.glasses == 0).sum())}
    for i, g in zip(labels.id, labels.glasses):
        assert (tmp_path / "dst" / ("glasses" if g else "no_glasses") / f"face-{i}.png").is_file()
    again = prepare_eyeglasses(src, tmp_path / "dst")
    assert again.new == 0 and again.existing == 20 and "0 new files" in str(again)
    assert tree_hash(src) == before


def test_celeba_hair_sorted_and_counts(tmp_path):
    src = toy.write_celeba(tmp_path / "src", 30, size=32)
    before = tree_hash(src)
    df = pd.read_csv(src / "list_attr_celeba.csv")
    df.loc[0, ["Black_Hair", "Blond_Hair"]] = [1, 1]  # both: skipped
    df.to_csv(src / "list_attr_celeba.csv", index=False)
    before = tree_hash(src)
    rep = prepare_celeba_hair(src, tmp_path / "dst")
    black = int(((df.Black_Hair == 1) & (df.Blond_Hair != 1)).sum())
    blond = int(((df.Blond_Hair == 1) & (df.Black_Hair != 1)).sum())
    assert rep.classes == {"black": black, "blond": blond}
    assert rep.skipped_both == 1
    assert rep.skipped_neither == int(((df.Black_Hair == -1) & (df.Blond_Hair == -1)).sum())
    assert prepare_celeba_hair(src, tmp_path / "dst").new == 0
    assert tree_hash(src) == before


def test_bad_rows_are_counted_not_fatal(tmp_path):
    src = toy.write_eyeglasses(tmp_path / "src", 8, size=32)
    folder = src / "faces-spring-2020" / "faces-spring-2020"
    (folder / "face-3.png").write_bytes(b"garbage, not a png")  # corrupt
    Image.fromarray(np.zeros((32, 40, 4), np.uint8), "RGBA").save(folder / "face-4.png")  # RGBA, odd
    Image.fromarray(np.zeros((20, 20), np.uint8), "L").save(folder / "face-5.png")  # greyscale
    pd.DataFrame({"id": [1, 2, 3, 4, 5, 6, 99, "x"],
                  "glasses": [1, 0, 1, 1, 0, "yes", 0, 1]}).to_csv(src / "train.csv", index=False)
    rep = prepare_eyeglasses(src, tmp_path / "dst")
    assert rep.corrupt == 1 and rep.missing == 1 and rep.bad_label == 2
    assert rep.new == 4  # 1, 2, 4 (RGBA), 5 (greyscale)
    text = str(rep)
    assert "1 image missing" in text and "1 unreadable image" in text and "2 invalid label" in text


def test_celeba_invalid_label_values(tmp_path):
    src = toy.write_celeba(tmp_path / "src", 5, size=32)
    df = pd.read_csv(src / "list_attr_celeba.csv")
    df.loc[1, "Black_Hair"] = 2
    df.to_csv(src / "list_attr_celeba.csv", index=False)
    rep = prepare_celeba_hair(src, tmp_path / "dst")
    assert rep.bad_label == 1 and "expected 1 or -1" in " ".join(rep.problems)


def test_wrong_columns_name_expected_and_found(tmp_path):
    src = toy.write_celeba(tmp_path / "src", 3, size=32)
    (src / "list_attr_celeba.csv").write_text("file,hair\n000001.jpg,1\n")
    with pytest.raises(DataError) as err:
        prepare_celeba_hair(src, tmp_path / "dst")
    assert "expected image_id, Black_Hair, Blond_Hair" in str(err.value)
    assert "found file, hair" in str(err.value)


def test_missing_source_and_empty_csv(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        prepare_eyeglasses(tmp_path / "nothing", tmp_path / "dst")
    src = toy.write_eyeglasses(tmp_path / "src", 3, size=32)
    (src / "train.csv").write_text("")
    with pytest.raises(DataError, match="Cannot read"):
        prepare_eyeglasses(src, tmp_path / "dst")
