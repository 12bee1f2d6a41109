"""Research harness: recipes that make the cWGAN-GP (eyeglasses) and CycleGAN (hair) convince.

Not a test and not part of the package: it trains a model with a given recipe, then scores it
with *independent, held-out judges* (small CNNs trained on toy faces whose seeds are disjoint
from every training face), and appends one JSON line per run to
``benchmarks/results/research/<task>.jsonl``. Figures go to ``figs/``.

    python -m benchmarks.research_cgan_cyclegan judges                 # train + cache the judges
    python -m benchmarks.research_cgan_cyclegan cgan --set lr=1e-4 critic_iters=5 --tag book
    python -m benchmarks.research_cgan_cyclegan cyclegan --set lambda_identity=5 pool_size=50
    python -m benchmarks.research_cgan_cyclegan sweep cgan --seeds 0 1 2   # seed x thread table

Metrics (all on held-out data, trained vs untrained from the same function):

cgan      conditional accuracy per label (1,000 samples each), flip rate (same z, label flipped ->
          the glasses judge's verdict flips), glasses probability vs label weight w, hair / male
          histogram total variation vs the training faces, KID on the judges' features (+ floor).
cyclegan  target-domain rate both ways (hair judge, 3 classes: black/blond/other), oracle L1
          (|G(x) - the same face redrawn with the other hair|) beside the copy baseline
          (|x - oracle|), round-trip L1, glasses kept (glasses judge on input vs output).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "results" / "research"
FIGS = REPO / "figs"

TRAIN_SEED_GUARD = 200_000
"""The training sets draw face seeds from ``default_rng(0)`` (``make_faces(n, seed=0)``); the first
this-many of that stream are excluded from every held-out set (covers any n_train we use)."""


# ============================================================================ held-out faces
_TRAIN_SEEDS: set[int] | None = None



def _log_and_check(hist: list, step: int, out: dict, log_every: int, r: dict,
                   t_wall: float) -> bool:
    """Record the losses every ``log_every`` steps; True when the recipe's time budget is spent."""
    if log_every and step % log_every == 0:
        hist.append({"step": step, **{k: round(v, 4) for k, v in out.items()}})
    return bool(r.get("max_seconds")) and time.perf_counter() - t_wall > r["max_seconds"]


def _run_info(step: int, t_wall: float, t_cpu: float, hist: list) -> dict:
    """Steps, wall and CPU seconds of a finished training loop, and its loss history."""
    info = {"steps": step, "wall_s": round(time.perf_counter() - t_wall, 1),
            "cpu_s": round(time.process_time() - t_cpu, 1), "history": hist}
    info["cpu_s_per_step"] = round(info["cpu_s"] / max(1, step), 4)
    return info

def _train_seeds() -> set[int]:
    global _TRAIN_SEEDS
    if _TRAIN_SEEDS is None:
        _TRAIN_SEEDS = set(np.random.default_rng(0).integers(0, 2**31 - 1, TRAIN_SEED_GUARD)
                           .tolist())
    return _TRAIN_SEEDS


def heldout_seeds(n: int, stream: int) -> np.ndarray:
    """``n`` face seeds from ``default_rng(stream)``, none of them a training face's seed."""
    if stream == 0:
        raise ValueError("stream 0 is the training stream")
    cand = np.random.default_rng(stream).integers(0, 2**31 - 1, 2 * n + 100)
    train = _train_seeds()
    keep = [int(s) for s in cand if int(s) not in train]
    return np.asarray(keep[:n], np.int64)


def draw_set(seeds, size: int, **attrs) -> tuple[torch.Tensor, dict]:
    """Faces for ``seeds`` as float ``(N,3,S,S)`` in [-1, 1] + their attributes."""
    from gan_course.data.toy import _face_params, _render_face

    imgs, hair, glasses, male = [], [], [], []
    for s in seeds:
        p = _face_params(int(s), attrs.get("hair"), attrs.get("glasses"), attrs.get("male"))
        imgs.append(_render_face(p, size))
        hair.append(("black", "blond", "other").index(p["hair"]))
        glasses.append(0 if p["glasses"] else 1)  # label 0 = glasses (the course's order)
        male.append(int(p["male"]))
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    return x, {"hair": torch.tensor(hair), "glasses": torch.tensor(glasses),
               "male": torch.tensor(male)}


# ============================================================================ judges
JUDGE_CLASSES = {"glasses": 2, "hair": 3, "male": 2}
JUDGE_TRAIN_STREAM, JUDGE_TEST_STREAM = 101, 202


def judges(size: int = 32, n_train: int = 6000, n_test: int = 2000) -> dict[str, nn.Module]:
    """Glasses (0 = glasses), hair (black/blond/other) and male judges, cached on disk."""
    from gan_course.metrics import AttributeClassifier, predict, train_attribute_classifier

    path = OUT / f"judges-{size}px.pt"
    out: dict[str, nn.Module] = {}
    if path.is_file():
        state = torch.load(path, weights_only=True)
        for k, sd in state["models"].items():
            m = AttributeClassifier(JUDGE_CLASSES[k], image_size=size)
            m.load_state_dict(sd)
            out[k] = m.eval()
        return out
    OUT.mkdir(parents=True, exist_ok=True)
    x, a = draw_set(heldout_seeds(n_train, JUDGE_TRAIN_STREAM), size)
    xt, at = draw_set(heldout_seeds(n_test, JUDGE_TEST_STREAM), size)
    info = {}
    for k, nc in JUDGE_CLASSES.items():
        m, inf = train_attribute_classifier(x, a[k], num_classes=nc, epochs=10, seed=0)
        acc = float((predict(m, xt) == at[k]).float().mean())
        info[k] = {"heldout_accuracy_split": inf["heldout_accuracy"], "test_accuracy": acc,
                   "seconds": inf["train_seconds"]}
        print(f"judge {k}: test accuracy {acc:.4f} on {n_test} faces (train {inf['train_seconds']} s)")
        out[k] = m.eval()
    torch.save({"models": {k: m.state_dict() for k, m in out.items()}, "info": info}, path)
    return out


@torch.no_grad()
def probs(judge: nn.Module, x: torch.Tensor, batch: int = 250) -> torch.Tensor:
    """Softmax probabilities of ``judge`` on images ``x``."""
    judge.eval()
    return torch.cat([judge(x[i:i + batch]).softmax(1) for i in range(0, len(x), batch)])


def grain(x: torch.Tensor) -> float:
    """Mean |difference| of neighbouring pixels: flat toy faces score low, grainy fakes high."""
    return float(((x[..., 1:, :] - x[..., :-1, :]).abs().mean()
                  + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()) / 2)


def _tv(p: torch.Tensor, q: torch.Tensor) -> float:
    return float((p - q).abs().sum() / 2)


def _hist(pred: torch.Tensor, k: int) -> torch.Tensor:
    return torch.bincount(pred, minlength=k).float() / len(pred)


# ============================================================================ EMA
class EMA:
    """Exponential moving average of a generator's weights (buffers copied, e.g. BN stats).

    ``decay`` per step; ``start`` steps of plain copying first (an average that includes the
    random init would lag far behind a fast-moving young generator).
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, start: int = 0,
                 average_buffers: bool = False):
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.decay, self.start, self.n = float(decay), int(start), 0
        self.average_buffers = average_buffers

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.n += 1
        d = 0.0 if self.n <= self.start else self.decay
        for pe, p in zip(self.model.parameters(), model.parameters()):
            pe.lerp_(p.detach(), 1.0 - d)
        for be, b in zip(self.model.buffers(), model.buffers()):
            if self.average_buffers and be.is_floating_point():
                be.lerp_(b, 1.0 - d)
            else:
                be.copy_(b)


@torch.no_grad()
def recalibrate_bn(G: nn.Module, latent_dim: int, n_batches: int = 20, batch: int = 64,
                   seed: int = 99) -> nn.Module:
    """Re-estimate BatchNorm running statistics of a conditional generator for ITS weights.

    An averaged generator's weights never produced the running statistics copied from the live
    generator; a few forward passes in train mode (cumulative average, ``momentum=None``) fix that.
    """
    bns = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return G
    g = torch.Generator().manual_seed(seed)
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    G.train()
    for _ in range(n_batches):
        z = torch.randn(batch, latent_dim, generator=g)
        G(z, torch.randint(0, 2, (batch,), generator=g))
    for m in bns:
        m.momentum = 0.1
    return G.eval()


# ============================================================================ cGAN variants
class ProjectionCritic(nn.Module):
    """The book's critic (label planes at the input) + a projection term (Miyato & Koyama 2018).

    ``score = last_conv(h) + <embed(y), sum_xy h>``: besides the book's 4x4 -> 1 layer, the score
    gets the dot product of the image's pooled features with a learned vector of its label, so
    the critic has a direct "does this image match its label?" term. ``embed`` is linear in the
    one-hot row, so label weights ``[w, 1 - w]`` still mix the two label vectors.
    ``planes=False`` drops the input label planes (pure projection critic).
    """

    def __init__(self, num_classes=2, img_size=32, features=16, channels=3, planes=True):
        super().__init__()
        from gan_course.models import CGANCritic

        self.planes = planes
        self.num_classes = num_classes
        base = CGANCritic(num_classes if planes else 0, img_size, features, channels)
        self.body = base.main[:-1]
        self.last = base.main[-1]
        c = base.main[-1].in_channels
        self.embed = nn.Linear(num_classes, c, bias=False)
        self.img_size = img_size

    def forward(self, images, labels):
        from gan_course.models.cgan import label_planes, one_hot

        rows = one_hot(labels, self.num_classes).to(images)
        x = images
        if self.planes:
            x = torch.cat([images, label_planes(rows, self.num_classes, self.img_size)], 1)
        h = self.body(x)
        return self.last(h).flatten() + (self.embed(rows) * h.sum((2, 3))).sum(1)


class ACCritic(nn.Module):
    """Book critic + an auxiliary glasses classifier head on the same features (AC-GAN style).

    ``forward`` returns the Wasserstein score as usual; ``classify(images)`` returns label logits
    from the shared body run WITHOUT label planes (zeros), so the head cannot read the answer
    from the label channels.
    """

    def __init__(self, num_classes=2, img_size=32, features=16, channels=3):
        super().__init__()
        from gan_course.models import CGANCritic

        base = CGANCritic(num_classes, img_size, features, channels)
        self.critic = base
        c = base.main[-1].in_channels
        self.head = nn.Conv2d(c, num_classes, 4, 1, 0)
        self.num_classes = num_classes
        self.img_size = img_size

    def forward(self, images, labels):
        return self.critic(images, labels)

    def classify(self, images):
        zeros = torch.zeros(images.shape[0], self.num_classes, self.img_size, self.img_size,
                            device=images.device, dtype=images.dtype)
        h = self.critic.main[:-1](torch.cat([images, zeros], 1))
        return self.head(h).flatten(1)


class PlanesGenerator(nn.Module):
    """The book's generator, with the one-hot label ALSO appended as constant planes to the
    input of every transposed convolution (not only to the noise)."""

    def __init__(self, latent_dim=100, num_classes=2, img_size=32, features=16, channels=3):
        super().__init__()
        from gan_course.models import CGANGenerator

        base = CGANGenerator(latent_dim, num_classes, img_size, features, channels)
        self.latent_dim, self.num_classes, self.img_size = latent_dim, num_classes, img_size
        mods = list(base.main)
        self.blocks = nn.ModuleList()
        i = 0
        while i < len(mods):
            conv = mods[i]
            if i == 0:
                block = [conv]
            else:
                conv = nn.ConvTranspose2d(conv.in_channels + num_classes, conv.out_channels,
                                          4, 2, 1, bias=conv.bias is not None)
                block = [conv]
            j = i + 1
            while j < len(mods) and not isinstance(mods[j], nn.ConvTranspose2d):
                block.append(mods[j])
                j += 1
            self.blocks.append(nn.Sequential(*block))
            i = j

    def forward(self, z, labels):
        from gan_course.models.cgan import one_hot

        z = z.flatten(1)
        rows = one_hot(labels, self.num_classes).to(z)
        x = torch.cat([z, rows], 1)[:, :, None, None]
        for k, block in enumerate(self.blocks):
            if k > 0:
                planes = rows[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
                x = torch.cat([x, planes], 1)
            x = block(x)
        return x


def build_cgan(r: dict, device="cpu"):
    """Generator + critic for recipe ``r`` (weights_init applied, as the package does)."""
    from gan_course.models import CGANCritic, CGANGenerator, weights_init

    gk = dict(latent_dim=r["latent_dim"], num_classes=2, img_size=r["image_size"],
              features=r["features"])
    G = PlanesGenerator(**gk) if r.get("g_variant") == "planes" else CGANGenerator(**gk)
    ck = dict(num_classes=2, img_size=r["image_size"], features=r.get("d_features") or r["features"])
    cv = r.get("c_variant", "book")
    if cv == "proj":  # the package's option (same init order as ProjectionCritic)
        C = CGANCritic(**ck, projection=True)
    elif cv == "proj_only":
        C = ProjectionCritic(**ck, planes=False)
    elif cv == "ac":
        C = ACCritic(**ck)
    else:
        C = CGANCritic(**ck)
    G.apply(weights_init)
    C.apply(weights_init)
    return G.to(device), C.to(device)


def cgan_step(G, C, opt_g, opt_c, real, labels, r):
    """The package's ``wgan_gp_step`` unless the recipe needs the auxiliary classifier loss."""
    from gan_course.training import steps

    if r.get("c_variant") != "ac":
        return steps.wgan_gp_step(G, C, opt_g, opt_c, real, labels, latent_dim=r["latent_dim"],
                                  critic_iters=r["critic_iters"], lambda_gp=r["lambda_gp"],
                                  amp=False)
    from gan_course.losses import gradient_penalty

    lam = r.get("lambda_ac", 1.0)
    b = real.shape[0]
    for _ in range(r["critic_iters"]):
        with torch.no_grad():
            fake = G(torch.randn(b, r["latent_dim"]), labels)
        w = C(real, labels).mean() - C(fake, labels).mean()
        gp = gradient_penalty(lambda x: C(x, labels), real, fake)
        ac = F.cross_entropy(C.classify(real), labels)
        loss_c = -w + r["lambda_gp"] * gp + lam * ac
        opt_c.zero_grad(set_to_none=True)
        loss_c.backward()
        opt_c.step()
    from gan_course.training.steps import frozen

    with frozen(C):
        fake = G(torch.randn(b, r["latent_dim"]), labels)
        loss_g = -C(fake, labels).mean() + lam * F.cross_entropy(C.classify(fake), labels)
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    return {"loss_c": loss_c.item(), "loss_g": loss_g.item(), "ac": ac.item(), "w_dist": w.item()}


CGAN_DEMO = dict(task="cgan", image_size=32, n_train=1024, batch_size=32, epochs=14, lr=5e-4,
                 lr_d=None, betas=(0.5, 0.9), latent_dim=100, features=16, d_features=None,
                 critic_iters=2, lambda_gp=10.0, ema=0.0, ema_start=0, g_variant="book",
                 c_variant="book", lambda_ac=1.0, max_seconds=None)
"""Today's demo recipe (config.py ``_cgan('demo')``) in the harness's plain-dict form."""


def _load(name: str, size: int, n: int):
    import contextlib
    import io

    from gan_course import data

    with contextlib.redirect_stdout(io.StringIO()):
        return data.load(name, size=size, n=n)


def train_cgan(r: dict, seed: int, log_every: int = 0):
    """Train recipe ``r``; returns (G, G_ema or None, info)."""
    from gan_course.training.loop import Batches

    torch.manual_seed(seed)
    G, C = build_cgan(r)
    lr_d = r.get("lr_d") or r["lr"]
    opt_g = torch.optim.Adam(G.parameters(), lr=r["lr"], betas=tuple(float(b) for b in r["betas"]))
    opt_c = torch.optim.Adam(C.parameters(), lr=lr_d, betas=tuple(float(b) for b in r["betas"]))
    cache = _load("eyeglasses", r["image_size"], r["n_train"])
    batches = Batches([cache.images, cache.labels], r["batch_size"])
    gen = torch.Generator().manual_seed(seed)
    decays = r["ema"] if isinstance(r.get("ema"), (list, tuple)) else ([r["ema"]] if r.get("ema") else [])
    emas = [EMA(G, d, r.get("ema_start", 0)) for d in decays]
    if r.get("ema_avg_buffers"):  # extra copies whose BN statistics are averaged too
        emas += [EMA(G, d, r.get("ema_start", 0), average_buffers=True) for d in decays]
        decays = list(decays) + [f"{d}_avgbuf" for d in decays]
    step = 0
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    hist = []
    stop = False
    total = r["epochs"] * len(batches)
    decay_steps = int(r.get("decay_frac", 0) * total)
    for _epoch in range(r["epochs"]):
        for real, labels in batches.epoch(gen, torch.device("cpu")):
            if decay_steps:  # linear decay to 0 over the last decay_frac of the steps
                f = min(1.0, (total - step) / decay_steps)
                for o, base in ((opt_g, r["lr"]), (opt_c, lr_d)):
                    for grp in o.param_groups:
                        grp["lr"] = base * f
            out = cgan_step(G, C, opt_g, opt_c, real, labels, r)
            step += 1
            for ema in emas:
                ema.update(G)
            if _log_and_check(hist, step, out, log_every, r, t_wall):
                stop = True
                break
        if stop:
            break
    info = _run_info(step, t_wall, t_cpu, hist)
    return G.eval(), {d: e.model.eval() for d, e in zip(decays, emas)}, info


@torch.no_grad()
def eval_cgan(G: nn.Module, J: dict, size: int, n: int = 1000, seed: int = 777) -> dict:
    """Held-out-judge metrics of a conditional generator (label 0 = glasses)."""
    from gan_course.metrics import kid

    G.eval()
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, G.latent_dim, generator=g)

    def gen(rows):
        return torch.cat([G(z[i:i + 250], rows[i:i + 250]) for i in range(0, n, 250)])

    x0 = gen(torch.zeros(n, dtype=torch.long))
    x1 = gen(torch.ones(n, dtype=torch.long))
    p0, p1 = probs(J["glasses"], x0), probs(J["glasses"], x1)
    v0, v1 = p0.argmax(1), p1.argmax(1)
    res = {"acc_glasses": float((v0 == 0).float().mean()),
           "acc_noglasses": float((v1 == 1).float().mean()),
           "flip": float((v0 != v1).float().mean()),
           "flip_strict": float(((v0 == 0) & (v1 == 1)).float().mean())}
    w_curve = []
    for w in (0.0, 0.25, 0.5, 0.75, 1.0):
        rows = torch.tensor([[w, 1 - w]]).repeat(n, 1)
        pw = probs(J["glasses"], gen(rows))
        w_curve.append(round(float(pw[:, 0].mean()), 4))
    res["w_curve"] = w_curve
    res["w_monotone"] = bool(all(b > a for a, b in zip(w_curve, w_curve[1:])))
    # other attributes: histogram of the judges' verdicts on samples vs on training faces
    ref = _cgan_reference(size)
    both = torch.cat([x0, x1])
    hair = _hist(probs(J["hair"], both).argmax(1), 3)
    male = _hist(probs(J["male"], both).argmax(1), 2)
    res["hair_hist"] = [round(float(v), 3) for v in hair]
    res["hair_tv"] = round(_tv(hair, ref["hair"]), 4)
    res["male_tv"] = round(_tv(male, ref["male"]), 4)
    feats = _features(J, both[torch.randperm(2 * n, generator=g)[:1000]])
    res["kid"] = round(kid(ref["feats"], feats).mean, 4)
    res["kid_floor"] = ref["kid_floor"]
    res["grain"] = round(grain(both) / ref["grain"], 3)  # 1.0 = as smooth as real faces
    res["min_acc"] = min(res["acc_glasses"], res["acc_noglasses"])
    return res


_REF: dict = {}


def _features(J, x):
    with torch.no_grad():
        return torch.cat([torch.cat([J[k].features(x[i:i + 250]) for i in range(0, len(x), 250)])
                          for k in ("glasses", "hair", "male")], 1)


def _cgan_reference(size: int) -> dict:
    """Judge verdict histograms of the training faces and held-out real features (+ KID floor)."""
    from gan_course.metrics import kid

    if size in _REF:
        return _REF[size]
    J = judges(size)
    cache = _load("eyeglasses", size, 1024)
    xt = torch.from_numpy(np.array(cache.images)).float().div(127.5).sub(1)
    ref = {"hair": _hist(probs(J["hair"], xt).argmax(1), 3),
           "male": _hist(probs(J["male"], xt).argmax(1), 2)}
    x1, _ = draw_set(heldout_seeds(1000, 303), size)
    x2, _ = draw_set(heldout_seeds(2000, 404)[1000:], size)
    ref["feats"] = _features(J, x1)
    ref["kid_floor"] = round(kid(ref["feats"], _features(J, x2)).mean, 4)
    ref["grain"] = grain(x1)
    _REF[size] = ref
    return ref


def grid_cgan(G, path: Path, n: int = 8, seed: int = 5) -> None:
    """Rows: glasses / no glasses (same z), then a label-weight sweep w = 0 .. 1 for 4 z."""
    from torchvision.utils import save_image

    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, G.latent_dim, generator=g)
    with torch.no_grad():
        rows = [G(z, torch.zeros(n, dtype=torch.long)), G(z, torch.ones(n, dtype=torch.long))]
        ws = torch.linspace(1, 0, n)
        for i in range(4):
            lab = torch.stack([ws, 1 - ws], 1)
            rows.append(G(z[i:i + 1].repeat(n, 1), lab))
    path.parent.mkdir(parents=True, exist_ok=True)
    img = torch.cat(rows)
    img = F.interpolate(img, scale_factor=2, mode="nearest")
    save_image(img * 0.5 + 0.5, path, nrow=n, padding=2, pad_value=1.0)


# ============================================================================ CycleGAN
CYCLE_DEMO = dict(task="cyclegan", image_size=32, n_train=768, batch_size=8, epochs=16, lr=2e-4,
                  betas=(0.5, 0.999), features=16, d_features=(16, 32, 64), num_residuals=3,
                  lambda_cycle=10.0, lambda_identity=0.0, pool_size=0, decay_epochs=0, ema=0.0,
                  ema_start=0, residual_out=False, max_seconds=None)
"""The first demo recipe (the book's generator, lr 2e-4), the baseline the experiments vary; today's
demo (config.py ``_cyclegan('demo')``) is this with ``residual_out="clamp"``, lr 1e-3, ema 0.99."""


class ResidualOut(nn.Module):
    """The generator draws only the CHANGE to its input (an option under test).

    ``mode="clamp"``: ``G(x) = clamp(x + R(x), -1, 1)``;
    ``mode="tanh"``: ``G(x) = tanh(atanh(x) + R(x))`` - the change is added before the book's
    final tanh, so the output stays in (-1, 1) without clipping; but near +-1 the tanh's slope is
    ~0.01, so saturated colours (blond hair's red channel) barely move.
    """

    def __init__(self, net: nn.Module, mode: str = "clamp"):
        super().__init__()
        self.net, self.mode = net, mode
        net.last = net.last[0]  # drop the Tanh: applied (or clamped) after the sum

    def forward(self, x):
        r = self.net(x)
        if self.mode == "tanh":
            return torch.tanh(torch.atanh(x.clamp(-0.995, 0.995)) + r)
        return (x + r).clamp(-1, 1)


def build_cyclegan(r: dict):
    from gan_course.models import PatchDiscriminator, ResnetGenerator, weights_init

    mode = r.get("residual_out") or None
    mode = mode if isinstance(mode, str) or mode is None else "clamp"
    # "clamp" is the package's ResnetGenerator(residual=True) (same weights and init order);
    # "tanh" was, until the clamp replaced it (config.py records both measurements)
    gs = [ResnetGenerator(3, r["features"], r["num_residuals"], residual=mode == "clamp")
          for _ in range(2)]
    if mode == "tanh":
        gs = [ResidualOut(g, mode) for g in gs]
    ds = [PatchDiscriminator(3, r["d_features"]) for _ in range(2)]
    for m in gs + ds:
        m.apply(weights_init)
    return gs[0], gs[1], ds[0], ds[1]


def train_cyclegan(r: dict, seed: int, log_every: int = 0):
    """Train recipe ``r``; returns ((G_AB, G_BA), (G_AB_ema, G_BA_ema) or None, info)."""
    from gan_course.training import steps
    from gan_course.training.loop import Batches, PairedBatches

    torch.manual_seed(seed)
    G_AB, G_BA, D_A, D_B = build_cyclegan(r)
    opt_g = torch.optim.Adam(list(G_AB.parameters()) + list(G_BA.parameters()), lr=r["lr"],
                             betas=tuple(float(b) for b in r["betas"]))
    opt_d = torch.optim.Adam(list(D_A.parameters()) + list(D_B.parameters()),
                             lr=r.get("lr_d") or r["lr"], betas=tuple(float(b) for b in r["betas"]))
    cache = _load("celeba_hair", r["image_size"], r["n_train"])
    labels = np.asarray(cache.labels)
    black, blond = cache.classes.index("black"), cache.classes.index("blond")
    data = PairedBatches(Batches([cache.images], r["batch_size"], index=np.flatnonzero(labels == black)),
                         Batches([cache.images], r["batch_size"], index=np.flatnonzero(labels == blond)))
    pools = steps.ImagePool(r["pool_size"]), steps.ImagePool(r["pool_size"])
    total = r["epochs"] * len(data)
    decay_steps = r.get("decay_epochs", 0) * len(data)
    gen = torch.Generator().manual_seed(seed)
    emas = [EMA(G_AB, r["ema"], r.get("ema_start", 0)), EMA(G_BA, r["ema"], r.get("ema_start", 0))] \
        if r.get("ema") else None
    step, hist, stop = 0, [], False
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    lam_id = r["lambda_identity"]
    for _epoch in range(r["epochs"]):
        for real_A, real_B in data.epoch(gen, torch.device("cpu")):
            if decay_steps:
                f = min(1.0, (total - step) / decay_steps)
                for o, base in ((opt_g, r["lr"]), (opt_d, r.get("lr_d") or r["lr"])):
                    for grp in o.param_groups:
                        grp["lr"] = base * f
            lid = lam_id
            if r.get("identity_decay_steps"):
                lid = lam_id * max(0.0, 1 - step / r["identity_decay_steps"])
            out = steps.cyclegan_step(G_AB, G_BA, D_A, D_B, opt_g, opt_d, real_A, real_B,
                                      lambda_cycle=r["lambda_cycle"], lambda_identity=lid,
                                      pool_A=pools[0], pool_B=pools[1], amp=False)
            step += 1
            if emas:
                emas[0].update(G_AB)
                emas[1].update(G_BA)
            if _log_and_check(hist, step, out, log_every, r, t_wall):
                stop = True
                break
        if stop:
            break
    info = _run_info(step, t_wall, t_cpu, hist)
    gens = (G_AB.eval(), G_BA.eval())
    return gens, ((emas[0].model, emas[1].model) if emas else None), info


_CYC_REF: dict = {}


def cyclegan_heldout(size: int, n: int = 500):
    """Held-out black-haired and blond faces (the same seeds), plus the other hair's redraw."""
    if size not in _CYC_REF:
        seeds = heldout_seeds(n, 505)
        xa, aa = draw_set(seeds, size, hair="black")
        xb, ab = draw_set(seeds, size, hair="blond")
        _CYC_REF[size] = (xa, xb, aa["glasses"])
    return _CYC_REF[size]


@torch.no_grad()
def eval_cyclegan(G_AB, G_BA, J: dict, size: int, n: int = 500) -> dict:
    """Held-out metrics: A = black, B = blond. The oracle of G_AB(black face s) is blond face s."""
    xa, xb, _ = cyclegan_heldout(size, n)
    G_AB.eval()
    G_BA.eval()

    def run(G, x):
        return torch.cat([G(x[i:i + 100]) for i in range(0, len(x), 100)])

    fb, fa = run(G_AB, xa), run(G_BA, xb)
    ha, hb = probs(J["hair"], fb).argmax(1), probs(J["hair"], fa).argmax(1)
    res = {"to_blond": float((ha == 1).float().mean()), "to_black": float((hb == 0).float().mean())}
    res["oracle_ab"] = float((fb - xb).abs().mean())
    res["oracle_ba"] = float((fa - xa).abs().mean())
    res["copy"] = float((xa - xb).abs().mean())
    res["oracle_ratio"] = round((res["oracle_ab"] + res["oracle_ba"]) / (2 * res["copy"]), 4)
    res["round_trip"] = float(((run(G_BA, fb) - xa).abs().mean() + (run(G_AB, fa) - xb).abs().mean()) / 2)
    g_in = probs(J["glasses"], xa).argmax(1)
    g_ab, g_ba = probs(J["glasses"], fb).argmax(1), probs(J["glasses"], fa).argmax(1)
    g_inb = probs(J["glasses"], xb).argmax(1)
    res["glasses_kept"] = float(((g_ab == g_in).float().mean() + (g_ba == g_inb).float().mean()) / 2)
    # where the error sits: hair pixels vs the rest (pixels that differ between the two redraws)
    hairmask = ((xa - xb).abs().amax(1, keepdim=True) > 0.05).float()
    err = ((fb - xb).abs() + (fa - xa).abs()) / 2
    res["err_hair"] = float((err * hairmask).sum() / (hairmask.sum() * 3))
    res["err_rest"] = float((err * (1 - hairmask)).sum() / ((1 - hairmask).sum() * 3))
    res["grain"] = grain(torch.cat([fb, fa])) / grain(torch.cat([xa, xb]))
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in res.items()}


def grid_cyclegan(G_AB, G_BA, path: Path, size: int, n: int = 8) -> None:
    """Rows: black input, G_AB, oracle blond; blond input, G_BA, oracle black."""
    from torchvision.utils import save_image

    xa, xb, _ = cyclegan_heldout(size)
    xa, xb = xa[:n], xb[:n]
    with torch.no_grad():
        img = torch.cat([xa, G_AB(xa), xb, xb, G_BA(xb), xa])
    path.parent.mkdir(parents=True, exist_ok=True)
    img = F.interpolate(img, scale_factor=2, mode="nearest")
    save_image(img * 0.5 + 0.5, path, nrow=n, padding=2, pad_value=1.0)


# ============================================================================ runs
def _parse_sets(items: list[str]) -> dict:
    out = {}
    for it in items or []:
        k, v = it.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
        if isinstance(out[k], list):
            out[k] = tuple(out[k])
    return out


def run_one(task: str, recipe: dict, seed: int, tag: str, untrained: bool = False,
            grid: bool = True) -> dict:
    """Train (or not) + evaluate one recipe; appends a JSON line to results/research/<task>.jsonl."""
    size = recipe["image_size"]
    J = judges(size)
    if not untrained and not recipe.get("save"):
        recipe = {**recipe, "save": str(OUT / "models" / f"{task}_{tag}_s{seed}.pt")}
    threads = torch.get_num_threads()
    rec = {"task": task, "tag": tag, "seed": seed, "threads": threads,
           "recipe": {k: v for k, v in recipe.items()}, "time": time.strftime("%H:%M:%S"),
           "load": os.getloadavg()[0]}
    if task == "cgan":
        if untrained:
            torch.manual_seed(seed)
            G, _ = build_cgan(recipe)
            rec["untrained"] = eval_cgan(G, J, size)
        else:
            G, Ges, info = train_cgan(recipe, seed, log_every=20)
            rec["train"] = info
            rec["trained"] = eval_cgan(G, J, size)
            for d, Ge in Ges.items():
                rec[f"ema{d}"] = eval_cgan(Ge, J, size)
                if "avgbuf" in str(d):
                    continue
                recalibrate_bn(Ge, recipe["latent_dim"])
                rec[f"ema{d}_recal"] = eval_cgan(Ge, J, size)
            if grid:
                grid_cgan(G, FIGS / f"cgan_{tag}_s{seed}.png")
                for d, Ge in Ges.items():
                    grid_cgan(Ge, FIGS / f"cgan_{tag}_s{seed}_ema{d}.png")
            if recipe.get("save"):
                _save_models(recipe["save"], {"G": G, **{f"G_ema{d}": m for d, m in Ges.items()}},
                             recipe)
    else:
        if untrained:
            torch.manual_seed(seed)
            G_AB, G_BA, _, _ = build_cyclegan(recipe)
            rec["untrained"] = eval_cyclegan(G_AB, G_BA, J, size)
        else:
            (G_AB, G_BA), ema, info = train_cyclegan(recipe, seed, log_every=20)
            rec["train"] = info
            rec["trained"] = eval_cyclegan(G_AB, G_BA, J, size)
            if ema is not None:
                rec["ema"] = eval_cyclegan(*ema, J, size)
            if grid:
                best = ema if ema is not None else (G_AB, G_BA)
                grid_cyclegan(*best, FIGS / f"cyclegan_{tag}_s{seed}.png", size)
            if recipe.get("save"):
                models = {"G_AB": G_AB, "G_BA": G_BA}
                if ema is not None:
                    models.update(G_AB_ema=ema[0], G_BA_ema=ema[1])
                _save_models(recipe["save"], models, recipe)
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / f"{task}.jsonl", "a") as f:
        f.write(json.dumps(rec) + "\n")
    return rec


def _save_models(path: str, models: dict, recipe: dict) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"models": {k: m.state_dict() for k, m in models.items()},
                "recipe": json.dumps(recipe)}, p)


def eval_saved(path: str, keys: list[str] | None = None) -> dict:
    """Re-evaluate generators saved by a run (``results/research/models/*.pt``)."""
    state = torch.load(path, weights_only=True)
    r = json.loads(state["recipe"])
    size = r["image_size"]
    J = judges(size)
    out = {}
    if r["task"] == "cgan":
        for k, sd in state["models"].items():
            if keys and k not in keys:
                continue
            G, _ = build_cgan(r)
            G.load_state_dict(sd)
            out[k] = eval_cgan(G.eval(), J, size)
            grid_cgan(G, FIGS / f"eval_{Path(path).stem}_{k}.png")
    else:
        pairs = [("G_AB", "G_BA")] + ([("G_AB_ema", "G_BA_ema")] if "G_AB_ema" in state["models"]
                                       else [])
        for a, b in pairs:
            G_AB, G_BA, _, _ = build_cyclegan(r)
            G_AB.load_state_dict(state["models"][a])
            G_BA.load_state_dict(state["models"][b])
            out[a] = eval_cyclegan(G_AB, G_BA, J, size)
            grid_cyclegan(G_AB, G_BA, FIGS / f"eval_{Path(path).stem}_{a}.png", size)
    return out


def summary(rec: dict) -> str:
    """One line per run: the metrics that matter."""
    parts = [f"{rec['tag']} s{rec['seed']} t{rec['threads']}"]
    if "train" in rec:
        t = rec["train"]
        parts.append(f"steps {t['steps']} wall {t['wall_s']}s cpu {t['cpu_s']}s "
                     f"({t['cpu_s_per_step']} s/step)")
    for key in [k for k in rec if k in ("untrained", "trained", "ema") or k.startswith("ema")]:
        m = rec[key]
        if rec["task"] == "cgan":
            parts.append(f"[{key}] acc {m['acc_glasses']:.3f}/{m['acc_noglasses']:.3f} "
                         f"flip {m['flip']:.3f} w {m['w_curve']} hairTV {m['hair_tv']:.3f} "
                         f"maleTV {m['male_tv']:.3f} kid {m['kid']:.3f} (floor {m['kid_floor']})"
                         f" grain {m.get('grain', float('nan')):.2f}")
        else:
            parts.append(f"[{key}] dom {m['to_blond']:.3f}/{m['to_black']:.3f} oracle "
                         f"{m['oracle_ab']:.3f}/{m['oracle_ba']:.3f} vs copy {m['copy']:.3f} "
                         f"(ratio {m['oracle_ratio']:.3f}; hair {m['err_hair']:.3f} rest "
                         f"{m['err_rest']:.3f}) rt {m['round_trip']:.3f} glasses "
                         f"{m['glasses_kept']:.3f} grain {m.get('grain', float('nan')):.2f}")
    return "\n   ".join(parts)


CGAN_COLS = [("min_acc", "min acc", 1), ("acc_glasses", "acc glasses", 1),
             ("acc_noglasses", "acc none", 1), ("flip", "flip", 1), ("hair_tv", "hair TV", -1),
             ("male_tv", "male TV", -1), ("kid", "KID", -1)]
CYCLE_COLS = [("to_blond", "->blond", 1), ("to_black", "->black", 1),
              ("oracle_ratio", "oracle/copy", -1), ("round_trip", "round trip", -1),
              ("glasses_kept", "glasses kept", 1)]


def table(task: str, tags: list[str], model_key: str) -> str:
    """Markdown seed x thread table of the runs tagged ``tags`` (+ the untrained baseline).

    ``model_key``: which generator's numbers (``trained``, ``ema``, ``ema0.99_recal``, ...).
    A metric is marked ``!`` where the trained value does not beat the untrained one.
    """
    rows = [json.loads(line) for line in open(OUT / f"{task}.jsonl")]
    cols = CGAN_COLS if task == "cgan" else CYCLE_COLS
    runs = [r for r in rows if r["tag"] in tags and model_key in r]
    untrained = {}
    for r in rows:
        if "untrained" in r and r["tag"].startswith("untrained"):
            untrained[(r["tag"], r["seed"])] = r["untrained"]
    head = "| tag | seed | threads | steps | wall s | CPU s | " + " | ".join(c[1] for c in cols) + " |"
    out = [head, "|" + "---|" * (6 + len(cols))]
    for r in runs:
        base = r["recipe"]
        # the critic never changes the untrained generator: one cgan baseline per seed
        ukey = ("untrained_res" if base.get("residual_out") and task == "cyclegan"
                else "untrained", r["seed"])
        u = untrained.get(ukey)
        m, t = r[model_key], r["train"]
        cells = []
        for key, _, sign in cols:
            v = m[key]
            bad = u is not None and not (sign * v > sign * u[key])
            cells.append(f"{v:.3f}{' !' if bad else ''}")
        out.append(f"| {r['tag']} | {r['seed']} | {r['threads']} | {t['steps']} | {t['wall_s']} | "
                   f"{t['cpu_s']} | " + " | ".join(cells) + " |")
    for (tag, seed), u in sorted(untrained.items()):
        out.append(f"| {tag} | {seed} | - | 0 | - | - | "
                   + " | ".join(f"{u[k]:.3f}" for k, _, _ in cols) + " |")
    return "\n".join(out)


def main(argv=None) -> int:
    """CLI entry point (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["judges", "cgan", "cyclegan", "sweep", "table", "eval"])
    ap.add_argument("sweep_task", nargs="?", choices=["cgan", "cyclegan"])
    ap.add_argument("--set", nargs="*", default=[], help="recipe overrides key=json-value")
    ap.add_argument("--tag", default="run")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0])
    ap.add_argument("--untrained", action="store_true")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--tags", nargs="*", default=[], help="table: run tags to list")
    ap.add_argument("--path", help="eval: a model file saved by a run")
    ap.add_argument("--model", default="trained", help="table: trained | ema | ema0.99_recal")
    args = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    if args.what == "judges":
        judges(args.size)
        info = torch.load(OUT / f"judges-{args.size}px.pt", weights_only=True)["info"]
        print(json.dumps(info, indent=1))
        return 0
    if args.what == "eval":
        for k, m in eval_saved(args.path).items():
            print(k, json.dumps(m))
        return 0
    task = args.sweep_task if args.what in ("sweep", "table") else args.what
    if args.what == "table":
        print(table(task, args.tags, args.model))
        return 0
    base = CGAN_DEMO if task == "cgan" else CYCLE_DEMO
    recipe = {**base, **_parse_sets(args.set)}
    for seed in args.seeds:
        rec = run_one(task, recipe, seed, args.tag, untrained=args.untrained)
        print(summary(rec), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
