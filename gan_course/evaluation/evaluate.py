"""``evaluate()``: the numbers of one trained model, each beside an untrained one and a reference.

One function per task turns a trained :class:`~gan_course.training.tasks.Task` into a list of
rows ``metric | trained | untrained | real (reference) | target``; :func:`evaluate` does it for a
checkpoint (what ``python -m gan_course evaluate`` prints) and :func:`format_table` prints it.
The *untrained* column is the same architecture with the run's own initial weights (same seed):
what training bought. The *real* column is what real held-out images score (the floor or
baseline a metric cannot beat). Everything is measured on held-out images and with the held-out
judges of :mod:`gan_course.evaluation.judges`; the generator EMA is used when the run has one.

================  ===========================================================================
fashion           garment TV to the training class histogram, classes with >= 4 % of the
                  samples, smallest class share, judge confidence, KID (+ floor, KID / floor)
dcgan             hair-colour TV, glasses TV, judge confidence (hair), KID (+ floor, ratio)
cgan              conditional accuracy per label, flip rate, KID of the samples
cyclegan          target-domain rate both ways, oracle L1 both ways (beside copying the
                  input), round-trip L1 both ways
================  ===========================================================================

Targets are issue 12's for the shipped checkpoints (1,000 samples): fashion every class >= 4 %
and TV <= 0.15; dcgan hair/glasses TV <= 0.10 and KID <= 3x floor; cgan accuracy >= 98 % both
labels and flip rate >= 95 %; cyclegan target domain >= 98 % both ways and oracle L1 <= half of
copying's.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from gan_course.data.batches import to_unit_range
from gan_course.evaluation import heldout, judges, scores
from gan_course.evaluation.distances import KID_CAVEAT, kid_with_floor

__all__ = ["TASKS", "Row", "evaluate", "evaluate_task", "format_table"]

TASKS = ("fashion", "dcgan", "cgan", "cyclegan")
# A judge can be sure about garbage (a flat grey image is "confidently" one class), so the
# untrained column of a confidence row says nothing; compare it with the real column instead.
_CONFIDENCE_NOTE = "compare with real, not untrained"


@dataclass
class Row:
    """One metric: trained vs untrained generator, the real-data reference and the target."""

    name: str
    trained: float
    untrained: float | None
    real: float | None = None     # what real held-out images score (floor / baseline)
    better: str = "lower"         # "lower" or "higher"
    target: float | None = None   # issue 12's target for the shipped checkpoint
    note: str = ""
    compare: bool = True          # False: "better than untrained" means nothing for this row

    @property
    def beats_untrained(self) -> bool | None:
        """Trained strictly better than untrained (None when there is no untrained value)."""
        if self.untrained is None or not self.compare:
            return None
        return self.trained < self.untrained if self.better == "lower" else self.trained > self.untrained

    @property
    def meets_target(self) -> bool | None:
        """Trained reaches the target (None when there is none)."""
        if self.target is None:
            return None
        return self.trained <= self.target if self.better == "lower" else self.trained >= self.target

    def as_dict(self) -> dict:
        """Plain dict (JSON-ready) incl. ``beats_untrained`` and ``meets_target``."""
        return {**asdict(self), "beats_untrained": self.beats_untrained,
                "meets_target": self.meets_target}


# ----------------------------------------------------------------------------------- helpers
def _generate(fn, n: int, batch: int = 250) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([fn(i, min(batch, n - i)).float().cpu() for i in range(0, n, batch)])


def _untrained(task):
    """The task's architecture with the run's own initial weights (``train`` seeds with cfg.seed)."""
    from gan_course.training.tasks import build_task

    fresh = build_task(task.config, task.device)  # seeded by cfg.seed, like the run itself
    for m in fresh.models.values():
        m.eval()
    return fresh


def _models(task) -> dict:
    from gan_course.training.distributed import plain

    models = {k: plain(m).eval() for k, m in task.models.items()}
    return models


@contextlib.contextmanager
def _inference(task, ema: bool = True):
    """Eval mode and the EMA weights (when the run keeps an EMA and ``ema``) inside; training
    state after."""
    modes = {k: m.training for k, m in task.models.items()}
    try:
        with task.averaged() if ema else contextlib.nullcontext():
            yield
    finally:
        for k, m in task.models.items():
            m.train(modes[k])


def _subset(images, n: int, seed: int) -> torch.Tensor:
    """``n`` random rows of a uint8 image array/memmap ``(N, C, S, S)`` as float in [-1, 1]."""
    rows = np.sort(np.random.default_rng(seed).permutation(len(images))[:n])
    x = torch.from_numpy(np.ascontiguousarray(images[rows])) if isinstance(images, np.ndarray) \
        else images[torch.from_numpy(rows)]
    return to_unit_range(x).float()


class _Judges:
    """Loads judges once per evaluation and records their held-out accuracy."""

    def __init__(self, source, size, device, cache_dir, retrain, verbose, n=None):
        self.args = dict(source=source, device=device, cache_dir=cache_dir, retrain=retrain,
                         verbose=False, **({"n": n} if n and source == "toy" else {}))
        self.size, self.verbose, self.info, self.models = size, verbose, {}, {}

    def __call__(self, attr: str):
        if attr not in self.models:
            model, info = judges.get_judge(attr, self.size, **self.args)
            self.models[attr] = model
            self.info[attr] = {k: info.get(k) for k in ("heldout_accuracy", "n_train", "n_test",
                                                         "classes", "path", "images")}
            if self.verbose:
                print(f"  {attr} judge: held-out accuracy {info['heldout_accuracy']:.1%} on "
                      f"{info['n_test']} images ({info.get('images', '')})")
        return self.models[attr]


# ----------------------------------------------------------------------------------- per task
def _fashion(task, fresh, n, source, seed, J, out):
    from gan_course.data import fashion_arrays

    def sampler(G):
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, task.config.latent_dim, generator=g).to(task.device)
        return _generate(lambda i, b: G(z[i:i + b]).view(-1, 1, 28, 28), n)

    train_x, train_y = fashion_arrays(source, task.config.n_train, verbose=False)  # uint8
    if source == "toy":
        held, _ = heldout.clothing(n, "eval")
    else:  # the real test split: never trained on
        held = to_unit_range(fashion_arrays("real", train=False, verbose=False)[0][:n])
        held = held.view(-1, 1, 28, 28)
    ref = scores.histogram(train_y, 10)
    judge = J("garment")
    fakes = {"trained": sampler(_models(task)["G"]), "untrained": sampler(_models(fresh)["G"])}
    cov = {k: scores.coverage(judge, v, ref) for k, v in fakes.items()}
    real_cov = scores.coverage(judge, held, ref)
    kid = kid_with_floor(judges.judge_features(judge), _subset(train_x.view(-1, 1, 28, 28), n, seed),
                         held, fakes, seed=seed)
    out["coverage"] = {k: v.as_dict() for k, v in cov.items()} | {"real": real_cov.as_dict()}
    out["kid"] = kid.as_dict()
    t, u = cov["trained"], cov["untrained"]
    return [
        Row("garment TV", t.tv, u.tv, real_cov.tv, "lower", 0.15),
        Row("classes >= 4 %", t.covered, u.covered, real_cov.covered, "higher", 10),
        Row("min class share", t.min_share, u.min_share, real_cov.min_share, "higher", 0.04),
        Row("judge confidence", t.confidence, u.confidence, real_cov.confidence, "higher",
            note=_CONFIDENCE_NOTE, compare=False),
        Row("KID", kid.scores["trained"].mean, kid.scores["untrained"].mean, kid.floor, "lower",
            note="real = floor"),
        Row("KID / floor", kid.ratio("trained"), kid.ratio("untrained"), 1.0, "lower"),
    ]


def _dcgan(task, fresh, n, source, seed, J, out):
    from gan_course.data import load, toy_defaults

    cfg, size = task.config, task.config.image_size

    def sampler(G):
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, cfg.latent_dim, generator=g).to(task.device)
        return _generate(lambda i, b: G(z[i:i + b]), n)

    n_train = cfg.n_train or (toy_defaults("anime")[0] if source == "toy" else None)
    cache = load("anime", source=source, size=size, n=n_train, verbose=False)
    fakes = {"trained": sampler(_models(task)["G"]), "untrained": sampler(_models(fresh)["G"])}
    rows: list[Row] = []
    if source == "toy":
        train = _subset(cache.images, n, seed)
        held, _ = heldout.faces(n, size, "eval", jpeg=True)  # the anime writer stores JPEGs
        attrs = heldout.training_face_attributes(n_train)
        for attr, labels in (("hair", judges._labels("hair", attrs)),
                             ("glasses", judges._labels("glasses", attrs))):
            judge = J(attr)
            ref = scores.histogram(torch.from_numpy(np.asarray(labels)),
                                   len(judges.JUDGES[attr].classes))
            cov = {k: scores.coverage(judge, v, ref) for k, v in fakes.items()}
            real_cov = scores.coverage(judge, held, ref)
            out.setdefault("coverage", {})[attr] = (
                {k: v.as_dict() for k, v in cov.items()} | {"real": real_cov.as_dict()})
            rows.append(Row(f"{attr} TV", cov["trained"].tv, cov["untrained"].tv, real_cov.tv,
                            "lower", 0.10))
            rows.append(Row(f"{attr} judge confidence", cov["trained"].confidence,
                            cov["untrained"].confidence, real_cov.confidence, "higher",
                            note=_CONFIDENCE_NOTE, compare=False))
        feats = judges.judge_features(J("glasses"), J("hair"), J("male"))
    else:  # real anime faces carry no attribute labels: KID only, floor from two halves
        everything = _subset(cache.images, 2 * n, seed)
        train, held = everything[:n], everything[n:]
        feats = judges.judge_features(J("glasses"), J("hair"))
        out["note"] = "real anime faces: no attribute labels, so no coverage rows"
    kid = kid_with_floor(feats, train, held, fakes, seed=seed)
    out["kid"] = kid.as_dict()
    rows.append(Row("KID", kid.scores["trained"].mean, kid.scores["untrained"].mean, kid.floor,
                    "lower", note="real = floor"))
    rows.append(Row("KID / floor", kid.ratio("trained"), kid.ratio("untrained"), 1.0, "lower", 3.0))
    return rows


def _cgan(task, fresh, n, source, seed, J, out):
    from gan_course.data import load

    cfg, size = task.config, task.config.image_size
    judge = J("glasses")
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, cfg.latent_dim, generator=g).to(task.device)
    rows_acc, flips, fakes = {}, {}, {}
    for name, t in (("trained", task), ("untrained", fresh)):
        G = _models(t)["G"]

        def gen(zb, labels, G=G):
            return G(zb, labels.to(zb.device))

        flips[name] = scores.flip_rate(gen, judge, z, cfg.num_classes)
        acc = {}
        for k in range(cfg.num_classes):
            imgs = _generate(lambda i, b, k=k, G=G: gen(z[i:i + b], torch.full((b,), k)), n)
            acc[k] = float((scores.predict(judge, imgs) == k).double().mean())
            if k == 0:
                half = imgs[: n // 2]
            else:
                fakes[name] = torch.cat([half, imgs[n // 2:]])  # half each label
        rows_acc[name] = acc
    out["flip_rate"], out["conditional_accuracy"] = flips, rows_acc
    cache = load("eyeglasses", source=source, size=size, n=cfg.n_train, verbose=False)
    if source == "toy":
        held, _ = heldout.faces(n, size, "eval")  # the eyeglasses writer stores PNGs
        train = _subset(cache.images, n, seed)
    else:
        everything = _subset(cache.images, 2 * n, seed)
        train, held = everything[:n], everything[n:]
    feats = judges.judge_features(judge, J("hair"), *([J("male")] if source == "toy" else []))
    kid = kid_with_floor(feats, train, held, fakes, seed=seed)
    out["kid"] = kid.as_dict()
    classes = judges.JUDGES["glasses"].classes
    # Per label, an untrained generator (one grey face for every z) scores 100 % on whichever
    # label its face happens to look like, for free: only the worse label compares fairly.
    rows = [Row(f"accuracy {classes[k]}", rows_acc["trained"][k], rows_acc["untrained"][k],
                None, "higher", 0.98, compare=False, note="see the worse label")
            for k in range(cfg.num_classes)]
    rows.append(Row("accuracy, worse label", min(rows_acc["trained"].values()),
                    min(rows_acc["untrained"].values()), None, "higher", 0.98))
    rows += [Row("flip rate", flips["trained"]["rate"], flips["untrained"]["rate"], None,
                 "higher", 0.95),
             Row("KID", kid.scores["trained"].mean, kid.scores["untrained"].mean, kid.floor,
                 "lower", note="real = floor"),
             Row("KID / floor", kid.ratio("trained"), kid.ratio("untrained"), 1.0, "lower")]
    return rows


def _cyclegan(task, fresh, n, source, seed, J, out):
    size = task.config.image_size
    judge = J("hair")
    hair = judges.JUDGES["hair"].classes if source == "toy" else ("black", "blond")
    black, blond = hair.index("black"), hair.index("blond")
    if source != "toy":
        raise ValueError("cyclegan evaluation needs toy faces (the oracle is the same toy face "
                         "redrawn with the other hair colour); pass --data toy.")
    A, oracle_B = heldout.hair_swap_pairs(n, size, "black", "blond", jpeg=True)
    B, oracle_A = heldout.hair_swap_pairs(n, size, "blond", "black", jpeg=True)
    res = {}
    for name, t in (("trained", task), ("untrained", fresh)):
        m = _models(t)
        G_AB, G_BA = m["G_AB"], m["G_BA"]
        res[name] = {
            "rate_AB": scores.domain_rate(G_AB, A, judge, blond),
            "rate_BA": scores.domain_rate(G_BA, B, judge, black),
            "oracle_AB": scores.oracle_l1(G_AB, A, oracle_B),
            "oracle_BA": scores.oracle_l1(G_BA, B, oracle_A),
            "cycle_A": scores.round_trip_l1(G_AB, G_BA, A),
            "cycle_B": scores.round_trip_l1(G_BA, G_AB, B)}
    out["cyclegan"] = res
    copy_rate = {"AB": scores.domain_rate(lambda x: x, A, judge, blond),
                 "BA": scores.domain_rate(lambda x: x, B, judge, black)}
    oracle_rate = {"AB": scores.domain_rate(lambda x: x, oracle_B, judge, blond),
                   "BA": scores.domain_rate(lambda x: x, oracle_A, judge, black)}
    out["oracle_domain_rate"] = oracle_rate
    t, u = res["trained"], res["untrained"]
    return [
        Row("domain black->blond", t["rate_AB"], u["rate_AB"], oracle_rate["AB"], "higher", 0.98,
            note=f"copying: {copy_rate['AB']:.2f}"),
        Row("domain blond->black", t["rate_BA"], u["rate_BA"], oracle_rate["BA"], "higher", 0.98,
            note=f"copying: {copy_rate['BA']:.2f}"),
        Row("oracle L1 A->B", t["oracle_AB"]["l1"], u["oracle_AB"]["l1"],
            t["oracle_AB"]["copy_l1"], "lower", note="real = copying the input"),
        Row("oracle L1 B->A", t["oracle_BA"]["l1"], u["oracle_BA"]["l1"],
            t["oracle_BA"]["copy_l1"], "lower", note="real = copying the input"),
        Row("oracle L1 / copy A->B", t["oracle_AB"]["ratio"], u["oracle_AB"]["ratio"], 1.0,
            "lower", 0.5),
        Row("oracle L1 / copy B->A", t["oracle_BA"]["ratio"], u["oracle_BA"]["ratio"], 1.0,
            "lower", 0.5),
        Row("round-trip L1 A", t["cycle_A"], u["cycle_A"], 0.0, "lower"),
        Row("round-trip L1 B", t["cycle_B"], u["cycle_B"], 0.0, "lower"),
    ]


_PER_TASK = {"fashion": _fashion, "dcgan": _dcgan, "cgan": _cgan, "cyclegan": _cyclegan}


# ----------------------------------------------------------------------------------- entry points
def evaluate_task(task, n: int = 1000, *, source: str | None = None, seed: int = 0,
                  judge_dir: str | Path | None = None, retrain_judges: bool = False,
                  judge_n: int | None = None, verbose: bool = True, ema: bool = True) -> dict:
    """Evaluate a trained :class:`~gan_course.training.loop.Task`: its generator EMA when it keeps
    one (``ema=False``: the last weights of training instead), else its current weights, in eval
    mode (train/eval modes are restored afterwards, so training can go on).

    ``n``: generated samples (and real held-out images) per set; ``source``: "toy" or "real"
    (default: the data the task trained on); ``judge_n``: held-out images per toy judge (default
    :data:`~gan_course.evaluation.judges.FACE_JUDGE_N` / ``CLOTHING_JUDGE_N``; fewer = faster
    and less accurate, e.g. in tests). Returns ``{"task", "n", "data", "judges": {attr:
    accuracy info}, "rows": [row dicts], ...details}``; print it with :func:`format_table`.
    """
    if task.name not in _PER_TASK:
        raise ValueError(f"Unknown task {task.name!r}: choose one of {', '.join(TASKS)}.")
    if n < 8:
        raise ValueError(f"n must be at least 8 images per set (got {n}); 1,000 gives stable numbers.")
    source = source or task.config.data_source
    J = _Judges(source, task.config.image_size, task.device, judge_dir, retrain_judges, verbose,
                judge_n)
    fresh = _untrained(task)
    out: dict = {"task": task.name, "n": n, "data": source, "image_size": task.config.image_size,
                 "ema": ema and task.ema is not None, "kid_note": KID_CAVEAT}
    with _inference(task, ema):
        rows = _PER_TASK[task.name](task, fresh, n, source, seed, J, out)
    out["judges"] = J.info
    out["rows"] = [r.as_dict() for r in rows]
    return out


def evaluate(task: str, checkpoint: str | Path, data: str | None = None, n: int = 1000,
             device: str | torch.device | None = None, seed: int = 0,
             judge_dir: str | Path | None = None, retrain_judges: bool = False,
             inception: bool = False, inception_weights: str | Path | None = None,
             judge_n: int | None = None, verbose: bool = True) -> dict:
    """Evaluate a training checkpoint (see :func:`evaluate_task`); what the CLI prints.

    Raises ``FileNotFoundError`` for a missing checkpoint, ``CheckpointError`` for a damaged
    one and ``ValueError`` when the checkpoint belongs to another task. ``inception``: also the
    standard Inception FID/KID of the trained generator's samples (dcgan; needs torch-fidelity
    and the weights on disk, else the result says why not).
    """
    from gan_course.runtime import get_device
    from gan_course.training.checkpoint import load_checkpoint
    from gan_course.training.runs import load_trained

    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}: choose one of {', '.join(TASKS)}.")
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        hint = f" (it is a folder: pass {checkpoint / 'checkpoint.pt'})" if checkpoint.is_dir() else ""
        raise FileNotFoundError(
            f"No checkpoint at {checkpoint}{hint}. Train one first, e.g. "
            f"`python -m gan_course train {task} --profile demo`, then pass "
            f"--checkpoint runs/demo/{task}-toy-seed0/checkpoint.pt (or --pretrained for the "
            f"generator shipped with the course).")
    state = load_checkpoint(checkpoint)
    if state.get("task") != task:
        raise ValueError(f"{checkpoint} is a {state.get('task')!r} checkpoint, not {task!r}: run "
                         f"`python -m gan_course evaluate {state.get('task')} --checkpoint {checkpoint}`.")
    dev = get_device(device)
    trained = load_trained(checkpoint, device=dev)  # EMA weights when the run kept an EMA
    if verbose:
        print(f"evaluate {task}: {checkpoint} (epoch {state.get('epoch')}, step "
              f"{state.get('global_step')}; {n} samples per set, device {dev})")
    out = evaluate_task(trained, n, source=data, seed=seed, judge_dir=judge_dir,
                        retrain_judges=retrain_judges, judge_n=judge_n, verbose=verbose)
    out.update(checkpoint=str(checkpoint), epochs_trained=state.get("epoch"),
               steps_trained=state.get("global_step"))
    if inception and task == "dcgan":
        out.update(_inception(trained, n, seed, inception_weights, dev))
    if verbose:
        print(format_table(out))
    return out


def evaluate_pretrained(task: str, data: str | None = None, n: int = 1000,
                        device: str | torch.device | None = None, seed: int = 0,
                        judge_dir: str | Path | None = None, retrain_judges: bool = False,
                        inception: bool = False, inception_weights: str | Path | None = None,
                        judge_n: int | None = None, verbose: bool = True) -> dict:
    """Evaluate the generator shipped with the course for ``task`` (:mod:`gan_course.pretrained`)."""
    from gan_course import pretrained
    from gan_course.runtime import get_device

    dev = get_device(device)
    trained = pretrained.load_pretrained(task, device=dev)
    meta = pretrained.info(task)
    if verbose:
        print(f"evaluate {task}: the shipped generator ({meta['weights']}, {meta['epochs']} "
              f"epochs, {meta['steps']} steps; {n} samples per set, device {dev})")
    out = evaluate_task(trained, n, source=data, seed=seed, judge_dir=judge_dir,
                        retrain_judges=retrain_judges, judge_n=judge_n, verbose=verbose)
    out.update(checkpoint=f"pretrained/{meta['weights']}", epochs_trained=meta["epochs"],
               steps_trained=meta["steps"])
    if inception and task == "dcgan":
        out.update(_inception(trained, n, seed, inception_weights, dev))
    if verbose:
        print(format_table(out))
    return out


def _inception(task, n, seed, weights, dev) -> dict:
    from gan_course.evaluation import distances as kid_mod

    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, task.config.latent_dim, generator=g).to(dev)
    fake = _generate(lambda i, b: _models(task)["G"](z[i:i + b]), n)
    real, _ = heldout.faces(n, task.config.image_size, "eval", jpeg=True)
    try:
        fid = kid_mod.inception_fid(real, fake, weights, dev)
        ikid = kid_mod.inception_kid(real, fake, weights, subset_size=min(100, n), device=dev)
        return {"inception_fid": fid, "inception_kid": list(ikid)}
    except kid_mod.MetricsUnavailable as exc:
        return {"inception_unavailable": str(exc)}


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, (int, np.integer)) or float(v).is_integer() and abs(v) >= 1:
        return f"{int(v)}"
    return f"{v:.3f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"


def format_table(result: dict) -> str:
    """The result of :func:`evaluate` / :func:`evaluate_task` as an aligned text table."""
    lines = []
    if result.get("judges"):
        for attr, info in result["judges"].items():
            lines.append(f"judge {attr}: held-out accuracy {info['heldout_accuracy']:.1%} on "
                         f"{info['n_test']} images")
    head = ("metric", "trained", "untrained", "real", "target", "")
    table = [head]
    for r in result["rows"]:
        target = "-" if r["target"] is None else ("<= " if r["better"] == "lower" else ">= ") + \
            _fmt(r["target"])
        flag = {True: "met", False: "MISSED", None: ""}[r["meets_target"]]
        if r["beats_untrained"] is False:
            flag = (flag + " not better than untrained").strip()
        table.append((r["name"], _fmt(r["trained"]), _fmt(r["untrained"]), _fmt(r["real"]),
                      target, (flag + ("; " + r["note"] if r["note"] else "")).strip("; ")))
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for row in table:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    if any(r["name"].startswith("KID") for r in result["rows"]):
        lines.append(f"(KID {result.get('kid_note', KID_CAVEAT)}; floor = RMS of real-vs-real "
                     f"subset KIDs at subset size {result.get('kid', {}).get('subset_size', 100)})")
    for key in ("inception_fid", "inception_unavailable", "note"):
        if key in result:
            lines.append(f"{key}: {result[key]}")
    return "\n".join(lines)
