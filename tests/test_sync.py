"""In-place constructs of a team: barrier, master, masked, single (nowait, private,
firstprivate); exceptions inside them propagate without hanging the team."""

import numpy as np
import pytest
from pyomp import njit, omp_get_num_threads, omp_get_thread_num, openmp


@njit
def phases(out, seen):
    with openmp("parallel"):
        tid = omp_get_thread_num()
        nt = omp_get_num_threads()
        out[tid] = tid + 1
        with openmp("barrier"):
            pass
        # after the barrier every thread sees every other thread's write
        total = 0
        for t in range(nt):
            total += out[t]
        seen[tid] = total
    return seen


def test_barrier_orders_the_phases(threads):
    seen = phases(np.zeros(16, dtype=np.int64), np.zeros(16, dtype=np.int64))
    assert seen[:threads].tolist() == [threads * (threads + 1) // 2] * threads


@njit
def who_runs(counts, which):
    with openmp("parallel"):
        with openmp("master"):
            counts[0] += 1
            which[0] = omp_get_thread_num()
        with openmp("masked filter(1)"):
            counts[1] += 1
            which[1] = omp_get_thread_num()
        with openmp("single"):
            counts[2] += 1
            which[2] = omp_get_thread_num()
        with openmp("single nowait"):
            counts[3] += 1
    return counts


def test_master_masked_single_run_once(threads):
    counts = np.zeros(4, dtype=np.int64)
    which = np.full(3, -1, dtype=np.int64)
    who_runs(counts, which)
    assert counts.tolist() == [1, 1 if threads > 1 else 0, 1, 1]
    assert which[0] == 0
    assert which[1] == (1 if threads > 1 else -1)
    assert 0 <= which[2] < threads


@njit
def single_then_loop(n, a):
    x = 10
    with openmp("parallel"):
        with openmp("single firstprivate(x)"):
            x += 5
            a[0] = x
        with openmp("for"):
            for i in range(1, n):
                a[i] = a[0] + i
    return a, x


def test_single_result_is_visible_after_its_barrier(threads):
    a, x = single_then_loop(8, np.zeros(8, dtype=np.int64))
    assert a.tolist() == [15] + [15 + i for i in range(1, 8)]
    assert x == 10


@njit
def raise_in_single(flag, out):
    with openmp("parallel"):
        with openmp("single"):
            if flag:
                raise ValueError("single failed")
        out[omp_get_thread_num()] = 1
    return out


def test_exception_in_single_propagates_without_hanging(threads):
    assert raise_in_single(False, np.zeros(16)).sum() == threads
    with pytest.raises(ValueError, match="single failed"):
        raise_in_single(True, np.zeros(16))


@njit
def raise_in_master_before_barrier(out):
    with openmp("parallel"):
        with openmp("master"):
            if out[0] == 0:
                raise KeyError("master failed")
        with openmp("barrier"):
            pass
        out[omp_get_thread_num()] = 1
    return out


def test_exception_in_master_before_a_barrier(threads):
    with pytest.raises(KeyError):
        raise_in_master_before_barrier(np.zeros(16))


def test_benchmark_jacobi_matches_numpy(threads):
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
    from kernels import jacobi
    u = np.zeros((40, 40))
    u[0, :] = 1.0
    ref = u.copy()
    res = jacobi(u, u.copy(), 7)
    for _ in range(7):
        new = 0.25 * (ref[:-2, 1:-1] + ref[2:, 1:-1] + ref[1:-1, :-2] + ref[1:-1, 2:])
        expected = ((new - ref[1:-1, 1:-1]) ** 2).sum()
        ref[1:-1, 1:-1] = new
    assert res == pytest.approx(expected) and np.allclose(u, ref)


@njit
def count_with_critical(n, counter):
    with openmp("parallel for"):
        for _i in range(n):
            with openmp("critical"):
                counter[0] += 1           # a read-modify-write that loses updates unguarded
    return counter


@njit
def named_a(n, counter):
    with openmp("parallel for"):
        for _i in range(n):
            with openmp("critical(tally)"):
                counter[0] += 1
    return counter


@njit
def named_b(n, counter):
    with openmp("parallel for"):
        for _i in range(n):
            with openmp("critical(tally)"):
                counter[0] += 2
    return counter


def test_critical_excludes_within_a_function(threads):
    assert count_with_critical(20_000, np.zeros(1, dtype=np.int64))[0] == 20_000


def test_same_name_excludes_across_functions():
    import threading
    counter = np.zeros(1, dtype=np.int64)
    named_a(10, counter), named_b(10, counter)
    counter[0] = 0
    # two Python threads run the two functions at once: both update under critical(tally)
    runs = [threading.Thread(target=named_a, args=(20_000, counter)),
            threading.Thread(target=named_b, args=(20_000, counter))]
    for t in runs:
        t.start()
    for t in runs:
        t.join()
    assert counter[0] == 20_000 * 3
