"""Mixed-precision plumbing, kept out of the step functions so they read like the book.

* :func:`autocast` - float16 autocast on CUDA, a no-op elsewhere;
* :func:`make_scaler` - a ``GradScaler`` that is active on CUDA only (elsewhere it passes values
  through unchanged, so the same code path runs on every device);
* :func:`optimizer_step` - ``zero_grad -> backward -> (hook) -> step`` through the scaler.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def autocast(device: torch.device, enabled: bool = True):
    """float16 autocast on CUDA; a no-op context elsewhere."""
    on = enabled and device.type == "cuda"
    return torch.amp.autocast(device_type=device.type, dtype=torch.float16, enabled=on)


def make_scaler(device: torch.device, enabled: bool = True) -> torch.amp.GradScaler:
    """A ``GradScaler`` that is active on CUDA only (elsewhere it passes values through)."""
    return torch.amp.GradScaler("cuda", enabled=enabled and device.type == "cuda")


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
