"""A GAN on 2-D points: tiny MLPs and a plain training loop (the GAN fundamentals notebook).

Points train in seconds on a CPU, so every idea of the course can be watched on a scatter plot:
the non-saturating loss, the optimal discriminator, mode collapse, and WGAN-GP. The losses come
from :mod:`gan_course.losses`.

::

    from gan_course.models.points import PointGANConfig, train_point_gan, train_point_gans

    run = train_point_gan(PointGANConfig(loss="wgan-gp", steps=1000, seed=0))
    fake = run.sample(2000)                                   # (2000, 2) generated points
    runs = train_point_gans(PointGANConfig(steps=1000), seeds=(0, 1, 2))   # three seeds at once

Several seeds train **at once**: the networks of all seeds are stacked (:class:`Stacked`) and
run with batched matrix products. On a CPU, nets this small are limited by the cost of each
PyTorch operation, not by arithmetic, so three seeds cost about 1.3 times one. The maths is the
one-seed loop's: each seed has its own weights, data, noise and Adam state, and the losses of
the seeds are summed, so no seed's gradient depends on another's (Adam works element by element,
so stacked parameters are updated exactly as separate ones would be).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from gan_course.data.points import ring_of_gaussians
from gan_course.losses import (
    critic_loss_wasserstein,
    d_loss_bce,
    g_loss_bce,
    g_loss_wasserstein,
    gradient_penalty,
)

__all__ = ["LOSSES", "PointDiscriminator", "PointGANConfig", "PointGANRun", "PointGenerator",
           "Snapshot", "Stacked", "mlp", "point_d_step", "point_g_step", "train_point_gan",
           "train_point_gans"]

LOSSES = ("nonsaturating", "saturating", "wgan-gp")
"""``nonsaturating``: BCE discriminator, generator minimises ``-log D(G(z))`` (the GAN everyone
trains). ``saturating``: same discriminator, generator minimises ``log(1 - D(G(z)))`` (the
minimax game as written; for comparison only). ``wgan-gp``: critic with the Wasserstein loss and
the gradient penalty."""


def mlp(n_in: int, n_out: int, hidden: int = 64, depth: int = 3) -> nn.Sequential:
    """``Linear(n_in, hidden) -> ReLU -> [Linear(hidden, hidden) -> ReLU] * (depth - 1) ->
    Linear(hidden, n_out)``: the body of both point networks (no output activation)."""
    if hidden < 1 or depth < 1:
        raise ValueError(f"hidden and depth must be >= 1, got hidden={hidden}, depth={depth}.")
    layers: list[nn.Module] = [nn.Linear(n_in, hidden), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Linear(hidden, hidden), nn.ReLU()]
    layers.append(nn.Linear(hidden, n_out))
    return nn.Sequential(*layers)


class PointGenerator(nn.Module):
    """Noise ``(B, latent_dim)`` -> points ``(B, 2)``. No output activation: the plane is unbounded.

    Its ``net`` is :func:`mlp`, so with the same ``torch.manual_seed`` it gets the same weights as
    ``mlp(latent_dim, 2, hidden, depth)`` written by hand.
    """

    def __init__(self, latent_dim: int = 2, hidden: int = 64, depth: int = 3):
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.net = mlp(self.latent_dim, 2, hidden, depth)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"PointGenerator expects noise of shape (B, {self.latent_dim}), got "
                             f"{tuple(z.shape)}; make it with torch.randn(B, {self.latent_dim}).")
        return self.net(z)


class PointDiscriminator(nn.Module):
    """Points ``(B, 2)`` -> one number per point ``(B,)``: a logit (BCE) or a critic score (WGAN).

    There is no sigmoid: ``torch.sigmoid(D(x))`` is the probability "real" for the BCE losses;
    a Wasserstein critic uses the raw score.
    """

    def __init__(self, hidden: int = 64, depth: int = 3):
        super().__init__()
        self.net = mlp(2, 1, hidden, depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != 2:
            raise ValueError(f"PointDiscriminator expects points of shape (B, 2), got "
                             f"{tuple(x.shape)}.")
        return self.net(x).squeeze(1)


class Stacked(nn.Module):
    """Several networks of the same :func:`mlp` shape, run at once: ``(S, B, n_in) -> (S, B, n_out)``.

    Layer ``i`` of member ``s`` is ``x @ weights[i][s] + biases[i][s]`` (``torch.baddbmm``), ReLU
    between layers, exactly the member's own ``mlp``. ``squeeze=True`` drops a last dimension of
    size 1 (discriminators: ``(S, B)``). :meth:`copy_to` writes the trained weights back into the
    plain modules.
    """

    def __init__(self, modules: list[nn.Module], squeeze: bool = False):
        super().__init__()
        linears = [[m for m in mod.modules() if isinstance(m, nn.Linear)] for mod in modules]
        if not linears or any(len(ls) != len(linears[0]) for ls in linears):
            raise ValueError("Stacked needs at least one network, all with the same layers.")
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.stack([ls[i].weight.detach().T for ls in linears]))
             for i in range(len(linears[0]))])
        self.biases = nn.ParameterList(
            [nn.Parameter(torch.stack([ls[i].bias.detach()[None] for ls in linears]))
             for i in range(len(linears[0]))])
        self.squeeze = squeeze

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = F.relu(x)
        return x.squeeze(-1) if self.squeeze else x

    @torch.no_grad()
    def copy_to(self, modules: list[nn.Module]) -> None:
        """Copy member ``s``'s weights into ``modules[s]`` (the networks it was built from)."""
        for s, mod in enumerate(modules):
            layers = [m for m in mod.modules() if isinstance(m, nn.Linear)]
            for layer, w, b in zip(layers, self.weights, self.biases):
                layer.weight.copy_(w[s].T)
                layer.bias.copy_(b[s, 0])


@dataclass(frozen=True)
class PointGANConfig:
    """Everything a point-GAN run depends on. The data is :func:`ring_of_gaussians`.

    ``steps`` counts generator updates; before each, the discriminator/critic is updated
    ``d_steps`` times, each time on a fresh real batch. Adam is used for both networks.
    """

    loss: str = "nonsaturating"
    steps: int = 2000
    d_steps: int = 1
    batch_size: int = 128
    latent_dim: int = 2
    hidden: int = 64
    depth: int = 3
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.999)
    lambda_gp: float = 10.0
    modes: int = 8
    radius: float = 2.0
    std: float = 0.05
    seed: int = 0

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}.")
        if self.steps < 0 or self.d_steps < 1 or self.batch_size < 1:
            raise ValueError(f"need steps >= 0, d_steps >= 1, batch_size >= 1; got steps="
                             f"{self.steps}, d_steps={self.d_steps}, batch_size={self.batch_size}.")


@dataclass
class Snapshot:
    """The generator's points for a fixed noise batch after ``step`` generator updates, and the
    discriminator's output on the run's ``grid`` (``None`` if no grid was given)."""

    step: int
    fake: torch.Tensor
    d_grid: torch.Tensor | None = None


@dataclass
class PointGANRun:
    """A finished run: config (with its seed), the trained networks, a loss history, snapshots."""

    cfg: PointGANConfig
    G: PointGenerator
    D: PointDiscriminator
    history: list[dict] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)

    @torch.no_grad()
    def sample(self, n: int, seed: int = 1234) -> torch.Tensor:
        """``n`` generated points ``(n, 2)`` from seeded noise."""
        z = torch.randn(n, self.cfg.latent_dim, generator=torch.Generator().manual_seed(seed))
        return self.G(z)


# ----------------------------------------------------------------------------- one step each
# Shapes: one run has real/fake points (B, 2) and outputs (B,); S stacked runs have (S, B, 2) and
# (S, B). The package losses average over all S * B outputs, i.e. they give the mean of the runs'
# own losses (equal batches), so S * loss is the sum of the runs' losses and every run gets
# exactly its own gradient.
def _n_runs(x: torch.Tensor) -> int:
    return x.shape[0] if x.dim() == 3 else 1


def _per_run(t: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return t.unbind(0) if t.dim() == 2 else (t,)


@contextlib.contextmanager
def _frozen(model: nn.Module):
    # the G update needs gradients *through* D, not D's own weight gradients
    model.requires_grad_(False)
    try:
        yield
    finally:
        model.requires_grad_(True)


def point_d_step(G, D, opt_d, real, z, cfg: PointGANConfig,
                 generator: torch.Generator | None = None, log: bool = True) -> dict:
    """One discriminator (or critic) update on a real batch and the fakes ``G(z)``.

    BCE: ``-log sigma(D(real)) - log(1 - sigma(D(fake)))``. WGAN-GP: ``C(fake) - C(real) +
    lambda_gp * GP`` (``generator`` seeds the penalty's interpolation weights). With ``log``,
    returns lists with one entry per run: ``loss_d`` and ``d_real``/``d_fake`` (mean
    probabilities "real") or ``w_dist`` (mean C(real) - mean C(fake)) and ``gp`` (for stacked
    runs, the penalty pooled over the runs); without, an empty dict (saves time).
    """
    n = _n_runs(real)
    with torch.no_grad():                    # the D update never reaches G
        fake = G(z)
    real_out, fake_out = D(real), D(fake)
    if cfg.loss == "wgan-gp":
        # one penalty over all runs' samples = the mean of the runs' penalties (equal batches)
        gp = gradient_penalty(lambda x: D(x.view_as(real)).reshape(-1), real.reshape(-1, 2),
                              fake.reshape(-1, 2), generator=generator)
        loss = n * (critic_loss_wasserstein(real_out, fake_out) + cfg.lambda_gp * gp)
    else:
        loss = n * d_loss_bce(real_out, fake_out)
    opt_d.zero_grad(set_to_none=True)
    loss.backward()
    opt_d.step()
    if not log:
        return {}
    with torch.no_grad():
        pairs = list(zip(_per_run(real_out), _per_run(fake_out)))
        if cfg.loss == "wgan-gp":
            return {"loss_d": [(critic_loss_wasserstein(r, f) + cfg.lambda_gp * gp).item()
                               for r, f in pairs],
                    "w_dist": [(r.mean() - f.mean()).item() for r, f in pairs],
                    "gp": [gp.item()] * n}
        return {"loss_d": [d_loss_bce(r, f).item() for r, f in pairs],
                "d_real": [torch.sigmoid(r).mean().item() for r, _ in pairs],
                "d_fake": [torch.sigmoid(f).mean().item() for _, f in pairs]}


def _g_loss(out: torch.Tensor, loss: str) -> torch.Tensor:
    if loss == "nonsaturating":
        return g_loss_bce(out)                    # -log D(G(z))
    if loss == "saturating":
        # log(1 - sigma(a)) = -softplus(a): the minimax generator loss. Not in gan_course.losses
        # because nobody should train with it; here to show why.
        return -F.softplus(out).mean()
    return g_loss_wasserstein(out)                # -C(G(z))


def point_g_step(G, D, opt_g, z, cfg: PointGANConfig, log: bool = True) -> dict:
    """One generator update: make ``D`` score ``G(z)`` as real (the gradient flows through ``D``
    into ``G``; ``D``'s own weights get no gradient and do not change). With ``log``, returns
    ``loss_g``, a list with one entry per run."""
    with _frozen(D):
        out = D(G(z))
        loss = _n_runs(z) * _g_loss(out, cfg.loss)
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
    if not log:
        return {}
    with torch.no_grad():
        return {"loss_g": [_g_loss(o, cfg.loss).item() for o in _per_run(out)]}


# ----------------------------------------------------------------------------- the loop
def _adam(model: nn.Module, lr: float, betas) -> torch.optim.Adam:
    # fused Adam updates all tensors in one kernel: a third of the time of the per-tensor loop for
    # nets this small (the same algorithm; PyTorch >= 2.4 has it on the CPU)
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, betas=betas, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(model.parameters(), lr=lr, betas=betas)


def train_point_gans(cfg: PointGANConfig, seeds=(0, 1, 2), snapshot_steps=(),
                     grid: torch.Tensor | None = None, n_snapshot: int = 1000,
                     log_every: int = 10) -> list[PointGANRun]:
    """Train one point GAN per seed on the ring of Gaussians of ``cfg``, all at once.

    Run ``s`` is reproducible from its seed: its networks are initialised under
    ``torch.manual_seed(seed)``, its data and noise come from generators seeded from it (the
    gradient penalty's random weights come from one stream seeded by ``seeds[0]``). The global
    random state is left as it was. Returns one :class:`PointGANRun` per seed (``run.cfg.seed``
    is its seed) with plain :class:`PointGenerator`/:class:`PointDiscriminator` networks.

    ``snapshot_steps``: generator-step counts (0 = before training) at which to keep each run's
    points for a fixed noise batch of ``n_snapshot`` and, if ``grid (M, 2)`` is given, ``D(grid)``.
    ``history`` gets one row of the run's own losses and statistics every ``log_every`` steps.
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed, e.g. seeds=(0,).")
    Gs, Ds = [], []
    for seed in seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            Gs.append(PointGenerator(cfg.latent_dim, cfg.hidden, cfg.depth))
            Ds.append(PointDiscriminator(cfg.hidden, cfg.depth))
    G, D = Stacked(Gs), Stacked(Ds, squeeze=True)
    data_gs = [torch.Generator().manual_seed(3 * s + 1) for s in seeds]
    noise_gs = [torch.Generator().manual_seed(3 * s + 2) for s in seeds]
    gp_g = torch.Generator().manual_seed(3 * seeds[0] + 3)
    opt_g, opt_d = _adam(G, cfg.lr_g, cfg.betas), _adam(D, cfg.lr_d, cfg.betas)
    z_fixed = torch.randn(n_snapshot, cfg.latent_dim, generator=torch.Generator().manual_seed(99))
    z_fixed = z_fixed.expand(len(seeds), -1, -1)
    runs = [PointGANRun(replace(cfg, seed=s), g, d)
            for s, g, d in zip(seeds, Gs, Ds)]
    wanted = set(snapshot_steps)

    def real_batch():
        return torch.stack([ring_of_gaussians(cfg.batch_size, cfg.modes, cfg.radius, cfg.std, g)
                            for g in data_gs])

    def noise():
        return torch.stack([torch.randn(cfg.batch_size, cfg.latent_dim, generator=g)
                            for g in noise_gs])

    for step in range(cfg.steps + 1):
        if step in wanted:
            with torch.no_grad():
                fakes = G(z_fixed)
                d_grid = D(grid.expand(len(seeds), -1, -1)) if grid is not None else None
            for i, run in enumerate(runs):
                run.snapshots.append(Snapshot(step, fakes[i].clone(),
                                              None if d_grid is None else d_grid[i].clone()))
        if step == cfg.steps:
            break
        log = step % log_every == 0
        for i in range(cfg.d_steps):
            stats = point_d_step(G, D, opt_d, real_batch(), noise(), cfg, gp_g,
                                 log=log and i == cfg.d_steps - 1)
        stats |= point_g_step(G, D, opt_g, noise(), cfg, log=log)
        if log:
            for i, run in enumerate(runs):
                run.history.append({"step": step, **{k: v[i] for k, v in stats.items()}})
    G.copy_to(Gs)
    D.copy_to(Ds)
    return runs


def train_point_gan(cfg: PointGANConfig, snapshot_steps=(), grid: torch.Tensor | None = None,
                    n_snapshot: int = 1000, log_every: int = 10) -> PointGANRun:
    """Train one point GAN (seed ``cfg.seed``): :func:`train_point_gans` with one seed."""
    return train_point_gans(cfg, (cfg.seed,), snapshot_steps, grid, n_snapshot, log_every)[0]
