"""``python -m benchmarks [--quick] [--json PATH]``: same as ``python benchmarks/run.py``."""

import sys

from benchmarks.run import main

main(sys.argv[1:])
