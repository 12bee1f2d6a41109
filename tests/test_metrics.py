"""Metrics: KID, conditional accuracy with a trained toy classifier, CycleGAN rates, Inception offline, CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_course import metrics, metrics_cli
from gan_course.metrics import (
    AttributeClassifier,
    MetricsUnavailable,
    conditional_accuracy,
    domain_rate,
    get_attribute_classifier,
    kid,
    kid_images,
    round_trip_l1,
)

SIZE = 32  # tiny images keep the classifier training to a few seconds
N_TOY = metrics_cli._MIN_TOY_IMAGES  # = what `evaluate` uses, so the CLI test reuses the cache


# ---------------------------------------------------------------------------------------------- KID

def _gauss(n, d=16, shift=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g) + shift


def test_kid_same_distribution_is_about_zero():
    res = kid(_gauss(400, seed=1), _gauss(400, seed=2), subset_size=100, n_subsets=50)
    mean, std_err = res  # unpacks like a tuple
    assert std_err > 0
    assert abs(mean) < max(3 * std_err, 0.02), res


def test_kid_shifted_distribution_is_clearly_positive():
    same = kid(_gauss(400, seed=1), _gauss(400, seed=2))
    shifted = kid(_gauss(400, seed=1), _gauss(400, shift=1.0, seed=2))
    assert shifted.mean > 10 * shifted.std_err, shifted
    assert shifted.mean > same.mean + 0.5, (same, shifted)
    # a bigger shift is a bigger distance
    assert kid(_gauss(400, seed=1), _gauss(400, shift=2.0, seed=2)).mean > shifted.mean


def test_kid_matches_direct_formula_on_one_subset():
    x, y = _gauss(10, d=4, seed=3).double(), _gauss(10, d=4, shift=0.5, seed=4).double()
    k = lambda a, b: (a @ b.T / 4 + 1) ** 3  # noqa: E731
    m = 10
    kxx, kyy = k(x, x), k(y, y)
    expected = ((kxx.sum() - kxx.trace()) + (kyy.sum() - kyy.trace())) / (m * (m - 1)) \
        - 2 * k(x, y).mean()
    assert float(metrics._mmd2_unbiased(x, y)) == pytest.approx(float(expected), rel=1e-9)


def test_kid_rejects_mismatched_features():
    with pytest.raises(ValueError, match="Feature sizes differ"):
        kid(torch.randn(20, 8), torch.randn(20, 9))
    with pytest.raises(ValueError, match="at least 4"):
        kid(torch.randn(3, 8), torch.randn(20, 8))


def test_kid_images_uses_feature_net_and_is_unbiased_for_identical_sets():
    torch.manual_seed(0)
    net = AttributeClassifier(image_size=SIZE).eval()
    real = torch.rand(60, 3, SIZE, SIZE) * 2 - 1
    other = torch.rand(60, 3, SIZE, SIZE) * 2 - 1
    far = torch.full((60, 3, SIZE, SIZE), 0.9) + 0.05 * torch.randn(60, 3, SIZE, SIZE)
    near = kid_images(real, other, net, subset_size=30, n_subsets=20)
    apart = kid_images(real, far, net, subset_size=30, n_subsets=20)
    assert apart.mean > near.mean + 3 * apart.std_err
    assert "±" in str(near)


def test_classifier_shapes_and_bad_input():
    net = AttributeClassifier(image_size=64).eval()
    x = torch.zeros(2, 3, 48, 48)
    assert net(x).shape == (2, 2)
    assert net.features(x).shape == (2, 128)
    with pytest.raises(ValueError, match="at least 32x32"):
        net(torch.zeros(1, 3, 16, 16))
    with pytest.raises(ValueError, match=r"\(B, 3, S, S\)"):
        net(torch.zeros(3, 64, 64))
    with pytest.raises(ValueError, match="Unknown attribute"):
        get_attribute_classifier("beard")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread for this module's tiny models.

    They gain nothing from more threads, and on a shared CI machine extra threads make them
    several times slower (measured here: 67 s with 2 threads vs 12 s with 1 for the classifier).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ------------------------------------------------------------------------- trained toy classifier

@pytest.fixture(scope="module")
def glasses(tmp_path_factory, _one_thread):
    """Glasses classifier on 32x32 toy faces (data and cache in a temp folder) + its data."""
    from gan_course.data import load

    tmp = tmp_path_factory.mktemp("metrics")
    root, cache_dir = tmp / "data", tmp / "models"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAN_COURSE_DATA", str(root))  # toy data, prepared folders, caches: in tmp
        model, info = get_attribute_classifier("glasses", "toy", SIZE, n=N_TOY,
                                               cache_dir=cache_dir, verbose=False)
        cache = load("eyeglasses", source="toy", size=SIZE, n=N_TOY)
    images = metrics._to_unit(cache.images)
    labels = torch.as_tensor(np.array(cache.labels, dtype=np.int64))
    yield model, info, images, labels, root, cache_dir


def test_classifier_heldout_accuracy_and_cache(glasses):
    model, info, _, _, root, cache_dir = glasses
    assert info["heldout_accuracy"] >= 0.95, info
    assert info["n_test"] >= 100 and info["n_train"] + info["n_test"] == N_TOY
    assert info["classes"] == ["glasses", "no_glasses"]
    # second call loads the cached weights (weights_only) instead of retraining
    again, info2 = get_attribute_classifier("glasses", "toy", SIZE, n=N_TOY,
                                            cache_dir=cache_dir, verbose=False)
    assert info2["path"] == info["path"] and info2["heldout_accuracy"] == info["heldout_accuracy"]
    x = torch.zeros(2, 3, SIZE, SIZE)
    assert torch.equal(model(x), again(x))


def test_conditional_accuracy_perfect_and_swapped(glasses):
    model, _, images, labels, _, _ = glasses
    g = torch.Generator().manual_seed(0)

    def sampler(swap):
        pools = {k: images[labels == k] for k in (0, 1)}

        def generate(y):
            out = []
            for k in y.tolist():
                pool = pools[1 - k if swap else k]
                out.append(pool[torch.randint(len(pool), (1,), generator=g)])
            return torch.cat(out)
        return generate

    perfect = conditional_accuracy(sampler(False), model, n_per_label=60, batch_size=25)
    swapped = conditional_accuracy(sampler(True), model, n_per_label=60, batch_size=25)
    assert perfect[0] >= 0.95 and perfect[1] >= 0.95 and perfect["mean"] >= 0.95, perfect
    assert swapped[0] <= 0.05 and swapped[1] <= 0.05, swapped
    assert perfect["mean"] == pytest.approx((perfect[0] + perfect[1]) / 2)


def test_domain_rate_and_round_trip(glasses):
    model, _, images, labels, _, _ = glasses
    with_glasses, without = images[labels == 0][:40], images[labels == 1][:40]
    identity = lambda x: x  # noqa: E731

    def swap(x):  # a perfect "translator" glasses -> no glasses: returns real no-glasses faces
        return without[: len(x)]

    # identity keeps glasses faces in the glasses domain: rate for target "no_glasses" ~0
    assert domain_rate(identity, with_glasses, model, target_label=1) <= 0.05
    assert domain_rate(identity, with_glasses, model, target_label=0) >= 0.95
    assert domain_rate(swap, with_glasses, model, target_label=1, batch_size=40) >= 0.95
    assert round_trip_l1(identity, identity, images[:20]) == 0.0
    noisy = lambda x: (x + 0.1).clamp(-1, 1)  # noqa: E731
    err = round_trip_l1(noisy, identity, images[:20])
    assert 0.0 < err <= 0.1 + 1e-6
    flipped = lambda x: -x  # noqa: E731
    assert round_trip_l1(flipped, flipped, images[:20]) == 0.0  # -(-x) = x
    assert round_trip_l1(flipped, identity, images[:20]) > 0.3


# -------------------------------------------------------------------------------------- Inception

def test_inception_unavailable_offline_says_how_to_fix(monkeypatch, tmp_path):
    monkeypatch.delenv(metrics.INCEPTION_WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # an empty hub cache
    x = torch.zeros(4, 3, 32, 32)
    with pytest.raises(MetricsUnavailable) as err:
        metrics.inception_fid(x, x)
    msg = str(err.value)
    assert "pip install torch-fidelity" in msg or "weights" in msg
    assert metrics.INCEPTION_WEIGHTS_ENV in msg and "torchmetrics" in msg

    # with torch-fidelity "installed" but no weights on disk: names the cache path, no network
    monkeypatch.setattr(metrics, "_torch_fidelity_available", lambda: True)
    with pytest.raises(MetricsUnavailable, match=metrics.INCEPTION_WEIGHTS_FILE) as err:
        metrics.inception_kid(x, x)
    assert str(tmp_path / "torch_home") in str(err.value)
    # a path that does not exist is reported as such
    monkeypatch.setenv(metrics.INCEPTION_WEIGHTS_ENV, str(tmp_path / "nope.pth"))
    with pytest.raises(MetricsUnavailable, match="nope.pth.*does not exist"):
        metrics.inception_weights_path()
    # an existing file is accepted without any download
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"x")
    assert metrics.inception_weights_path(weights) == weights


# -------------------------------------------------------------------------------------------- CLI

def test_evaluate_cli_help(capsys):
    from gan_course.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "cgan" in out and "cyclegan" in out and "--checkpoint" in out


def test_evaluate_cli_missing_checkpoint(tmp_path, capsys):
    from gan_course.cli import main

    missing = tmp_path / "nothing" / "checkpoint.pt"
    code = main(["evaluate", "cgan", "--checkpoint", str(missing)])
    assert code == 1
    err = capsys.readouterr().err
    assert str(missing) in err and "train" in err


def _cgan_checkpoint(path):
    """An untrained smoke-size cGAN checkpoint written the way training writes one."""
    from gan_course.config import get_config
    from gan_course.training.checkpoint import save_checkpoint
    from gan_course.training.tasks import build_task

    cfg = get_config("cgan", "smoke")
    task = build_task(cfg, torch.device("cpu"))
    return save_checkpoint(path, {"task": "cgan", "config": cfg.to_dict(),
                                  "task_state": task.state_dict(), "epoch": 0})


def test_evaluate_cli_cgan_end_to_end(glasses, tmp_path, monkeypatch, capsys):
    import json

    from gan_course.cli import main

    _, info, _, _, root, cache_dir = glasses
    monkeypatch.setenv("GAN_COURSE_DATA", str(root))
    ckpt = _cgan_checkpoint(tmp_path / "run" / "checkpoint.pt")
    out_json = tmp_path / "numbers.json"
    code = main(["evaluate", "cgan", "--checkpoint", str(ckpt), "--n", "20",
                 "--classifier-dir", str(cache_dir), "--json", str(out_json)])
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "held-out accuracy" in printed and "conditional accuracy (untrained generator)" in printed
    numbers = json.loads(out_json.read_text())
    assert numbers["classifiers"]["glasses"]["path"] == info["path"]  # the cached classifier
    for name in ("trained", "untrained"):
        acc = numbers[f"conditional_accuracy_{name}"]
        assert set(acc) == {"glasses", "no_glasses", "mean"}
        assert all(0.0 <= v <= 1.0 for v in acc.values())
    # the wrong task, a damaged file: exit 1 with a message, no traceback
    assert main(["evaluate", "dcgan", "--checkpoint", str(ckpt)]) == 1
    assert "'cgan' checkpoint" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["evaluate", "cgan", "--checkpoint", str(bad)]) == 1
    assert str(bad) in capsys.readouterr().err
