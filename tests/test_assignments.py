"""The assignments and their grader: sources pass, blank student copies fail, a wrong answer
fails with an actionable message, and the committed student copies match the sources.

Every notebook is executed once, in a fresh kernel (nbclient), by a module-scoped fixture that
runs them a few at a time; the tests then read the reports.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from gan_course import grading
from gan_course.grading import (
    AssignmentError,
    CellResult,
    ValidationReport,
    compute_checksum,
    make_student_notebook,
    release,
    validate_notebook,
)

ROOT = Path(__file__).resolve().parent.parent / "assignments"
SOURCE, RELEASE = ROOT / "source", ROOT / "release"
ASSIGNMENTS = sorted(p.name for p in SOURCE.iterdir() if p.is_dir())

# What each part of the course must have an exercise on (check function names).
PART_CHECKS = {
    "a01": ["check_mlp_generator"],
    "a02": ["check_conv_output_size", "check_conv2d_by_hand"],
    "a03": ["check_conv_transpose2d_by_hand"],
    "a04": ["check_generator_block", "check_dcgan_discriminator"],
    "a05": ["check_label_planes", "check_gradient_penalty"],
    "a06": ["check_cycle_consistency_loss", "check_residual_block"],
}


def _notebook(folder: Path, name: str) -> Path:
    return folder / name / f"{name}.ipynb"


def _wrong_answer_copy(tmp: Path) -> Path:
    """The a02 student copy, filled in: exercise 1 forgets the +1, exercise 2 is right."""
    name = "a02_convolution"
    nb = nbformat.read(_notebook(RELEASE, name), as_version=4)
    source = nbformat.read(_notebook(SOURCE, name), as_version=4)
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
                 if grading.is_solution(c)}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "ex1_conv_output_size":
            cell.source = ("def conv_output_size(n, k, s, p):\n"
                           "    return (n + 2 * p - k) // s\n")
        elif gid == "ex2_conv2d_by_hand":  # the instructor's answer, pasted by the student
            cell.source = "\n".join(line for line in solutions[gid].split("\n")
                                     if "SOLUTION" not in line)
    path = tmp / name / f"{name}.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[tuple[str, str], ValidationReport]:
    jobs = {("source", n): _notebook(SOURCE, n) for n in ASSIGNMENTS}
    jobs |= {("release", n): _notebook(RELEASE, n) for n in ASSIGNMENTS}
    jobs[("wrong", "a02_convolution")] = _wrong_answer_copy(tmp_path_factory.mktemp("wrong"))
    # Kernels mostly wait on start-up and imports: a few at a time keeps 2 cores busy.
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = dict(zip(jobs, pool.map(lambda p: validate_notebook(p, timeout=120), jobs.values())))
    return done


def test_one_assignment_per_part_with_the_required_exercises():
    assert [n[:3] for n in ASSIGNMENTS] == list(PART_CHECKS)
    for name in ASSIGNMENTS:
        text = _notebook(SOURCE, name).read_text()
        for check in PART_CHECKS[name[:3]]:
            assert f"{check}(" in text, f"{name} has no exercise graded by {check}"
        assert (RELEASE / name / f"{name}.ipynb").is_file(), f"no student copy of {name}"
    assert (ROOT / "nbgrader_config.py").is_file()


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_notebook_follows_the_course_template(name):
    nb = nbformat.read(_notebook(SOURCE, name), as_version=4)
    head, setup = nb.cells[0], nb.cells[1]
    assert head.cell_type == "markdown" and head.source.startswith(f"# {name.upper()} · ")
    assert f"assignments/release/{name}/{name}.ipynb" in head.source  # Colab badge target
    assert setup.cell_type == "code" and "env = setup(seed=0)" in setup.source
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], "instructor sources are stored without outputs"
            assert "fit(" not in cell.source and ".train(" not in cell.source, "no training"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_instructor_source_passes_every_check(reports, name):
    report = reports[("source", name)]
    assert len(report.cells) >= 2, report.summary()
    assert report.all_passed, report.summary()


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_blank_student_copy_fails_every_exercise(reports, name):
    report = reports[("release", name)]
    assert report.every_exercise_fails, report.summary()
    assert len(report.exercises()) == len(report.cells) >= 2
    for cell in report.cells:
        assert not cell.passed
        assert "is not implemented yet" in cell.message, report.summary()
    assert not report.other_errors, report.summary()


def test_wrong_answer_fails_with_an_actionable_message(reports):
    report = reports[("wrong", "a02_convolution")]
    by_id = {c.grade_id: c for c in report.cells}
    wrong, right = by_id["ex1_conv_output_size_check"], by_id["ex2_conv2d_by_hand_check"]
    assert not wrong.passed
    assert ("conv_output_size(5, 3, 2, 1): expected 3, got 2 — remember the floor and the +1"
            in wrong.message), wrong.message
    assert right.passed, right.message  # a right answer in a student copy earns its points
    assert "✘ ex1_conv_output_size_check (3 pts)" in report.summary()
    assert "4/7 points" in report.summary()


# ------------------------------------------------------------------ release (no kernel needed)

def _normalise(path: Path) -> dict:
    """Notebook JSON without what may legitimately differ between two writes."""
    nb = json.loads(path.read_text())
    nb.get("metadata", {}).get("language_info", {}).pop("version", None)
    for cell in nb["cells"]:
        cell.get("metadata", {}).pop("execution", None)
    return nb


def test_committed_student_copies_are_in_sync(tmp_path):
    written = release(SOURCE, tmp_path)
    assert sorted(p.relative_to(tmp_path) for p in written) == sorted(
        p.relative_to(RELEASE) for p in RELEASE.rglob("*.ipynb")), \
        "assignments/release has other notebooks than the sources"
    for path in written:
        committed = RELEASE / path.relative_to(tmp_path)
        assert _normalise(path) == _normalise(committed), (
            f"{committed} is out of date: run `python -m gan_course.grading release "
            f"assignments/source assignments/release`")


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_student_copy_follows_nbgrader_rules(name):
    src = nbformat.read(_notebook(SOURCE, name), as_version=4)
    student = nbformat.read(_notebook(RELEASE, name), as_version=4)
    assert [c.id for c in src.cells] == [c.id for c in student.cells]
    text = json.dumps(student)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text
    n_hidden = 0
    for s, c in zip(src.cells, student.cells):
        meta = c.metadata.get("nbgrader")
        if grading.is_solution(c):
            assert "# YOUR CODE HERE" in c.source and "raise NotImplementedError()" in c.source
            assert c.metadata["deletable"] is False and "editable" not in c.metadata
        elif grading.is_grade(c):
            assert c.metadata["deletable"] is False and c.metadata["editable"] is False
            assert c.source.strip() in s.source  # only hidden tests were removed
            n_hidden += "BEGIN HIDDEN TESTS" in s.source
        else:
            assert c.source == s.source
        if meta and (grading.is_grade(c) or grading.is_solution(c) or grading.is_locked(c)):
            assert meta["checksum"] == compute_checksum(c)
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None
    assert n_hidden >= 1, "each assignment keeps some tests hidden from students"


def test_checksum_is_nbgrader_s():
    # Reference digests computed with nbgrader 0.9.6 (nbgrader.utils.compute_checksum).
    grade = nbformat.v4.new_code_cell("check(x)\n", id="x")
    grade.metadata["nbgrader"] = {"grade": True, "grade_id": "ex_check", "locked": True,
                                  "points": 3, "schema_version": 3, "solution": False}
    assert compute_checksum(grade) == "5c2a503f1b28d261e212126f39fbe8e9"
    sol = nbformat.v4.new_code_cell(
        "def f():\n    # YOUR CODE HERE\n    raise NotImplementedError()", id="y")
    sol.metadata["nbgrader"] = {"grade": False, "grade_id": "ex", "locked": False,
                                "schema_version": 3, "solution": True}
    assert compute_checksum(sol) == "f7815db2f3f8952a59222bcb52c2d8c2"


def _nb(*cells):
    return nbformat.v4.new_notebook(cells=list(cells), metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


def _cell(src, **nbg):
    c = nbformat.v4.new_code_cell(src)
    if nbg:
        c.metadata["nbgrader"] = {"schema_version": 3, "grade": False, "solution": False,
                                  "locked": False, **nbg}
    return c


def test_stub_keeps_the_indentation_and_the_code_around_it():
    nb = _nb(_cell("def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n"
                   "    ### END SOLUTION\n", grade_id="f", solution=True))
    out = make_student_notebook(nb)
    assert out.cells[0].source == ("def f(x):\n    y = 1\n    # YOUR CODE HERE\n"
                                   "    raise NotImplementedError()\n")
    assert "return x + y" in nb.cells[0].source  # the instructor notebook is left alone


@pytest.mark.parametrize("cells, problem", [
    ([_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")], "not a solution cell"),
    ([_cell("assert 1\n### BEGIN HIDDEN TESTS\nassert 2\n### END HIDDEN TESTS", grade_id="t")],
     "not a grade cell"),
    ([_cell("### BEGIN SOLUTION\nx = 1", grade_id="s", solution=True)], "without a matching"),
    ([_cell("x = 1", grade_id="a", solution=True), _cell("y = 2", grade_id="a", solution=True)],
     "used twice"),
    ([_cell("assert x", grade_id="t", grade=True)], "has no 'points'"),
])
def test_broken_instructor_notebooks_are_refused_with_a_reason(cells, problem):
    with pytest.raises(AssignmentError, match=problem):
        make_student_notebook(_nb(*cells), "demo.ipynb")


def test_release_of_a_missing_folder_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="nbgrader's layout"):
        release(tmp_path / "nope", tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="available: a01_mlp_generator"):
        release(SOURCE, tmp_path / "out", ["a99_missing"])


# ------------------------------------------------------------------ validate's exit status

def _fake_report(*cells: tuple[str, str, bool], errors=()):
    r = ValidationReport(Path("x.ipynb"), other_errors=list(errors))
    r.cells = [CellResult(gid, ex, 1.0, ok, "" if ok else "AssertionError: no") for gid, ex, ok in cells]
    return r


@pytest.mark.parametrize("cells, errors, invert, status", [
    ([("t1", "e1", True), ("t2", "e2", True)], [], False, 0),
    ([("t1", "e1", True), ("t2", "e2", False)], [], False, 1),
    ([("t1", "e1", True)], ["cell 3 raised ValueError: x"], False, 1),
    ([("t1", "e1", False), ("t2", "e2", False)], [], True, 0),
    ([("t1", "e1", False), ("t2", "e2", True)], [], True, 1),  # exercise e2 cannot fail
    ([("t1", "e1", False), ("t1b", "e1", True)], [], True, 0),  # one failing cell per exercise
    ([("t1", "e1", False)], ["cell 2 raised NotImplementedError: "], True, 0),
    ([("t1", "e1", False)], ["cell 1 raised ModuleNotFoundError: torch"], True, 1),
    ([], [], False, 1),
])
def test_validate_exit_status(monkeypatch, capsys, cells, errors, invert, status):
    monkeypatch.setattr(grading, "validate_notebook",
                        lambda path, timeout=60: _fake_report(*cells, errors=errors))
    args = argparse.Namespace(notebooks=["x.ipynb"], invert=invert, timeout=5)
    assert grading._validate_main(args) == status
    out = capsys.readouterr().out
    assert out.startswith("validate x.ipynb")


def test_cli_release_writes_the_copies(tmp_path, capsys):
    assert grading.main(["release", str(SOURCE), str(tmp_path), "--assignment",
                         "a02_convolution"]) == 0
    assert (tmp_path / "a02_convolution" / "a02_convolution.ipynb").is_file()
    assert "1 student notebook(s)" in capsys.readouterr().out
    assert grading.main(["release", str(tmp_path / "missing"), str(tmp_path)]) == 2


def test_report_of_an_executed_notebook_groups_cells_and_flags_broken_answers():
    nb = _nb(_cell("import x", grade_id="setup", locked=True),
             _cell("def f(:", grade_id="ex1", solution=True),
             _cell("check(f)", grade_id="ex1_check", grade=True, points=2, locked=True),
             _cell("g = 1", grade_id="ex2", solution=True),
             _cell("check(g)", grade_id="ex2_check", grade=True, points=1, locked=True))
    nb.cells[1].outputs = [nbformat.v4.new_output("error", ename="SyntaxError", evalue="bad",
                                                  traceback=[])]
    nb.cells[2].outputs = [nbformat.v4.new_output("error", ename="NameError", evalue="f",
                                                  traceback=[])]
    nb.cells[4].outputs = [nbformat.v4.new_output("stream", name="stdout", text="✔ g: 1/1 cases")]
    report = grading.report_from_executed(nb, "demo.ipynb")
    assert [(c.grade_id, c.exercise, c.passed) for c in report.cells] == [
        ("ex1_check", "ex1", False), ("ex2_check", "ex2", True)]
    assert report.answer_errors == ["cell 1 (ex1) raised SyntaxError: bad"]
    assert "1/2 graded cells pass, 1/3 points" in report.summary()
    assert not report.all_passed and not report.every_exercise_fails
