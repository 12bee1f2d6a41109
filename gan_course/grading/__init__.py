"""Autograder of the course assignments: check functions, student copies, validation.

- :mod:`.checks` — one ``check_*`` function per exercise (re-exported here, so a graded cell
  reads ``from gan_course.grading import check_conv_output_size``);
- :mod:`.provenance` — answers that come from the ``gan_course`` package fail;
- :mod:`.release` — student copies by nbgrader's ``generate_assignment`` rules;
- :mod:`.validate` — grading without nbgrader: locked cells, execution, report;
- :mod:`.cli` — ``python -m gan_course.grading {release,validate}`` and :func:`add_subparser`
  for ``python -m gan_course grading ...``.
"""

from __future__ import annotations

from .checks import *  # noqa: F403  (every check_* function)
from .checks import CHECKS
from .cli import add_subparser, main
from .release import (
    AssignmentError,
    compute_checksum,
    is_grade,
    is_locked,
    is_solution,
    make_student_notebook,
    release,
)
from .validate import (
    CellResult,
    ValidationReport,
    execute_notebook,
    find_release_copy,
    locked_cell_problems,
    report_from_executed,
    validate_notebook,
)

__all__ = [*(f.__name__ for f in CHECKS.values()), "CHECKS", "AssignmentError", "CellResult",
           "ValidationReport", "add_subparser", "compute_checksum", "execute_notebook",
           "find_release_copy", "is_grade", "is_locked", "is_solution", "locked_cell_problems",
           "main", "make_student_notebook", "release", "report_from_executed",
           "validate_notebook"]
