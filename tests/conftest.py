"""Test-wide settings: throwaway data and run folders (removed at exit), so tests never read or
write the checkout's data/ and runs/ and always train fresh; smoke profile, CPU and one thread
by default."""

import atexit
import os
import shutil
import tempfile

import pytest

# Set before anything imports gan_course or starts an nbval kernel (kernels inherit os.environ).
if "GAN_COURSE_TEST_ROOT" not in os.environ:  # the first of tests/ and notebooks/ conftest wins
    _root = os.environ["GAN_COURSE_TEST_ROOT"] = tempfile.mkdtemp(prefix="gan-course-tests-")
    atexit.register(shutil.rmtree, _root, ignore_errors=True)
    os.environ.update(GAN_COURSE_DATA=f"{_root}/data", GAN_COURSE_RUNS=f"{_root}/runs")
    # One intra-op thread: the tests' models are tiny, and on a shared 2-core machine torch's
    # default of one thread per core was measured up to ~10x slower (kernels inherit this too).
    for _key, _value in (("GAN_COURSE_PROFILE", "smoke"), ("GAN_COURSE_DEVICE", "cpu"),
                         ("MPLBACKEND", "Agg"), ("OMP_NUM_THREADS", "1")):
        os.environ.setdefault(_key, _value)


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One intra-op thread for the whole run, whatever OMP_NUM_THREADS says (the models are tiny;
    on a shared 2-core machine more threads were measured up to ~10x slower). Session scope, so
    module-scoped fixtures (trained judges) get it too; code that changes it restores it."""
    import torch  # here, not at the top: the environment above must be set before torch loads

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
