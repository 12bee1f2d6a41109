"""Command line: ``python -m gan_course {data,train,sample,evaluate,grading} …``.

One dispatcher (:func:`main`), one error wrapper (expected errors print one line on stderr and
exit with status 1; Ctrl-C exits with 130) and one module per command group, each only parsing
arguments and calling the library:

==================  ===================================================================
:mod:`.data`        ``data toy|fetch|prepare|check|cache``
:mod:`.train`       ``train`` and ``sample``
:mod:`.evaluate`    ``evaluate``
:mod:`.weights`     ``weights import-book`` (the book's pretrained generators)
==================  ===================================================================

(``grading`` is registered by :mod:`gan_course.grading`, which instructors also run as
``python -m gan_course.grading``.)
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules that contribute sub-commands, in the order --help lists them.
_COMMAND_MODULES = (
    "gan_course.cli.data", "gan_course.cli.train", "gan_course.cli.evaluate",
    "gan_course.cli.weights", "gan_course.grading",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every command group registered."""
    parser = argparse.ArgumentParser(
        prog="python -m gan_course",
        description="GAN course tools: make/fetch/prepare data, train, sample, evaluate.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).add_subparser(sub)
    return parser


def expected_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean "bad input or environment" (print the message, exit 1), not a bug."""
    from gan_course.data.sources import DataError
    from gan_course.evaluation.distances import MetricsUnavailable
    from gan_course.pretrained import PretrainedError
    from gan_course.runtime import DeviceUnavailable
    from gan_course.training.checkpoint import CheckpointError
    from gan_course.training.loop import TrainingDiverged

    return (ValueError, OSError, DataError, CheckpointError, TrainingDiverged, DeviceUnavailable,
            MetricsUnavailable, PretrainedError)


def fail(message: str) -> int:
    """Print ``error: message`` on stderr; returns exit status 1 (for argument checks)."""
    print(f"error: {message}", file=sys.stderr)
    return 1


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
    except expected_errors() as exc:
        return fail(str(exc))
    return int(result or 0)
