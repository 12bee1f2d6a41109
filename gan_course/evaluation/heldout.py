"""Held-out toy images: faces and garments the course never trains on, for judges and scores.

Every toy training set is drawn with ``seed=0`` (``toy.write_*``): ``make_faces`` turns that seed
into per-face seeds in ``[0, 2**31 - 1)`` (every other ``make_faces`` call in the course, e.g. the
notebooks' own toy faces, draws its face seeds from the same range). Faces here use face seeds
**outside** that range, so no held-out face can be a training face, whatever ``n_train`` is:

==============================  ===========================================
training faces (any seed)       face seeds in ``[0, 2**31 - 1)``
judge training faces            ``JUDGE_FACE_SEED0 + k``  = ``2**31 + k``
evaluation faces                ``EVAL_FACE_SEED0 + k``   = ``2**32 + k``
==============================  ===========================================

Garments are drawn class by class from one generator per call (``make_clothing(n, seed)``); the
training sets use seeds 0 (train) and 10,007 (test), judges :data:`JUDGE_CLOTHING_SEED`,
evaluation :data:`EVAL_CLOTHING_SEED` (independent random streams: different garments).

Toy anime and CelebA training faces are stored as JPEG (quality 95); ``jpeg=True`` passes the
held-out faces through the same encoding so that real-vs-real comparisons (KID floor) compare
like with like.
"""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
import pandas as pd
import torch
from PIL import Image

from gan_course.data import toy
from gan_course.data.batches import to_unit_range

TRAIN_FACE_SEED_END = 2**31 - 1
"""``make_faces`` draws face seeds below this (``integers(0, 2**31 - 1)``)."""
JUDGE_FACE_SEED0 = 2**31
EVAL_FACE_SEED0 = 2**32
JUDGE_CLOTHING_SEED = 2**31 + 17
EVAL_CLOTHING_SEED = 2**32 + 17
SPLITS = ("judge", "eval")

_FACE_SEED0 = {"judge": JUDGE_FACE_SEED0, "eval": EVAL_FACE_SEED0}
_CLOTHING_SEED = {"judge": JUDGE_CLOTHING_SEED, "eval": EVAL_CLOTHING_SEED}


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} ('judge' trains the judges, 'eval' "
                         f"scores models), got {split!r}.")
    return split


def face_seeds(n: int, split: str = "eval", offset: int = 0) -> np.ndarray:
    """The face seeds of held-out faces ``offset .. offset + n - 1`` of ``split``."""
    return _FACE_SEED0[_check_split(split)] + offset + np.arange(int(n), dtype=np.int64)


def _jpeg(img: np.ndarray, quality: int = 95) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


@lru_cache(maxsize=16)
def _faces_cached(n: int, size: int, split: str, offset: int, jpeg: bool, attrs: tuple):
    fixed = dict(attrs)
    seeds = face_seeds(n, split, offset)
    images = np.empty((n, size, size, 3), np.uint8)
    rows = []
    for i, fs in enumerate(seeds):
        p = toy._face_params(int(fs), fixed.get("hair"), fixed.get("glasses"), fixed.get("male"))
        img = toy._render_face(p, size)
        images[i] = _jpeg(img) if jpeg else img
        rows.append((p["hair"], p["glasses"], p["male"], p["smiling"], int(fs)))
    images.setflags(write=False)  # shared by every caller: never modified in place
    df = pd.DataFrame(rows, columns=["hair", "glasses", "male", "smiling", "face_seed"])
    return images, df


def faces(n: int, size: int = 64, split: str = "eval", *, offset: int = 0, jpeg: bool = False,
          hair: str | None = None, glasses: bool | None = None, male: bool | None = None,
          ) -> tuple[torch.Tensor, pd.DataFrame]:
    """``n`` held-out toy faces as float ``(n, 3, size, size)`` in [-1, 1] plus their attributes.

    ``split="judge"`` for training judges, ``"eval"`` for scoring models (disjoint seeds, both
    disjoint from every training face). ``hair`` / ``glasses`` / ``male`` fix an attribute for all
    faces (the rest of each face stays as its seed draws it). Cached per process.
    """
    attrs = tuple(sorted((k, v) for k, v in {"hair": hair, "glasses": glasses,
                                              "male": male}.items() if v is not None))
    images, df = _faces_cached(int(n), int(size), _check_split(split), int(offset), bool(jpeg),
                               attrs)
    return to_unit_range(torch.from_numpy(images.copy()).permute(0, 3, 1, 2)), df.copy()


def clothing(n: int, split: str = "eval") -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` held-out toy garments: float ``(n, 1, 28, 28)`` in [-1, 1] and int64 labels ``(n,)``."""
    images, labels = _clothing_cached(int(n), _check_split(split))
    return (to_unit_range(torch.from_numpy(images.copy()).unsqueeze(1)),
            torch.from_numpy(labels.copy()))


@lru_cache(maxsize=4)
def _clothing_cached(n: int, split: str):
    images, labels = toy.make_clothing(n, seed=_CLOTHING_SEED[split])
    images.setflags(write=False)
    return images, labels


def training_face_attributes(n: int, seed: int = 0) -> pd.DataFrame:
    """Attributes (``hair``, ``glasses``, ``male``) of the toy training faces ``make_faces(n, seed)``
    draws, computed from their seeds without rendering a pixel."""
    seeds = np.random.default_rng(seed).integers(0, TRAIN_FACE_SEED_END, size=int(n))
    rows = []
    for fs in seeds:
        p = toy._face_params(int(fs))
        rows.append((p["hair"], p["glasses"], p["male"], int(fs)))
    return pd.DataFrame(rows, columns=["hair", "glasses", "male", "face_seed"])


def hair_swap_pairs(n: int, size: int, source: str = "black", target: str = "blond",
                    split: str = "eval", jpeg: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Held-out faces with ``source`` hair and the SAME faces redrawn with ``target`` hair.

    The second tensor is the perfect translation of the first (everything but the hair and the
    eyebrows drawn in its colour is identical), the oracle for CycleGAN's hair translation.
    Both float ``(n, 3, size, size)`` in [-1, 1].
    """
    inputs, _ = faces(n, size, split, hair=source, jpeg=jpeg)
    oracles, _ = faces(n, size, split, hair=target, jpeg=jpeg)
    return inputs, oracles
