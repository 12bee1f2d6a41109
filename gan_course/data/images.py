"""One image file: is it whole and big enough, and what are its 8-bit RGB pixels.

Preparation (:mod:`.prepare`), the dataset check (:mod:`.sources`) and the decode-once cache
(:mod:`.tensors`) all judge an image with :func:`image_problem`, so they agree on which files are
usable and report the same counts. :func:`to_rgb` is the one conversion to 8-bit RGB; it scales
16-bit images (PNG mode ``I;16``, which Pillow's own ``convert("RGB")`` clips to solid white)
instead of clipping them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

MIN_IMAGE_SIDE = 8
"""Images whose shorter side is below this many pixels are skipped (counted), never upscaled:
a 1x1 or 4x4 "face" blown up to 64x64 is a blur, not training data."""


def to_rgb(im: Image.Image) -> Image.Image:
    """``im`` as an 8-bit RGB image: RGBA, greyscale, palette, CMYK and 16/32-bit greyscale alike.

    16-bit greyscale (``I;16*``, and ``I`` holding 16-bit values) is scaled by 255/65535; float
    images (``F``) in [0, 1] by 255. 16-bit RGB PNGs already open as 8-bit ``RGB`` in Pillow.
    """
    if im.mode.startswith("I;16") or im.mode in ("I", "F"):
        a = np.asarray(im, dtype=np.float64)
        if im.mode == "F":
            scale = 255.0 if a.size and np.nanmax(a) <= 1.0 else 1.0
        elif im.mode == "I" and a.size and a.max() <= 255:
            scale = 1.0  # an "I" image holding 8-bit values (e.g. some TIFFs)
        else:
            scale = 255.0 / 65535.0
        grey = np.clip(np.rint(np.nan_to_num(a) * scale), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    return im.convert("RGB")


def too_small(size: tuple[int, int]) -> str | None:
    """Why an image of ``size`` (width, height) is unusable, or None if it is big enough."""
    w, h = size
    if min(w, h) < MIN_IMAGE_SIDE:
        return f"too small ({w}x{h} px, the minimum is {MIN_IMAGE_SIDE} px a side)"
    return None


def image_problem(path) -> str | None:
    """Why the image file ``path`` cannot be used (unreadable, truncated, too small), or None.

    Decodes every byte -- ``Image.verify`` alone checks nothing for JPEG, so a truncated JPEG
    would pass. JPEGs are decoded at 1/8 scale (``draft``): still all of the compressed data, so
    truncation is caught, at a fraction of the cost.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's own warnings (EXIF, bomb) are not ours
            with Image.open(path) as im:
                small = too_small(im.size)
                if small:
                    return small
                if im.format == "JPEG":
                    im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
                im.load()
    except UnidentifiedImageError:
        return "unreadable (not an image file Pillow can open)"
    except Exception as exc:  # noqa: BLE001 - any decoder failure means "unusable file"
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"unreadable ({text.replace(str(path), Path(path).name)})"
    return None


def describe(path, problem: str) -> str:
    """``'<file name> <problem>'`` for reports."""
    return f"{Path(path).name} {problem}"
