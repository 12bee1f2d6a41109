"""``python -m gan_course train ...`` and ``python -m gan_course sample ...``.

Examples::

    python -m gan_course train dcgan --profile demo --out runs/dcgan
    python -m gan_course train dcgan --out runs/dcgan --resume --epochs 20
    python -m gan_course sample dcgan --checkpoint runs/dcgan/checkpoint.pt --out grid.png
    python -m gan_course sample cgan --checkpoint runs/cgan/checkpoint.pt --out g.png --label 0
    torchrun --nproc_per_node=2 -m gan_course train dcgan --profile smoke --out runs/ddp

(``python -m torch.distributed.run --nproc_per_node=2 -m gan_course ...`` is the same as
``torchrun``.) Errors print one clear line on stderr and exit with status 1.
"""

from __future__ import annotations

import argparse
import os
import sys

from gan_course.config import TASKS


def add_subparser(subparsers) -> None:
    """Register the ``train`` and ``sample`` commands on the top-level sub-parsers."""
    p = subparsers.add_parser("train", help="train a model of the course (toy or real data)",
                              description="Train one of the course's GANs. Writes "
                                          "OUT/checkpoint.pt, OUT/history.csv, OUT/samples/.")
    p.add_argument("task", choices=TASKS)
    p.add_argument("--data", choices=("toy", "real"), default="toy",
                   help="toy (embedded, offline; default) or real (the book's dataset)")
    p.add_argument("--profile", choices=("smoke", "demo", "full"), default=None,
                   help="smoke | demo | full (default: GAN_COURSE_PROFILE, else full on CUDA, "
                        "demo elsewhere)")
    p.add_argument("--out", default=None, help="output folder (default runs/<task>)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--epochs", type=int, default=None, help="total epochs (default: profile's)")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    p.add_argument("--device", default=None, help="cpu | cuda | cuda:1 | mps (default: best)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--save-rank-weights", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=_train)

    s = subparsers.add_parser("sample", help="image grid from a trained checkpoint",
                              description="Write a PNG grid of generated images.")
    s.add_argument("task", choices=TASKS)
    s.add_argument("--checkpoint", required=True, help="OUT/checkpoint.pt written by train")
    s.add_argument("--out", required=True, help="PNG file to write")
    s.add_argument("--n", type=int, default=32, help="number of images (default 32)")
    group = s.add_mutually_exclusive_group()
    group.add_argument("--label", type=int, default=None, help="cgan: class id (0 = glasses)")
    group.add_argument("--label-weight", type=float, default=None,
                       help="cgan: weight w of class 0 in the label [w, 1-w]")
    s.add_argument("--seed", type=int, default=0, help="noise seed")
    s.add_argument("--device", default=None)
    s.set_defaults(func=_sample)


def _expected_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean "bad input or environment" (print the message, exit 1), not a bug."""
    from gan_course.data.sources import DataError

    return (ValueError, FileNotFoundError, RuntimeError, OSError, DataError)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _train(args) -> int:
    import torch

    from gan_course.training import distributed as ddp
    from gan_course.training.tasks import train

    if args.epochs is not None and args.epochs < 1:
        return _fail(f"--epochs must be >= 1, got {args.epochs}.")
    try:
        task, history = train(args.task, data=args.data, profile=args.profile, out=args.out,
                               resume=args.resume, epochs=args.epochs, device=args.device,
                               progress=not args.no_progress, max_steps=args.max_steps)
        info = ddp.current()
        if args.save_rank_weights:  # test hook: every rank writes its own weights to compare
            out = args.out or os.path.join("runs", args.task)
            torch.save({k: ddp.plain(m).state_dict() for k, m in task.models.items()},
                       os.path.join(out, f"rank{info.rank}.pt"))
        if info.is_main:
            out = args.out or os.path.join("runs", args.task)
            print(f"Trained {args.task}: {len(history)} steps this far; checkpoint, history.csv "
                  f"and samples/ are in {out}")
        return 0
    except _expected_errors() as exc:
        return _fail(str(exc))
    finally:
        ddp.cleanup()


def _sample(args) -> int:
    from gan_course.training.tasks import generate, load_trained
    from gan_course.viz import save_grid

    if args.n < 1:
        return _fail(f"--n must be >= 1, got {args.n}.")
    try:
        task = load_trained(args.checkpoint, device=args.device)
        if task.name != args.task:
            return _fail(f"{args.checkpoint} holds a {task.name!r} model, not {args.task!r}.")
        images = generate(task, n=args.n, seed=args.seed, label=args.label,
                          label_weight=args.label_weight)
        path = save_grid(images, args.out, nrow=8)
    except _expected_errors() as exc:
        return _fail(str(exc))
    print(f"Wrote {len(images)} images to {path}")
    return 0
