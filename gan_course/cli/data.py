"""``python -m gan_course data …``: make toy data, fetch, prepare, check and cache datasets.

Examples::

    python -m gan_course data toy all                   # the toy sets training uses
    python -m gan_course data fetch celeba              # download (needs network + Kaggle)
    python -m gan_course data check celeba ~/Downloads/celeba
    python -m gan_course data prepare eyeglasses --source real
    python -m gan_course data cache eyeglasses --size 64
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gan_course.data.datasets import IMAGE_SETS
from gan_course.data.sources import DATASETS

TOY_CHOICES = (*DATASETS, "all")


def _toy(args) -> int:
    from gan_course.data import write_toy

    names = TOY_CHOICES[:-1] if args.name == "all" else (args.name,)
    for name in names:
        root = None
        if args.root is not None:  # with "all", each dataset gets its own sub-folder
            root = Path(args.root) / name if args.name == "all" else Path(args.root)
        path = write_toy(name, args.n, args.size, root, seed=args.seed)
        print(f"toy {name}: {path}")
    return 0


def _fetch(args) -> int:
    from gan_course.data.sources import fetch

    path = fetch(args.name, args.root)
    print(f"{args.name}: ready in {path}")
    return 0


def _prepare(args) -> int:
    from gan_course.data import prepare

    folder, report = prepare(args.name, args.source, args.size, args.n, args.root)
    print(report if report is not None else f"{args.name}: {folder} needs no preparation")
    return 0


def _check(args) -> int:
    from gan_course.data.sources import check

    print(check(args.name, args.path))
    print("OK")
    return 0


def _cache(args) -> int:
    from gan_course.data import load

    cache = load(args.name, args.source, args.size, args.n, args.root)
    print(f"cache: {cache}")
    return 0


def add_subparser(subparsers) -> argparse.ArgumentParser:
    """Register ``data`` and its sub-commands on the top-level CLI's ``subparsers``."""
    data = subparsers.add_parser("data", help="make toy data, fetch/check/prepare/cache datasets",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    data.set_defaults(func=lambda args: (data.print_help(), 2)[1])
    sub = data.add_subparsers(dest="data_command", metavar="ACTION")

    p = sub.add_parser("toy", help="write toy data in the real datasets' layouts",
                       description="Write deterministic toy data in the real on-disk layout "
                                   "(idempotent: a second run is a no-op).")
    p.add_argument("name", choices=TOY_CHOICES)
    p.add_argument("--n", type=int, default=None,
                   help="images (default: what the profile's training config uses)")
    p.add_argument("--size", type=int, default=None,
                   help="face image size in pixels (default: the profile's training size)")
    p.add_argument("--root", type=Path, default=None, help="folder to write into "
                   "(default: DATA_ROOT/toy/<name>/n<N>-<size>px)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_toy)

    p = sub.add_parser("fetch", help="download a real dataset (kagglehub / torchvision)",
                       description="Download a real dataset. Offline, prints how to get it by hand.")
    p.add_argument("name", choices=tuple(DATASETS))
    p.add_argument("--root", type=Path, default=None, help="default: DATA_ROOT/real/<name>")
    p.set_defaults(func=_fetch)

    p = sub.add_parser("prepare", help="sort labelled faces into class folders (non-destructive)",
                       description="Hard-link (else copy) images into class folders; never moves "
                                   "or changes the source; a second run adds 0 files.")
    p.add_argument("name", choices=IMAGE_SETS[1:])
    p.add_argument("--source", choices=("toy", "real"), default="toy")
    p.add_argument("--root", type=Path, default=None, help="dataset folder (default by source)")
    p.add_argument("--n", type=int, default=None, help="toy images (source toy)")
    p.add_argument("--size", type=int, default=None, help="toy image size (source toy)")
    p.set_defaults(func=_prepare)

    p = sub.add_parser("check", help="verify a dataset folder's layout, labels and images",
                       description="Verify that PATH holds dataset NAME in the expected layout.")
    p.add_argument("name", choices=tuple(DATASETS))
    p.add_argument("path", type=Path)
    p.set_defaults(func=_check)

    p = sub.add_parser("cache", help="decode a dataset once into the fast uint8 cache",
                       description="Prepare (if needed) and decode a dataset once at --size.")
    p.add_argument("name", choices=IMAGE_SETS)
    p.add_argument("--size", type=int, default=None, help="default: the profile's training size")
    p.add_argument("--source", choices=("toy", "real"), default="toy")
    p.add_argument("--root", type=Path, default=None, help="dataset folder (default by source)")
    p.add_argument("--n", type=int, default=None, help="toy images (source toy)")
    p.set_defaults(func=_cache)
    return data
