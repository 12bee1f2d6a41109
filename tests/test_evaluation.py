"""Evaluation: held-out data and judges, every score on inputs with a known answer, KID and its
floor, evaluate() per task and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from gan_course.evaluation import (
    AttributeClassifier,
    MetricsUnavailable,
    conditional_accuracy,
    coverage,
    distances,
    domain_rate,
    flip_rate,
    get_judge,
    heldout,
    histogram,
    judges,
    kid,
    kid_images,
    kid_with_floor,
    oracle_l1,
    predict,
    round_trip_l1,
    tv_distance,
)

SIZE = 32  # small faces keep the judges' training to seconds
JUDGE_N = 800  # held-out faces per test judge (the real default is 6,000)


# ------------------------------------------------------------------------------ held-out data

def test_heldout_faces_never_overlap_training_faces():
    from gan_course.data.toy import make_faces

    for seed in (0, 1, 99):  # the writers' seed and others the notebooks use
        _, attrs = make_faces(50, size=32, seed=seed)
        assert attrs["face_seed"].max() < heldout.TRAIN_FACE_SEED_END
    judge_seeds = heldout.face_seeds(10_000, "judge")
    eval_seeds = heldout.face_seeds(10_000, "eval")
    assert judge_seeds.min() >= heldout.TRAIN_FACE_SEED_END
    assert judge_seeds.max() < eval_seeds.min()  # judges never see the evaluation faces
    _, df = heldout.faces(5, 32, "eval")
    assert df["face_seed"].tolist() == eval_seeds[:5].tolist()
    with pytest.raises(ValueError, match="split"):
        heldout.faces(5, 32, "train")


def test_training_face_attributes_match_the_rendered_training_faces():
    from gan_course.data.toy import make_faces

    _, rendered = make_faces(30, size=32, seed=0)
    computed = heldout.training_face_attributes(30)
    for col in ("hair", "glasses", "male", "face_seed"):
        assert computed[col].tolist() == rendered[col].tolist()


def test_hair_swap_pairs_change_the_hair_and_keep_the_rest():
    a, b = heldout.hair_swap_pairs(20, 32, "black", "blond")
    assert a.shape == b.shape == (20, 3, 32, 32)
    diff = (a - b).abs().amax(1)  # (20, 32, 32): where the two drawings differ
    changed = (diff > 0.05).float().mean((1, 2))
    assert (changed > 0.03).all() and (changed < 0.6).all(), changed  # hair only, not the face
    # blond hair is bright yellow: red rises far more than blue
    assert (b[:, 0] - a[:, 0]).clamp(min=0).sum() > 2 * (b[:, 2] - a[:, 2]).clamp(min=0).sum()


def test_heldout_clothing_is_balanced_and_not_the_training_set():
    from gan_course.data.toy import make_clothing

    x, y = heldout.clothing(200, "eval")
    assert x.shape == (200, 1, 28, 28) and torch.bincount(y, minlength=10).tolist() == [20] * 10
    train, _ = make_clothing(200, seed=0)
    assert not np.array_equal(((x[:, 0] + 1) * 127.5).round().numpy().astype(np.uint8), train)


# ------------------------------------------------------------------------------ histogram / TV

def test_histogram_and_tv_distance():
    assert histogram(torch.tensor([0, 0, 1, 2]), 3).tolist() == [0.5, 0.25, 0.25]
    p = torch.tensor([0.2, 0.3, 0.5])
    assert tv_distance(p, p) == 0.0
    assert tv_distance(torch.tensor([1.0, 0, 0]), torch.tensor([0, 0.5, 0.5])) == 1.0
    assert tv_distance(torch.tensor([0.5, 0.5]), torch.tensor([0.25, 0.75])) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="not a histogram"):
        tv_distance(torch.tensor([0.5, 0.6]), torch.tensor([0.5, 0.5]))
    with pytest.raises(ValueError, match="0..2"):
        histogram(torch.tensor([3]), 3)


class _PixelJudge(nn.Module):
    """A 'judge' that reads the class from the first pixel: value v in [-1, 1] -> class round
    ((v + 1) / 2 * (K - 1)), with logits sharp enough to be confident."""

    def __init__(self, k: int, sharpness: float = 50.0):
        super().__init__()
        self.k, self.sharpness = k, sharpness
        self.dummy = nn.Parameter(torch.zeros(()))  # so it has a device

    def forward(self, x):
        pos = (x[:, 0, 0, 0] + 1) / 2 * (self.k - 1)
        centres = torch.arange(self.k, dtype=x.dtype)
        return -self.sharpness * (pos[:, None] - centres[None]) ** 2


def _images_of_classes(labels, k, size=28):
    v = labels.float() / (k - 1) * 2 - 1
    return v[:, None, None, None].expand(len(labels), 1, size, size).clone()


def test_coverage_of_a_balanced_and_a_collapsed_generator():
    judge, k = _PixelJudge(10), 10
    uniform = torch.full((10,), 0.1)
    balanced = _images_of_classes(torch.arange(1000) % 10, k)
    res = coverage(judge, balanced, uniform)
    assert res.tv == pytest.approx(0.0, abs=1e-6) and res.covered == 10 and res.min_share == pytest.approx(0.1)
    assert res.confidence == 1.0
    collapsed = _images_of_classes(torch.full((1000,), 7), k)
    res = coverage(judge, collapsed, uniform)
    assert res.tv == pytest.approx(0.9) and res.covered == 1 and res.min_share == 0.0
    unsure = coverage(_PixelJudge(10, sharpness=0.001), balanced, uniform)
    assert unsure.confidence == 0.0  # nearly flat probabilities: never >= 0.9
    with pytest.raises(ValueError, match="classes"):
        coverage(judge, balanced, torch.full((3,), 1 / 3))


# ------------------------------------------------------------------------- conditional scores

def _label_gen(mode):
    """A 'conditional generator' (z, labels) -> images whose first pixel encodes a class."""
    def gen(z, labels):
        if mode == "ignore":
            labels = torch.zeros_like(labels)
        elif mode == "swap":
            labels = 1 - labels
        elif mode == "noise":  # follows the label for half of the noise vectors only
            labels = torch.where(z[:, 0] > 0, labels, torch.zeros_like(labels))
        return _images_of_classes(labels, 2)
    return gen


def test_flip_rate_of_known_generators():
    judge = _PixelJudge(2)
    z = torch.randn(400, 8, generator=torch.Generator().manual_seed(0))
    assert flip_rate(_label_gen("follow"), judge, z) == {"rate": 1.0, "changed": 1.0, "n": 400}
    ignore = flip_rate(_label_gen("ignore"), judge, z)
    assert ignore["rate"] == 0.0 and ignore["changed"] == 0.0  # ignores the label: never flips
    swap = flip_rate(_label_gen("swap"), judge, z)
    assert swap["rate"] == 0.0 and swap["changed"] == 1.0  # flips, but the wrong way round
    half = flip_rate(_label_gen("noise"), judge, z, batch_size=64)
    assert half["rate"] == pytest.approx(float((z[:, 0] > 0).double().mean()))


def test_conditional_accuracy_of_known_generators():
    judge = _PixelJudge(2)
    g = torch.Generator().manual_seed(0)

    def make(mode):
        return lambda y: _label_gen(mode)(torch.randn(len(y), 4, generator=g), y)

    perfect = conditional_accuracy(make("follow"), judge, n_per_label=60, batch_size=25)
    assert perfect == {0: 1.0, 1: 1.0, "mean": 1.0}
    swapped = conditional_accuracy(make("swap"), judge, n_per_label=60)
    assert swapped[0] == 0.0 and swapped[1] == 0.0
    ignored = conditional_accuracy(make("ignore"), judge, n_per_label=60)
    assert ignored[0] == 1.0 and ignored[1] == 0.0 and ignored["mean"] == 0.5


def test_oracle_l1_copy_baseline_and_perfect_translation():
    inputs, oracles = heldout.hair_swap_pairs(12, 32, "black", "blond")
    copy = oracle_l1(lambda x: x, inputs, oracles)
    assert copy["l1"] == pytest.approx(copy["copy_l1"]) and copy["ratio"] == pytest.approx(1.0)
    assert copy["copy_l1"] > 0.01
    lookup = {tuple(x.flatten()[:64].tolist()): o for x, o in zip(inputs, oracles)}
    perfect = oracle_l1(lambda xb: torch.stack([lookup[tuple(x.flatten()[:64].tolist())]
                                                for x in xb]), inputs, oracles, batch_size=5)
    assert perfect["l1"] == 0.0 and perfect["ratio"] == 0.0
    grey = oracle_l1(lambda x: torch.zeros_like(x), inputs, oracles)
    assert grey["ratio"] > 1.0  # a blank image is worse than copying
    with pytest.raises(ValueError, match="one to one"):
        oracle_l1(lambda x: x, inputs, oracles[:5])


def test_domain_rate_and_round_trip_l1():
    judge = _PixelJudge(2)
    zeros = _images_of_classes(torch.zeros(40, dtype=torch.long), 2, size=32)
    to_one = lambda x: -x  # noqa: E731 - maps class 0 (value -1) to class 1 (+1) and back
    assert domain_rate(lambda x: x, zeros, judge, target_label=1) == 0.0
    assert domain_rate(to_one, zeros, judge, target_label=1, batch_size=7) == 1.0
    assert round_trip_l1(to_one, to_one, zeros) == 0.0
    assert round_trip_l1(to_one, lambda x: x, zeros) == pytest.approx(2.0)


# ---------------------------------------------------------------------------------------- KID

def _gauss(n, d=16, shift=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g) + shift


def test_kid_same_distribution_is_about_zero_and_shift_is_positive():
    same = kid(_gauss(400, seed=1), _gauss(400, seed=2), subset_size=100, n_subsets=50)
    assert same.std_err > 0 and abs(same.mean) < max(3 * same.std_err, 0.02), same
    shifted = kid(_gauss(400, seed=1), _gauss(400, shift=1.0, seed=2))
    assert shifted.mean > 10 * shifted.std_err and shifted.mean > same.mean + 0.5
    assert kid(_gauss(400, seed=1), _gauss(400, shift=2.0, seed=2)).mean > shifted.mean


def test_kid_matches_the_direct_formula_on_one_subset():
    x, y = _gauss(10, d=4, seed=3).double(), _gauss(10, d=4, shift=0.5, seed=4).double()
    k = lambda a, b: (a @ b.T / 4 + 1) ** 3  # noqa: E731
    kxx, kyy = k(x, x), k(y, y)
    expected = ((kxx.sum() - kxx.trace()) + (kyy.sum() - kyy.trace())) / 90 - 2 * k(x, y).mean()
    assert float(distances._mmd2_unbiased(x, y)) == pytest.approx(float(expected), rel=1e-9)
    with pytest.raises(ValueError, match="Feature sizes differ"):
        kid(torch.randn(20, 8), torch.randn(20, 9))
    with pytest.raises(ValueError, match="at least 4"):
        kid(torch.randn(3, 8), torch.randn(20, 8))


class _Flatten(nn.Module):
    """Feature 'network': the pixels themselves (plus an unused, constant dimension)."""

    def features(self, x):
        flat = x.flatten(1)
        return torch.cat([flat, torch.zeros(len(x), 1)], 1)


def _gauss_images(n, shift=0.0, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 2, 4, generator=g) * scale + shift


def test_kid_floor_same_distribution_within_floor_and_shift_far_beyond():
    real_train, real_held = _gauss_images(1000, seed=1), _gauss_images(1000, seed=2)
    report = kid_with_floor(_Flatten(), real_train, real_held, {
        "same": _gauss_images(1000, seed=3),
        "shifted": _gauss_images(1000, shift=0.5, seed=4),
        "collapsed": _gauss_images(1000, scale=0.1, seed=5)})
    assert report.floor > 0 and report.dims == 8  # the constant dimension was dropped
    assert abs(report.real.mean) < 3 * report.real.std_err + 1e-9  # unbiased: about 0
    assert report.ratio("same") < 3  # a sample of the real distribution meets "<= 3x floor"
    assert report.ratio("shifted") > 5 and report.ratio("collapsed") > 5
    d = report.as_dict()
    assert d["ratios"]["same"] == pytest.approx(report.ratio("same")) and d["subset_size"] == 100
    # the floor is a noise level: it shrinks with the subset size, which is why it is fixed
    small = kid_with_floor(_Flatten(), real_train, real_held, {}, subset_size=25)
    large = kid_with_floor(_Flatten(), real_train, real_held, {}, subset_size=400)
    assert small.floor > 3 * large.floor


def test_kid_images_on_a_feature_net():
    torch.manual_seed(0)
    net = AttributeClassifier(image_size=SIZE).eval()
    real = torch.rand(60, 3, SIZE, SIZE) * 2 - 1
    other = torch.rand(60, 3, SIZE, SIZE) * 2 - 1
    far = torch.full((60, 3, SIZE, SIZE), 0.9) + 0.05 * torch.randn(60, 3, SIZE, SIZE)
    near = kid_images(real, other, net, subset_size=30, n_subsets=20)
    apart = kid_images(real, far, net, subset_size=30, n_subsets=20)
    assert apart.mean > near.mean + 3 * apart.std_err and "±" in str(near)


def test_inception_unavailable_offline_says_how_to_fix(monkeypatch, tmp_path):
    monkeypatch.delenv(distances.INCEPTION_WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    x = torch.zeros(4, 3, 32, 32)
    with pytest.raises(MetricsUnavailable) as err:
        distances.inception_fid(x, x)
    msg = str(err.value)
    assert "pip install torch-fidelity" in msg or "weights" in msg
    assert distances.INCEPTION_WEIGHTS_ENV in msg and "torchmetrics" in msg
    monkeypatch.setattr(distances, "_torch_fidelity_available", lambda: True)
    with pytest.raises(MetricsUnavailable, match=distances.INCEPTION_WEIGHTS_FILE) as err:
        distances.inception_kid(x, x)
    assert str(tmp_path / "torch_home") in str(err.value)
    monkeypatch.setenv(distances.INCEPTION_WEIGHTS_ENV, str(tmp_path / "nope.pth"))
    with pytest.raises(MetricsUnavailable, match="nope.pth.*does not exist"):
        distances.inception_weights_path()
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"x")
    assert distances.inception_weights_path(weights) == weights


# ------------------------------------------------------------------------------------- judges

def test_classifier_shapes_and_bad_input():
    net = AttributeClassifier(image_size=64).eval()
    assert net(torch.zeros(2, 3, 48, 48)).shape == (2, 2)
    assert net.features(torch.zeros(2, 3, 48, 48)).shape == (2, 128)
    grey = AttributeClassifier(num_classes=10, image_size=28, in_channels=1).eval()
    assert grey(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="at least 28x28"):
        net(torch.zeros(1, 3, 16, 16))
    with pytest.raises(ValueError, match=r"\(B, 1, S, S\).*view\(-1, 1, 28, 28\)"):
        grey(torch.zeros(2, 784))
    with pytest.raises(ValueError, match="Unknown judge"):
        get_judge("beard")
    with pytest.raises(ValueError, match="toy faces only"):
        get_judge("male", 32, source="real")


@pytest.fixture(scope="module")
def judge_dir(tmp_path_factory, _one_torch_thread):
    """Small judges for the tests, trained once per session into a temp folder."""
    path = tmp_path_factory.mktemp("judges")
    for attr in ("glasses", "hair", "male"):
        get_judge(attr, SIZE, cache_dir=path, n=JUDGE_N, verbose=False)
    get_judge("garment", 28, cache_dir=path, n=2000, verbose=False)
    return path


@pytest.mark.parametrize("attr, n, size, least", [
    ("glasses", JUDGE_N, SIZE, 0.95), ("hair", JUDGE_N, SIZE, 0.95), ("male", JUDGE_N, SIZE, 0.95),
    ("garment", 2000, 28, 0.9)])
def test_judges_are_accurate_on_images_they_never_saw(judge_dir, attr, n, size, least):
    model, info = get_judge(attr, size, cache_dir=judge_dir, n=n, verbose=False)
    assert info["heldout_accuracy"] >= least, info
    assert info["n_test"] == round(n * 0.2) and info["classes"] == list(judges.JUDGES[attr].classes)
    # and on the evaluation faces / garments, which no judge ever trained on
    if attr == "garment":
        x, y = heldout.clothing(300, "eval")
    else:
        x, df = heldout.faces(300, size, "eval")
        y = torch.from_numpy(np.asarray(judges._labels(attr, df)))
    acc = float((predict(model, x) == y).double().mean())
    assert acc >= least, (attr, acc)


def test_judge_cache_is_reused_and_loads_weights_only(judge_dir, monkeypatch):
    path = judges.judge_path("glasses", SIZE, JUDGE_N, judge_dir)
    assert path.is_file()
    raw = torch.load(path, map_location="cpu", weights_only=True)  # plain tensors and numbers
    assert raw["info"]["classes"] == ["glasses", "no_glasses"]
    seen = []
    real_load = torch.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    monkeypatch.setattr(judges, "train_attribute_classifier",
                        lambda *a, **k: pytest.fail("a cached judge must not be retrained"))
    model, info = get_judge("glasses", SIZE, cache_dir=judge_dir, n=JUDGE_N, verbose=False)
    assert seen == [True] and info["path"] == str(path)


# ------------------------------------------------------------------------------- evaluate / CLI

def _checkpoint(task_name, path, **overrides):
    """An untrained smoke-size checkpoint written the way training writes one."""
    from dataclasses import replace

    from gan_course.config import get_config
    from gan_course.training.checkpoint import save_checkpoint
    from gan_course.training.tasks import build_task

    cfg = replace(get_config(task_name, "smoke"), **overrides)
    task = build_task(cfg, torch.device("cpu"))
    return save_checkpoint(path, {"task": task_name, "config": cfg.to_dict(),
                                  "task_state": task.state_dict(), "epoch": 0, "global_step": 0})


@pytest.mark.parametrize("task_name, overrides, names", [
    ("fashion", {}, {"garment TV", "classes >= 4 %", "KID / floor"}),
    ("cgan", {}, {"accuracy glasses", "accuracy no_glasses", "accuracy, worse label", "flip rate",
                  "KID"}),
    ("cyclegan", {}, {"domain black->blond", "oracle L1 / copy A->B", "round-trip L1 B"}),
    ("dcgan", {}, {"hair TV", "glasses TV", "KID / floor"}),
])
def test_evaluate_cli_end_to_end(task_name, overrides, names, judge_dir, tmp_path, monkeypatch,
                                 capsys):
    from gan_course.cli import main
    from gan_course.evaluation import evaluate

    monkeypatch.setenv("GAN_COURSE_DATA", str(tmp_path / "data"))
    ckpt = _checkpoint(task_name, tmp_path / "run" / "checkpoint.pt", **overrides)
    if task_name == "dcgan":  # 64 px judges: trained here, small
        result = evaluate(task_name, ckpt, n=40, judge_dir=tmp_path / "j64", judge_n=300,
                          verbose=False)
    else:
        out_json = tmp_path / "numbers.json"
        judge_n = 2000 if task_name == "fashion" else JUDGE_N  # the fixture's judges
        code = main(["evaluate", task_name, "--checkpoint", str(ckpt), "--n", "40",
                     "--judge-dir", str(judge_dir), "--judge-n", str(judge_n),
                     "--json", str(out_json)])
        assert code == 0, capsys.readouterr().err
        printed = capsys.readouterr().out
        assert "held-out accuracy" in printed and "untrained" in printed
        result = json.loads(out_json.read_text())
    rows = {r["name"]: r for r in result["rows"]}
    assert names <= set(rows), sorted(rows)
    # an untrained checkpoint IS the untrained generator: trained == untrained on every row
    for r in rows.values():
        assert r["trained"] == pytest.approx(r["untrained"]), r
        not_compared = "confidence" in r["name"] or r["name"].startswith("accuracy ")
        assert r["beats_untrained"] is (None if not_compared else False)
    if task_name == "cyclegan":
        assert rows["oracle L1 A->B"]["real"] > 0  # copying the input: the baseline
    if "KID / floor" in rows:
        assert rows["KID"]["real"] > 0 and rows["KID / floor"]["trained"] > 1


def test_evaluate_cli_errors(tmp_path, capsys):
    from gan_course.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--help"])
    assert exc.value.code == 0
    assert "fashion" in capsys.readouterr().out
    missing = tmp_path / "nothing" / "checkpoint.pt"
    assert main(["evaluate", "cgan", "--checkpoint", str(missing)]) == 1
    err = capsys.readouterr().err
    assert str(missing) in err and "train" in err
    ckpt = _checkpoint("cgan", tmp_path / "run" / "checkpoint.pt")
    assert main(["evaluate", "dcgan", "--checkpoint", str(ckpt)]) == 1
    assert "'cgan' checkpoint" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["evaluate", "cgan", "--checkpoint", str(bad)]) == 1
    assert str(bad) in capsys.readouterr().err
    assert main(["evaluate", "cgan", "--checkpoint", str(ckpt), "--n", "3"]) == 1
    assert "at least 8" in capsys.readouterr().err


def test_evaluate_task_uses_the_ema_and_leaves_training_state_alone(judge_dir, tmp_path,
                                                                     monkeypatch):
    from dataclasses import replace

    from gan_course.config import get_config
    from gan_course.evaluation import evaluate_task
    from gan_course.training.tasks import build_task

    monkeypatch.setenv("GAN_COURSE_DATA", str(tmp_path / "data"))
    cfg = replace(get_config("fashion", "smoke"), ema_decay=0.9)
    torch.manual_seed(0)
    task = build_task(cfg, torch.device("cpu"))
    with torch.no_grad():  # the live generator moves away from its average
        for p in task.models["G"].parameters():
            p.add_(0.5 * torch.randn_like(p))
    live = {k: v.clone() for k, v in task.models["G"].state_dict().items()}
    args = dict(n=40, judge_dir=judge_dir, judge_n=2000, verbose=False)
    with_ema = evaluate_task(task, **args)
    assert all(m.training for m in task.models.values())  # still ready to train on
    assert all(torch.equal(task.models["G"].state_dict()[k], v) for k, v in live.items())
    last = evaluate_task(task, **args, ema=False)  # the live (last) weights, on request
    assert [r["trained"] for r in last["rows"]] != [r["trained"] for r in with_ema["rows"]]
    assert not last["ema"] and with_ema["ema"]
    task.ema.copy_to()  # now the generator itself holds the average: same numbers
    copied = evaluate_task(task, **args)
    assert [r["trained"] for r in with_ema["rows"]] == [r["trained"] for r in copied["rows"]]
    task.ema = None
    task.models["G"].load_state_dict(live)  # the live weights score differently
    plain = evaluate_task(task, **args)
    assert [r["trained"] for r in plain["rows"]] != [r["trained"] for r in with_ema["rows"]]


def test_cgan_worse_label_row_is_the_fair_comparison():
    from gan_course.evaluation.evaluate import Row

    # an untrained G that draws one class scores 100 % on that label: not a baseline to beat
    per_label = Row("accuracy no_glasses", 0.999, 1.0, None, "higher", 0.98, compare=False)
    worse = Row("accuracy, worse label", 0.999, 0.0, None, "higher", 0.98)
    assert per_label.beats_untrained is None
    assert worse.beats_untrained is True and worse.meets_target is True
    assert Row("accuracy, worse label", 0.9, 0.0, None, "higher", 0.98).meets_target is False
