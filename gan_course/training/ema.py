"""Exponential moving average (EMA) of generator weights, as modern GANs use for their samples.

A GAN's generator keeps moving: the discriminator pushes it one way, then another, and a single
snapshot carries the latest push (wobbly colours, checkerboard noise). Averaging its weights
over the last few hundred steps cancels most of that oscillation. Training itself is unchanged -
the average is a shadow copy that is only *read* for sample grids and evaluation:

    ema_w <- decay * ema_w + (1 - decay) * w          after every generator update

``decay`` 0.999 averages over ~1,000 steps. Early in training that would drag in the random
initial weights, so the effective decay warms up as ``min(decay, (1 + t) / (10 + t))`` after
``t`` updates (the schedule of TensorFlow's ``ExponentialMovingAverage``). Buffers (BatchNorm
running statistics) are copied from the live model, not averaged.

>>> ema = ModelEMA({"G": G}, decay=0.999)
>>> ema.update()                       # after each optimiser step of G
>>> with ema.swapped():                # G temporarily holds the averaged weights
...     images = G(z)
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from gan_course.training.distributed import plain


class ModelEMA:
    """Moving averages of the weights of one or more models (e.g. ``{"G": G}``, or both CycleGAN
    generators), kept as plain tensors beside them so nothing else in training changes."""

    def __init__(self, models: dict[str, nn.Module], decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}; use 0 in the config to "
                             f"switch the EMA off.")
        self.models = models
        self.decay = float(decay)
        self.restart_from_models()

    def restart_from_models(self) -> None:
        """Start the averages afresh from the models' current weights (warm-up included)."""
        self.num_updates = 0
        self.shadow = {name: {k: v.detach().clone() for k, v in plain(m).state_dict().items()}
                       for name, m in self.models.items()}

    def current_decay(self) -> float:
        """The decay used by the next update (warm-up: small at first, then ``decay``)."""
        t = self.num_updates
        return min(self.decay, (1.0 + t) / (10.0 + t))

    @torch.no_grad()
    def update(self) -> None:
        """Blend the models' current weights into the averages; copy their buffers."""
        d = self.current_decay()
        for name, m in self.models.items():
            model = plain(m)
            shadow = self.shadow[name]
            params = dict(model.named_parameters())
            for k, v in model.state_dict().items():
                if k in params and v.is_floating_point():
                    shadow[k].lerp_(v.detach(), 1.0 - d)  # s = d * s + (1 - d) * v
                else:  # BatchNorm running stats, counters: the live values
                    shadow[k].copy_(v)
        self.num_updates += 1

    @contextlib.contextmanager
    def swapped(self):
        """Inside the block the models hold the averaged weights; the live ones come back after."""
        saved = {name: {k: v.detach().clone() for k, v in plain(m).state_dict().items()}
                 for name, m in self.models.items()}
        try:
            self.copy_to()
            yield
        finally:
            for name, m in self.models.items():
                plain(m).load_state_dict(saved[name])

    def copy_to(self, models: dict[str, nn.Module] | None = None) -> None:
        """Load the averaged weights into ``models`` (default: the tracked models) for good."""
        for name, m in (models or self.models).items():
            plain(m).load_state_dict(self.shadow[name])

    def state_dict(self) -> dict:
        """Averages, decay and update count (tensors and numbers: weights_only-safe)."""
        return {"decay": self.decay, "num_updates": self.num_updates,
                "shadow": {name: dict(s) for name, s in self.shadow.items()}}

    def load_state_dict(self, state: dict) -> None:
        """Inverse of :meth:`state_dict`."""
        self.decay = float(state["decay"])
        self.num_updates = int(state["num_updates"])
        for name, s in state["shadow"].items():
            for k, v in s.items():
                self.shadow[name][k].copy_(v)
