"""The EPCC syncbench kernels (benchmarks/syncbench.py) do what they measure: every construct
runs as often as it should, and the counters updated under critical, a lock, atomic and a
reduction lose nothing; with the delay inlined and called out of line, and Numba's prange
versions."""

import math

import numpy as np
import pytest

REPS = 50
DELAY = 16

# construct -> expected check count for a team of k threads and REPS repetitions
EXPECTED = {
    "parallel": lambda k: k * REPS,     # every thread once per region
    "for": lambda k: k * REPS,          # one iteration per thread per loop
    "parallelfor": lambda k: k * REPS,
    "barrier": lambda k: k * REPS,      # every thread passes every barrier
    "single": lambda k: REPS,           # one thread per single
    "critical": lambda k: k * REPS,     # REPS per thread, none lost
    "lock": lambda k: k * REPS,
    "atomic": lambda k: k * REPS,
    "reduction": lambda k: k * REPS,    # one per thread per region
}


def test_every_construct_is_benchmarked_in_python_and_c():
    from pathlib import Path

    import syncbench
    assert set(syncbench.inline) == set(syncbench.called) == set(EXPECTED)
    c_src = (Path(__file__).resolve().parent.parent / "benchmarks" / "c" / "syncbench.c")
    text = c_src.read_text()
    for kind in syncbench.inline:
        assert f'!strcmp(kind, "{kind}")' in text


@pytest.mark.parametrize("delay", ["inline", "called"])
@pytest.mark.parametrize("kind", list(EXPECTED))
def test_syncbench_kernel_counts(threads, kind, delay):
    import syncbench
    out = np.zeros(256 * 16, dtype=np.int64)
    overhead, count = getattr(syncbench, delay)[kind](REPS, DELAY, out)
    assert count == EXPECTED[kind](threads)
    assert math.isfinite(overhead)
    # the delay loop's "never" branch (a < 0) never ran
    assert out[1] == 0


def test_repeated_runs_start_from_zero(threads):
    import syncbench
    out = np.zeros(256 * 16, dtype=np.int64)
    for kind in ("for", "barrier"):
        assert syncbench.inline[kind](REPS, DELAY, out)[1] == threads * REPS
        assert syncbench.inline[kind](REPS, DELAY, out)[1] == threads * REPS


@pytest.mark.parametrize("delay", ["inline", "called"])
def test_numba_prange_versions_count_every_thread(threads, delay):
    import numba
    import syncbench
    numba.set_num_threads(threads)
    out = np.zeros(256 * 16, dtype=np.int64)
    for kind, kernel in getattr(syncbench, f"prange_{delay}").items():
        overhead, count = kernel(REPS, DELAY, out)
        assert count == threads * REPS, kind
        assert math.isfinite(overhead)
