"""Interactive explorers for the notebooks: the conv explorer (02), the cGAN label and latent
sliders (06) and the CycleGAN round trip (07).

Each explorer has two layers:

- a **pure render function** ``render_<name>(...)`` that turns plain values (and models + inputs)
  into data only: a text, a ``uint8`` RGB array and/or a :class:`matplotlib.figure.Figure`
  (:func:`render_conv_explorer`, :func:`render_cgan_faces`, :func:`render_cyclegan_roundtrip`).
  Tests and checked notebook cells call these directly; they do not touch widgets, files or
  global pyplot state (a model in training mode is switched to eval mode for the call and back);
- a **thin widget wrapper** (:func:`conv_explorer`, :func:`cgan_explorer`,
  :func:`cyclegan_explorer`) built from core ``ipywidgets`` only (sliders, a dropdown, ``HTML``,
  ``Output``, ``Image``), so it also runs on Colab. It only wires sliders to the render function.
  Each slider has a ``description=`` that a browser test can find; ipywidgets is imported inside
  the wrappers only, so the render functions need no Jupyter frontend.

Image conventions: models read and write float tensors ``(B, 3, H, W)`` in ``[-1, 1]``; render
functions return ``np.uint8`` arrays ``(H, W, 3)`` ready for ``plt.imshow`` or PNG encoding.
"""

from __future__ import annotations

import contextlib
import html
import io
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn as nn
from matplotlib.figure import Figure

from gan_course.data.batches import to_unit_range
from gan_course.notebook.conv import conv_output_size
from gan_course.notebook.conv_pictures import plot_kernel_does_not_fit, plot_sliding_window

__all__ = [
    "CYCLE_DIRECTIONS",
    "conv_explorer",
    "cgan_explorer",
    "cyclegan_explorer",
    "label_weights",
    "png_bytes",
    "render_cgan_faces",
    "render_conv_explorer",
    "render_cyclegan_roundtrip",
    "slerp",
    "to_uint8",
]

CYCLE_DIRECTIONS = {"black → blond": "ab", "blond → black": "ba"}
"""Dropdown labels of :func:`cyclegan_explorer` -> direction codes (``a`` = black, ``b`` = blond)."""


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------

def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Float images in ``[-1, 1]`` -> ``uint8`` channels-last.

    ``(B, 3, H, W)`` -> ``(B, H, W, 3)`` and ``(3, H, W)`` -> ``(H, W, 3)``. Values outside
    ``[-1, 1]`` are clipped (an untrained generator can overshoot only if it has no Tanh).
    """
    x = images.detach().float().cpu()
    if x.dim() not in (3, 4) or x.shape[-3] not in (1, 3):
        raise ValueError(f"expected float images (3, H, W) or (B, 3, H, W) in [-1, 1], got shape "
                         f"{tuple(x.shape)}.")
    x = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.movedim(-3, -1).numpy()


def png_bytes(image: np.ndarray, scale: int = 1) -> bytes:
    """``uint8 (H, W, 3)`` -> PNG bytes, enlarged ``scale`` times by pixel repetition.

    Nearest-neighbour enlargement keeps 64-pixel faces crisp in a widget (a browser would blur them).
    """
    from PIL import Image  # imported here: only the widget wrappers need PIL

    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"png_bytes expects a uint8 array (H, W, 3), got {image.dtype} "
                         f"{image.shape}.")
    if scale > 1:
        image = image.repeat(scale, axis=0).repeat(scale, axis=1)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


@contextlib.contextmanager
def _eval_mode(*models: nn.Module | Callable) -> Iterator[None]:
    """Put ``nn.Module``s in eval mode (BatchNorm uses its running stats) and restore afterwards.

    A single face through a BatchNorm generator in training mode would be normalised against
    itself; eval mode is what sampling needs. Restoring the flag keeps the render function pure.
    """
    modules = [m for m in models if isinstance(m, nn.Module)]
    was_training = [m.training for m in modules]
    try:
        for m in modules:
            m.eval()
        with torch.no_grad():
            yield
    finally:
        for m, flag in zip(modules, was_training):
            m.train(flag)


def _device_of(model: nn.Module | Callable) -> torch.device:
    if isinstance(model, nn.Module):
        for p in model.parameters():
            return p.device
    return torch.device("cpu")


def label_weights(label_weight: float, batch: int = 1, num_classes: int = 2) -> torch.Tensor:
    """Blend of the two classes as float label rows ``(batch, 2)``: ``[w, 1 - w]``.

    With the eyeglasses classes ``["glasses", "no_glasses"]`` (class 0 = glasses, as the book's
    one-hot ``[1, 0]``), ``label_weight = 1`` asks for glasses, ``0`` for no glasses and values in
    between mix the two label vectors ("label arithmetic").
    """
    if num_classes != 2:
        raise ValueError(f"label weights blend exactly two classes; this generator has "
                         f"{num_classes}. Build the (B, K) float rows yourself.")
    w = float(label_weight)
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"label_weight must be in [0, 1] (1 = class 0, 0 = class 1), got {w}.")
    return torch.tensor([[w, 1.0 - w]]).repeat(batch, 1)


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between noise vectors: the point a fraction ``t`` along the arc
    from ``z0`` to ``z1`` (White 2016, "Sampling generative networks").

    ``slerp = sin((1 - t) w) / sin(w) * z0 + sin(t w) / sin(w) * z1``, with ``w`` the angle
    between ``z0`` and ``z1``, row by row for ``(B, latent)`` inputs (or one ``(latent,)``
    vector). Why not the straight line ``(1 - t) z0 + t z1``: two independent Gaussian noise
    vectors of dimension ``d`` both have length about ``sqrt(d)`` and are nearly orthogonal, so
    the straight line's midpoint has length about ``sqrt(d / 2)`` - ``1/sqrt(2)`` of theirs, off
    the shell where every training noise vector lies. Along the arc the length stays between
    the two end lengths (exactly constant when they are equal).

    ``t = 0`` and ``t = 1`` return ``z0`` and ``z1`` exactly (copies). Rows that are (nearly)
    parallel fall back to the straight line, where the two coincide.
    """
    z0, z1 = torch.as_tensor(z0), torch.as_tensor(z1)
    if z0.shape != z1.shape or z0.dim() not in (1, 2):
        raise ValueError(f"slerp needs two noise tensors of the same shape (latent,) or "
                         f"(B, latent), got {tuple(z0.shape)} and {tuple(z1.shape)}.")
    t = float(t)
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"slerp: t must be in [0, 1] (0 = z0, 1 = z1), got {t}.")
    if t == 0.0:
        return z0.clone()
    if t == 1.0:
        return z1.clone()
    a, b = z0.double(), z1.double()  # float64: the angle of nearly parallel rows stays accurate
    cos = (a * b).sum(-1, keepdim=True) / (a.norm(dim=-1, keepdim=True)
                                           * b.norm(dim=-1, keepdim=True)).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    sin = torch.sin(omega)
    arc = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / sin.clamp_min(1e-12)
    line = torch.lerp(a, b, t)
    return torch.where(sin > 1e-6, arc, line).to(z0.dtype)


def _hstack(images: np.ndarray, gap: int = 0) -> np.ndarray:
    """``(B, H, W, 3)`` -> ``(H, B*W + (B-1)*gap, 3)``, white gaps between the panels."""
    if gap <= 0 or len(images) == 1:
        return np.concatenate(list(images), axis=1)
    h, _, c = images.shape[1:]
    spacer = np.full((h, gap, c), 255, dtype=np.uint8)
    parts: list[np.ndarray] = []
    for i, img in enumerate(images):
        if i:
            parts.append(spacer)
        parts.append(img)
    return np.concatenate(parts, axis=1)


# ---------------------------------------------------------------------------------------------
# cGAN: label weight x latent interpolation
# ---------------------------------------------------------------------------------------------

def render_cgan_faces(generator: nn.Module, z: torch.Tensor, label_weight: float,
                      interpolation: float = 0.0, z_other: torch.Tensor | None = None,
                      gap: int = 2) -> np.ndarray:
    """Faces from a conditional generator for a label blend and a point between two noise vectors.

    Args:
        generator: called as ``generator(z (B, latent), labels (B, 2) float)`` -> ``(B, 3, S, S)``
            in ``[-1, 1]`` (e.g. :class:`gan_course.models.CGANGenerator`).
        z: noise ``(latent,)`` for one face or ``(B, latent)`` for a row of ``B`` faces.
        label_weight: ``w`` in ``[0, 1]``; label rows are ``[w, 1 - w]`` (see :func:`label_weights`).
        interpolation: ``t`` in ``[0, 1]``; the noise used is ``slerp(z, z_other, t)``, the
            spherical interpolation of :func:`slerp` (``t = 0`` gives ``z``'s faces exactly,
            ``t = 1`` gives ``z_other``'s; in between the noise keeps the length of training
            noise, where a straight line would shrink it). Ignored when ``z_other`` is ``None``.
        z_other: second noise, same shape as ``z``, or ``None``.
        gap: white pixels between faces in a row.

    Returns:
        ``np.uint8`` array ``(S, B*S + (B-1)*gap, 3)``; ``(S, S, 3)`` for a single ``z``.
    """
    z = torch.as_tensor(z, dtype=torch.float32)
    if z.dim() == 1:
        z = z[None]
    if z.dim() != 2:
        raise ValueError(f"z must be (latent,) or (B, latent), got shape {tuple(z.shape)}.")
    t = float(interpolation)
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"interpolation must be in [0, 1], got {t}.")
    if z_other is not None:
        z_other = torch.as_tensor(z_other, dtype=torch.float32).reshape(-1, z.shape[1])
        if z_other.shape != z.shape:
            raise ValueError(f"z_other must have the same shape as z {tuple(z.shape)}, got "
                             f"{tuple(z_other.shape)}.")
        z = slerp(z, z_other, t)  # exact endpoints: t = 0 / 1 reproduce z / z_other
    num_classes = getattr(generator, "num_classes", 2)
    labels = label_weights(label_weight, batch=z.shape[0], num_classes=num_classes)
    device = _device_of(generator)
    with _eval_mode(generator):
        images = generator(z.to(device), labels.to(device))
    return _hstack(to_uint8(images), gap=gap)


def cgan_explorer(generator: nn.Module, z: torch.Tensor | None = None,
                  z_other: torch.Tensor | None = None, n_faces: int = 4, seed: int = 0,
                  scale: int = 3):
    """Widget: sliders ``"label weight"`` and ``"interpolation"`` -> generated faces.

    ``z``/``z_other``: noise ``(B, latent)`` for the two ends of the interpolation; by default
    two seeded draws of ``n_faces`` vectors each (``seed``, ``seed + 1``), so every reader sees
    the same faces. Returns an ``ipywidgets.VBox`` (sliders, then an ``Image``); display it as
    the last expression of a cell. Rendering is :func:`render_cgan_faces`.
    """
    import ipywidgets as widgets

    latent = getattr(generator, "latent_dim", None)
    if z is None or z_other is None:
        if latent is None:
            raise ValueError("pass z and z_other: the generator has no latent_dim attribute to "
                             "draw them from.")
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n_faces, latent, generator=g) if z is None else z
        z_other = torch.randn(*torch.as_tensor(z).shape, generator=g) if z_other is None else z_other
    weight = widgets.FloatSlider(value=1.0, min=0.0, max=1.0, step=0.05,
                                 description="label weight", continuous_update=False)
    interp = widgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05,
                                 description="interpolation", continuous_update=False)
    for s in (weight, interp):
        s.style.description_width = "initial"
    note = widgets.HTML("label weight 1 = class 0 (glasses), 0 = class 1 (no glasses); "
                        "interpolation moves each face's noise towards a second noise vector "
                        "(spherically: slerp keeps its length).")
    image = widgets.Image(format="png")

    def redraw(_change=None) -> None:
        arr = render_cgan_faces(generator, z, weight.value, interp.value, z_other)
        image.value = png_bytes(arr, scale=scale)

    weight.observe(redraw, names="value")
    interp.observe(redraw, names="value")
    redraw()
    return widgets.VBox([weight, interp, note, image])


# ---------------------------------------------------------------------------------------------
# CycleGAN: original | translated | round trip
# ---------------------------------------------------------------------------------------------

def _as_float_image(image) -> torch.Tensor:
    """One image -> float ``(1, 3, H, W)`` in ``[-1, 1]``.

    Accepts float ``(3, H, W)`` / ``(1, 3, H, W)`` in ``[-1, 1]`` (model layout) or ``uint8``
    ``(3, H, W)`` (the :class:`~gan_course.data.tensors.ImageCache` layout) / ``(H, W, 3)``
    (PIL/matplotlib layout).
    """
    x = torch.as_tensor(np.asarray(image)) if not isinstance(image, torch.Tensor) else image
    if x.dtype == torch.uint8:
        if x.dim() == 3 and x.shape[-1] == 3 and x.shape[0] != 3:
            x = x.movedim(-1, 0)
        x = to_unit_range(x)
    x = x.float()
    if x.dim() == 3:
        x = x[None]
    if x.dim() != 4 or x.shape[0] != 1 or x.shape[1] != 3:
        raise ValueError(f"expected one image: float (3, H, W) in [-1, 1] or uint8 (3, H, W) / "
                         f"(H, W, 3); got shape {tuple(x.shape)} dtype {x.dtype}.")
    return x


def _direction_code(direction: str) -> str:
    code = CYCLE_DIRECTIONS.get(direction, direction)
    if code not in ("ab", "ba"):
        raise ValueError(f"direction must be 'ab' (A->B), 'ba' (B->A) or one of "
                         f"{list(CYCLE_DIRECTIONS)}, got {direction!r}.")
    return code


def render_cyclegan_roundtrip(gen_ab: nn.Module, gen_ba: nn.Module, image,
                              direction: str = "ab") -> np.ndarray:
    """Three panels side by side: original | translated | translated back.

    Args:
        gen_ab: generator domain A -> B (here black hair -> blond hair), ``(B, 3, H, W) -> same``.
        gen_ba: generator B -> A.
        image: one image, float ``(3, H, W)`` / ``(1, 3, H, W)`` in ``[-1, 1]`` or ``uint8``
            ``(3, H, W)`` / ``(H, W, 3)``; from domain A for ``"ab"``, from B for ``"ba"``.
        direction: ``"ab"``, ``"ba"`` or a key of :data:`CYCLE_DIRECTIONS`.

    Returns:
        ``np.uint8`` ``(H, 3W, 3)``. Panel 1 is the input itself (converted to uint8), panel 2
        ``G(x)``, panel 3 ``F(G(x))`` -- the cycle-consistency loss wants panel 3 == panel 1.
    """
    code = _direction_code(direction)
    first, second = (gen_ab, gen_ba) if code == "ab" else (gen_ba, gen_ab)
    x = _as_float_image(image)
    device = _device_of(first)
    with _eval_mode(gen_ab, gen_ba):
        translated = first(x.to(device))
        back = second(translated)
    panels = torch.cat([x, translated.cpu(), back.cpu()])
    return _hstack(to_uint8(panels))


def cyclegan_explorer(gen_ab: nn.Module, gen_ba: nn.Module, images_a: Sequence,
                      images_b: Sequence, scale: int = 3):
    """Widget: ``"image"`` slider + ``"direction"`` dropdown -> original | translated | round trip.

    ``images_a``/``images_b``: indexable collections of single images from domain A (black) and
    B (blond) in any layout :func:`render_cyclegan_roundtrip` accepts (e.g. ``cache.images`` of
    an ImageCache restricted to one class, or a float tensor ``(N, 3, H, W)``). Direction
    ``"black → blond"`` shows A images, ``"blond → black"`` shows B images. Returns an
    ``ipywidgets.VBox``.
    """
    import ipywidgets as widgets

    if len(images_a) == 0 or len(images_b) == 0:
        raise ValueError("cyclegan_explorer needs at least one image of each domain "
                         f"(got {len(images_a)} A and {len(images_b)} B images).")
    direction = widgets.Dropdown(options=list(CYCLE_DIRECTIONS), value="black → blond",
                                 description="direction")
    index = widgets.IntSlider(value=0, min=0, max=len(images_a) - 1, step=1,
                              description="image", continuous_update=False)
    caption = widgets.HTML("original | translated | translated back (round trip)")
    image = widgets.Image(format="png")

    def redraw(_change=None) -> None:
        code = CYCLE_DIRECTIONS[direction.value]
        pool = images_a if code == "ab" else images_b
        index.max = len(pool) - 1  # the slider follows the size of the chosen domain
        arr = render_cyclegan_roundtrip(gen_ab, gen_ba, pool[min(index.value, len(pool) - 1)],
                                        code)
        image.value = png_bytes(arr, scale=scale)

    direction.observe(redraw, names="value")
    index.observe(redraw, names="value")
    redraw()
    return widgets.VBox([direction, index, caption, image])


# ---------------------------------------------------------------------------------------------
# Conv explorer (notebook 02_convolution_padding_stride)
# ---------------------------------------------------------------------------------------------


def render_conv_explorer(input_size: int, kernel_size: int, stride: int,
                         padding: int) -> tuple[str, Figure]:
    r"""Describe and draw a square convolution ``Conv2d(1, 1, kernel_size, stride, padding)``.

    Returns ``(text, fig)``. For a valid setting the text's first line is
    ``"output shape: (1, 1, H, W)"`` for a ``(1, 1, input_size, input_size)`` input, and the second
    line shows the formula :math:`\lfloor (n + 2p - k)/s \rfloor + 1` with the numbers filled in;
    ``fig`` is :func:`gan_course.notebook.conv_pictures.plot_sliding_window`.

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
