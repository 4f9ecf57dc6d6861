"""Explicit tasks (first slice of the tasking issue): `task` with the OpenMP data-sharing
defaults and clauses, `taskwait`, `taskgroup`, `taskyield`, `if`, `final`, `priority`,
`depend` on variables and array elements, recursion (fib) in functions with tasks
outside any region of their own, exceptions from tasks, arrays captured by tasks kept
alive and released."""

import textwrap

import numpy as np
import pyomp
import pytest
from helpers import compile_source
from numba.core.runtime import _nrt_python, rtsys
from pyomp import njit, omp_get_thread_num, omp_in_final, openmp


@njit
def squares(n, out, who):
    with openmp("parallel"):
        with openmp("single"):
            for i in range(n):
                with openmp("task"):  # i is firstprivate: captured at creation
                    out[i] = i * i
                    who[i] = omp_get_thread_num()
            with openmp("taskwait"):
                pass
    return out


def test_tasks_in_single_run_every_body_once(threads):
    out, who = np.zeros(200), np.full(200, -1, dtype=np.int64)
    assert (squares(200, out, who) == np.arange(200) ** 2).all()
    assert set(who.tolist()) <= set(range(threads))


@njit
def fib_serial(n):
    if n < 2:
        return n
    return fib_serial(n - 1) + fib_serial(n - 2)


@njit
def fib(n):
    if n < 12:
        return fib_serial(n)
    x = 0
    y = 0
    with openmp("task shared(x)"):
        x = fib(n - 1)
    with openmp("task shared(y)"):
        y = fib(n - 2)
    with openmp("taskwait"):
        pass
    return x + y


@njit
def run_fib(n):
    r = 0
    with openmp("parallel shared(r)"):
        with openmp("single"):
            r = fib(n)
    return r


def test_recursive_fib_with_tasks(threads):
    for _ in range(5):
        assert run_fib(22) == 17711


@njit
def shared_and_firstprivate(n):
    total = 0
    seen = np.zeros(n, dtype=np.int64)
    with openmp("parallel shared(total)"):
        with openmp("single"):
            k = 100
            for i in range(n):
                with openmp("task"):  # total shared (as in the region), k firstprivate
                    seen[i] = k + i
                    with openmp("atomic"):
                        total += 1
                k += 1  # changes after creation do not reach the task
    return total, seen


def test_task_data_sharing_defaults(threads):
    total, seen = shared_and_firstprivate(50)
    assert total == 50
    assert seen.tolist() == [100 + 2 * i for i in range(50)]


@njit
def groups(n, out):
    with openmp("parallel"):
        with openmp("single"):
            with openmp("taskgroup"):
                for i in range(n):
                    with openmp("task"):
                        out[i] = 1
                    with openmp("taskyield"):
                        pass
            # the taskgroup waited for its tasks
            done = 0
            for i in range(n):
                done += out[i]
            out[n] = done
    return out


def test_taskgroup_waits_for_its_tasks(threads):
    assert groups(40, np.zeros(41))[40] == 40


@njit
def undeferred(n, flag, out):
    with openmp("parallel"):
        with openmp("single"):
            for i in range(n):
                with openmp("task if(flag)"):
                    out[i] = omp_get_thread_num() + 1
    return out


def test_if_false_runs_the_task_at_once(threads):
    out = undeferred(30, False, np.zeros(30))
    assert len(set(out.tolist())) == 1  # all on the thread running the single
    assert (undeferred(30, True, np.zeros(30)) > 0).all()


@njit
def raising_tasks(n, bad, out):
    with openmp("parallel"):
        with openmp("single"):
            for i in range(n):
                with openmp("task"):
                    if i == bad:
                        raise ValueError("task failed", i)
                    out[i] = i
    return out


@njit
def orphan_tasks(n, bad, out):
    for i in range(n):
        with openmp("task"):
            if i == bad:
                raise KeyError("orphan task", i)
            out[i] = 2 * i
    return out


def test_exceptions_in_tasks_propagate(threads):
    for _ in range(3):
        with pytest.raises(ValueError, match="task failed"):
            raising_tasks(30, 11, np.zeros(30))
        assert (raising_tasks(30, -1, np.zeros(30)) == np.arange(30)).all()
        with pytest.raises(KeyError, match="orphan task"):
            orphan_tasks(30, 4, np.zeros(30))
        assert (orphan_tasks(30, -1, np.zeros(30)) == 2 * np.arange(30)).all()


@njit
def captured_arrays(n):
    total = np.zeros(1)
    with openmp("parallel"):
        with openmp("single"):
            for i in range(n):
                a = np.full(3, float(i))  # a new array each time, captured by the task
                with openmp("task"):
                    with openmp("atomic"):
                        total[0] += a.sum()
    return total[0]


def test_captured_arrays_stay_alive_and_are_released(threads):
    assert captured_arrays(10) == 3 * sum(range(10))
    _nrt_python.memsys_enable_stats()
    before = rtsys.get_allocation_stats()
    assert captured_arrays(300) == 3 * sum(range(300))
    after = rtsys.get_allocation_stats()
    assert after.alloc - before.alloc == after.free - before.free


@pytest.mark.parametrize("clause", ["affinity(x)", "detach(x)"])
def test_task_clauses_not_lowered_yet_are_rejected(clause):
    f = compile_source(textwrap.dedent(f"""
        def f(x):
            with openmp("task {clause}"):
                x += 1
            return x
    """), "tasks")
    with pytest.raises(pyomp.errors.UnsupportedConstructError) as err:
        f(1)
    assert f"'{clause.split('(')[0]}' clause of 'task' is not implemented" in str(err.value)


@njit
def dependent_chain(n, log):
    x = 0
    pos = np.zeros(1, dtype=np.int64)
    with openmp("parallel"):
        with openmp("single"):
            for i in range(n):
                with openmp("task depend(inout: x) shared(x)"):
                    x = x * 2 + 1
                    log[pos[0]] = i
                    pos[0] += 1
    return x


def test_inout_dependences_on_a_variable_serialise_in_creation_order(threads):
    log = np.zeros(40, dtype=np.int64)
    assert dependent_chain(40, log) == 2 ** 40 - 1
    assert log.tolist() == list(range(40))


@njit
def element_dependences(n, a, b):
    with openmp("parallel"):
        with openmp("single"):
            for i in range(n):
                with openmp("task depend(out: a[i % 4])"):
                    a[i % 4] = a[i % 4] * 3 + i
                with openmp("task depend(in: a[i % 4]) depend(mutexinoutset: b[0])"):
                    b[0] += a[i % 4]
            with openmp("taskwait depend(in: a[0])"):
                pass
            b[1] = a[0]  # the tasks on a[0] are done
    return a, b


def test_dependences_on_array_elements(threads):
    n = 40
    a, b = element_dependences(n, np.zeros(4, dtype=np.int64), np.zeros(2, dtype=np.int64))
    ea, total = np.zeros(4, dtype=np.int64), 0
    for i in range(n):
        ea[i % 4] = ea[i % 4] * 3 + i
        total += ea[i % 4]
    assert (a == ea).all() and b[0] == total and b[1] == ea[0]


@njit
def finals(flag):
    seen = np.full(3, -1, dtype=np.int64)
    with openmp("parallel"):
        with openmp("single"):
            with openmp("task final(flag) priority(2) mergeable untied"):
                seen[0] = omp_in_final()
                with openmp("task"):
                    seen[1] = omp_in_final()
    seen[2] = omp_in_final()
    return seen


def test_final_tasks_and_their_descendants_are_final(threads):
    assert finals(True).tolist() == [1, 1, 0]
    assert finals(False).tolist() == [0, 0, 0]


@njit
def tasks_in_a_loop_and_nested(n, out):
    with openmp("parallel"):
        with openmp("for schedule(dynamic, 2)"):
            for i in range(n):
                with openmp("task"):  # tasks from a worksharing loop ...
                    with openmp("task"):  # ... creating tasks
                        out[i] += 1
                    out[n + i] += 1
    return out


def test_tasks_inside_worksharing_loops_and_tasks_creating_tasks(threads):
    out = tasks_in_a_loop_and_nested(100, np.zeros(200))
    assert (out == 1).all()


@njit
def tasks_in_nested_regions(n, out):
    with openmp("parallel num_threads(2)"):
        with openmp("parallel num_threads(2) shared(out)"):
            with openmp("single"):
                for i in range(n):
                    with openmp("task"):
                        with openmp("atomic"):
                            out[i] += 1
    return out


def test_tasks_in_nested_parallel_regions(threads):
    out = tasks_in_nested_regions(50, np.zeros(50))
    assert (out == 2).all()  # each of the two outer threads' inner team ran all tasks


@njit
def many_tasks(n):
    count = np.zeros(1, dtype=np.int64)
    with openmp("parallel"):
        with openmp("single"):
            for _i in range(n):
                with openmp("task"):
                    with openmp("atomic"):
                        count[0] += 1
    return count[0]


def test_a_million_tasks():
    # one bounded stress run, oversubscribed (3 threads on the 2-core CI machine)
    import os

    pyomp.omp_set_num_threads(3)
    try:
        assert many_tasks(1_000_000) == 1_000_000
    finally:
        pyomp.omp_set_num_threads(os.cpu_count() or 1)


def test_recursive_tasks_a_hundred_times(threads):
    for _ in range(100):
        assert run_fib(16) == 987


def test_recursive_tasks_with_cache(tmp_path):
    import subprocess
    import sys
    src = tmp_path / "cached_fib.py"
    src.write_text(textwrap.dedent("""
        from pyomp import njit, openmp

        @njit(cache=True)
        def fib(n):
            if n < 10:
                a, b = 0, 1
                for _ in range(n):
                    a, b = b, a + b
                return a
            x = 0
            y = 0
            with openmp("task shared(x)"):
                x = fib(n - 1)
            with openmp("task shared(y)"):
                y = fib(n - 2)
            with openmp("taskwait"):
                pass
            return x + y

        @njit(cache=True)
        def run(n):
            r = 0
            with openmp("parallel shared(r)"):
                with openmp("single"):
                    r = fib(n)
            return r

        print(run(20))
    """))
    env = {"PYTHONPATH": str(tmp_path), "OMP_WAIT_POLICY": "passive",
           "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    for _ in range(2):  # compile and cache, then load from the cache
        out = subprocess.run([sys.executable, str(src)], env=env, capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "6765"
    assert any((tmp_path / "cache").rglob("*.nbi"))


@njit
def taskloop_sum(n, out, grain, after):
    with openmp("parallel"):
        with openmp("single"):
            with openmp("taskloop grainsize(grain)"):
                for i in range(n):
                    out[i] += i * 2
            after[0] = out[:n].sum()  # the taskloop's implicit taskgroup waited
    return out


@njit
def taskloop_collapsed(n, m, out, k):
    with openmp("parallel"):
        with openmp("single"):
            with openmp("taskloop collapse(2) num_tasks(k)"):
                for i in range(n):
                    for j in range(m):
                        out[i, j] += i * 10 + j
    return out


@njit
def taskloop_nogroup(n, out):
    with openmp("parallel"):
        with openmp("single"):
            with openmp("taskloop nogroup"):
                for i in range(n):
                    out[i] += 1
            with openmp("taskwait"):
                pass
    return out


@pytest.mark.parametrize("grain", [1, 7, 1000])
def test_taskloop_runs_every_iteration_once(grain, threads):
    n = 300
    after = np.zeros(1)
    out = taskloop_sum(n, np.zeros(n), grain, after)
    assert (out == 2 * np.arange(n)).all() and after[0] == 2 * sum(range(n))
    out = taskloop_collapsed(6, 7, np.zeros((6, 7)), 5)
    assert (out == np.add.outer(np.arange(6) * 10, np.arange(7))).all()
    assert (taskloop_nogroup(100, np.zeros(100)) == 1).all()


@njit
def orphan_taskloop(n, out):
    with openmp("taskloop"):
        for i in range(n):
            out[i] = i + 1
    return out


def test_taskloop_outside_a_region():
    assert (orphan_taskloop(50, np.zeros(50)) == np.arange(1, 51)).all()


@pytest.mark.parametrize("body,message", [
    ("""with openmp("taskloop"):
            x += 1""", "must contain exactly one `for"),
    ("""with openmp("taskloop nogroup reduction(+: x)"):
            for i in range(3):
                x += i""", "cannot be `nogroup`"),
])
def test_taskloop_errors(body, message):
    f = compile_source("def f(x):\n    " + textwrap.dedent("    " + body).strip() +
                       "\n    return x\n", "taskloop")
    with pytest.raises(pyomp.PyompError, match=message):
        f(3)


@pytest.mark.parametrize("item,message", [
    ("a[1:3]", "a dependence is on a variable or an array element"),
    ("x + 1", "a dependence is on a variable or an array element"),
])
def test_dependences_on_unsupported_expressions_are_errors(item, message):
    f = compile_source(textwrap.dedent(f"""
        def f(a, x):
            with openmp("task depend(in: {item})"):
                a[0] = x
            return a
    """), "depend")
    with pytest.raises(pyomp.PyompError, match=message) as err:
        f(np.zeros(4), 1)
    assert "with openmp" in str(err.value)


def test_task_clauses_on_the_wrong_construct_are_errors():
    with pytest.raises(pyomp.errors.ClauseNotAllowedError, match="grainsize"):
        pyomp.directives.parse("task grainsize(4)")
    with pytest.raises(pyomp.errors.ClauseNotAllowedError, match="depend"):
        pyomp.directives.parse("taskloop depend(in: x)")


@njit
def shares_an_argument(depth, out):
    if depth == 0:
        return 0
    with openmp("task shared(out)"):
        out[depth] += 1
        shares_an_argument(depth - 1, out)
    with openmp("task shared(out)"):
        out[11 + depth] += 1  # its own element: the two tasks run at the same time
    with openmp("taskwait"):
        pass
    return 1  # `out` is not used any more: Numba would release it before the tasks end


@njit
def run_shares_an_argument(out):
    with openmp("parallel"):
        with openmp("single"):
            shares_an_argument(10, out)
    return out


@njit
def taskwait_inside_a_task(n, out):
    with openmp("parallel"):
        with openmp("single"):
            for _i in range(n):
                with openmp("task"):
                    for _k in range(3):
                        with openmp("task"):
                            with openmp("atomic"):
                                out[0] += 1
                    with openmp("taskwait"):  # waits as the thread running the task
                        pass
    return out


def test_regressions_from_the_task_benchmarks(threads):
    for _ in range(20):
        out = run_shares_an_argument(np.zeros(22))
        assert (out[1:11] == 1).all() and (out[12:] == 1).all()
        assert taskwait_inside_a_task(100, np.zeros(1))[0] == 300


@njit
def taskloop_reductions(n):
    s = 0.0
    m = -1
    with openmp("parallel shared(s, m)"):
        with openmp("single"):
            with openmp("taskloop grainsize(10) reduction(+: s) reduction(max: m)"):
                for i in range(n):
                    s += i * 0.5
                    m = max(m, i % 37)
    return s, m


def test_taskloop_reductions(threads):
    assert taskloop_reductions(1000) == (0.5 * sum(range(1000)), 36)
