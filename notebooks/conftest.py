"""The test-wide settings of tests/conftest.py (throwaway data and run folders, smoke profile,
CPU) for ``pytest notebooks/`` on its own: one definition, run from here too."""

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[1] / "tests" / "conftest.py"))
