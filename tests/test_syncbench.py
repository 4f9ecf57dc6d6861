"""The EPCC syncbench kernels (benchmarks/kernels.py) do what they measure: every construct
runs as often as it should, and the counters updated under critical, a lock, atomic and a
reduction lose nothing."""

import math

import numpy as np
import pytest

REPS = 50
DELAY = 16

# construct -> expected check count for a team of k threads and REPS repetitions
EXPECTED = {
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

    from kernels import syncbench
    assert set(syncbench) == set(EXPECTED)
    c_src = (Path(__file__).resolve().parent.parent / "benchmarks" / "c" / "syncbench.c")
    text = c_src.read_text()
    for kind in syncbench:
        assert f'!strcmp(kind, "{kind}")' in text


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_syncbench_kernel_counts(threads, kind):
    from kernels import syncbench
    out = np.zeros(256 * 16, dtype=np.int64)
    overhead, count = syncbench[kind](REPS, DELAY, out)
    assert count == EXPECTED[kind](threads)
    assert math.isfinite(overhead)
    # the delay loop's "never" branch (a < 0) never ran
    assert out[1] == 0


def test_repeated_runs_start_from_zero(threads):
    from kernels import syncbench
    out = np.zeros(256 * 16, dtype=np.int64)
    for kind in ("for", "barrier"):
        assert syncbench[kind](REPS, DELAY, out)[1] == threads * REPS
        assert syncbench[kind](REPS, DELAY, out)[1] == threads * REPS
