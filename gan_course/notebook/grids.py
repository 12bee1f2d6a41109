"""Pictures for the notebooks: image grids, per-epoch sample grids, loss curves, parameter counts.

Images are tensors ``(B, C, H, W)`` (C = 1 or 3) in [-1, 1] - what the generators output and
the datasets yield - unless ``value_range=(0, 1)`` is passed. Flattened Fashion-MNIST images
``(B, 784)`` are accepted too and shown as 28x28.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torchvision.utils import make_grid, save_image

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _as_images(images: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """Any supported input -> float ``(B, C, H, W)`` in [0, 1] on the CPU."""
    images = torch.as_tensor(images).detach().float().cpu()
    if images.dim() == 2:  # flattened square grey images, e.g. (B, 784) -> (B, 1, 28, 28)
        side = int(round(images.shape[1] ** 0.5))
        if side * side != images.shape[1]:
            raise ValueError(f"cannot show flat images of length {images.shape[1]}: not a square; "
                             f"pass (B, C, H, W) images.")
        images = images.view(-1, 1, side, side)
    elif images.dim() == 3:  # one image (C, H, W)
        images = images.unsqueeze(0)
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images of shape (B, C, H, W) with C = 1 or 3, got "
                         f"{tuple(images.shape)}.")
    lo, hi = value_range
    return ((images - lo) / (hi - lo)).clamp(0, 1)


def save_grid(images: torch.Tensor, path: str | Path, nrow: int = 8,
              value_range: tuple[float, float] = (-1.0, 1.0)) -> Path:
    """Save ``images`` ``(B, C, H, W)`` as one PNG grid of ``nrow`` columns; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(_as_images(images, value_range), path, nrow=nrow, padding=2)
    return path


def show_grid(images: torch.Tensor, nrow: int = 8, title: str | None = None, ax=None,
              value_range: tuple[float, float] = (-1.0, 1.0)):
    """Draw ``images`` ``(B, C, H, W)`` as a grid with matplotlib; returns the axes.

    ``value_range=(0, 1)`` for images already in [0, 1].
    """
    import matplotlib.pyplot as plt

    grid = make_grid(_as_images(images, value_range), nrow=nrow, padding=2, pad_value=1.0)
    if ax is None:
        rows = _ceil_div(len(images), nrow)
        _, ax = plt.subplots(figsize=(min(12, 1.5 * nrow), min(12, 1.5 * rows) + 0.3))
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def _ceil_div(n: int, k: int) -> int:
    """``ceil(n / k)`` for positive ints (rows of a grid)."""
    return max(1, -(-int(n) // int(k)))


def plot_history(df, ax=None, smooth: int | None = None, columns: list[str] | None = None,
                 ylabel: str | None = None):
    """Curves from a training history DataFrame (``fit``'s result or ``history.csv``).

    One line per column (all columns except ``step``, ``epoch``, ``seconds`` unless ``columns``
    is given) against ``step``; ``smooth`` = rolling-mean window (default: about 1/50 of the run,
    at least 1) because per-step GAN losses are noisy. ``ylabel`` defaults to "loss" when every
    column is a loss and "value" otherwise (a Wasserstein estimate or a penalty is not a loss).
    Returns the axes.
    """
    import matplotlib.pyplot as plt
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        df = pd.DataFrame(df)
    if df.empty:
        raise ValueError("the history is empty: train for at least one step first.")
    columns = columns or [c for c in df.columns if c not in ("step", "epoch", "seconds")]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"columns {missing} are not in the history; it has {list(df.columns)}.")
    x = df["step"] if "step" in df.columns else df.index
    window = smooth or max(1, len(df) // 50)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    for col in columns:
        ax.plot(x, df[col].rolling(window, min_periods=1).mean(), label=col)
    ax.set_xlabel("step")
    if ylabel is None:
        ylabel = "loss" if all(c.startswith("loss") for c in columns) else "value"
    ax.set_ylabel(ylabel + (f" (rolling mean of {window})" if window > 1 else ""))
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def plot_gan_history(history) -> Figure:
    """The two panels of a BCE GAN run (MLP GAN, DCGAN): D and G losses, and D's mean probability
    "real" for real and fake batches. Returns the figure."""
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_prob) = plt.subplots(1, 2, figsize=(12, 3.6))
    plot_history(history, ax=ax_loss, columns=["loss_d", "loss_g"])
    ax_loss.set_title("losses")
    plot_history(history, ax=ax_prob, columns=["d_real", "d_fake"], ylabel="mean sigmoid(D(x))")
    ax_prob.set_title("D's probability 'real' for real and fake batches")
    fig.tight_layout()
    return fig


def show_epoch_grids(out_dir: str | Path, k: int = 4) -> Figure:
    """Up to ``k`` of a run's per-epoch sample grids (first, last and evenly between), 2 per row.

    The grids come from ``out_dir/samples/epoch_*.png`` written by the training loop from the
    same fixed inputs, so they show one generator improving. Returns the figure.
    """
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    grids = sorted((Path(out_dir) / "samples").glob("epoch_*.png"))
    if not grids:
        raise FileNotFoundError(f"No sample grids in {Path(out_dir) / 'samples'}: train first.")
    picks = [grids[i] for i in sorted({round(j * (len(grids) - 1) / max(1, k - 1))
                                       for j in range(k)})]
    rows = _ceil_div(len(picks), 2)
    fig, axes = plt.subplots(rows, 2, figsize=(12, 3.3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, path in zip(axes.flat, picks):
        ax.imshow(mpimg.imread(path), interpolation="nearest")  # crisp pixels, as show_grid; a
        # smoothed upscale of colour grids also doubled the size of a stored notebook
        ax.set_title(path.stem.replace("_", " "))
    fig.tight_layout()
    return fig


def n_params(model: torch.nn.Module) -> int:
    """Number of parameters (weights and biases) of ``model``."""
    return sum(p.numel() for p in model.parameters())
