"""Checks for assignment a09: what a PatchGAN logit sees — output size, receptive field, design.

A stack of convolutions is described as a list of ``(kernel, stride, padding)`` layers. The
CycleGAN discriminator (C64-C128-C256-C512 and a 1-channel head, all 4×4) is
``[(4, 2, 1), (4, 2, 1), (4, 2, 1), (4, 1, 1), (4, 1, 1)]``: a 256×256 image gives a 30×30 map
of logits, each of which sees a 70×70 patch.

The receptive field is computed forward: a pixel of the input has size 1 and "jump" 1 (one step
between neighbouring pixels); a layer with kernel ``k`` and stride ``s`` grows the field by
``(k - 1)·jump`` and multiplies the jump by ``s``. The checks also measure it with autograd.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ._common import as_int, call, get_module, modules_of, own_answer, passed, shape_of

Layers = Sequence[tuple[int, int, int]]

CYCLEGAN_D = [(4, 2, 1), (4, 2, 1), (4, 2, 1), (4, 1, 1), (4, 1, 1)]
"""The CycleGAN (70×70 PatchGAN) discriminator as (kernel, stride, padding) per conv."""
DCGAN_D = [(4, 2, 1), (4, 2, 1), (4, 2, 1), (4, 2, 1), (4, 1, 0)]
PIX2PIX_16 = [(4, 2, 1), (4, 1, 1), (4, 1, 1)]
"""pix2pix's 16×16 PatchGAN (C64-C128 with the C128 at stride 1, then the head)."""
STACKS = [CYCLEGAN_D, DCGAN_D, PIX2PIX_16, [(3, 1, 1)] * 3, [(7, 1, 3), (3, 2, 1), (3, 2, 1)],
          [(5, 2, 2), (3, 1, 0), (2, 2, 0)], [(1, 1, 0)], [(3, 3, 0), (3, 3, 0)]]
"""Stacks used by the checks: three real discriminators and a few that catch wrong formulas."""

DESIGN_RF = 46
DESIGN_INPUT = 128
DESIGN_MIN_MAP = 8


def _ref_stack_output_size(n: int, layers: Layers) -> int:
    for k, s, p in layers:
        n = (n + 2 * p - k) // s + 1
    return n


def _ref_receptive_field(layers: Layers) -> tuple[int, int]:
    rf, jump = 1, 1
    for k, s, _ in layers:
        rf += (k - 1) * jump
        jump *= s
    return rf, jump


def _ref_input_window(i: int, layers: Layers) -> tuple[int, int]:
    first, last = i, i
    for k, s, p in reversed(list(layers)):
        first, last = first * s - p, last * s - p + k - 1
    return first, last


def _name_stack(layers: Layers) -> str:
    if list(layers) == CYCLEGAN_D:
        return "CYCLEGAN_D"
    return "[" + ", ".join(f"({k}, {s}, {p})" for k, s, p in layers) + "]"


def check_stack_output_size(fn: Callable[[int, Layers], int]) -> None:
    """Check ``stack_output_size(n, layers) -> int``: the map size after a stack of convolutions."""
    name = "stack_output_size"
    own_answer(fn, name)
    cases = [(256, CYCLEGAN_D), (64, CYCLEGAN_D), (64, DCGAN_D), (128, PIX2PIX_16),
             (28, STACKS[3]), (33, STACKS[4]), (19, STACKS[5]), (10, STACKS[7])]
    for n, layers in cases:
        call_text = f"{name}({n}, {_name_stack(layers)})"
        got = as_int(call(fn, name, n, [tuple(layer) for layer in layers]), call_text)
        want = _ref_stack_output_size(n, layers)
        if got != want:
            first_only = _ref_stack_output_size(n, layers[:1])
            hint = ("apply floor((n + 2p - k) / s) + 1 once per layer, feeding each output size "
                    "into the next layer")
            if got == first_only:
                hint = "that is the first layer only: " + hint
            raise AssertionError(f"{call_text}: expected {want}, got {got} — {hint}.")
    passed(name, len(cases))


def check_receptive_field(fn: Callable[[Layers], tuple[int, int]]) -> None:
    """Check ``receptive_field(layers) -> (rf, jump)``: field size in input pixels, and the step
    in input pixels between neighbouring outputs."""
    name = "receptive_field"
    own_answer(fn, name)
    for layers in STACKS:
        call_text = f"{name}({_name_stack(layers)})"
        got = call(fn, name, [tuple(layer) for layer in layers])
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise AssertionError(f"{call_text}: return a pair (rf, jump), got {got!r}.")
        rf, jump = (as_int(v, call_text) for v in got)
        want_rf, want_jump = _ref_receptive_field(layers)
        if (rf, jump) == (want_rf, want_jump):
            continue
        no_stride = 1 + sum(k - 1 for k, _, _ in layers)
        late_jump, j = 1, 1
        for k, s, _ in layers:
            j *= s
            late_jump += (k - 1) * j
        if rf == want_rf:
            hint = "the jump is the product of the strides"
        elif rf == no_stride:
            hint = ("strides ignored: one cell of a layer's input is `jump` input pixels wide, so "
                    "each layer adds (k - 1)·jump, not k - 1")
        elif rf == late_jump:
            hint = "add (k - 1)·jump with the jump BEFORE the layer, then multiply the jump by s"
        else:
            hint = "start at rf = 1, jump = 1; per layer: rf += (k - 1)·jump, then jump *= s"
        raise AssertionError(f"{call_text}: {hint} — expected (rf, jump) = ({want_rf}, "
                             f"{want_jump}), got ({rf}, {jump}).")
    passed(name, len(STACKS))


def check_input_window(fn: Callable[[int, Layers], tuple[int, int]]) -> None:
    """Check ``input_window(i, layers) -> (first, last)``: the input pixels (padding included, so
    ``first`` may be negative) that output pixel ``i`` of the stack sees along one axis."""
    name = "input_window"
    own_answer(fn, name)
    cases = [(0, CYCLEGAN_D), (29, CYCLEGAN_D), (14, CYCLEGAN_D), (0, DCGAN_D), (3, PIX2PIX_16),
             (2, STACKS[4]), (1, STACKS[5]), (5, STACKS[3]), (0, [(1, 1, 0)])]
    for i, layers in cases:
        call_text = f"{name}({i}, {_name_stack(layers)})"
        got = call(fn, name, i, [tuple(layer) for layer in layers])
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise AssertionError(f"{call_text}: return a pair (first, last), got {got!r}.")
        first, last = (as_int(v, call_text) for v in got)
        want = _ref_input_window(i, layers)
        if (first, last) == want:
            continue
        rf = _ref_receptive_field(layers)[0]
        no_pad = _ref_input_window(i, [(k, s, 0) for k, s, _ in layers])
        if (first, last) == no_pad:
            hint = "padding shifts the window: going back through a layer, first → first·s - p"
        elif last - first + 1 != rf:
            hint = (f"the window must be rf = {rf} pixels wide; going back through a layer: "
                    f"first → first·s - p, last → last·s - p + k - 1")
        else:
            hint = "walk the layers backwards: first → first·s - p, last → last·s - p + k - 1"
        raise AssertionError(f"{call_text}: {hint} — expected {want}, got ({first}, {last}).")
    passed(name, len(cases))


def _measured_receptive_field(model: nn.Module, size: int) -> int:
    """Width of the input region that the centre logit depends on, measured with autograd.

    Norm layers are replaced by identities (a norm's statistics mix the whole image, which
    is not what "the patch a logit sees" means), weights are made positive so no gradient
    cancels, and the input is all ones, so every activation is positive.
    """
    model = copy.deepcopy(model).eval()
    norms = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, norms):
                setattr(parent, child_name, nn.Identity())
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(1.0 / m.weight[0].numel())
                if m.bias is not None:
                    m.bias.zero_()
    x = torch.ones(1, 3, size, size, requires_grad=True)
    out = model(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    touched = x.grad[0].abs().sum(0) > 0
    rows = torch.nonzero(touched.any(1)).flatten()
    return int(rows.max() - rows.min() + 1) if len(rows) else 0


def check_patch_discriminator(build: Callable[[], nn.Module] | nn.Module) -> None:
    """Check a PatchGAN for 128×128 RGB images built from 4×4 convolutions only, whose logits
    each see a 46×46 patch, with a logit map of at least 8×8."""
    name = "patch_discriminator"
    own_answer(build, "build_patch_discriminator")
    model = get_module(build, "build_patch_discriminator")
    convs = modules_of(model, nn.Conv2d)
    if not convs:
        raise AssertionError(f"{name}: no nn.Conv2d found — build the stack from 4×4 convolutions.")
    for i, c in enumerate(convs, start=1):
        if c.kernel_size != (4, 4) or c.dilation != (1, 1) or c.stride[0] not in (1, 2):
            raise AssertionError(f"{name}: conv {i} has kernel {c.kernel_size}, stride {c.stride},"
                                 f" dilation {c.dilation}; use only 4×4 convs with stride 1 or 2 "
                                 f"(no dilation).")
    banned = [type(m).__name__ for m in model.modules()
              if isinstance(m, (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
                                nn.modules.pooling._AdaptiveAvgPoolNd, nn.Upsample))]
    if banned:
        raise AssertionError(f"{name}: found {', '.join(banned)}; the exercise allows only 4×4 "
                             f"convolutions (with norms and activations between them).")
    model.eval()
    x = torch.randn(2, 3, DESIGN_INPUT, DESIGN_INPUT, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        out = call(model, "discriminator", x)
    if not isinstance(out, torch.Tensor) or out.dim() != 4 or out.shape[:2] != (2, 1):
        raise AssertionError(f"{name}: images (2, 3, 128, 128) must give logits (2, 1, h, w), got "
                             f"{shape_of(out)} — end with a conv to 1 channel.")
    h, w = out.shape[2:]
    if min(h, w) < DESIGN_MIN_MAP:
        raise AssertionError(f"{name}: the logit map is {h}×{w}; it must be at least "
                             f"{DESIGN_MIN_MAP}×{DESIGN_MIN_MAP} — use fewer stride-2 layers.")
    rf = _measured_receptive_field(model, DESIGN_INPUT)
    if rf != DESIGN_RF:
        layers = [(c.kernel_size[0], c.stride[0], c.padding[0]) for c in convs]
        field, jump = _ref_receptive_field(layers)
        hint = (f"your convs (k, s, p) {layers} give rf {field} (jump {jump}); every 4×4 conv "
                f"adds 3·jump, so you need 1 + 3·(sum of the jumps before each conv) = {DESIGN_RF}")
        if rf >= DESIGN_INPUT - 2:
            hint = ("the centre logit depends on the whole image: something mixes all pixels "
                    "(a functional norm, pooling, a Linear layer?)")
        raise AssertionError(f"{name}: each logit sees {rf}×{rf} pixels, not "
                             f"{DESIGN_RF}×{DESIGN_RF} — {hint}.")
    passed(name, 4)
