"""The book's pretrained generators as a course checkpoint (``weights import-book``).

:func:`write_book_checkpoint` imports ``cgan.pth`` or ``gen_black.pth`` / ``gen_blond.pth``
(:mod:`gan_course.models.book_weights`) and writes ``OUT/checkpoint.pt`` in the format training
writes, so :func:`gan_course.training.runs.load_trained`, ``python -m gan_course sample`` /
``evaluate`` and the notebooks' explorers take it like any trained run.

What the checkpoint holds besides the book's generators:

- **config**: the task's ``full`` profile (the book's settings, real data) with the architecture
  read from the weights (cGAN: latent size, width, 256x256; CycleGAN: width, residual blocks;
  images 256x256 unless ``image_size`` says otherwise -- the CycleGAN generator is fully
  convolutional, so any multiple of 4 works).
- **the networks the book did not publish** -- the cGAN critic ``C``, the CycleGAN discriminators
  ``D_A``/``D_B``, and a CycleGAN generator whose file was not imported yet -- freshly initialised
  (``weights_init``, seed ``seed``), because a checkpoint must hold every network of its task.
  Their names are listed under ``"untrained_models"``, and
  :func:`gan_course.training.loop.fit` refuses to resume from such a checkpoint: continuing would
  pit the book's generator against a critic that has never seen a face.
- **provenance** under ``"imported"``: which course network came from which book file (name and
  SHA-256).

Importing into a folder that already holds an imported CycleGAN checkpoint adds the other
direction (``gen_black.pth`` first, ``gen_blond.pth`` later, or both at once). A folder holding a
*trained* run is never overwritten.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from gan_course.config import TrainConfig, get_config
from gan_course.models.book_weights import (
    BOOK_KINDS,
    CYCLEGAN_TARGET,
    BookWeightsError,
    import_cgan_generator,
    import_cyclegan_generator,
)
from gan_course.training import distributed as ddp
from gan_course.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    rng_state,
    save_checkpoint,
)
from gan_course.training.loop import CHECKPOINT_NAME
from gan_course.training.tasks import build_task

UNTRAINED_KEY = "untrained_models"
"""Checkpoint entry listing networks that were initialised, not trained (``fit`` checks it)."""

BOOK_IMAGE_SIZE = 256
"""The book trains both chapters at 256x256."""


@dataclass
class ImportReport:
    """What :func:`write_book_checkpoint` wrote."""

    path: Path                     # the checkpoint file
    task: str                      # "cgan" or "cyclegan"
    imported: dict[str, str]       # course network -> book file name (incl. earlier imports)
    untrained: list[str]           # networks that are freshly initialised, not trained
    config: TrainConfig
    architecture: dict             # what was read off the weights


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _previous_import(ckpt: Path, task_name: str) -> dict | None:
    """The imported checkpoint already at ``ckpt`` (to extend), None if there is none."""
    if not ckpt.exists():
        return None
    state = load_checkpoint(ckpt)
    if not state.get("imported"):
        raise CheckpointError(
            f"{ckpt} holds a trained {state.get('task')!r} run, not imported book weights; "
            f"importing would overwrite it: pass another --out folder.")
    if state.get("task") != task_name:
        raise CheckpointError(
            f"{ckpt} holds imported {state.get('task')!r} weights, not {task_name!r}: pass "
            f"another --out folder.")
    return state


def _config(task_name: str, arch: dict, image_size: int | None, previous: dict | None,
            seed: int) -> TrainConfig:
    cfg = get_config(task_name, "full")
    if task_name == "cgan":
        if image_size not in (None, arch["img_size"]):
            raise BookWeightsError(
                f"the cGAN generator's image size is fixed by its weights ({arch['img_size']}); "
                f"--image-size {image_size} does not apply.")
        return replace(cfg, latent_dim=arch["latent_dim"], num_classes=arch["num_classes"],
                       image_size=arch["img_size"], features=arch["features"], d_features=None,
                       seed=seed)
    size = image_size
    if previous is not None:
        before = TrainConfig.from_dict(previous["config"])
        if (before.features, before.num_residuals) != (arch["features"], arch["num_residuals"]):
            raise BookWeightsError(
                f"the checkpoint's other generator has features={before.features}, "
                f"num_residuals={before.num_residuals}, this file features={arch['features']}, "
                f"num_residuals={arch['num_residuals']}: the two directions must share one "
                f"architecture. Import into another --out folder.")
        size = size or before.image_size
    size = size or BOOK_IMAGE_SIZE
    if size % 4 or size < 8:
        raise BookWeightsError(f"--image-size must be a multiple of 4 and >= 8, got {size}.")
    # d_features=None: discriminators scale with the generator width (64 -> the book's 64..512)
    return replace(cfg, features=arch["features"], num_residuals=arch["num_residuals"],
                   d_features=None, image_size=size, seed=seed)


def write_book_checkpoint(files: Mapping[str, str | os.PathLike], out_dir: str | os.PathLike,
                          *, image_size: int | None = None, seed: int = 0) -> ImportReport:
    """Import book weight files and write ``out_dir/checkpoint.pt``; returns an :class:`ImportReport`.

    ``files`` maps a kind of :data:`~gan_course.models.book_weights.BOOK_KINDS` to a path:
    ``{"cgan": "cgan.pth"}``, ``{"cyclegan-black": "gen_black.pth"}``, or both CycleGAN files.
    ``image_size``: the CycleGAN config's image size (default 256, the book's; the cGAN's comes
    from its weights). ``seed`` initialises the networks the book did not publish.
    Raises :class:`~gan_course.models.book_weights.BookWeightsError` for an unusable file and
    :class:`~gan_course.training.checkpoint.CheckpointError` when ``out_dir`` holds a trained run
    or another task's import.
    """
    files = {kind: Path(p) for kind, p in files.items()}
    unknown = sorted(set(files) - set(BOOK_KINDS))
    if not files or unknown:
        raise BookWeightsError(f"unknown kind(s) {unknown or '(none given)'}: choose from "
                               f"{', '.join(BOOK_KINDS)}.")
    if "cgan" in files and len(files) > 1:
        raise BookWeightsError("cgan.pth and the CycleGAN files belong to different tasks: "
                               "import them into separate --out folders.")
    task_name = "cgan" if "cgan" in files else "cyclegan"

    generators: dict[str, tuple[torch.nn.Module, Path]] = {}
    archs = []
    for kind, path in files.items():
        if kind == "cgan":
            G, arch = import_cgan_generator(path)
            generators["G"] = (G, path)
        else:
            G, arch = import_cyclegan_generator(path)
            generators[CYCLEGAN_TARGET[kind]] = (G, path)
        archs.append(arch)
    archs = [{k: v for k, v in a.items() if k != "n_tensors"} for a in archs]
    if any(a != archs[0] for a in archs):
        raise BookWeightsError(f"the two CycleGAN files have different architectures "
                               f"({archs[0]} vs {archs[1]}): they are not one book run.")
    arch = archs[0]

    ckpt = Path(out_dir) / CHECKPOINT_NAME
    previous = _previous_import(ckpt, task_name)
    cfg = _config(task_name, arch, image_size, previous, seed)

    task = build_task(cfg, torch.device("cpu"))  # seeded by cfg.seed: the same untrained nets
    imported: dict[str, dict] = {}
    if previous is not None:
        for name, meta in previous["imported"]["files"].items():
            if name not in generators:
                ddp.plain(task.models[name]).load_state_dict(
                    previous["task_state"]["models"][name])
                imported[name] = meta
    for name, (G, path) in generators.items():
        ddp.plain(task.models[name]).load_state_dict(G.state_dict())
        imported[name] = {"file": path.name, "sha256": _sha256(path)}
    untrained = sorted(k for k in task.models if k not in imported)

    save_checkpoint(ckpt, {
        "task": task_name, "config": cfg.to_dict(), "task_state": task.state_dict(),
        "epoch": 0, "batch_in_epoch": 0, "global_step": 0,
        "epoch_data_state": torch.Generator().manual_seed(seed).get_state(),
        "rng": rng_state(), "history": {}, "world_size": 1,
        "torch_version": str(torch.__version__),
        UNTRAINED_KEY: untrained,
        "imported": {"from": "book", "files": imported},
    })
    return ImportReport(ckpt, task_name, {k: v["file"] for k, v in imported.items()}, untrained,
                        cfg, arch)
