"""Checks for assignment a08: WGAN-GP on the ring of Gaussians — the two steps, then tuning.

``critic_step`` and ``generator_step`` are checked by behaviour: one step of the student's
code and one step of the reference, on identical copies of the networks and optimizers, must
leave identical weights. Typical mistakes (a flipped sign, no penalty, a penalty that does not
back-propagate, a missing ``zero_grad``) are recognised by replaying them. The tuned
hyperparameters are then graded by a distance: the assignment's loop, run with the student's
steps and hyperparameters under a fixed budget of updates, must bring the generated points close
to the data (sliced Wasserstein-1 distance, the check's own copy).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch

from ._common import call, own_answer, passed, problem
from .points import make_mlp, sample_ring, sliced_w1

BUDGET = 1800
"""Most network updates (critic + generator) a tuned run may use: it must train in seconds."""
TUNED_SEEDS = (0, 1)
TUNED_MAX_DISTANCE = 0.2
"""On the mean over the two seeds. Two samples of the data score about 0.04; the notebook's
untuned starting point 0.78-0.80; n_critic 5, betas (0.5, 0.9), lambda_gp 0.1, lr 3e-3 scored
0.11-0.17 on eight seeds (measured when the assignment was written)."""
HP_KEYS = {"steps": int, "n_critic": int, "lr": float, "betas": tuple, "lambda_gp": float}


def _ref_critic_loss(G, critic, real, z, alpha, lambda_gp, sign=1.0, gp=True, graph=True):
    with torch.no_grad():
        fake = G(z)
    loss = sign * (critic(fake).mean() - critic(real).mean())
    if gp:
        x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        scores = critic(x_hat)
        grad = torch.autograd.grad(scores, x_hat, torch.ones_like(scores), create_graph=graph)[0]
        loss = loss + lambda_gp * ((grad.norm(2, dim=1) - 1) ** 2).mean()
    return loss


def _ref_generator_loss(G, critic, z, kind="wasserstein"):
    scores = critic(G(z))
    if kind == "flipped":
        return scores.mean()
    if kind == "bce":
        return torch.nn.functional.softplus(-scores).mean()
    return -scores.mean()


def _critic_variant(real, z, alpha, lam, sign=1.0, gp=True, graph=True) -> Callable:
    """A critic step, right or with one typical mistake, to replay on copies of the networks."""
    def step(G, critic, opt_g, opt_c, zero_grad):
        loss = _ref_critic_loss(G, critic, real, z, alpha, lam, sign, gp, graph)
        if zero_grad:
            opt_c.zero_grad()
        loss.backward()
        opt_c.step()
    return step


def _generator_variant(z, kind="wasserstein") -> Callable:
    """A generator step, right or with one typical mistake, to replay on copies of the networks."""
    def step(G, critic, opt_g, opt_c, zero_grad):
        loss = _ref_generator_loss(G, critic, z, kind)
        if zero_grad:
            opt_g.zero_grad()
        loss.backward()
        opt_g.step()
    return step


def _setup(seed: int, lr: float = 0.1):
    """G, critic and an optimizer for each, with known weights and stale (junk) gradients.

    Plain SGD, so the weights after one step show the gradient itself (Adam's first step moves
    every weight by about ±lr whatever the gradient, which would hide a missing penalty term).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G, critic = make_mlp(2, 2), make_mlp(2, 1)
    for p in [*G.parameters(), *critic.parameters()]:
        p.grad = torch.full_like(p, 0.5)  # a step that forgets zero_grad() adds these in
    return G, critic, torch.optim.SGD(G.parameters(), lr=lr), torch.optim.SGD(
        critic.parameters(), lr=lr)


def _clone(G, critic, opt_g, opt_c):
    G2, c2 = copy.deepcopy(G), copy.deepcopy(critic)
    return (G2, c2, torch.optim.SGD(G2.parameters(), lr=opt_g.defaults["lr"]),
            torch.optim.SGD(c2.parameters(), lr=opt_c.defaults["lr"]))


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.allclose(p, q, atol=1e-6) for p, q in zip(a.parameters(), b.parameters()))


def _replay(step: Callable, nets, zero_grad: bool = True) -> tuple:
    """Run ``step(G, critic, opt_g, opt_c)`` on a copy of ``nets``; return the copy."""
    G, critic, opt_g, opt_c = _clone(*nets)
    for p in [*G.parameters(), *critic.parameters()]:
        p.grad = torch.full_like(p, 0.5)
    step(G, critic, opt_g, opt_c, zero_grad)
    return G, critic


def check_critic_step(fn: Callable[..., Any]) -> None:
    """Check ``critic_step(G, critic, opt_c, real, z, alpha, lambda_gp)``: one critic update
    with loss ``mean C(G(z)) - mean C(real) + lambda_gp · mean((‖∇C(x̂)‖ - 1)²)``,
    ``x̂ = alpha·real + (1 - alpha)·G(z)``, that changes neither G nor its gradients."""
    name = "critic_step"
    own_answer(fn, name)
    g = torch.Generator().manual_seed(21)
    for case, lam in enumerate((10.0, 0.5)):
        nets = _setup(30 + case)
        real = sample_ring(64, g)
        z, alpha = torch.randn(64, 2, generator=g), torch.rand(64, 1, generator=g)
        G, critic, opt_g, opt_c = nets
        G0 = copy.deepcopy(G)
        for p in G.parameters():
            p.grad = None
        kept = _clone(*nets)
        call(fn, name, G, critic, opt_c, real.clone(), z.clone(), alpha.clone(), lam)
        call_text = f"{name}(..., lambda_gp={lam})"
        if not _same(G, G0):
            raise AssertionError(f"{call_text}: the generator's weights changed — the critic step "
                                 f"updates the critic only (opt_c).")
        if any(p.grad is not None for p in G.parameters()):
            raise AssertionError(f"{call_text}: gradients reached the generator — make the fakes "
                                 f"with torch.no_grad() (or .detach() them) in the critic step.")
        def variant(sign=1.0, gp=True, graph=True, real=real, z=z, alpha=alpha, lam=lam):
            return _critic_variant(real, z, alpha, lam, sign, gp, graph)

        if _same(critic, _replay(variant(), kept)[1]):
            continue
        hint = ("loss = mean C(fake) - mean C(real) + lambda_gp · mean((‖∇C(x̂)‖₂ - 1)²), then "
                "opt_c.zero_grad(), backward(), opt_c.step()")
        for label, mistake, zero in [
                ("sign flipped: the critic minimises mean C(fake) - mean C(real)", variant(-1.0), True),
                ("the gradient penalty does not reach the critic's weights: it is missing, or "
                 "torch.autograd.grad lacks create_graph=True", variant(gp=False), True),
                ("call opt_c.zero_grad() before backward(): stale gradients were added in",
                 variant(), False)]:
            if _same(critic, _replay(mistake, kept, zero)[1]):
                hint = label
                break
        raise AssertionError(f"{call_text}: {hint} — the critic's weights after your step differ "
                             f"from the reference step's.")
    passed(name, 2)


def check_generator_step(fn: Callable[..., Any]) -> None:
    """Check ``generator_step(G, critic, opt_g, z)``: one generator update with the loss
    ``-mean C(G(z))``."""
    name = "generator_step"
    own_answer(fn, name)
    g = torch.Generator().manual_seed(22)
    for case in range(2):
        nets = _setup(40 + case)
        z = torch.randn(64, 2, generator=g)
        kept = _clone(*nets)
        G, critic, opt_g, _ = nets
        c0 = copy.deepcopy(critic)
        call(fn, name, G, critic, opt_g, z.clone())
        if not _same(critic, c0):
            raise AssertionError(f"{name}: the critic's weights changed — the generator step "
                                 f"updates G only (opt_g).")
        def variant(kind="wasserstein", z=z):
            return _generator_variant(z, kind)

        if _same(G, _replay(variant(), kept)[0]):
            continue
        hint = "loss = -mean C(G(z)), then opt_g.zero_grad(), backward(), opt_g.step()"
        for label, mistake, zero in [
                ("sign flipped: the generator maximises the critic's score, loss = -mean C(G(z))",
                 variant("flipped"), True),
                ("that is the BCE generator loss; WGAN's generator loss is -mean C(G(z))",
                 variant("bce"), True),
                ("call opt_g.zero_grad() before backward(): stale gradients were added in",
                 variant(), False)]:
            if _same(G, _replay(mistake, kept, zero)[0]):
                hint = label
                break
        raise AssertionError(f"{name}: {hint} — the generator's weights after your step differ "
                             f"from the reference step's.")
    passed(name, 2)


def train_wgan_gp(critic_step: Callable, generator_step: Callable, hp: dict, seed: int = 0,
                  batch: int = 256) -> torch.nn.Module:
    """The a08 notebook's training loop, step for step (the global random state is untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G, critic = make_mlp(2, 2), make_mlp(2, 1)
    data = torch.Generator().manual_seed(seed + 100)
    opt_g = torch.optim.Adam(G.parameters(), lr=hp["lr"], betas=hp["betas"])
    opt_c = torch.optim.Adam(critic.parameters(), lr=hp["lr"], betas=hp["betas"])
    for _ in range(hp["steps"]):
        for _ in range(hp["n_critic"]):
            real = sample_ring(batch, data)
            z = torch.randn(batch, 2, generator=data)
            alpha = torch.rand(batch, 1, generator=data)
            critic_step(G, critic, opt_c, real, z, alpha, hp["lambda_gp"])
        generator_step(G, critic, opt_g, torch.randn(batch, 2, generator=data))
    return G


def _check_hparams(hp: Any) -> dict:
    if not isinstance(hp, dict) or set(hp) != set(HP_KEYS):
        raise AssertionError(f"HPARAMS: expected a dict with the keys {sorted(HP_KEYS)}, got "
                             f"{sorted(hp) if isinstance(hp, dict) else type(hp).__name__}.")
    out = {}
    for key, kind in HP_KEYS.items():
        value = hp[key]
        if kind is tuple:
            if not (isinstance(value, (tuple, list)) and len(value) == 2
                    and all(0 <= float(b) < 1 for b in value)):
                raise AssertionError(f"HPARAMS['betas']: two numbers in [0, 1), got {value!r}.")
            out[key] = (float(value[0]), float(value[1]))
        elif kind is int:
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise AssertionError(f"HPARAMS['{key}']: a whole number ≥ 1, got {value!r}.")
            out[key] = int(value)
        else:
            if not float(value) > 0:
                raise AssertionError(f"HPARAMS['{key}']: a number > 0, got {value!r}.")
            out[key] = float(value)
    updates = out["steps"] * (out["n_critic"] + 1)
    if updates > BUDGET:
        raise AssertionError(f"HPARAMS: steps · (n_critic + 1) = {updates} updates; the budget is "
                             f"{BUDGET} — a run must finish in seconds.")
    return out


def check_wgan_gp_tuned(critic_step: Callable, generator_step: Callable, hparams: dict) -> None:
    """Train with the student's steps and ``hparams`` (seeds 0 and 1, within the budget) and
    require a sliced Wasserstein-1 distance to the data of at most 0.2, averaged over the seeds."""
    name = "wgan_gp_tuned"
    own_answer(critic_step, "critic_step")
    own_answer(generator_step, "generator_step")
    hp = _check_hparams(hparams)
    for check, step in ((check_critic_step, critic_step), (check_generator_step, generator_step)):
        first = problem(check, step)
        if first:  # tuning is graded on a correct WGAN-GP: fix the steps first
            raise AssertionError(f"{name}: make the checks of exercises 1 and 2 pass first — "
                                 f"{first}")
    z = torch.randn(2000, 2, generator=torch.Generator().manual_seed(1))
    real = sample_ring(2000, torch.Generator().manual_seed(2))
    distances = []
    for seed in TUNED_SEEDS:
        G = call(train_wgan_gp, "train_wgan_gp with your steps", critic_step, generator_step, hp,
                 seed)
        with torch.no_grad():
            distances.append(sliced_w1(G(z), real))
    mean = sum(distances) / len(distances)
    if mean > TUNED_MAX_DISTANCE:
        got = ", ".join(f"seed {s}: {d:.3f}" for s, d in zip(TUNED_SEEDS, distances))
        raise AssertionError(f"{name}: too far from the data — the mean sliced W1 over the seeds "
                             f"must be ≤ {TUNED_MAX_DISTANCE}; got {mean:.3f} ({got}). Tune "
                             f"HPARAMS.")
    passed(name, len(TUNED_SEEDS))
    print("  sliced W1 " + ", ".join(f"seed {s}: {d:.3f}" for s, d in zip(TUNED_SEEDS, distances)))
