"""Weight initialisation for the course's GANs (DCGAN paper: N(0, 0.02) convolutions).

The book defines ``weights_init(m)`` and then calls it as ``weights_init(model)``. That call is a
**no-op**: the function looks at ``model.__class__.__name__`` -- the name of the *whole model*
(``"Sequential"``, ``"Discriminator"``, ...) -- which contains neither ``"Conv"`` nor
``"BatchNorm"``, so nothing is touched. The fix is ``model.apply(weights_init)``, which visits every
sub-module; :func:`init_weights` does exactly that and returns the model.

This version also uses ``isinstance`` checks instead of matching class-name strings (a class
called ``ConvBlock`` -- a container -- would otherwise be matched and crash on ``m.weight``).
"""

from __future__ import annotations

import torch.nn as nn

_CONV_TYPES = (
    nn.Conv1d, nn.Conv2d, nn.Conv3d,
    nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
)
_NORM_TYPES = (
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm,
    nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d,
    nn.GroupNorm,
)

CONV_STD = 0.02
"""Standard deviation of the normal init (DCGAN paper, used by the book for every chapter)."""


def weights_init(m: nn.Module) -> None:
    """Initialise one module in place; meant for ``model.apply(weights_init)``.

    - ``Conv*d`` / ``ConvTranspose*d``: weight ~ N(0, 0.02), bias = 0 (if the layer has one).
    - ``BatchNorm*d`` / ``InstanceNorm*d`` / ``GroupNorm`` with ``affine=True``:
      weight ~ N(1, 0.02), bias = 0. Norm layers without affine parameters (PyTorch's default
      for ``InstanceNorm2d``, used by CycleGAN) have ``weight is None`` and are skipped.
    - Everything else (``Linear``, activations, containers) is left alone.

    Calling ``weights_init(model)`` directly on a whole model does nothing useful -- the book's
    version silently did nothing there too (its class-name test never matches the model itself).
    Use ``model.apply(weights_init)`` or :func:`init_weights`.
    """
    if isinstance(m, _CONV_TYPES):
        nn.init.normal_(m.weight, 0.0, CONV_STD)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, _NORM_TYPES):
        if m.weight is not None:
            nn.init.normal_(m.weight, 1.0, CONV_STD)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def init_weights(model: nn.Module) -> nn.Module:
    """Apply :func:`weights_init` to every sub-module of ``model`` and return ``model``.

    ``G = init_weights(DCGANGenerator())`` is the one-line form of ``G.apply(weights_init)``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"init_weights expects a torch.nn.Module, got {type(model).__name__}.")
    return model.apply(weights_init)
