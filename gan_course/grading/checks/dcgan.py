"""Checks for assignment a04: a DCGAN generator block and the book's DCGAN discriminator."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ._common import call, get_module, modules_of, own_answer, passed, shape_msg, shape_of


def check_generator_block(fn: Callable[[int, int], nn.Module]) -> None:
    """Check ``generator_block(in_ch, out_ch)``: ConvTranspose2d(4, 2, 1, bias=False) → BatchNorm2d → ReLU.

    Input ``(B, in_ch, H, W)`` → output ``(B, out_ch, 2H, 2W)``.
    """
    name = "generator_block"
    own_answer(fn, name)
    cases = [(16, 8, 4), (8, 3, 8), (32, 16, 1)]
    for c_in, c_out, size in cases:
        call_text = f"{name}({c_in}, {c_out})"
        block = get_module(fn, name, c_in, c_out)
        convs = modules_of(block, nn.ConvTranspose2d)
        if len(convs) != 1:
            raise AssertionError(f"{call_text}: expected exactly one nn.ConvTranspose2d, found "
                                 f"{len(convs)} — the block upsamples with one transposed conv.")
        conv = convs[0]
        got_cfg = (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding)
        want_cfg = (c_in, c_out, (4, 4), (2, 2), (1, 1))
        if got_cfg != want_cfg:
            raise AssertionError(f"{call_text}: expected ConvTranspose2d({c_in}, {c_out}, kernel_size=4, "
                                 f"stride=2, padding=1), got (in, out, kernel, stride, padding) = "
                                 f"{got_cfg} — kernel 4, stride 2, padding 1 doubles the size.")
        if conv.bias is not None:
            raise AssertionError(f"{call_text}: use bias=False in the ConvTranspose2d — the BatchNorm "
                                 f"right after it subtracts the mean, so a bias would be wasted.")
        norms = modules_of(block, nn.BatchNorm2d)
        if len(norms) != 1 or norms[0].num_features != c_out:
            raise AssertionError(f"{call_text}: expected one nn.BatchNorm2d({c_out}) after the "
                                 f"transposed conv, found {[m.num_features for m in norms]}.")
        x = torch.randn(2, c_in, size, size, generator=torch.Generator().manual_seed(size))
        block.train()
        out = call(block, name, x)
        want_shape = (2, c_out, 2 * size, 2 * size)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != want_shape:
            shape = shape_of(out)
            raise AssertionError(shape_msg(f"{call_text} on input of shape {tuple(x.shape)}", shape,
                                            want_shape, "the block must double height and width"))
        bn = norms[0]
        ref = F.conv_transpose2d(x, conv.weight, None, stride=2, padding=1)
        ref = torch.relu(F.batch_norm(ref, None, None, bn.weight, bn.bias, training=True,
                                      eps=bn.eps))
        if not torch.allclose(out, ref, atol=1e-4):
            hint = "the order is ConvTranspose2d → BatchNorm2d → ReLU (not LeakyReLU, no Tanh)"
            raise AssertionError(f"{call_text}: the output differs from {hint}, computed with your own "
                                 f"layers.")
    passed(name, len(cases))


DCGAN_D_CONVS = [(3, 64, 2, 1), (64, 128, 2, 1), (128, 256, 2, 1), (256, 512, 2, 1), (512, 1, 1, 0)]
"""The book's DCGAN discriminator: (in, out, stride, padding) of its five 4×4 convolutions."""
DCGAN_D_PARAMS = 2_765_568


def check_dcgan_discriminator(build: Callable[[], nn.Module] | nn.Module) -> None:
    """Check the book's DCGAN discriminator: ``(B, 3, 64, 64)`` images → ``(B, 1, 1, 1)`` scores.

    Five 4×4 convs 3→64→128→256→512→1 (stride 2 pad 1, last stride 1 pad 0, bias=False),
    BatchNorm2d after convs 2–4, LeakyReLU(0.2) after convs 1–4; 2,765,568 parameters. A final
    Sigmoid (the book) or none (logits, as in ``gan_course.models``) both pass.
    """
    name = "dcgan_discriminator"
    own_answer(build, "build_discriminator")
    model = get_module(build, "build_discriminator")
    model.eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        out = call(model, "discriminator", x)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, 1, 1, 1):
        shape = shape_of(out)
        raise AssertionError(f"discriminator(images of shape (B, 3, 64, 64)): expected shape "
                             f"(B, 1, 1, 1), got {shape} (B = 2) — four stride-2 convs take 64 → "
                             f"4, and the last 4×4 conv (stride 1, padding 0) takes 4 → 1.")
    convs = modules_of(model, nn.Conv2d)
    got = [(c.in_channels, c.out_channels, c.stride[0], c.padding[0]) for c in convs]
    if got != DCGAN_D_CONVS:
        raise AssertionError(f"{name}: expected the convs (in, out, stride, padding) "
                             f"{DCGAN_D_CONVS}, got {got}.")
    for i, c in enumerate(convs, start=1):
        if c.kernel_size != (4, 4):
            raise AssertionError(f"{name}: conv {i} has kernel_size {c.kernel_size}; all are 4×4.")
        if c.bias is not None:
            raise AssertionError(f"{name}: conv {i} has a bias; use bias=False as the book does.")
    norms = [m.num_features for m in modules_of(model, nn.BatchNorm2d)]
    if norms != [128, 256, 512]:
        raise AssertionError(f"{name}: expected BatchNorm2d(128), (256), (512) after convs 2–4 "
                             f"(none after the first conv), got {norms}.")
    acts = modules_of(model, nn.LeakyReLU)
    if len(acts) != 4 or any(abs(a.negative_slope - 0.2) > 1e-9 for a in acts):
        raise AssertionError(f"{name}: expected 4 LeakyReLU(0.2) (after convs 1–4), got "
                             f"{[a.negative_slope for a in acts]}.")
    n_params = sum(p.numel() for p in model.parameters())
    if n_params != DCGAN_D_PARAMS:
        raise AssertionError(f"{name}: expected {DCGAN_D_PARAMS:,} parameters (the book's), got "
                             f"{n_params:,}.")
    passed(name, 5)


# ----------------------------------------------------------------------------------------------
# Part 05 — conditional WGAN-GP: label planes and the gradient penalty
