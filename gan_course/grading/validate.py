"""Grade a notebook without nbgrader: check its locked cells, execute it, report every graded cell.

``python -m gan_course.grading validate NOTEBOOK [--release PATH] [--invert]`` does three things.

1. **Locked cells.** The notebook is compared with its release copy (found next to the course's
   ``assignments/release/`` folder, or given with ``--release``): every check cell and read-only
   cell of the release copy must be present with the same nbgrader checksum (nbgrader's own
   digest of source, type, flags, id and points). A deleted or edited check cell fails, and the
   report names it; so does an edited read-only cell. Hidden tests are ignored in the comparison,
   so an instructor source compares equal to its release copy.
2. **Execution** in a fresh kernel (nbclient; a time limit per cell); a check cell passes when it
   runs without an error and without output on stderr (nbgrader's rule).
3. **Report**: one line per graded cell (✔ / ✘ with the message / ✎ for a written answer that an
   instructor grades by hand), then the autograded points. Exit status 0 when every autograded
   cell passes and the locked cells are intact; with ``--invert``, 0 when every exercise of a
   blank student copy fails (so a blank copy cannot earn points).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .release import (
    TEXT_STUB,
    compute_checksum,
    grade_id,
    is_grade,
    is_locked,
    is_solution,
    locked_view,
)


@dataclass
class CellResult:
    """Outcome of one graded cell: an autograded check, or a written answer graded by hand."""

    grade_id: str
    exercise: str
    points: float
    passed: bool
    message: str = ""
    manual: bool = False
    """A written answer (nbgrader solution + grade cell): an instructor scores it by hand."""


@dataclass
class ValidationReport:
    """All graded cells of one executed notebook, plus tampering and errors in other cells."""

    path: Path
    cells: list[CellResult] = field(default_factory=list)
    other_errors: list[str] = field(default_factory=list)
    answer_errors: list[str] = field(default_factory=list)
    """Errors raised by answer (solution) cells, e.g. a syntax error in the student's code."""
    tampered: list[str] = field(default_factory=list)
    """Locked cells that were deleted or edited (or why they could not be checked)."""
    reference: Path | None = None

    @property
    def autograded(self) -> list[CellResult]:
        """The check cells (written answers excluded)."""
        return [c for c in self.cells if not c.manual]

    @property
    def all_passed(self) -> bool:
        """True when every check passed, no other cell raised and the locked cells are intact."""
        auto = self.autograded
        return (bool(auto) and all(c.passed for c in auto) and not self.other_errors
                and not self.tampered)

    def exercises(self) -> dict[str, list[CellResult]]:
        """Check cells grouped by exercise (the answer cell they follow)."""
        groups: dict[str, list[CellResult]] = {}
        for c in self.autograded:
            groups.setdefault(c.exercise, []).append(c)
        return groups

    @property
    def every_exercise_fails(self) -> bool:
        """True when each exercise has at least one failing check (a blank copy scores 0)."""
        return bool(self.autograded) and all(any(not c.passed for c in group)
                                             for group in self.exercises().values())

    def points(self) -> tuple[float, float, float]:
        """(autograded points earned, autograded points possible, points graded by hand)."""
        auto = self.autograded
        return (sum(c.points for c in auto if c.passed), sum(c.points for c in auto),
                sum(c.points for c in self.cells if c.manual))

    def summary(self) -> str:
        """Human-readable report, one line per graded cell."""
        lines = [f"validate {self.path}"]
        for c in self.cells:
            if c.manual:
                lines.append(f"  ✎ {c.grade_id} ({c.points:g} pts): graded by hand — {c.message}")
                continue
            text = f"  {'✔' if c.passed else '✘'} {c.grade_id} ({c.points:g} pts)"
            if not c.passed:
                text += ": " + c.message.strip().replace("\n", "\n      ")
            lines.append(text)
        lines += [f"  ✘ {t}" for t in self.tampered]
        lines += [f"  ! {e}" for e in self.other_errors]
        lines += [f"  ! answer {e}" for e in self.answer_errors]
        earned, total, manual = self.points()
        n_ok = sum(c.passed for c in self.autograded)
        line = (f"  {n_ok}/{len(self.autograded)} graded cells pass, {earned:g}/{total:g} points")
        if manual:
            line += f" (+ {manual:g} points graded by hand)"
        lines.append(line)
        return "\n".join(lines)

    def exit_status(self, invert: bool = False) -> tuple[int, list[str]]:
        """The command's exit status and the lines that explain a failure.

        Normal: 0 when :attr:`all_passed`. Inverted (blank student copies): 0 when every
        exercise fails and nothing else is broken (a ``NotImplementedError`` from an unanswered
        cell is expected and allowed).
        """
        if not self.autograded:
            return 1, ["✘ no graded cells (nbgrader 'grade': true) found"]
        if not invert:
            return (0 if self.all_passed else 1), []
        problems = [f"✘ exercise {ex} passes without an answer: its checks cannot fail"
                    for ex, cells in self.exercises().items() if all(c.passed for c in cells)]
        problems += [f"✘ {e}" for e in self.other_errors if "NotImplementedError" not in e]
        problems += [f"✘ {t}" for t in self.tampered]
        if problems:
            return 1, problems
        return 0, ["✔ every exercise fails while unanswered (inverted validation)"]


# ----------------------------------------------------------------------------------------------
# Locked cells: compare with the release copy
# ----------------------------------------------------------------------------------------------

def find_release_copy(path: str | Path, release: str | Path | None = None) -> Path | None:
    """The release (student) copy to compare ``path`` with, or ``None`` if there is none.

    ``release`` may be the release notebook itself or a release folder (``release/<name>/
    <name>.ipynb``). Without it, ``assignments/release/`` and ``release/`` folders next to the
    notebook, above it and above the working directory are searched. The notebook's file name
    decides first; a renamed submission is matched by its grade ids.
    """
    import nbformat

    path = Path(path)
    if release is not None and Path(release).is_file():
        return Path(release)
    roots = [Path(release)] if release is not None else _release_roots(path)
    for root in roots:
        for candidate in (root / path.stem / f"{path.stem}.ipynb", root / f"{path.stem}.ipynb"):
            if candidate.is_file():
                return candidate
    ids = _grade_ids(nbformat.read(path, as_version=4)) if path.is_file() else set()
    scored = []
    for root in roots:
        for candidate in sorted(root.glob("*/*.ipynb")):
            common = len(ids & _grade_ids(nbformat.read(candidate, as_version=4)) - {"setup"})
            if common:
                scored.append((common, candidate))
    scored.sort(key=lambda s: -s[0])
    if scored and (len(scored) == 1 or scored[0][0] > scored[1][0]):
        return scored[0][1]
    return None


def _release_roots(path: Path) -> list[Path]:
    roots: list[Path] = []
    for base in [path.resolve().parent, *path.resolve().parents, Path.cwd(), *Path.cwd().parents]:
        for root in (base / "assignments" / "release", base / "release"):
            if root.is_dir() and root not in roots:
                roots.append(root)
    return roots


def _grade_ids(nb: dict) -> set[str]:
    return {grade_id(c) for c in nb["cells"] if grade_id(c)}


def locked_cell_problems(nb: dict, reference: dict | None) -> list[tuple[str, str]]:
    """Deleted or edited locked cells of ``nb``: ``(grade_id, message)`` per problem.

    With a ``reference`` (the release copy), every check and read-only cell of it must be in
    ``nb`` with the same checksum, and every answer cell must still be there. Without one, each
    cell is compared with the checksum stored in its own metadata (which catches edits, not
    deletions).
    """
    problems: list[tuple[str, str]] = []
    by_id: dict[str, list[dict]] = {}
    for cell in nb["cells"]:
        if grade_id(cell):
            by_id.setdefault(grade_id(cell), []).append(cell)
    for gid, cells in by_id.items():
        if len(cells) > 1:
            problems.append((gid, f"cell '{gid}' appears {len(cells)} times: keep one, as "
                                  f"released."))
    if reference is None:
        for cell in nb["cells"]:
            stored = cell.get("metadata", {}).get("nbgrader", {}).get("checksum")
            if stored and (is_grade(cell) or is_locked(cell)) and not is_solution(cell) and \
                    compute_checksum(locked_view(cell)) != stored:
                problems.append((grade_id(cell), f"{_kind(cell)} '{grade_id(cell)}' was edited: "
                                 f"it is locked; restore it from the release copy."))
        return problems
    for ref in reference["cells"]:
        gid = grade_id(ref)
        if not gid or not (is_grade(ref) or is_locked(ref) or is_solution(ref)):
            continue
        mine = by_id.get(gid)
        if not mine:
            problems.append((gid, f"{_kind(ref)} '{gid}' was deleted: it is part of the "
                                  f"assignment; copy it back from the release copy."))
            continue
        if is_solution(ref):
            continue  # answer cells are meant to change
        want = ref.get("metadata", {}).get("nbgrader", {}).get("checksum") or compute_checksum(
            locked_view(ref))
        if compute_checksum(locked_view(mine[0])) != want:
            problems.append((gid, f"{_kind(ref)} '{gid}' differs from the release copy: it was "
                                  f"edited (or the release copy is out of date); restore it."))
    return problems


def _kind(cell: dict) -> str:
    if is_grade(cell) and is_solution(cell):
        return "written-answer cell"
    if is_grade(cell):
        return "check cell"
    if is_solution(cell):
        return "answer cell"
    return "read-only cell"


# ----------------------------------------------------------------------------------------------
# Execution and the report
# ----------------------------------------------------------------------------------------------

def _error_text(cell: dict) -> tuple[str, str] | None:
    """(ename, message) of the first error output of an executed cell, else None."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return out.get("ename", "Error"), f"{out.get('ename')}: {out.get('evalue')}"
    return None


def execute_notebook(path: str | Path, timeout: int = 60, kernel_name: str | None = None) -> dict:
    """Run every cell of a notebook in a fresh kernel (errors are recorded, not raised)."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No notebook at {path}.")
    nb = nbformat.read(path, as_version=4)
    kwargs = {"kernel_name": kernel_name} if kernel_name else {}
    # "immediate" shutdown: the kernel has nothing to save, and a graceful one costs seconds.
    client = NotebookClient(nb, timeout=timeout, allow_errors=True, shutdown_kernel="immediate",
                            resources={"metadata": {"path": str(path.parent.resolve())}}, **kwargs)
    client.execute()
    return nb


def report_from_executed(nb: dict, path: str | Path, reference: dict | None = None,
                         reference_path: Path | None = None,
                         check_locked: bool = True) -> ValidationReport:
    """Build the :class:`ValidationReport` of an already executed notebook.

    ``reference``: the release copy (see :func:`locked_cell_problems`); with
    ``check_locked=False`` the locked cells are not compared at all (unit tests of the report).
    """
    report = ValidationReport(Path(path), reference=reference_path)
    problems = locked_cell_problems(nb, reference) if check_locked else []
    flagged = dict(problems)
    exercise = None
    for i, cell in enumerate(nb["cells"]):
        err = _error_text(cell) if cell["cell_type"] == "code" else None
        gid = grade_id(cell)
        points = float(cell.get("metadata", {}).get("nbgrader", {}).get("points", 0) or 0)
        if is_solution(cell) and is_grade(cell):  # a written answer, graded by hand
            answered = cell.get("source", "").strip() not in ("", TEXT_STUB)
            report.cells.append(CellResult(gid, gid, points, passed=False, manual=True,
                                           message="answered" if answered else "not answered"))
            continue
        if is_solution(cell):
            exercise = gid
        if is_grade(cell):
            # nbgrader also treats output on stderr as a failure of a test cell
            stderr = [o for o in cell.get("outputs", [])
                      if o.get("output_type") == "stream" and o.get("name") == "stderr"]
            message = err[1] if err else "".join(o.get("text", "") for o in stderr)
            ok = not err and not stderr
            if gid in flagged:
                ok, message = False, flagged.pop(gid)
            report.cells.append(CellResult(gid, exercise or gid, points, passed=ok,
                                           message=message))
        elif err and not is_solution(cell):
            report.other_errors.append(f"cell {i} raised {err[1]}")
        elif err and err[0] != "NotImplementedError":  # a blank answer is not worth a warning
            report.answer_errors.append(f"cell {i} ({gid}) raised {err[1]}")
    if reference is not None:  # deleted check cells still count, as failed, in their exercise
        exercise = None
        for ref in reference["cells"]:
            gid = grade_id(ref)
            if is_solution(ref) and not is_grade(ref):
                exercise = gid
            if is_grade(ref) and gid in flagged and "was deleted" in flagged[gid]:
                points = float(ref["metadata"]["nbgrader"].get("points", 0) or 0)
                manual = is_solution(ref)
                report.cells.append(CellResult(gid, gid if manual else (exercise or gid), points,
                                               passed=False, message=flagged.pop(gid),
                                               manual=manual))
    report.tampered += list(flagged.values())
    if check_locked and reference is None:
        report.tampered.append("no release copy found, so deleted check cells cannot be "
                               "detected: pass --release assignments/release")
    return report


def validate_notebook(path: str | Path, timeout: int = 60,
                      release: str | Path | None = None) -> ValidationReport:
    """Check the locked cells of ``path`` against its release copy, execute it, and report."""
    import nbformat

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No notebook at {path}.")
    ref_path = find_release_copy(path, release)
    if release is not None and ref_path is None:
        raise FileNotFoundError(f"No release copy of {path.name} in {release}: expected "
                                f"{release}/{path.stem}/{path.stem}.ipynb.")
    reference = nbformat.read(ref_path, as_version=4) if ref_path else None
    return report_from_executed(execute_notebook(path, timeout), path, reference, ref_path)
