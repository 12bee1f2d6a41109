"""Tests for the 2-D point data, the coverage metric and the point GAN (notebook 01)."""

from __future__ import annotations

import math

import pytest
import torch

from gan_course.data.points import (
    Coverage,
    mode_coverage,
    ring_centres,
    ring_of_gaussians,
    sliced_wasserstein,
)
from gan_course.models.points import (
    PointDiscriminator,
    PointGANConfig,
    PointGenerator,
    Stacked,
    mlp,
    point_d_step,
    point_g_step,
    train_point_gan,
    train_point_gans,
)


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- the ring of Gaussians

def test_ring_centres_are_on_the_circle_and_evenly_spaced():
    c = ring_centres(8, 2.0)
    assert c.shape == (8, 2) and c.dtype == torch.float32
    assert torch.allclose(c.norm(dim=1), torch.full((8,), 2.0), atol=1e-6)
    assert torch.allclose(c[0], torch.tensor([2.0, 0.0]))
    assert torch.allclose(c[2], torch.tensor([0.0, 2.0]), atol=1e-6)
    gaps = (c - c.roll(1, dims=0)).norm(dim=1)                     # neighbouring centres
    assert torch.allclose(gaps, torch.full((8,), 2 * 2.0 * math.sin(math.pi / 8)), atol=1e-5)


def test_ring_of_gaussians_statistics():
    x = ring_of_gaussians(16000, modes=8, radius=2.0, std=0.05, generator=seeded(0))
    assert x.shape == (16000, 2) and x.dtype == torch.float32
    centres = ring_centres(8, 2.0)
    dist, nearest = torch.cdist(x, centres).min(dim=1)
    counts = torch.bincount(nearest, minlength=8).float()
    assert counts.min() > 0.9 * 2000 and counts.max() < 1.1 * 2000  # equal mixture weights
    offsets = x - centres[nearest]
    assert offsets.mean(0).abs().max() < 0.003                       # centred on the modes
    assert offsets.std(0).sub(0.05).abs().max() < 0.002              # with the requested std
    assert dist.max() < 6 * 0.05                                      # nothing between modes


def test_ring_of_gaussians_is_reproducible_with_a_generator():
    a = ring_of_gaussians(100, generator=seeded(3))
    b = ring_of_gaussians(100, generator=seeded(3))
    c = ring_of_gaussians(100, generator=seeded(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("kwargs", [{"n": -1}, {"n": 2.5}, {"n": 10, "modes": 0},
                                    {"n": 10, "radius": 0.0}, {"n": 10, "std": -0.1}])
def test_ring_of_gaussians_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        ring_of_gaussians(**kwargs)


# ---------------------------------------------------------------- mode coverage

def test_coverage_of_real_data_is_complete():
    x = ring_of_gaussians(2000, std=0.02, generator=seeded(1))
    cov = mode_coverage(x, ring_centres(), std=0.02)
    assert isinstance(cov, Coverage)
    assert cov.modes_covered == 8 and cov.n_modes == 8
    # a round 2-D Gaussian puts 1 - exp(-k^2 / 2) of its mass within k sigma: 98.9% for k = 3
    assert cov.high_quality == pytest.approx(1 - math.exp(-4.5), abs=0.006)
    assert int(cov.counts.sum()) == round(cov.high_quality * 2000)
    assert "8/8 modes covered" in str(cov)


def test_coverage_of_a_collapsed_generator():
    centres = ring_centres()
    # all samples on modes 0 and 3, tightly: perfect quality, two modes
    collapsed = torch.cat([centres[0] + 0.01 * torch.randn(700, 2, generator=seeded(0)),
                           centres[3] + 0.01 * torch.randn(300, 2, generator=seeded(1))])
    cov = mode_coverage(collapsed, centres, std=0.02)
    assert cov.modes_covered == 2
    assert cov.high_quality == 1.0
    assert cov.counts.tolist() == [700, 0, 0, 300, 0, 0, 0, 0]


def test_coverage_of_samples_between_modes_is_low_quality():
    centres = ring_centres()
    # points on the ring but halfway between neighbouring modes: right radius, wrong place
    angles = (torch.arange(8) + 0.5) * (2 * math.pi / 8)
    between = 2.0 * torch.stack([angles.cos(), angles.sin()], dim=1).repeat(50, 1)
    cov = mode_coverage(between, centres, std=0.02)
    assert cov.modes_covered == 0 and cov.high_quality == 0.0
    # the blob at the origin that an untrained generator makes is also nowhere near a mode
    blob = 0.1 * torch.randn(500, 2, generator=seeded(2))
    assert mode_coverage(blob, centres, std=0.02).high_quality == 0.0


def test_coverage_min_fraction_and_k():
    centres = ring_centres()
    x = torch.cat([centres[:7].repeat(100, 1), centres[7:].repeat(20, 1)])   # 720 points
    # mode 7 holds 20/720 = 2.8% < default 0.25/8 = 3.125%: not covered
    assert mode_coverage(x, centres, std=0.02).modes_covered == 7
    assert mode_coverage(x, centres, std=0.02, min_fraction=0.02).modes_covered == 8
    shifted = x + torch.tensor([0.1, 0.0])           # 5 sigma off along x
    assert mode_coverage(shifted, centres, std=0.02).high_quality < 1.0
    assert mode_coverage(shifted, centres, std=0.02, k=6).high_quality == 1.0


@pytest.mark.parametrize("samples, centres, kwargs", [
    (torch.zeros(0, 2), ring_centres(), {}),
    (torch.zeros(5, 3), ring_centres(), {}),
    (torch.zeros(5, 2), ring_centres(), {"min_fraction": 0.0}),
    (torch.full((5, 2), float("nan")), ring_centres(), {}),
    (torch.zeros(5, 2), ring_centres(), {"k": 0.0}),
])
def test_coverage_rejects_bad_input(samples, centres, kwargs):
    with pytest.raises(ValueError):
        mode_coverage(samples, centres, std=kwargs.pop("std", 0.02), **kwargs)


def test_sliced_wasserstein():
    a = ring_of_gaussians(2000, generator=seeded(0))
    assert sliced_wasserstein(a, a, generator=seeded(0)) == 0.0
    shift = torch.tensor([0.5, 0.0])
    # a pure shift t moves every projection by t.cos(angle): mean |t cos| = |t| * 2/pi
    d = sliced_wasserstein(a, a + shift, n_projections=500, generator=seeded(1))
    assert d == pytest.approx(0.5 * 2 / math.pi, rel=0.08)
    other = ring_of_gaussians(2000, generator=seeded(9))
    blob = 0.1 * torch.randn(2000, 2, generator=seeded(3))
    assert sliced_wasserstein(a, other, generator=seeded(2)) < 0.1 < sliced_wasserstein(
        a, blob, generator=seeded(2))
    with pytest.raises(ValueError):
        sliced_wasserstein(a, a[:10])


# ---------------------------------------------------------------- networks

def test_point_networks_shapes_and_errors():
    G, D = PointGenerator(latent_dim=5, hidden=32, depth=2), PointDiscriminator(hidden=32, depth=2)
    z = torch.randn(7, 5)
    assert G(z).shape == (7, 2)
    assert D(G(z)).shape == (7,)
    n_linear = sum(isinstance(m, torch.nn.Linear) for m in G.modules())
    assert n_linear == 3                                   # depth 2 = 2 hidden layers + output
    with pytest.raises(ValueError, match="noise of shape"):
        G(torch.randn(7, 4))
    with pytest.raises(ValueError, match="points of shape"):
        D(torch.randn(7, 3))


def test_package_networks_equal_mlp_built_with_the_same_seed():
    torch.manual_seed(0)
    inline = mlp(2, 2, hidden=16, depth=3)
    torch.manual_seed(0)
    G = PointGenerator(latent_dim=2, hidden=16, depth=3)
    z = torch.randn(10, 2)
    assert torch.equal(inline(z), G(z))


def test_config_rejects_unknown_loss():
    with pytest.raises(ValueError, match="loss must be one of"):
        PointGANConfig(loss="hinge")


# ---------------------------------------------------------------- steps and training

def test_d_step_lowers_the_discriminator_loss_and_leaves_g_alone():
    cfg = PointGANConfig(hidden=32)
    torch.manual_seed(0)
    G, D = PointGenerator(hidden=32), PointDiscriminator(hidden=32)
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-2)
    g_before = [p.clone() for p in G.parameters()]
    real = ring_of_gaussians(256, generator=seeded(0))
    z = torch.randn(256, 2, generator=seeded(1))
    (first,) = point_d_step(G, D, opt_d, real, z, cfg)["loss_d"]      # one run: lists of one
    for _ in range(30):
        last = point_d_step(G, D, opt_d, real, z, cfg)
    assert last["loss_d"][0] < 0.5 * first
    assert last["d_real"][0] > last["d_fake"][0]
    assert all(torch.equal(a, b) for a, b in zip(g_before, G.parameters()))


@pytest.mark.parametrize("loss", ["nonsaturating", "saturating", "wgan-gp"])
def test_g_step_raises_the_discriminators_score_of_fakes(loss):
    cfg = PointGANConfig(loss=loss, hidden=32)
    torch.manual_seed(0)
    G, D = PointGenerator(hidden=32), PointDiscriminator(hidden=32)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-2)
    z = torch.randn(256, 2, generator=seeded(1))
    d_before = [p.clone() for p in D.parameters()]
    with torch.no_grad():
        before = D(G(z)).mean()
    for _ in range(10):
        point_g_step(G, D, opt_g, z, cfg)
    with torch.no_grad():
        after = D(G(z)).mean()
    assert after > before
    assert all(torch.equal(a, b) for a, b in zip(d_before, D.parameters()))


def test_training_is_reproducible_and_keeps_global_rng():
    cfg = PointGANConfig(steps=20, hidden=16, batch_size=32, seed=5)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = train_point_gan(cfg, snapshot_steps=[0, 20])
    assert torch.equal(torch.get_rng_state(), state)
    b = train_point_gan(cfg, snapshot_steps=[0, 20])
    assert torch.equal(a.sample(50), b.sample(50))
    assert [s.step for s in a.snapshots] == [0, 20]
    assert not torch.equal(a.snapshots[0].fake, a.snapshots[1].fake)
    assert len(a.history) == 2 and {"loss_d", "loss_g", "d_real", "d_fake"} <= set(a.history[0])


def test_snapshots_evaluate_d_on_the_grid():
    grid = torch.zeros(9, 2)
    run = train_point_gan(PointGANConfig(steps=3, hidden=8, batch_size=8), snapshot_steps=[3],
                          grid=grid, n_snapshot=10)
    (snap,) = run.snapshots
    assert snap.fake.shape == (10, 2) and snap.d_grid.shape == (9,)


def test_stacked_runs_equal_one_plain_loop_per_seed():
    """Member s of a stacked run follows the plain one-network loop with seed s's streams."""
    cfg = PointGANConfig(steps=5, hidden=16, batch_size=32)
    runs = train_point_gans(cfg, seeds=(3, 7), log_every=1)
    seed = 7
    torch.manual_seed(seed)
    G, D = PointGenerator(cfg.latent_dim, cfg.hidden), PointDiscriminator(cfg.hidden)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas)
    data_g, noise_g = seeded(3 * seed + 1), seeded(3 * seed + 2)
    for _ in range(cfg.steps):
        real = ring_of_gaussians(cfg.batch_size, std=cfg.std, generator=data_g)
        point_d_step(G, D, opt_d, real, torch.randn(cfg.batch_size, 2, generator=noise_g), cfg)
        point_g_step(G, D, opt_g, torch.randn(cfg.batch_size, 2, generator=noise_g), cfg)
    assert runs[1].cfg.seed == seed
    for a, b in zip([*G.parameters(), *D.parameters()],
                    [*runs[1].G.parameters(), *runs[1].D.parameters()]):
        assert torch.allclose(a, b, atol=1e-5)
    assert not torch.allclose(runs[0].sample(20), runs[1].sample(20))


def test_stacked_rejects_networks_of_different_shapes():
    with pytest.raises(ValueError, match="same layers"):
        Stacked([mlp(2, 2, 8, 2), mlp(2, 2, 8, 3)])


def test_slow_discriminator_collapses_the_generator():
    """The notebook's collapse setting: with D 10x slower than G, G's points form one clump."""
    cfg = PointGANConfig(steps=600, lr_g=1e-3, lr_d=1e-4, std=0.1, seed=0)
    run = train_point_gan(cfg)
    fake = run.sample(1000)
    spread = (fake - fake.mean(0)).norm(dim=1).mean()
    assert spread < 0.5                                  # the data's spread is 2.0
    assert mode_coverage(fake, ring_centres(), std=cfg.std).modes_covered <= 1


def test_wgan_gp_training_improves_coverage():
    """A short WGAN-GP run moves the generator from a blob at the origin onto the ring's modes."""
    cfg = PointGANConfig(loss="wgan-gp", steps=250, d_steps=3, lr_g=2e-3, lr_d=2e-3,
                         betas=(0.5, 0.9), lambda_gp=1.0, std=0.1, seed=0)
    run = train_point_gan(cfg, snapshot_steps=[0, cfg.steps])
    centres = ring_centres()
    before = mode_coverage(run.snapshots[0].fake, centres, std=cfg.std)
    after = mode_coverage(run.snapshots[1].fake, centres, std=cfg.std)
    assert before.modes_covered == 0 and before.high_quality == 0.0
    assert after.modes_covered >= 6 and after.high_quality > 0.3
    assert {"w_dist", "gp", "loss_d", "loss_g"} <= set(run.history[-1])
