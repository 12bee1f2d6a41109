"""load_pretrained: a task whose samples come from the shipped weights themselves."""

from dataclasses import replace

import torch

from gan_course import pretrained
from gan_course.config import get_config
from gan_course.data.batches import Batches
from gan_course.training.loop import fit
from gan_course.training.tasks import build_task


def test_samples_of_a_loaded_generator_use_its_weights_not_a_fresh_ema(tmp_path):
    """The shipped weights are an EMA average; the loaded task must sample from them (a freshly
    built task's EMA holds the initial weights, which sample() used to swap in: grey noise)."""
    task_name = "fashion"  # the EMA handling is the same for every task
    # a big lr and a short average: the exported weights end far from the initial ones
    cfg = replace(get_config(task_name, "smoke"), ema_decay=0.5, epochs=3, lr=5e-3)
    task = build_task(cfg, torch.device("cpu"))
    g = torch.Generator().manual_seed(1)
    data = Batches([torch.rand(64, 784, generator=g) * 2 - 1, torch.zeros(64, dtype=torch.long)],
                   cfg.batch_size)
    fit(task, data, out_dir=tmp_path / "run", progress=False)
    pretrained.export(tmp_path / "run" / "checkpoint.pt", command="test", folder=tmp_path / "pre")

    loaded = pretrained.load_pretrained(task_name, "cpu", folder=tmp_path / "pre")
    z = torch.randn(8, cfg.latent_dim, generator=torch.Generator().manual_seed(2))
    G = loaded.models["G"].eval()
    with torch.no_grad():
        direct = G(z)
    assert torch.equal(loaded.sample(z), direct.float().view_as(loaded.sample(z)))
    with task.averaged(), torch.no_grad():  # the trained run's average, which was exported
        expected = task.models["G"].eval()(z)
    # float16 storage: equal to the averaged weights up to half-precision rounding
    assert torch.allclose(loaded.sample(z), expected.view_as(loaded.sample(z)), atol=5e-2)
    fresh = build_task(cfg, torch.device("cpu"))  # what the old code sampled from: init weights
    with fresh.averaged(), torch.no_grad():
        init = fresh.models["G"].eval()(z)
    assert not torch.allclose(loaded.sample(z), init.view_as(loaded.sample(z)), atol=5e-2)
