"""CLI: train -> sample, resume in a fresh process, clear errors."""

import os
import subprocess
import sys

import pytest
import torch
from PIL import Image

from gan_course.cli import main
from gan_course.training.checkpoint import load_checkpoint


def _env(tmp_path):
    env = dict(os.environ, GAN_COURSE_DATA=str(tmp_path / "data"), GAN_COURSE_PROFILE="smoke",
               GAN_COURSE_DEVICE="cpu", OMP_NUM_THREADS="1")
    return env


def _cli(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "gan_course", *args], env=_env(tmp_path),
                          capture_output=True, text=True, timeout=300)


def test_train_then_sample_writes_png(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GAN_COURSE_DATA", str(tmp_path / "data"))
    out = tmp_path / "run"
    assert main(["train", "dcgan", "--profile", "smoke", "--out", str(out), "--no-progress",
                 "--max-steps", "2"]) == 0
    assert (out / "checkpoint.pt").is_file()
    png = tmp_path / "grid.png"
    assert main(["sample", "dcgan", "--checkpoint", str(out / "checkpoint.pt"), "--out",
                 str(png), "--n", "16"]) == 0
    assert Image.open(png).size == (8 * 66 + 2, 2 * 66 + 2)  # 16 images 64x64, 8 per row


def test_sample_cgan_with_label(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_COURSE_DATA", str(tmp_path / "data"))
    out = tmp_path / "run"
    assert main(["train", "cgan", "--profile", "smoke", "--out", str(out), "--no-progress",
                 "--max-steps", "1"]) == 0
    ck = str(out / "checkpoint.pt")
    for extra in (["--label", "0"], ["--label-weight", "0.3"], []):
        png = tmp_path / f"g{len(extra)}.png"
        assert main(["sample", "cgan", "--checkpoint", ck, "--out", str(png), "--n", "8",
                     *extra]) == 0
        assert Image.open(png).size == (8 * 34 + 2, 34 + 2)


def test_bad_checkpoint_path_exits_1_with_message(tmp_path, capsys):
    code = main(["sample", "dcgan", "--checkpoint", str(tmp_path / "missing.pt"), "--out",
                 str(tmp_path / "x.png")])
    assert code == 1
    err = capsys.readouterr().err
    assert "No checkpoint at" in err and "missing.pt" in err


def test_corrupt_checkpoint_exits_1(tmp_path, capsys):
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(b"\x00" * 100)
    assert main(["sample", "dcgan", "--checkpoint", str(bad), "--out",
                 str(tmp_path / "x.png")]) == 1
    assert "truncated or corrupted" in capsys.readouterr().err


def test_resume_in_a_fresh_process_equals_straight_run(tmp_path):
    """8 steps straight == 6 steps (stops mid-epoch 2), then a NEW process resumes to 8."""
    a, b = tmp_path / "a", tmp_path / "b"
    r = _cli(tmp_path, "train", "dcgan", "--out", str(a), "--epochs", "2", "--no-progress")
    assert r.returncode == 0, r.stderr
    r = _cli(tmp_path, "train", "dcgan", "--out", str(b), "--epochs", "2", "--max-steps", "6",
             "--no-progress")
    assert r.returncode == 0, r.stderr
    assert load_checkpoint(b / "checkpoint.pt")["global_step"] == 6
    r = _cli(tmp_path, "train", "dcgan", "--out", str(b), "--epochs", "2", "--resume",
             "--no-progress")
    assert r.returncode == 0, r.stderr
    sa, sb = (load_checkpoint(p / "checkpoint.pt") for p in (a, b))
    assert sa["global_step"] == sb["global_step"] == 8
    for name, weights in sa["task_state"]["models"].items():
        for key, t in weights.items():
            assert torch.equal(t, sb["task_state"]["models"][name][key]), (name, key)


@pytest.mark.parametrize("argv", [["train", "dcgan", "--epochs", "0"],
                                  ["sample", "dcgan", "--checkpoint", "x", "--out", "y",
                                   "--n", "0"]])
def test_bad_numbers_exit_1(argv, capsys):
    assert main(argv) == 1
    assert "must be >= 1" in capsys.readouterr().err


@pytest.mark.parametrize("task,size", [("fashion", (8 * 30 + 2, 30 + 2)),
                                       ("cyclegan", (8 * 34 + 2, 2 * 34 + 2))])
def test_fashion_and_cyclegan_train_and_sample(task, size, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_COURSE_DATA", str(tmp_path / "data"))
    out = tmp_path / "run"
    assert main(["train", task, "--profile", "smoke", "--out", str(out), "--no-progress",
                 "--max-steps", "1"]) == 0
    png = tmp_path / "grid.png"
    assert main(["sample", task, "--checkpoint", str(out / "checkpoint.pt"), "--out", str(png),
                 "--n", "8"]) == 0
    assert Image.open(png).size == size


def test_train_real_root_is_subset_and_shows_skipped_rows(tmp_path, monkeypatch, capsys):
    """--root: real data outside the data folder; smoke's n_train limits it; prepare's skipped
    rows are shown."""
    from gan_course.config import get_config
    from gan_course.data import load_data, toy

    monkeypatch.setenv("GAN_COURSE_DATA", str(tmp_path / "data"))
    real = toy.write_eyeglasses(tmp_path / "downloads" / "glasses", 80, size=32)
    (real / "faces-spring-2020" / "faces-spring-2020" / "face-3.png").unlink()
    out = tmp_path / "run"
    assert main(["train", "cgan", "--profile", "smoke", "--data", "real", "--root", str(real),
                 "--out", str(out), "--no-progress", "--max-steps", "1"]) == 0
    text = capsys.readouterr().out
    assert "REAL eyeglasses, 79 images" in text
    assert "skipped rows: 1 image missing (e.g. face-3.png missing)" in text
    assert "subset of 64 of these 79 images" in text
    cfg = get_config("cgan", "smoke", data_source="real", data_root=real)
    assert load_data(cfg, verbose=False).n == cfg.n_train == 64


def test_out_folder_is_checked_before_any_data_is_loaded(tmp_path, monkeypatch, capsys):
    import gan_course.data

    def no_data(*a, **k):
        raise AssertionError("data was loaded before the output folder was checked")

    monkeypatch.setattr(gan_course.data, "load_data", no_data)
    afile = tmp_path / "a-file"
    afile.write_text("")
    assert main(["train", "dcgan", "--profile", "smoke", "--out", str(afile),
                 "--no-progress"]) == 1
    assert "is a file, not a folder" in capsys.readouterr().err


def test_a_failing_sample_grid_never_costs_the_checkpoint(tmp_path, monkeypatch):
    import errno

    import gan_course.notebook.grids
    from gan_course.config import get_config
    from gan_course.data import load_data
    from gan_course.training import build_task, fit

    def full_disk(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setenv("GAN_COURSE_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(gan_course.notebook.grids, "save_grid", full_disk)
    cfg = get_config("dcgan", "smoke", epochs=1)
    with pytest.raises(OSError, match="No space left"):
        fit(build_task(cfg, "cpu"), load_data(cfg, verbose=False), out_dir=tmp_path / "run",
            progress=False)
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert state["epoch"] == 1 and state["global_step"] > 0
