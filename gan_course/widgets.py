"""Interactive explorers for the notebooks.

Every explorer here has two parts:

1. a **pure render function** ``render_<name>(...)`` that takes plain values (ints, floats,
   strings) and returns data only: a text, an array and/or a :class:`matplotlib.figure.Figure`.
   It touches no widget and no global pyplot state, so a checked notebook cell or a unit test can
   call it directly and compare its output;
2. a **thin ipywidgets wrapper** ``<name>()`` that builds the sliders (core ipywidgets only:
   ``IntSlider``/``FloatSlider``/``Dropdown`` + ``HTML``/``Output``, so it runs on Colab), calls
   the render function whenever a slider moves, and returns the widget box to display.
   Each slider has a ``description=`` that a browser test can find.

ipywidgets is imported inside the wrappers only, so importing this module (and testing the
render functions) does not need a Jupyter frontend.

Explorers of plain layers live here; explorers that need trained GAN models (the cGAN's label
and latent sliders of notebook 05, the CycleGAN round trip of notebook 06) follow the same two-part
pattern in :mod:`gan_course.explorers`.

- ``render_conv_explorer`` / ``conv_explorer`` (notebook 02): output shape and sliding-window
  picture of a convolution for a given input size, kernel size, stride and padding.
"""

from __future__ import annotations

import html
import io

from matplotlib.figure import Figure

from gan_course.conv import conv_output_size
from gan_course.conv_viz import plot_kernel_does_not_fit, plot_sliding_window

# ---------------------------------------------------------------------------------------------
# Conv explorer (notebook 02_convolution_padding_stride)
# ---------------------------------------------------------------------------------------------


def render_conv_explorer(input_size: int, kernel_size: int, stride: int,
                         padding: int) -> tuple[str, Figure]:
    r"""Describe and draw a square convolution ``Conv2d(1, 1, kernel_size, stride, padding)``.

    Returns ``(text, fig)``. For a valid setting the text's first line is
    ``"output shape: (1, 1, H, W)"`` for a ``(1, 1, input_size, input_size)`` input, and the second
    line shows the formula :math:`\lfloor (n + 2p - k)/s \rfloor + 1` with the numbers filled in;
    ``fig`` is :func:`gan_course.conv_viz.plot_sliding_window`.

    For an impossible setting (kernel larger than the padded input, or a size below 1) the text
    starts with ``"invalid:"`` and says what to change, and ``fig`` shows the overflowing kernel;
    no exception is raised, so a slider can never break the widget.
    """
    n, k, s, p = int(input_size), int(kernel_size), int(stride), int(padding)
    if min(n, k, s) < 1 or p < 0:
        msg = (f"invalid: input size, kernel size and stride must be at least 1 and padding at "
               f"least 0 (got input size {n}, kernel size {k}, stride {s}, padding {p}).")
        return msg, _message_figure(msg)
    try:
        out = conv_output_size(n, k, s, p)
    except ValueError:
        msg = (f"invalid: kernel size {k} is larger than the padded input "
               f"{n} + 2·{p} = {n + 2 * p}, so the window fits nowhere. "
               f"Use a kernel size ≤ {n + 2 * p} or a padding ≥ {-(-(k - n) // 2)}.")
        return msg, plot_kernel_does_not_fit(n, k, p)
    text = (f"output shape: (1, 1, {out}, {out})\n"
            f"⌊({n} + 2·{p} − {k}) / {s}⌋ + 1 = ⌊{n + 2 * p - k} / {s}⌋ + 1 = {out}")
    return text, plot_sliding_window(n, k, s, p)


def conv_explorer(input_size: int = 7, kernel_size: int = 3, stride: int = 1, padding: int = 0,
                  max_size: int = 12):
    """ipywidgets box with sliders "input size", "kernel size", "stride", "padding".

    Moving a slider re-renders :func:`render_conv_explorer`: the output-shape text in an ``HTML``
    widget and the sliding-window figure in an ``Output`` widget. Returns the ``VBox``.
    """
    import ipywidgets as W
    from IPython.display import Image, display

    style = {"description_width": "initial"}
    sliders = {
        "input_size": W.IntSlider(value=input_size, min=1, max=max_size, description="input size",
                                  style=style, continuous_update=False),
        "kernel_size": W.IntSlider(value=kernel_size, min=1, max=7, description="kernel size",
                                   style=style, continuous_update=False),
        "stride": W.IntSlider(value=stride, min=1, max=4, description="stride",
                              style=style, continuous_update=False),
        "padding": W.IntSlider(value=padding, min=0, max=3, description="padding",
                               style=style, continuous_update=False),
    }
    text_box = W.HTML()
    picture = W.Output()

    def update(_change=None):
        text, fig = render_conv_explorer(**{name: sl.value for name, sl in sliders.items()})
        text_box.value = f"<pre style='margin:0'>{html.escape(text)}</pre>"
        picture.clear_output(wait=True)
        with picture:
            # PNG bytes display the same under any matplotlib backend (inline, Agg, Colab).
            display(Image(data=_png(fig)))

    for sl in sliders.values():
        sl.observe(update, names="value")
    update()
    return W.VBox([W.HBox([sliders["input_size"], sliders["kernel_size"]]),
                   W.HBox([sliders["stride"], sliders["padding"]]), text_box, picture])


def _png(fig: Figure) -> bytes:
    """Render ``fig`` to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()


def _message_figure(message: str) -> Figure:
    """A small empty figure carrying ``message`` (keeps render functions' return type uniform)."""
    fig = Figure(figsize=(4.0, 1.0))
    fig.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=9)
    return fig
