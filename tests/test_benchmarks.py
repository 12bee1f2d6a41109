"""The benchmark harness runs and reports well-formed results (not that targets are met).

``benchmarks/run.py --quick`` is run in-process with tiny sizes; the numbers it produces on a
shared CI machine mean nothing, so only their presence, types and internal consistency are
checked here. The helpers of ``benchmarks/common.py`` and the textbook baseline's model sizes
are checked exactly.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from benchmarks import common, textbook

ROW_KEYS = {"data_pipeline", "dcgan_step", "dcgan_flop_rate", "cgan_step", "cyclegan_step",
            "eyeglasses_memory", "epoch_scaling"}


@pytest.mark.slow
def test_quick_run_writes_wellformed_json(tmp_path, capsys):
    from benchmarks.run import main

    out = tmp_path / "results" / "quick.json"
    threads = torch.get_num_threads()
    returned = main(["--quick", "--json", str(out), "--data-root", str(tmp_path / "data")])
    printed = capsys.readouterr().out
    data = json.loads(out.read_text())

    assert data["mode"] == "quick"
    assert data["errors"] == {}, data["errors"]
    assert data["rows"] == json.loads(json.dumps(returned["rows"]))  # file == return value
    assert {r["key"] for r in data["rows"]} == ROW_KEYS
    for r in data["rows"]:
        assert isinstance(r["figure"], str) and r["figure"] in printed  # in the printed table
        assert isinstance(r["value"], float) and math.isfinite(r["value"]) and r["value"] > 0
        assert r["op"] in (">=", "<=") and isinstance(r["threshold"], float)
        assert isinstance(r["met"], bool)
        assert r["met"] == (r["value"] >= r["threshold"] if r["op"] == ">="
                            else r["value"] <= r["threshold"])
        assert isinstance(r["target"], str) and r["target"]
    rows = {r["key"]: r for r in data["rows"]}
    for key in ("dcgan_step", "cgan_step", "cyclegan_step"):
        times = rows[key]["details"]["times"]
        assert times["course"]["median_s"] > 0 and times["textbook"]["median_s"] > 0
        assert rows[key]["details"]["flops_per_step"]["course"] > 0
    assert 0 < rows["dcgan_flop_rate"]["value"] < 5
    mem = rows["eyeglasses_memory"]["details"]
    assert mem["course"]["seen"] > 0 and mem["textbook"]["seen"] > 0
    assert rows["epoch_scaling"]["value"] <= 1.0 + 1e-9  # an R^2

    demo = data["extras"]["demo_throughput"]
    assert set(demo) == {"fashion", "dcgan", "cgan", "cyclegan"}
    assert all(d["course_img_per_s"] > 0 for d in demo.values())
    assert all(d["textbook_img_per_s"] > 0 for k, d in demo.items() if k != "fashion")
    wall = data["extras"]["epoch_wall"]
    assert wall["smoke/dcgan"]["epoch_s"] > 0 and wall["smoke/dcgan"]["steps"] > 0
    assert data["extras"]["peak_rss_mb"] > 0
    assert isinstance(data["machine"]["torch"], str) and data["wall_s"] > 0
    assert returned["machine"]["threads"] == 1  # --quick runs on one thread ...
    assert torch.get_num_threads() == threads  # ... and gives the caller's setting back
    assert "total" in printed


def test_interleaved_alternates_order_and_counts_calls():
    calls = []
    times = common.interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                               reps=3, warmup=1, number={"b": 2})
    # warm-up a b, then rounds: a b b | b b a | a b b
    assert calls == ["a", "b", "a", "b", "b", "b", "b", "a", "a", "b", "b"]
    assert [len(times["a"]), len(times["b"])] == [3, 3]
    with pytest.raises(ValueError):
        common.interleaved({"a": lambda: None}, reps=0)


def test_paired_ratio_linear_fit_and_format():
    assert common.paired_ratio([2.0, 4.0, 30.0], [1.0, 1.0, 10.0]) == 3.0
    fit = common.linear_fit([1, 2, 4, 8], [0.5, 1.0, 2.0, 4.0])
    assert fit["slope"] == pytest.approx(0.5) and fit["intercept"] == pytest.approx(0.0)
    assert fit["r2"] == pytest.approx(1.0)
    assert common.linear_fit([1, 2, 3], [1.0, 3.0, 1.0])["r2"] == pytest.approx(0.0)
    with pytest.raises(ValueError):
        common.paired_ratio([1.0], [])
    assert common.fmt_num(1234.4) == "1,234" and common.fmt_num(0.012345) == "0.0123"
    assert common.fmt_num(None) == "-"


def test_count_flops_matches_formula_with_and_without_module_tracking():
    conv = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
    x = torch.randn(2, 3, 16, 16)
    expected = 2 * (2 * 8 * 16 * 16) * (3 * 3 * 3)  # 2 * output elements * MACs per output
    assert common.count_flops(lambda: conv(x)) == expected
    assert common.count_flops(lambda: conv(x), track_modules=False) == expected


def test_reset_peak_rss_tracks_a_new_allocation():
    resettable = common.reset_peak_rss()  # Linux: True; elsewhere the lifetime peak is used
    before = common.peak_rss_mb()
    block = torch.ones(40 * 2**20 // 4)  # 40 MB, touched
    after = common.peak_rss_mb()
    assert after >= before
    if resettable:
        assert after - before > 30
    del block


def test_textbook_models_have_the_course_sizes():
    """Same widths on both sides: the benchmark compares loops, not network sizes."""
    from gan_course.models import (
        CGANCritic,
        CGANGenerator,
        DCGANDiscriminator,
        DCGANGenerator,
        PatchDiscriminator,
        ResnetGenerator,
    )

    def n(m):
        return sum(p.numel() for p in m.parameters())

    assert n(textbook.dcgan_generator(64)) == n(DCGANGenerator(100, 64)) == 3_576_704
    assert n(textbook.dcgan_discriminator(64)) == n(DCGANDiscriminator(64)) == 2_765_568
    for size in (32, 64, 256):
        assert n(textbook.Generator(102, 3, 16, size)) == n(CGANGenerator(100, 2, size, 16))
        assert n(textbook.Critic(5, 16, size)) == n(CGANCritic(2, size, 16))
    assert n(textbook.CycleGenerator(3, 64, 9)) == n(ResnetGenerator(3, 64, 9))
    assert n(textbook.Discriminator(3)) == n(PatchDiscriminator(3))
    x = torch.randn(2, 3, 64, 64)
    assert textbook.Discriminator(3, (16, 32, 64))(x).shape == PatchDiscriminator(3, (16, 32, 64))(x).shape


def test_textbook_cgan_batch_is_the_books_five_channel_layout():
    images = torch.rand(3, 3, 32, 32) * 2 - 1
    labels = torch.tensor([0, 1, 0])
    onehots, img_and_labels = textbook.cgan_batch(images, labels)
    assert onehots.tolist() == [[1, 0], [0, 1], [1, 0]]
    assert img_and_labels.shape == (3, 5, 32, 32)
    assert torch.equal(img_and_labels[:, :3], images)
    assert img_and_labels[1, 4].eq(1).all() and img_and_labels[1, 3].eq(0).all()


# ----------------------------------------------------------------------------- benchmarks/gpu.py
@pytest.mark.slow
def test_gpu_benchmark_dry_run_on_cpu(tmp_path):
    """benchmarks/gpu.py --dry-run: every part (models, layout, float16, data path, DDP on 2
    gloo processes) runs on the CPU at smoke sizes and prints the markdown report."""
    import os
    import subprocess
    import sys

    out = tmp_path / "gpu.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", GAN_COURSE_DATA=str(tmp_path / "data"),
               PYTHONPATH=str(common.REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, str(common.REPO / "benchmarks" / "gpu.py"), "--dry-run",
                        "--json", str(out)], env=env, capture_output=True, text=True,
                       timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    for heading in ("### 1. Models", "### 2. Memory layout", "### 3. float16", "### 4. Data",
                    "### 5. DDP on 2 processes", "DRY RUN"):
        assert heading in r.stdout
    res = json.loads(out.read_text())
    assert [m["model"] for m in res["models"]] == ["fashion", "dcgan", "cgan", "cyclegan"]
    from benchmarks.gpu import BOOK_RUNS

    for m in res["models"]:
        assert m["step_img_s"] > 0 and m["loop_img_s"] > 0 and math.isfinite(m["projected_s"])
        book = BOOK_RUNS[m["model"]]
        steps = book["epochs"] * (book["images"] // m["batch"])
        assert m["projected_s"] == pytest.approx(steps * m["loop_s"])
        assert f"| {m['model']} |" in r.stdout
    assert [x["model"] for x in res["layout"]] == ["dcgan", "cgan", "cyclegan"]
    assert len(res["fp16"]) == 4 and len(res["data"]) == 3
    assert [d["gpus"] for d in res["ddp"]] == [2, 2, 2]
    assert all(d["img_s"] > 0 for d in res["ddp"])


def test_gpu_benchmark_needs_cuda_or_dry_run(capsys):
    from benchmarks import gpu

    if torch.cuda.is_available():
        pytest.skip("a GPU is here: the full benchmark would run")
    with pytest.raises(SystemExit):
        gpu.main([])
    assert "--dry-run" in capsys.readouterr().err


def test_gpu_benchmark_projects_the_books_runs():
    from benchmarks.gpu import projected_s
    from gan_course.config import get_config

    # DCGAN: 20 epochs x (63,632 // 128 = 497 steps) at 10 ms per step
    assert projected_s("dcgan", get_config("dcgan", "full"), 0.01) == pytest.approx(99.4)
    # on 4 GPUs the global batch is still the book's: the same number of steps
    assert projected_s("dcgan", get_config("dcgan", "full"), 0.01, world=4) == pytest.approx(99.4)
    # CycleGAN's batch of 1 on 4 GPUs: one image each, 48,472 // 4 steps
    from dataclasses import replace

    cyc = replace(get_config("cyclegan", "full"), batch_per_rank=True)
    assert projected_s("cyclegan", cyc, 0.02, world=4) == pytest.approx(12_118 * 0.02)


def test_notebook_times_changes_only_the_seed_and_reads_cell_times():
    import nbformat

    from benchmarks.notebook_times import _cell_seconds, markdown, with_seed

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("setup(seed=0) in prose stays"),
                nbformat.v4.new_code_cell("env = setup(seed=0)\nprint(env)"),
                nbformat.v4.new_code_cell("history = fit(task, batches)")]
    seeded = with_seed(nb, 2)
    assert seeded.cells[1].source == "env = setup(seed=2)\nprint(env)"
    assert seeded.cells[0].source == nb.cells[0].source           # markdown untouched
    assert nb.cells[1].source == "env = setup(seed=0)\nprint(env)"  # the original too
    with pytest.raises(ValueError, match="setup"):
        with_seed(nbformat.v4.new_notebook(), 1)
    nb.cells[2].metadata["execution"] = {"iopub.execute_input": "2026-12-02T10:00:00.5Z",
                                         "shell.execute_reply": "2026-12-02T10:01:30.0Z"}
    assert _cell_seconds(nb.cells[2]) == pytest.approx(89.5)
    assert _cell_seconds(nb.cells[1]) is None
    runs = [{"notebook": "04", "seed": 0, "threads": 1, "wall_s": 239.0, "training_cell_s": 200.0,
             "rest_s": 39.0},
            {"notebook": "07", "seed": 1, "threads": 2, "wall_s": 241.0, "training_cell_s": 200.0,
             "rest_s": 41.0}]
    rows = markdown(runs, 240).splitlines()[2:]
    assert rows[0].endswith(" yes |") and rows[1].endswith(" **no** |")
