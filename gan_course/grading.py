"""Autograder for the course assignments: check functions, student-copy release and validation.

Three things live here.

1. **Check functions**, one per exercise (``check_conv_output_size``, ``check_gradient_penalty``,
   ...). The graded cells of ``assignments/`` call them with the student's code. Each one compares
   the student's answer with a reference computed by PyTorch itself (``F.conv2d``,
   ``F.conv_transpose2d``, ``torch.autograd.grad``, ...) on a few small, fixed cases, then either
   prints one line such as ``✔ conv_output_size: 12/12 cases`` or raises an ``AssertionError``
   whose message says which case failed, what was expected, what came back and what to look at.
   They run in well under a second on a CPU and return ``None`` (nbgrader would read a returned
   number as a partial grade).

2. **release**: ``python -m gan_course.grading release assignments/source assignments/release``
   writes the student copies. It applies nbgrader's ``generate_assignment`` rules: every
   ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region becomes
   ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` (same indentation), hidden-test regions
   are deleted, outputs are cleared, grade/read-only cells are made undeletable (and uneditable)
   and nbgrader checksums are stored, so the copies also work with nbgrader's ``autograde``.

3. **validate**: ``python -m gan_course.grading validate NOTEBOOK [--invert]`` executes a notebook
   in a fresh kernel (nbclient, time limit per cell) and reports every graded cell. Exit status 0
   when all graded cells pass; with ``--invert``, 0 when every exercise has at least one failing
   graded cell, i.e. a blank student copy cannot collect points.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import re
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# ----------------------------------------------------------------------------------------------
# Feedback helpers
# ----------------------------------------------------------------------------------------------


def _passed(name: str, n_cases: int) -> None:
    """Print the one-line success message every check ends with."""
    print(f"✔ {name}: {n_cases}/{n_cases} cases")


def _fmt_args(args: Sequence[Any], kwargs: dict[str, Any] | None = None) -> str:
    parts = [_short(a) for a in args]
    parts += [f"{k}={_short(v)}" for k, v in (kwargs or {}).items()]
    return ", ".join(parts)


def _short(value: Any) -> str:
    """A short description of an argument for messages: arrays show their shape, not content."""
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)}"
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape}"
    if isinstance(value, nn.Module):
        return type(value).__name__
    return repr(value)


def _call(fn: Callable, name: str, *args: Any, **kwargs: Any) -> Any:
    """Call the student's function; turn a missing answer or a crash into a clear failure."""
    if not callable(fn):
        raise AssertionError(f"{name}: expected a function (or class), got {type(fn).__name__}. "
                             f"Pass the function itself, without calling it: check_x(my_fn).")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise AssertionError(
            f"{name} is not implemented yet: replace `raise NotImplementedError()` with your "
            f"code, run that cell, then run this check again.") from None
    except Exception as exc:  # any crash in student code becomes an actionable failure
        raise AssertionError(f"{name}({_fmt_args(args, kwargs)}) raised "
                             f"{type(exc).__name__}: {exc}") from exc


def _as_int(value: Any, call: str) -> int:
    if isinstance(value, bool):
        raise AssertionError(f"{call}: returned a bool ({value}); return the size as an int.")
    if isinstance(value, float):
        raise AssertionError(f"{call}: returned the float {value}; a size is an int — use integer "
                             f"division `//` (it also does the floor) or wrap it in int().")
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
        return int(value.item())
    try:
        return int(value.__index__())
    except (AttributeError, TypeError):
        raise AssertionError(f"{call}: returned {value!r} ({type(value).__name__}); "
                             f"return the size as an int.") from None


def _to_numpy(value: Any, call: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise AssertionError(f"{call}: returned {type(value).__name__}, which is not an array of "
                             f"numbers; return a NumPy array (e.g. np.zeros((H_out, W_out))).") from None
    return arr


def _first_difference(got: np.ndarray, want: np.ndarray) -> str:
    idx = tuple(int(i) for i in np.argwhere(~np.isclose(got, want, atol=1e-6))[0])
    return f"output[{', '.join(map(str, idx))}] expected {want[idx]:g}, got {got[idx]:g}"


def _grid(a: np.ndarray) -> str:
    return np.array2string(np.asarray(a), precision=2, suppress_small=True)


def _close(a: torch.Tensor | float, b: torch.Tensor | float, tol: float = 1e-5) -> bool:
    a = torch.as_tensor(a, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    return a.shape == b.shape and bool(torch.allclose(a, b, atol=tol, rtol=tol))


def _scalar_tensor(value: Any, call: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise AssertionError(f"{call}: returned {type(value).__name__}; return a torch tensor (a "
                             f"0-dim tensor, so it can be back-propagated — no .item()).")
    if value.dim() != 0:
        raise AssertionError(f"{call}: expected a scalar (0-dim) tensor, got shape "
                             f"{tuple(value.shape)} — average over the batch with .mean().")
    return value


def _modules(model: nn.Module, kind: type | tuple[type, ...]) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, kind)]


def _get_module(obj: Any, name: str, *args: Any) -> nn.Module:
    """``obj`` may be a module or a function/class that builds one from ``args``."""
    model = obj if isinstance(obj, nn.Module) else _call(obj, name, *args)
    if not isinstance(model, nn.Module):
        raise AssertionError(f"{name}({_fmt_args(args)}) returned {type(model).__name__}; "
                             f"return a torch.nn.Module (e.g. nn.Sequential(...)).")
    return model


def _shape_msg(call: str, got: tuple, want: tuple, hint: str = "") -> str:
    return f"{call}: expected shape {want}, got {got}" + (f" — {hint}" if hint else "")


# ----------------------------------------------------------------------------------------------
# Part 01 — MLP GAN on clothing
# ----------------------------------------------------------------------------------------------

MLP_GENERATOR_SIZES = (100, 1000, 500, 200, 784)
"""Exercise: the book's generator with hidden layers 1000 → 500 → 200 (instead of 256/512/1024)."""


def check_mlp_generator(build: Callable[[], nn.Module] | nn.Module) -> None:
    """Check an MLP generator: Linear 100→1000→500→200→784, ReLU between, Tanh at the end.

    ``build``: a function returning the model, or the model. Input ``(B, 100)`` noise, output
    ``(B, 784)`` in ``[-1, 1]`` (a flattened 28×28 image).
    """
    name = "mlp_generator"
    model = _get_module(build, "build_generator")
    linears = _modules(model, nn.Linear)
    want = list(zip(MLP_GENERATOR_SIZES[:-1], MLP_GENERATOR_SIZES[1:]))
    got = [(m.in_features, m.out_features) for m in linears]
    if len(got) != len(want):
        raise AssertionError(f"{name}: expected {len(want)} nn.Linear layers "
                             f"({' → '.join(map(str, MLP_GENERATOR_SIZES))}), found {len(got)}: {got}.")
    for i, (g, w) in enumerate(zip(got, want), start=1):
        if g != w:
            raise AssertionError(f"{name}: layer {i}: expected Linear{w}, got Linear{g} — the "
                                 f"exercise asks for 100 → 1000 → 500 → 200 → 784.")
    if not _modules(model, nn.Tanh):
        raise AssertionError(f"{name}: no nn.Tanh found — the last activation must be Tanh so the "
                             f"pixels land in [-1, 1], like the normalised training images.")
    model.eval()  # no dropout/batch-norm noise while checking
    z = torch.randn(4, 100, generator=torch.Generator().manual_seed(0)) * 3
    with torch.no_grad():
        out = _call(model, "generator", z)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (4, 784):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise AssertionError(_shape_msg("generator(z) with z of shape (4, 100)", shape, (4, 784),
                                        "one flattened 28×28 image per noise vector"))
    # The reference forward pass with the student's own weights pins the activations down.
    h = z
    for i, lin in enumerate(linears):
        h = F.linear(h, lin.weight, lin.bias)
        h = torch.tanh(h) if i == len(linears) - 1 else torch.relu(h)
    if not torch.allclose(out, h, atol=1e-5):
        raise AssertionError(f"{name}: the output differs from Linear → ReLU → Linear → ReLU → "
                             f"Linear → ReLU → Linear → Tanh computed with your own layers: check "
                             f"the activations (ReLU after each hidden layer, Tanh at the end, "
                             f"nothing else).")
    n_params = sum(p.numel() for p in model.parameters())
    want_params = sum(i * o + o for i, o in want)
    if n_params != want_params:
        raise AssertionError(f"{name}: expected {want_params:,} parameters, got {n_params:,} — "
                             f"only the four Linear layers have weights.")
    _passed(name, 4)


def check_discriminator_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Check ``discriminator_loss(real_logits (B,1), fake_logits (B,1)) -> scalar``.

    Expected: ``BCE(sigmoid(real), 1) + BCE(sigmoid(fake), 0)``, each term a batch mean; the
    inputs are logits (no Sigmoid in the model), so ``F.binary_cross_entropy_with_logits`` fits.
    """
    name = "discriminator_loss"
    g = torch.Generator().manual_seed(1)
    cases = [(torch.randn(5, 1, generator=g) * 2, torch.randn(5, 1, generator=g) * 2),
             (torch.tensor([[3.0], [2.0]]), torch.tensor([[-3.0], [-1.0]])),
             (torch.zeros(3, 1), torch.zeros(3, 1))]
    for real, fake in cases:
        call = f"{name}(real_logits of shape {tuple(real.shape)}, fake_logits ...)"
        real_req, fake_req = real.clone().requires_grad_(), fake.clone().requires_grad_()
        got = _scalar_tensor(_call(fn, name, real_req, fake_req), call)
        want = (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
        if _close(got, want):
            if not got.requires_grad:
                raise AssertionError(f"{call}: the loss does not depend on the logits through "
                                     f"autograd; compute it with torch operations (no .item(), "
                                     f"no NumPy) so it can be back-propagated.")
            continue
        swapped = (F.binary_cross_entropy_with_logits(real, torch.zeros_like(real))
                   + F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake)))
        on_probs = (F.binary_cross_entropy(real.clamp(0, 1), torch.ones_like(real))
                    + F.binary_cross_entropy(fake.clamp(0, 1), torch.zeros_like(fake)))
        hint = "use F.binary_cross_entropy_with_logits: real target 1, fake target 0, and add the two"
        if _close(got, swapped):
            hint = "the targets are swapped: real images get label 1 and fakes get label 0"
        elif _close(got, want / 2):
            hint = "you averaged the two terms; the exercise asks for their sum"
        elif _close(got, on_probs):
            hint = "the inputs are logits: apply a sigmoid (or use binary_cross_entropy_with_logits)"
        raise AssertionError(f"{call}: expected {want.item():.4f}, got "
                             f"{got.detach().item():.4f} — {hint}.")
    _passed(name, len(cases))


# ----------------------------------------------------------------------------------------------
# Part 02 — convolution: output size and a convolution by hand
# ----------------------------------------------------------------------------------------------

def ref_conv_output_size(n: int, k: int, s: int = 1, p: int = 0) -> int:
    """Reference: ``floor((n + 2p - k) / s) + 1`` (PyTorch's ``Conv2d`` along one axis)."""
    return (n + 2 * p - k) // s + 1


CONV_SIZE_CASES = [(5, 3, 2, 1), (28, 3, 1, 0), (28, 3, 1, 1), (64, 4, 2, 1), (4, 4, 1, 0),
                   (7, 3, 2, 0), (6, 3, 2, 0), (32, 5, 1, 2), (10, 2, 2, 0), (3, 3, 2, 1),
                   (64, 4, 1, 0), (8, 3, 3, 1)]
"""``(n, k, s, p)`` cases: padding, stride, the floor and a kernel as big as the input."""


_CONV_SIZE_MISTAKES: list[tuple[str, Callable[[int, int, int, int], int]]] = [
    ("remember the floor and the +1", lambda n, k, s, p: (n + 2 * p - k) // s),
    ("the padding is missing: p zeros are added on each side, so use n + 2p",
     lambda n, k, s, p: (n - k) // s + 1),
    ("padding goes on both sides: use n + 2p, not n + p", lambda n, k, s, p: (n + p - k) // s + 1),
    ("divide by the stride: the window moves s cells at a time",
     lambda n, k, s, p: n + 2 * p - k + 1),
    ("round down (floor), not up: a window that does not fit is dropped",
     lambda n, k, s, p: -(-(n + 2 * p - k) // s) + 1),
]
"""Typical wrong formulas and what to tell the student who wrote one."""


def _size_hint(got: dict[tuple, int], mistakes, default: str) -> str:
    """The hint of the wrong formula that reproduces every answer seen, else ``default``."""
    for hint, wrong in mistakes:
        if all(wrong(*case) == value for case, value in got.items()):
            return hint
    return default


def _check_sizes(fn: Callable, name: str, cases, ref: Callable, mistakes, default: str) -> None:
    got: dict[tuple, int] = {}
    first_bad = None
    for case in cases:
        call = f"{name}({', '.join(map(str, case))})"
        got[case] = _as_int(_call(fn, name, *case), call)
        if first_bad is None and got[case] != ref(*case):
            first_bad = case
    if first_bad is not None:
        call = f"{name}({', '.join(map(str, first_bad))})"
        raise AssertionError(f"{call}: expected {ref(*first_bad)}, got {got[first_bad]} — "
                             f"{_size_hint(got, mistakes, default)}")
    _passed(name, len(cases))


def check_conv_output_size(fn: Callable[[int, int, int, int], int]) -> None:
    """Check ``conv_output_size(n, k, s, p) -> int`` on 12 cases against PyTorch's formula.

    A failure names the first wrong case; the hint comes from the typical mistake (missing +1,
    padding on one side only, no stride, rounding up) that explains all of the answers.
    """
    _check_sizes(fn, "conv_output_size", CONV_SIZE_CASES, ref_conv_output_size,
                 _CONV_SIZE_MISTAKES, "the formula is floor((n + 2p - k) / s) + 1")


def ref_conv2d(image: np.ndarray, kernel: np.ndarray, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Reference 2-D convolution (cross-correlation, like ``nn.Conv2d``) of (H, W) by (kh, kw)."""
    x = torch.as_tensor(np.ascontiguousarray(image, dtype=np.float64))[None, None]
    w = torch.as_tensor(np.ascontiguousarray(kernel, dtype=np.float64))[None, None]
    return F.conv2d(x, w, stride=stride, padding=padding)[0, 0].numpy()


BOOK_IMAGE = np.array([[12, 34, 11], [1, 2, 8], [7, 6, 5]], dtype=np.float64)
BOOK_KERNEL = np.array([[1, 0], [0, 1]], dtype=np.float64)


def _conv_cases(seed: int, specs: Sequence[tuple[tuple[int, int], tuple[int, int], int, int]]):
    rng = np.random.default_rng(seed)
    for img_shape, k_shape, s, p in specs:
        yield (rng.integers(-3, 6, size=img_shape).astype(np.float64),
               rng.integers(-2, 3, size=k_shape).astype(np.float64), s, p)


CONV2D_SPECS = [((5, 5), (3, 3), 1, 0), ((5, 5), (3, 3), 2, 1), ((6, 4), (2, 3), 1, 0),
                ((7, 7), (3, 3), 2, 0), ((4, 4), (2, 2), 2, 1), ((6, 6), (3, 3), 3, 1)]


def check_conv2d_by_hand(fn: Callable[..., np.ndarray]) -> None:
    """Check ``conv2d_by_hand(image (H,W), kernel (kh,kw), stride=1, padding=0) -> (H_out, W_out)``.

    Compared with ``torch.nn.functional.conv2d`` on the book's 3×3 example and 6 random integer
    cases with stride and zero padding.
    """
    name = "conv2d_by_hand"
    cases = [(BOOK_IMAGE, BOOK_KERNEL, 1, 0), *_conv_cases(2, CONV2D_SPECS)]
    for image, kernel, s, p in cases:
        call = (f"{name}(image {image.shape[0]}×{image.shape[1]}, kernel "
                f"{kernel.shape[0]}×{kernel.shape[1]}, stride={s}, padding={p})")
        got = _to_numpy(_call(fn, name, image.copy(), kernel.copy(), stride=s, padding=p), call)
        want = ref_conv2d(image, kernel, s, p)
        if got.shape != want.shape:
            raise AssertionError(_shape_msg(
                call, got.shape, want.shape,
                "each side is floor((n + 2·padding - k) / stride) + 1; pad the image with zeros "
                "first, then move the window by `stride`"))
        if not np.allclose(got, want, atol=1e-6):
            hint = ("multiply the window element-wise by the kernel and sum; the window's top-left "
                    "corner is at (i·stride, j·stride) of the zero-padded image")
            if np.allclose(got, ref_conv2d(image, kernel[::-1, ::-1], s, p), atol=1e-6):
                hint = ("you flipped the kernel (textbook convolution); deep-learning 'convolution' "
                        "is a cross-correlation: use the kernel as it is")
            raise AssertionError(f"{call}: {_first_difference(got, want)} — {hint}.\n"
                                 f"image:\n{_grid(image)}\nkernel:\n{_grid(kernel)}\n"
                                 f"expected:\n{_grid(want)}\ngot:\n{_grid(got)}")
    _passed(name, len(cases))


# ----------------------------------------------------------------------------------------------
# Part 03 — transposed convolution by hand
# ----------------------------------------------------------------------------------------------

def ref_conv_transpose_output_size(n: int, k: int, s: int = 1, p: int = 0) -> int:
    """Reference: ``(n - 1)·s - 2p + k`` (``nn.ConvTranspose2d`` with output_padding 0)."""
    return (n - 1) * s - 2 * p + k


CONVT_SIZE_CASES = [(1, 4, 1, 0), (4, 4, 2, 1), (8, 4, 2, 1), (32, 4, 2, 1), (3, 3, 1, 0),
                    (2, 2, 2, 0), (3, 3, 2, 1), (5, 3, 2, 0), (2, 3, 1, 1), (4, 5, 3, 2)]
"""``(n, k, s, p)`` cases, including every layer of the DCGAN generator (1→4→8→…→64)."""


_CONVT_SIZE_MISTAKES: list[tuple[str, Callable[[int, int, int, int], int]]] = [
    ("padding crops p cells from each side of the output: subtract 2p",
     lambda n, k, s, p: (n - 1) * s + k),
    ("the first kernel copy starts at 0, so the last starts at (n - 1)·s: use (n - 1)·s, not n·s",
     lambda n, k, s, p: n * s - 2 * p + k),
    ("that is the (forward) convolution formula; a transposed conv grows the map",
     lambda n, k, s, p: (n + 2 * p - k) // s + 1),
    ("padding crops both sides: subtract 2p, not p", lambda n, k, s, p: (n - 1) * s - p + k),
]


def check_conv_transpose_output_size(fn: Callable[[int, int, int, int], int]) -> None:
    """Check ``conv_transpose_output_size(n, k, s, p) -> int`` on 10 cases."""
    _check_sizes(fn, "conv_transpose_output_size", CONVT_SIZE_CASES,
                 ref_conv_transpose_output_size, _CONVT_SIZE_MISTAKES,
                 "the formula is (n - 1)·s - 2p + k")


def ref_conv_transpose2d(x: np.ndarray, kernel: np.ndarray, stride: int = 1,
                         padding: int = 0) -> np.ndarray:
    """Reference transposed convolution of (H, W) by (kh, kw), as ``nn.ConvTranspose2d``."""
    t = torch.as_tensor(np.ascontiguousarray(x, dtype=np.float64))[None, None]
    w = torch.as_tensor(np.ascontiguousarray(kernel, dtype=np.float64))[None, None]
    return F.conv_transpose2d(t, w, stride=stride, padding=padding)[0, 0].numpy()


CONVT_SPECS = [((2, 2), (3, 3), 1, 0), ((3, 3), (3, 3), 2, 1), ((3, 2), (2, 3), 2, 0),
               ((2, 2), (4, 4), 2, 1), ((3, 3), (2, 2), 1, 0)]
BOOK_CONVT_INPUT = np.array([[1, 0], [2, 3]], dtype=np.float64)
BOOK_CONVT_KERNEL = np.array([[1, 2], [0, 1]], dtype=np.float64)


def check_conv_transpose2d_by_hand(fn: Callable[..., np.ndarray]) -> None:
    """Check ``conv_transpose2d_by_hand(x (H,W), kernel (kh,kw), stride=1, padding=0)``.

    Compared with ``torch.nn.functional.conv_transpose2d`` on a 2×2 example with stride 2 and 5
    random integer cases. Output shape ``((H-1)·s - 2p + kh, (W-1)·s - 2p + kw)``.
    """
    name = "conv_transpose2d_by_hand"
    cases = [(BOOK_CONVT_INPUT, BOOK_CONVT_KERNEL, 2, 0), *_conv_cases(3, CONVT_SPECS)]
    for x, kernel, s, p in cases:
        call = (f"{name}(x {x.shape[0]}×{x.shape[1]}, kernel {kernel.shape[0]}×{kernel.shape[1]}, "
                f"stride={s}, padding={p})")
        got = _to_numpy(_call(fn, name, x.copy(), kernel.copy(), stride=s, padding=p), call)
        want = ref_conv_transpose2d(x, kernel, s, p)
        if got.shape != want.shape:
            raise AssertionError(_shape_msg(
                call, got.shape, want.shape,
                "each side is (n - 1)·stride - 2·padding + k: scatter into a "
                "((n-1)·s + k)-sized canvas, then crop `padding` cells from every border"))
        if not np.allclose(got, want, atol=1e-6):
            hint = ("every input value x[i, j] adds x[i, j]·kernel onto the output block whose "
                    "top-left corner is (i·stride, j·stride); overlapping blocks are summed, "
                    "then `padding` rows/columns are cropped from each border")
            if np.allclose(got, ref_conv_transpose2d(x, kernel[::-1, ::-1], s, p), atol=1e-6):
                hint = "you flipped the kernel: scatter kernel[a, b] to output (i·s + a, j·s + b)"
            raise AssertionError(f"{call}: {_first_difference(got, want)} — {hint}.\n"
                                 f"x:\n{_grid(x)}\nkernel:\n{_grid(kernel)}\n"
                                 f"expected:\n{_grid(want)}\ngot:\n{_grid(got)}")
    _passed(name, len(cases))


# ----------------------------------------------------------------------------------------------
# Part 04 — DCGAN blocks
# ----------------------------------------------------------------------------------------------

def check_generator_block(fn: Callable[[int, int], nn.Module]) -> None:
    """Check ``generator_block(in_ch, out_ch)``: ConvTranspose2d(4, 2, 1, bias=False) → BatchNorm2d → ReLU.

    Input ``(B, in_ch, H, W)`` → output ``(B, out_ch, 2H, 2W)``.
    """
    name = "generator_block"
    cases = [(16, 8, 4), (8, 3, 8), (32, 16, 1)]
    for c_in, c_out, size in cases:
        call = f"{name}({c_in}, {c_out})"
        block = _get_module(fn, name, c_in, c_out)
        convs = _modules(block, nn.ConvTranspose2d)
        if len(convs) != 1:
            raise AssertionError(f"{call}: expected exactly one nn.ConvTranspose2d, found "
                                 f"{len(convs)} — the block upsamples with one transposed conv.")
        conv = convs[0]
        got_cfg = (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding)
        want_cfg = (c_in, c_out, (4, 4), (2, 2), (1, 1))
        if got_cfg != want_cfg:
            raise AssertionError(f"{call}: expected ConvTranspose2d({c_in}, {c_out}, kernel_size=4, "
                                 f"stride=2, padding=1), got (in, out, kernel, stride, padding) = "
                                 f"{got_cfg} — kernel 4, stride 2, padding 1 doubles the size.")
        if conv.bias is not None:
            raise AssertionError(f"{call}: use bias=False in the ConvTranspose2d — the BatchNorm "
                                 f"right after it subtracts the mean, so a bias would be wasted.")
        norms = _modules(block, nn.BatchNorm2d)
        if len(norms) != 1 or norms[0].num_features != c_out:
            raise AssertionError(f"{call}: expected one nn.BatchNorm2d({c_out}) after the "
                                 f"transposed conv, found {[m.num_features for m in norms]}.")
        x = torch.randn(2, c_in, size, size, generator=torch.Generator().manual_seed(size))
        block.train()
        out = _call(block, name, x)
        want_shape = (2, c_out, 2 * size, 2 * size)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != want_shape:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise AssertionError(_shape_msg(f"{call} on input of shape {tuple(x.shape)}", shape,
                                            want_shape, "the block must double height and width"))
        bn = norms[0]
        ref = F.conv_transpose2d(x, conv.weight, None, stride=2, padding=1)
        ref = torch.relu(F.batch_norm(ref, None, None, bn.weight, bn.bias, training=True,
                                      eps=bn.eps))
        if not torch.allclose(out, ref, atol=1e-4):
            hint = "the order is ConvTranspose2d → BatchNorm2d → ReLU (not LeakyReLU, no Tanh)"
            raise AssertionError(f"{call}: the output differs from {hint}, computed with your own "
                                 f"layers.")
    _passed(name, len(cases))


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
    model = _get_module(build, "build_discriminator")
    model.eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        out = _call(model, "discriminator", x)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, 1, 1, 1):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise AssertionError(f"discriminator(images of shape (B, 3, 64, 64)): expected shape "
                             f"(B, 1, 1, 1), got {shape} (B = 2) — four stride-2 convs take 64 → "
                             f"4, and the last 4×4 conv (stride 1, padding 0) takes 4 → 1.")
    convs = _modules(model, nn.Conv2d)
    got = [(c.in_channels, c.out_channels, c.stride[0], c.padding[0]) for c in convs]
    if got != DCGAN_D_CONVS:
        raise AssertionError(f"{name}: expected the convs (in, out, stride, padding) "
                             f"{DCGAN_D_CONVS}, got {got}.")
    for i, c in enumerate(convs, start=1):
        if c.kernel_size != (4, 4):
            raise AssertionError(f"{name}: conv {i} has kernel_size {c.kernel_size}; all are 4×4.")
        if c.bias is not None:
            raise AssertionError(f"{name}: conv {i} has a bias; use bias=False as the book does.")
    norms = [m.num_features for m in _modules(model, nn.BatchNorm2d)]
    if norms != [128, 256, 512]:
        raise AssertionError(f"{name}: expected BatchNorm2d(128), (256), (512) after convs 2–4 "
                             f"(none after the first conv), got {norms}.")
    acts = _modules(model, nn.LeakyReLU)
    if len(acts) != 4 or any(abs(a.negative_slope - 0.2) > 1e-9 for a in acts):
        raise AssertionError(f"{name}: expected 4 LeakyReLU(0.2) (after convs 1–4), got "
                             f"{[a.negative_slope for a in acts]}.")
    n_params = sum(p.numel() for p in model.parameters())
    if n_params != DCGAN_D_PARAMS:
        raise AssertionError(f"{name}: expected {DCGAN_D_PARAMS:,} parameters (the book's), got "
                             f"{n_params:,}.")
    _passed(name, 5)


# ----------------------------------------------------------------------------------------------
# Part 05 — conditional WGAN-GP: label planes and the gradient penalty
# ----------------------------------------------------------------------------------------------

def ref_label_planes(labels: torch.Tensor, num_classes: int, size: int) -> torch.Tensor:
    """Reference: ``(B,)`` int labels → ``(B, num_classes, size, size)`` float one-hot planes."""
    onehot = F.one_hot(labels.long(), num_classes).float()
    return onehot[:, :, None, None].expand(-1, -1, size, size).contiguous()


def check_label_planes(fn: Callable[[torch.Tensor, int, int], torch.Tensor]) -> None:
    """Check ``label_planes(labels (B,), num_classes, size) -> (B, num_classes, size, size)`` float.

    Plane ``k`` of sample ``b`` is all ones when ``labels[b] == k``, else all zeros — the extra
    image channels a conditional critic reads next to the RGB channels.
    """
    name = "label_planes"
    cases = [(torch.tensor([0, 1, 1, 0]), 2, 4), (torch.tensor([2, 0, 1]), 3, 5),
             (torch.tensor([1]), 2, 64)]
    for labels, k, size in cases:
        call = f"{name}(labels={labels.tolist()}, num_classes={k}, size={size})"
        got = _call(fn, name, labels.clone(), k, size)
        want = ref_label_planes(labels, k, size)
        if not isinstance(got, torch.Tensor):
            raise AssertionError(f"{call}: returned {type(got).__name__}; return a torch tensor.")
        if tuple(got.shape) != tuple(want.shape):
            hint = "one plane per class, channels second: (B, num_classes, size, size)"
            if tuple(got.shape) == (len(labels), size, size, k):
                hint = "PyTorch images are channels-first: put num_classes in dim 1, not last"
            raise AssertionError(_shape_msg(call, tuple(got.shape), tuple(want.shape), hint))
        if not got.is_floating_point():
            raise AssertionError(f"{call}: dtype is {got.dtype}; make it float (e.g. .float()) "
                                 f"so it can be concatenated with the float image channels.")
        if not torch.equal(got.float(), want):
            b, c = (int(i) for i in torch.nonzero((got.float() != want).flatten(2).any(-1))[0])
            raise AssertionError(
                f"{call}: sample {b}, plane {c} should be all "
                f"{'ones' if labels[b] == c else 'zeros'} (its label is {int(labels[b])}) — "
                f"plane k is 1 everywhere exactly when the label is k (a one-hot vector "
                f"stretched to size×size).")
    _passed(name, len(cases))


def ref_gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                         fake: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Reference WGAN-GP penalty: mean over samples of (‖∇ critic(x̂)‖₂ - 1)², x̂ = α·real + (1-α)·fake."""
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = critic(x_hat)
    grad = torch.autograd.grad(scores, x_hat, torch.ones_like(scores), create_graph=True)[0]
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


class _QuadraticCritic(nn.Module):
    """Tiny critic whose input gradient depends on the input (so the penalty depends on x̂)."""

    def __init__(self, shape: tuple[int, ...], seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(shape, generator=g) * 0.3)
        self.v = nn.Parameter(torch.randn(shape, generator=g) * 0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.w * x + self.v * x ** 2).flatten(1).sum(1)


class _LinearCritic(nn.Module):
    """critic(x) = <w, x>: the input gradient is w everywhere, so GP = (‖w‖ - 1)² for any α."""

    def __init__(self, shape: tuple[int, ...], norm: float):
        super().__init__()
        w = torch.ones(shape)
        self.w = nn.Parameter(w * norm / w.norm())
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return (self.w * x).flatten(1).sum(1, keepdim=True)


def check_gradient_penalty(fn: Callable[..., torch.Tensor]) -> None:
    """Check ``gradient_penalty(critic, real, fake, alpha=None) -> scalar tensor``.

    ``real``, ``fake``: ``(B, C, H, W)``; ``alpha``: ``(B, 1, 1, 1)`` or ``None`` (then one uniform
    random number per sample). Checked: the value against ``torch.autograd.grad`` for given
    alphas, that random alphas are per sample, and that the penalty back-propagates into the
    critic (``create_graph=True``).
    """
    name = "gradient_penalty"
    g = torch.Generator().manual_seed(5)
    shape = (4, 3, 4, 4)
    real = torch.randn(shape, generator=g)
    fake = torch.randn(shape, generator=g)
    n_cases = 0
    # 1. Given alphas, a critic with an input-dependent gradient: compare the value.
    for alpha in (torch.rand(4, 1, 1, 1, generator=g), torch.tensor([0.0, 1.0, 0.5, 0.25]).view(4, 1, 1, 1)):
        critic = _QuadraticCritic(shape[1:], seed=6)
        call = f"{name}(critic, real, fake, alpha=[{', '.join(f'{a:.2f}' for a in alpha.flatten())}])"
        got = _scalar_tensor(_call(fn, name, critic, real.clone(), fake.clone(), alpha=alpha.clone()), call)
        want = ref_gradient_penalty(critic, real, fake, alpha)
        if not _close(got, want, 1e-4):
            hint = ("x̂ = alpha·real + (1 - alpha)·fake; gradient of critic(x̂) w.r.t. x̂; flatten it "
                    "per sample to (B, -1), take the L2 norm over dim 1, then mean((norm - 1)²)")
            per_batch = _gp_variant(critic, real, fake, alpha, lambda n: n, whole_batch=True)
            swapped = ref_gradient_penalty(critic, fake, real, alpha)
            no_minus = _gp_variant(critic, real, fake, alpha, lambda n: n ** 2)
            no_square = _gp_variant(critic, real, fake, alpha, lambda n: (n - 1).abs())
            if _close(got, swapped, 1e-4):
                hint = "interpolate as alpha·real + (1 - alpha)·fake (you swapped real and fake)"
            elif _close(got, per_batch, 1e-4):
                hint = ("take one gradient norm per sample (flatten to (B, -1), norm over dim=1), "
                        "not one norm of the whole batch")
            elif _close(got, no_minus, 1e-4):
                hint = "penalise the distance of the norm from 1: (norm - 1)², not norm²"
            elif _close(got, no_square, 1e-4):
                hint = "square the deviation: (norm - 1)²"
            raise AssertionError(f"{call}: expected {want.item():.5f}, got "
                                 f"{got.detach().item():.5f} — {hint}.")
        n_cases += 1
    # 2. alpha=None with a linear critic: the value is known, and the inputs show how α was drawn.
    critic = _LinearCritic(shape[1:], norm=2.0)
    call = f"{name}(critic, real, fake) with random alpha"
    fake = real - 1 - torch.rand(shape, generator=g)  # real - fake >= 1: α can be read back exactly
    got = _scalar_tensor(_call(fn, name, critic, real.clone(), fake.clone()), call)
    if not _close(got, torch.tensor(1.0), 1e-4):
        raise AssertionError(f"{call}: with critic(x) = <w, x> and ‖w‖ = 2 the gradient is w "
                             f"everywhere, so the penalty is (2 - 1)² = 1; got "
                             f"{got.detach().item():.5f}.")
    if not critic.seen:
        raise AssertionError(f"{call}: the critic was never called; score the interpolated images.")
    x_hat = critic.seen[-1]
    ratio = (x_hat - fake) / (real - fake)  # the alpha each pixel was mixed with
    per_sample = ratio.flatten(1)
    if not torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample), atol=1e-4):
        raise AssertionError(f"{call}: alpha must be one random number per sample, shape "
                             f"(B, 1, 1, 1) — yours differs from pixel to pixel.")
    alphas = per_sample[:, 0]
    if ((alphas < -1e-4) | (alphas > 1 + 1e-4)).any():
        raise AssertionError(f"{call}: alpha must lie in [0, 1] (torch.rand), got "
                             f"{alphas.tolist()}.")
    if torch.allclose(alphas, alphas[:1].expand_as(alphas), atol=1e-6):
        raise AssertionError(f"{call}: every sample got the same alpha; draw one per sample: "
                             f"torch.rand(B, 1, 1, 1).")
    n_cases += 1
    # 3. The penalty must be differentiable w.r.t. the critic's weights (create_graph=True).
    critic.zero_grad()
    if not got.requires_grad:
        raise AssertionError(f"{call}: the penalty has no autograd graph, so it cannot train the "
                             f"critic — pass create_graph=True to torch.autograd.grad and do not "
                             f"detach or call .item().")
    got.backward()
    if critic.w.grad is None or not torch.allclose(critic.w.grad, 2 * (2.0 - 1) * critic.w / 2.0,
                                                   atol=1e-4):
        raise AssertionError(f"{call}: back-propagating the penalty gave the wrong gradient for the "
                             f"critic's weights — use create_graph=True in torch.autograd.grad.")
    _passed(name, n_cases + 1)


def _gp_variant(critic, real, fake, alpha, penalty, whole_batch: bool = False) -> torch.Tensor:
    """A common wrong version of the penalty, to recognise a student's mistake."""
    x = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    grad = torch.autograd.grad(critic(x).sum(), x)[0]
    if whole_batch:  # one norm of the whole batch's gradient
        return (grad.norm() - 1) ** 2
    return penalty(grad.flatten(1).norm(2, dim=1)).mean()


# ----------------------------------------------------------------------------------------------
# Part 06 — CycleGAN: cycle-consistency loss and the residual block
# ----------------------------------------------------------------------------------------------

def ref_cycle_loss(real_a, cycled_a, real_b, cycled_b, lambda_cycle: float = 10.0) -> torch.Tensor:
    """Reference: ``lambda_cycle · (mean|real_a - cycled_a| + mean|real_b - cycled_b|)``."""
    return lambda_cycle * (F.l1_loss(cycled_a, real_a) + F.l1_loss(cycled_b, real_b))


def check_cycle_consistency_loss(fn: Callable[..., torch.Tensor]) -> None:
    """Check ``cycle_consistency_loss(real_a, cycled_a, real_b, cycled_b, lambda_cycle=10.0)``.

    All images ``(B, C, H, W)``; ``cycled_a = G_A(G_B(real_a))`` is the round trip A→B→A.
    Returns a scalar tensor: λ·(L1(A) + L1(B)), each L1 a mean over all pixels.
    """
    name = "cycle_consistency_loss"
    g = torch.Generator().manual_seed(7)
    cases = [((2, 3, 8, 8), 10.0), ((3, 3, 4, 4), 10.0), ((1, 1, 5, 5), 2.5)]
    for shape, lam in cases:
        ra, ca, rb, cb = (torch.randn(shape, generator=g) for _ in range(4))
        ca.requires_grad_(True)
        cb.requires_grad_(True)
        call = f"{name}(4 images of shape {shape}, lambda_cycle={lam})"
        kwargs = {} if lam == 10.0 else {"lambda_cycle": lam}
        got = _scalar_tensor(_call(fn, name, ra, ca, rb, cb, **kwargs), call)
        want = ref_cycle_loss(ra, ca, rb, cb, lam).detach()
        if not _close(got, want, 1e-4):
            hint = "λ·(mean |real_a - cycled_a| + mean |real_b - cycled_b|) — L1, both directions"
            if _close(got, lam * (F.mse_loss(ca, ra) + F.mse_loss(cb, rb)), 1e-4):
                hint = "that is squared error (MSE); cycle consistency uses the absolute error (L1)"
            elif _close(got, want / lam, 1e-4):
                hint = f"multiply by lambda_cycle (= {lam})"
            elif _close(got, lam * F.l1_loss(ca, ra), 1e-4) or _close(got, lam * F.l1_loss(cb, rb), 1e-4):
                hint = "add both round trips: A→B→A and B→A→B"
            elif _close(got, lam * ((ca - ra).abs().sum() + (cb - rb).abs().sum()), 1e-3):
                hint = "average the absolute errors (mean), do not sum them"
            elif _close(got, want / 2, 1e-4):
                hint = "add the two directions, do not average them"
            raise AssertionError(f"{call}: expected {want.item():.4f}, got "
                                 f"{got.detach().item():.4f} — {hint}.")
        if not got.requires_grad:
            raise AssertionError(f"{call}: the loss is not connected to the images by autograd; "
                                 f"use torch operations and return the tensor (no .item()).")
        got.backward()
        if ca.grad is None or cb.grad is None:
            raise AssertionError(f"{call}: the loss must depend on both cycled_a and cycled_b.")
    _passed(name, len(cases))


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
    cases = [(8, 16), (4, 9), (3, 6)]
    for channels, size in cases:
        call = f"{name}({channels})"
        block = _get_module(cls, name, channels)
        convs = _modules(block, nn.Conv2d)
        if len(convs) != 2:
            raise AssertionError(f"{call}: expected two nn.Conv2d layers, found {len(convs)}.")
        for i, c in enumerate(convs, start=1):
            cfg = (c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding)
            if cfg != (channels, channels, (3, 3), (1, 1), (1, 1)):
                raise AssertionError(f"{call}: conv {i} is (in, out, kernel, stride, padding) = "
                                     f"{cfg}; expected ({channels}, {channels}, (3, 3), (1, 1), "
                                     f"(1, 1)) so the block keeps the shape.")
            if c.padding_mode != "reflect":
                raise AssertionError(f"{call}: conv {i} pads with {c.padding_mode!r}; use "
                                     f"padding_mode='reflect' (no artificial dark border).")
        norms = _modules(block, nn.InstanceNorm2d)
        if len(norms) != 2:
            raise AssertionError(f"{call}: expected two nn.InstanceNorm2d({channels}), found "
                                 f"{len(norms)} — one after each conv.")
        x = torch.randn(2, channels, size, size, generator=torch.Generator().manual_seed(size))
        out = _call(block, name, x)
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise AssertionError(_shape_msg(f"{call} on input {tuple(x.shape)}", shape,
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
                raise AssertionError(f"{call}: the output differs from the reference computed with "
                                     f"your own conv weights — {hint}.")
    _passed(name, len(cases))


CHECKS: dict[str, Callable[..., None]] = {
    "mlp_generator": check_mlp_generator,
    "discriminator_loss": check_discriminator_loss,
    "conv_output_size": check_conv_output_size,
    "conv2d_by_hand": check_conv2d_by_hand,
    "conv_transpose_output_size": check_conv_transpose_output_size,
    "conv_transpose2d_by_hand": check_conv_transpose2d_by_hand,
    "generator_block": check_generator_block,
    "dcgan_discriminator": check_dcgan_discriminator,
    "label_planes": check_label_planes,
    "gradient_penalty": check_gradient_penalty,
    "cycle_consistency_loss": check_cycle_consistency_loss,
    "residual_block": check_residual_block,
}
"""Every check function by exercise name (the assignments use each one at least once)."""


# ----------------------------------------------------------------------------------------------
# Release: instructor source → student copy (nbgrader generate_assignment rules)
# ----------------------------------------------------------------------------------------------

CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"
BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"


class AssignmentError(ValueError):
    """An instructor notebook breaks nbgrader's rules (the message says which cell and why)."""


def _nbg(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_grade(cell: dict) -> bool:
    """nbgrader: an autograded cell (``"grade": true``)."""
    return bool(_nbg(cell).get("grade", False))


def is_solution(cell: dict) -> bool:
    """nbgrader: a cell whose answer is replaced by a stub (``"solution": true``)."""
    return bool(_nbg(cell).get("solution", False))


def is_locked(cell: dict) -> bool:
    """nbgrader: a read-only cell (grade cells are locked, solution cells never are)."""
    if "nbgrader" not in cell.get("metadata", {}) or is_solution(cell):
        return False
    return is_grade(cell) or bool(_nbg(cell).get("locked", False))


def compute_checksum(cell: dict) -> str:
    """nbgrader's cell checksum (``nbgrader.utils.compute_checksum``), so autograde accepts it."""
    m = hashlib.md5()
    m.update(_source(cell).encode())
    m.update(cell["cell_type"].encode())
    m.update(str(is_grade(cell)).encode())
    m.update(str(is_solution(cell)).encode())
    m.update(str(is_locked(cell)).encode())
    m.update(_nbg(cell)["grade_id"].encode())
    if is_grade(cell):
        m.update(str(float(_nbg(cell)["points"])).encode())
    return m.hexdigest()


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _replace_region(source: str, begin: str, end: str, stub: list[str] | None,
                    where: str) -> tuple[str, bool]:
    """Drop the lines from a ``begin`` line to an ``end`` line; put ``stub`` (indented) in place."""
    out: list[str] = []
    inside = found = False
    for line in source.split("\n"):
        if begin in line:
            if inside:
                raise AssignmentError(f"{where}: nested '{begin}'; close the first region with "
                                      f"'### {end}' before opening another.")
            inside = found = True
            indent = re.match(r"\s*", line).group(0)
            out += [indent + s for s in (stub or [])]
        elif end in line:
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise AssignmentError(f"{where}: '{begin}' without a matching '### {end}'.")
    return "\n".join(out), found


def make_student_notebook(nb: dict, name: str = "notebook") -> dict:
    """Return the student copy of an instructor notebook (nbformat dict); ``nb`` is not modified.

    Mirrors nbgrader's ``generate_assignment``: LockCells, ClearSolutions, ClearOutput,
    ClearHiddenTests, ComputeChecksums, with the same metadata checks (solution regions only in
    solution cells, hidden tests only in grade cells, unique grade ids, points on grade cells).
    """
    nb = copy.deepcopy(nb)
    language = nb.get("metadata", {}).get("kernelspec", {}).get("language", "python")
    if language != "python":
        raise AssignmentError(f"{name}: kernel language {language!r}; only python is supported.")
    seen: set[str] = set()
    for i, cell in enumerate(nb["cells"]):
        where = f"{name}, cell {i}"
        meta = cell.setdefault("metadata", {})
        if "nbgrader" in meta:
            gid = _nbg(cell).get("grade_id")
            if not gid:
                raise AssignmentError(f"{where}: nbgrader metadata without a grade_id.")
            if gid in seen:
                raise AssignmentError(f"{where}: grade_id {gid!r} is used twice; ids must be unique.")
            seen.add(gid)
            if is_grade(cell) and "points" not in _nbg(cell):
                raise AssignmentError(f"{where}: grade cell {gid!r} has no 'points'.")
        # LockCells (nbgrader's defaults: lock solution, grade and read-only cells)
        if is_solution(cell):
            meta["deletable"] = False
        elif is_grade(cell) or is_locked(cell):
            meta["deletable"] = False
            meta["editable"] = False
        # ClearSolutions
        stub = (CODE_STUB if cell["cell_type"] == "code" else TEXT_STUB).split("\n")
        src, replaced = _replace_region(_source(cell), BEGIN_SOLUTION, END_SOLUTION, stub, where)
        if replaced and not is_solution(cell):
            raise AssignmentError(f"{where}: solution region in a cell that is not a solution "
                                  f"cell; set nbgrader 'solution': true on it.")
        if is_solution(cell) and not replaced:
            src = "\n".join(stub)
        # ClearHiddenTests
        src, removed = _replace_region(src, BEGIN_HIDDEN, END_HIDDEN, None, where)
        if removed and not is_grade(cell):
            raise AssignmentError(f"{where}: hidden tests in a cell that is not a grade cell.")
        cell["source"] = src
        # ClearOutput
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
            for key in ("collapsed", "scrolled"):
                meta.pop(key, None)
        # ComputeChecksums
        if is_grade(cell) or is_solution(cell) or is_locked(cell):
            meta["nbgrader"]["checksum"] = compute_checksum(cell)
            meta["nbgrader"]["cell_type"] = cell["cell_type"]
    nb.get("metadata", {}).pop("celltoolbar", None)
    return nb


def release(source: str | Path, dest: str | Path, assignments: Sequence[str] | None = None) -> list[Path]:
    """Write student copies of every ``source/<assignment>/`` into ``dest/<assignment>/``.

    Notebooks are converted with :func:`make_student_notebook`; other files are copied as they
    are (nbgrader does the same). Returns the written notebook paths.
    """
    import nbformat

    source, dest = Path(source), Path(dest)
    if not source.is_dir():
        raise FileNotFoundError(f"No instructor sources at {source}: expected "
                                f"{source}/<assignment>/<notebook>.ipynb (nbgrader's layout).")
    folders = sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith("."))
    if assignments:
        missing = sorted(set(assignments) - {p.name for p in folders})
        if missing:
            raise FileNotFoundError(f"No assignment {', '.join(missing)} in {source}; available: "
                                    f"{', '.join(p.name for p in folders)}.")
        folders = [p for p in folders if p.name in assignments]
    written: list[Path] = []
    for folder in folders:
        out_dir = dest / folder.name
        out_dir.mkdir(parents=True, exist_ok=True)
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or ".ipynb_checkpoints" in path.parts:
                continue
            target = out_dir / path.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".ipynb":
                nb = nbformat.read(path, as_version=4)
                student = nbformat.from_dict(make_student_notebook(nb, str(path)))
                nbformat.validate(student)
                nbformat.write(student, target)
                written.append(target)
            else:
                shutil.copy2(path, target)
    return written


# ----------------------------------------------------------------------------------------------
# Validate: execute a notebook and report every graded cell
# ----------------------------------------------------------------------------------------------

@dataclass
class CellResult:
    """Outcome of one graded cell after execution."""

    grade_id: str
    exercise: str
    points: float
    passed: bool
    message: str = ""


@dataclass
class ValidationReport:
    """All graded cells of one executed notebook, plus errors in other cells."""

    path: Path
    cells: list[CellResult] = field(default_factory=list)
    other_errors: list[str] = field(default_factory=list)
    answer_errors: list[str] = field(default_factory=list)
    """Errors raised by answer (solution) cells, e.g. a syntax error in the student's code."""

    @property
    def all_passed(self) -> bool:
        """True when every graded cell passed and no other cell raised."""
        return bool(self.cells) and all(c.passed for c in self.cells) and not self.other_errors

    def exercises(self) -> dict[str, list[CellResult]]:
        """Graded cells grouped by exercise (the solution cell they follow)."""
        groups: dict[str, list[CellResult]] = {}
        for c in self.cells:
            groups.setdefault(c.exercise, []).append(c)
        return groups

    @property
    def every_exercise_fails(self) -> bool:
        """True when each exercise has at least one failing graded cell (a blank copy scores 0)."""
        return bool(self.cells) and all(any(not c.passed for c in group)
                                        for group in self.exercises().values())

    def summary(self) -> str:
        """Human-readable report, one line per graded cell."""
        lines = [f"validate {self.path}"]
        for c in self.cells:
            mark = "✔" if c.passed else "✘"
            text = f"  {mark} {c.grade_id} ({c.points:g} pts)"
            if not c.passed:
                text += ": " + c.message.strip().replace("\n", "\n      ")
            lines.append(text)
        lines += [f"  ! {e}" for e in self.other_errors]
        lines += [f"  ! answer {e}" for e in self.answer_errors]
        earned = sum(c.points for c in self.cells if c.passed)
        total = sum(c.points for c in self.cells)
        n_ok = sum(c.passed for c in self.cells)
        lines.append(f"  {n_ok}/{len(self.cells)} graded cells pass, {earned:g}/{total:g} points")
        return "\n".join(lines)


def _error_text(cell: dict) -> tuple[str, str] | None:
    """(ename, message) of the first error output of an executed cell, else None."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return out.get("ename", "Error"), f"{out.get('ename')}: {out.get('evalue')}"
    return None


def execute_notebook(path: str | Path, timeout: int = 60, kernel_name: str | None = None) -> dict:
    """Run every cell of a notebook in a fresh kernel (errors are recorded, not raised)."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No notebook at {path}.")
    nb = nbformat.read(path, as_version=4)
    kwargs = {"kernel_name": kernel_name} if kernel_name else {}
    # "immediate" shutdown: the kernel has nothing to save, and a graceful one costs seconds.
    client = NotebookClient(nb, timeout=timeout, allow_errors=True, shutdown_kernel="immediate",
                            resources={"metadata": {"path": str(path.parent.resolve())}}, **kwargs)
    client.execute()
    return nb


def report_from_executed(nb: dict, path: str | Path) -> ValidationReport:
    """Build the :class:`ValidationReport` of an already executed notebook."""
    report = ValidationReport(Path(path))
    exercise = None
    for i, cell in enumerate(nb["cells"]):
        err = _error_text(cell) if cell["cell_type"] == "code" else None
        if is_solution(cell):
            exercise = _nbg(cell)["grade_id"]
        if is_grade(cell):
            gid = _nbg(cell)["grade_id"]
            # nbgrader also treats output on stderr as a failure of a test cell
            stderr = [o for o in cell.get("outputs", [])
                      if o.get("output_type") == "stream" and o.get("name") == "stderr"]
            message = err[1] if err else ("".join(o.get("text", "") for o in stderr) if stderr else "")
            report.cells.append(CellResult(gid, exercise or gid, float(_nbg(cell).get("points", 0)),
                                           passed=not err and not stderr, message=message))
        elif err and not is_solution(cell):
            report.other_errors.append(f"cell {i} raised {err[1]}")
        elif err and err[0] != "NotImplementedError":  # a blank answer is not worth a warning
            report.answer_errors.append(f"cell {i} ({_nbg(cell)['grade_id']}) raised {err[1]}")
    return report


def validate_notebook(path: str | Path, timeout: int = 60) -> ValidationReport:
    """Execute ``path`` and report its graded cells (see :class:`ValidationReport`)."""
    return report_from_executed(execute_notebook(path, timeout), path)


def _validate_main(args: argparse.Namespace) -> int:
    status = 0
    for path in args.notebooks:
        report = validate_notebook(path, timeout=args.timeout)
        print(report.summary())
        if not report.cells:
            print("  ✘ no graded cells (nbgrader 'grade': true) found")
            status = 1
        elif args.invert:
            # Blank student copies: every exercise must fail; unrelated crashes (other than the
            # NotImplementedError stubs) mean the notebook itself is broken.
            broken = [e for e in report.other_errors if "NotImplementedError" not in e]
            passing = [ex for ex, cells in report.exercises().items()
                       if all(c.passed for c in cells)]
            for ex in passing:
                print(f"  ✘ exercise {ex} passes without an answer: its checks cannot fail")
            for e in broken:
                print(f"  ✘ {e}")
            if passing or broken:
                status = 1
            else:
                print("  ✔ every exercise fails while unanswered (inverted validation)")
        elif not report.all_passed:
            status = 1
    return status


def _release_main(args: argparse.Namespace) -> int:
    written = release(args.source, args.dest, args.assignment or None)
    for p in written:
        print(f"wrote {p}")
    print(f"{len(written)} student notebook(s) in {args.dest}")
    return 0


def add_subparser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``grading release|validate`` (for ``python -m gan_course``)."""
    p = subparsers.add_parser("grading", help="release student copies of assignments; validate them")
    _add_commands(p)


def _add_commands(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="grading_command", metavar="{release,validate}", required=True)
    rel = sub.add_parser("release", help="write student copies (solutions and hidden tests removed)")
    rel.add_argument("source", help="instructor sources, e.g. assignments/source")
    rel.add_argument("dest", help="where the student copies go, e.g. assignments/release")
    rel.add_argument("--assignment", action="append", help="only this assignment (repeatable)")
    rel.set_defaults(func=_release_main)
    val = sub.add_parser("validate", help="execute notebooks and report every graded cell")
    val.add_argument("notebooks", nargs="+", help="notebook(s) to execute")
    val.add_argument("--invert", action="store_true",
                     help="succeed only if every exercise fails (for blank student copies)")
    val.add_argument("--timeout", type=int, default=60, help="seconds per cell (default 60)")
    val.set_defaults(func=_validate_main)


def main(argv: list[str] | None = None) -> int:
    """``python -m gan_course.grading {release,validate} ...``."""
    parser = argparse.ArgumentParser(prog="python -m gan_course.grading", description=__doc__.split("\n")[0])
    _add_commands(parser)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (AssignmentError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = [f.__name__ for f in CHECKS.values()] + [
    "CHECKS", "release", "make_student_notebook", "validate_notebook", "execute_notebook",
    "report_from_executed", "ValidationReport", "CellResult", "AssignmentError", "main"]
