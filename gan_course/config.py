"""Training settings for every model of the course, per profile.

``get_config(task, profile)`` returns a :class:`TrainConfig` for ``task`` in
``fashion | dcgan | cgan | cyclegan`` and ``profile`` in ``smoke | demo | full``:

``full``   the book's settings (real data, sizes, epochs, optimiser values) - meant for a GPU.
           Where the book notes (``shared/seeds``) are silent, the standard reference value of the
           original paper / PyTorch example is used; each such value carries a comment saying so.
``demo``   visible learning on the toy data in a few minutes of CPU training per model.
           Widths and image sizes are reduced, and where the book's settings did not learn
           within a CPU-sized run they are changed (learning rates, betas, critic steps; for
           fashion/dcgan also LeakyReLU, one-sided label smoothing, a generator EMA, and a
           32x32 DCGAN); each such change carries a comment with what was measured.
           ``full`` keeps the book's settings: no EMA, no smoothing (``ema_decay=0``,
           ``real_label=1``), so it stays what the book trains.
``smoke``  a few steps with tiny models, for CI (seconds).

A config is a plain dataclass: change a field with ``dataclasses.replace(cfg, epochs=3)`` or
``cfg.epochs = 3``; ``cfg.to_dict()`` gives the plain dict stored in checkpoints.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from gan_course.runtime import get_profile

TASKS = ("fashion", "dcgan", "cgan", "cyclegan")
"""The four models of the course: MLP GAN on clothing, DCGAN on anime faces,
conditional WGAN-GP on eyeglasses, CycleGAN black <-> blond hair."""


@dataclass
class TrainConfig:
    """Everything one training run needs besides the data and the device."""

    task: str
    profile: str
    data_source: str = "toy"      # "toy" (embedded, offline) or "real" (the book's dataset)
    image_size: int = 64          # side of the square images (fashion: 28, fixed)
    n_train: int | None = None    # toy images to draw (None = all real images)
    batch_size: int = 128
    epochs: int = 1
    lr: float = 2e-4
    betas: tuple[float, float] = (0.9, 0.999)
    latent_dim: int = 100
    features: int = 64            # base width of the generator (and discriminator unless d_features)
    d_features: tuple[int, ...] | int | None = None  # discriminator width(s); None = features
    hidden_g: tuple[int, ...] = (256, 512, 1024)      # MLP GAN only
    hidden_d: tuple[int, ...] = (1024, 512, 256)      # MLP GAN only
    dropout: float = 0.3                              # MLP GAN discriminator only
    num_classes: int = 2          # cGAN: glasses / no glasses
    critic_iters: int = 5         # WGAN-GP: critic updates per generator update
    lambda_gp: float = 10.0       # WGAN-GP: weight of the gradient penalty
    lambda_cycle: float = 10.0    # CycleGAN: weight of the cycle-consistency L1 loss
    lambda_identity: float = 0.0  # CycleGAN: identity loss weight (book: 0 = off; paper: 0.5*cycle)
    num_residuals: int = 9        # CycleGAN generator residual blocks
    pool_size: int = 0            # CycleGAN image pool of past fakes (book: 0 = off; paper: 50)
    decay_epochs: int = 0         # CycleGAN: linear LR decay over the last N epochs (book: 0 = off)
    sample_every: int = 1         # save a sample grid every N epochs
    n_samples: int = 32           # images in each sample grid (the book shows 32)
    seed: int = 0
    amp: bool = True              # mixed precision; only ever switched on for CUDA devices
    ema_decay: float = 0.0        # generator EMA for samples/evaluation (0 = off; the book: off)
    # -- recipe knobs measured for the CPU demos (issue 12); the book's values are the defaults
    lr_d: float | None = None     # fashion/dcgan: D learning rate (None = lr; != lr: TTUR)
    real_label: float = 1.0       # fashion/dcgan: D target for real (< 1: one-sided smoothing)
    negative_slope: float = 0.0   # MLP GAN: LeakyReLU slope in G and D (0 = the book's ReLU)
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain dict (lists instead of tuples) - what checkpoints store."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are ignored so old checkpoints still load."""
        known = {f.name for f in fields(cls)}
        kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in known}
        return cls(**kwargs)


def _fashion(profile: str) -> TrainConfig:
    if profile == "full":
        # Book ch. 4: Adam lr 1e-4 (default betas), 50 epochs, batches of 32, noise of 100.
        return TrainConfig("fashion", profile, data_source="real", image_size=28, n_train=None,
                           batch_size=32, epochs=50, lr=1e-4, betas=(0.9, 0.999))
    if profile == "demo":
        # Measured on the redrawn toy clothing, seed 0, one core, judged by the held-out garment
        # judge (1,000 samples of the live generator; garment TV to the training histogram,
        # classes >= 4 %, KID/floor; benchmarks/sweep_demo.py has the EMA's numbers per seed):
        # * the previous recipe (2,000 images x 50 epochs, widths 128-256-512 / 512-256-128,
        #   ReLU, lr 2e-4, betas (0.5, 0.999)): 1,550 steps, TV 0.77, 2 classes: collapsed.
        # * n_train 10,000 (more images: D memorises less) + EMA 0.999: TV 0.76, 2 classes.
        # * + LeakyReLU(0.2) in G and D (book: ReLU): TV 0.58, 4 classes.
        # * + one-sided label smoothing 0.9 (book: 1.0): TV 0.46, 5 classes, KID/floor 11.
        #   (TTUR lr 1e-4 / D 4e-4 instead of smoothing: TV 0.59 - no better; batch 128: slower
        #   per step, TV 0.34 after 1,950 steps.)
        # * 3,900 steps: TV 0.27, 7 classes, KID/floor 10.0 (96 CPU-s);
        #   with the book's generator widths 256-512-1024: TV 0.31, 9 classes, KID/floor 7.3,
        #   visibly cleaner garments (141 CPU-s). Kept: the book's G, half-width D, 3,120 steps
        #   (20 epochs x 156 batches, ~0.036 CPU-s per step = ~115 CPU-s on one core).
        # lr 2e-4 / betas (0.5, 0.999) instead of the book's 1e-4 / defaults: the book's values
        # were still noise after 620 steps (measured on the first toy clothing).
        return TrainConfig("fashion", profile, image_size=28, n_train=10000, batch_size=64,
                           epochs=20, lr=2e-4, betas=(0.5, 0.999),
                           hidden_g=(256, 512, 1024), hidden_d=(512, 256, 128),
                           negative_slope=0.2, real_label=0.9, ema_decay=0.999)
    return TrainConfig("fashion", profile, image_size=28, n_train=64, batch_size=16, epochs=2,
                       lr=1e-4, hidden_g=(16, 32), hidden_d=(32, 16), n_samples=16)


def _dcgan(profile: str) -> TrainConfig:
    if profile == "full":
        # Book ch. 4: anime faces 64x64, batches of 128, noise of 100, G/D width 64.
        # lr 2e-4 and betas (0.5, 0.999): the seeds are silent on the values; these are the
        # DCGAN paper's (Radford et al. 2016), which the book follows. 20 epochs: seeds silent
        # ("about 20 minutes on a GPU"); 20 is the book's loop length.
        return TrainConfig("dcgan", profile, data_source="real", image_size=64, n_train=None,
                           batch_size=128, epochs=20, lr=2e-4, betas=(0.5, 0.999),
                           latent_dim=100, features=64)
    if profile == "demo":
        # 32x32 (book: 64x64, kept by `full`): the book's networks with one resolution step
        # fewer (models/dcgan32.py). Measured on one core, seed 0, held-out judges, 1,000
        # samples of the live generator (hair-colour TV, glasses TV, KID/floor; untrained
        # generator: 0.69 / 0.50 / 43; benchmarks/sweep_demo.py has the EMA's, per seed):
        # * 64x64, width 16, batch 32, 1,280 steps (~0.105 CPU-s each, ~135 CPU-s): with the old
        #   lr 5e-4 KID was on a knife edge (worse than untrained at OMP_NUM_THREADS=1); with
        #   lr 2e-4 + EMA + smoothing the samples were grey blobs (hair TV 0.58, KID/floor 40);
        #   with lr 5e-4 + EMA + smoothing, face-like but few hair colours (hair TV 0.31,
        #   glasses TV 0.29, KID/floor 19; judged at 64 px). In ~2.5 CPU-minutes 64x64 stays behind:
        # * 32x32, width 32 (book: 64), batch 32, 2,432 steps (~0.063 CPU-s each, ~150 CPU-s),
        #   lr 2e-4 (the book's), EMA 0.999, one-sided label smoothing 0.9: recognisable toy
        #   faces, hair TV 0.03, glasses TV 0.20, KID/floor 7.5.
        # Kept: the latter with 18 epochs of 4,096 toy faces (2,304 steps, ~145 CPU-s).
        return TrainConfig("dcgan", profile, image_size=32, n_train=4096, batch_size=32,
                           epochs=18, lr=2e-4, betas=(0.5, 0.999), latent_dim=100, features=32,
                           real_label=0.9, ema_decay=0.999)
    return TrainConfig("dcgan", profile, image_size=64, n_train=64, batch_size=16, epochs=2,
                       lr=2e-4, betas=(0.5, 0.999), latent_dim=16, features=4, n_samples=16)


def _cgan(profile: str) -> TrainConfig:
    if profile == "full":
        # Book ch. 5: Adam lr 1e-4, betas (0.0, 0.9), 5 critic steps, gradient penalty weight 10,
        # noise of 100, critic/generator width 16. Image size 256, batches of 16 and 100 epochs:
        # the seeds are silent; these are the book's chapter-5 settings.
        return TrainConfig("cgan", profile, data_source="real", image_size=256, n_train=None,
                           batch_size=16, epochs=100, lr=1e-4, betas=(0.0, 0.9), latent_dim=100,
                           features=16, critic_iters=5, lambda_gp=10.0)
    if profile == "demo":
        # 32x32, width 16, 2 critic updates per generator update: ~0.15 CPU-s per step on one
        # core -> 448 steps in ~2 min. With the book's optimiser (lr 1e-4, betas (0, 0.9),
        # 5 critic steps) the glasses did not follow the label within ~400 steps (conditional
        # accuracy 46 % / 72 %); with lr 5e-4, betas (0.5, 0.9), 2 critic steps and 14 epochs
        # they do (94 % / 99 %, measured with the toy glasses classifier). full keeps the book's.
        return TrainConfig("cgan", profile, image_size=32, n_train=1024, batch_size=32,
                           epochs=14, lr=5e-4, betas=(0.5, 0.9), latent_dim=100, features=16,
                           critic_iters=2, lambda_gp=10.0)
    return TrainConfig("cgan", profile, image_size=32, n_train=64, batch_size=16, epochs=2,
                       lr=1e-4, betas=(0.0, 0.9), latent_dim=16, features=4, critic_iters=2,
                       lambda_gp=10.0, n_samples=16)


def _cyclegan(profile: str) -> TrainConfig:
    if profile == "full":
        # Book ch. 6: 256x256 CelebA crops, batch 1, Adam lr 1e-5, cycle weight 10, MSE
        # adversarial loss, no identity loss, no image pool, constant LR, 9 residual blocks.
        # betas (0.5, 0.999): seeds silent; CycleGAN reference value. Epochs: the seeds show one
        # `train_epoch` call per run; raise --epochs to train longer.
        return TrainConfig("cyclegan", profile, data_source="real", image_size=256, n_train=None,
                           batch_size=1, epochs=1, lr=1e-5, betas=(0.5, 0.999), features=64,
                           d_features=(64, 128, 256, 512), num_residuals=9, lambda_cycle=10.0,
                           lambda_identity=0.0, pool_size=0, decay_epochs=0, n_samples=8)
    if profile == "demo":
        # 32x32, width 16, 3 residual blocks: ~0.2 CPU-s per step on one core. 768 toy CelebA
        # images give ~250 per hair colour -> 31 steps/epoch, 16 epochs ~ 500 steps ~ 2 min.
        # lr 2e-4 (the CycleGAN paper's; the book's 1e-5 is far too slow for a demo): after
        # ~400 steps black hair visibly turns blond and blond turns dark (sample grids).
        return TrainConfig("cyclegan", profile, image_size=32, n_train=768, batch_size=8,
                           epochs=16, lr=2e-4, betas=(0.5, 0.999), features=16,
                           d_features=(16, 32, 64), num_residuals=3, lambda_cycle=10.0,
                           n_samples=8)
    return TrainConfig("cyclegan", profile, image_size=32, n_train=48, batch_size=4, epochs=2,
                       lr=1e-4, betas=(0.5, 0.999), features=4, d_features=(4, 8),
                       num_residuals=1, n_samples=4)


_BUILDERS = {"fashion": _fashion, "dcgan": _dcgan, "cgan": _cgan, "cyclegan": _cyclegan}


def get_config(task: str, profile: str | None = None) -> TrainConfig:
    """The settings for ``task`` (fashion|dcgan|cgan|cyclegan) under ``profile`` (smoke|demo|full).

    ``profile=None`` uses :func:`gan_course.runtime.get_profile` (``GAN_COURSE_PROFILE``, else
    ``full`` on CUDA and ``demo`` elsewhere).
    """
    if task not in _BUILDERS:
        raise ValueError(f"Unknown task {task!r}: choose one of {', '.join(TASKS)}.")
    return _BUILDERS[task](get_profile(profile))
