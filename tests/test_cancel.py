"""`cancel` and `cancellation point` for parallel, for and sections: the cancelled
construct ends early and the program goes on correctly (the next loops get all their
iterations, results exact), with every schedule; misplaced cancels are compile-time
errors; with OMP_CANCELLATION=false a cancel does nothing."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pyomp
import pytest
from helpers import compile_source
from pyomp import njit, omp_get_thread_num, omp_set_schedule, openmp


@njit
def search(a, target):
    found = -1
    with openmp("parallel for schedule(runtime) shared(found)"):
        for i in range(a.size):
            with openmp("cancellation point for"):
                pass
            if a[i] == target:
                found = i
                with openmp("cancel for"):
                    pass
    return found


@pytest.mark.parametrize("kind,chunk", [(1, 0), (1, 7), (2, 1), (2, 64), (3, 4)],
                         ids=["static", "static7", "dynamic1", "dynamic64", "guided4"])
def test_cancelled_search_finds_and_later_loops_are_whole(kind, chunk, threads):
    omp_set_schedule(kind, chunk)
    a = np.arange(20_000)
    # many cancelled loops in a row: each must leave the runtime's loop state clean
    for target in (15_000, 3, 19_999, 10_000, 0, 7, 12_345) * 3:
        assert search(a, target) == target
    assert search(a, -5) == -1  # nothing to find: the loop runs to its end


@njit
def cancel_stops_early(n, ran):
    with openmp("parallel"):
        with openmp("for schedule(dynamic, 1)"):
            for i in range(n):
                ran[i] = 1
                if i == 0:
                    with openmp("cancel for"):
                        pass
        ran[n + omp_get_thread_num()] = 2  # the region goes on after the cancelled loop
    return ran


def test_cancel_for_skips_the_remaining_chunks(threads):
    n = 2000
    ran = cancel_stops_early(n, np.zeros(n + threads, dtype=np.int64))
    assert ran[0] == 1
    assert (ran[n:] == 2).all()
    # the chunks after the cancellation are not run (a few may be in flight)
    assert ran[:n].sum() < n


@njit
def cancel_parallel(flags, who):
    with openmp("parallel"):
        t = omp_get_thread_num()
        if t == who:
            with openmp("cancel parallel"):
                pass
        with openmp("barrier"):
            pass
        flags[t] = 1  # not reached once the region is cancelled
    return flags


def test_cancel_parallel_releases_the_team(threads):
    flags = cancel_parallel(np.zeros(threads, dtype=np.int64), 0)
    assert flags.sum() == 0
    flags = cancel_parallel(np.zeros(threads, dtype=np.int64), -1)  # no cancel
    assert flags.sum() == threads


@njit
def cancel_if(n, when, out):
    with openmp("parallel"):
        with openmp("cancel parallel if(n == when)"):
            pass
        with openmp("cancellation point parallel"):
            pass
        out[omp_get_thread_num()] = 1
    return out


def test_cancel_if_clause(threads):
    assert cancel_if(3, 4, np.zeros(threads)).sum() == threads
    assert cancel_if(4, 4, np.zeros(threads)).sum() == 0


@njit
def cancel_sections(out):
    with openmp("parallel sections"):
        with openmp("section"):
            out[0] = 1
            with openmp("cancel sections"):
                pass
        with openmp("section"):
            out[1] = 1
        with openmp("section"):
            out[2] = 1
    return out


def test_cancel_sections(threads):
    out = cancel_sections(np.zeros(3, dtype=np.int64))
    assert out[0] == 1
    # with one thread the sections after the cancelled one do not run
    if threads == 1:
        assert out.tolist() == [1, 0, 0]


@njit
def raise_and_cancellation_points(n, bad):
    total = 0
    with openmp("parallel reduction(+:total)"):
        if omp_get_thread_num() == bad:
            raise ValueError("outside the loop")
        with openmp("for"):
            for i in range(n):
                with openmp("cancellation point for"):
                    pass
                total += i
    return total


def test_exception_with_cancellation_points_neither_hangs_nor_aborts(threads):
    assert raise_and_cancellation_points(100, -1) == sum(range(100))
    with pytest.raises(ValueError, match="outside the loop"):
        raise_and_cancellation_points(100, threads - 1)


@njit
def orphaned_cancel(a, target, found):
    with openmp("for schedule(dynamic, 4)"):
        for i in range(a.size):
            if a[i] == target:
                found[0] = i
                with openmp("cancel for"):
                    pass


@njit
def calls_orphaned_cancel(a, target):
    found = np.full(1, -1)
    with openmp("parallel"):
        orphaned_cancel(a, target, found)
    return found[0]


def test_orphaned_cancel_for(threads):
    a = np.arange(5000)
    for target in (4000, 2, 4999) * 3:
        assert calls_orphaned_cancel(a, target) == target


def _compile(src):
    return compile_source(src, "cancel")


@pytest.mark.parametrize("src,message", [
    ("""with openmp("parallel"):
            with openmp("for nowait"):
                for i in range(n):
                    with openmp("cancel for"):
                        pass""", "cannot have the 'nowait' clause"),
    ("""with openmp("parallel"):
            with openmp("cancel for"):
                pass""", "must stand directly inside a 'for' construct"),
    ("""with openmp("parallel for"):
            for i in range(n):
                with openmp("cancel parallel"):
                    pass""", "must stand directly inside a 'parallel' construct"),
    ("""with openmp("parallel for"):
            for i in range(n):
                with openmp("critical"):
                    with openmp("cancel for"):
                        pass""", "this one is inside 'critical'"),
    ("""with openmp("cancellation point parallel"):
            pass""", "outside any construct"),
    ("""with openmp("parallel for ordered"):
            for i in range(n):
                with openmp("cancel for"):
                    pass""", "cannot have the 'ordered' clause"),
    ("""with openmp("parallel"):
            with openmp("cancel taskgroup"):
                pass""", "`cancel taskgroup`.* is not implemented"),
])
def test_misplaced_cancels_are_compile_time_errors(src, message):
    f = _compile("def f(n):\n    " + textwrap.dedent("    " + src).strip() +
                 "\n    return n\n")
    with pytest.raises(pyomp.PyompError, match=message) as err:
        f(4)
    assert "with openmp" in str(err.value)


def test_cancellation_off_makes_cancel_do_nothing():
    script = textwrap.dedent("""
        import numpy as np
        from pyomp import njit, openmp, omp_set_num_threads, omp_get_cancellation
        @njit
        def f(n, ran):
            with openmp("parallel for schedule(dynamic, 1)"):
                for i in range(n):
                    ran[i] = 1
                    with openmp("cancel for"):
                        pass
            return ran.sum()
        omp_set_num_threads(2)
        assert not omp_get_cancellation()
        print(f(500, np.zeros(500, dtype=np.int64)))
    """)
    env = dict(os.environ, OMP_CANCELLATION="false", OMP_WAIT_POLICY="passive")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "500"


@njit
def dynamic_sum(n, bad, where):
    total = 0
    with openmp("parallel reduction(+:total)"):
        if where == 0 and omp_get_thread_num() == bad:
            raise ValueError("before the loop")
        with openmp("for schedule(dynamic, 3)"):
            for i in range(n):
                if where == 1 and i == bad:
                    raise ValueError("in the loop")
                total += i
    return total


@pytest.mark.parametrize("where", [0, 1])
def test_loops_after_an_exception_get_all_their_iterations(where, threads):
    # A thread that leaves a dynamic loop early (or never starts it) must not leave stale
    # dispatch state behind: with libomp's own dispatcher later regions got wrong sums.
    for _ in range(10):
        with pytest.raises(ValueError):
            dynamic_sum(1000, threads - 1 if where == 0 else 500, where)
        assert dynamic_sum(1000, -1, where) == sum(range(1000))
