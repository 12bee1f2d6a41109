"""The assignments and their grader, for every assignment:

- the instructor source passes every check;
- the blank student copy fails every exercise;
- a student copy with a plausible wrong answer gets the right message, an answer imported from
  the ``gan_course`` package fails, and the other (right) answers earn their points;
- a copy whose check cells were deleted or edited fails under ``validate``, cell by cell;
- the committed student copies are what ``release`` makes of the sources.

Each notebook variant is executed once, in a fresh kernel (nbclient), by a module-scoped
fixture that runs a few at a time; the tests then read the reports.
"""

from __future__ import annotations

import argparse
import json
import re
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
from gan_course.grading import cli as grading_cli

ROOT = Path(__file__).resolve().parent.parent / "assignments"
SOURCE, RELEASE = ROOT / "source", ROOT / "release"
ASSIGNMENTS = sorted(p.name for p in SOURCE.iterdir() if p.is_dir())
PACKAGE = "answer taken from the gan_course package"

# What each assignment must have an exercise on (check function names).
REQUIRED_CHECKS = {
    "a01": ["check_mlp_discriminator", "check_mlp_generator", "check_discriminator_loss"],
    "a02": ["check_conv_output_size", "check_conv2d_by_hand"],
    "a03": ["check_conv_transpose_output_size", "check_conv_transpose2d_by_hand"],
    "a04": ["check_generator_block", "check_dcgan_discriminator"],
    "a05": ["check_label_planes", "check_gradient_penalty"],
    "a06": ["check_cycle_consistency_loss", "check_residual_block"],
    "a07": ["check_mode_coverage", "check_disc_input", "check_collapse_fixed"],
    "a08": ["check_critic_step", "check_generator_step", "check_wgan_gp_tuned"],
    "a09": ["check_stack_output_size", "check_receptive_field", "check_input_window",
            "check_patch_discriminator"],
}

# A filled-in student copy per assignment: answer cell -> (source, fragment its check must
# print). The fragment is the expected failure message, or None for a right answer (the
# instructor's, pasted). Every assignment has a plausible wrong answer and an imported one.
STUDENT = {
    "a01_mlp_generator": {
        "ex1_build_discriminator": ("""
import torch
from torch import nn

def build_discriminator():  # the notebook's sizes, not the exercise's
    return nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Dropout(0.3),
                         nn.Linear(1024, 512), nn.ReLU(), nn.Dropout(0.3),
                         nn.Linear(512, 256), nn.ReLU(), nn.Dropout(0.3), nn.Linear(256, 1))
""", "layer 1: expected Linear(784, 1000), got Linear(784, 1024)"),
        "ex2_build_generator": ("""
from gan_course.models import MLPGenerator

def build_generator():
    return MLPGenerator(hidden=(200, 500, 1000))
""", PACKAGE),
    },
    "a02_convolution": {
        "ex1_conv_output_size": ("""
def conv_output_size(n, k, s, p):
    return (n + 2 * p - k) // s
""", "conv_output_size(5, 3, 2, 1): expected 3, got 2 — remember the floor and the +1"),
        "ex2_conv2d_by_hand": ("""
import numpy as np
from gan_course.grading.checks.conv import _ref_conv2d

def conv2d_by_hand(image, kernel, stride=1, padding=0):
    return _ref_conv2d(image, kernel, stride, padding)
""", PACKAGE),
    },
    "a03_transposed_conv": {
        "ex1_conv_transpose_output_size": ("""
def conv_transpose_output_size(n, k, s, p):
    return (n + 2 * p - k) // s + 1
""", "that is the (forward) convolution formula"),
        "ex2_conv_transpose2d_by_hand": ("""
import numpy as np
import gan_course.grading.checks.conv as reference

def conv_transpose2d_by_hand(x, kernel, stride=1, padding=0):
    return reference._ref_conv_transpose2d(x, kernel, stride, padding)
""", PACKAGE),
    },
    "a04_dcgan_block": {
        "ex1_generator_block": ("""
import torch
from torch import nn

def generator_block(in_channels, out_channels):
    return nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.LeakyReLU(0.2))
""", "ConvTranspose2d → BatchNorm2d → ReLU"),
        "ex2_build_discriminator": ("""
from gan_course.models import DCGANDiscriminator

def build_discriminator():
    return DCGANDiscriminator()
""", PACKAGE),
    },
    "a05_cgan_wgan_gp": {
        "ex1_label_planes": ("""
import torch
import torch.nn.functional as F

def label_planes(labels, num_classes, size):
    return F.one_hot(labels, num_classes).float()[:, None, None, :].expand(-1, size, size, -1)
""", "channels-first"),
        "ex2_gradient_penalty": ("""
from gan_course.losses import gradient_penalty as package_penalty

def gradient_penalty(critic, real, fake, alpha=None):
    return package_penalty(critic, real, fake)
""", PACKAGE),
    },
    "a06_cyclegan": {
        "ex1_cycle_consistency_loss": ("""
import torch
import torch.nn.functional as F
from torch import nn

def cycle_consistency_loss(real_a, cycled_a, real_b, cycled_b, lambda_cycle=10.0):
    return lambda_cycle * (F.mse_loss(cycled_a, real_a) + F.mse_loss(cycled_b, real_b))
""", "squared error (MSE)"),
        "ex2_residual_block": ("""
from gan_course.models import ResidualBlock
""", PACKAGE),
    },
    "a07_mode_collapse": {
        "ex1_mode_coverage": ("""
from gan_course.grading.checks.points import coverage

def mode_coverage(samples, centres, std):
    return coverage(samples, centres, std)
""", PACKAGE),
        "ex3_disc_input": ("""
def disc_input(points):
    return points / points.norm(dim=1, keepdim=True)  # still one point at a time
""", "each point is judged on its own"),
    },
    "a08_wgan_gp_points": {
        "ex1_critic_step": ("""
def critic_step(G, critic, opt_c, real, z, alpha, lambda_gp):
    with torch.no_grad():
        fake = G(z)
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    grad = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)[0]
    loss = critic(real).mean() - critic(fake).mean() + lambda_gp * ((grad.norm(dim=1) - 1) ** 2).mean()
    opt_c.zero_grad()
    loss.backward()
    opt_c.step()
""", "sign flipped"),
        "ex2_generator_step": ("""
from gan_course.losses import g_loss_wasserstein

def generator_step(G, critic, opt_g, z):
    loss = g_loss_wasserstein(critic(G(z)))
    opt_g.zero_grad()
    loss.backward()
    opt_g.step()
""", PACKAGE),
    },
    "a09_patchgan": {
        "ex1_stack_output_size": ("""
def stack_output_size(n, layers):
    k, s, p = layers[0]
    return (n + 2 * p - k) // s + 1
""", "that is the first layer only"),
        "ex2_receptive_field": ("""
from gan_course.grading.checks import patchgan

receptive_field = patchgan._ref_receptive_field
""", PACKAGE),
        "ex3_input_window": ("""
def input_window(i, layers):
    first, last = i, i
    for k, s, p in reversed(layers):
        first, last = first * s, last * s + k - 1
    return first, last
""", "padding shifts the window"),
    },
}

# Check cells that fail although their own answer is right, because they also use an earlier
# answer (a08 tunes with the student's own steps): check cell -> expected message.
FAILS_BECAUSE_OF_AN_EARLIER_ANSWER = {
    "a08_wgan_gp_points": {"ex3_hparams_check": "generator_step: " + PACKAGE}}


def _notebook(folder: Path, name: str) -> Path:
    return folder / name / f"{name}.ipynb"


def _gid(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _instructor_answers(name: str) -> dict[str, str]:
    """Answer cells of the source, solution markers removed (as a student who got it right)."""
    source = nbformat.read(_notebook(SOURCE, name), as_version=4)
    return {_gid(c): "\n".join(line for line in c.source.split("\n") if "SOLUTION" not in line)
            for c in source.cells if grading.is_solution(c)}


def _filled_copy(name: str, tmp: Path, answers: dict[str, str]) -> Path:
    """The student copy of ``name`` with ``answers`` (grade id -> source), the rest right."""
    nb = nbformat.read(_notebook(RELEASE, name), as_version=4)
    right = _instructor_answers(name)
    for cell in nb.cells:
        if grading.is_solution(cell):
            cell.source = answers.get(_gid(cell), right[_gid(cell)])
    path = tmp / name / f"{name}.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    return path


def _check_cells(nb) -> list:
    return [c for c in nb.cells if grading.is_grade(c) and not grading.is_solution(c)]


def _tampered_copy(name: str, tmp: Path) -> Path:
    """Right answers everywhere, the first check cell deleted and the last one edited so that it
    checks nothing (it then runs without error, as a student's edit would)."""
    path = _filled_copy(name, tmp, {})
    nb = nbformat.read(path, as_version=4)
    checks = _check_cells(nb)
    nb.cells.remove(checks[0])
    checks[-1].source = "print('✔ all good')  # the check was here"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[tuple[str, str], ValidationReport]:
    jobs = {}
    for n in ASSIGNMENTS:
        jobs[("source", n)] = _notebook(SOURCE, n)
        jobs[("release", n)] = _notebook(RELEASE, n)
        answers = {gid: src for gid, (src, _) in STUDENT[n].items()}
        jobs[("student", n)] = _filled_copy(n, tmp_path_factory.mktemp("student"), answers)
        jobs[("tampered", n)] = _tampered_copy(n, tmp_path_factory.mktemp("tampered"))
    # Kernels mostly wait on start-up and imports: a few at a time keeps 2 cores busy.
    with ThreadPoolExecutor(max_workers=3) as pool:
        done = pool.map(lambda p: validate_notebook(p, timeout=300, release=RELEASE), jobs.values())
        return dict(zip(jobs, done))


def test_every_assignment_has_its_exercises_and_a_student_copy():
    assert [n[:3] for n in ASSIGNMENTS] == list(REQUIRED_CHECKS)
    assert sorted(STUDENT) == ASSIGNMENTS
    for name in ASSIGNMENTS:
        text = _notebook(SOURCE, name).read_text()
        for check in REQUIRED_CHECKS[name[:3]]:
            assert f"{check}(" in text, f"{name} has no exercise graded by {check}"
        assert _notebook(RELEASE, name).is_file(), f"no student copy of {name}"
    assert (ROOT / "nbgrader_config.py").is_file()


def test_new_assignments_have_written_answers_with_a_rubric():
    for name in ("a07_mode_collapse", "a08_wgan_gp_points", "a09_patchgan"):
        nb = nbformat.read(_notebook(SOURCE, name), as_version=4)
        written = [c for c in nb.cells if grading.is_grade(c) and grading.is_solution(c)]
        assert written, f"{name} has no manually graded answer"
        for cell in written:
            assert cell.cell_type == "markdown" and cell.metadata["nbgrader"]["points"] > 0
            assert "**Rubric" in cell.source and "**Model answer" in cell.source


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
            assert "fit(" not in cell.source and "gan_course.training" not in cell.source
        # a notebook must not tell students which package function holds the answer
        for ref in re.findall(r"gan_course\.[\w.]+", cell.source):
            assert ref.startswith(("gan_course.grading", "gan_course.runtime")), (name, ref)


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_instructor_source_passes_every_check(reports, name):
    report = reports[("source", name)]
    assert len(report.autograded) >= 2, report.summary()
    assert report.all_passed, report.summary()
    assert report.reference == _notebook(RELEASE, name)
    assert all(c.message == "answered" for c in report.cells if c.manual), report.summary()


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_blank_student_copy_fails_every_exercise(reports, name):
    report = reports[("release", name)]
    assert report.every_exercise_fails, report.summary()
    assert report.exit_status(invert=True)[0] == 0, report.exit_status(invert=True)
    assert report.points()[0] == 0, report.summary()
    for cell in report.autograded:
        assert not cell.passed
        assert "is not implemented yet" in cell.message, report.summary()
    assert all(c.message == "not answered" for c in report.cells if c.manual)
    assert not report.tampered, report.summary()


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_wrong_and_imported_answers_fail_with_the_right_message(reports, name):
    report = reports[("student", name)]
    by_exercise = report.exercises()
    later = FAILS_BECAUSE_OF_AN_EARLIER_ANSWER.get(name, {})
    for gid, (_, fragment) in STUDENT[name].items():
        cells = by_exercise[gid]
        assert any(not c.passed for c in cells), f"{gid} passed:\n{report.summary()}"
        assert any(fragment in c.message for c in cells), f"{fragment!r}:\n{report.summary()}"
    wrong = set(STUDENT[name])
    for exercise, cells in by_exercise.items():
        if exercise not in wrong:
            for c in cells:  # a right answer in a student copy earns its points
                assert c.passed == (c.grade_id not in later), report.summary()
                if c.grade_id in later:
                    assert later[c.grade_id] in c.message, report.summary()
    assert not report.tampered and not report.all_passed
    assert report.exit_status()[0] == 1


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_deleted_and_edited_check_cells_fail_under_validate(reports, name):
    report = reports[("tampered", name)]
    nb = nbformat.read(_notebook(RELEASE, name), as_version=4)
    checks = _check_cells(nb)
    deleted, edited = _gid(checks[0]), _gid(checks[-1])
    by_id = {c.grade_id: c for c in report.cells}
    assert not by_id[deleted].passed and "was deleted" in by_id[deleted].message, report.summary()
    assert by_id[deleted].points == checks[0].metadata["nbgrader"]["points"]
    assert not by_id[edited].passed and "differs from the release copy" in by_id[edited].message
    for c in report.autograded:  # every other check still passes with the right answers
        assert c.passed == (c.grade_id not in (deleted, edited)), report.summary()
    earned, total, _ = report.points()
    assert total == sum(c.metadata["nbgrader"]["points"] for c in checks)
    assert earned == total - by_id[deleted].points - by_id[edited].points
    assert report.exit_status()[0] == 1
    assert f"✘ {deleted} (" in report.summary() and f"✘ {edited} (" in report.summary()


# ------------------------------------------------------------------ locked cells (no kernel)

def test_locked_cells_of_a_source_match_its_release_copy():
    for name in ASSIGNMENTS:
        source = nbformat.read(_notebook(SOURCE, name), as_version=4)
        student = nbformat.read(_notebook(RELEASE, name), as_version=4)
        assert grading.locked_cell_problems(source, student) == [], name


def test_edits_are_caught_even_without_a_release_copy_and_duplicates_are_refused():
    nb = nbformat.read(_notebook(RELEASE, "a02_convolution"), as_version=4)
    assert grading.locked_cell_problems(nb, None) == []
    setup = next(c for c in nb.cells if _gid(c) == "setup")
    setup.source += "\nimport os"
    check = _check_cells(nb)[0]
    check.source = check.source.replace("check_conv_output_size(conv_output_size)", "pass")
    problems = dict(grading.locked_cell_problems(nb, None))
    assert "read-only cell 'setup' was edited" in problems["setup"]
    assert "check cell" in problems[_gid(check)]
    nb.cells.append(nbformat.from_dict(json.loads(json.dumps(check))))
    reference = nbformat.read(_notebook(RELEASE, "a02_convolution"), as_version=4)
    problems = dict(grading.locked_cell_problems(nb, reference))
    assert "appears 2 times" in problems[_gid(check)] or "differs" in problems[_gid(check)]
    assert "differs from the release copy" in problems["setup"]


def test_a_student_who_rewrites_the_checksum_is_still_caught():
    nb = nbformat.read(_notebook(RELEASE, "a02_convolution"), as_version=4)
    check = _check_cells(nb)[0]
    check.source = "pass"
    check.metadata["nbgrader"]["checksum"] = compute_checksum(check)
    assert grading.locked_cell_problems(nb, None) == []  # the notebook alone cannot tell
    reference = nbformat.read(_notebook(RELEASE, "a02_convolution"), as_version=4)
    assert "differs from the release copy" in dict(grading.locked_cell_problems(nb, reference))[
        _gid(check)]


def test_release_copy_is_found_for_renamed_submissions(tmp_path, monkeypatch):
    nb = nbformat.read(_notebook(RELEASE, "a05_cgan_wgan_gp"), as_version=4)
    path = tmp_path / "alice_submission.ipynb"
    nbformat.write(nb, path)
    assert grading.find_release_copy(path, RELEASE) == _notebook(RELEASE, "a05_cgan_wgan_gp")
    assert grading.find_release_copy(_notebook(SOURCE, "a02_convolution")) == _notebook(
        RELEASE, "a02_convolution")
    monkeypatch.chdir(tmp_path)  # outside the course repository there is nothing to compare with
    assert grading.find_release_copy(path) is None


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
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
                   "Model answer", "Rubric"):
        assert marker not in text
    for s, c in zip(src.cells, student.cells):
        meta = c.metadata.get("nbgrader")
        if grading.is_solution(c):
            if c.cell_type == "code":
                assert "# YOUR CODE HERE" in c.source and "raise NotImplementedError()" in c.source
            else:
                assert c.source == "YOUR ANSWER HERE"
            assert c.metadata["deletable"] is False and "editable" not in c.metadata
        elif grading.is_grade(c) or grading.is_locked(c):
            assert c.metadata["deletable"] is False and c.metadata["editable"] is False
            assert c.source.strip() in s.source  # only hidden tests were removed
        else:
            assert c.source == s.source
        if meta:
            assert meta["checksum"] == compute_checksum(c)
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None


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


def test_a_written_answer_becomes_the_text_stub_and_stays_deletable_false():
    cell = nbformat.v4.new_markdown_cell("**Model answer.** ...\n**Rubric.** ...")
    cell.metadata["nbgrader"] = {"schema_version": 3, "grade": True, "solution": True,
                                 "locked": False, "points": 2, "grade_id": "why", "task": False}
    out = make_student_notebook(_nb(cell)).cells[0]
    assert out.source == "YOUR ANSWER HERE"
    assert out.metadata["deletable"] is False and "editable" not in out.metadata
    assert out.metadata["nbgrader"]["checksum"] == compute_checksum(out)


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

def _fake_report(*cells: tuple[str, str, bool], errors=(), tampered=()):
    r = ValidationReport(Path("x.ipynb"), other_errors=list(errors), tampered=list(tampered))
    r.cells = [CellResult(gid, ex, 1.0, ok, "" if ok else "AssertionError: no")
               for gid, ex, ok in cells]
    return r


@pytest.mark.parametrize("cells, errors, tampered, invert, status", [
    ([("t1", "e1", True), ("t2", "e2", True)], [], [], False, 0),
    ([("t1", "e1", True), ("t2", "e2", False)], [], [], False, 1),
    ([("t1", "e1", True)], ["cell 3 raised ValueError: x"], [], False, 1),
    ([("t1", "e1", True)], [], ["read-only cell 'setup' was edited"], False, 1),
    ([("t1", "e1", False), ("t2", "e2", False)], [], [], True, 0),
    ([("t1", "e1", False), ("t2", "e2", True)], [], [], True, 1),  # exercise e2 cannot fail
    ([("t1", "e1", False), ("t1b", "e1", True)], [], [], True, 0),  # one failing cell per exercise
    ([("t1", "e1", False)], ["cell 2 raised NotImplementedError: "], [], True, 0),
    ([("t1", "e1", False)], ["cell 1 raised ModuleNotFoundError: torch"], [], True, 1),
    ([], [], [], False, 1),
])
def test_validate_exit_status(monkeypatch, capsys, cells, errors, tampered, invert, status):
    monkeypatch.setattr(grading_cli, "validate_notebook",
                        lambda path, timeout=60, release=None: _fake_report(
                            *cells, errors=errors, tampered=tampered))
    args = argparse.Namespace(notebooks=["x.ipynb"], invert=invert, timeout=5, release=None)
    assert grading_cli._validate_main(args) == status
    assert capsys.readouterr().out.startswith("validate x.ipynb")


def test_cli_release_and_validate_errors(tmp_path, capsys):
    assert grading.main(["release", str(SOURCE), str(tmp_path), "--assignment",
                         "a02_convolution"]) == 0
    assert (tmp_path / "a02_convolution" / "a02_convolution.ipynb").is_file()
    assert "1 student notebook(s)" in capsys.readouterr().out
    assert grading.main(["release", str(tmp_path / "missing"), str(tmp_path)]) == 2
    assert grading.main(["validate", str(tmp_path / "a02_convolution" / "a02_convolution.ipynb"),
                         "--release", str(tmp_path / "elsewhere")]) == 2
    assert "No release copy of a02_convolution.ipynb" in capsys.readouterr().err


def test_the_course_cli_registers_the_grading_commands():
    parser = argparse.ArgumentParser()
    grading.add_subparser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["grading", "validate", "x.ipynb", "--invert"])
    assert args.invert and args.notebooks == ["x.ipynb"] and callable(args.func)


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
    report = grading.report_from_executed(nb, "demo.ipynb", check_locked=False)
    assert [(c.grade_id, c.exercise, c.passed) for c in report.autograded] == [
        ("ex1_check", "ex1", False), ("ex2_check", "ex2", True)]
    assert report.answer_errors == ["cell 1 (ex1) raised SyntaxError: bad"]
    assert "1/2 graded cells pass, 1/3 points" in report.summary()
    assert not report.all_passed and not report.every_exercise_fails
    unchecked = grading.report_from_executed(nb, "demo.ipynb")
    assert "no release copy found" in unchecked.tampered[0]
