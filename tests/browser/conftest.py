"""Browser tests need the system's Chromium. Outside CI a missing browser skips them with one
reason line (the README's test command must pass on a laptop without it); under ``CI=true``,
where ``.ci/run`` installs it, a missing browser fails them."""

import os

import pytest

from .lab import find_chromium


@pytest.fixture(autouse=True)
def _system_chromium():
    try:
        find_chromium()
    except AssertionError as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            raise
        pytest.skip(f"no system Chromium (outside CI this is a skip, under CI=true a failure): "
                    f"{exc}")
