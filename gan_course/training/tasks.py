"""Wire a model of the course to the shared loop: models, optimisers, data, step and samples.

* :func:`build_task` - models from :mod:`gan_course.models` (``weights_init`` applied), Adam
  optimisers with the config's learning rate and betas, the step function, the sample function.
* :func:`load_data` - the dataset of each chapter via :mod:`gan_course.data`, as
  :class:`~gan_course.training.loop.Batches`.
* :func:`train` - the one call used by the CLI and the notebooks.
* :func:`load_trained` / :func:`generate` - a trained model back from its checkpoint, and images
  from it (used by ``python -m gan_course sample``).
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from gan_course.config import TASKS, TrainConfig, get_config
from gan_course.training import distributed as ddp
from gan_course.training import steps
from gan_course.training.checkpoint import CheckpointError, load_checkpoint
from gan_course.training.loop import Batches, PairedBatches, Task, fit


# ----------------------------------------------------------------------------- models
def _init(model: torch.nn.Module, device: torch.device,
          channels_last: bool = False) -> torch.nn.Module:
    from gan_course.models import weights_init

    model.apply(weights_init)  # N(0, 0.02) convolutions, N(1, 0.02) norms - as in the book
    model = model.to(device)
    if channels_last and device.type == "cpu":
        # Measured 1.11x faster for the DCGAN step on CPU (benchmarks/); the cGAN and CycleGAN
        # gained nothing (or lost under load), so only the DCGAN asks for it.
        model = model.to(memory_format=torch.channels_last)
    return ddp.wrap(model, device)


def _adam(cfg: TrainConfig, *models: torch.nn.Module, lr: float | None = None) -> torch.optim.Adam:
    params = itertools.chain.from_iterable(m.parameters() for m in models)
    return torch.optim.Adam(params, lr=lr or cfg.lr, betas=tuple(cfg.betas))


def _adam_d(cfg: TrainConfig, *models: torch.nn.Module) -> torch.optim.Adam:
    """The discriminator's (critic's) Adam: ``cfg.lr_d`` when set (two time-scale updates)."""
    return _adam(cfg, *models, lr=cfg.lr_d)


def _noise_fixed(task: Task, data) -> torch.Tensor:
    # a private generator: the fixed noise does not shift the training noise stream
    g = torch.Generator().manual_seed(task.config.seed + 12345)
    return torch.randn(task.config.n_samples, task.config.latent_dim, generator=g).to(task.device)


def _build_fashion(cfg, device):
    from gan_course.models import MLPDiscriminator, MLPGenerator

    G = _init(MLPGenerator(cfg.latent_dim, cfg.hidden_g, negative_slope=cfg.negative_slope), device)
    D = _init(MLPDiscriminator(784, cfg.hidden_d, cfg.dropout, negative_slope=cfg.negative_slope),
              device)

    def step(task, batch):
        images, _labels = batch
        return steps.mlp_gan_step(G, D, task.optimizers["G"], task.optimizers["D"], images,
                                  latent_dim=cfg.latent_dim, scaler_g=task.scalers["G"],
                                  scaler_d=task.scalers["D"], amp=cfg.amp,
                                  real_label=cfg.real_label)

    def sample(task, z):
        return ddp.plain(G)(z).view(-1, 1, 28, 28)

    return {"G": G, "D": D}, {"G": _adam(cfg, G), "D": _adam_d(cfg, D)}, step, sample, _noise_fixed


def _build_dcgan(cfg, device):
    from gan_course.models import (
        DCGANDiscriminator,
        DCGANDiscriminator32,
        DCGANGenerator,
        DCGANGenerator32,
    )

    # the book's 64x64 networks; 32x32: the same with one resolution step fewer (CPU demo)
    nets = {64: (DCGANGenerator, DCGANDiscriminator), 32: (DCGANGenerator32, DCGANDiscriminator32)}
    if cfg.image_size not in nets:
        raise ValueError(f"The DCGAN works on 64x64 (the book) or 32x32 images, not "
                         f"{cfg.image_size}; set image_size to 64 or 32.")
    gen_cls, disc_cls = nets[cfg.image_size]
    G = _init(gen_cls(cfg.latent_dim, cfg.features), device, channels_last=True)
    D = _init(disc_cls(cfg.d_features or cfg.features), device, channels_last=True)

    def step(task, batch):
        images, _labels = batch
        return steps.dcgan_step(G, D, task.optimizers["G"], task.optimizers["D"], images,
                                latent_dim=cfg.latent_dim, scaler_g=task.scalers["G"],
                                scaler_d=task.scalers["D"], amp=cfg.amp,
                                real_label=cfg.real_label)

    def sample(task, z):
        return ddp.plain(G)(z)

    return {"G": G, "D": D}, {"G": _adam(cfg, G), "D": _adam_d(cfg, D)}, step, sample, _noise_fixed


def _build_cgan(cfg, device):
    from gan_course.models import CGANCritic, CGANGenerator

    G = _init(CGANGenerator(cfg.latent_dim, cfg.num_classes, cfg.image_size, cfg.features), device)
    C = _init(CGANCritic(cfg.num_classes, cfg.image_size, cfg.d_features or cfg.features), device)

    def step(task, batch):
        images, labels = batch
        return steps.wgan_gp_step(G, C, task.optimizers["G"], task.optimizers["C"], images, labels,
                                  latent_dim=cfg.latent_dim, critic_iters=cfg.critic_iters,
                                  lambda_gp=cfg.lambda_gp, scaler_g=task.scalers["G"],
                                  scaler_c=task.scalers["C"], amp=cfg.amp)

    def sample(task, fixed):
        z, labels = fixed
        return ddp.plain(G)(z, labels)

    def make_fixed(task, data):
        # the SAME noise once per class: row by row, only the label changes (glasses / none)
        g = torch.Generator().manual_seed(cfg.seed + 12345)
        per_class = max(1, cfg.n_samples // cfg.num_classes)
        z = torch.randn(per_class, cfg.latent_dim, generator=g).repeat(cfg.num_classes, 1)
        labels = torch.arange(cfg.num_classes).repeat_interleave(per_class)
        return [z.to(device), labels.to(device)]

    return {"G": G, "C": C}, {"G": _adam(cfg, G), "C": _adam(cfg, C)}, step, sample, make_fixed


def _build_cyclegan(cfg, device):
    from gan_course.models import PatchDiscriminator, ResnetGenerator

    d_features = cfg.d_features or (cfg.features, 2 * cfg.features, 4 * cfg.features,
                                    8 * cfg.features)
    G_AB = _init(ResnetGenerator(3, cfg.features, cfg.num_residuals), device)  # black -> blond
    G_BA = _init(ResnetGenerator(3, cfg.features, cfg.num_residuals), device)  # blond -> black
    D_A = _init(PatchDiscriminator(3, d_features), device)
    D_B = _init(PatchDiscriminator(3, d_features), device)
    pools = steps.ImagePool(cfg.pool_size), steps.ImagePool(cfg.pool_size)

    def step(task, batch):
        real_A, real_B = batch
        return steps.cyclegan_step(G_AB, G_BA, D_A, D_B, task.optimizers["G"],
                                   task.optimizers["D"], real_A, real_B,
                                   lambda_cycle=cfg.lambda_cycle,
                                   lambda_identity=cfg.lambda_identity, pool_A=pools[0],
                                   pool_B=pools[1], scaler_g=task.scalers["G"],
                                   scaler_d=task.scalers["D"], amp=cfg.amp)

    def sample(task, fixed):
        # grid rows: [real A | A -> B] then [real B | B -> A]
        real_A, real_B = fixed
        fake_B, fake_A = ddp.plain(G_AB)(real_A), ddp.plain(G_BA)(real_B)
        k = len(real_A)
        rows = []
        for i in range(0, k, 4):
            rows += [real_A[i:i + 4], fake_B[i:i + 4]]
        for i in range(0, k, 4):
            rows += [real_B[i:i + 4], fake_A[i:i + 4]]
        return torch.cat(rows)

    def make_fixed(task, data):
        k = max(1, cfg.n_samples // 2)
        return [data.a.first(k)[0].to(device), data.b.first(k)[0].to(device)]

    models = {"G_AB": G_AB, "G_BA": G_BA, "D_A": D_A, "D_B": D_B}
    return models, {"G": _adam(cfg, G_AB, G_BA), "D": _adam(cfg, D_A, D_B)}, step, sample, make_fixed


_BUILDERS = {"fashion": _build_fashion, "dcgan": _build_dcgan, "cgan": _build_cgan,
             "cyclegan": _build_cyclegan}


def _check_task(task_name: str) -> None:
    if task_name not in _BUILDERS:
        raise ValueError(f"Unknown task {task_name!r}: choose one of {', '.join(TASKS)}.")


def build_task(task_name: str, cfg: TrainConfig | None = None,
               device: torch.device | str | None = None) -> Task:
    """Models (initialised, on ``device``, DDP-wrapped under torchrun), Adam optimisers, the
    step and sample functions, GradScalers (active on CUDA only) and, for CycleGAN with
    ``cfg.decay_epochs > 0``, linear learning-rate decay to 0 over the last ``decay_epochs``."""
    from gan_course.runtime import get_device

    _check_task(task_name)
    cfg = cfg or get_config(task_name)
    device = get_device(device) if not isinstance(device, torch.device) else device
    models, optimizers, step, sample, make_fixed = _BUILDERS[task_name](cfg, device)
    scalers = {k: steps.make_scaler(device, cfg.amp) for k in optimizers}
    schedulers = {}
    if cfg.decay_epochs > 0:
        start = max(0, cfg.epochs - cfg.decay_epochs)

        def factor(epoch: int, start=start, n=cfg.decay_epochs) -> float:
            return 1.0 - max(0, epoch + 1 - start) / (n + 1)

        schedulers = {k: torch.optim.lr_scheduler.LambdaLR(o, factor)
                      for k, o in optimizers.items()}
    task = Task(task_name, cfg, device, models, optimizers, step, sample, make_fixed,
                schedulers=schedulers, scalers=scalers)
    if cfg.ema_decay > 0:  # EMA of the generator(s): used for sample grids and evaluation
        from gan_course.training.ema import ModelEMA

        task.ema = ModelEMA({k: m for k, m in models.items() if k.startswith("G")}, cfg.ema_decay)
    return task


# ----------------------------------------------------------------------------- data
def load_data(task_name: str, cfg: TrainConfig) -> Batches | PairedBatches:
    """The chapter's dataset as batches: fashion -> Fashion-MNIST (flattened), dcgan -> anime
    faces, cgan -> eyeglasses (label 0 = glasses), cyclegan -> CelebA black (A) / blond (B) hair.
    ``cfg.data_source`` picks toy or real data; ``cfg.n_train`` caps the number of images."""
    from gan_course import data

    _check_task(task_name)
    if task_name == "fashion":
        images, labels = data.fashion_tensors(source=cfg.data_source, n=cfg.n_train)
        return Batches([images, labels], cfg.batch_size)
    name = {"dcgan": "anime", "cgan": "eyeglasses", "cyclegan": "celeba_hair"}[task_name]
    cache = data.load(name, source=cfg.data_source, size=cfg.image_size, n=cfg.n_train)
    if task_name != "cyclegan":
        return Batches([cache.images, cache.labels], cfg.batch_size)
    labels = np.asarray(cache.labels)
    black, blond = cache.classes.index("black"), cache.classes.index("blond")
    domain_a = Batches([cache.images], cfg.batch_size, index=np.flatnonzero(labels == black))
    domain_b = Batches([cache.images], cfg.batch_size, index=np.flatnonzero(labels == blond))
    return PairedBatches(domain_a, domain_b)


# ----------------------------------------------------------------------------- train
def train(task_name: str, *, data: str = "toy", profile: str | None = None,
          out: str | Path | None = None, resume: bool = False, epochs: int | None = None,
          device: str | torch.device | None = None, progress: bool = True,
          max_steps: int | None = None, config: TrainConfig | None = None,
          training_data=None):
    """Train one of the course's models; returns ``(task, history DataFrame)``.

    ``data``: "toy" (default, offline) or "real"; ``profile``: smoke|demo|full (default from
    ``GAN_COURSE_PROFILE``); ``out``: folder for checkpoint, samples and history (default
    ``runs/<task>``); ``resume``: continue from ``out/checkpoint.pt``; ``epochs``: total epochs
    (default from the profile); ``config``: a ready :class:`TrainConfig` instead of profile
    defaults; ``training_data``: ready batches instead of :func:`load_data` (tests, notebooks).
    Works unchanged under ``torchrun`` (one process per GPU/CPU worker).
    """
    from gan_course.runtime import get_device

    _check_task(task_name)
    if data not in ("toy", "real"):
        raise ValueError(f"data must be 'toy' or 'real', got {data!r}.")
    cfg = config or get_config(task_name, profile)
    cfg = replace(cfg, data_source=data, epochs=epochs if epochs is not None else cfg.epochs)
    dev = get_device(device) if not isinstance(device, torch.device) else device
    info = ddp.init_distributed(dev.type)
    if info.enabled and dev.type == "cuda":
        dev = torch.device("cuda", info.local_rank)
    out = Path(out) if out is not None else Path("runs") / task_name

    torch.manual_seed(cfg.seed)  # initial weights depend on the seed only (DDP: rank 0's win)
    task = build_task(task_name, cfg, dev)
    if training_data is None:
        # rank 0 writes/caches the data first; the others then read the finished files
        if not info.is_main:
            ddp.barrier()
        training_data = load_data(task_name, cfg)
        if info.is_main:
            ddp.barrier()
    history = fit(task, training_data, epochs=cfg.epochs, out_dir=out, resume=resume,
                  progress=progress, sample_every=cfg.sample_every, max_steps=max_steps,
                  seed=cfg.seed)
    return task, history


# ----------------------------------------------------------------------------- sampling
def load_trained(checkpoint: str | Path, device: str | torch.device | None = None) -> Task:
    """Rebuild a task (models in eval mode) from a ``checkpoint.pt`` written by training."""
    from gan_course.runtime import get_device

    state = load_checkpoint(checkpoint)
    name = state.get("task")
    if name not in _BUILDERS:
        raise CheckpointError(f"{checkpoint} names an unknown task {name!r}.")
    cfg = TrainConfig.from_dict(state["config"])
    dev = get_device(device) if not isinstance(device, torch.device) else device
    task = build_task(name, cfg, dev)
    task.load_state_dict(state["task_state"])
    if task.ema is not None:  # EMA: a trained model is used through its averaged generator
        task.ema.copy_to()
    for m in task.models.values():
        m.eval()
    return task


@torch.no_grad()
def generate(task: Task, n: int = 32, seed: int = 0, label: int | None = None,
             label_weight: float | None = None) -> torch.Tensor:
    """``n`` new images ``(n, C, H, W)`` in [-1, 1] from a trained task.

    cgan: ``label`` = class id for all images (0 = glasses), or ``label_weight`` = w for the
    weight row ``[w, 1 - w]`` (label arithmetic); default: half class 0, half class 1 with the
    same noise. cyclegan: ``n`` toy faces, half black-haired (translated to blond) and half blond
    (translated to black); returns ``2n`` images (each real face next to its translation), laid
    out as in the training sample grids.
    """
    cfg, dev = task.config, task.device
    g = torch.Generator().manual_seed(seed)
    if task.name == "cyclegan":
        from gan_course.data.toy import draw_face

        k = max(1, n // 2)
        faces = [[draw_face(seed + i, size=cfg.image_size, hair=h) for i in range(k)]
                 for h in ("black", "blond")]
        real_A, real_B = (torch.from_numpy(np.stack(f)).permute(0, 3, 1, 2).float() / 127.5 - 1
                          for f in faces)
        return task.sample([real_A.to(dev), real_B.to(dev)])
    if task.name == "cgan":
        if label is not None and label_weight is not None:
            raise ValueError("give either label or label_weight, not both.")
        if label is not None:
            if not 0 <= label < cfg.num_classes:
                raise ValueError(f"label must be in [0, {cfg.num_classes}), got {label}.")
            labels = torch.full((n,), int(label))
            z = torch.randn(n, cfg.latent_dim, generator=g)
        elif label_weight is not None:
            w = float(label_weight)
            labels = torch.tensor([[w, 1.0 - w]]).repeat(n, 1)
            z = torch.randn(n, cfg.latent_dim, generator=g)
        else:
            half = max(1, n // 2)
            z = torch.randn(half, cfg.latent_dim, generator=g).repeat(2, 1)
            labels = torch.arange(2).repeat_interleave(half)
        return task.sample([z.to(dev), labels.to(dev)])
    if label is not None or label_weight is not None:
        raise ValueError(f"--label / --label-weight only apply to cgan, not {task.name}.")
    return task.sample(torch.randn(n, cfg.latent_dim, generator=g).to(dev))
