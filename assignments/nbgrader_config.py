# nbgrader configuration for the gan-course assignments (JupyterHub route).
#
# Run nbgrader from this folder (assignments/), which is the course directory:
#   cd assignments
#   nbgrader generate_assignment a02_convolution --force   # source/ -> release/
#   nbgrader autograde a02_convolution                      # submitted/ -> autograded/
# The plain route without nbgrader (Colab, CI) is `python -m gan_course.grading ...`, which
# writes the same student copies; see the README's "For instructors" section.

c = get_config()  # noqa: F821  (nbgrader injects get_config)

c.CourseDirectory.course_id = "gan-course"
c.CourseDirectory.root = "."
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_assignments = [
    dict(name="a01_mlp_generator"),
    dict(name="a02_convolution"),
    dict(name="a03_transposed_conv"),
    dict(name="a04_dcgan_block"),
    dict(name="a05_cgan_wgan_gp"),
    dict(name="a06_cyclegan"),
]

# The same stub as gan_course.grading's release command, so both routes give identical copies.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Graded cells finish in seconds; a generous limit still catches an endless loop.
c.ExecutePreprocessor.timeout = 120
