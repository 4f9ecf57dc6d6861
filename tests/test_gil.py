"""The GIL and regions: the first region of a call releases the GIL when the calling thread
holds it and leaves it released until the function returns; a region inside another region
(a team of more than one thread) takes it back after its join.
So every thread (the master included) takes it only where
Numba itself does (print, objmode, np.random seeding, prange launches), and Python threads
calling pyomp functions run their regions at the same time.

Oracles: the serial result, serial Numba (np.random's per-thread state), Python's own
threading. Whatever must hang if the GIL were kept runs in a subprocess with a timeout, so a
regression fails instead of blocking the suite."""

import re
import signal
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
from helpers import in_lasting_python_threads
from pyomp import (
    njit,
    omp_get_num_threads,
    omp_get_thread_num,
    omp_get_wtime,
    omp_init_lock,
    omp_set_lock,
    omp_unset_lock,
    openmp,
)

THREADS = (1, 2, 3, 8)


def run_script(body, timeout=120):
    """Runs `body` (after pyomp's imports) in a fresh interpreter; fails on a hang."""
    src = textwrap.dedent("""
        import numpy as np, numba
        from pyomp import njit, openmp, omp_get_thread_num, omp_get_num_threads
    """) + textwrap.dedent(body)
    try:
        return subprocess.run([sys.executable, "-W", "ignore", "-c", src],
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("the program hangs (a thread waits for the GIL its team mate holds)")


@pytest.mark.parametrize("k", THREADS)
def test_hello_world_prints_one_line_per_thread(k):
    out = run_script(f"""
        @njit
        def hello():
            with openmp("parallel num_threads({k})"):
                print("hello from", omp_get_thread_num(), "of", omp_get_num_threads())
        hello()
        print("done")
    """)
    assert out.returncode == 0, out.stderr[-2000:]
    # print writes its items one by one, and a team mate's line may come between them (as
    # with several Python threads): count the items, not the lines.
    assert out.stdout.count("hello from") == k
    assert out.stdout.count(f"of {k}") == k
    numbers = sorted(int(t) for t in re.findall(r"\b\d+\b", out.stdout.replace(f"of {k}", "")))
    assert numbers == list(range(k))
    assert out.stdout.rstrip().endswith("done")


def test_a_team_of_one_and_a_bigger_team_in_a_function_it_calls():
    # The outer team of one released the GIL (once per call); a region in a function it
    # calls forks a real team, whose threads print (taking the GIL) without a hang.
    out = run_script("""
        @njit
        def inner():
            with openmp("parallel num_threads(3)"):
                print("inner", omp_get_thread_num())
        @njit
        def outer():
            with openmp("parallel num_threads(1)"):
                print("outer", omp_get_thread_num())
                inner()
        outer()
    """)
    assert out.returncode == 0, out.stderr[-2000:]
    assert sorted(out.stdout.splitlines()) == ["inner 0", "inner 1", "inner 2", "outer 0"]


def test_a_team_of_one_with_a_bigger_team_nested_in_the_same_function():
    # The nested fork checks too (a hang CI met when an outer team of one kept the GIL:
    # the inner team's second thread waited for it forever at its print).
    out = run_script("""
        @njit
        def nested(k):
            with openmp("parallel num_threads(1)"):
                with openmp("parallel num_threads(k)"):
                    print("inner", omp_get_thread_num())
        nested(3)
    """)
    assert out.returncode == 0, out.stderr[-2000:]
    assert sorted(out.stdout.splitlines()) == ["inner 0", "inner 1", "inner 2"]


def test_print_in_a_worksharing_loop_and_in_critical():
    out = run_script("""
        @njit
        def show(n):
            with openmp("parallel for num_threads(3) schedule(dynamic)"):
                for i in range(n):
                    print("item", i)
            with openmp("parallel num_threads(3)"):
                with openmp("critical"):
                    print("critical", omp_get_thread_num())
        show(9)
    """)
    assert out.returncode == 0, out.stderr[-2000:]
    assert sorted(int(x) for x in re.findall(r"item (\d+)", out.stdout)) == list(range(9))
    assert sorted(int(x) for x in re.findall(r"critical (\d+)", out.stdout)) == [0, 1, 2]


@njit
def _seeded_draws(out):
    with openmp("parallel"):
        t = omp_get_thread_num()
        np.random.seed(t)
        out[t, 0] = np.random.random()
        out[t, 1] = np.random.randint(0, 1000)
    return out


@numba.njit
def _serial_draws(seed):
    np.random.seed(seed)
    return np.random.random(), np.random.randint(0, 1000)


def test_np_random_seeded_per_thread(threads):
    # Numba keeps np.random's state per thread: each thread's draws are those of serial
    # Numba with the same seed.
    out = _seeded_draws(np.zeros((threads, 2)))
    for t in range(threads):
        a, b = _serial_draws(t)
        assert out[t, 0] == a and out[t, 1] == b


@numba.njit(parallel=True)
def _prange_sum(a):
    s = 0.0
    for i in numba.prange(a.size):
        s += a[i]
    return s


@njit
def _prange_in_loop(a, out):
    with openmp("parallel for schedule(dynamic)"):
        for i in range(out.size):
            out[i] = _prange_sum(a) + i
    return out


def test_prange_function_called_in_a_parallel_for(threads):
    a = np.arange(1000.0)
    out = _prange_in_loop(a, np.zeros(12))
    assert out.tolist() == [a.sum() + i for i in range(12)]


def test_prange_called_in_a_region_runs_serially_on_any_threading_layer():
    # Numba's workqueue layer aborts the process on concurrent launches: a prange function
    # that a region calls runs on the calling thread instead (nested parallelism off).
    import os
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue")
    src = textwrap.dedent("""
        import numpy as np, numba
        from pyomp import njit, openmp
        @numba.njit(parallel=True)
        def total(a):
            s = 0.0
            for i in numba.prange(a.size):
                s += a[i]
            return s
        @njit
        def team(a, out):
            with openmp("parallel for num_threads(3) schedule(dynamic)"):
                for i in range(out.size):
                    out[i] = total(a) + i
            return out
        a = np.arange(1000.0)
        print(total(a), team(a, np.zeros(9)).tolist(), numba.threading_layer())
    """)
    try:
        out = subprocess.run([sys.executable, "-W", "ignore", "-c", src], env=env,
                             capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("a prange call in a region hangs")
    assert out.returncode == 0, out.stderr[-2000:]
    total, rest = out.stdout.split(" ", 1)
    assert float(total) == 499500.0
    assert rest.strip() == f"{[499500.0 + i for i in range(9)]} workqueue"


@njit
def _nogil_like(out):
    with openmp("parallel"):
        out[omp_get_thread_num()] = 1
    return out


def test_regions_in_nogil_functions_and_from_compiled_callers(threads):
    # nogil=True: the caller no longer holds the GIL at the fork (nothing to release)
    f = njit(nogil=True)(_nogil_like.py_func)
    assert f(np.zeros(threads)).tolist() == [1] * threads

    @numba.njit
    def caller(out):  # plain Numba calling pyomp code: the GIL is held at the fork
        return _nogil_like(out)

    assert caller(np.zeros(threads)).tolist() == [1] * threads


# --- several Python threads calling pyomp functions ------------------------------------

@njit
def _wait_for_the_other_caller(me, started, out):
    """Caller `me`'s region marks itself started, then waits (at most 20 s) until the other
    caller's region started too: both regions run at the same time only if neither caller
    kept the GIL through its region."""
    with openmp("parallel num_threads(2)"):
        if omp_get_thread_num() == 0:
            with openmp("atomic write"):
                started[me] = 1
            t0 = omp_get_wtime()
            seen = 0
            while seen == 0 and omp_get_wtime() - t0 < 20.0:
                with openmp("atomic read"):
                    seen = started[1 - me]
            out[me] = seen
    return out


def test_python_threads_run_their_regions_at_once():
    started = np.zeros(2, np.int64)
    out = np.zeros(2, np.int64)
    _wait_for_the_other_caller(0, np.ones(2, np.int64), np.zeros(2, np.int64))  # compile
    in_lasting_python_threads(lambda me: _wait_for_the_other_caller(me, started, out), 2)
    assert out.tolist() == [1, 1], "a caller's region ran while the other held the GIL"


@njit
def _count_in_named_critical(n, total):
    with openmp("parallel for num_threads(3)"):
        for _ in range(n):
            with openmp("critical(pyomp_test_callers)"):
                total[0] += 1
    return total


@njit
def _count_under_lock(n, lock, total):
    with openmp("parallel for num_threads(3)"):
        for _ in range(n):
            omp_set_lock(lock)
            total[0] += 1
            omp_unset_lock(lock)
    return total


@njit
def _tasks_per_caller(n, out):
    with openmp("parallel num_threads(3)"):
        with openmp("single"):
            for i in range(n):
                with openmp("task firstprivate(i)"):
                    out[i] = i * i
    return out


@njit
def _thread_numbers(out):
    with openmp("parallel num_threads(3)"):
        out[omp_get_thread_num()] = omp_get_num_threads()
    return out


def test_concurrent_callers_share_named_criticals_and_locks():
    total = np.zeros(1, np.int64)
    in_lasting_python_threads(lambda i: _count_in_named_critical(500, total))
    assert total[0] == 4 * 500
    lock, total = omp_init_lock(), np.zeros(1, np.int64)
    in_lasting_python_threads(lambda i: _count_under_lock(500, lock, total))
    assert total[0] == 4 * 500


def test_concurrent_callers_have_their_own_teams_and_tasks():
    results = [None] * 4

    def call(i):
        results[i] = (_tasks_per_caller(50, np.zeros(50, np.int64)).tolist(),
                      _thread_numbers(np.zeros(3, np.int64)).tolist())

    in_lasting_python_threads(call)
    for tasks, team in results:
        assert tasks == [i * i for i in range(50)]
        assert team == [3, 3, 3]


@njit
def _threadprivate_per_caller(seed, out):
    x = seed
    with openmp("threadprivate(x)"):
        pass
    with openmp("parallel num_threads(3) copyin(x)"):
        x += omp_get_thread_num()
    with openmp("parallel num_threads(3)"):
        out[omp_get_thread_num()] = x  # each thread's copy, kept from the last region
    return out


def test_concurrent_callers_keep_their_own_threadprivate_copies():
    results = [None] * 4

    def call(i):
        for _ in range(20):
            results[i] = _threadprivate_per_caller(100 * i, np.zeros(3, np.int64)).tolist()
            if results[i] != [100 * i, 100 * i + 1, 100 * i + 2]:
                return

    in_lasting_python_threads(call)
    assert results == [[100 * i + t for t in range(3)] for i in range(4)]


def test_ctrl_c_during_a_region_raises_after_it():
    # The region runs without the GIL, as Numba's nogil code does: SIGINT sets Python's
    # flag and KeyboardInterrupt is raised once the call returns; nothing hangs.
    proc = subprocess.Popen([sys.executable, "-W", "ignore", "-c", textwrap.dedent("""
        import signal, sys
        # Python leaves SIGINT ignored when it starts with it ignored (a CI job run in the
        # background of a non-interactive shell): take Python's own handler, as a terminal
        # session has it
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from pyomp import njit, openmp, omp_get_wtime
        @njit
        def spin(seconds):
            s = 0
            with openmp("parallel num_threads(2) reduction(+:s)"):
                t0 = omp_get_wtime()
                while omp_get_wtime() - t0 < seconds:
                    s += 1
            return s
        spin(0.01)
        print("running", flush=True)
        spin(3.0)
        print("returned", flush=True)
    """)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "running"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("Ctrl-C during a region hangs the process")
    seen = f"rc {proc.returncode}\nstdout: {out!r}\nstderr: {err[-2000:]}"
    assert proc.returncode != 0, seen
    assert "KeyboardInterrupt" in err, seen
    assert "returned" not in out, seen


# --- the GIL a function's own region released stays released until it returns ----------

def _gil_check():
    """PyGILState_Check as a plain C function pointer (nopython calls it directly)."""
    import ctypes
    address = ctypes.cast(ctypes.pythonapi.PyGILState_Check, ctypes.c_void_p).value
    return ctypes.CFUNCTYPE(ctypes.c_int)(address)


_held = _gil_check()


@njit
def _held_around_regions(flags, team, fail):
    flags[0] = _held()
    for _r in range(3):
        with openmp("parallel num_threads(team)"):
            flags[2 + omp_get_thread_num()] += 1
        flags[1] = _held()  # serial code between regions
    with numba.objmode():  # takes the GIL itself
        flags[2 + team] = 7
    if fail:
        raise ValueError("after the regions")
    return flags


@pytest.mark.parametrize("team", [1, 2, 3, 8])
def test_the_gil_is_released_once_per_call_and_held_again_after_it(team):
    flags = np.zeros(3 + team, np.int64)
    _held_around_regions(flags, team, False)
    # called from Python: held at the start; after the first region the serial code runs
    # without it (as a nogil=True function's), whatever the team's size
    assert flags[0] == 1 and flags[1] == 0
    assert flags[2:2 + team].tolist() == [3] * team and flags[2 + team] == 7
    # back in Python, with the GIL: the function can raise, and runs again
    with pytest.raises(ValueError, match="after the regions"):
        _held_around_regions(flags, team, True)
    assert _held_around_regions(np.zeros(3 + team, np.int64), team, False)[0] == 1
