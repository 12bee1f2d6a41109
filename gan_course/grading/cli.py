"""Command-line wiring of ``release`` and ``validate`` (no grading logic lives here).

``python -m gan_course.grading {release,validate} ...`` runs :func:`main`;
``python -m gan_course grading ...`` registers the same commands through :func:`add_subparser`.
"""

from __future__ import annotations

import argparse
import sys

from .release import AssignmentError, release
from .validate import validate_notebook


def _validate_main(args: argparse.Namespace) -> int:
    status = 0
    for path in args.notebooks:
        report = validate_notebook(path, timeout=args.timeout, release=args.release)
        print(report.summary())
        code, lines = report.exit_status(invert=args.invert)
        for line in lines:
            print(f"  {line}")
        status = max(status, code)
    return status


def _release_main(args: argparse.Namespace) -> int:
    written = release(args.source, args.dest, args.assignment or None)
    for p in written:
        print(f"wrote {p}")
    print(f"{len(written)} student notebook(s) in {args.dest}")
    return 0


def _run(func):
    """Run a command; a broken notebook or a missing path becomes one line and exit status 2."""
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (AssignmentError, FileNotFoundError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return run


def add_commands(parser: argparse.ArgumentParser) -> None:
    """Add the ``release`` and ``validate`` sub-commands to ``parser``."""
    sub = parser.add_subparsers(dest="grading_command", metavar="{release,validate}", required=True)
    rel = sub.add_parser("release", help="write student copies (solutions and hidden tests removed)")
    rel.add_argument("source", help="instructor sources, e.g. assignments/source")
    rel.add_argument("dest", help="where the student copies go, e.g. assignments/release")
    rel.add_argument("--assignment", action="append", help="only this assignment (repeatable)")
    rel.set_defaults(func=_run(_release_main))
    val = sub.add_parser("validate", help="check locked cells, execute, report every graded cell")
    val.add_argument("notebooks", nargs="+", help="notebook(s) to grade")
    val.add_argument("--release", default=None,
                     help="the release copy (a notebook, or a release folder such as "
                          "assignments/release) to compare the locked cells with; found "
                          "automatically inside the course repository")
    val.add_argument("--invert", action="store_true",
                     help="succeed only if every exercise fails (for blank student copies)")
    val.add_argument("--timeout", type=int, default=120, help="seconds per cell (default 120)")
    val.set_defaults(func=_run(_validate_main))


def add_subparser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``grading release|validate`` (for ``python -m gan_course``)."""
    parser = subparsers.add_parser(
        "grading", help="release student copies of assignments; validate them")
    add_commands(parser)


def main(argv: list[str] | None = None) -> int:
    """``python -m gan_course.grading {release,validate} ...``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m gan_course.grading",
        description="Autograder of the course assignments: release student copies, validate them.")
    add_commands(parser)
    args = parser.parse_args(argv)
    return args.func(args)
