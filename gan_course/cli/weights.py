"""``python -m gan_course weights import-book FILE... --out DIR``: the book's pretrained generators.

Examples::

    python -m gan_course weights import-book cgan.pth --out runs/book-cgan
    python -m gan_course weights import-book gen_black.pth gen_blond.pth --out runs/book-cyclegan
    python -m gan_course weights import-book my_copy.pth --task cyclegan-blond --out runs/book-cyclegan

``--task`` is read from the book's file names (cgan.pth, gen_black.pth, gen_blond.pth) and only
needed for a renamed file. The work is done by :mod:`gan_course.training.book_checkpoint`; errors
print one line on stderr and exit with status 1 (the CLI's error wrapper).
"""

from __future__ import annotations

from pathlib import Path

_DIRECTIONS = {"G_AB": "black -> blond", "G_BA": "blond -> black"}


def add_subparser(subparsers) -> None:
    """Register the ``weights`` command group (``weights import-book``)."""
    from gan_course.models.book_weights import BOOK_FILES, BOOK_KINDS

    p = subparsers.add_parser("weights", help="import pretrained weights (the book's generators)",
                              description="Pretrained weights into course checkpoints.")
    sub = p.add_subparsers(dest="weights_command", metavar="ACTION")
    imp = sub.add_parser(
        "import-book", help="the book's cgan.pth / gen_black.pth / gen_blond.pth -> checkpoint",
        description="Load the book's pretrained generator(s) (state dicts, read with "
                    "weights_only=True), map them onto the course's networks by layer order and "
                    "shape, check every tensor, and write OUT/checkpoint.pt for `sample`, "
                    "`evaluate` and the notebooks' explorers. The critic/discriminators are "
                    "freshly initialised (the book does not publish them), so training cannot "
                    "resume from this checkpoint.")
    imp.add_argument("files", nargs="+", metavar="FILE",
                     help="book weight file(s): " + ", ".join(BOOK_FILES.values()))
    imp.add_argument("--task", choices=BOOK_KINDS, default=None,
                     help="what FILE is (default: from the book's file name): cgan = cgan.pth; "
                          "cyclegan-black = gen_black.pth (blond -> black, course G_BA); "
                          "cyclegan-blond = gen_blond.pth (black -> blond, course G_AB)")
    imp.add_argument("--out", required=True,
                     help="folder for checkpoint.pt; a folder with an imported CycleGAN "
                          "checkpoint gets the other generator added")
    imp.add_argument("--image-size", type=int, default=None,
                     help="cyclegan: image size stored in the config (default 256, the book's)")
    imp.add_argument("--seed", type=int, default=0,
                     help="seed of the freshly initialised critic/discriminators")
    imp.set_defaults(func=_import_book)
    p.set_defaults(func=lambda args: _help(p))


def _help(parser) -> int:
    parser.print_help()
    return 2


def _kinds(files: list[str], task: str | None) -> dict[str, str]:
    """FILE arguments -> {kind: path}; raises ValueError with the fix when it cannot tell."""
    from gan_course.models.book_weights import BOOK_FILES, kind_from_filename

    if task is not None and len(files) > 1:
        raise ValueError("--task describes one FILE; import several files by their book names "
                         "(cgan.pth, gen_black.pth, gen_blond.pth) or one at a time.")
    kinds: dict[str, str] = {}
    for f in files:
        named = kind_from_filename(f)
        if task is not None and named is not None and named != task:
            why = ("" if "cgan" in (named, task) else
                   " A CycleGAN file's direction is known only from its name (gen_black.pth "
                   "makes black hair, gen_blond.pth blond).")
            raise ValueError(
                f"{Path(f).name} is the book's {named} file, but --task {task} was given.{why} "
                f"Drop --task, or rename the file if it really is {BOOK_FILES[task]}.")
        kind = task or named
        if kind is None:
            raise ValueError(f"cannot tell what {f} is from its name: pass --task cgan, "
                             f"cyclegan-black (gen_black.pth) or cyclegan-blond (gen_blond.pth).")
        if kind in kinds:
            raise ValueError(f"{kinds[kind]} and {f} are both {kind} files: pass one.")
        kinds[kind] = f
    return kinds


def _import_book(args) -> int:
    from gan_course.cli import fail
    from gan_course.models.book_weights import BookWeightsError
    from gan_course.training.book_checkpoint import write_book_checkpoint

    try:
        kinds = _kinds(args.files, args.task)
        report = write_book_checkpoint(kinds, args.out, image_size=args.image_size,
                                       seed=args.seed)
    except BookWeightsError as exc:
        return fail(str(exc))
    arch = ", ".join(f"{k}={v}" for k, v in report.architecture.items())
    for name, fname in sorted(report.imported.items()):
        where = f" ({_DIRECTIONS[name]})" if name in _DIRECTIONS else ""
        print(f"{fname} -> {report.task} {name}{where}")
    print(f"architecture read from the weights: {arch}")
    missing = [g for g in ("G_AB", "G_BA") if g in report.untrained]
    for g in missing:
        other = "gen_blond.pth" if g == "G_AB" else "gen_black.pth"
        print(f"note: {g} ({_DIRECTIONS[g]}) is not imported yet, its output is noise; add it "
              f"with: python -m gan_course weights import-book {other} --out {args.out}")
    print(f"initialised, not trained: {', '.join(report.untrained)} (resuming training from this "
          f"checkpoint is refused)")
    print(f"Wrote {report.path}. Try: python -m gan_course sample {report.task} --checkpoint "
          f"{report.path} --out {report.task}_book.png")
    return 0
