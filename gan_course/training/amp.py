"""Mixed-precision plumbing, kept out of the step functions so they read like the book.

What runs in lower precision depends on the device (:func:`precision`):

==========================  =========================================================
CUDA with bfloat16 support  bfloat16 autocast, **no** gradient scaler: bfloat16 has
(Ampere and newer: A100,    float32's exponent range, so gradients do not underflow
H100/H200, RTX 30xx+)       and no step is skipped
other CUDA GPUs (T4, V100)  float16 autocast + a ``GradScaler`` per optimiser (float16
                            gradients underflow without loss scaling)
CPU, Apple MPS              nothing: a plain ``nullcontext`` (float32 throughout)
==========================  =========================================================

* :func:`autocast` - the context the step functions wrap their forward passes in;
* :func:`make_scaler` - a ``GradScaler`` that is active for float16 only (elsewhere it passes
  values through unchanged, so the same code path runs on every device);
* :func:`optimizer_step` - ``zero_grad -> backward -> (hook) -> step`` through the scaler.

Why not float16 everywhere: in an emulated WGAN-GP run (issue 14) the critic's float16 loss
scale fell from 65,536 to 2,048 within 10 updates (each fall is a skipped update); bfloat16
needs no scaling at all.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable

import torch


@functools.cache
def _bf16_ok(index: int | None) -> bool:
    device = torch.device("cuda", torch.cuda.current_device() if index is None else index)
    major, _minor = torch.cuda.get_device_capability(device)
    return major >= 8  # Ampere and newer compute bfloat16 natively


def precision(device: torch.device | str, enabled: bool = True) -> torch.dtype | None:
    """The autocast dtype for ``device``: ``torch.bfloat16`` on CUDA GPUs that support it,
    ``torch.float16`` on other CUDA GPUs, ``None`` (full float32) on CPU/MPS or when
    ``enabled`` is False."""
    device = torch.device(device)
    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if _bf16_ok(device.index) else torch.float16


def autocast(device: torch.device | str, enabled: bool = True):
    """Autocast in :func:`precision`'s dtype on CUDA; a plain ``nullcontext`` everywhere else."""
    dtype = precision(device, enabled)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=dtype)


def make_scaler(device: torch.device | str, enabled: bool = True) -> torch.amp.GradScaler:
    """A ``GradScaler`` that is active only when the device trains in float16."""
    return torch.amp.GradScaler("cuda", enabled=precision(device, enabled) == torch.float16)


_PASS_THROUGH = torch.amp.GradScaler("cuda", enabled=False)


def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                   scaler: torch.amp.GradScaler | None = None,
                   after_backward: Callable[[], None] | None = None) -> None:
    """``zero_grad -> backward -> after_backward() -> step``, through ``scaler`` when given.

    ``after_backward`` runs once the gradients exist and before the update - e.g. the by-hand
    gradient all-reduce of the WGAN-GP critic under DDP.
    """
    scaler = scaler or _PASS_THROUGH
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if after_backward is not None:
        after_backward()
    scaler.step(optimizer)
    scaler.update()
