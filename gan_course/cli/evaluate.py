"""``python -m gan_course evaluate {fashion,dcgan,cgan,cyclegan} --checkpoint PATH | --pretrained``.

Prints one table per checkpoint: each metric for the trained generator (its EMA when the run kept
one), an untrained generator of the same architecture (the run's initial weights), real
held-out images (the floor or baseline) and the course's target. The work is done by
:func:`gan_course.evaluation.evaluate`; this module only parses arguments and prints.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gan_course.evaluation import distances as _kid
from gan_course.evaluation.evaluate import TASKS


def add_subparser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``evaluate`` on the top-level sub-parsers (called by :mod:`gan_course.cli`)."""
    p = sub.add_parser(
        "evaluate", help="print quality numbers for a trained checkpoint",
        description="Print quality numbers for a checkpoint, each beside an untrained generator "
                    "of the same architecture and real held-out images, judged by classifiers "
                    "trained on toy images the course never trains on: fashion -> garment "
                    "coverage (TV distance, classes >= 4 %%) + KID; dcgan -> hair/glasses "
                    "coverage + KID with its real-vs-real floor; cgan -> accuracy per label + "
                    "flip rate; cyclegan -> target-domain rates, oracle L1 vs copying the input, "
                    "round-trip L1. KIDs use the judges' features: NOT comparable with published "
                    "numbers (--inception adds the standard FID/KID for dcgan where "
                    "torch-fidelity and the Inception weights are installed).")
    p.add_argument("task", choices=TASKS, help="which model the checkpoint holds")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--checkpoint", type=Path,
                       help="checkpoint.pt written by `python -m gan_course train TASK`")
    which.add_argument("--pretrained", action="store_true",
                       help="the generator shipped with the course (gan_course/pretrained)")
    p.add_argument("--data", choices=("toy", "real"), default=None,
                   help="data the judges and real images come from (default: the checkpoint's "
                        "own training data)")
    p.add_argument("--n", type=int, default=1000,
                   help="generated images (and real held-out images) per set; default 1000")
    p.add_argument("--device", default=None, help="cpu | cuda | mps (default: best available)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise and image choice")
    p.add_argument("--judge-dir", type=Path, default=None,
                   help="where judges are cached (default DATA_ROOT/models/judges)")
    p.add_argument("--retrain-judges", action="store_true",
                   help="retrain the judges instead of using cached ones")
    p.add_argument("--judge-n", type=int, default=None,
                   help="held-out toy images per judge (default 6000 faces / 10000 garments; "
                        "fewer trains faster and judges less accurately)")
    p.add_argument("--inception", action="store_true",
                   help="dcgan: also the standard Inception FID/KID (needs torch-fidelity and the "
                        "Inception weights on disk)")
    p.add_argument("--inception-weights", type=Path, default=None,
                   help=f"path of {_kid.INCEPTION_WEIGHTS_FILE} (else "
                        f"${_kid.INCEPTION_WEIGHTS_ENV}, else torch hub's cache)")
    p.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    p.set_defaults(func=_run)
    return p


def _run(args: argparse.Namespace) -> int:
    """Evaluate and print; bad input becomes one line on stderr (the CLI's error wrapper)."""
    from gan_course.cli import fail
    from gan_course.evaluation.evaluate import evaluate, evaluate_pretrained
    from gan_course.runtime import get_device

    get_device(args.device)  # an unavailable --device is a one-line error, not a traceback
    if args.n < 8:
        return fail(f"--n must be at least 8 (got {args.n}); 1000 gives stable numbers.")
    options = dict(data=args.data, n=args.n, device=args.device, seed=args.seed,
                   judge_dir=args.judge_dir, retrain_judges=args.retrain_judges,
                   inception=args.inception, inception_weights=args.inception_weights,
                   judge_n=args.judge_n)
    if args.pretrained:
        result = evaluate_pretrained(args.task, **options)
    else:
        result = evaluate(args.task, args.checkpoint, **options)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
        print(f"numbers written to {args.json}")
    return 0
