"""Task reductions (`taskgroup task_reduction`, `task`/`taskloop in_reduction`,
`reduction(task, ...)`), taskloop `lastprivate`, and `firstprivate` + `lastprivate` on one
variable. Results are compared with serial Python at 1, 2, 3 and 8 threads."""

import textwrap

import numpy as np
import pyomp
import pytest
from helpers import compile_source
from numba.core.runtime import _nrt_python, rtsys
from pyomp import njit, openmp


def busy(k):
    """A little work, so tasks overlap with their creator going on."""
    x = 0
    for j in range(k):
        x += j % 3
    return x


busy_jit = njit(busy)


@njit
def sum_in_tasks(n):
    s = 0
    with openmp("parallel"):
        with openmp("single"):
            with openmp("taskgroup task_reduction(+: s)"):
                for i in range(n):
                    with openmp("task in_reduction(+: s)"):
                        s += i
    return s


@njit
def max_in_tasks(a):
    m = -np.inf
    with openmp("parallel"):
        with openmp("single"):
            with openmp("taskgroup task_reduction(max: m)"):
                for i in range(a.shape[0]):
                    with openmp("task in_reduction(max: m)"):
                        if a[i] > m:
                            m = a[i]
    return m


@njit
def histogram_in_tasks(n, bins):
    h = np.zeros(bins)
    with openmp("parallel"):
        with openmp("single"):
            with openmp("taskgroup task_reduction(+: h)"):
                for i in range(n):
                    with openmp("task in_reduction(+: h)"):
                        h[i % bins] += 1.0
    return h


@njit
def taskloop_and_tasks_join_one_reduction(n):
    s = 0.0
    with openmp("parallel"):
        with openmp("single"):
            with openmp("taskgroup task_reduction(+: s)"):
                with openmp("taskloop in_reduction(+: s) grainsize(7)"):
                    for i in range(n):
                        s += i * 0.5
                for _ in range(10):
                    with openmp("task in_reduction(+: s)"):
                        s += 1.0
    return s


def test_task_reductions(threads):
    for n in (0, 1, 7, 1000):
        assert sum_in_tasks(n) == sum(range(n))
        assert taskloop_and_tasks_join_one_reduction(n) == sum(i * 0.5 for i in range(n)) + 10
    a = np.random.default_rng(threads).random(500)
    assert max_in_tasks(a) == a.max()
    expect = np.bincount(np.arange(1003) % 4, minlength=4).astype(float)
    assert (histogram_in_tasks(1003, 4) == expect).all()


@njit
def parallel_task_modifier(n):
    # `master` has no barrier: the tasks may still run when the master thread reaches the
    # end of the region, where its private copy of s is combined
    s = 0
    with openmp("parallel reduction(task, +: s)"):
        with openmp("master"):
            for i in range(n):
                with openmp("task in_reduction(+: s)"):
                    s += i + busy_jit(300) * 0
    return s


@njit
def loop_task_modifier(n):
    s = 0
    with openmp("parallel for reduction(task, +: s) schedule(dynamic, 3)"):
        for i in range(n):
            with openmp("task in_reduction(+: s)"):
                s += i + busy_jit(200) * 0
    return s


def test_reduction_task_modifier_waits_for_the_tasks(threads):
    # Many runs: without waiting, a late task writes to a finished thread's copy.
    for _ in range(30):
        assert parallel_task_modifier(300) == sum(range(300))
        assert loop_task_modifier(200) == sum(range(200))


@njit
def taskloop_lastprivate(n, grain):
    x = -1
    y = 0.0
    with openmp("parallel"):
        with openmp("single"):
            with openmp("taskloop lastprivate(x, y) grainsize(grain)"):
                for i in range(n):
                    x = i * 2
                    y = i + 0.5
    return x, y


@njit
def taskloop_lastprivate_collapsed(n, m):
    x = -1
    with openmp("parallel"):
        with openmp("single"):
            with openmp("taskloop collapse(2) lastprivate(x) num_tasks(5)"):
                for i in range(n):
                    for j in range(m):
                        x = i * 100 + j
    return x


@njit
def taskloop_lastprivate_array(n):
    a = np.zeros(3)
    with openmp("taskloop lastprivate(a) grainsize(5)"):
        for i in range(n):
            a = np.full(3, float(i))
    return a


@njit
def taskloop_lastprivate_nogroup(n):
    x = 0
    with openmp("parallel"):
        with openmp("single"):
            with openmp("taskloop lastprivate(x) nogroup grainsize(3)"):
                for i in range(n):
                    x = i + 1
            with openmp("taskwait"):
                pass
    return x


@njit
def taskloop_first_and_lastprivate(n, start):
    x = start
    with openmp("taskloop firstprivate(x) lastprivate(x) grainsize(2)"):
        for i in range(n):
            x = x + i
    return x


def test_taskloop_lastprivate(threads):
    for n, grain in ((1, 1), (10, 3), (100, 7), (64, 64), (50, 1)):
        assert taskloop_lastprivate(n, grain) == ((n - 1) * 2, n - 0.5)
    assert taskloop_lastprivate_collapsed(7, 5) == 604
    assert (taskloop_lastprivate_array(23) == 22.0).all()
    assert taskloop_lastprivate_nogroup(50) == 50
    # chunks of 2: the last one starts again from 100 and adds 8 and 9
    assert taskloop_first_and_lastprivate(10, 100) == 117


def test_taskloop_lastprivate_releases_arrays():
    taskloop_lastprivate_array(23)
    _nrt_python.memsys_enable_stats()
    before = rtsys.get_allocation_stats()
    for _ in range(5):
        taskloop_lastprivate_array(23)
    after = rtsys.get_allocation_stats()
    assert after.alloc - before.alloc == after.free - before.free


@njit
def loop_first_and_lastprivate(n, start):
    x = start
    with openmp("parallel for firstprivate(x) lastprivate(x) schedule(static, 2)"):
        for i in range(n):
            x = x + i
    return x


@njit
def sections_first_and_lastprivate(start):
    x = start
    with openmp("parallel sections firstprivate(x) lastprivate(x)"):
        with openmp("section"):
            x = x + 1
        with openmp("section"):
            x = x + 10
    return x


def test_first_and_lastprivate_start_from_the_value(threads):
    # the thread running the last iteration started from 100 and added its own chunks
    # (static, 2: thread t owns chunks t, t + threads, ...)
    n = 10
    chunks = [range(c, min(c + 2, n)) for c in range(0, n, 2)]
    owner = (len(chunks) - 1) % threads
    mine = [i for c in chunks[owner::threads] for i in c]
    assert loop_first_and_lastprivate(n, 100) == 100 + sum(mine)
    # firstprivate is per thread: a thread that runs both sections adds both
    assert sections_first_and_lastprivate(5) in ((16,) if threads == 1 else (15, 16))


@pytest.mark.parametrize("body,error,message", [
    ("""
        with openmp("parallel"):
            with openmp("single"):
                with openmp("taskgroup task_reduction(+: s)"):
                    with openmp("task in_reduction(*: s)"):
                        s *= 2""", pyomp.PyompError, "the operators must be the same"),
    ("""
        with openmp("parallel for reduction(inscan, +: s)"):
            for i in range(3):
                s += i""", pyomp.errors.UnsupportedConstructError, "`scan` directive"),
    ("""
        with openmp("taskgroup task_reduction(+: s) nowait"):
            s += 1""", pyomp.errors.ClauseNotAllowedError, "nowait"),
])
def test_task_reduction_errors(body, error, message):
    src = "def f(s):\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ") + \
        "\n    return s\n"
    f = compile_source(src, "taskred")
    with pytest.raises(error, match=message) as err:
        f(1)
    assert "taskred" in str(err.value) and "^" in str(err.value)


@njit
def loop_lastprivate_array(n):
    a = np.zeros(2)
    with openmp("parallel for lastprivate(a) schedule(dynamic, 2)"):
        for i in range(n):
            a = np.full(2, float(i))
    return a


def test_lastprivate_copies_of_other_threads_are_released(threads):
    # only the copy of the thread that ran the last iteration survives (in the original)
    assert (loop_lastprivate_array(9) == 8.0).all()
    _nrt_python.memsys_enable_stats()
    before = rtsys.get_allocation_stats()
    for _ in range(5):
        loop_lastprivate_array(9)
    after = rtsys.get_allocation_stats()
    assert after.alloc - before.alloc == after.free - before.free


@njit
def _scaled_copy_in_tasks(src, dst, k):
    # no region of its own: the function waits for its tasks before it returns, so the
    # tasks borrow `src` and `dst` (arguments never reassigned) without counting them
    for i in range(src.shape[0]):
        with openmp("task"):
            busy_jit(50)
            dst[i] = src[i] * k


@njit
def _reassigned_argument(src, dst):
    for i in range(dst.shape[0]):
        with openmp("task"):
            busy_jit(50)
            dst[i] = src[0]
        src = np.full(1, float(i + 1))  # the old src dies here: the task keeps its own


@njit
def borrowed_captures(n, rounds):
    total = 0.0
    with openmp("parallel"):
        with openmp("single"):
            for r in range(rounds):
                dst = np.zeros(n)
                _scaled_copy_in_tasks(np.arange(n) * 1.0, dst, r)
                total += dst.sum()
                dst2 = np.zeros(n)
                _reassigned_argument(np.full(1, -1.0), dst2)
                total += dst2.sum()
    return total


def test_tasks_borrow_arguments_that_outlive_them(threads):
    # the temporary arrays passed in are freed as soon as each call returns: a task still
    # running then would read freed memory
    n, rounds = 200, 20
    expect = sum(r * sum(range(n)) for r in range(rounds)) + rounds * (-1 + sum(range(1, n)))
    _nrt_python.memsys_enable_stats()
    before = rtsys.get_allocation_stats()
    assert borrowed_captures(n, rounds) == expect
    after = rtsys.get_allocation_stats()
    assert after.alloc - before.alloc == after.free - before.free
    def line_of(fn, name):
        return next(line for line in pyomp.explain(fn).splitlines()
                    if line.split()[:1] == [name])

    assert "borrowed" in line_of(_scaled_copy_in_tasks, "src")
    assert "borrowed" in line_of(_reassigned_argument, "dst")
    assert "borrowed" not in line_of(_reassigned_argument, "src")


@njit
def taskloop_on_every_thread(n, out, last):
    with openmp("parallel"):
        t = pyomp.omp_get_thread_num()
        s = 0
        x = -1
        # every thread runs the whole taskloop, into its own (private) s and x
        with openmp("taskloop reduction(+: s) lastprivate(x) grainsize(10)"):
            for i in range(n):
                s += 1
                x = i + 1000 * t
        out[t] = s
        last[t] = x
    return out


def test_a_taskloop_run_by_every_thread_reduces_into_each_threads_variables(threads):
    for _ in range(10):
        out, last = np.zeros(threads), np.zeros(threads)
        taskloop_on_every_thread(100, out, last)
        assert (out == 100).all()
        assert (last == 99 + 1000 * np.arange(threads)).all()


def test_a_threads_own_updates_of_a_task_reduction_are_refused():
    src = textwrap.dedent("""
        def f(n):
            s = 0
            with openmp("parallel reduction(task, +: s)"):
                with openmp("master"):
                    for i in range(n):
                        with openmp("task in_reduction(+: s)"):
                            s += i
                        s += 1
            return s
    """)
    f = compile_source(src, "taskmod")
    with pytest.raises(pyomp.errors.UnsupportedConstructError,
                       match="'s' is updated on line 9 outside the tasks") as err:
        f(10)
    assert "^" in str(err.value)
