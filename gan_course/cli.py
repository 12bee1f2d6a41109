"""Command line: ``python -m gan_course {data,train,sample,evaluate} …``.

Each command group lives beside the code it drives (``gan_course/data/cli.py``,
``gan_course/train_cli.py``, …) and registers itself through ``add_subparser``; this module only
dispatches, so ``--help`` on any level lists what is there.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules that contribute sub-commands, in the order --help lists them.
_COMMAND_MODULES = (
    "gan_course.data.cli", "gan_course.train_cli", "gan_course.metrics_cli", "gan_course.grading",
    "gan_course.weights_cli",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every available command group registered."""
    parser = argparse.ArgumentParser(
        prog="python -m gan_course",
        description="GAN course tools: make/fetch/prepare data, train, sample, evaluate.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that command group is simply not part of this install
                continue
            raise
        module.add_subparser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)
