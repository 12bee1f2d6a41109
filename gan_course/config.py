"""The one description of a training run: :class:`TrainConfig`, and the course's task table.

``get_config(task, profile)`` returns the :class:`TrainConfig` for ``task`` in
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
``long``   the demo's networks and toy data, trained longer: the recipe of the checkpoints
           shipped with the course, and the default on a GPU (minutes there; tens of minutes on
           a CPU). A GPU runtime without the real data therefore runs every notebook as it is.
``smoke``  a few steps with tiny models, for CI (seconds).

The config is **authoritative**: the data loader, the task builder and the training loop read
everything from it (data source and folder, sizes, epochs, seed, ...) and never re-derive a
setting from a profile name. Change a field in a notebook (``cfg.epochs = 3``) or with
``dataclasses.replace`` and the run changes with it. ``cfg.to_dict()`` is what checkpoints store.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from gan_course.runtime import get_profile

TASK_DATASET = {"fashion": "fashion_mnist", "dcgan": "anime", "cgan": "eyeglasses",
                "cyclegan": "celeba"}
"""The four models of the course and the dataset each trains on: MLP GAN on Fashion-MNIST, DCGAN
on anime faces, conditional WGAN-GP on eyeglasses, CycleGAN black <-> blond hair on CelebA.
The one task -> dataset table of the package (dataset names are those of
:data:`gan_course.data.sources.DATASETS`)."""

TASKS = tuple(TASK_DATASET)

DATA_SOURCES = ("toy", "real")
"""``toy``: the embedded procedural stand-ins (offline). ``real``: the book's dataset on disk."""


@dataclass
class TrainConfig:
    """Everything one training run needs besides the device: what to train, on which data, how."""

    task: str
    profile: str
    data_source: str = "toy"      # "toy" (embedded, offline) or "real" (the book's dataset)
    data_root: str | None = None  # real data: the dataset folder (None = DATA_ROOT/real/<name>)
    image_size: int = 64          # side of the square images (fashion: 28, fixed)
    n_train: int | None = None    # toy images to draw / real images to use (None = all real)
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
    decay_epochs: int = 0         # linear LR decay to 0 over the last N epochs (book: 0 = off)
    sample_every: int = 1         # save a sample grid every N epochs
    n_samples: int = 32           # images in each sample grid (the book shows 32)
    seed: int = 0                 # initial weights, data order and noise
    amp: bool = True              # mixed precision on CUDA: bf16 where supported, else fp16
    # -- scale-out and long runs (none of these changes what one step computes) --
    batch_per_rank: bool = False  # False: batch_size is the GLOBAL batch, split across processes
    #                               (the book's batch at any world size); True: batch_size per
    #                               process, global = batch_size x processes, lr x sqrt(processes)
    checkpoint_every: int = 0     # also checkpoint every N steps (0: at epoch ends only)
    checkpoint_minutes: float = 0.0  # also checkpoint every M minutes of training (0: off)
    log_every: int = 0            # read the losses from the device every N steps (0: auto =
    #                               every step on CPU, every 20 on a GPU: each read is a host sync)
    channels_last: bool | None = None  # conv nets in channels_last memory format (None: auto =
    #                                    every conv net on CUDA; DCGAN and cGAN on CPU, measured)
    ema_decay: float = 0.0        # generator EMA for samples/evaluation (0 = off; the book: off)
    # -- recipe knobs measured for the CPU demos (issue 12); the book's values are the defaults
    lr_d: float | None = None     # fashion/dcgan: D learning rate (None = lr; != lr: TTUR)
    real_label: float = 1.0       # fashion/dcgan: D target for real (< 1: one-sided smoothing)
    negative_slope: float = 0.0   # MLP GAN: LeakyReLU slope in G and D (0 = the book's ReLU)
    projection: bool = False      # cGAN: projection term in the critic (False = the book's critic)
    residual: bool = False        # CycleGAN: G draws the change to its input (False = the book's G)
    pack: int = 1                 # MLP GAN: D judges `pack` images at once (PacGAN; 1 = the book's D)

    def __post_init__(self):
        if self.task not in TASK_DATASET:
            raise ValueError(f"Unknown task {self.task!r}: choose one of {', '.join(TASKS)}.")
        if self.data_source not in DATA_SOURCES:
            raise ValueError(f"data_source must be 'toy' or 'real', got {self.data_source!r}.")

    def global_batch(self, world: int = 1) -> int:
        """Images per optimisation step over all ``world`` processes (the one place it is decided).

        Default: ``batch_size`` itself, split across the processes, so a run on 8 GPUs takes the
        same steps, with the same batch, as the book's run on one. With ``batch_per_rank`` each
        process takes ``batch_size`` images and the global batch grows to ``batch_size * world``.
        """
        world = max(1, int(world))
        if self.batch_per_rank:
            return self.batch_size * world
        if self.batch_size < world:
            raise ValueError(
                f"The global batch of {self.batch_size} image(s) cannot be split across {world} "
                f"processes (each needs at least one). Pass --batch-per-rank (each process takes "
                f"{self.batch_size}, global {self.batch_size * world}, lr x sqrt({world})) or a "
                f"batch size of at least {world}.")
        return self.batch_size

    def run_lr(self, world: int = 1, discriminator: bool = False) -> float:
        """The learning rate the optimisers use on ``world`` processes.

        The global batch is the book's by default, so the lr is too. With ``batch_per_rank`` the
        global batch is ``world`` times larger and the lr follows the square-root rule for Adam
        (Malladi et al. 2022, "On the SDEs and scaling rules for adaptive gradient algorithms"):
        ``lr * sqrt(world)``. ``discriminator=True``: the discriminator's (critic's) rate,
        ``lr_d`` when set (two time-scale updates), else ``lr``.
        """
        world = max(1, int(world))
        lr = self.lr_d if discriminator and self.lr_d is not None else self.lr
        return lr * math.sqrt(world) if self.batch_per_rank else lr

    def batch_note(self, world: int = 1) -> str:
        """One line saying how the batch is split and which lr is used (printed by every run)."""
        world = max(1, int(world))
        if world == 1 and not self.batch_per_rank:
            return f"Batch {self.batch_size} on 1 process; lr {self.lr:g}."
        total = self.global_batch(world)
        if self.batch_per_rank:
            return (f"Batch {self.batch_size} per process x {world} process(es) = global "
                    f"{total} (batch_per_rank); lr {self.lr:g} x sqrt({world}) = "
                    f"{self.run_lr(world):.3g} (square-root rule for Adam).")
        share = (f"{total // world} each" if total % world == 0
                 else f"{total // world}-{total // world + 1} each")
        return (f"Global batch {total} split over {world} processes ({share}), as the book's "
                f"one-process batch; lr {self.lr:g} unchanged (--batch-per-rank for a batch per "
                f"process).")

    @property
    def dataset(self) -> str:
        """The dataset this task trains on (``fashion_mnist``, ``anime``, ``eyeglasses``, ``celeba``)."""
        return TASK_DATASET[self.task]

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
        return TrainConfig("fashion", profile, image_size=28, n_train=None,
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
        # That recipe's shipped 100-epoch run still drew no ankle boots (TV 0.23, 9 classes):
        # longer training did not bring a dropped class back. D judging images in pairs
        # (`pack`, PacGAN, models/mlp_gan.py), the same 3,120 steps, EMA samples:
        # * pack 1 (the recipe above; the previous sweep, seeds 0-2): TV 0.25-0.32, 7-8 classes;
        #   a minibatch-stddev feature in D instead (seed 0): TV 0.21, 9 classes (sandals
        #   1.3 %), KID/floor 3.7;
        # * pack 2: seed 0 TV 0.155, 9 classes (sandals 3.8 %), KID/floor 2.6; seed 1 TV 0.18,
        #   9 classes (sandals 1.8 %), KID/floor 2.9; ~100 CPU-s;
        # * pack 4: TV 0.31, 7 classes, KID/floor 7.5 (fewer, larger D inputs learn slower).
        # Kept: pack 2.
        return TrainConfig("fashion", profile, image_size=28, n_train=10000, batch_size=64,
                           epochs=20, lr=2e-4, betas=(0.5, 0.999),
                           hidden_g=(256, 512, 1024), hidden_d=(512, 256, 128),
                           negative_slope=0.2, real_label=0.9, ema_decay=0.999, pack=2)
    return TrainConfig("fashion", profile, image_size=28, n_train=64, batch_size=16, epochs=2,
                       lr=1e-4, hidden_g=(16, 32), hidden_d=(32, 16), n_samples=16)


def _dcgan(profile: str) -> TrainConfig:
    if profile == "full":
        # Book ch. 4: anime faces 64x64, batches of 128, noise of 100, G/D width 64.
        # lr 2e-4 and betas (0.5, 0.999): the seeds are silent on the values; these are the
        # DCGAN paper's (Radford et al. 2016), which the book follows. 20 epochs: seeds silent
        # ("about 20 minutes on a GPU"); 20 is the book's loop length.
        return TrainConfig("dcgan", profile, image_size=64, n_train=None,
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
        return TrainConfig("cgan", profile, image_size=256, n_train=None,
                           batch_size=16, epochs=100, lr=1e-4, betas=(0.0, 0.9), latent_dim=100,
                           features=16, critic_iters=5, lambda_gp=10.0)
    if profile == "demo":
        # 32x32, width 16, 2 critic updates per generator update: ~0.15 CPU-s per step on one
        # core. Measured with held-out judges (benchmarks/research_cgan_cyclegan.py, 1,000
        # samples per label; accuracy with glasses / without, flip rate = same z, label flipped,
        # verdict flips), 448 steps, seed 0:
        # * the book's optimiser (lr 1e-4, betas (0, 0.9), 5 critic steps; with the projection
        #   critic below): 84 % / 73 %, flip 56 % (192 generator steps in the same CPU time);
        # * lr 5e-4, betas (0.5, 0.9), 2 critic steps, the book's critic: 99 % / 84 %, flip 83 %;
        # * the same with the projection critic (models/cgan.py; label planes kept): 100 % /
        #   99.7 %, flip 99.7 %, KID 2.3 (real-vs-real floor 0.48, untrained 69).
        # Kept: the projection critic, 20 epochs (640 steps, ~80-95 CPU-s), the learning rate
        # decayed linearly to 0 over the last 10 (it settles the samples: KID 1.27 vs 6.3 at
        # 20 epochs without decay) and a generator EMA of 0.99 (0.995 and 0.999 lag behind
        # in runs this short). Seeds 0/1/2: flip 99.9 / 99.7 / 99.8 %, KID 0.83-1.86.
        return TrainConfig("cgan", profile, image_size=32, n_train=1024, batch_size=32,
                           epochs=20, lr=5e-4, betas=(0.5, 0.9), latent_dim=100, features=16,
                           critic_iters=2, lambda_gp=10.0, projection=True, decay_epochs=10,
                           ema_decay=0.99)
    return TrainConfig("cgan", profile, image_size=32, n_train=64, batch_size=16, epochs=2,
                       lr=1e-4, betas=(0.0, 0.9), latent_dim=16, features=4, critic_iters=2,
                       lambda_gp=10.0, n_samples=16)


def _cyclegan(profile: str) -> TrainConfig:
    if profile == "full":
        # Book ch. 6: 256x256 CelebA crops, batch 1, Adam lr 1e-5, cycle weight 10, MSE
        # adversarial loss, no identity loss, no image pool, constant LR, 9 residual blocks.
        # betas (0.5, 0.999): seeds silent; CycleGAN reference value. Epochs: the seeds show one
        # `train_epoch` call per run; raise --epochs to train longer.
        return TrainConfig("cyclegan", profile, image_size=256, n_train=None,
                           batch_size=1, epochs=1, lr=1e-5, betas=(0.5, 0.999), features=64,
                           d_features=(64, 128, 256, 512), num_residuals=9, lambda_cycle=10.0,
                           lambda_identity=0.0, pool_size=0, decay_epochs=0, n_samples=8)
    if profile == "demo":
        # 32x32, width 16, 3 residual blocks: ~0.2 CPU-s per step on one core; 768 toy CelebA
        # images give ~250 per hair colour -> 32 steps/epoch, 16 epochs = 512 steps. Measured
        # with held-out judges on faces never trained on (benchmarks/research_cgan_cyclegan.py):
        # target-domain rate black->blond / blond->black, and the oracle error = mean L1 to the
        # same face redrawn with the other hair colour, beside copying the input (0.187):
        # * the book's generator, lr 2e-4: 100 % / 94 %, oracle 0.41 (2.2x worse than copying:
        #   skin, background and glasses are redrawn, badly);
        # * + identity loss 5 + image pool 50: 100 % / 80 %, oracle 0.20 (about copying);
        # * a generator drawing only the change, first as G(x) = x + R(x), no identity loss:
        #   100 % / 95 %, oracle 0.11 (0.62x copying);
        # * as G(x) = tanh(atanh(x) + R(x)) (stays in (-1, 1) smoothly), lr 1e-3, generator
        #   EMA 0.99: 100 % / 84 %, oracle 0.071 (0.40x); the sweep (seeds 0-2, 1-2 threads):
        #   100 % / 90-94 %. Blond hair's red channel sits near 1, where the tanh's slope is
        #   ~0.01: it barely moved, and black hair kept red streaks.
        # * as G(x) = clamp(x + R(x), -1, 1) (`residual`, models/cyclegan.py), lr 1e-3, EMA 0.99:
        #   100 % / 100 % in all six sweep runs (seeds 0-2, 1-2 threads), oracle A->B 0.065-0.069,
        #   B->A 0.074-0.077 (0.32x-0.38x copying), 80-87 CPU-s.
        # Kept: the last. The book's generator (residual=False) stays in `full`.
        return TrainConfig("cyclegan", profile, image_size=32, n_train=768, batch_size=8,
                           epochs=16, lr=1e-3, betas=(0.5, 0.999), features=16,
                           d_features=(16, 32, 64), num_residuals=3, lambda_cycle=10.0,
                           residual=True, ema_decay=0.99, n_samples=8)
    return TrainConfig("cyclegan", profile, image_size=32, n_train=48, batch_size=4, epochs=2,
                       lr=1e-4, betas=(0.5, 0.999), features=4, d_features=(4, 8),
                       num_residuals=1, n_samples=4)


_BUILDERS = {"fashion": _fashion, "dcgan": _dcgan, "cgan": _cgan, "cyclegan": _cyclegan}

# ``long`` = ``demo`` with these fields changed: the same networks, more training (and, for the
# DCGAN, more toy faces, so that the longer run does not just memorise 4,096 of them).
_LONG = {"fashion": {"epochs": 100}, "dcgan": {"epochs": 60, "n_train": 8192},
         "cgan": {"epochs": 60, "n_train": 4096, "decay_epochs": 30},
         "cyclegan": {"epochs": 24, "n_train": 2048, "decay_epochs": 12}}


def _build(task: str, profile: str) -> TrainConfig:
    if profile != "long":
        return _BUILDERS[task](profile)
    cfg = _BUILDERS[task]("demo")
    cfg.profile = "long"
    for key, value in _LONG[task].items():
        setattr(cfg, key, value)
    return cfg


def default_data_source(profile: str) -> str:
    """``real`` for the ``full`` profile (the book's runs), ``toy`` for ``smoke`` and ``demo``."""
    return "real" if profile == "full" else "toy"


def get_config(task: str, profile: str | None = None, *, data_source: str | None = None,
               data_root: str | None = None, seed: int | None = None, **changes) -> TrainConfig:
    """The settings for ``task`` (fashion|dcgan|cgan|cyclegan) under ``profile``
    (smoke|demo|long|full).

    ``profile=None`` uses :func:`gan_course.runtime.get_profile` (``GAN_COURSE_PROFILE``, else
    ``long`` on CUDA and ``demo`` elsewhere). ``data_source`` defaults to the profile's
    (:func:`default_data_source`: ``full`` means the real dataset); ``data_root`` points at a real
    dataset outside the data folder; ``seed`` (e.g. ``env.seed`` from ``setup()``) and any other
    field (``epochs=3``) override the profile's values.
    """
    if task not in _BUILDERS:
        raise ValueError(f"Unknown task {task!r}: choose one of {', '.join(TASKS)}.")
    profile = get_profile(profile)
    cfg = _build(task, profile)
    unknown = set(changes) - {f.name for f in fields(TrainConfig)}
    if unknown:
        raise ValueError(f"Unknown TrainConfig field(s) {sorted(unknown)}; the fields are "
                         f"{[f.name for f in fields(TrainConfig)]}.")
    for key, value in changes.items():
        setattr(cfg, key, value)
    cfg.data_source = data_source or default_data_source(profile)
    if cfg.data_source not in DATA_SOURCES:
        raise ValueError(f"data_source must be 'toy' or 'real', got {cfg.data_source!r}.")
    if data_root is not None:
        cfg.data_root = str(data_root)
    if seed is not None:
        cfg.seed = int(seed)
    return cfg


def data_note(cfg: TrainConfig) -> str | None:
    """One line when the data source is not the profile's usual one (never a silent mismatch)."""
    if cfg.data_source == default_data_source(cfg.profile):
        return None
    if cfg.profile == "full":
        return ("note: profile 'full' (the book's sizes and epochs) on TOY data - the toy set "
                "stands in for the real one; for the book's run use the real data (--data real).")
    return (f"note: profile {cfg.profile!r} on REAL data - small models and few epochs, meant "
            f"to try the real files quickly; the book's run is profile 'full'.")
