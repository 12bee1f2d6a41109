"""Student copies of instructor notebooks, by nbgrader's ``generate_assignment`` rules.

``python -m gan_course.grading release assignments/source assignments/release`` writes the
student copies without nbgrader. Every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region
becomes ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` (same indentation; ``YOUR ANSWER
HERE`` in a markdown answer cell), hidden-test regions are deleted, outputs are cleared,
answer and check cells are made undeletable (check and read-only cells also uneditable), and
nbgrader checksums are stored, so the copies also work with nbgrader's ``autograde``. On the
course's assignments the output is byte-for-byte what nbgrader 0.9.6's ``generate_assignment``
writes.
"""

from __future__ import annotations

import copy
import hashlib
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"
BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"


class AssignmentError(ValueError):
    """An instructor notebook breaks nbgrader's rules (the message says which cell and why)."""


def _nbg(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def grade_id(cell: dict) -> str | None:
    """nbgrader: the cell's ``grade_id`` (``None`` for a cell without nbgrader metadata)."""
    return _nbg(cell).get("grade_id")


def is_grade(cell: dict) -> bool:
    """nbgrader: an autograded cell (``"grade": true``)."""
    return bool(_nbg(cell).get("grade", False))


def is_solution(cell: dict) -> bool:
    """nbgrader: a cell whose answer is replaced by a stub (``"solution": true``)."""
    return bool(_nbg(cell).get("solution", False))


def is_locked(cell: dict) -> bool:
    """nbgrader: a read-only cell (grade cells are locked, solution cells never are)."""
    if "nbgrader" not in cell.get("metadata", {}) or is_solution(cell):
        return False
    return is_grade(cell) or bool(_nbg(cell).get("locked", False))


def compute_checksum(cell: dict) -> str:
    """nbgrader's cell checksum (``nbgrader.utils.compute_checksum``), so autograde accepts it."""
    m = hashlib.md5()
    m.update(_source(cell).encode())
    m.update(cell["cell_type"].encode())
    m.update(str(is_grade(cell)).encode())
    m.update(str(is_solution(cell)).encode())
    m.update(str(is_locked(cell)).encode())
    m.update(_nbg(cell)["grade_id"].encode())
    if is_grade(cell):
        m.update(str(float(_nbg(cell)["points"])).encode())
    return m.hexdigest()


def locked_view(cell: dict) -> dict:
    """The cell as the student copy holds it (hidden tests removed), for checksum comparison."""
    cell = copy.deepcopy(cell)
    cell["source"], _ = _replace_region(_source(cell), BEGIN_HIDDEN, END_HIDDEN, None,
                                        str(grade_id(cell)))
    return cell


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _replace_region(source: str, begin: str, end: str, stub: list[str] | None,
                    where: str) -> tuple[str, bool]:
    """Drop the lines from a ``begin`` line to an ``end`` line; put ``stub`` (indented) in place."""
    out: list[str] = []
    inside = found = False
    for line in source.split("\n"):
        if begin in line:
            if inside:
                raise AssignmentError(f"{where}: nested '{begin}'; close the first region with "
                                      f"'### {end}' before opening another.")
            inside = found = True
            indent = re.match(r"\s*", line).group(0)
            out += [indent + s for s in (stub or [])]
        elif end in line:
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise AssignmentError(f"{where}: '{begin}' without a matching '### {end}'.")
    return "\n".join(out), found


def make_student_notebook(nb: dict, name: str = "notebook") -> dict:
    """Return the student copy of an instructor notebook (nbformat dict); ``nb`` is not modified.

    Mirrors nbgrader's ``generate_assignment``: LockCells, ClearSolutions, ClearOutput,
    ClearHiddenTests, ComputeChecksums, with the same metadata checks (solution regions only in
    solution cells, hidden tests only in grade cells, unique grade ids, points on grade cells).
    """
    nb = copy.deepcopy(nb)
    language = nb.get("metadata", {}).get("kernelspec", {}).get("language", "python")
    if language != "python":
        raise AssignmentError(f"{name}: kernel language {language!r}; only python is supported.")
    seen: set[str] = set()
    for i, cell in enumerate(nb["cells"]):
        where = f"{name}, cell {i}"
        meta = cell.setdefault("metadata", {})
        if "nbgrader" in meta:
            gid = _nbg(cell).get("grade_id")
            if not gid:
                raise AssignmentError(f"{where}: nbgrader metadata without a grade_id.")
            if gid in seen:
                raise AssignmentError(f"{where}: grade_id {gid!r} is used twice; ids must be unique.")
            seen.add(gid)
            if is_grade(cell) and "points" not in _nbg(cell):
                raise AssignmentError(f"{where}: grade cell {gid!r} has no 'points'.")
        # LockCells (nbgrader's defaults: lock solution, grade and read-only cells)
        if is_solution(cell):
            meta["deletable"] = False
        elif is_grade(cell) or is_locked(cell):
            meta["deletable"] = False
            meta["editable"] = False
        # ClearSolutions
        stub = (CODE_STUB if cell["cell_type"] == "code" else TEXT_STUB).split("\n")
        src, replaced = _replace_region(_source(cell), BEGIN_SOLUTION, END_SOLUTION, stub, where)
        if replaced and not is_solution(cell):
            raise AssignmentError(f"{where}: solution region in a cell that is not a solution "
                                  f"cell; set nbgrader 'solution': true on it.")
        if is_solution(cell) and not replaced:
            src = "\n".join(stub)
        # ClearHiddenTests
        src, removed = _replace_region(src, BEGIN_HIDDEN, END_HIDDEN, None, where)
        if removed and not is_grade(cell):
            raise AssignmentError(f"{where}: hidden tests in a cell that is not a grade cell.")
        cell["source"] = src
        # ClearOutput
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
            for key in ("collapsed", "scrolled"):
                meta.pop(key, None)
        # ComputeChecksums
        if is_grade(cell) or is_solution(cell) or is_locked(cell):
            meta["nbgrader"]["checksum"] = compute_checksum(cell)
            meta["nbgrader"]["cell_type"] = cell["cell_type"]
    nb.get("metadata", {}).pop("celltoolbar", None)
    return nb


def release(source: str | Path, dest: str | Path, assignments: Sequence[str] | None = None) -> list[Path]:
    """Write student copies of every ``source/<assignment>/`` into ``dest/<assignment>/``.

    Notebooks are converted with :func:`make_student_notebook`; other files are copied as they
    are (nbgrader does the same). Returns the written notebook paths.
    """
    import nbformat

    source, dest = Path(source), Path(dest)
    if not source.is_dir():
        raise FileNotFoundError(f"No instructor sources at {source}: expected "
                                f"{source}/<assignment>/<notebook>.ipynb (nbgrader's layout).")
    folders = sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith("."))
    if assignments:
        missing = sorted(set(assignments) - {p.name for p in folders})
        if missing:
            raise FileNotFoundError(f"No assignment {', '.join(missing)} in {source}; available: "
                                    f"{', '.join(p.name for p in folders)}.")
        folders = [p for p in folders if p.name in assignments]
    written: list[Path] = []
    for folder in folders:
        out_dir = dest / folder.name
        out_dir.mkdir(parents=True, exist_ok=True)
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or ".ipynb_checkpoints" in path.parts:
                continue
            target = out_dir / path.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".ipynb":
                nb = nbformat.read(path, as_version=4)
                student = nbformat.from_dict(make_student_notebook(nb, str(path)))
                nbformat.validate(student)
                nbformat.write(student, target)
                written.append(target)
            else:
                shutil.copy2(path, target)
    return written
