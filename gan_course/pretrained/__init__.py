"""Generators trained by the course's own CLI, shipped with the package so explorers work at once.

Each task has two files here: ``<task>.safetensors`` (the generator weights - the EMA average when
the run kept one - in float16, so a few MB; safetensors holds tensors only, nothing to unpickle)
and ``<task>.json`` (the config they were trained with, the exact command, how long it trained,
and the metrics ``python -m gan_course evaluate`` printed for them).

>>> task = load_pretrained("dcgan")            # a Task whose generator is the shipped one
>>> images = task.sample(torch.randn(8, task.config.latent_dim))

The recorded config must equal what :func:`gan_course.config.get_config` returns today for the
same task and profile (``tests/test_pretrained.py``): change a recipe and the test says which
shipped generator to retrain with the command in its ``.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import fields
from pathlib import Path

import torch

from gan_course.config import TASKS, TrainConfig, get_config

PRETRAINED_DIR = Path(__file__).resolve().parent
GENERATORS = {"fashion": ("G",), "dcgan": ("G",), "cgan": ("G",), "cyclegan": ("G_AB", "G_BA")}
"""The networks each shipped file holds (the discriminators and critics are not shipped)."""


class PretrainedError(RuntimeError):
    """A shipped generator is missing, damaged or does not match the code."""


def _paths(task: str, folder: Path | None = None) -> tuple[Path, Path]:
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}: choose one of {', '.join(TASKS)}.")
    folder = Path(folder) if folder is not None else PRETRAINED_DIR
    return folder / f"{task}.safetensors", folder / f"{task}.json"


def available(folder: str | os.PathLike | None = None) -> list[str]:
    """Tasks that have a shipped generator in ``folder`` (default: the package's)."""
    return [t for t in TASKS if all(p.is_file() for p in _paths(t, folder))]


def info(task: str, folder: str | os.PathLike | None = None) -> dict:
    """The ``<task>.json`` record: config, command, training time, metrics, file hash."""
    weights, record = _paths(task, folder)
    if not (weights.is_file() and record.is_file()):
        raise PretrainedError(f"No shipped {task} generator in {weights.parent} (expected "
                              f"{weights.name} and {record.name}).")
    return json.loads(record.read_text())


def config_mismatch(task: str, folder: str | os.PathLike | None = None) -> dict:
    """Fields where the shipped generator's config differs from today's ``get_config`` (empty
    when they agree): ``{field: (recorded, current)}``. A field added to the config after the
    export counts as recorded with its default (the run could not have used anything else)."""
    meta = info(task, folder)
    current = get_config(task, meta["config"]["profile"],
                         data_source=meta["config"]["data_source"]).to_dict()
    defaults = TrainConfig(task, meta["config"]["profile"]).to_dict()  # JSON form, as recorded
    recorded = {k: meta["config"].get(k, defaults[k]) for k in current}
    return {k: (recorded[k], v) for k, v in current.items() if recorded[k] != v}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export(checkpoint: str | os.PathLike, command: str, *, metrics: dict | None = None,
           folder: str | os.PathLike | None = None) -> Path:
    """Write the generator(s) of a training ``checkpoint`` as ``<task>.safetensors`` + ``.json``.

    ``command`` is the exact command line that trained it (recorded for whoever retrains);
    ``metrics`` what ``evaluate`` printed. The EMA average is exported when the run kept one.
    Returns the weights file's path.
    """
    from safetensors.torch import save_file

    from gan_course.training.checkpoint import load_checkpoint
    from gan_course.training.runs import load_trained

    state = load_checkpoint(checkpoint)
    task = load_trained(checkpoint, device="cpu")  # the EMA average when the run has one
    weights, record = _paths(task.name, folder)
    weights.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"{name}.{k}": (v.half() if v.is_floating_point() else v).contiguous()
               for name in GENERATORS[task.name]
               for k, v in task.models[name].state_dict().items()}
    tmp = weights.with_suffix(".tmp")
    save_file(tensors, str(tmp))
    os.replace(tmp, weights)
    history = state.get("history") or {}
    record.write_text(json.dumps({
        "task": task.name, "config": task.config.to_dict(), "command": command,
        "epochs": state.get("epoch"), "steps": state.get("global_step"),
        "train_seconds": float(sum(history.get("seconds", []))),
        "ema": bool(getattr(task.config, "ema_decay", 0)),
        "weights": weights.name, "sha256": _sha256(weights), "dtype": "float16",
        "torch_version": str(torch.__version__), "metrics": metrics or {},
    }, indent=1) + "\n")
    return weights


def load_pretrained(task: str, device: str | torch.device | None = None, *,
                    folder: str | os.PathLike | None = None):
    """The shipped generator(s) of ``task`` in a :class:`~gan_course.training.tasks.Task` (eval
    mode; the discriminators/critic are untrained and not for use)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from gan_course.runtime import get_device
    from gan_course.training.tasks import build_task

    meta = info(task, folder)
    weights, _ = _paths(task, folder)
    known = {f.name for f in fields(TrainConfig)}
    cfg = TrainConfig.from_dict({k: v for k, v in meta["config"].items() if k in known})
    built = build_task(cfg, device if isinstance(device, torch.device) else get_device(device))
    if meta.get("sha256") and _sha256(weights) != meta["sha256"]:
        raise PretrainedError(f"{weights} is not the file its record describes (SHA-256 differs: "
                              f"damaged or replaced). Reinstall the course, or retrain it: "
                              f"{meta.get('command')}")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise PretrainedError(f"Cannot read {weights}: {exc}. Reinstall the course, or "
                              f"retrain it: {meta.get('command')}") from None
    for name in GENERATORS[task]:
        model = built.models[name]
        prefix = f"{name}."
        own = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        reference = model.state_dict()
        try:
            model.load_state_dict({k: v.to(reference[k].dtype) for k, v in own.items()})
        except (KeyError, RuntimeError) as exc:
            raise PretrainedError(f"{weights} does not fit today's {task} generator ({exc}). "
                                  f"Retrain it: {meta.get('command')}") from None
    if built.ema is not None:
        # The shipped weights ARE the moving average. A freshly built task's EMA still holds the
        # initial weights, and sample()/averaged() would swap those in: drop it.
        built.ema = None
        built.extra_state.pop("ema", None)
    for m in built.models.values():
        m.eval()
    return built
