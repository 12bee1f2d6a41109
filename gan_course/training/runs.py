"""A whole run in one call: train it, load it back, sample from it.

The notebooks show the four steps of a run as separate, visible objects::

    cfg = get_config("dcgan", env.profile, seed=env.seed)       # 1. what to train
    batches = load_data(cfg)                                     # 2. the data it asks for
    task = build_task(cfg, env.device)                           # 3. models, optimisers, step
    history = fit(task, batches, out_dir=run_dir(cfg), resume=True)  # 4. the loop

:func:`train` does exactly those four steps (plus ``torchrun`` set-up) for the command line;
:func:`load_trained` rebuilds a task from a checkpoint and :func:`generate` draws images from it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from gan_course.config import TrainConfig
from gan_course.training import distributed as ddp
from gan_course.training.checkpoint import CheckpointError, load_checkpoint
from gan_course.training.loop import fit
from gan_course.training.tasks import Task, build_task


def check_out_dir(out: Path) -> Path:
    """Create ``out`` if needed and make sure a checkpoint can be written there - before any data
    is loaded or step is trained, so a bad ``--out`` costs seconds, not a training run."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} is a file, not a folder: pass a folder for the "
                                 f"checkpoint, history and samples.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise PermissionError(f"Cannot write to the output folder {out} ({exc.strerror}): pass "
                              f"another --out folder you can write to.") from None
    return out


def train(cfg: TrainConfig, *, out: str | Path | None = None, resume: bool = False,
          device: str | torch.device | None = None, progress: bool = True,
          max_steps: int | None = None) -> tuple[Task, object]:
    """Train the run ``cfg`` describes; returns ``(task, history DataFrame)``.

    ``out``: folder for checkpoint, samples and history (default :func:`gan_course.runtime.run_dir`);
    ``resume``: continue from ``out/checkpoint.pt`` (a finished run is just loaded); ``device``:
    default the best available; ``max_steps``: stop (and checkpoint) after this many steps.
    Works unchanged under ``torchrun`` (one process per GPU/CPU worker), on one machine or
    several: the config's batch is the global batch (split across the processes; see
    :meth:`~gan_course.config.TrainConfig.global_batch`), and data, checkpoints and samples are
    written once per filesystem.
    """
    from gan_course.data import load_data
    from gan_course.runtime import data_root, get_device, run_dir

    dev = device if isinstance(device, torch.device) else get_device(device)
    info = ddp.init_distributed(dev.type)
    if info.enabled and dev.type == "cuda":
        dev = torch.device("cuda", info.local_rank)
    out = Path(out) if out is not None else run_dir(cfg)
    if info.local_rank == 0:  # the first process of every node (the folder may be node-local)
        check_out_dir(out)
    if info.is_main and (info.enabled or cfg.batch_per_rank):
        print(cfg.batch_note(info.world))
    task = build_task(cfg, dev)
    # One rank per filesystem writes and decodes the data first (rank 0, or the first process
    # of each node when the data folder is not shared); the others then read the finished files.
    prepares = ddp.prepares_data(data_root())
    if not prepares:
        ddp.wait_for_data()
    batches = load_data(cfg, verbose=info.is_main)
    if prepares:
        ddp.wait_for_data()
    history = fit(task, batches, out_dir=out, resume=resume, progress=progress,
                  max_steps=max_steps)
    return task, history


def load_trained(checkpoint: str | Path, device: str | torch.device | None = None) -> Task:
    """Rebuild a task (models in eval mode) from a ``checkpoint.pt`` written by training; when
    the run kept a generator EMA, the generators hold the averaged weights."""
    from gan_course.config import TASKS
    from gan_course.runtime import get_device

    state = load_checkpoint(checkpoint)
    if state.get("task") not in TASKS:
        raise CheckpointError(f"{checkpoint} names an unknown task {state.get('task')!r}.")
    cfg = TrainConfig.from_dict(state["config"])
    task = build_task(cfg, device if isinstance(device, torch.device) else get_device(device))
    task.load_state_dict(state["task_state"])
    if task.ema is not None:  # a trained model is used through its averaged generator(s)
        task.ema.copy_to()
    for m in task.models.values():
        m.eval()
    return task


@torch.no_grad()
def generate(task: Task, n: int = 32, seed: int = 0, label: int | None = None,
             label_weight: float | None = None) -> torch.Tensor:
    """``n`` new images ``(n, C, H, W)`` in [-1, 1] from a trained task.

    cgan: ``label`` = class id for all images (0 = glasses), or ``label_weight`` = w for the
    weight row ``[w, 1 - w]`` (label arithmetic); default: half class 0, half class 1 with the
    same noise. cyclegan: ``n`` toy faces, half black-haired (translated to blond) and half blond
    (translated to black); returns ``2n`` images (each real face next to its translation), laid
    out as in the training sample grids.
    """
    cfg, dev = task.config, task.device
    g = torch.Generator().manual_seed(seed)
    if task.name == "cyclegan":
        from gan_course.data.batches import to_unit_range
        from gan_course.data.toy import draw_face

        k = max(1, n // 2)
        faces = [np.stack([draw_face(seed + i, size=cfg.image_size, hair=h) for i in range(k)])
                 for h in ("black", "blond")]
        real_A, real_B = (to_unit_range(torch.from_numpy(f).permute(0, 3, 1, 2)) for f in faces)
        return task.sample([real_A.to(dev), real_B.to(dev)])
    if task.name == "cgan":
        if label is not None and label_weight is not None:
            raise ValueError("give either label or label_weight, not both.")
        if label is not None:
            if not 0 <= label < cfg.num_classes:
                raise ValueError(f"label must be in [0, {cfg.num_classes}), got {label}.")
            labels = torch.full((n,), int(label))
            z = torch.randn(n, cfg.latent_dim, generator=g)
        elif label_weight is not None:
            w = float(label_weight)
            labels = torch.tensor([[w, 1.0 - w]]).repeat(n, 1)
            z = torch.randn(n, cfg.latent_dim, generator=g)
        else:
            half = max(1, n // 2)
            z = torch.randn(half, cfg.latent_dim, generator=g).repeat(2, 1)
            labels = torch.arange(2).repeat_interleave(half)
        return task.sample([z.to(dev), labels.to(dev)])
    if label is not None or label_weight is not None:
        raise ValueError(f"--label / --label-weight only apply to cgan, not {task.name}.")
    return task.sample(torch.randn(n, cfg.latent_dim, generator=g).to(dev))
