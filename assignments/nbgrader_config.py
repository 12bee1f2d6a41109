# nbgrader configuration for the gan-course assignments (JupyterHub route; checked with 0.9.6).
#
# Run nbgrader from this folder (assignments/), which is the course directory:
#   cd assignments
#   nbgrader generate_assignment a02_convolution --force   # source/ -> release/ (+ gradebook)
#   nbgrader autograde a02_convolution                      # submitted/ -> autograded/
# nbgrader learns the assignments from generate_assignment (it adds each one to gradebook.db).
# The plain route without nbgrader (Colab, CI) is `python -m gan_course.grading ...`, which
# writes the same student copies; see the README's "For instructors" section.
import os

c = get_config()  # noqa: F821  (nbgrader injects get_config)

c.CourseDirectory.course_id = "gan-course"
# An absolute root (the folder of this file): nbgrader warns about a relative one.
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"

# The same stub as gan_course.grading's release command, so both routes give identical copies.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# A student who deletes a check cell gets it back at autograde time (and fails it if the answer
# is wrong) instead of leaving the notebook at "needs manual grade".
c.OverwriteCells.add_missing_cells = True

# Graded cells finish in seconds (the 2-D GAN checks of a07/a08 train for about 20 s); a generous
# limit still catches an endless loop.
c.ExecutePreprocessor.timeout = 180

# `nbgrader validate` cuts every line at Validator.width characters (90 by default), which would
# cut the checks' hints; the separators it prints are this wide too.
c.Validator.width = 160
