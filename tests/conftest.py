"""Test-wide settings: smoke profile, CPU, a throwaway data root, few threads."""

import os

# Set before anything imports gan_course or starts an nbval kernel (kernels inherit os.environ).
os.environ.setdefault("GAN_COURSE_PROFILE", "smoke")
os.environ.setdefault("GAN_COURSE_DEVICE", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")
