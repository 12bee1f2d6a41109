"""The numbers: coverage, confidence, conditional accuracy, flip rate, domain rate, L1 errors.

Every score takes a judge (an :class:`~gan_course.evaluation.classifiers.AttributeClassifier`)
and callables or tensors, and returns a float, a dict or a small dataclass; none trains anything.

- :func:`coverage` -- the judge's class histogram of generated samples against the training
  set's, as total-variation distance (0 = same proportions, 1 = disjoint), plus the judge's
  confidence (fraction of samples it classifies with p >= 0.9) and the smallest class share.
  A mode-collapsed GAN has a large TV distance and missing classes.
- :func:`conditional_accuracy` -- does a conditional generator draw the label it was asked for?
- :func:`flip_rate` -- with the SAME noise, does changing only the label change the judge's
  verdict to the new label? (A generator that ignores its label scores 0.)
- :func:`domain_rate`, :func:`round_trip_l1` -- CycleGAN: target domain reached, cycle kept.
- :func:`oracle_l1` -- CycleGAN on toy faces: the perfect translation of a face is known (the
  same face redrawn with the other hair colour), so the mean L1 to it is the translation error;
  reported beside the L1 of copying the input unchanged (the baseline a translator must beat).

Images are float tensors ``(B, C, S, S)`` in [-1, 1].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from gan_course.evaluation.classifiers import _batched, predict, predict_proba

__all__ = ["Coverage", "conditional_accuracy", "coverage", "domain_rate", "flip_rate",
           "histogram", "oracle_l1", "round_trip_l1", "tv_distance"]

CONFIDENT = 0.9
"""A verdict counts as confident when the judge gives its class at least this probability."""


def histogram(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Fractions ``(num_classes,)`` of each class id in ``labels`` (sums to 1)."""
    labels = torch.as_tensor(labels).long().flatten()
    if len(labels) == 0:
        raise ValueError("histogram of 0 labels: pass at least one.")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, got {labels.min()}..{labels.max()}.")
    return torch.bincount(labels, minlength=num_classes).double() / len(labels)


def tv_distance(p: torch.Tensor, q: torch.Tensor) -> float:
    """Total-variation distance ``0.5 * sum |p - q|`` of two histograms (each sums to 1)."""
    p, q = torch.as_tensor(p, dtype=torch.float64), torch.as_tensor(q, dtype=torch.float64)
    if p.shape != q.shape:
        raise ValueError(f"histograms of different lengths: {tuple(p.shape)} vs {tuple(q.shape)}.")
    for name, h in (("p", p), ("q", q)):
        if (h < 0).any() or abs(float(h.sum()) - 1.0) > 1e-6:
            raise ValueError(f"{name} is not a histogram (non-negative, sums to 1): {h.tolist()}.")
    return float(0.5 * (p - q).abs().sum())


@dataclass
class Coverage:
    """Judge verdicts on generated samples vs the training histogram (see :func:`coverage`)."""

    histogram: list[float]   # fraction of samples per class
    reference: list[float]   # the training set's fractions
    tv: float                # total-variation distance between the two (0 best)
    confidence: float        # fraction of samples the judge classifies with p >= CONFIDENT
    min_share: float         # smallest class fraction among the samples
    covered: int             # classes with at least `share` of the samples
    share: float             # the threshold used for `covered`

    def as_dict(self) -> dict:
        """Plain dict (JSON-ready)."""
        return asdict(self)


@torch.no_grad()
def coverage(judge: nn.Module, images: torch.Tensor, reference: torch.Tensor,
             share: float = 0.04) -> Coverage:
    """Mode coverage of ``images`` ``(N, C, S, S)`` judged by ``judge`` against ``reference``.

    ``reference``: the training set's class fractions ``(K,)`` (e.g. :func:`histogram` of its
    labels). A class counts as covered when at least ``share`` of the samples fall in it.
    """
    reference = torch.as_tensor(reference, dtype=torch.float64)
    probs = predict_proba(judge, images)
    if probs.shape[1] != len(reference):
        raise ValueError(f"the judge has {probs.shape[1]} classes but the reference histogram "
                         f"{len(reference)}; pass the training histogram of this judge's classes.")
    hist = histogram(probs.argmax(1), probs.shape[1])
    return Coverage(histogram=hist.tolist(), reference=reference.tolist(),
                    tv=tv_distance(hist, reference),
                    confidence=float((probs.max(1).values >= CONFIDENT).double().mean()),
                    min_share=float(hist.min()), covered=int((hist >= share).sum()), share=share)


@torch.no_grad()
def flip_rate(generate: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], judge: nn.Module,
              z: torch.Tensor, num_classes: int = 2, batch_size: int = 100) -> dict:
    """Same noise, every label: how often the judge's verdict follows the label.

    ``generate(z, labels)`` -> images; ``z`` ``(N, ...)`` noise vectors. For each noise vector the
    generator is asked for every class ``k``; it *flips* when the judge says ``k`` for every ``k``
    (for two classes: changing only the label turns "glasses" into "no glasses" and back).
    Returns ``{"rate": fraction that flip, "changed": fraction whose verdict changes at all}``.
    A generator that ignores its label has rate 0 and changed 0.
    """
    if len(z) < 1:
        raise ValueError("flip_rate needs at least one noise vector.")
    verdicts = []
    for k in range(num_classes):
        def one_label(zb, k=k):
            return generate(zb, torch.full((len(zb),), k, dtype=torch.long, device=zb.device))
        verdicts.append(predict(judge, _batched(one_label, z, batch_size)))
    v = torch.stack(verdicts, 1)  # (N, K): the verdict for each label
    follows = (v == torch.arange(num_classes)).all(1)
    changed = (v != v[:, :1]).any(1)
    return {"rate": float(follows.double().mean()), "changed": float(changed.double().mean()),
            "n": int(len(z))}


@torch.no_grad()
def oracle_l1(translate: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor,
              oracles: torch.Tensor, batch_size: int = 50) -> dict:
    """Mean L1 of ``translate(inputs)`` to the perfect translations ``oracles`` ([-1, 1] scale).

    Returns ``{"l1": translation error, "copy_l1": error of returning the input unchanged,
    "ratio": l1 / copy_l1}``; a translator that beats copying has ratio < 1.
    """
    if inputs.shape != oracles.shape:
        raise ValueError(f"inputs {tuple(inputs.shape)} and oracles {tuple(oracles.shape)} must "
                         f"match one to one.")
    out = _batched(translate, inputs, batch_size)
    l1 = float((out.float() - oracles.float()).abs().mean())
    copy = float((inputs.float() - oracles.float()).abs().mean())
    return {"l1": l1, "copy_l1": copy, "ratio": l1 / copy if copy > 0 else float("inf")}


@torch.no_grad()
def conditional_accuracy(generate: Callable[[torch.Tensor], torch.Tensor], classifier: nn.Module,
                         num_classes: int = 2, n_per_label: int = 100, batch_size: int = 50,
                         ) -> dict:
    """How often ``classifier`` sees the label a conditional generator was asked for.

    ``generate(labels)`` takes int64 class ids ``(B,)`` and returns images ``(B, 3, S, S)`` in
    [-1, 1] (e.g. ``lambda y: G(torch.randn(len(y), 100), y)``). For every label ``k`` it is
    called for ``n_per_label`` images (in batches of ``batch_size``); the fraction the classifier
    labels ``k`` is ``result[k]``. ``result["mean"]`` averages the labels. A perfect cGAN scores
    ~1.0 (up to the classifier's own error); one that ignores the label ~0.5 for two classes.
    """
    if n_per_label < 1 or batch_size < 1:
        raise ValueError(f"n_per_label and batch_size must be >= 1, got {n_per_label}, {batch_size}.")
    classifier.eval()
    result: dict = {}
    for k in range(num_classes):
        correct = 0
        for i in range(0, n_per_label, batch_size):
            b = min(batch_size, n_per_label - i)
            labels = torch.full((b,), k, dtype=torch.long)
            images = generate(labels)
            if not isinstance(images, torch.Tensor) or images.shape[0] != b:
                raise ValueError(f"generate(labels) must return a tensor of {b} images (B, 3, S, S), "
                                 f"got {getattr(images, 'shape', type(images).__name__)}.")
            correct += int((predict(classifier, images) == k).sum())
        result[k] = correct / n_per_label
    result["mean"] = sum(result[k] for k in range(num_classes)) / num_classes
    return result


@torch.no_grad()
def domain_rate(translate: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
                classifier: nn.Module, target_label: int, batch_size: int = 50) -> float:
    """Fraction of ``translate(images)`` that ``classifier`` assigns to ``target_label``.

    ``images`` ``(N, 3, S, S)`` in [-1, 1] from the source domain; ``translate`` maps a batch to the
    other domain (a CycleGAN generator). 1.0 = every translated face is in the target domain.
    """
    classifier.eval()
    translated = _batched(translate, images, batch_size)
    return float((predict(classifier, translated) == int(target_label)).float().mean())


@torch.no_grad()
def round_trip_l1(forward: Callable[[torch.Tensor], torch.Tensor],
                  backward: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
                  batch_size: int = 50) -> float:
    """Mean absolute error ``|backward(forward(x)) - x|`` over ``images`` ``(N,3,S,S)`` in [-1, 1].

    The cycle-consistency error on a [-1, 1] scale: 0 = perfect reconstruction, ~0.5+ = unrelated
    images. Compare with an untrained generator pair to see what training bought.
    """
    errors = _batched(lambda xb: (backward(forward(xb)) - xb).abs().flatten(1).mean(1),
                      images, batch_size)
    return float(errors.mean())


