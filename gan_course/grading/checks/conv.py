"""Checks for assignments a02 and a03: convolution and transposed convolution by hand.

Each answer is compared with PyTorch itself (``F.conv2d``, ``F.conv_transpose2d``) on a few
fixed cases; a wrong size formula is recognised from the pattern of its answers, so the hint
names the mistake (missing +1, padding on one side, no stride, rounding up).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ._common import as_int, call, first_difference, grid, own_answer, passed, shape_msg, to_numpy


def _ref_conv_output_size(n: int, k: int, s: int = 1, p: int = 0) -> int:
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
    own_answer(fn, name)
    got: dict[tuple, int] = {}
    first_bad = None
    for case in cases:
        call_text = f"{name}({', '.join(map(str, case))})"
        got[case] = as_int(call(fn, name, *case), call_text)
        if first_bad is None and got[case] != ref(*case):
            first_bad = case
    if first_bad is not None:
        call_text = f"{name}({', '.join(map(str, first_bad))})"
        raise AssertionError(f"{call_text}: expected {ref(*first_bad)}, got {got[first_bad]} — "
                             f"{_size_hint(got, mistakes, default)}")
    passed(name, len(cases))


def check_conv_output_size(fn: Callable[[int, int, int, int], int]) -> None:
    """Check ``conv_output_size(n, k, s, p) -> int`` on 12 cases against PyTorch's formula.

    A failure names the first wrong case; the hint comes from the typical mistake (missing +1,
    padding on one side only, no stride, rounding up) that explains all of the answers.
    """
    _check_sizes(fn, "conv_output_size", CONV_SIZE_CASES, _ref_conv_output_size,
                 _CONV_SIZE_MISTAKES, "the formula is floor((n + 2p - k) / s) + 1")


def _ref_conv2d(image: np.ndarray, kernel: np.ndarray, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Reference 2-D convolution (cross-correlation, like ``nn.Conv2d``) of (H, W) by (kh, kw)."""
    x = torch.as_tensor(np.ascontiguousarray(image, dtype=np.float64))[None, None]
    w = torch.as_tensor(np.ascontiguousarray(kernel, dtype=np.float64))[None, None]
    return F.conv2d(x, w, stride=stride, padding=padding)[0, 0].numpy()


NB02_IMAGE = np.array([[1, 1, 1], [0, 1, 2], [8, 7, 6]], dtype=np.float64)
NB02_KERNEL = np.array([[1, 2], [3, 4]], dtype=np.float64)
"""The 3×3 image and 2×2 kernel that notebook 02 convolves by hand first."""


def _conv_cases(seed: int, specs: Sequence[tuple[tuple[int, int], tuple[int, int], int, int]]):
    rng = np.random.default_rng(seed)
    for img_shape, k_shape, s, p in specs:
        yield (rng.integers(-3, 6, size=img_shape).astype(np.float64),
               rng.integers(-2, 3, size=k_shape).astype(np.float64), s, p)


CONV2D_SPECS = [((5, 5), (3, 3), 1, 0), ((5, 5), (3, 3), 2, 1), ((6, 4), (2, 3), 1, 0),
                ((7, 7), (3, 3), 2, 0), ((4, 4), (2, 2), 2, 1), ((6, 6), (3, 3), 3, 1)]


def check_conv2d_by_hand(fn: Callable[..., np.ndarray]) -> None:
    """Check ``conv2d_by_hand(image (H,W), kernel (kh,kw), stride=1, padding=0) -> (H_out, W_out)``.

    Compared with ``torch.nn.functional.conv2d`` on notebook 02's 3×3 example and 6 random integer
    cases with stride and zero padding.
    """
    name = "conv2d_by_hand"
    own_answer(fn, name)
    cases = [(NB02_IMAGE, NB02_KERNEL, 1, 0), *_conv_cases(2, CONV2D_SPECS)]
    for image, kernel, s, p in cases:
        call_text = (f"{name}(image {image.shape[0]}×{image.shape[1]}, kernel "
                f"{kernel.shape[0]}×{kernel.shape[1]}, stride={s}, padding={p})")
        got = to_numpy(call(fn, name, image.copy(), kernel.copy(), stride=s, padding=p), call_text)
        want = _ref_conv2d(image, kernel, s, p)
        if got.shape != want.shape:
            raise AssertionError(shape_msg(
                call_text, got.shape, want.shape,
                "each side is floor((n + 2·padding - k) / stride) + 1; pad the image with zeros "
                "first, then move the window by `stride`"))
        if not np.allclose(got, want, atol=1e-6):
            hint = ("multiply the window element-wise by the kernel and sum; the window's top-left "
                    "corner is at (i·stride, j·stride) of the zero-padded image")
            if np.allclose(got, _ref_conv2d(image, kernel[::-1, ::-1], s, p), atol=1e-6):
                hint = ("you flipped the kernel (textbook convolution); deep-learning 'convolution' "
                        "is a cross-correlation: use the kernel as it is")
            raise AssertionError(f"{call_text}: {first_difference(got, want)} — {hint}.\n"
                                 f"image:\n{grid(image)}\nkernel:\n{grid(kernel)}\n"
                                 f"expected:\n{grid(want)}\ngot:\n{grid(got)}")
    passed(name, len(cases))


# ----------------------------------------------------------------------------------------------
# Part 03 — transposed convolution by hand
# ----------------------------------------------------------------------------------------------

def _ref_conv_transpose_output_size(n: int, k: int, s: int = 1, p: int = 0) -> int:
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
                 _ref_conv_transpose_output_size, _CONVT_SIZE_MISTAKES,
                 "the formula is (n - 1)·s - 2p + k")


def _ref_conv_transpose2d(x: np.ndarray, kernel: np.ndarray, stride: int = 1,
                         padding: int = 0) -> np.ndarray:
    """Reference transposed convolution of (H, W) by (kh, kw), as ``nn.ConvTranspose2d``."""
    t = torch.as_tensor(np.ascontiguousarray(x, dtype=np.float64))[None, None]
    w = torch.as_tensor(np.ascontiguousarray(kernel, dtype=np.float64))[None, None]
    return F.conv_transpose2d(t, w, stride=stride, padding=padding)[0, 0].numpy()


CONVT_SPECS = [((2, 2), (3, 3), 1, 0), ((3, 3), (3, 3), 2, 1), ((3, 2), (2, 3), 2, 0),
               ((2, 2), (4, 4), 2, 1), ((3, 3), (2, 2), 1, 0)]
NB03_INPUT = np.array([[1, 0], [2, 3]], dtype=np.float64)
NB03_KERNEL = np.array([[2, 3], [4, 5]], dtype=np.float64)
"""The 2×2 input and kernel of notebook 03's first transposed convolution (here with stride 2)."""


def check_conv_transpose2d_by_hand(fn: Callable[..., np.ndarray]) -> None:
    """Check ``conv_transpose2d_by_hand(x (H,W), kernel (kh,kw), stride=1, padding=0)``.

    Compared with ``torch.nn.functional.conv_transpose2d`` on a 2×2 example with stride 2 and 5
    random integer cases. Output shape ``((H-1)·s - 2p + kh, (W-1)·s - 2p + kw)``.
    """
    name = "conv_transpose2d_by_hand"
    own_answer(fn, name)
    cases = [(NB03_INPUT, NB03_KERNEL, 2, 0), *_conv_cases(3, CONVT_SPECS)]
    for x, kernel, s, p in cases:
        call_text = (f"{name}(x {x.shape[0]}×{x.shape[1]}, kernel {kernel.shape[0]}×{kernel.shape[1]}, "
                f"stride={s}, padding={p})")
        got = to_numpy(call(fn, name, x.copy(), kernel.copy(), stride=s, padding=p), call_text)
        want = _ref_conv_transpose2d(x, kernel, s, p)
        if got.shape != want.shape:
            raise AssertionError(shape_msg(
                call_text, got.shape, want.shape,
                "each side is (n - 1)·stride - 2·padding + k: scatter into a "
                "((n-1)·s + k)-sized canvas, then crop `padding` cells from every border"))
        if not np.allclose(got, want, atol=1e-6):
            hint = ("every input value x[i, j] adds x[i, j]·kernel onto the output block whose "
                    "top-left corner is (i·stride, j·stride); overlapping blocks are summed, "
                    "then `padding` rows/columns are cropped from each border")
            if np.allclose(got, _ref_conv_transpose2d(x, kernel[::-1, ::-1], s, p), atol=1e-6):
                hint = "you flipped the kernel: scatter kernel[a, b] to output (i·s + a, j·s + b)"
            raise AssertionError(f"{call_text}: {first_difference(got, want)} — {hint}.\n"
                                 f"x:\n{grid(x)}\nkernel:\n{grid(kernel)}\n"
                                 f"expected:\n{grid(want)}\ngot:\n{grid(got)}")
    passed(name, len(cases))

