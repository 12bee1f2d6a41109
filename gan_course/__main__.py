"""``python -m gan_course …`` — see :mod:`gan_course.cli`."""

from gan_course.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
