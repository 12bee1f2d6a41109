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
    df.loc[0, ["Black_Hair", "Blond_Hair"]] = [1, 1]  # both: black, as the book's if/elif
    df.to_csv(src / "list_attr_celeba.csv", index=False)
    before = tree_hash(src)
    rep = prepare_celeba_hair(src, tmp_path / "dst")
    black = int((df.Black_Hair == 1).sum())
    blond = int(((df.Blond_Hair == 1) & (df.Black_Hair != 1)).sum())
    assert rep.classes == {"black": black, "blond": blond}
    assert (tmp_path / "dst" / "black" / df.image_id[0]).is_file()
    assert not (tmp_path / "dst" / "blond" / df.image_id[0]).exists()
    assert rep.both_hair == 1
    assert "1 row has both Black_Hair and Blond_Hair: sorted into black" in str(rep)
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
    src = toy.write_celeba(tmp_path / "src", 20, size=32)
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


# --------------------------------------------------- the prepared tree is exactly the labels
def prepared_tree(dst):
    """{'<class>/<file>': bytes} of the image files in the class folders."""
    return {p.relative_to(dst).as_posix(): p.read_bytes()
            for p in sorted(dst.rglob("*.png")) + sorted(dst.rglob("*.jpg"))
            if not p.name.startswith(".")}


def expected_tree(src):
    """What train.csv + the images say the eyeglasses tree must be, with the source's bytes."""
    folder = src / "faces-spring-2020" / "faces-spring-2020"
    df = pd.read_csv(src / "train.csv")
    return {f"{'glasses' if g == 1 else 'no_glasses'}/face-{i}.png":
            (folder / f"face-{i}.png").read_bytes()
            for i, g in zip(df.id, df.glasses) if (folder / f"face-{i}.png").is_file()}


def test_label_fixed_in_csv_then_prepare_rerun_equals_csv(tmp_path):
    src = toy.write_eyeglasses(tmp_path / "src", 12, size=32)
    dst = tmp_path / "dst"
    prepare_eyeglasses(src, dst)
    assert prepared_tree(dst) == expected_tree(src)
    df = pd.read_csv(src / "train.csv")
    df.loc[df.id == 1, "glasses"] = 1 - df.loc[df.id == 1, "glasses"]  # the label is corrected
    df = df[df.id != 2]  # a row is removed
    df.to_csv(src / "train.csv", index=False)
    (src / "faces-spring-2020" / "faces-spring-2020" / "face-3.png").unlink()  # image deleted
    rep = prepare_eyeglasses(src, dst)
    assert prepared_tree(dst) == expected_tree(src)  # face-1 in ONE folder, 2 and 3 gone
    assert rep.new == 1 and rep.removed == 3 and rep.missing == 1
    assert rep.classes == {c: sum(k.startswith(c + "/") for k in expected_tree(src))
                           for c in ("glasses", "no_glasses")}
    assert "3 stale removed" in str(rep)


def same_size_png(path, colour, n_bytes):
    """A plain-colour PNG padded (text chunk) to exactly ``n_bytes``: a new image that an
    old-style size comparison cannot tell from the one it replaces."""
    from PIL.PngImagePlugin import PngInfo

    img = Image.fromarray(np.full((32, 32, 3), colour, np.uint8))
    img.save(path)
    pad = n_bytes - path.stat().st_size - 12 - 2  # chunk overhead + key "k" + NUL
    assert pad >= 0
    info = PngInfo()
    info.add_text("k", "x" * pad)
    img.save(path, pnginfo=info)
    assert path.stat().st_size == n_bytes


def test_replaced_source_file_of_the_same_size_is_relinked(tmp_path):
    from gan_course.data.tensors import build_cache

    src = toy.write_eyeglasses(tmp_path / "src", 6, size=32)
    dst = tmp_path / "dst"
    prepare_eyeglasses(src, dst)
    cache = build_cache(dst, 32, cache_dir=tmp_path / "cache")
    face = src / "faces-spring-2020" / "faces-spring-2020" / "face-1.png"
    new = tmp_path / "new.png"
    same_size_png(new, (0, 255, 0), face.stat().st_size)
    new.replace(face)  # the download is refreshed: a new file, same name, same size
    rep = prepare_eyeglasses(src, dst)
    assert prepared_tree(dst) == expected_tree(src) and rep.new == 1
    rebuilt = build_cache(dst, 32, cache_dir=tmp_path / "cache")
    assert rebuilt.rebuilt and len(rebuilt) == len(cache)
    assert any((img[1] == 255).all() and (img[0] == 0).all() for img in rebuilt.images)


def test_copies_are_tracked_too(tmp_path, monkeypatch):
    import os

    def no_links(src, dst):
        raise OSError(18, "Invalid cross-device link")  # another file system: copies

    monkeypatch.setattr(os, "link", no_links)
    src = toy.write_eyeglasses(tmp_path / "src", 6, size=32)
    dst = tmp_path / "dst"
    assert prepare_eyeglasses(src, dst).method == "copy"
    assert prepare_eyeglasses(src, dst).new == 0
    face = src / "faces-spring-2020" / "faces-spring-2020" / "face-2.png"
    same_size_png(tmp_path / "new.png", (9, 9, 9), face.stat().st_size)
    (tmp_path / "new.png").replace(face)
    df = pd.read_csv(src / "train.csv")
    df.loc[df.id == 4, "glasses"] = 1 - df.loc[df.id == 4, "glasses"]
    df.to_csv(src / "train.csv", index=False)
    rep = prepare_eyeglasses(src, dst)
    assert prepared_tree(dst) == expected_tree(src) and rep.new == 2 and rep.removed == 1


def test_files_prepare_did_not_make_are_refused_and_kept(tmp_path):
    src = toy.write_eyeglasses(tmp_path / "src", 6, size=32)
    dst = tmp_path / "dst"
    prepare_eyeglasses(src, dst)
    mine = dst / "glasses" / "my-own-face.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(mine)
    notes = dst / "no_glasses" / "notes.txt"  # not an image: training never reads it
    notes.write_text("mine")
    before = mine.read_bytes()
    with pytest.raises(DataError, match="prepare did not make, e.g. glasses/my-own-face.png"):
        prepare_eyeglasses(src, dst)
    assert mine.read_bytes() == before and notes.read_text() == "mine"
    mine.unlink()
    assert prepare_eyeglasses(src, dst).new == 0 and notes.read_text() == "mine"


def test_tree_from_before_the_record_is_brought_up_to_date(tmp_path):
    """A prepared folder without the record (an older version, or a run killed before writing
    it): its hard links of the source are recognised as prepare's own and fixed, not refused."""
    from gan_course.data.prepare import MANIFEST

    src = toy.write_eyeglasses(tmp_path / "src", 8, size=32)
    dst = tmp_path / "dst"
    prepare_eyeglasses(src, dst)
    (dst / MANIFEST).unlink()
    df = pd.read_csv(src / "train.csv")
    df.loc[df.id == 5, "glasses"] = 1 - df.loc[df.id == 5, "glasses"]
    df.to_csv(src / "train.csv", index=False)
    rep = prepare_eyeglasses(src, dst)
    assert prepared_tree(dst) == expected_tree(src)
    assert rep.new == 1 and rep.removed == 1 and rep.existing == 7


def test_invalid_labels_never_make_an_empty_class(tmp_path):
    src = toy.write_eyeglasses(tmp_path / "src", 6, size=32)
    pd.DataFrame({"id": range(1, 7), "glasses": ["yes", "no"] * 3}).to_csv(
        src / "train.csv", index=False)
    with pytest.raises(DataError) as err:
        prepare_eyeglasses(src, tmp_path / "dst")
    msg = str(err.value)
    assert "No usable image for class 'glasses' (rows with glasses = 1)" in msg
    assert "6 invalid label" in msg and "expected 0 or 1" in msg
    assert not list((tmp_path / "dst").rglob("*.png"))  # nothing written


def test_truncated_jpeg_fails_prepare_so_counts_agree_with_the_cache(tmp_path):
    from gan_course.data.tensors import build_cache

    src = toy.write_celeba(tmp_path / "src", 20, size=32)
    df = pd.read_csv(src / "list_attr_celeba.csv")
    name = df.image_id[(df.Black_Hair == 1)].iloc[0]
    jpg = src / "img_align_celeba" / "img_align_celeba" / name
    jpg.write_bytes(jpg.read_bytes()[: jpg.stat().st_size * 6 // 10])  # a cut-off download
    rep = prepare_celeba_hair(src, tmp_path / "dst")
    assert rep.corrupt == 1 and f"{name} unreadable" in " ".join(rep.problems)
    cache = build_cache(tmp_path / "dst", 32, cache_dir=tmp_path / "c",
                        classes=("black", "blond"))
    assert cache.skipped == 0 and cache.counts() == rep.classes


def test_tiny_images_are_counted_not_upscaled(tmp_path):
    src = toy.write_eyeglasses(tmp_path / "src", 6, size=32)
    folder = src / "faces-spring-2020" / "faces-spring-2020"
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(folder / "face-2.png")
    rep = prepare_eyeglasses(src, tmp_path / "dst")
    assert rep.new == 5 and not list((tmp_path / "dst").rglob("face-2.png"))
    assert rep.too_small == 1 and "1 image too small" in str(rep)
    assert "face-2.png too small (1x1 px" in " ".join(rep.problems)


def test_conflicting_duplicate_rows_are_skipped(tmp_path):
    src = toy.write_eyeglasses(tmp_path / "src", 6, size=32)
    df = pd.read_csv(src / "train.csv")
    dup = df[df.id == 1].assign(glasses=1 - df.glasses[df.id == 1])
    pd.concat([df, dup]).to_csv(src / "train.csv", index=False)
    rep = prepare_eyeglasses(src, tmp_path / "dst")
    assert not list((tmp_path / "dst").rglob("face-1.png"))  # not in both folders, nor either
    assert rep.conflicting == 2
