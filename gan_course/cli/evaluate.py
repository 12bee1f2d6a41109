"""``python -m gan_course evaluate {dcgan,cgan,cyclegan} --checkpoint PATH``: numbers for a checkpoint.

The work is :func:`gan_course.metrics_cli.evaluate`; this module only parses and prints.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gan_course import metrics
from gan_course.metrics_cli import TASKS


def add_subparser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``evaluate`` on the top-level sub-parsers (called by :mod:`gan_course.cli`)."""
    p = sub.add_parser(
        "evaluate", help="print quality numbers for a trained checkpoint",
        description="Print quality numbers for a checkpoint, each next to an untrained generator "
                    "of the same architecture: cgan -> per-label accuracy of an attribute "
                    "classifier; cyclegan -> target-domain rates both ways + round-trip L1; "
                    "dcgan -> KID to real faces. KIDs (also printed for cgan/cyclegan) use "
                    "attribute-classifier features: NOT comparable with published numbers "
                    "(--inception adds the standard FID/KID where torch-fidelity and the "
                    "Inception weights are installed).")
    p.add_argument("task", choices=TASKS, help="which model the checkpoint holds")
    p.add_argument("--checkpoint", required=True, type=Path,
                   help="checkpoint.pt written by `python -m gan_course train TASK --out DIR`")
    p.add_argument("--data", choices=("toy", "real"), default=None,
                   help="data the classifiers and real images come from (default: the "
                        "checkpoint's own training data)")
    p.add_argument("--n", type=int, default=200,
                   help="images per label (cgan), per domain (cyclegan) or per set (dcgan); default 200")
    p.add_argument("--device", default=None, help="cpu | cuda | mps (default: best available)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise and image choice")
    p.add_argument("--classifier-dir", type=Path, default=None,
                   help="where attribute classifiers are cached (default DATA_ROOT/models/classifiers)")
    p.add_argument("--retrain-classifier", action="store_true",
                   help="retrain the attribute classifier(s) instead of using the cached ones")
    p.add_argument("--inception", action="store_true",
                   help="dcgan: also the standard Inception FID/KID (needs torch-fidelity and the "
                        "Inception weights on disk)")
    p.add_argument("--inception-weights", type=Path, default=None,
                   help=f"path of {metrics.INCEPTION_WEIGHTS_FILE} (else "
                        f"${metrics.INCEPTION_WEIGHTS_ENV}, else torch hub's cache)")
    p.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    p.set_defaults(func=_run)
    return p



def _run(args: argparse.Namespace) -> int:
    """Evaluate and print; bad input becomes one line on stderr (the CLI's error wrapper)."""
    from gan_course.cli import fail
    from gan_course.metrics_cli import evaluate
    from gan_course.runtime import get_device

    get_device(args.device)  # an unavailable --device is a one-line error, not a traceback
    if args.n < 4:
        return fail(f"--n must be at least 4 (got {args.n}); 200 or more gives stable numbers.")
    result = evaluate(args.task, args.checkpoint, data=args.data, n=args.n, device=args.device,
                      seed=args.seed, classifier_dir=args.classifier_dir,
                      retrain_classifier=args.retrain_classifier, inception=args.inception,
                      inception_weights=args.inception_weights)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
        print(f"numbers written to {args.json}")
    return 0
