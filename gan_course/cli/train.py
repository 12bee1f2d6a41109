"""``python -m gan_course train ...`` and ``python -m gan_course sample ...``.

Examples::

    python -m gan_course train dcgan --profile demo                 # -> runs/demo/dcgan-toy-seed0
    python -m gan_course train dcgan --profile demo --resume --epochs 40
    python -m gan_course train cgan --profile full                  # the book's run, real data
    python -m gan_course train cgan --profile full --data real --root ~/datasets/glasses
    python -m gan_course sample dcgan --checkpoint runs/demo/dcgan-toy-seed0/checkpoint.pt --out grid.png
    python -m gan_course sample cgan --checkpoint CKPT --out g.png --label 0
    torchrun --nproc_per_node=2 -m gan_course train dcgan --profile smoke --out runs/ddp
    torchrun --nproc_per_node=8 -m gan_course train cyclegan --profile full --batch-per-rank \
        --checkpoint-minutes 15

(``python -m torch.distributed.run --nproc_per_node=2 -m gan_course ...`` is the same as
``torchrun``.) ``--batch-size`` is the global batch: on N processes each takes 1/N of it, so the
run takes the book's steps with the book's batch; ``--batch-per-rank`` makes it per process (the
lr then grows by sqrt(N)). The run prints which. Ctrl-C or SIGTERM (a cluster's pre-emption)
finishes the current step, saves a checkpoint and exits with status 130; ``--resume`` continues.
Errors print one clear line on stderr and exit with status 1.
"""

from __future__ import annotations

import math
from pathlib import Path

from gan_course.config import DATA_SOURCES, TASKS
from gan_course.runtime import PROFILES

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def add_subparser(subparsers) -> None:
    """Register the ``train`` and ``sample`` commands on the top-level sub-parsers."""
    p = subparsers.add_parser("train", help="train a model of the course (toy or real data)",
                              description="Train one of the course's GANs. Writes "
                                          "OUT/checkpoint.pt, OUT/history.csv, OUT/samples/.")
    p.add_argument("task", choices=TASKS)
    p.add_argument("--profile", choices=PROFILES, default=None,
                   help="smoke | demo | long | full (default: GAN_COURSE_PROFILE, else long on "
                        "CUDA, demo elsewhere; full = the book's run on the real data)")
    p.add_argument("--data", choices=DATA_SOURCES, default=None,
                   help="toy (embedded, offline) or real (the book's dataset); default: real for "
                        "the full profile, toy otherwise")
    p.add_argument("--root", type=Path, default=None,
                   help="real data: the dataset folder (default DATA_ROOT/real/<dataset>)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default runs/<profile>/<task>-<data>-seed<seed>)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--epochs", type=int, default=None, help="total epochs (default: profile's)")
    p.add_argument("--seed", type=int, default=None, help="seed (default: the profile's, 0)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="images per step over ALL processes (default: the profile's = the "
                        "book's); under torchrun it is split across the processes")
    p.add_argument("--batch-per-rank", action="store_true",
                   help="--batch-size is per process instead: the global batch grows with the "
                        "number of processes and the lr is multiplied by sqrt(processes)")
    p.add_argument("--checkpoint-every", type=int, default=None, metavar="STEPS",
                   help="also save a checkpoint every STEPS steps (default: at epoch ends only)")
    p.add_argument("--checkpoint-minutes", type=float, default=None, metavar="MIN",
                   help="also save a checkpoint every MIN minutes")
    p.add_argument("--log-every", type=int, default=None, metavar="STEPS",
                   help="read the losses from the device every STEPS steps (default: every "
                        "step on CPU, every 20 on a GPU)")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    p.add_argument("--device", default=None, help="cpu | cuda | cuda:1 | mps (default: best)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)

    s = subparsers.add_parser("sample", help="image grid from a trained checkpoint",
                              description="Write a PNG grid of generated images.")
    s.add_argument("task", choices=TASKS)
    s.add_argument("--checkpoint", required=True, help="OUT/checkpoint.pt written by train")
    s.add_argument("--out", required=True, type=Path,
                   help=f"image file to write ({', '.join(IMAGE_SUFFIXES)})")
    s.add_argument("--n", type=int, default=32, help="number of images (default 32)")
    group = s.add_mutually_exclusive_group()
    group.add_argument("--label", type=int, default=None, help="cgan: class id (0 = glasses)")
    group.add_argument("--label-weight", type=float, default=None,
                       help="cgan: weight w of class 0 in the label [w, 1-w]")
    s.add_argument("--seed", type=int, default=0, help="noise seed")
    s.add_argument("--device", default=None)
    s.set_defaults(func=_sample)


def _train(args) -> int:
    from gan_course.cli import fail
    from gan_course.config import get_config
    from gan_course.training import distributed as ddp
    from gan_course.training.runs import train

    if args.epochs is not None and args.epochs < 1:
        return fail(f"--epochs must be >= 1, got {args.epochs}.")
    if args.max_steps is not None and args.max_steps < 1:
        return fail(f"--max-steps must be >= 1, got {args.max_steps}.")
    for flag in ("batch_size", "checkpoint_every", "log_every"):
        value = getattr(args, flag)
        if value is not None and value < (1 if flag == "batch_size" else 0):
            return fail(f"--{flag.replace('_', '-')} must be >= "
                        f"{1 if flag == 'batch_size' else 0}, got {value}.")
    if args.checkpoint_minutes is not None and not args.checkpoint_minutes >= 0:
        return fail(f"--checkpoint-minutes must be >= 0, got {args.checkpoint_minutes}.")
    changes = {k: getattr(args, k) for k in ("epochs", "batch_size", "checkpoint_every",
                                             "checkpoint_minutes", "log_every")
               if getattr(args, k) is not None}
    if args.batch_per_rank:
        changes["batch_per_rank"] = True
    cfg = get_config(args.task, args.profile, data_source=args.data, data_root=args.root,
                     seed=args.seed, **changes)
    if args.root is not None and cfg.data_source != "real":
        return fail("--root names a real dataset folder: add --data real (or --profile full).")
    try:
        task, history = train(cfg, out=args.out, resume=args.resume, device=args.device,
                              progress=not args.no_progress, max_steps=args.max_steps)
        if ddp.current().is_main:
            from gan_course.runtime import run_dir

            print(f"Trained {args.task}: {len(history)} steps so far; checkpoint, history.csv "
                  f"and samples/ are in {args.out or run_dir(cfg)}")
        return 0
    finally:
        ddp.cleanup()


def _sample(args) -> int:
    from gan_course.cli import fail
    from gan_course.notebook.grids import save_grid
    from gan_course.training.runs import generate, load_trained

    if args.n < 1:
        return fail(f"--n must be >= 1, got {args.n}.")
    if args.label_weight is not None and not math.isfinite(args.label_weight):
        return fail(f"--label-weight must be a finite number (e.g. 0, 0.5, 1), got "
                    f"{args.label_weight}.")
    if args.out.suffix.lower() not in IMAGE_SUFFIXES:
        return fail(f"--out {args.out} has no image extension: end it with one of "
                    f"{', '.join(IMAGE_SUFFIXES)}.")
    task = load_trained(args.checkpoint, device=args.device)
    if task.name != args.task:
        return fail(f"{args.checkpoint} holds a {task.name!r} model, not {args.task!r}.")
    images = generate(task, n=args.n, seed=args.seed, label=args.label,
                      label_weight=args.label_weight)
    path = save_grid(images, args.out, nrow=8)
    print(f"Wrote {len(images)} images to {path}")
    return 0
