"""Shared test setup: thread counts to run at, set before Numba or the runtime start."""

import os

# Oversubscribing 2 cores with 8 threads: passive waiting keeps spinning threads from
# starving the ones doing work.  NUMBA_NUM_THREADS lets prange use 8 threads too.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
os.environ.setdefault("NUMBA_NUM_THREADS", "8")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

# The benchmark kernels are tested for correctness too: make `import kernels` work.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

THREAD_COUNTS = (1, 2, 3, 8)


def pytest_configure(config):
    # No compiled function of the suite may look racy to pyomp (a RaceWarning fails the
    # test); a test that means to race says so with pytest.warns(RaceWarning).  Here, not
    # in pyproject.toml: resolving the category imports pyomp (and Numba), which must come
    # after the environment above is set.
    config.addinivalue_line("filterwarnings", "error::pyomp.errors.RaceWarning")


@pytest.fixture(params=THREAD_COUNTS, ids=lambda k: f"{k}threads")
def threads(request):
    """Runs a test at each thread count, for both OpenMP and Numba's own threading."""
    import numba
    import pyomp

    k = request.param
    # Numba's threading layer starts on first use and may reset the OpenMP ICVs: set it
    # first, then pyomp's team size.
    numba.set_num_threads(k)
    pyomp.omp_set_num_threads(k)
    yield k
    pyomp.omp_set_num_threads(os.cpu_count() or 1)
