"""Stress (issue 7): many regions in a row, many tasks, oversubscribed teams (8 and 16
threads on 2 cores), several Python threads calling the same compiled functions at once,
and exceptions raised in every construct again and again.  Each run checks exact
results, that nothing hangs (a watchdog ends the process with every thread's traceback;
Python threads are joined with a timeout) and that NRT allocations are balanced.

What other modules already cover is not repeated here: one million plain tasks
(test_tasks.test_a_million_tasks), one exception per construct (test_region_errors,
test_loops, test_sync, test_ordered, test_tasks, test_copyprivate, test_cancel), four
Python threads on one `nogil` region (test_region_errors)."""

import faulthandler
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyomp
import pytest
from helpers import compile_source, in_lasting_python_threads, nrt_balanced
from pyomp import njit, omp_get_num_threads, omp_get_thread_num, omp_get_wtime, openmp

#: Seconds a single test may take before the watchdog dumps every thread and exits.
WATCHDOG = 240


@pytest.fixture(autouse=True)
def _watchdog():
    """A hang fails the run (with tracebacks) instead of blocking it forever."""
    faulthandler.dump_traceback_later(WATCHDOG, exit=True, file=sys.__stderr__)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def team():
    """team(k) sets the team size for the test; the default comes back after it."""
    yield pyomp.omp_set_num_threads
    pyomp.omp_set_num_threads(os.cpu_count() or 1)


# --- 10,000 regions ---------------------------------------------------------------


@njit
def regions_in_a_loop(reps, n):
    """reps parallel regions with a reduction, reps dynamic loops, and reps regions that
    each allocate an array per thread; returns the three totals."""
    total = 0
    looped = 0
    allocated = 0.0
    for r in range(reps):
        s = 0
        with openmp("parallel reduction(+:s)"):
            s += omp_get_thread_num() + 1
        total += s
        t = 0
        with openmp("parallel for schedule(dynamic) reduction(+:t)"):
            for i in range(n):
                t += i + r
        looped += t
        m = 0.0
        with openmp("parallel reduction(max:m)"):
            tmp = np.full(3, float(r + omp_get_thread_num()))
            m = max(m, tmp.sum())
        allocated += m
    return total, looped, allocated


@pytest.mark.parametrize("k", [1, 2, 8])
def test_ten_thousand_regions_in_one_call(k, team):
    team(k)
    reps, n = 10_000, 7
    regions_in_a_loop(2, n)
    with nrt_balanced():
        total, looped, allocated = regions_in_a_loop(reps, n)
    assert total == reps * k * (k + 1) // 2
    assert looped == reps * sum(range(n)) + n * sum(range(reps))
    assert allocated == sum(3.0 * (r + k - 1) for r in range(reps))


@njit
def one_region(n, out):
    s = 0
    with openmp("parallel reduction(+:s)"):
        tid = omp_get_thread_num()
        out[tid] += 1
        s += tid
    t = 0
    with openmp("parallel for schedule(dynamic, 2) reduction(+:t)"):
        for i in range(n):
            t += i
    return s, t


@pytest.mark.parametrize("k", [2, 8])
def test_ten_thousand_calls_from_python(k, team):
    team(k)
    out = np.zeros(k, dtype=np.int64)
    expected = (k * (k - 1) // 2, sum(range(20)))
    one_region(20, out)
    out[:] = 0
    with nrt_balanced():
        for _ in range(10_000):
            assert one_region(20, out) == expected
    assert out.tolist() == [10_000] * k


# --- many tasks ---------------------------------------------------------------------


@njit
def taskloop_chunks(n, grain, k):
    """The same loop as one task per `grain` iterations and as k tasks, with a reduction."""
    out = np.zeros(n, dtype=np.int64)
    s = 0
    with openmp("parallel shared(s)"):
        with openmp("single"):
            with openmp("taskloop grainsize(grain) reduction(+: s)"):
                for i in range(n):
                    out[i] += 1
                    s += i
            with openmp("taskloop num_tasks(k)"):
                for i in range(n):
                    out[i] += 2
    return out, s


@pytest.mark.parametrize("k", [2, 8])
def test_taskloops_with_a_million_chunks(k, team):
    team(k)
    n = 1_000_000 if k == 2 else 200_000
    taskloop_chunks(10, 1, 3)
    with nrt_balanced():
        out, s = taskloop_chunks(n, 1, n // 2)  # n one-iteration tasks, then n/2 tasks
        assert s == n * (n - 1) // 2
        assert (out == 3).all()
        del out


@njit
def dependence_chains(n, chains, log):
    """`chains` chains of inout tasks on array elements, each read by an `in` task, and
    one long chain on a variable; every chain's tasks must run in creation order."""
    heads = np.zeros(chains, dtype=np.int64)
    seen = np.zeros(chains, dtype=np.int64)
    x = 0
    pos = np.zeros(1, dtype=np.int64)
    with openmp("parallel"):
        with openmp("single"):
            for i in range(n):
                c = i % chains
                with openmp("task depend(inout: heads[c])"):
                    heads[c] = (heads[c] * 31 + i) % 1_000_003
                with openmp("task depend(in: heads[c]) depend(inout: seen[c])"):
                    seen[c] = (seen[c] * 7 + heads[c]) % 1_000_003
                with openmp("task depend(inout: x) shared(x)"):
                    x += 1
                    log[pos[0]] = i
                    pos[0] += 1
    return heads, seen, x


@pytest.mark.parametrize("k", [2, 8])
def test_dependence_chains(k, team):
    team(k)
    n, chains = 60_000, 16
    log = np.zeros(n, dtype=np.int64)
    dependence_chains(10, 3, log)
    with nrt_balanced():
        heads, seen, x = dependence_chains(n, chains, log)
        heads, seen = heads.tolist(), seen.tolist()
    expect_heads, expect_seen = [0] * chains, [0] * chains
    for i in range(n):
        c = i % chains
        expect_heads[c] = (expect_heads[c] * 31 + i) % 1_000_003
        expect_seen[c] = (expect_seen[c] * 7 + expect_heads[c]) % 1_000_003
    assert heads == expect_heads and seen == expect_seen
    assert x == n and (log == np.arange(n)).all()


# --- oversubscription: 8 and 16 threads on 2 cores ---------------------------------


def test_oversubscribed_teams_wait_passively():
    # conftest sets OMP_WAIT_POLICY=passive before the runtime starts (unless the caller
    # chose a policy): threads waiting at a barrier sleep at once (block time 0) instead
    # of spinning on the 2 cores the threads doing the work need.
    if os.environ.get("OMP_WAIT_POLICY", "").lower() != "passive":
        pytest.skip("OMP_WAIT_POLICY is not passive in this run")
    from pyomp.runtime import loader

    assert loader.load().cdll.kmp_get_blocktime() == 0


@njit
def oversubscribed_reductions(n):
    s = 0
    p = 1.0
    lo = n
    hi = -1
    with openmp("parallel reduction(+:s) reduction(*:p) reduction(min:lo) reduction(max:hi)"):
        tid = omp_get_thread_num()
        s += tid
        p *= 2.0
        lo = min(lo, tid)
        hi = max(hi, tid)
    f = 0.0
    b = 0
    with openmp("parallel for reduction(+:f) reduction(|:b) schedule(guided)"):
        for i in range(n):
            f += i * 0.5
            b |= 1 << (i % 40)
    return s, p, lo, hi, f, b


@njit
def oversubscribed_dynamic(n, out):
    with openmp("parallel for schedule(dynamic)"):
        for i in range(n):
            work = 0
            for j in range(i % 17):
                work += j
            out[i] += work + 1
    with openmp("parallel for schedule(dynamic, 7)"):
        for i in range(n):
            out[i] += 1000
    return out


@njit
def oversubscribed_barriers(rounds, out, bad):
    """Phase r: every thread writes r, waits, checks everyone's r, waits."""
    with openmp("parallel"):
        tid = omp_get_thread_num()
        nt = omp_get_num_threads()
        for r in range(rounds):
            out[tid] = r
            with openmp("barrier"):
                pass
            for t in range(nt):
                if out[t] != r:
                    bad[tid] += 1
            with openmp("barrier"):
                pass
    return bad


@njit
def oversubscribed_critical_single(rounds, counts, seen):
    with openmp("parallel"):
        tid = omp_get_thread_num()
        for r in range(rounds):
            with openmp("critical"):
                counts[0] += 1  # a read-modify-write the critical section protects
            with openmp("critical(other)"):
                counts[1] += 2
            with openmp("single"):
                counts[2] += 1
            # single's barrier: every thread sees this round's increment
            if counts[2] != r + 1:
                seen[tid] += 1
            with openmp("barrier"):
                pass
    return counts


@njit
def oversubscribed_ordered(n, log):
    pos = 0
    with openmp("parallel for ordered schedule(dynamic, 3) shared(pos)"):
        for i in range(n):
            work = 0
            for j in range(i % 11):
                work += j
            with openmp("ordered"):
                log[pos] = i
                pos += 1
            log[n + i] = work
    return pos


@njit
def oversubscribed_tasks(n, out):
    with openmp("parallel"):
        with openmp("single"):
            for i in range(n):
                with openmp("task"):
                    with openmp("task"):
                        out[i] += 1
                    out[n + i] += 1
    return out


@pytest.mark.parametrize("k", [8, 16])
def test_oversubscribed_constructs(k, team):
    from test_tasks import run_fib

    team(k)
    with nrt_balanced():
        s, p, lo, hi, f, b = oversubscribed_reductions(10_000)
        assert (s, p, lo, hi) == (k * (k - 1) // 2, 2.0 ** k, 0, k - 1)
        assert f == 0.5 * sum(range(10_000)) and b == (1 << 40) - 1

        out = oversubscribed_dynamic(20_000, np.zeros(20_000, dtype=np.int64)).tolist()
        assert out == [sum(range(i % 17)) + 1001 for i in range(20_000)]

        bad = oversubscribed_barriers(1000, np.zeros(k, dtype=np.int64),
                                      np.zeros(k, dtype=np.int64)).tolist()
        assert bad == [0] * k

        seen = np.zeros(k, dtype=np.int64)
        counts = oversubscribed_critical_single(300, np.zeros(3, dtype=np.int64), seen)
        assert counts.tolist() == [300 * k, 600 * k, 300] and seen.tolist() == [0] * k
        del counts

        log = np.full(10_000, -1, dtype=np.int64)
        assert oversubscribed_ordered(5000, log) == 5000
        assert (log[:5000] == np.arange(5000)).all()

        out = oversubscribed_tasks(20_000, np.zeros(40_000))
        assert (out == 1).all()
        del out
        assert run_fib(20) == 6765


# --- several Python threads at once ---------------------------------------------------


def _reduction_region(k, n):
    s = 0
    with openmp("parallel num_threads(k) reduction(+:s)"):
        s += omp_get_thread_num() + n
    return s


def _dynamic_loop(k, n, out):
    t = 0.0
    with openmp("parallel for num_threads(k) schedule(dynamic, 3) reduction(+:t)"):
        for i in range(n):
            out[i] = i * 2
            t += i
    return t


def _tasks(k, n):
    count = np.zeros(1, dtype=np.int64)
    with openmp("parallel num_threads(k)"):
        with openmp("single"):
            for i in range(n):
                with openmp("task"):
                    with openmp("atomic"):
                        count[0] += i
    return count[0]


def _raises(k, who, tag):
    s = 0
    with openmp("parallel num_threads(k) reduction(+:s)"):
        tmp = np.ones(2)
        if omp_get_thread_num() == who:
            raise ValueError("from python thread", tag)
        s += tmp.size
    return s


_CONCURRENT = {
    nogil: [njit(nogil=nogil)(f) for f in (_reduction_region, _dynamic_loop, _tasks, _raises)]
    for nogil in (True, False)}


@pytest.mark.parametrize("nogil", [True, False], ids=["nogil", "gil"])
def test_several_python_threads_call_the_same_functions(nogil):
    region, loop, tasks, raises = _CONCURRENT[nogil]
    region(2, 0), loop(2, 4, np.zeros(4)), tasks(2, 4), raises(2, -1, 0)  # compile first

    def calls(tag):
        k = 2 + tag % 2  # teams of 2 and 3 threads
        for rep in range(300):
            n = tag * 1000 + rep
            assert region(k, n) == k * n + k * (k - 1) // 2
            out = np.zeros(100)
            assert loop(k, 100, out) == sum(range(100)) and (out == 2 * np.arange(100)).all()
            assert tasks(k, 50) == sum(range(50))
            if rep % 3 == 0:
                with pytest.raises(ValueError) as err:
                    raises(k, rep % k, n)
                assert err.value.args == ("from python thread", n), "another thread's error"
            else:
                assert raises(k, -1, n) == 2 * k

    with nrt_balanced():
        in_lasting_python_threads(calls)


# --- exceptions in every construct -----------------------------------------------------
#
# Each kernel f(who, n, out) raises ValueError((name, where)) at `where` == who (a thread
# number or an iteration), everywhere when who == -2, nowhere when who == -1, after
# allocating an array there; its normal result is exact.

ALL = -2

EXC_KERNELS = {
    "parallel": """
        def f(who, n, out):
            s = 0
            with openmp("parallel reduction(+:s)"):
                tid = omp_get_thread_num()
                tmp = np.full(n, tid)
                if who == -2 or tid == who:
                    raise ValueError("parallel", tid)
                s += tmp.sum()
            return s
    """,
    "nested parallel": """
        def f(who, n, out):
            s = 0
            with openmp("parallel num_threads(2) reduction(+:s)"):
                outer = omp_get_thread_num()
                with openmp("parallel num_threads(2) reduction(+:s)"):
                    tid = outer * 2 + omp_get_thread_num()
                    tmp = np.full(n, tid)
                    if who == -2 or tid == who:
                        raise ValueError("nested parallel", tid)
                    s += tmp.sum()
            return s
    """,
    "sections": """
        def f(who, n, out):
            s = 0
            with openmp("parallel sections reduction(+:s)"):
                with openmp("section"):
                    tmp = np.full(n, 0)
                    if who == -2 or who == 0:
                        raise ValueError("sections", 0)
                    s += tmp.sum()
                with openmp("section"):
                    tmp = np.full(n, 1)
                    if who == -2 or who == 1:
                        raise ValueError("sections", 1)
                    s += tmp.sum()
                with openmp("section"):
                    tmp = np.full(n, 2)
                    if who == -2 or who == 2:
                        raise ValueError("sections", 2)
                    s += tmp.sum()
            return s
    """,
    "single": """
        def f(who, n, out):
            s = 0
            with openmp("parallel reduction(+:s)"):
                with openmp("single"):
                    tmp = np.full(n, 1)
                    if who == -2 or who == 0:
                        raise ValueError("single", 0)
                    out[0] = tmp.sum()
                s += out[0]
            return s
    """,
    "single nowait": """
        def f(who, n, out):
            s = 0
            with openmp("parallel reduction(+:s)"):
                with openmp("single nowait"):
                    tmp = np.full(n, 1)
                    if who == -2 or who == 0:
                        raise ValueError("single nowait", 0)
                    out[0] = tmp.sum()
                with openmp("barrier"):
                    pass
                s += out[0]
            return s
    """,
    "critical": """
        def f(who, n, out):
            s = 0
            with openmp("parallel reduction(+:s)"):
                tid = omp_get_thread_num()
                with openmp("critical"):
                    tmp = np.full(n, tid)
                    if who == -2 or tid == who:
                        raise ValueError("critical", tid)
                    out[0] += tmp.sum()
                with openmp("barrier"):
                    pass
                s += out[0]
            return s
    """,
    "named critical": """
        def f(who, n, out):
            s = 0
            with openmp("parallel reduction(+:s)"):
                tid = omp_get_thread_num()
                for rep in range(3):
                    with openmp("critical(stress)"):
                        tmp = np.full(n, tid)
                        if rep == 1 and (who == -2 or tid == who):
                            raise ValueError("named critical", tid)
                        out[0] += tmp.sum()
                with openmp("barrier"):
                    pass
                s += out[0]
            return s
    """,
    "master": """
        def f(who, n, out):
            s = 0
            with openmp("parallel reduction(+:s)"):
                with openmp("master"):
                    tmp = np.full(n, 1)
                    if who == -2 or who == 0:
                        raise ValueError("master", 0)
                    out[0] = tmp.sum()
                with openmp("barrier"):
                    pass
                s += out[0]
            return s
    """,
    "masked": """
        def f(who, n, out):
            s = 0
            with openmp("parallel reduction(+:s)"):
                with openmp("masked filter(1)"):
                    tmp = np.full(n, 1)
                    if who == -2 or who == 1:
                        raise ValueError("masked", 1)
                    out[0] = tmp.sum()
                with openmp("barrier"):
                    pass
                s += out[0] + (omp_get_num_threads() == 1) * n
            return s
    """,
    "ordered": """
        def f(who, n, out):
            s = 0
            with openmp("parallel for ordered schedule(dynamic, 2) reduction(+:s)"):
                for i in range(4 * n):
                    tmp = np.full(n, i)
                    with openmp("ordered"):
                        if who == -2 or i == who:
                            raise ValueError("ordered", i)
                        out[0] = out[0] * 3 % 1000003 + i
                    s += tmp.sum()
            return s
    """,
    "task": """
        def f(who, n, out):
            with openmp("parallel"):
                with openmp("single"):
                    for i in range(4 * n):
                        with openmp("task"):
                            tmp = np.full(n, i)
                            if who == -2 or i == who:
                                raise ValueError("task", i)
                            with openmp("atomic"):
                                out[0] += tmp.sum()
            return out[0]
    """,
    "orphaned task": """
        def f(who, n, out):
            for i in range(4 * n):
                with openmp("task"):
                    tmp = np.full(n, i)
                    if who == -2 or i == who:
                        raise ValueError("orphaned task", i)
                    with openmp("atomic"):
                        out[0] += tmp.sum()
            return out[0]
    """,
    "taskloop": """
        def f(who, n, out):
            s = 0
            with openmp("parallel shared(s)"):
                with openmp("single"):
                    with openmp("taskloop grainsize(2) reduction(+:s)"):
                        for i in range(4 * n):
                            tmp = np.full(n, i)
                            if who == -2 or i == who:
                                raise ValueError("taskloop", i)
                            s += tmp.sum()
            return s
    """,
    "taskgroup": """
        def f(who, n, out):
            with openmp("parallel"):
                with openmp("single"):
                    with openmp("taskgroup"):
                        for i in range(4 * n):
                            with openmp("task"):
                                tmp = np.full(n, i)
                                if who == -2 or i == who:
                                    raise ValueError("taskgroup", i)
                                with openmp("atomic"):
                                    out[0] += tmp.sum()
                    out[1] = out[0]  # after the group: all of its tasks are done
            return out[1]
    """,
    "atomic": """
        def f(who, n, out):
            x = 1000003 * n
            with openmp("parallel"):
                tid = omp_get_thread_num()
                d = 0 if (who == -2 or tid == who) else 1
                with openmp("atomic"):
                    x //= d  # a lock-guarded atomic: ZeroDivisionError inside it
            return x
    """,
    "atomic capture": """
        def f(who, n, out):
            s = 0
            with openmp("parallel reduction(+:s)"):
                tid = omp_get_thread_num()
                i = 100 if (who == -2 or tid == who) else 0
                with openmp("atomic capture"):
                    v = out[i]  # IndexError inside the atomic (boundscheck)
                    out[i] += 1
                s += 1
            return s
    """,
}

SCHEDULES = ["static", "static, 1", "dynamic", "dynamic, 3", "guided", "guided, 2",
             "runtime", "auto"]
for _schedule in SCHEDULES:
    EXC_KERNELS[f"for schedule({_schedule})"] = f"""
        def f(who, n, out):
            s = 0
            with openmp("parallel for reduction(+:s) schedule({_schedule})"):
                for i in range(4 * n):
                    tmp = np.full(n, i)
                    if who == -2 or i == who:
                        raise ValueError("for schedule({_schedule})", i)
                    s += tmp.sum()
            return s
    """
EXC_KERNELS["orphaned for nowait"] = """
    def f(who, n, out):
        s = 0
        with openmp("parallel reduction(+:s)"):
            with openmp("for schedule(dynamic) nowait"):
                for i in range(4 * n):
                    tmp = np.full(n, i)
                    if who == -2 or i == who:
                        raise ValueError("orphaned for nowait", i)
                    s += tmp.sum()
            with openmp("for schedule(static)"):
                for i in range(4 * n):
                    s += 0
        return s
"""

N = 5  # loops run 4 * N iterations


def _expected(name, k):
    """The normal result of the kernel at k threads (out starts zeroed)."""
    iterations = N * sum(range(4 * N))
    if name == "parallel":
        return N * k * (k - 1) // 2
    if name == "nested parallel":
        return N * sum(range(4))
    if name == "sections":
        return N * 3
    if name in ("single", "single nowait", "master", "masked"):
        return N * k
    if name == "critical":
        return k * N * k * (k - 1) // 2
    if name == "named critical":
        return k * 3 * N * k * (k - 1) // 2
    if name == "atomic":
        return 1000003 * N
    if name == "atomic capture":
        return k
    return iterations  # loops, ordered, tasks, taskloop, taskgroup


def _places(name, k):
    """Where the kernel can raise at k threads: the `who` values that raise."""
    if name in ("single", "single nowait", "master"):
        return [0]
    if name == "masked":
        return [1] if k > 1 else []
    if name == "sections":
        return [0, 1, 2]
    if name == "nested parallel":
        return [0, 1, 2, 3]
    if name in ("parallel", "critical", "named critical", "atomic", "atomic capture"):
        return list(range(k))
    return list(range(4 * N))


_exc_kernels = {}


def _kernel(name):
    if name not in _exc_kernels:
        f = compile_source(textwrap.dedent(EXC_KERNELS[name]), "stress").py_func
        options = {"boundscheck": True} if name == "atomic capture" else {}
        _exc_kernels[name] = njit(**options)(f)
    return _exc_kernels[name]


MESSAGES = {"atomic": "integer division by zero", "atomic capture": "index is out of bounds"}


def _error_name(name):
    return {"atomic": ZeroDivisionError, "atomic capture": IndexError}.get(name, ValueError)


@pytest.mark.parametrize("k", [3, 8])
@pytest.mark.parametrize("name", list(EXC_KERNELS))
def test_exceptions_in_every_construct_repeatedly(name, k, team):
    team(k)
    pyomp.omp_set_max_active_levels(2 if name == "nested parallel" else 1)
    f = _kernel(name)
    error = _error_name(name)
    places = _places(name, k)
    f(-1, N, np.zeros(8, dtype=np.int64))
    try:
        with nrt_balanced():
            for rep in range(200):
                if not places:
                    break
                # alternately one place (a different one each time) and every place
                who = places[rep % len(places)] if rep % 2 else ALL
                with pytest.raises(error) as err:
                    f(who, N, np.zeros(8, dtype=np.int64))
                if error is not ValueError:
                    assert str(err.value) == MESSAGES[name]
                    continue
                construct, where = err.value.args
                assert construct == name
                assert where == who or (who == ALL and where in places)
            for _ in range(3):  # the function still works, with exact results
                assert f(-1, N, np.zeros(8, dtype=np.int64)) == _expected(name, k)
    finally:
        pyomp.omp_set_max_active_levels(1)


# --- regressions: bugs the stress runs found ------------------------------------------


@njit
def _check(x):
    if x == 0:
        raise ValueError("check", x)
    return x


@njit
def rest_of_last_block(n, who, out):
    with openmp("parallel for"):  # its trip-count helper is inlined: Numba merges the
        for i in range(n):         # straight-line blocks of the whole function
            out[i] = 0
    with openmp("parallel num_threads(2)"):
        tid = omp_get_thread_num()
        _check(tid - who)
        out[tid] = 1  # in the region's last block, after the call that raised
    return out


@njit
def value_after_the_raise(n, who, out):
    with openmp("parallel for"):
        for i in range(n):
            out[i] = 0
    m = 0
    with openmp("parallel num_threads(2) reduction(max: m)"):
        m = max(m, _check(omp_get_thread_num() - who))  # was: "does not dominate all uses"
    return m


@njit
def rest_of_a_tasks_last_block(n, who, out):
    with openmp("parallel for"):
        for i in range(n):
            out[i] = 0
    with openmp("parallel num_threads(2)"):
        with openmp("single"):
            for i in range(n):
                with openmp("task"):
                    _check(i - who)
                    out[i] = 1
    return out


def test_a_thread_that_raises_does_not_run_the_rest_of_the_region():
    # The pass sent a raising thread to the start of the region's (or task's) last block,
    # which may hold user code after the call that raised: it ran that code (or the
    # module failed to verify when the code used the call's result).
    for _ in range(20):
        out = np.zeros(4, dtype=np.int64)
        with pytest.raises(ValueError, match="check"):
            rest_of_last_block(4, 1, out)
        assert out[1] == 0
        out = np.zeros(8, dtype=np.int64)
        with pytest.raises(ValueError, match="check"):
            rest_of_a_tasks_last_block(8, 5, out)
        assert out[5] == 0
    assert value_after_the_raise(4, -5, np.zeros(4, dtype=np.int64)) == 6
    with pytest.raises(ValueError, match="check"):
        value_after_the_raise(4, 1, np.zeros(4, dtype=np.int64))


@njit
def loop_then_region(n, out):
    with openmp("parallel for"):
        for _i in range(n):
            pass
    with openmp("parallel num_threads(2)"):
        out[omp_get_thread_num()] += 1
    return n


def test_variables_a_region_shares_are_released_after_merged_blocks():
    # Numba merged the second region's blocks into one (enter and exit marker in the same
    # block); the front end then dropped the `del out` after the region: a leak per call.
    out = np.zeros(2, dtype=np.int64)
    loop_then_region(3, out)
    refs = sys.getrefcount(out)
    with nrt_balanced():
        for _ in range(100):
            loop_then_region(3, out)
    assert sys.getrefcount(out) == refs and out.tolist() == [101, 101]


@njit
def everyone_raises_with_values(k, flag, out):
    a = np.ones(3)
    with openmp("parallel num_threads(k)"):
        tid = omp_get_thread_num()
        out[tid] = a[0]
        if flag:
            raise ValueError("thread", tid)  # runtime values: an allocated exception
    return a.sum()


def test_failures_lose_nothing_when_a_region_raises(team):
    # The exception info of threads whose failure was not the one raised was not freed
    # (2 NRT allocations each), and the arrays the region shares (`a`, and the caller's
    # `out`, whose reference count grew by one per call) were not released.
    out = np.zeros(8)
    everyone_raises_with_values(4, False, out)
    refs = sys.getrefcount(out)
    with nrt_balanced():
        for _ in range(100):
            with pytest.raises(ValueError) as err:
                everyone_raises_with_values(4, True, out)
            assert err.value.args[0] == "thread" and err.value.args[1] in range(4)
        assert everyone_raises_with_values(4, False, out) == 3.0
    assert sys.getrefcount(out) == refs


FIRST_COMPILATION_WAITS_FOR_TASKS = textwrap.dedent("""
    from pyomp import njit, openmp

    @njit
    def f(n):
        x = 0
        with openmp("task shared(x)"):
            x = n
        with openmp("taskwait"):
            pass
        return x

    print(f(7))
""")


def test_the_first_compilation_in_a_process_may_wait_for_tasks():
    # pyomp.tasks was imported during that compilation, too late for the typing context
    # to know its intrinsics: "NameError: name 'wait_for_child_tasks' is not defined".
    out = subprocess.run([sys.executable, "-c", FIRST_COMPILATION_WAITS_FOR_TASKS],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.stdout.strip() == "7", out.stderr[-2000:]


RAISE_AFTER_A_BARRIER = textwrap.dedent("""
    import numpy as np
    from pyomp import njit, openmp, omp_get_thread_num

    @njit
    def after_barrier(who):
        with openmp("parallel num_threads(2)"):
            with openmp("barrier"):
                pass
            if omp_get_thread_num() == who:
                raise ValueError("after the barrier")
        return 0

    @njit
    def after_loop(who, out):
        with openmp("parallel num_threads(2)"):
            with openmp("for"):
                for i in range(out.size):
                    out[i] = i
            if omp_get_thread_num() == who:
                raise ValueError("after the loop")
        return 0

    for _ in range(50):
        for call in (lambda: after_barrier(0), lambda: after_loop(0, np.zeros(10))):
            try:
                call()
            except ValueError:
                pass
    print("done")
""")


def test_raising_after_a_barrier_does_not_hang():
    # Was a deadlock on the first call: the thread that raised went to the region's final
    # barrier while its team mates, leaving the barrier before as it raised, saw the
    # failure and skipped the final one.
    # In a subprocess: the hang is on the first call, and blocks the process for good.
    try:
        out = subprocess.run([sys.executable, "-c", RAISE_AFTER_A_BARRIER],
                             capture_output=True, text=True, timeout=20, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("a thread raising after a barrier hangs its team")
    assert out.stdout.strip() == "done", out.stderr[-2000:]


#: A barrier construct, then a raise by `who` (a thread number; -1 nobody, -2 every thread,
#: -3 the last thread), then more barriers; `{construct}` is filled in per test.
RAISE_AROUND_BARRIERS = textwrap.dedent("""
    import numpy as np
    from pyomp import njit, openmp, omp_get_thread_num, omp_get_num_threads

    @njit
    def f(nt, who, out):
        with openmp("parallel num_threads(nt)"):
            t = omp_get_thread_num()
            x = 0
            {construct}
            if who == -2 or t == who or (who == -3 and t == omp_get_num_threads() - 1):
                raise ValueError("after " + "{name}")
            {construct}
            out[t] += 1 + x
        return out.sum()

    for nt in (1, 2, 3, 8):
        expected = f(nt, -1, np.zeros(8))
        for _ in range(10):
            for who in (0, nt - 1, -2, -3):
                try:
                    f(nt, who, np.zeros(8))
                except ValueError:
                    pass
                else:
                    raise SystemExit(f"nt={{nt}} who={{who}}: no exception")
        # hot teams are reused: their barriers still count right
        for _ in range(50):
            got = f(nt, -1, np.zeros(8))
            assert got == expected, (nt, got, expected)
    print("done")
""")

AROUND = {
    "barrier": 'with openmp("barrier"):\n                pass',
    "for": 'with openmp("for"):\n                for i in range(out.size):\n'
           '                    out[i] += 0',
    "single": 'with openmp("single"):\n                out[0] += 0',
    "single copyprivate": 'with openmp("single copyprivate(x)"):\n                x = 1',
    "sections": 'with openmp("sections"):\n                with openmp("section"):\n'
                '                    out[0] += 0\n                with openmp("section"):\n'
                '                    out[1] += 0',
}


@pytest.mark.parametrize("name", list(AROUND))
def test_raising_between_barriers_by_any_thread_does_not_hang(name):
    # One thread (the first, the last) or all of them raise between two barrier constructs
    # at 1, 2, 3 and 8 threads: all leave, the exception comes out, later calls are exact.
    src = RAISE_AROUND_BARRIERS.format(construct=AROUND[name], name=name)
    try:
        out = subprocess.run([sys.executable, "-W", "ignore", "-c", src],
                             capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"a thread raising around `{name}` hangs its team")
    assert out.stdout.strip() == "done", out.stderr[-2000:]


THREADS_ONE_AFTER_ANOTHER = textwrap.dedent("""
    import threading

    from pyomp import njit
    from test_stress import _tasks  # (tests/ is on the path: see the test)

    tasks_on = njit(nogil=True)(_tasks)

    def tasks(n):
        return tasks_on(2, n)

    def run():
        for _ in range(20):
            assert tasks(50) == 1225

    for _ in range(10):  # one thread at a time, each ends before the next starts
        t = threading.Thread(target=run)
        t.start()
        t.join()
    for _ in range(5):  # four at once, then the main thread's tasks at several team sizes
        ts = [threading.Thread(target=run) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        for k in (1, 2, 3, 8, 16):
            for _ in range(10):
                assert tasks_on(k, 300) == 300 * 299 // 2
    print("done")
""")


def test_tasks_in_python_threads_that_come_and_go():
    # LLVM libomp (19, 21; the same in C) frees an ending root thread's task memory while
    # its former workers still hold some of it: the next task region crashed (a segfault,
    # or `Assertion failure at kmp_alloc.cpp(2236)`). pyomp allocates the tasks of such
    # threads outside libomp's per-thread lists (runtime.rs, pyomp_task_alloc_size).
    try:
        out = subprocess.run([sys.executable, "-c", THREADS_ONE_AFTER_ANOTHER],
                             capture_output=True, text=True, timeout=120, check=False,
                             env=dict(os.environ, PYTHONPATH=str(Path(__file__).parent)))
    except subprocess.TimeoutExpired:
        pytest.fail("hangs")
    assert out.returncode == 0 and out.stdout.strip() == "done", out.stderr[-2000:]


@njit
def _fresh_array_then_raise(fail):
    with openmp("parallel num_threads(2)"):
        with openmp("master"):
            b = np.ones(3)  # no value before the region: read after it
        with openmp("barrier"):
            pass
        if fail and omp_get_thread_num() == omp_get_num_threads() - 1:
            raise ValueError("boom")
    return b.sum()


def test_an_array_the_region_creates_is_released_when_it_raises():
    assert _fresh_array_then_raise(False) == 3.0
    with nrt_balanced():
        for _ in range(20):
            with pytest.raises(ValueError, match="boom"):
                _fresh_array_then_raise(True)
    assert _fresh_array_then_raise(False) == 3.0


#: Orphaned constructs: `{construct}` sits in `helper`, which the region calls three times;
#: `who` raises between the calls (a thread number; -2 every thread, -3 the last thread) or
#: inside the helper (100 + a thread number), at 1, 2, 3 and 8 threads. `{lexical}` gives
#: the region a barrier of its own (then a thread that raises meets its team at the
#: region's final barrier) or not (then the team's gate decides, team_frame.rs).
RAISE_AROUND_ORPHANED = textwrap.dedent("""
    import numpy as np
    from numba.core.runtime import _nrt_python, rtsys
    from pyomp import njit, openmp, omp_get_thread_num, omp_get_num_threads

    @njit
    def helper(out, t, who):
        {construct}
        if t == who - 100:
            raise ValueError("in the helper")

    @njit
    def f(nt, who, out):
        with openmp("parallel num_threads(nt) firstprivate(out)"):
            t = omp_get_thread_num()
            {lexical}
            helper(out, t, who)
            if who == -2 or t == who or (who == -3 and t == omp_get_num_threads() - 1):
                raise ValueError("between")
            helper(out, t, who)
            helper(out, t, who)
            out[t] += 1
        return 0

    @njit
    def g(nt, out):
        with openmp("parallel num_threads(nt)"):
            t = omp_get_thread_num()
            helper(out, t, -1)
            helper(out, t, -1)
            out[t] += 1
        return out.sum()

    _nrt_python.memsys_enable_stats()
    for nt in (1, 2, 3, 8):
        f(nt, -1, np.zeros(8))
        before = rtsys.get_allocation_stats()
        for _ in range(10):
            for who in (0, nt - 1, -2, -3, 100, 100 + nt - 1):
                try:
                    f(nt, who, np.zeros(8))
                except ValueError:
                    pass
                else:
                    raise SystemExit(f"nt={{nt}} who={{who}}: no exception")
        after = rtsys.get_allocation_stats()
        # a thread told to leave `helper` releases its reference to `out`, and every
        # thread's firstprivate copy of it is released, left early or not
        assert after.alloc - before.alloc == after.free - before.free, (nt, after, before)
        # the team's later runs are exact
        for _ in range(50):
            got = g(nt, np.zeros(8))
            assert got == nt, (nt, got)
    print("done")
""")

ORPHANED = {
    "barrier": 'with openmp("barrier"):\n            pass',
    "for": 'with openmp("for"):\n            for i in range(out.size):\n'
           '                out[i] += 0',
    # (reads only: with nowait a thread may still run the loop while a team mate, past
    # it, updates its own element; a `+= 0` here lost that update now and then)
    "for nowait": 'with openmp("for nowait"):\n            for i in range(out.size):\n'
                  '                if out[i] < -1.0:\n                    out[i] = 0.0',
    "single": 'with openmp("single"):\n            out[0] += 0',
    "single copyprivate": 'x = 0\n    with openmp("single copyprivate(x)"):\n'
                          '        x = 1\n    out[t] += x - 1',
    "sections": 'with openmp("sections"):\n            with openmp("section"):\n'
                '                out[0] += 0\n            with openmp("section"):\n'
                '                out[1] += 0',
}


@pytest.mark.parametrize("lexical", [False, True], ids=["gate", "final-barrier"])
@pytest.mark.parametrize("name", list(ORPHANED))
def test_raising_around_orphaned_constructs_does_not_hang(name, lexical):
    # Was a hang: barriers in a called function were not counted, so a thread that raised
    # met its team mates at the wrong barrier (or at none).
    lex = 'with openmp("barrier"):\n                pass' if lexical else "x = 0"
    src = RAISE_AROUND_ORPHANED.format(construct=ORPHANED[name], lexical=lex)
    try:
        out = subprocess.run([sys.executable, "-W", "ignore", "-c", src],
                             capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"a thread raising around an orphaned `{name}` hangs its team")
    assert out.stdout.strip() == "done", out.stderr[-2000:]


@njit
def _private_arrays_then_raise(nt, who):
    a = np.zeros(4)
    s = np.zeros(1)
    with openmp("parallel num_threads(nt) firstprivate(a) reduction(+:s)"):
        t = omp_get_thread_num()
        if t == who:
            raise ValueError("before the barrier")
        with openmp("barrier"):
            pass
        s[0] += 1 + a[0]
    return s[0]


@njit
def _region_array_then_raise(nt, who):
    s = 0.0
    with openmp("parallel num_threads(nt) reduction(+:s)"):
        t = omp_get_thread_num()
        tmp = np.ones(3)
        if t == who:
            raise ValueError("before the barrier")
        with openmp("barrier"):
            pass
        s += tmp[0]
    return s


@pytest.mark.parametrize("kernel", [_private_arrays_then_raise, _region_array_then_raise],
                         ids=["private copies", "the region's own arrays"])
@pytest.mark.parametrize("k", [1, 2, 3, 8])
def test_threads_that_leave_early_release_what_they_hold(kernel, k):
    # The team mates of a thread that raised before a barrier leave after it, past the
    # region's end code and past Numba's `del`s: their reference to the firstprivate `a`,
    # their reduction copy of `s` and their own `tmp` were never released.
    assert kernel(k, -1) == k
    with nrt_balanced():
        for who in (0, k - 1):
            for _ in range(10):
                with pytest.raises(ValueError, match="before the barrier"):
                    kernel(k, who)
        assert kernel(k, -1) == k


@njit
def _one_thread_constructs(out):
    with openmp("single"):
        out[0] += 1
    with openmp("master"):
        out[1] += 1
    with openmp("sections"):
        with openmp("section"):
            out[2] += 1
        with openmp("section"):
            out[3] += 1


@njit
def _calls_one_thread_constructs(out):
    with openmp("parallel"):
        tmp = np.ones(2)
        with openmp("single"):
            out[4] += tmp[0]
        _one_thread_constructs(out)
    return out


@pytest.mark.parametrize("k", [1, 3, 8])
def test_one_thread_constructs_release_what_every_thread_holds(k, team):
    # Numba releases a variable at its last use; inside a `single` (or `master`, a
    # `section`) only one thread got there: every other thread of the team kept its
    # reference to the function's argument (or its own array) for good.
    team(k)
    assert _calls_one_thread_constructs(np.zeros(5)).tolist() == [1, 1, 1, 1, 1]
    with nrt_balanced():
        for _ in range(10):
            _calls_one_thread_constructs(np.zeros(5))


#: An orphaned dynamic (or guided) loop in which a thread raises, then the same loop again
#: in later runs of the region (hot teams reuse their threads).
ORPHANED_DYNAMIC_LOOP_RAISES = textwrap.dedent("""
    import numpy as np
    from pyomp import njit, openmp

    @njit
    def helper(out, who):
        with openmp("for schedule({schedule}){ordered}"):
            for i in range(out.size):
                if i == who:
                    raise ValueError("in the loop")
                {cancellation}
                out[i] += 1

    @njit
    def f(nt, out, who):
        with openmp("parallel num_threads(nt)"):
            helper(out, who)
            helper(out, -1)
        return out.sum()

    for nt in (1, 2, 3, 8):
        for k in range(100):
            try:
                f(nt, np.zeros(40), 5)
            except ValueError:
                pass
            else:
                raise SystemExit("no exception")
            got = f(nt, np.zeros(40), -1)
            assert got == 80, (nt, k, got)
    print("done")
""")


@pytest.mark.parametrize("schedule", ["dynamic, 1", "guided", "dynamic, 7",
                                      "dynamic, 1 cancellable", "static cancellable",
                                      "dynamic ordered", "static ordered", "runtime"])
def test_orphaned_dynamic_loops_survive_a_raise(schedule):
    # Was a hang: orphaned loops ran on libomp's dispatch buffers, which outlive the
    # region; the one a raising thread never finished (the next loop, which it skipped)
    # made a later run's loop wait for it forever. They now run on pyomp's dispatcher,
    # with their state in the region (team_frame.rs). A cancellable loop (one with a
    # cancellation point) is dispatched whatever its schedule, and ended by libomp's
    # cancellation barrier, which is counted too.
    # An ordered loop's `ordered` blocks take turns kept in the region too.
    cancellation = ""
    if schedule.endswith(" cancellable"):
        schedule = schedule.removesuffix(" cancellable")
        cancellation = 'with openmp("cancellation point for"):\n                    pass'
    ordered = ""
    if schedule.endswith(" ordered"):
        schedule, ordered = schedule.removesuffix(" ordered"), " ordered"
        cancellation = 'with openmp("ordered"):\n                    out[i] += 0'
    src = ORPHANED_DYNAMIC_LOOP_RAISES.format(schedule=schedule, cancellation=cancellation,
                                              ordered=ordered)
    try:
        out = subprocess.run([sys.executable, "-W", "ignore", "-c", src],
                             capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"an orphaned schedule({schedule}) loop hangs after a raise")
    assert out.stdout.strip() == "done", out.stderr[-2000:]


@pytest.mark.parametrize("case", ["try", "nowait"])
def test_leaving_is_sticky(case):
    # "try": a function between the region and an orphaned barrier catches the leave
    # status and goes on; "nowait": a thread raises late in a `for nowait` while its team
    # mates already wait at an orphaned barrier after the loop. Either thread must not
    # wait again where its team mates no longer come.
    script = Path(__file__).with_name("orphan_edge_cases.py")
    try:
        out = subprocess.run([sys.executable, "-W", "ignore", str(script), case],
                             capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{case}: the team hangs")
    assert out.stdout.strip() == "done", out.stderr[-2000:]


@njit
def _hold_first_chunk(i, owner, seen):
    """Iteration 0 waits (at most 20 s) until another thread has run an iteration. With the
    team size right, the guided loop's first chunk is half the loop and the other thread
    claims the next one while iteration 0's owner waits; with a team size of 1 the first
    chunk would be the whole loop and nobody else ever runs one (the wait times out)."""
    me = omp_get_thread_num()
    owner[i] = me
    if i == 0:
        t0 = omp_get_wtime()
        other = -1
        while other < 0 and omp_get_wtime() - t0 < 20.0:
            with openmp("atomic read"):
                other = seen[1 - me]
    else:
        with openmp("atomic write"):
            seen[me] = i


@njit
def _guided_team(n, owner, seen):
    with openmp("parallel num_threads(2)"):
        with openmp("for schedule(guided)"):
            for i in range(n):
                _hold_first_chunk(i, owner, seen)
    return owner


@njit
def _guided_loop(n, owner, seen):
    with openmp("for schedule(guided)"):
        for i in range(n):
            _hold_first_chunk(i, owner, seen)


@njit
def _guided_orphaned(n, owner, seen):
    with openmp("parallel num_threads(2)"):
        _guided_loop(n, owner, seen)
    return owner


@pytest.mark.parametrize("fn", [_guided_team, _guided_orphaned], ids=["team", "orphaned"])
def test_guided_loops_share_out_their_iterations(fn):
    # A guided chunk is a share of what is left per thread: with the team size taken as 1
    # the first thread to ask got the whole loop. Whoever takes iteration 0 holds its chunk
    # until the other thread has run an iteration, so the second chunk is the other
    # thread's whatever the machine's load: what the schedule guarantees, not a race.
    owner = fn(1000, np.full(1000, -1), np.full(2, -1))
    assert (owner >= 0).all()
    first = owner[0]
    # the first chunk is half the loop (1000 / 2 threads), all of it run by its claimer
    assert (owner[:500] == first).all()
    # the next chunk (500 / 2 = 250 iterations) went to the other thread
    assert (owner[500:750] == 1 - first).all()


@njit
def _runtime_loop(owner):
    with openmp("for schedule(runtime)"):
        for i in range(owner.size):
            owner[i] = omp_get_thread_num()


@njit
def _calls_runtime_loop(owner):
    with openmp("parallel num_threads(3)"):
        _runtime_loop(owner)
    return owner


def test_orphaned_runtime_loops_follow_the_run_sched_icv():
    # An orphaned schedule(runtime) loop on pyomp's dispatcher reads the run-sched ICV:
    # static with chunk 1 deals iteration i to thread i % 3.
    from pyomp.runtime.api import omp_sched_dynamic, omp_sched_static
    try:
        pyomp.omp_set_schedule(omp_sched_static, 1)
        assert _calls_runtime_loop(np.full(12, -1)).tolist() == [0, 1, 2] * 4
        pyomp.omp_set_schedule(omp_sched_static, 4)
        assert _calls_runtime_loop(np.full(12, -1)).tolist() == [0] * 4 + [1] * 4 + [2] * 4
    finally:
        pyomp.omp_set_schedule(omp_sched_dynamic, 1)
        pyomp.omp_set_schedule(omp_sched_static, 0)
