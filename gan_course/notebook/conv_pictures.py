"""Pictures of convolution arithmetic (matplotlib): the sliding window and the transposed "scatter-add".

Every function builds and returns a :class:`matplotlib.figure.Figure` without touching pyplot's
global state, so widgets and tests can call them repeatedly without leaking open figures. In a
notebook, ``display(fig)`` (or leaving ``fig`` as the last expression) shows it.

Artists that tests look for carry a ``gid``:

- ``"window-first"``: the first kernel window (filled), ``"window-next"``: its next positions
  one stride to the right and one stride down (dashed), ``"window-centres"``: one dot per
  window position, i.e. ``H_out * W_out`` dots.
- ``"stamp"``: one rectangle per input cell in the transposed-convolution picture.
- ``"value"``: one number per annotated cell in :func:`plot_value_grids`.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from gan_course.notebook.conv import (
    conv_output_size,
    conv_transpose2d_numpy,
    conv_transpose_output_size,
)

WINDOW_COLOUR = "tab:orange"
# Cell colours of the padded-input grid: 0 input, 1 padding, 2 input never reached by a window.
_GRID_CMAP = ListedColormap(["white", "#d9d9d9", "#f4c7c3"])


def _grid_axes(ax, rows: int, cols: int) -> None:
    """Draw cell borders for a ``rows x cols`` grid shown with imshow and hide the tick labels."""
    # No major ticks: matplotlib drops minor ticks that coincide with major ones, which would
    # silently remove some grid lines.
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xticks(np.arange(-0.5, cols, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
    ax.grid(which="minor", color="0.6", linewidth=0.6)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)


def _padded_grid(input_size: int, padding: int) -> np.ndarray:
    """Cell codes of the padded input: 0 = real input, 1 = padding."""
    m = input_size + 2 * padding
    grid = np.ones((m, m), dtype=int)
    grid[padding:padding + input_size, padding:padding + input_size] = 0
    return grid


def plot_sliding_window(input_size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                        figsize: tuple[float, float] = (8.0, 4.0)) -> Figure:
    """Draw where a square ``kernel_size`` window lands on a square ``input_size`` input.

    Left panel: the padded input (padding cells grey, input cells no window ever reaches pink;
    the legend under it names only the colours present), the first window filled, the next window to the right and below dashed, and a dot at the
    centre of every window position. Right panel: the ``H_out x W_out`` output, one cell per dot.

    Raises:
        ValueError: if the kernel does not fit in the padded input (see ``conv_output_size``).
    """
    n_out = conv_output_size(input_size, kernel_size, stride, padding)
    grid = _padded_grid(input_size, padding)
    m = grid.shape[0]
    covered = np.zeros_like(grid, dtype=bool)
    for i in range(n_out):
        for j in range(n_out):
            covered[i * stride:i * stride + kernel_size, j * stride:j * stride + kernel_size] = True
    grid[(grid == 0) & ~covered] = 2  # input cells that the stride skips over

    fig = Figure(figsize=figsize, layout="constrained")
    ax_in, ax_out = fig.subplots(1, 2, width_ratios=[m, max(n_out, 1)])
    ax_in.imshow(grid, cmap=_GRID_CMAP, vmin=0, vmax=2)
    _grid_axes(ax_in, m, m)
    k = kernel_size
    ax_in.add_patch(Rectangle((-0.5, -0.5), k, k, facecolor=WINDOW_COLOUR, alpha=0.45,
                              edgecolor=WINDOW_COLOUR, linewidth=2.5, gid="window-first"))
    if n_out > 1:  # the next positions show how far one stride jumps
        for dx, dy in ((stride, 0), (0, stride)):
            ax_in.add_patch(Rectangle((dx - 0.5, dy - 0.5), k, k, fill=False,
                                      edgecolor=WINDOW_COLOUR, linewidth=1.8, linestyle="--",
                                      gid="window-next"))
    centre = (k - 1) / 2
    jj, ii = np.meshgrid(np.arange(n_out), np.arange(n_out))
    ax_in.scatter(jj.ravel() * stride + centre, ii.ravel() * stride + centre, s=18,
                  color="tab:blue", zorder=3, gid="window-centres")
    ax_in.set_title(f"padded input {m}×{m}\n(input {input_size}, padding {padding})", fontsize=10)
    ax_in.set_xlabel(_window_legend(padding > 0, bool((grid == 2).any())), fontsize=8)

    ax_out.imshow(np.zeros((n_out, n_out)), cmap=_GRID_CMAP, vmin=0, vmax=2)
    _grid_axes(ax_out, n_out, n_out)
    ax_out.add_patch(Rectangle((-0.5, -0.5), 1, 1, facecolor=WINDOW_COLOUR, alpha=0.45))
    ax_out.scatter(jj.ravel(), ii.ravel(), s=18, color="tab:blue", zorder=3)
    ax_out.set_title(f"output {n_out}×{n_out}", fontsize=10)
    fig.suptitle(f"kernel {kernel_size}, stride {stride}, padding {padding}: "
                 f"{n_out * n_out} window positions", fontsize=11)
    return fig


def _window_legend(has_padding: bool, has_skipped: bool) -> str:
    """Legend of the padded-input panel: name only the cell colours that are in the picture."""
    parts = (["grey: padding"] if has_padding else []) + (
        ["pink: input no window reaches"] if has_skipped else [])
    return " · ".join(parts) if parts else "every input cell is inside some window"


def plot_kernel_does_not_fit(input_size: int, kernel_size: int, padding: int = 0,
                             figsize: tuple[float, float] = (4.0, 4.0)) -> Figure:
    """Draw the padded input with the too-large kernel overflowing it (red, dashed)."""
    grid = _padded_grid(input_size, padding)
    m = grid.shape[0]
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    ax.imshow(grid, cmap=_GRID_CMAP, vmin=0, vmax=2)
    _grid_axes(ax, m, m)
    ax.set_xlim(-0.5, max(m, kernel_size) - 0.5)
    ax.set_ylim(max(m, kernel_size) - 0.5, -0.5)
    ax.add_patch(Rectangle((-0.5, -0.5), kernel_size, kernel_size, fill=False,
                           edgecolor="tab:red", linewidth=2.5, linestyle="--", gid="window-overflow"))
    ax.set_title(f"kernel {kernel_size} does not fit\nin the padded input {m}×{m}", fontsize=10)
    return fig


def plot_transposed_scatter(x, kernel, stride: int = 1, padding: int = 0,
                            figsize: tuple[float, float] | None = None) -> Figure:
    """Show a transposed convolution as one kernel "stamp" per input cell, then their sum.

    One small panel per input cell ``x[i, j]``: the full canvas with ``x[i, j] * kernel`` written
    at offset ``(i * stride, j * stride)``. The last panel is the sum of all stamps; with
    ``padding > 0`` the cut-away border is greyed and the kept output is outlined.

    Args:
        x: ``(H, W)`` input, at most 4×4 (one panel per cell). kernel: ``(kh, kw)``.
    """
    x = np.asarray(x, dtype=float)
    w = np.asarray(kernel, dtype=float)
    if x.ndim != 2 or w.ndim != 2:
        raise ValueError(f"plot_transposed_scatter takes 2-D x and kernel, got {x.shape} and {w.shape}.")
    if max(x.shape) > 4:
        raise ValueError(f"x is {x.shape}: the picture draws one panel per input cell, "
                         f"so keep x at most 4×4.")
    h, wd = x.shape
    kh, kw = w.shape
    H, W = (h - 1) * stride + kh, (wd - 1) * stride + kw  # full canvas before cropping
    h_out = conv_transpose_output_size(h, kh, stride, padding)
    w_out = conv_transpose_output_size(wd, kw, stride, padding)
    out = conv_transpose2d_numpy(x, w, stride, padding)

    if figsize is None:
        figsize = (1.6 * (wd + 2), 1.6 * h + 0.8)
    fig = Figure(figsize=figsize, layout="constrained")
    gs = fig.add_gridspec(h, wd + 2)

    def number_grid(ax, values, mask):
        ax.imshow(np.where(mask, 1.0, 0.0), cmap=ListedColormap(["white", "#fde0c5"]),
                  vmin=0, vmax=1)
        _grid_axes(ax, H, W)
        for (r, c), v in np.ndenumerate(values):
            if mask[r, c]:
                ax.text(c, r, f"{v:g}", ha="center", va="center", fontsize=8)

    for i in range(h):
        for j in range(wd):
            ax = fig.add_subplot(gs[i, j])
            canvas = np.zeros((H, W))
            mask = np.zeros((H, W), dtype=bool)
            canvas[i * stride:i * stride + kh, j * stride:j * stride + kw] = x[i, j] * w
            mask[i * stride:i * stride + kh, j * stride:j * stride + kw] = True
            number_grid(ax, canvas, mask)
            ax.add_patch(Rectangle((j * stride - 0.5, i * stride - 0.5), kw, kh, fill=False,
                                   edgecolor=WINDOW_COLOUR, linewidth=2, gid="stamp"))
            ax.set_title(f"x[{i},{j}]={x[i, j]:g} × kernel", fontsize=8)

    ax = fig.add_subplot(gs[:, wd:])
    full = np.zeros((H, W))
    for i in range(h):
        for j in range(wd):
            full[i * stride:i * stride + kh, j * stride:j * stride + kw] += x[i, j] * w
    number_grid(ax, full, np.ones((H, W), dtype=bool))
    if padding > 0:
        cut = np.ones((H, W), dtype=bool)
        cut[padding:padding + h_out, padding:padding + w_out] = False
        ax.imshow(np.where(cut, 1.0, np.nan), cmap=ListedColormap(["#bdbdbd"]), alpha=0.8)
        ax.add_patch(Rectangle((padding - 0.5, padding - 0.5), w_out, h_out, fill=False,
                               edgecolor="tab:blue", linewidth=2.5, gid="kept-output"))
    ax.set_title(f"sum of stamps {H}×{W}" + (f"\nkept after padding {padding}: {out.shape[0]}×{out.shape[1]}"
                                              if padding else ""), fontsize=9)
    fig.suptitle(f"transposed convolution, stride {stride}: each input cell stamps the kernel",
                 fontsize=10)
    return fig


def plot_value_grids(grids, titles=None, suptitle: str | None = None, annotate: bool | None = None,
                     cmap: str = "Oranges", panel_size: float = 2.2) -> Figure:
    """Show 2-D arrays side by side as coloured grids, one panel each, with their numbers written in.

    Used for the stamp counts of a transposed convolution (which output pixels get 1, 2 or 4
    stamps) and for the outputs of upsampling layers on a constant input (checkerboard or not).
    Each panel has its own colour scale (white = its smallest value), so a pattern shows even when
    the values differ little; a constant panel is white.

    Args:
        grids: a sequence of 2-D arrays, or a dict ``{title: array}``.
        titles: panel titles (ignored when ``grids`` is a dict).
        annotate: write every value in its cell (``"value"`` gid); default: only for grids of at
            most 10 x 10 cells.
    """
    if isinstance(grids, dict):
        titles, grids = list(grids), list(grids.values())
    arrays = [np.asarray(g, dtype=float) for g in grids]
    if not arrays or any(a.ndim != 2 for a in arrays):
        raise ValueError(f"plot_value_grids takes one or more 2-D arrays, got shapes "
                         f"{[a.shape for a in arrays]}.")
    titles = list(titles) if titles is not None else [""] * len(arrays)
    if len(titles) != len(arrays):
        raise ValueError(f"{len(titles)} titles for {len(arrays)} grids.")
    fig = Figure(figsize=(panel_size * len(arrays), panel_size + (0.5 if suptitle else 0.2)),
                 layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(arrays)))
    for ax, a, title in zip(axes, arrays, titles):
        lo, hi = float(a.min()), float(a.max())
        ax.imshow(a, cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1)
        _grid_axes(ax, *a.shape)
        write = annotate if annotate is not None else max(a.shape) <= 10
        if write:
            size = 8 if max(a.shape) <= 6 else 6
            for (r, c), v in np.ndenumerate(a):
                ax.text(c, r, f"{v:.3g}", ha="center", va="center", fontsize=size, gid="value")
        ax.set_title(title, fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return fig
