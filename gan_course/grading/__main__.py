"""``python -m gan_course.grading {release,validate} ...``."""

from .cli import main

raise SystemExit(main())
