"""Pin every notebook's and assignment's install line and Colab badge to one source (release step).

The repository URL lives in one place, ``[project.urls] Repository`` of ``pyproject.toml``, and the
git ref that Colab users install in ``[tool.gan-course] install-ref``. This script writes both into
the uniform setup cell (:data:`SETUP_CELL`) and the "Open in Colab" badge of every notebook under
``notebooks/`` and ``assignments/source/``; the student copies in ``assignments/release/`` are
then regenerated from the sources. ``tests/test_install_source.py`` fails when a notebook differs.

Release process::

    python .ci/pin_install.py --ref v0.2.0     # sets install-ref, rewrites notebooks, releases
    git commit -am "Release v0.2.0" && git tag v0.2.0 && git push --tags
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]

SETUP_CELL = '''# NBVAL_IGNORE_OUTPUT
# Setup: install the course package if it is missing (Colab), then seed, device, profile.
import importlib.util, subprocess, sys
COURSE = "{install}"
if importlib.util.find_spec("gan_course") is None:
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", COURSE],
                         capture_output=True, text=True)
    if pip.returncode:
        raise SystemExit(f"Could not install {{COURSE}} ({{pip.stderr.strip().splitlines()[-1:]}}). "
                         "Fix: connect to the network (Colab: Runtime > Reconnect), or run "
                         "`pip install -e .` in a clone of the repository and restart the kernel.")
from gan_course.runtime import setup
env = setup(seed=0)'''
"""The first code cell of every notebook and assignment, with ``{install}`` filled in."""

_BADGE = re.compile(r"https://colab\.research\.google\.com/github/[^)\s\"]+")


def pinned() -> tuple[str, str, str]:
    """``(repository URL, install ref, pip requirement)`` from ``pyproject.toml``."""
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    url = meta["project"]["urls"]["Repository"].rstrip("/")
    ref = meta["tool"]["gan-course"]["install-ref"]
    return url, ref, f"gan-course @ git+{url}@{ref}"


def badge_url(path: Path) -> str:
    """The Colab link of ``path`` (an assignment source links to its student copy)."""
    url, ref, _ = pinned()
    rel = path.resolve().relative_to(REPO).as_posix()
    rel = rel.replace("assignments/source/", "assignments/release/")
    return f"https://colab.research.google.com/github/{url.split('github.com/')[1]}/blob/{ref}/{rel}"


def notebooks() -> list[Path]:
    """The notebooks that carry the setup cell (student copies are generated, not edited)."""
    return sorted(REPO.glob("notebooks/*.ipynb")) + sorted(REPO.glob("assignments/source/*/*.ipynb"))


def pin(path: Path) -> bool:
    """Rewrite ``path``'s setup cell and badge; returns whether anything changed."""
    nb = json.loads(path.read_text())
    before = json.dumps(nb)
    first = next(c for c in nb["cells"] if c["cell_type"] == "code")
    first["source"] = SETUP_CELL.format(install=pinned()[2]).splitlines(keepends=True)
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            text = "".join(cell["source"])
            cell["source"] = _BADGE.sub(badge_url(path), text).splitlines(keepends=True)
    if json.dumps(nb) == before:
        return False
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return True


def _set_ref(ref: str) -> None:
    pyproject = REPO / "pyproject.toml"
    text = pyproject.read_text()
    new = re.sub(r'(?m)^install-ref = ".*"$', f'install-ref = "{ref}"', text)
    if new == text and f'install-ref = "{ref}"' not in text:
        sys.exit("pyproject.toml has no `install-ref = \"...\"` line under [tool.gan-course].")
    pyproject.write_text(new)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--ref REF`` sets the install ref first; then every notebook is pinned."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", help="git tag or commit that Colab installs (default: keep)")
    args = parser.parse_args(argv)
    if args.ref:
        _set_ref(args.ref)
    changed = [p for p in notebooks() if pin(p)]
    for p in changed:
        print(f"pinned {p.relative_to(REPO)}")
    subprocess.run([sys.executable, "-m", "gan_course.grading", "release", "assignments/source",
                    "assignments/release"], cwd=REPO, check=True)
    print(f"{len(changed)} notebook(s) changed; install source: {pinned()[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
