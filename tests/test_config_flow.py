"""The config is authoritative: what a notebook builds is what gets trained.

notebook -> ``cfg = get_config(...)`` -> ``load_data(cfg)`` -> ``build_task(cfg, device)`` ->
``fit(task, batches, out_dir=run_dir(cfg))``: changing a field of ``cfg`` changes the run.
"""

from dataclasses import replace

import pytest
import torch

from gan_course.cli import main
from gan_course.config import get_config
from gan_course.data import load_data
from gan_course.runtime import run_dir, setup
from gan_course.training import build_task, fit
from gan_course.training.checkpoint import load_checkpoint


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_COURSE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("GAN_COURSE_RUNS", str(tmp_path / "runs"))


def _weights(task):
    return torch.cat([p.detach().flatten() for m in task.models.values() for p in m.parameters()])


@pytest.mark.parametrize("epochs", [1, 2])
def test_notebook_style_run_trains_the_epochs_the_config_says(epochs):
    env = setup(seed=3, profile="smoke", device="cpu", verbose=False)
    cfg = get_config("dcgan", env.profile, seed=env.seed)
    cfg.epochs = epochs                       # what a student does in a "try it" cell
    batches = load_data(cfg)
    task = build_task(cfg, env.device)
    history = fit(task, batches, out_dir=run_dir(cfg), progress=False)
    assert history["epoch"].max() == epochs
    assert len(history) == epochs * len(batches)
    state = load_checkpoint(run_dir(cfg) / "checkpoint.pt")
    assert state["epoch"] == epochs and state["config"]["seed"] == 3
    assert run_dir(cfg).name == "dcgan-toy-seed3" and run_dir(cfg).parent.name == "smoke"


def test_the_config_seed_decides_the_initial_weights():
    cfg = get_config("cgan", "smoke")
    torch.manual_seed(999)  # whatever the global state, the config's seed wins
    a = _weights(build_task(cfg, "cpu"))
    b = _weights(build_task(replace(cfg), "cpu"))
    c = _weights(build_task(replace(cfg, seed=1), "cpu"))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_config_fields_reach_the_data_and_the_models():
    cfg = get_config("cyclegan", "smoke", n_train=64, batch_size=2)
    batches = load_data(cfg)
    assert batches.a.batch_size == 2 and batches.a.n + batches.b.n <= 64
    cfg = get_config("dcgan", "smoke", features=6)
    task = build_task(cfg, "cpu")
    assert task.models["G"].main[0].out_channels == 6 * 8
    # the recipe knobs of the demos reach their networks
    task = build_task(get_config("fashion", "smoke", pack=2), "cpu")
    assert task.models["D"].pack == 2 and task.models["D"].main[0].in_features == 2 * 784
    assert get_config("fashion", "demo").pack == 2 and get_config("fashion", "full").pack == 1
    task = build_task(get_config("cyclegan", "smoke", residual=True), "cpu")
    assert task.models["G_AB"].residual and task.models["G_BA"].residual


def test_full_profile_means_real_data_unless_told_otherwise(capsys):
    assert get_config("cgan", "full").data_source == "real"
    assert get_config("cgan", "demo").data_source == "toy"
    toy_full = get_config("dcgan", "full", data_source="toy")
    assert toy_full.data_source == "toy"
    # the CLI without --data: real data, and here (no download) a clear missing-data message
    assert main(["train", "cgan", "--profile", "full", "--no-progress", "--max-steps", "1"]) == 1
    err = capsys.readouterr().err
    assert "The real Glasses or No Glasses is not in" in err and "data fetch eyeglasses" in err


def test_a_profile_data_mismatch_is_said_in_one_line(capsys):
    cfg = get_config("fashion", "smoke", data_source="toy")
    load_data(cfg)
    assert "note:" not in capsys.readouterr().out
    cfg = replace(cfg, profile="full")
    load_data(cfg)
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "TOY data" in notes[0]


def test_unknown_fields_and_sources_are_clear_errors():
    with pytest.raises(ValueError, match="Unknown TrainConfig field"):
        get_config("dcgan", "smoke", epoch=3)
    with pytest.raises(ValueError, match="'toy' or 'real'"):
        get_config("dcgan", "smoke", data_source="imagenet")
    with pytest.raises(TypeError, match="TrainConfig"):
        build_task("dcgan")


def test_a_gpu_without_real_data_runs_the_long_profile_on_toy_data(monkeypatch, capsys):
    """Colab "Runtime -> GPU -> Run all": the default profile on CUDA must not need a download."""
    monkeypatch.delenv("GAN_COURSE_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    from gan_course.runtime import get_profile

    assert get_profile() == "long"
    cfg = get_config("cgan")
    assert cfg.profile == "long" and cfg.data_source == "toy"
    demo = get_config("cgan", "demo")
    assert (cfg.image_size, cfg.features, cfg.lr) == (demo.image_size, demo.features, demo.lr)
    assert cfg.epochs > demo.epochs
    load_data(replace(cfg, n_train=64))  # the data banner says how to switch to the real set
    out = capsys.readouterr().out
    assert "TOY eyeglasses" in out and "GAN_COURSE_PROFILE=full" in out and "data fetch" in out


def test_kaggle_credentials_come_from_colab_secrets(monkeypatch):
    import sys
    import types

    from gan_course.runtime import kaggle_credentials_from_colab

    assert kaggle_credentials_from_colab() is False  # not on Colab
    secrets = {"KAGGLE_USERNAME": "student", "KAGGLE_KEY": "abc123"}

    def get(name):
        if name not in secrets:
            raise KeyError(name)  # Colab raises SecretNotFoundError
        return secrets[name]

    colab = types.ModuleType("google.colab")
    colab.userdata = types.SimpleNamespace(get=get)
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.delenv("KAGGLE_USERNAME", raising=False)
    monkeypatch.delenv("KAGGLE_KEY", raising=False)
    assert kaggle_credentials_from_colab() is True
    import os

    assert os.environ["KAGGLE_USERNAME"] == "student" and os.environ["KAGGLE_KEY"] == "abc123"
    del secrets["KAGGLE_KEY"]
    monkeypatch.delenv("KAGGLE_USERNAME")
    assert kaggle_credentials_from_colab() is False and "KAGGLE_USERNAME" not in os.environ


def test_the_setup_banner_prints_no_absolute_path_of_this_machine(monkeypatch):
    """Stored notebook outputs show the data root relative to the checkout or the home folder."""
    from pathlib import Path

    from gan_course.runtime import describe, display_path, repo_root

    repo = repo_root()
    assert repo is not None  # the tests run from a checkout
    monkeypatch.setenv("GAN_COURSE_DATA", str(repo / "data"))
    banner = describe(torch.device("cpu"), "demo")
    assert "data root data/ in the course checkout" in banner and str(repo) not in banner
    assert display_path(repo) == "the course checkout"
    assert display_path(Path.home() / "datasets" / "gan") == "~/datasets/gan"
    elsewhere = Path("/") / "srv-not-home" / "data"
    assert display_path(elsewhere) == str(elsewhere)  # outside both: said as it is
