"""Convolution arithmetic in plain NumPy: the reference the notebooks build by hand.

These functions are slow on purpose: every output number is computed by an explicit loop, so a
student can read them next to the formulas. Tests check that each one matches PyTorch
(``F.conv2d``, ``F.conv_transpose2d``, ``F.batch_norm``) exactly, up to float rounding.

Conventions (the same as PyTorch's):

- A *convolution* in deep learning is a cross-correlation: the kernel is **not** flipped.
- Images are ``(H, W)`` (one channel) or channels-first ``(C, H, W)``; kernels are ``(kh, kw)`` or
  ``(C, kh, kw)``. The result always has a single output channel, shape ``(H_out, W_out)``.
- ``stride`` and ``padding`` are ints (the same along both axes).
"""

from __future__ import annotations

import numpy as np

PADDING_MODES = ("zeros", "reflect")


def conv_output_size(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    r"""Output length of a convolution along one axis.

    .. math:: n_\text{out} = \left\lfloor \frac{n + 2p - d(k-1) - 1}{s} \right\rfloor + 1

    which for dilation ``d = 1`` is the familiar :math:`\lfloor (n + 2p - k)/s \rfloor + 1`.

    Args:
        n: input length (height or width), k: kernel size, s: stride, p: padding per side,
        d: dilation (spacing between kernel taps).

    Raises:
        ValueError: when a size is not positive, or when the (dilated) kernel does not fit in the
            padded input, so there is no valid window position at all.
    """
    _check_positive({"input size n": n, "kernel size k": k, "stride s": s, "dilation d": d})
    if p < 0:
        raise ValueError(f"padding must be >= 0, got {p}.")
    span = d * (k - 1) + 1  # how many input cells one (dilated) kernel covers
    if span > n + 2 * p:
        raise ValueError(
            f"The kernel (covers {span} cells) is larger than the padded input "
            f"({n} + 2*{p} = {n + 2 * p} cells): use a smaller kernel or more padding.")
    return (n + 2 * p - span) // s + 1


def conv_transpose_output_size(n: int, k: int, s: int = 1, p: int = 0,
                               output_padding: int = 0) -> int:
    r"""Output length of a transposed convolution along one axis.

    .. math:: n_\text{out} = (n - 1)\,s - 2p + k + \text{output\_padding}

    Each of the ``n`` inputs stamps a ``k``-wide copy of the kernel, ``s`` cells after the
    previous one: that covers ``(n - 1)s + k`` cells; ``p`` cells are then cut from each side and
    ``output_padding`` extra cells are added at the end (to pick between sizes that the forward
    convolution would map to the same ``n``).

    Raises:
        ValueError: for non-positive sizes, ``output_padding >= s`` (PyTorch's rule), or a
            non-positive result.
    """
    _check_positive({"input size n": n, "kernel size k": k, "stride s": s})
    if p < 0:
        raise ValueError(f"padding must be >= 0, got {p}.")
    if not 0 <= output_padding < s:
        raise ValueError(f"output_padding must be in [0, stride) = [0, {s}), got {output_padding}.")
    out = (n - 1) * s - 2 * p + k + output_padding
    if out <= 0:
        raise ValueError(f"padding {p} cuts away the whole output ((n-1)s + k = "
                         f"{(n - 1) * s + k} cells): use less padding.")
    return out


def pad_numpy(image: np.ndarray, padding: int, mode: str = "zeros") -> np.ndarray:
    """Pad the last two axes of ``image`` by ``padding`` cells on every side.

    ``mode="zeros"`` adds zeros; ``mode="reflect"`` mirrors the image without repeating the edge
    cell (``[1, 2, 3]`` padded by 1 becomes ``[2, 1, 2, 3, 2]``), like PyTorch's ``"reflect"``.
    """
    if mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {mode!r}.")
    image = np.asarray(image)
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}.")
    if padding == 0:
        return image
    widths = [(0, 0)] * (image.ndim - 2) + [(padding, padding)] * 2
    if mode == "zeros":
        return np.pad(image, widths, mode="constant", constant_values=0)
    if padding >= min(image.shape[-2:]):
        # Reflection can only mirror cells that exist beyond the edge one.
        raise ValueError(f"reflect padding must be smaller than the image size "
                         f"{image.shape[-2:]}, got {padding}: use less padding or mode='zeros'.")
    return np.pad(image, widths, mode="reflect")


def conv2d_numpy(image, kernel, bias: float = 0.0, stride: int = 1, padding: int = 0,
                 padding_mode: str = "zeros") -> np.ndarray:
    r"""2-D convolution (cross-correlation) by explicit loops, single output channel.

    .. math:: y_{ij} = b + \sum_{c}\sum_{u=0}^{k_h-1}\sum_{v=0}^{k_w-1}
              w_{c,u,v}\; \tilde x_{c,\; i s + u,\; j s + v}

    where :math:`\tilde x` is the input padded by ``padding`` on every side.

    Args:
        image: ``(H, W)`` or ``(C, H, W)`` array.
        kernel: ``(kh, kw)`` or ``(C, kh, kw)`` array (same ``C`` as the image).
        bias: added to every output cell.
        stride: step between window positions. padding: cells added per side.
        padding_mode: ``"zeros"`` or ``"reflect"``.

    Returns:
        ``(H_out, W_out)`` float64 array with ``H_out = conv_output_size(H, kh, stride, padding)``.
    """
    x, w = _as_chw(image, "image"), _as_chw(kernel, "kernel")
    if x.shape[0] != w.shape[0]:
        raise ValueError(f"image has {x.shape[0]} channels but kernel has {w.shape[0]}: "
                         f"give the kernel one (kh, kw) slice per image channel.")
    _, kh, kw = w.shape
    h_out = conv_output_size(x.shape[1], kh, stride, padding)
    w_out = conv_output_size(x.shape[2], kw, stride, padding)
    xp = pad_numpy(x, padding, padding_mode)
    out = np.empty((h_out, w_out), dtype=np.float64)
    for i in range(h_out):
        for j in range(w_out):
            # The window's top-left corner moves `stride` cells per output step.
            window = xp[:, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[i, j] = np.sum(window * w) + bias
    return out


def conv_transpose2d_numpy(x, kernel, stride: int = 1, padding: int = 0,
                           output_padding: int = 0) -> np.ndarray:
    r"""2-D transposed convolution by "scatter-add", single output channel.

    Every input cell stamps a scaled copy of the kernel into the output, with the stamp's corner
    moving ``stride`` cells per input step; overlapping stamps add up:

    .. math:: \tilde y_{i s + u,\; j s + v} \mathrel{+}= \sum_c x_{c,i,j}\, w_{c,u,v}

    then ``padding`` cells are cut from every side of :math:`\tilde y` (and ``output_padding``
    extra cells kept at the bottom/right).

    Args:
        x: ``(H, W)`` or ``(C, H, W)`` array. kernel: ``(kh, kw)`` or ``(C, kh, kw)``.

    Returns:
        ``(H_out, W_out)`` float64 array, ``H_out = conv_transpose_output_size(H, kh, stride,
        padding, output_padding)``.
    """
    xc, w = _as_chw(x, "x"), _as_chw(kernel, "kernel")
    if xc.shape[0] != w.shape[0]:
        raise ValueError(f"x has {xc.shape[0]} channels but kernel has {w.shape[0]}: "
                         f"give the kernel one (kh, kw) slice per input channel.")
    c, h, wd = xc.shape
    _, kh, kw = w.shape
    h_out = conv_transpose_output_size(h, kh, stride, padding, output_padding)
    w_out = conv_transpose_output_size(wd, kw, stride, padding, output_padding)
    # Full (uncropped) canvas, plus room for output_padding.
    full = np.zeros(((h - 1) * stride + kh + output_padding,
                     (wd - 1) * stride + kw + output_padding))
    for ch in range(c):
        for i in range(h):
            for j in range(wd):
                full[i * stride:i * stride + kh, j * stride:j * stride + kw] += xc[ch, i, j] * w[ch]
    return full[padding:padding + h_out, padding:padding + w_out]


def stamp_counts(n: int, k: int, s: int = 1, p: int = 0, output_padding: int = 0) -> np.ndarray:
    r"""How many kernel stamps land on each output pixel of a transposed convolution.

    A transposed convolution of an ``n x n`` input with a ``k x k`` kernel and stride ``s`` adds one
    ``k x k`` stamp per input cell, ``s`` cells apart. Output pixel ``(i, j)`` is the sum of
    ``stamp_counts(...)[i, j]`` products ``x * w``. Where that number varies from pixel to pixel
    (``k`` not divisible by ``s``: *uneven overlap*), a constant input already gives a patterned
    output -- the origin of checkerboard artefacts (Odena, Dumoulin & Olah, 2016).

    It is the transposed convolution of an all-ones input with an all-ones kernel, so the counts
    are ``c_i c_j`` with ``c`` the one-axis counts (1, 2 or 4 in 2-D for ``k = 4, s = 2``).

    Returns:
        int array of shape ``(n_out, n_out)``, ``n_out = conv_transpose_output_size(n, k, s, p,
        output_padding)``.
    """
    counts = conv_transpose2d_numpy(np.ones((n, n)), np.ones((k, k)), s, p, output_padding)
    return np.rint(counts).astype(int)


def batchnorm_numpy(x, eps: float = 1e-5, gamma=None, beta=None) -> np.ndarray:
    r"""Batch normalisation in training mode, per channel (axis 1).

    .. math:: \mu_c = \operatorname{mean}_{n,h,w} x_{n,c,h,w}, \quad
              \sigma_c^2 = \operatorname{mean}_{n,h,w} (x_{n,c,h,w} - \mu_c)^2

    .. math:: y_{n,c,h,w} = \gamma_c \frac{x_{n,c,h,w} - \mu_c}{\sqrt{\sigma_c^2 + \epsilon}} + \beta_c

    The variance is the *biased* one (divide by the count ``m``), as PyTorch uses for normalising.

    Args:
        x: ``(N, C)`` or ``(N, C, H, W)`` (any ``(N, C, ...)``) array.
        eps: added to the variance so a constant channel does not divide by zero.
        gamma, beta: optional ``(C,)`` scale and shift (default 1 and 0).

    Returns:
        float64 array of the same shape as ``x``.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2:
        raise ValueError(f"batchnorm_numpy expects (N, C, ...) with a batch axis, got shape {x.shape}.")
    axes = (0,) + tuple(range(2, x.ndim))  # everything except the channel axis
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)  # broadcast per-channel vectors
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    if gamma is not None:
        y = y * np.asarray(gamma, dtype=np.float64).reshape(shape)
    if beta is not None:
        y = y + np.asarray(beta, dtype=np.float64).reshape(shape)
    return y


def _as_chw(a, name: str) -> np.ndarray:
    """Return ``a`` as a float64 ``(C, H, W)`` array; a 2-D input gets ``C = 1``."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 2:
        return a[None]
    if a.ndim == 3:
        return a
    raise ValueError(f"{name} must be 2-D (H, W) or 3-D (C, H, W), got shape {a.shape}.")


def _check_positive(sizes: dict[str, int]) -> None:
    for name, value in sizes.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
