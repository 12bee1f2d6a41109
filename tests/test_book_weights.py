"""Importing the book's pretrained generators (cgan.pth, gen_black.pth, gen_blond.pth).

The book's classes come from ``benchmarks/textbook.py`` (``Generator`` with its ``net`` blocks,
``CycleGenerator`` with ``initial/down_blocks/res_blocks/up_blocks/last``), which re-implements
the book's code key for key. Their state dicts, with random weights *and* random BatchNorm
statistics, are saved to files exactly as the book saves its weights
(``torch.save(gen.state_dict(), path)``); the imported course network must then compute the same
images as the book's network. Small sizes run forwards; the full-size test checks only the
mapping of the book's 256x256 architectures.
"""

from __future__ import annotations

import re
import warnings

import pytest
import torch
import torch.nn.functional as F

from benchmarks import textbook
from gan_course.models.book_weights import (
    BOOK_CLASS_ORDER,
    COURSE_CLASS_ORDER,
    BookWeightsError,
    import_cgan_generator,
    import_cyclegan_generator,
    load_state_dict_file,
)
from gan_course.training.book_checkpoint import write_book_checkpoint
from gan_course.training.checkpoint import CheckpointError, save_checkpoint

LATENT = 20  # not the book's 100: the importer must read the latent size off the weights


def _randomize(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random weights, biases and BatchNorm statistics, so every tensor matters to the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():  # shares storage with the module
            if not t.is_floating_point():
                t.fill_(7)  # num_batches_tracked
            elif name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith("weight") and t.dim() == 1:  # BatchNorm scale
                t.copy_(1 + 0.2 * torch.randn(t.shape, generator=g))
            else:
                t.copy_(0.1 * torch.randn(t.shape, generator=g))
    return model


def book_cgan(seed: int = 1, img_size: int = 32, features: int = 4) -> torch.nn.Module:
    return _randomize(textbook.Generator(LATENT + 2, 3, features, img_size), seed)


def book_cycle(seed: int = 2, features: int = 8, residuals: int = 2) -> torch.nn.Module:
    return _randomize(textbook.CycleGenerator(3, features, residuals), seed)


def book_input(z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The book's generator input: ``noise || onehot`` as ``(B, latent + 2, 1, 1)``."""
    return torch.cat([z, F.one_hot(labels, 2).float()], dim=1)[:, :, None, None]


def save(obj, path):
    torch.save(obj, path)
    return path


class WholeModel(torch.nn.Module):
    """Saved with ``torch.save(model)``: a pickled class, which weights_only refuses."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 1)


# ----------------------------------------------------------------------------- outputs
def test_cgan_import_computes_the_books_images_eval_and_train(tmp_path):
    book = book_cgan()
    path = save(book.state_dict(), tmp_path / "cgan.pth")
    G, info = import_cgan_generator(path)
    assert info == {"latent_dim": LATENT, "num_classes": 2, "img_size": 32, "features": 4,
                    "channels": 3, "n_tensors": len(book.state_dict())}
    z = torch.randn(6, LATENT, generator=torch.Generator().manual_seed(5))
    labels = torch.tensor([0, 1, 0, 1, 1, 0])

    book.eval()
    with torch.no_grad():
        ours, theirs = G(z, labels), book(book_input(z, labels))
    assert ours.shape == (6, 3, 32, 32)
    torch.testing.assert_close(ours, theirs)
    # the label input matters, and the output is not saturated: the comparison means something
    assert not torch.allclose(G(z, torch.zeros(6, dtype=torch.long)),
                              G(z, torch.ones(6, dtype=torch.long)), atol=1e-3)
    assert 0.05 < ours.std() and ours.abs().max() < 0.999

    # train mode: batch statistics, and the running statistics move the same way
    book.train()
    G.train()
    torch.testing.assert_close(G(z, labels), book(book_input(z, labels)))
    for (bk, bt), (ck, ct) in zip(book.state_dict().items(), G.state_dict().items(), strict=True):
        torch.testing.assert_close(ct, bt, msg=f"{bk} vs {ck} after a train-mode forward")


def test_cgan_file_without_num_batches_tracked_still_loads(tmp_path):
    book = book_cgan().eval()
    sd = {k: v for k, v in book.state_dict().items() if not k.endswith("num_batches_tracked")}
    G, _ = import_cgan_generator(save(sd, tmp_path / "old.pth"))
    z, labels = torch.randn(3, LATENT), torch.tensor([0, 1, 1])
    with torch.no_grad():
        torch.testing.assert_close(G(z, labels), book(book_input(z, labels)))


def test_label_order_is_the_courses_and_a_different_order_is_converted():
    from gan_course.data.prepare import EYEGLASSES_CLASSES

    # the book: ImageFolder on files/glasses/{G,NoG} -> G (glasses) = 0, as in the course
    assert BOOK_CLASS_ORDER == COURSE_CLASS_ORDER == tuple(EYEGLASSES_CLASSES)
    book = book_cgan().eval()
    G, _ = import_cgan_generator(book.state_dict(), book_class_order=("no_glasses", "glasses"))
    z = torch.randn(4, LATENT)
    with torch.no_grad():
        # course label 0 (glasses) must now drive the book's input 1, and vice versa
        torch.testing.assert_close(G(z, torch.zeros(4, dtype=torch.long)),
                                   book(book_input(z, torch.ones(4, dtype=torch.long))))
        torch.testing.assert_close(G(z, torch.ones(4, dtype=torch.long)),
                                   book(book_input(z, torch.zeros(4, dtype=torch.long))))


def test_cyclegan_import_computes_the_books_translation(tmp_path):
    book = book_cycle()
    G, info = import_cyclegan_generator(save(book.state_dict(), tmp_path / "gen_black.pth"))
    assert info == {"channels": 3, "features": 8, "num_residuals": 2,
                    "n_tensors": len(book.state_dict())}
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3)) * 2 - 1
    for mode in (False, True):  # InstanceNorm: the same in both modes
        book.train(mode)
        G.train(mode)
        with torch.no_grad():
            ours, theirs = G(x), book(x)
        torch.testing.assert_close(ours, theirs)
    assert 0.05 < ours.std() and not torch.allclose(ours, x, atol=0.05)


def test_wrapped_state_dict_is_accepted_other_dicts_are_not(tmp_path):
    book = book_cycle().eval()
    G, _ = import_cyclegan_generator(
        save({"state_dict": book.state_dict(), "epoch": 3}, tmp_path / "wrapped.pth"))
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(G(x), book(x))
    with pytest.raises(BookWeightsError, match=r"holds a dict \('weights', 'epoch'\) that is not"):
        load_state_dict_file(save({"weights": book.state_dict(), "epoch": 3}, tmp_path / "w.pth"))


# ----------------------------------------------------------------------------- full size
def test_full_size_book_architectures_map_tensor_for_tensor():
    """The book's 256x256 networks (cGAN width 16, CycleGAN width 64 / 9 blocks); no forward."""
    torch.manual_seed(0)
    cgan_sd = textbook.Generator(102, 3, 16, 256).state_dict()
    G, info = import_cgan_generator(cgan_sd)
    assert info == {"latent_dim": 100, "num_classes": 2, "img_size": 256, "features": 16,
                    "channels": 3, "n_tensors": 38}
    ours = G.state_dict()
    assert len(ours) == len(cgan_sd) == 38
    assert [tuple(v.shape) for v in ours.values()] == [tuple(v.shape) for v in cgan_sd.values()]
    assert tuple(cgan_sd["net.0.0.weight"].shape) == (102, 1024, 4, 4)  # the book's widths
    for book_key, course_key in [("net.0.0.weight", "main.0.weight"),
                                 ("net.1.0.weight", "main.3.weight"),
                                 ("net.5.1.running_var", "main.16.running_var"),
                                 ("net.6.weight", "main.18.weight"), ("net.6.bias", "main.18.bias")]:
        assert torch.equal(ours[course_key], cgan_sd[book_key]), (book_key, course_key)

    cyc_sd = textbook.CycleGenerator(3, 64, 9).state_dict()
    R, info = import_cyclegan_generator(cyc_sd)
    assert info == {"channels": 3, "features": 64, "num_residuals": 9, "n_tensors": 48}
    ours = R.state_dict()
    assert [tuple(v.shape) for v in ours.values()] == [tuple(v.shape) for v in cyc_sd.values()]
    for book_key, course_key in [("initial.0.weight", "initial.0.weight"),
                                 ("down_blocks.1.conv.0.bias", "down.3.bias"),
                                 ("res_blocks.8.block.1.conv.0.weight", "residuals.8.block.3.weight"),
                                 ("up_blocks.0.conv.0.weight", "up.0.weight"),
                                 ("last.weight", "last.0.weight")]:
        assert torch.equal(ours[course_key], cyc_sd[book_key]), (book_key, course_key)


# ----------------------------------------------------------------------------- bad files
def test_pickled_whole_model_is_refused_with_what_was_found(tmp_path):
    path = save(WholeModel(), tmp_path / "cgan.pth")
    with pytest.raises(BookWeightsError, match="pickled Python object") as err:
        load_state_dict_file(path)
    assert "WholeModel" in str(err.value) and "state_dict()" in str(err.value)


def test_torchscript_file_is_refused_with_what_was_found(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script is deprecated (the book still uses it)
        scripted = torch.jit.script(torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1)))
    scripted.save(str(tmp_path / "fashion_gen.pt"))
    with pytest.raises(BookWeightsError, match="TorchScript archive") as err:
        load_state_dict_file(tmp_path / "fashion_gen.pt")
    assert "torch.jit.load" in str(err.value)


@pytest.mark.parametrize("cut, message", [(0.5, "truncated or corrupted"), (0.0, "is empty")])
def test_truncated_or_empty_file(tmp_path, cut, message):
    path = save(book_cgan().state_dict(), tmp_path / "cgan.pth")
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(BookWeightsError, match=message):
        load_state_dict_file(path)


def test_not_a_state_dict_and_missing_file(tmp_path):
    with pytest.raises(BookWeightsError, match="holds a Tensor, not a state dict"):
        load_state_dict_file(save(torch.zeros(3), tmp_path / "t.pth"))
    with pytest.raises(BookWeightsError, match="No weight file at"):
        load_state_dict_file(tmp_path / "nope.pth")


def test_wrong_shape_names_the_first_mismatch():
    sd = book_cycle().state_dict()
    keys = list(sd)
    bad = "res_blocks.1.block.0.conv.0.weight"
    sd[bad] = torch.zeros(32, 32, 1, 1)
    n = keys.index(bad) + 1
    with pytest.raises(BookWeightsError) as err:
        import_cyclegan_generator(sd)
    assert str(err.value) == (
        f"book tensor #{n} {bad} (32, 32, 1, 1) has no counterpart: ResnetGenerator(features=8, "
        f"num_residuals=2)'s tensor #{n} is residuals.1.block.0.weight (32, 32, 3, 3).")


def test_missing_extra_and_nan_tensors_are_named():
    sd = book_cgan().state_dict()
    del sd["net.3.bias"]  # the last layer's bias (32x32: blocks net.0-2, final ConvT net.3)
    with pytest.raises(BookWeightsError, match=r"the file ends after 19 tensors: .*tensor #20 "
                                               r"main\.9\.bias \(3,\) has no counterpart"):
        import_cgan_generator(sd)

    sd = book_cycle().state_dict()
    sd["extra.running_mean"] = torch.zeros(3)
    with pytest.raises(BookWeightsError, match=r"book tensor #21 extra\.running_mean \(3,\) has "
                                               r"no counterpart: .* has only 20 tensors"):
        import_cyclegan_generator(sd)

    sd = book_cycle().state_dict()
    sd["up_blocks.0.conv.0.bias"][0] = float("nan")
    with pytest.raises(BookWeightsError, match=r"up_blocks\.0\.conv\.0\.bias contains NaN"):
        import_cyclegan_generator(sd)


def test_wrong_task_for_a_file_says_which_task_it_is():
    with pytest.raises(BookWeightsError, match="looks like the book's cGAN generator: use --task cgan"):
        import_cyclegan_generator(book_cgan().state_dict())
    with pytest.raises(BookWeightsError, match="looks like a CycleGAN generator: use --task cyclegan"):
        import_cgan_generator(book_cycle().state_dict())


# ----------------------------------------------------------------------------- checkpoints
def test_cgan_checkpoint_loads_generates_the_books_faces_and_refuses_resume(tmp_path):
    from gan_course.training.loop import fit
    from gan_course.training.runs import generate, load_trained

    book = book_cgan().eval()
    report = write_book_checkpoint({"cgan": save(book.state_dict(), tmp_path / "cgan.pth")},
                                   tmp_path / "out")
    assert report.task == "cgan" and report.untrained == ["C"] and report.imported == {"G": "cgan.pth"}
    assert (report.config.latent_dim, report.config.image_size, report.config.features) == (
        LATENT, 32, 4)

    task = load_trained(report.path, device="cpu")
    images = generate(task, n=3, seed=4, label=0)  # 0 = glasses, as the book's [1, 0]
    z = torch.randn(3, LATENT, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        torch.testing.assert_close(images, book(book_input(z, torch.zeros(3, dtype=torch.long))))
    both = generate(task, n=4)
    assert both.shape == (4, 3, 32, 32) and torch.isfinite(both).all()

    before = report.path.read_bytes()
    with pytest.raises(CheckpointError, match=r"imported pretrained weights.*C were initialised"):
        fit(task, None, out_dir=report.path.parent, resume=True, progress=False)
    assert report.path.read_bytes() == before


def test_cyclegan_files_map_to_the_right_directions_one_then_the_other(tmp_path):
    from gan_course.training.runs import generate, load_trained

    black, blond = book_cycle(seed=10).eval(), book_cycle(seed=20).eval()  # different weights
    out = tmp_path / "out"
    first = write_book_checkpoint(
        {"cyclegan-black": save(black.state_dict(), tmp_path / "gen_black.pth")}, out,
        image_size=32)
    assert first.imported == {"G_BA": "gen_black.pth"}
    assert first.untrained == ["D_A", "D_B", "G_AB"]
    second = write_book_checkpoint(
        {"cyclegan-blond": save(blond.state_dict(), tmp_path / "gen_blond.pth")}, out)
    assert second.imported == {"G_AB": "gen_blond.pth", "G_BA": "gen_black.pth"}
    assert second.untrained == ["D_A", "D_B"] and second.config.image_size == 32

    task = load_trained(second.path, device="cpu")
    images = generate(task, n=2, seed=1)  # [real black, -> blond, real blond, -> black]
    assert images.shape == (4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(images[1], blond(images[0:1])[0])  # black -> blond: gen_B
        torch.testing.assert_close(images[3], black(images[2:3])[0])  # blond -> black: gen_A


def test_import_never_overwrites_a_trained_run_or_mixes_architectures(tmp_path):
    out = tmp_path / "run"
    save_checkpoint(out / "checkpoint.pt", {"task": "cgan", "config": {}})
    with pytest.raises(CheckpointError, match="holds a trained 'cgan' run"):
        write_book_checkpoint({"cgan": save(book_cgan().state_dict(), tmp_path / "c.pth")}, out)

    out = tmp_path / "cyc"
    write_book_checkpoint({"cyclegan-black": save(book_cycle().state_dict(), tmp_path / "b.pth")},
                          out, image_size=16)
    narrow = save(book_cycle(features=4).state_dict(), tmp_path / "n.pth")
    with pytest.raises(BookWeightsError, match="must share one architecture"):
        write_book_checkpoint({"cyclegan-blond": narrow}, out)


def test_cli_import_then_sample(tmp_path, capsys):
    from gan_course.cli import main

    path = save(book_cgan().state_dict(), tmp_path / "cgan.pth")
    out = tmp_path / "book-cgan"
    assert main(["weights", "import-book", str(path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "cgan.pth -> cgan G" in printed and "initialised, not trained: C" in printed
    png = tmp_path / "faces.png"
    assert main(["sample", "cgan", "--checkpoint", str(out / "checkpoint.pt"), "--out", str(png),
                 "--n", "2"]) == 0
    assert png.stat().st_size > 0


@pytest.mark.parametrize("name, task, message", [
    ("gen_blond.pth", "cyclegan-black", "is the book's cyclegan-blond file, but --task "
                                        "cyclegan-black was given"),
    ("weights.pth", None, "cannot tell what .* is from its name: pass --task"),
    ("weights.pth", "cyclegan-blond", "looks like the book's cGAN generator: use --task cgan"),
])
def test_cli_wrong_task_is_one_line_and_exit_1(tmp_path, capsys, name, task, message):
    from gan_course.cli import main

    path = save(book_cgan().state_dict(), tmp_path / name)
    argv = ["weights", "import-book", str(path), "--out", str(tmp_path / "o")]
    assert main(argv + (["--task", task] if task else [])) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert re.search(message, err)
    assert not (tmp_path / "o" / "checkpoint.pt").exists()


def test_same_shape_but_other_kind_is_a_mismatch_not_a_silent_copy():
    """Order and shape alone would load a running mean into a BatchNorm scale; the kind check
    (last name part) stops that."""
    sd = book_cgan().state_dict()
    keys = list(sd)
    i, j = keys.index("net.0.1.weight"), keys.index("net.0.1.running_mean")
    keys[i], keys[j] = keys[j], keys[i]
    with pytest.raises(BookWeightsError, match=r"book tensor #2 net\.0\.1\.running_mean \(32,\) "
                                               r"has no counterpart: .*tensor #2 is main\.1\.weight"):
        import_cgan_generator({k: sd[k] for k in keys})
