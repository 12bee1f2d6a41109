"""The generators shipped in gan_course/pretrained: present, intact, loadable without pickle, and
trained with today's config (a recipe change without retraining fails here)."""

import json

import pytest
import torch
from safetensors import safe_open

from gan_course import pretrained
from gan_course.config import TASKS
from gan_course.pretrained import GENERATORS, PRETRAINED_DIR, PretrainedError

KEY_METRICS = {"fashion": ("garment TV", "classes >= 4 %", "KID"),
               "dcgan": ("hair TV", "glasses TV", "KID"),
               "cgan": ("accuracy, worse label", "flip rate", "KID"),
               "cyclegan": ("domain black->blond", "domain blond->black", "oracle L1 A->B",
                            "oracle L1 B->A")}


def test_every_task_ships_a_generator():
    assert pretrained.available() == list(TASKS)


@pytest.mark.parametrize("task", TASKS)
def test_shipped_record_matches_its_weights_and_todays_config(task):
    meta = pretrained.info(task)
    weights = PRETRAINED_DIR / meta["weights"]
    assert pretrained._sha256(weights) == meta["sha256"]
    # recorded config == get_config(task, <recorded profile>) today, field by field
    assert pretrained.config_mismatch(task) == {}, (
        f"the {task} recipe changed since the shipped generator was trained: retrain it with "
        f"`python .ci/ship_pretrained.py {task}`")
    assert meta["config"]["profile"] == "long" and "--profile long" in meta["command"]
    # safetensors: plain tensors, only the generator(s), half precision
    with safe_open(str(weights), framework="pt") as f:
        names = {k.split(".", 1)[0] for k in f.keys()}
        assert names == set(GENERATORS[task])
        assert all(f.get_tensor(k).dtype in (torch.float16, torch.int64) for k in f.keys())
    # the numbers it shipped with were measured on 1,000 samples, and on the metrics the live
    # demo sweep judges (benchmarks/sweep_demo.py) it beat its untrained self
    rows = {r["name"]: r for r in meta["metrics"]["rows"]}
    assert meta["metrics"]["n"] == 1000
    for name in KEY_METRICS[task]:
        assert rows[name]["beats_untrained"] is True, rows[name]


@pytest.mark.parametrize("task", TASKS)
def test_shipped_generator_loads_and_draws_finite_images(task):
    torch.manual_seed(0)
    loaded = pretrained.load_pretrained(task, "cpu")
    cfg = loaded.config
    with torch.no_grad():
        if task in ("fashion", "dcgan"):
            out = loaded.models["G"](torch.randn(4, cfg.latent_dim))
            size = 28 * 28 if task == "fashion" else 3 * cfg.image_size ** 2
            assert out[0].numel() == size
        elif task == "cgan":
            out = loaded.models["G"](torch.randn(4, cfg.latent_dim), torch.tensor([0, 1, 0, 1]))
            assert out.shape == (4, 3, cfg.image_size, cfg.image_size)
        else:
            x = torch.rand(2, 3, cfg.image_size, cfg.image_size) * 2 - 1
            out = torch.cat([loaded.models["G_AB"](x), loaded.models["G_BA"](x)])
            assert out.shape == (4, 3, cfg.image_size, cfg.image_size)
    assert torch.isfinite(out).all() and out.abs().max() <= 1
    assert out.std() > 0.05  # not a flat image


def test_a_replaced_weights_file_is_refused(tmp_path):
    for name in ("fashion.safetensors", "fashion.json"):
        (tmp_path / name).write_bytes((PRETRAINED_DIR / name).read_bytes())
    meta = json.loads((tmp_path / "fashion.json").read_text())
    meta["sha256"] = "0" * 64
    (tmp_path / "fashion.json").write_text(json.dumps(meta))
    with pytest.raises(PretrainedError, match="SHA-256 differs"):
        pretrained.load_pretrained("fashion", "cpu", folder=tmp_path)
