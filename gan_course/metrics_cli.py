"""Numbers for a checkpoint (``python -m gan_course evaluate {dcgan,cgan,cyclegan} --checkpoint PATH``).

What is printed, per task (always next to an *untrained* generator of the same architecture, so
a number has something to be compared with):

- every task: the attribute classifier used and its own held-out accuracy;
- ``cgan``: per-label conditional accuracy (the faces drawn for label *glasses* that the glasses
  classifier calls *glasses*, and the same for *no_glasses*), plus KID to real faces of that label;
- ``cyclegan``: target-domain rate both ways (black -> blond faces the hair classifier calls
  blond, and blond -> black), the round-trip L1 error A -> B -> A and B -> A -> B, and KID of the
  translated faces to real faces of the target domain;

A classifier can be fooled by images that look like nothing (a yellow blur is "blond"), so the
accuracy/rate numbers come with a KID: together they say "has the attribute" *and* "looks like
the real faces".
- ``dcgan``: KID between generated and real faces on the attribute classifiers' features (NOT
  comparable with published KID/FID), plus the real-vs-real floor; ``--inception`` adds the
  standard Inception FID/KID when torch-fidelity and the weights are on this machine.

:func:`evaluate` does the work and returns a dict, for notebooks; the CLI
(:mod:`gan_course.cli.evaluate`) only prints it.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from gan_course import metrics

TASKS = ("dcgan", "cgan", "cyclegan")

_MIN_TOY_IMAGES = 1000


# ---------------------------------------------------------------------------------- evaluation

def _build_models(task_name: str, cfg, device: torch.device, state: dict | None, seed: int):
    """The task's models (``dict name -> module``, eval mode): trained from ``state`` or untrained."""
    from gan_course.training.distributed import plain
    from gan_course.training.tasks import build_task

    torch.manual_seed(seed)  # the untrained reference is the same network every run
    task = build_task(cfg, device)
    models = {k: plain(m) for k, m in task.models.items()}
    if state is not None:
        saved = state["task_state"]["models"]
        for k, m in models.items():
            m.load_state_dict(saved[k])
    for m in models.values():
        m.eval()
    return models


def _pick(models: dict, *names: str):
    for name in names:
        if name in models:
            return models[name]
    raise ValueError(f"none of the models {names} in this task (it has {sorted(models)}); "
                   f"the checkpoint does not match the evaluate task.")


@functools.lru_cache(maxsize=4)
def _load(dataset: str, source: str, size: int, n_data):
    """``gan_course.data.load`` once per data set and evaluation (it prints a line each call)."""
    from gan_course.data import load

    return load(dataset, source=source, size=size, n=n_data)


def _real_images(dataset: str, source: str, size: int, n_data, n: int, seed: int,
                 label: int | None = None) -> torch.Tensor:
    """``n`` random real images ``(n,3,S,S)`` in [-1, 1] of a data set (of one ``label`` if given).

    Only the chosen rows are read from the uint8 cache, so a large real set stays on disk.
    """
    import numpy as np

    cache = _load(dataset, source, size, n_data)
    labels = np.asarray(cache.labels)
    pool = np.flatnonzero(labels == label) if label is not None else np.arange(len(labels))
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.permutation(pool)[:n])  # sorted: reads the memmap front to back
    images = metrics._to_unit(np.ascontiguousarray(cache.images[rows]))
    return images[torch.from_numpy(rng.permutation(len(rows)))]  # random order again


def _generate(make, n: int, batch: int = 100) -> torch.Tensor:
    """``n`` images from ``make(b) -> (b,3,S,S)`` (a generator fed with noise), on the CPU."""
    return torch.cat([make(min(batch, n - i)).float().cpu() for i in range(0, n, batch)])


def evaluate(task: str, checkpoint: str | Path, data: str | None = None, n: int = 200,
             device: str | torch.device | None = None, seed: int = 0,
             classifier_dir: str | Path | None = None, retrain_classifier: bool = False,
             inception: bool = False, inception_weights: str | Path | None = None,
             verbose: bool = True) -> dict:
    """Evaluate a training checkpoint; returns a dict of numbers (see the module docstring).

    Raises ``FileNotFoundError`` for a missing checkpoint, ``CheckpointError`` for a damaged
    one and ``ValueError`` when the checkpoint belongs to another task.
    """
    from gan_course.config import TrainConfig
    from gan_course.runtime import get_device
    from gan_course.training.checkpoint import load_checkpoint

    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}: choose one of {', '.join(TASKS)}.")
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        hint = (f" (it is a folder: pass {checkpoint / 'checkpoint.pt'})"
                if checkpoint.is_dir() else "")
        raise FileNotFoundError(
            f"No checkpoint at {checkpoint}{hint}. Train one first, e.g. "
            f"`python -m gan_course train {task} --out runs/{task}`, then pass "
            f"--checkpoint runs/{task}/checkpoint.pt.")
    state = load_checkpoint(checkpoint)
    if state.get("task") != task:
        raise ValueError(f"{checkpoint} is a {state.get('task')!r} checkpoint, not {task!r}: run "
                         f"`python -m gan_course evaluate {state.get('task')} --checkpoint {checkpoint}`.")
    cfg = TrainConfig.from_dict(state["config"])
    source = data or cfg.data_source
    dev = get_device(device) if device is not None else get_device()
    size = int(cfg.image_size)
    # toy data: the images the model trained on, at least 1,000 so the classifier learns its
    # attribute well even for a smoke-sized run; real data: every image there is
    n_data = max(int(cfg.n_train or 0), _MIN_TOY_IMAGES) if source == "toy" else None
    say = print if verbose else (lambda *a, **k: None)
    out: dict = {"task": task, "checkpoint": str(checkpoint), "data": source, "image_size": size,
                 "n": n, "epochs_trained": state.get("epoch")}
    trained = _build_models(task, cfg, dev, state, seed)
    untrained = _build_models(task, cfg, dev, None, seed)
    say(f"evaluate {task}: {checkpoint} ({source} data, {size}x{size}, {n} images per set, "
        f"device {dev})")

    def classifier(attr: str):
        # train at the checkpoint's image size: judging upsampled images would be unfair
        model, info = metrics.get_attribute_classifier(
            attr, source, size, device=dev, retrain=retrain_classifier, n=n_data,
            cache_dir=classifier_dir, verbose=False)
        out.setdefault("classifiers", {})[attr] = {
            k: info[k] for k in ("heldout_accuracy", "n_train", "n_test", "path")}
        say(f"  {attr} classifier: held-out accuracy {info['heldout_accuracy']:.1%} "
            f"({info['n_test']} test images, trained on {info['n_train']}; {info['path']})")
        return model

    g = torch.Generator(device="cpu").manual_seed(seed)

    def noise(b: int) -> torch.Tensor:
        return torch.randn(b, cfg.latent_dim, generator=g).to(dev)

    if task == "cgan":
        clf = classifier("glasses")
        classes = list(metrics.ATTRIBUTES["glasses"][1])
        for name, models in (("trained", trained), ("untrained", untrained)):
            G = _pick(models, "G", "generator")
            res = metrics.conditional_accuracy(lambda y, G=G: G(noise(len(y)), y.to(dev)), clf,
                                               num_classes=len(classes), n_per_label=n)
            out[f"conditional_accuracy_{name}"] = {classes[k]: res[k] for k in range(len(classes))}
            out[f"conditional_accuracy_{name}"]["mean"] = res["mean"]
            per = ", ".join(f"{classes[k]} {res[k]:.1%}" for k in range(len(classes)))
            say(f"  conditional accuracy ({name} generator): {per}; mean {res['mean']:.1%}")
        # The accuracy says "the classifier sees the label", not "the face looks real": a blur
        # can fool a classifier. KID to real faces of the same label checks the second part.
        say(f"  KID to real faces of the asked label ({metrics.KID_CAVEAT}):")
        for name, models in (("trained", trained), ("untrained", untrained)):
            G = _pick(models, "G", "generator")
            kids = {}
            for k, cls in enumerate(classes):
                real = _real_images("eyeglasses", source, size, n_data, n, seed, label=k)
                with torch.no_grad():
                    fake = _generate(lambda b, k=k, G=G: G(noise(b), torch.full(
                        (b,), k, dtype=torch.long, device=dev)), n)
                kids[cls] = list(metrics.kid_images(real, fake, clf, subset_size=min(100, n)))
            out[f"kid_{name}"] = kids
            say(f"    {name} generator: " + ", ".join(
                f"{c} {metrics.KIDResult(*v)}" for c, v in kids.items()))
    elif task == "cyclegan":
        clf = classifier("hair")
        A = _real_images("celeba", source, size, n_data, n, seed, label=0).to(dev)  # black
        B = _real_images("celeba", source, size, n_data, n, seed, label=1).to(dev)  # blond
        out["source_rate"] = {  # untranslated images already classed as the target: the floor
            "black->blond": metrics.domain_rate(lambda x: x, A, clf, 1),
            "blond->black": metrics.domain_rate(lambda x: x, B, clf, 0)}
        for name, models in (("trained", trained), ("untrained", untrained)):
            G_AB, G_BA = _pick(models, "G_AB"), _pick(models, "G_BA")
            rates = {"black->blond": metrics.domain_rate(G_AB, A, clf, 1),
                     "blond->black": metrics.domain_rate(G_BA, B, clf, 0)}
            l1 = {"A->B->A": metrics.round_trip_l1(G_AB, G_BA, A),
                  "B->A->B": metrics.round_trip_l1(G_BA, G_AB, B)}
            out[f"domain_rate_{name}"], out[f"round_trip_l1_{name}"] = rates, l1
            say(f"  target-domain rate ({name}): black->blond {rates['black->blond']:.1%}, "
                f"blond->black {rates['blond->black']:.1%}")
            say(f"  round-trip L1 ({name}, [-1,1] scale): A->B->A {l1['A->B->A']:.3f}, "
                f"B->A->B {l1['B->A->B']:.3f}")
        # Same caveat as for the cGAN: a blur can land in the "blond" class. KID of translated
        # faces to real faces of the target domain says whether they also look like faces.
        say(f"  KID of translated faces to real target-domain faces ({metrics.KID_CAVEAT}):")
        ref = list(metrics.kid_images(A.cpu(), B.cpu(), clf, subset_size=min(100, n)))
        out["kid_untranslated"] = ref
        say(f"    untranslated (real black vs real blond): {metrics.KIDResult(*ref)}")
        for name, models in (("trained", trained), ("untrained", untrained)):
            G_AB, G_BA = _pick(models, "G_AB"), _pick(models, "G_BA")
            with torch.no_grad():
                fake_B = torch.cat([G_AB(A[i:i + 100]).cpu() for i in range(0, len(A), 100)])
                fake_A = torch.cat([G_BA(B[i:i + 100]).cpu() for i in range(0, len(B), 100)])
            kids = {"black->blond": list(metrics.kid_images(B.cpu(), fake_B, clf,
                                                            subset_size=min(100, n))),
                    "blond->black": list(metrics.kid_images(A.cpu(), fake_A, clf,
                                                            subset_size=min(100, n)))}
            out[f"kid_{name}"] = kids
            say(f"    {name}: " + ", ".join(f"{d} {metrics.KIDResult(*v)}" for d, v in kids.items()))
        say(f"  (untranslated faces already in the target domain: black->blond "
            f"{out['source_rate']['black->blond']:.1%}, blond->black "
            f"{out['source_rate']['blond->black']:.1%})")
    else:  # dcgan
        feats = metrics.FeatureStack(classifier("glasses"), classifier("hair"))
        real = _real_images("anime", source, size, n_data, 2 * n, seed)
        real_a, real_b = real[:n], real[n:]
        out["kid_note"] = metrics.KID_CAVEAT
        say(f"  KID on attribute-classifier features ({metrics.KID_CAVEAT}):")
        if len(real_b) >= 4:
            floor = metrics.kid_images(real_a, real_b, feats, subset_size=min(100, n))
            out["kid_real_vs_real"] = list(floor)
            say(f"    real vs other real images: {floor}   (the floor: same distribution)")
        with torch.no_grad():
            fakes = {}
            for name, models in (("trained", trained), ("untrained", untrained)):
                G = _pick(models, "G", "generator")
                fakes[name] = _generate(lambda b, G=G: G(noise(b)), n)
                res = metrics.kid_images(real_a, fakes[name], feats, subset_size=min(100, n))
                out[f"kid_{name}"] = list(res)
                say(f"    real vs {name} generator:  {res}")
        if inception:
            try:
                fid = metrics.inception_fid(real_a, fakes["trained"], inception_weights, dev)
                ikid = metrics.inception_kid(real_a, fakes["trained"], inception_weights,
                                             subset_size=min(100, n), device=dev)
                out["inception_fid"], out["inception_kid"] = fid, list(ikid)
                say(f"  Inception FID {fid:.2f}, KID {ikid} (standard features; still depends on "
                    f"the number of images, {n} here)")
            except metrics.MetricsUnavailable as exc:
                out["inception_unavailable"] = str(exc)
                say(f"  Inception FID/KID unavailable: {exc}")
    return out
