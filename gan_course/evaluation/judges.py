"""Held-out judges: small classifiers trained on toy images the course never trains on.

A metric is only as honest as its judge. A classifier trained on the very faces a GAN learned
from can reward a generator for memorising them; so every judge here learns from toy images
drawn with seeds *outside* every training set (:mod:`gan_course.evaluation.heldout`) and reports
its accuracy on a held-out fifth of them.

=========  ==========================================  ========================================
judge      classes (label order)                        used for
=========  ==========================================  ========================================
glasses    glasses, no_glasses (as the eyeglasses set)  cGAN accuracy / flip rate, DCGAN coverage
hair       black, blond, other                          DCGAN coverage, CycleGAN target domain
male       female, male                                 picking "male"/"female" cGAN latents
garment    the ten Fashion-MNIST classes                clothing GAN coverage
=========  ==========================================  ========================================

Faces are judged at the generator's resolution (32 or 64 px; larger images are judged at 64),
garments at 28 px. Judges are cached on disk (written atomically, loaded with
``weights_only=True``). On **real** data the judges are trained on a held-out split of the real
training set instead (:func:`gan_course.evaluation.classifiers.get_attribute_classifier`; hair
then has the two classes black/blond of the prepared CelebA set, and ``male`` is not available).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gan_course.data.toy import CLOTHING_CLASSES
from gan_course.evaluation import heldout
from gan_course.evaluation.classifiers import (
    _FORMAT_VERSION,
    AttributeClassifier,
    FeatureStack,
    _atomic_save,
    _load_cached,
    get_attribute_classifier,
    train_attribute_classifier,
)

__all__ = ["JUDGES", "FACE_JUDGE_N", "CLOTHING_JUDGE_N", "get_judge", "judge_features",
           "judge_path", "judge_size"]


@dataclass(frozen=True)
class JudgeSpec:
    """What a judge looks at (``faces`` or ``clothing``) and its class names in label order."""

    domain: str
    classes: tuple[str, ...]


JUDGES: dict[str, JudgeSpec] = {
    "glasses": JudgeSpec("faces", ("glasses", "no_glasses")),
    "hair": JudgeSpec("faces", ("black", "blond", "other")),
    "male": JudgeSpec("faces", ("female", "male")),
    "garment": JudgeSpec("clothing", tuple(CLOTHING_CLASSES)),
}

FACE_JUDGE_N = 6000
"""Held-out toy faces a face judge sees (4,800 to train on, 1,200 to measure its accuracy)."""
CLOTHING_JUDGE_N = 10000
"""Held-out toy garments the garment judge sees (8,000 / 2,000)."""
_MAX_FACE_SIZE = 64


def _spec(attr: str) -> JudgeSpec:
    if attr not in JUDGES:
        raise ValueError(f"Unknown judge {attr!r}: choose one of {', '.join(JUDGES)}.")
    return JUDGES[attr]


def judge_size(attr: str, size: int) -> int:
    """The resolution a judge for ``attr`` works at, for images of side ``size``."""
    if _spec(attr).domain == "clothing":
        return 28
    return int(min(max(int(size), 32), _MAX_FACE_SIZE))


def judge_path(attr: str, size: int, n: int | None = None,
               cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the toy judge for ``attr`` at ``size`` px is cached (``data_root()/models/judges``)."""
    spec = _spec(attr)
    if cache_dir is None:
        from gan_course.runtime import data_root

        cache_dir = data_root() / "models" / "judges"
    n = n or (FACE_JUDGE_N if spec.domain == "faces" else CLOTHING_JUDGE_N)
    return Path(cache_dir) / f"judge-{attr}-toy-{judge_size(attr, size)}px-n{n}.pt"


def _labels(attr: str, df) -> np.ndarray:
    """Class ids (int64, a fresh writable array) of the faces in ``df`` for judge ``attr``."""
    if attr == "glasses":
        out = np.where(df["glasses"].to_numpy(bool), 0, 1)  # label 0 = glasses, as the data set
    elif attr == "hair":
        out = df["hair"].map({c: i for i, c in enumerate(JUDGES["hair"].classes)}).to_numpy()
    else:
        out = df["male"].to_numpy(bool)  # 0 = female, 1 = male
    return np.array(out, dtype=np.int64)


def _toy_training_set(attr: str, size: int, n: int) -> tuple[torch.Tensor, np.ndarray]:
    if _spec(attr).domain == "clothing":
        images, labels = heldout.clothing(n, split="judge")
        return images, labels.numpy()
    images, df = heldout.faces(n, size, split="judge")
    return images, _labels(attr, df)


def get_judge(attr: str, size: int = 64, *, source: str = "toy",
              device: torch.device | str | None = None, cache_dir: str | os.PathLike | None = None,
              retrain: bool = False, n: int | None = None, epochs: int = 8, seed: int = 0,
              verbose: bool = True) -> tuple[AttributeClassifier, dict]:
    """The held-out judge for ``attr`` (see :data:`JUDGES`) for images of side ``size``.

    Toy data: trained once on ``n`` held-out toy images (default :data:`FACE_JUDGE_N` /
    :data:`CLOTHING_JUDGE_N`; 80 % train, 20 % measured), cached at :func:`judge_path`, reloaded
    with ``weights_only=True`` unless ``retrain``. Real data: a classifier trained on a held-out
    split of the real set (glasses, hair: :func:`get_attribute_classifier`; garment: the real
    Fashion-MNIST training split); ``male`` has no real labels here.

    Returns ``(model, info)``; ``info`` holds ``heldout_accuracy``, ``n_train``, ``n_test``,
    ``classes``, ``path`` and ``images`` (where the judge's images come from).
    """
    spec = _spec(attr)
    device = torch.device(device) if device is not None else torch.device("cpu")
    jsize = judge_size(attr, size)
    if source == "real":
        return _real_judge(attr, jsize, device, cache_dir, retrain, epochs, seed, verbose)
    if source != "toy":
        raise ValueError(f"source must be 'toy' or 'real', got {source!r}.")
    n = int(n or (FACE_JUDGE_N if spec.domain == "faces" else CLOTHING_JUDGE_N))
    path = judge_path(attr, jsize, n, cache_dir)
    where = ("toy faces with seeds 2**31 + k (never trained on)" if spec.domain == "faces"
             else f"toy garments drawn with seed {heldout.JUDGE_CLOTHING_SEED} (never trained on)")
    if path.is_file() and not retrain:
        cached = _load_cached(path, device)
        if cached is not None:
            model, info = cached
            info.update(path=str(path), images=where)
            if verbose:
                print(f"{attr} judge loaded from {path} (held-out accuracy "
                      f"{info['heldout_accuracy']:.1%} on {info['n_test']} images)")
            return model, info
    images, labels = _toy_training_set(attr, jsize, n)
    model, info = train_attribute_classifier(
        images, labels, num_classes=len(spec.classes), epochs=epochs, seed=seed, device=device,
        flip_augment=spec.domain == "faces")  # shoes all face left: no mirroring for garments
    info.update(attr=attr, source="toy", classes=list(spec.classes))
    _atomic_save({"format_version": _FORMAT_VERSION, "state_dict": model.state_dict(), "info": info}, path)
    info.update(path=str(path), images=where)
    if verbose:
        print(f"{attr} judge trained on {info['n_train']} {where} in {info['train_seconds']:.0f} s: "
              f"held-out accuracy {info['heldout_accuracy']:.1%} on {info['n_test']} images")
    return model, info


def _real_judge(attr, size, device, cache_dir, retrain, epochs, seed, verbose):
    if attr in ("glasses", "hair"):
        model, info = get_attribute_classifier(attr, "real", size, device=device, retrain=retrain,
                                               cache_dir=cache_dir, epochs=epochs, seed=seed,
                                               verbose=verbose)
        info["images"] = "a held-out split of the real training set"
        return model, info
    if attr == "male":
        raise ValueError("The 'male' judge exists for toy faces only (the prepared real CelebA set "
                         "carries hair colour labels, not Male); use source='toy'.")
    from gan_course.data import fashion_arrays, to_unit_range

    path = Path(cache_dir or _default_dir()) / "judge-garment-real-28px.pt"
    if path.is_file() and not retrain:
        cached = _load_cached(path, device)
        if cached is not None:
            model, info = cached
            info.update(path=str(path), images="a held-out split of real Fashion-MNIST")
            return model, info
    images, labels = fashion_arrays("real", verbose=False)
    images = to_unit_range(images)
    model, info = train_attribute_classifier(images.view(-1, 1, 28, 28), labels, num_classes=10,
                                             epochs=epochs, seed=seed, device=device,
                                             flip_augment=False)
    info.update(attr=attr, source="real", classes=list(JUDGES["garment"].classes))
    _atomic_save({"format_version": _FORMAT_VERSION, "state_dict": model.state_dict(), "info": info}, path)
    info.update(path=str(path), images="a held-out split of real Fashion-MNIST")
    return model, info


def _default_dir() -> Path:
    from gan_course.runtime import data_root

    return data_root() / "models" / "judges"


def judge_features(*judges: AttributeClassifier) -> FeatureStack:
    """One feature network from several judges (their penultimate layers, concatenated): the
    feature space of the course's KID (e.g. glasses + hair + male for faces)."""
    return FeatureStack(*judges).eval()
