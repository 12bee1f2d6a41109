"""Procedural toy datasets: faces and clothing drawn from a seed, written in the real datasets' layouts.

No dataset can be downloaded on CI machines (and students may be offline), so the course ships
its own stand-ins. They carry the attributes the book's models are conditioned on:

* **toy faces** (RGB, any size >= 32): hair colour (black / blond / other), eyeglasses, male
  (short hair + beard shadow vs long hair), plus random skin tone, face shape, eyes, mouth,
  background and shirt. Shapes are bold and high-contrast so a small GAN learns them in minutes.
* **toy clothing** (28x28 grey on black): ten Fashion-MNIST classes with smooth shading and
  shape variants within each class (drawn in :mod:`gan_course.data.toy_clothing`).

Everything is deterministic: the same seed gives the same pixels. All random numbers of a face
are drawn *before* any attribute is applied, so flipping ``glasses`` for a seed only changes the
glasses pixels (they are painted last) -- the property a conditional GAN lesson relies on.

The ``write_*`` functions store the data in **exactly the on-disk layout of the real dataset**
(anime ImageFolder, Kaggle eyeglasses CSV + PNGs, CelebA attribute CSV + JPGs, Fashion-MNIST IDX
files), so the preparation and loading code that runs on toy data is the code that runs on real
data. Writers are idempotent: a second call with the same arguments is a no-op.
"""

from __future__ import annotations

import json
import struct
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from gan_course.data.toy_clothing import make_clothing  # the clothing is drawn there

HAIR_COLOURS = ("black", "blond", "other")
"""Hair colours of the toy faces; ``other`` covers brown, auburn and grey."""

CLOTHING_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
"""The ten Fashion-MNIST class names, in Fashion-MNIST's label order."""

__all__ = ["CELEBA_ATTRIBUTES", "CLOTHING_CLASSES", "HAIR_COLOURS", "draw_face", "make_clothing",
           "make_faces", "write_anime", "write_celeba", "write_eyeglasses", "write_fashion_mnist"]

CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows",
    "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup",
    "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard",
    "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns",
    "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)
"""The 40 attribute columns of CelebA's ``list_attr_celeba.csv`` (values +1 / -1)."""

_MARKER = ".gan_course_toy.json"  # written last: its presence means "complete"
_PENDING = ".gan_course_toy.partial"  # written first: lets an interrupted write resume

# "other" hair colours: brown, auburn, grey -- all clearly distinct from near-black and yellow.
_OTHER_HAIR = np.array([[115, 72, 38], [160, 68, 30], [150, 150, 145], [95, 60, 40]], np.float32)
_SKIN_LIGHT = np.array([250, 222, 196], np.float32)
_SKIN_DARK = np.array([120, 80, 55], np.float32)
_IRIS = np.array([[60, 110, 170], [90, 60, 30], [60, 120, 70], [50, 40, 35]], np.float32)


# --------------------------------------------------------------------------- drawing primitives
@lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in [-1, 1] (x right, y down), shape (H, W) each."""
    c = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    return c[None, :].repeat(size, 0), c[:, None].repeat(size, 1)


def _coverage(dist: np.ndarray, px: float) -> np.ndarray:
    """Turn a signed distance (negative inside) into a 0..1 anti-aliased coverage mask."""
    return np.clip(0.5 - dist / px, 0.0, 1.0)


def _ellipse_dist(x, y, cx, cy, a, b):
    """Approximate signed distance to an axis-aligned ellipse (exact for circles)."""
    r = np.sqrt(((x - cx) / a) ** 2 + ((y - cy) / b) ** 2)
    return (r - 1.0) * min(a, b)


def _box_dist(x, y, cx, cy, hw, hh):
    """Signed (Chebyshev) distance to an axis-aligned box centred at (cx, cy)."""
    return np.maximum(np.abs(x - cx) - hw, np.abs(y - cy) - hh)


def _paint(img: np.ndarray, mask: np.ndarray, colour) -> None:
    """Alpha-blend ``colour`` (3,) into ``img`` (H, W, 3) float, in place, with ``mask`` (H, W)."""
    img += mask[..., None] * (np.asarray(colour, np.float32) - img)


class _Canvas:
    """An image plus its coordinate grid; ``window`` restricts work to a small box (speed)."""

    def __init__(self, img: np.ndarray, size: int):
        self.img, self.size = img, size
        self.x, self.y = _grid(size)
        self.px = 2.0 / size  # one pixel in normalised units

    def window(self, x0, x1, y0, y1):
        """Sub-image and sub-grids covering normalised box [x0, x1] x [y0, y1] (+1 px margin)."""
        n = self.size

        def idx(v):
            return min(n, max(0, int((v + 1) / 2 * n)))

        c0, c1 = idx(x0 - self.px), idx(x1 + self.px) + 1
        r0, r1 = idx(y0 - self.px), idx(y1 + self.px) + 1
        return self.img[r0:r1, c0:c1], self.x[r0:r1, c0:c1], self.y[r0:r1, c0:c1]

    def ellipse(self, cx, cy, a, b, colour, alpha=1.0):
        """Paint a filled ellipse, touching only its bounding box."""
        img, x, y = self.window(cx - a, cx + a, cy - b, cy + b)
        _paint(img, _coverage(_ellipse_dist(x, y, cx, cy, a, b), self.px) * alpha, colour)

    def box(self, cx, cy, hw, hh, colour):
        """Paint a filled axis-aligned box."""
        img, x, y = self.window(cx - hw, cx + hw, cy - hh, cy + hh)
        _paint(img, _coverage(_box_dist(x, y, cx, cy, hw, hh), self.px), colour)


# --------------------------------------------------------------------------------- toy faces
def _face_params(seed: int, hair=None, glasses=None, male=None) -> dict:
    """Every random number of one face, drawn in a fixed order that ignores the overrides."""
    rng = np.random.default_rng(int(seed))
    u_hair, u_glasses, u_male, u_smile = rng.random(4)
    p = {
        "bg": rng.uniform(60, 235, 3),
        "bg_grad": rng.uniform(-40, 40),
        "skin": _SKIN_LIGHT + rng.random() * (_SKIN_DARK - _SKIN_LIGHT) + rng.uniform(-8, 8, 3),
        "black": np.array([22, 20, 20], np.float32) + rng.uniform(0, 18),
        "blond": np.array([245, 215, 80], np.float32) + rng.uniform(-15, 10, 3),
        "other": _OTHER_HAIR[rng.integers(len(_OTHER_HAIR))] + rng.uniform(-12, 12, 3),
        "face_a": rng.uniform(0.38, 0.46),
        "face_b": rng.uniform(0.48, 0.58),
        "cx": rng.uniform(-0.05, 0.05),
        "cy": rng.uniform(0.0, 0.08),
        "eye_dy": rng.uniform(-0.03, 0.03),
        "eye_dx": rng.uniform(0.16, 0.19),
        "eye_r": rng.uniform(0.065, 0.08),
        "iris": _IRIS[rng.integers(len(_IRIS))],
        "mouth_w": rng.uniform(0.11, 0.17),
        "lips": np.array([175, 55, 60], np.float32) + rng.uniform(-25, 25, 3),
        "shirt": rng.uniform(30, 230, 3),
        "fringe_phase": rng.uniform(0, 2 * np.pi),
        "beard": rng.uniform(0.40, 0.55),
        "frame": rng.uniform(5, 45) * np.ones(3, np.float32),
        "lens_tint": rng.uniform(0.10, 0.25),
    }
    # Plain Python floats: NumPy float64 scalars would silently promote float32 images to float64.
    p = {k: float(v) if np.ndim(v) == 0 else np.asarray(v, np.float32) for k, v in p.items()}
    p["hair"] = hair if hair is not None else (
        "black" if u_hair < 0.35 else "blond" if u_hair < 0.7 else "other")
    if p["hair"] not in HAIR_COLOURS:
        raise ValueError(f"hair must be one of {HAIR_COLOURS}, got {p['hair']!r}")
    p["glasses"] = bool(glasses) if glasses is not None else bool(u_glasses < 0.5)
    p["male"] = bool(male) if male is not None else bool(u_male < 0.5)
    p["smiling"] = bool(u_smile < 0.5)
    p["eye_y"] = p["cy"] - 0.08 + p["eye_dy"]
    return p


def _render_face(p: dict, size: int) -> np.ndarray:
    """Paint one face described by ``p`` at ``size`` x ``size``; returns uint8 (H, W, 3)."""
    img = np.empty((size, size, 3), np.float32)
    cv = _Canvas(img, size)
    x, y, px = cv.x, cv.y, cv.px  # normalised coords; px keeps edges ~1 px soft at every size
    cx, cy, fa, fb = p["cx"], p["cy"], p["face_a"], p["face_b"]
    ey, edx, er = p["eye_y"], p["eye_dx"], p["eye_r"]
    hair = np.asarray(p[p["hair"]], np.float32)

    img[:] = p["bg"]
    img += (y * np.float32(p["bg_grad"]))[..., None]  # soft vertical gradient

    if not p["male"]:  # long hair behind the head, down to the shoulders
        back = np.minimum(_ellipse_dist(x, y, cx, cy - 0.02, fa + 0.17, fb + 0.14),
                          _box_dist(x, y, cx, cy + 0.45, fa + 0.17, 0.45))
        _paint(img, _coverage(back, px), hair)
    cv.box(cx, cy + fb, 0.12, 0.22, p["skin"] * 0.88)  # neck
    cv.ellipse(cx, 1.12, 0.78, 0.42, p["shirt"])  # shoulders
    for side in (-1, 1):  # ears
        cv.ellipse(cx + side * fa, ey + 0.06, 0.07, 0.11, p["skin"] * 0.93)
    fimg, fx, fy = cv.window(cx - fa, cx + fa, cy - fb, cy + fb)
    face = _coverage(_ellipse_dist(fx, fy, cx, cy, fa, fb), px)
    _paint(fimg, face, p["skin"])

    mouth_y = cy + fb * 0.55
    if p["male"]:  # jaw / beard shadow: darken the lower face (CelebA's 5_o_Clock_Shadow)
        jaw = face * np.clip((fy - (mouth_y - 0.13)) / (3 * px), 0, 1) * p["beard"]
        _paint(fimg, jaw, np.array([70, 60, 58], np.float32))

    # Hair on top of the head: a cap above a wavy fringe line; short for men, long locks for women.
    himg, hx, hy = cv.window(cx - fa - 0.17, cx + fa + 0.17, cy - fb - 0.16, ey + 0.25)
    hairline = cy - fb * (0.42 if p["male"] else 0.30) + 0.035 * np.sin(hx * 9 + p["fringe_phase"])
    cap = np.maximum(_ellipse_dist(hx, hy, cx, cy - 0.03, fa + 0.06, fb + 0.07), hy - hairline)
    _paint(himg, _coverage(cap, px), hair)
    if not p["male"]:  # side locks over the face edge, ending below the eyes
        locks = np.maximum(_ellipse_dist(hx, hy, cx, cy - 0.02, fa + 0.17, fb + 0.14),
                           np.maximum(fa * 0.80 - np.abs(hx - cx), hy - (ey + 0.22)))
        _paint(himg, _coverage(locks, px), hair)

    brow = hair * 0.55 if p["hair"] == "blond" else hair * 0.8
    for side in (-1, 1):
        ex = cx + side * edx
        cv.box(ex, ey - er - 0.06, 0.075, 0.022, brow)
        cv.ellipse(ex, ey, er * 1.35, er * 0.9, (245, 245, 240))
        cv.ellipse(ex, ey, er * 0.72, er * 0.72, p["iris"])
        cv.ellipse(ex, ey, er * 0.35, er * 0.35, (10, 10, 10))
    cv.ellipse(cx, ey + 0.17, 0.045, 0.075, p["skin"] * 0.78)  # nose

    mw = p["mouth_w"]
    if p["smiling"]:  # lower half of a thick elliptical ring = a smile
        mimg, mx, my = cv.window(cx - mw - 0.03, cx + mw + 0.03, mouth_y - 0.05, mouth_y + 0.07)
        ring = np.abs(_ellipse_dist(mx, my, cx, mouth_y - 0.05, mw, 0.08)) - 0.03
        _paint(mimg, _coverage(np.maximum(ring, (mouth_y - 0.04) - my), px), p["lips"])
    else:
        cv.ellipse(cx, mouth_y, mw, 0.035, p["lips"])

    if p["glasses"]:  # last: two dark rings, a bridge and temples, all inside the eye band
        la, lb, t = er * 1.35 + 0.07, er * 0.9 + 0.07, 0.032
        gimg, gx, gy = cv.window(cx - fa - 0.06, cx + fa + 0.06, ey - lb - t, ey + lb + t)
        frame = np.full(gx.shape, np.inf, np.float32)
        for side in (-1, 1):
            ex = cx + side * edx
            lens = _ellipse_dist(gx, gy, ex, ey, la, lb)
            _paint(gimg, _coverage(lens, px) * p["lens_tint"], (20, 25, 35))  # tinted lenses
            frame = np.minimum(frame, np.abs(lens) - t)
            temple_x = ex + side * (la + (fa - edx - la) / 2 + 0.02)
            frame = np.minimum(frame, _box_dist(gx, gy, temple_x, ey - 0.02,
                                                (fa - edx - la) / 2 + 0.03, t))
        frame = np.minimum(frame, _box_dist(gx, gy, cx, ey - 0.02, edx - la + 0.02, t))  # bridge
        _paint(gimg, _coverage(frame, px), p["frame"])

    np.add(img, 0.5, out=img)
    return np.clip(img, 0, 255, out=img).astype(np.uint8)


def _check_size(size: int) -> int:
    if int(size) < 32:
        raise ValueError(f"toy faces need size >= 32 pixels, got {size}")
    return int(size)


def draw_face(seed: int, size: int = 64, hair: str | None = None, glasses: bool | None = None,
              male: bool | None = None) -> np.ndarray:
    """Draw one toy face; returns uint8 array (size, size, 3).

    Attributes left as ``None`` are drawn from ``seed``. The same seed and attributes always give
    the same image, and changing only ``glasses`` changes only the glasses pixels.
    """
    return _render_face(_face_params(seed, hair, glasses, male), _check_size(size))


def make_faces(n: int, size: int = 64, seed: int = 0, **attrs) -> tuple[np.ndarray, pd.DataFrame]:
    """Draw ``n`` toy faces; returns (images uint8 (N, H, W, 3), attributes DataFrame).

    The DataFrame has one row per image with columns ``hair`` ('black'|'blond'|'other'),
    ``glasses`` (bool), ``male`` (bool), ``smiling`` (bool) and ``face_seed`` (int, pass it to
    :func:`draw_face` to redraw that face). Keyword ``hair``/``glasses``/``male`` fix an attribute
    for every face.
    """
    size = _check_size(size)
    face_seeds = np.random.default_rng(seed).integers(0, 2**31 - 1, size=int(n))
    images = np.empty((int(n), size, size, 3), np.uint8)
    rows = []
    for i, fs in enumerate(face_seeds):
        p = _face_params(int(fs), attrs.get("hair"), attrs.get("glasses"), attrs.get("male"))
        images[i] = _render_face(p, size)
        rows.append((p["hair"], p["glasses"], p["male"], p["smiling"], int(fs)))
    df = pd.DataFrame(rows, columns=["hair", "glasses", "male", "smiling", "face_seed"])
    return images, df


# ----------------------------------------------------------------------------------- writers
def _begin(root: Path, params: dict) -> bool:
    """Prepare ``root`` for writing; False means the same toy data is already complete there."""
    marker = root / _MARKER
    if marker.is_file():
        try:
            if json.loads(marker.read_text()) == params:
                return False
        except (OSError, ValueError):
            pass
    elif root.is_dir() and any(root.iterdir()) and not (root / _PENDING).exists():
        # Never write toy files over something that is not ours (e.g. the user's real data).
        raise FileExistsError(
            f"{root} is not empty and was not written by gan_course.data.toy; refusing to write "
            f"toy data there. Choose an empty folder (or delete this one yourself).")
    root.mkdir(parents=True, exist_ok=True)
    (root / _PENDING).write_text(json.dumps(params))
    return True


def _finish(root: Path, params: dict) -> None:
    (root / _MARKER).write_text(json.dumps(params))
    (root / _PENDING).unlink(missing_ok=True)


def _write_images(images: np.ndarray, paths: list[Path], **save_kw) -> None:
    for img, path in zip(images, paths):
        Image.fromarray(img).save(path, **save_kw)


def write_anime(root, n: int, seed: int = 0, size: int = 64) -> Path:
    """Write ``n`` toy faces as ``root/images/<k>.jpg`` (the Kaggle anime-faces ImageFolder layout)."""
    root = Path(root)
    params = {"kind": "anime", "n": int(n), "seed": int(seed), "size": int(size), "version": 1}
    if _begin(root, params):
        (root / "images").mkdir(exist_ok=True)
        images, _ = make_faces(n, size, seed)
        _write_images(images, [root / "images" / f"{k}.jpg" for k in range(1, int(n) + 1)],
                      quality=95)
        _finish(root, params)
    return root


def write_eyeglasses(root, n: int, seed: int = 0, size: int = 64) -> Path:
    """Write the Kaggle *glasses-or-no-glasses* layout: ``root/train.csv`` (columns ``id``,
    ``glasses`` 0/1; ids start at 1) and ``root/faces-spring-2020/faces-spring-2020/face-<id>.png``."""
    root = Path(root)
    params = {"kind": "eyeglasses", "n": int(n), "seed": int(seed), "size": int(size), "version": 1}
    if _begin(root, params):
        folder = root / "faces-spring-2020" / "faces-spring-2020"
        folder.mkdir(parents=True, exist_ok=True)
        images, attrs = make_faces(n, size, seed)
        ids = np.arange(1, int(n) + 1)
        _write_images(images, [folder / f"face-{i}.png" for i in ids])
        pd.DataFrame({"id": ids, "glasses": attrs["glasses"].astype(int)}).to_csv(
            root / "train.csv", index=False)
        _finish(root, params)
    return root


def write_celeba(root, n: int, seed: int = 0, size: int = 64) -> Path:
    """Write the Kaggle CelebA layout: ``root/list_attr_celeba.csv`` (``image_id`` + the 40 +-1
    attribute columns) and ``root/img_align_celeba/img_align_celeba/000001.jpg`` ...

    Attributes the toy faces show (hair colour, Eyeglasses, Male, beard shadow, Smiling) are
    true to the image; the others are random.
    """
    root = Path(root)
    params = {"kind": "celeba", "n": int(n), "seed": int(seed), "size": int(size), "version": 1}
    if _begin(root, params):
        folder = root / "img_align_celeba" / "img_align_celeba"
        folder.mkdir(parents=True, exist_ok=True)
        images, a = make_faces(n, size, seed)
        names = [f"{i:06d}.jpg" for i in range(1, int(n) + 1)]
        _write_images(images, [folder / name for name in names], quality=95)
        rng = np.random.default_rng(seed + 1)
        table = {"image_id": names}
        for col in CELEBA_ATTRIBUTES:  # random +-1 for the attributes a toy face does not show
            table[col] = np.where(rng.random(int(n)) < 0.3, 1, -1)
        shown = {
            "Black_Hair": a["hair"] == "black", "Blond_Hair": a["hair"] == "blond",
            "Brown_Hair": a["hair"] == "other", "Gray_Hair": np.zeros(int(n), bool),
            "Eyeglasses": a["glasses"], "Male": a["male"], "5_o_Clock_Shadow": a["male"],
            "No_Beard": ~a["male"], "Goatee": np.zeros(int(n), bool),
            "Mustache": np.zeros(int(n), bool), "Smiling": a["smiling"],
            "Wearing_Hat": np.zeros(int(n), bool), "Bald": np.zeros(int(n), bool),
        }
        for col, val in shown.items():
            table[col] = np.where(np.asarray(val, bool), 1, -1)
        pd.DataFrame(table).to_csv(root / "list_attr_celeba.csv", index=False)
        _finish(root, params)
    return root


def _write_idx(path: Path, array: np.ndarray) -> None:
    """IDX format (big-endian header: 0, 0, type 0x08=ubyte, ndim; then the dims; then bytes)."""
    array = np.ascontiguousarray(array, np.uint8)
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 0x08, array.ndim))
        f.write(struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.tobytes())


def write_fashion_mnist(root, n_train: int, n_test: int, seed: int = 0) -> Path:
    """Write toy clothing as Fashion-MNIST's raw IDX files under ``root/FashionMNIST/raw/`` so
    ``torchvision.datasets.FashionMNIST(root, train=..., download=False)`` loads them."""
    root = Path(root)
    # version 2: the redrawn (smooth, varied) garments; a folder of version-1 files is redrawn
    params = {"kind": "fashion_mnist", "n_train": int(n_train), "n_test": int(n_test),
              "seed": int(seed), "version": 2}
    if _begin(root, params):
        raw = root / "FashionMNIST" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for prefix, count, s in (("train", n_train, seed), ("t10k", n_test, seed + 10_007)):
            images, labels = make_clothing(count, s)
            _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
            _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        _finish(root, params)
    return root
