"""Checks for assignment a06: CycleGAN's cycle-consistency loss and its residual block."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ._common import (
    call,
    close,
    get_module,
    modules_of,
    own_answer,
    passed,
    scalar_tensor,
    shape_msg,
    shape_of,
)


def _ref_cycle_loss(real_a, cycled_a, real_b, cycled_b, lambda_cycle: float = 10.0) -> torch.Tensor:
    """Reference: ``lambda_cycle · (mean|real_a - cycled_a| + mean|real_b - cycled_b|)``."""
    return lambda_cycle * (F.l1_loss(cycled_a, real_a) + F.l1_loss(cycled_b, real_b))


def check_cycle_consistency_loss(fn: Callable[..., torch.Tensor]) -> None:
    """Check ``cycle_consistency_loss(real_a, cycled_a, real_b, cycled_b, lambda_cycle=10.0)``.

    All images ``(B, C, H, W)``; ``cycled_a = G_A(G_B(real_a))`` is the round trip A→B→A.
    Returns a scalar tensor: λ·(L1(A) + L1(B)), each L1 a mean over all pixels.
    """
    name = "cycle_consistency_loss"
    own_answer(fn, name)
    g = torch.Generator().manual_seed(7)
    cases = [((2, 3, 8, 8), 10.0), ((3, 3, 4, 4), 10.0), ((1, 1, 5, 5), 2.5)]
    for shape, lam in cases:
        ra, ca, rb, cb = (torch.randn(shape, generator=g) for _ in range(4))
        ca.requires_grad_(True)
        cb.requires_grad_(True)
        call_text = f"{name}(4 images of shape {shape}, lambda_cycle={lam})"
        kwargs = {} if lam == 10.0 else {"lambda_cycle": lam}
        got = scalar_tensor(call(fn, name, ra, ca, rb, cb, **kwargs), call_text)
        want = _ref_cycle_loss(ra, ca, rb, cb, lam).detach()
        if not close(got, want, 1e-4):
            hint = "λ·(mean |real_a - cycled_a| + mean |real_b - cycled_b|) — L1, both directions"
            if close(got, lam * (F.mse_loss(ca, ra) + F.mse_loss(cb, rb)), 1e-4):
                hint = "that is squared error (MSE); cycle consistency uses the absolute error (L1)"
            elif close(got, want / lam, 1e-4):
                hint = f"multiply by lambda_cycle (= {lam})"
            elif close(got, lam * F.l1_loss(ca, ra), 1e-4) or close(got, lam * F.l1_loss(cb, rb), 1e-4):
                hint = "add both round trips: A→B→A and B→A→B"
            elif close(got, lam * ((ca - ra).abs().sum() + (cb - rb).abs().sum()), 1e-3):
                hint = "average the absolute errors (mean), do not sum them"
            elif close(got, want / 2, 1e-4):
                hint = "add the two directions, do not average them"
            raise AssertionError(f"{call_text}: expected {want.item():.4f}, got "
                                 f"{got.detach().item():.4f} — {hint}.")
        if not got.requires_grad:
            raise AssertionError(f"{call_text}: the loss is not connected to the images by autograd; "
                                 f"use torch operations and return the tensor (no .item()).")
        got.backward()
        if ca.grad is None or cb.grad is None:
            raise AssertionError(f"{call_text}: the loss must depend on both cycled_a and cycled_b.")
    passed(name, len(cases))


def _residual_reference(x, convs, norms_eps, relu_after_second=False, skip=True, pad="reflect"):
    h = x
    for i, conv in enumerate(convs):
        h = F.pad(h, (1, 1, 1, 1), mode=pad) if pad == "reflect" else F.pad(h, (1, 1, 1, 1))
        h = F.conv2d(h, conv.weight, conv.bias)
        h = F.instance_norm(h, eps=norms_eps)
        if i == 0 or relu_after_second:
            h = torch.relu(h)
    return x + h if skip else h


def check_residual_block(cls: Callable[[int], nn.Module]) -> None:
    """Check ``ResidualBlock(channels)``: ``x + IN(conv(ReLU(IN(conv(x)))))``, shape kept.

    Both convs are 3×3, stride 1, padding 1 with ``padding_mode="reflect"``; ``IN`` is
    ``nn.InstanceNorm2d(channels)``. Input and output ``(B, channels, H, W)``.
    """
    name = "ResidualBlock"
    own_answer(cls, name)
    cases = [(8, 16), (4, 9), (3, 6)]
    for channels, size in cases:
        call_text = f"{name}({channels})"
        block = get_module(cls, name, channels)
        convs = modules_of(block, nn.Conv2d)
        if len(convs) != 2:
            raise AssertionError(f"{call_text}: expected two nn.Conv2d layers, found {len(convs)}.")
        for i, c in enumerate(convs, start=1):
            cfg = (c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding)
            if cfg != (channels, channels, (3, 3), (1, 1), (1, 1)):
                raise AssertionError(f"{call_text}: conv {i} is (in, out, kernel, stride, padding) = "
                                     f"{cfg}; expected ({channels}, {channels}, (3, 3), (1, 1), "
                                     f"(1, 1)) so the block keeps the shape.")
            if c.padding_mode != "reflect":
                raise AssertionError(f"{call_text}: conv {i} pads with {c.padding_mode!r}; use "
                                     f"padding_mode='reflect' (no artificial dark border).")
        norms = modules_of(block, nn.InstanceNorm2d)
        if len(norms) != 2:
            raise AssertionError(f"{call_text}: expected two nn.InstanceNorm2d({channels}), found "
                                 f"{len(norms)} — one after each conv.")
        x = torch.randn(2, channels, size, size, generator=torch.Generator().manual_seed(size))
        out = call(block, name, x)
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            shape = shape_of(out)
            raise AssertionError(shape_msg(f"{call_text} on input {tuple(x.shape)}", shape,
                                            tuple(x.shape), "a residual block keeps the shape"))
        with torch.no_grad():
            want = _residual_reference(x, convs, norms[0].eps)
            if not torch.allclose(out, want, atol=1e-4):
                hint = "compute x + IN(conv2(ReLU(IN(conv1(x))))) — ReLU after the first conv only"
                if torch.allclose(out, _residual_reference(x, convs, norms[0].eps, skip=False),
                                  atol=1e-4):
                    hint = "the skip connection is missing: return x + block(x)"
                elif torch.allclose(out, _residual_reference(x, convs, norms[0].eps,
                                                             relu_after_second=True), atol=1e-4):
                    hint = "no ReLU after the second conv: the block's output is added to x as is"
                elif torch.allclose(out, torch.relu(want), atol=1e-4):
                    hint = "do not apply ReLU after adding x: return x + block(x)"
                raise AssertionError(f"{call_text}: the output differs from the reference computed with "
                                     f"your own conv weights — {hint}.")
    passed(name, len(cases))
