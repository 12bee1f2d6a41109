"""Every notebook and assignment installs the course from the one pinned source.

The repository URL is ``[project.urls] Repository`` and the ref ``[tool.gan-course] install-ref``
of pyproject.toml; ``.ci/pin_install.py`` writes them into each setup cell and Colab badge.
"""

import json
import re
import runpy
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PIN = runpy.run_path(str(REPO / ".ci" / "pin_install.py"))
NOTEBOOKS = (sorted(REPO.glob("notebooks/*.ipynb")) + sorted(REPO.glob("assignments/*/*/*.ipynb")))


def _cells(path):
    return json.loads(path.read_text())["cells"]


def test_the_pinned_source_is_a_tagged_ref_of_the_repository():
    url, ref, install = PIN["pinned"]()
    assert url.startswith("https://github.com/") and ref and ref not in ("main", "master")
    assert install == f"gan-course @ git+{url}@{ref}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_setup_cell_and_badge_use_the_pinned_source(path):
    cells = _cells(path)
    first = next(c for c in cells if c["cell_type"] == "code")
    expected = PIN["SETUP_CELL"].format(install=PIN["pinned"]()[2])
    assert "".join(first["source"]) == expected, (
        f"{path.name}: the setup cell is not the course's pinned one; run python .ci/pin_install.py")
    everything = "".join("".join(c["source"]) for c in cells)
    assert len(re.findall(r"git\+https?://", everything)) == 1, "one install source per notebook"
    badges = re.findall(r"https://colab\.research\.google\.com/github/[^)\s\"]+", everything)
    assert badges == [PIN["badge_url"](path)], f"{path.name}: the Colab badge is not pinned"


def test_a_failed_install_says_one_course_specific_line():
    cell = PIN["SETUP_CELL"]
    assert "check=True" not in cell and "capture_output=True" in cell  # no pip box, no traceback
    assert "raise SystemExit(" in cell and "pip install -e ." in cell and "network" in cell
