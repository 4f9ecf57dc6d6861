"""The data-sharing rules PyOMP programs rely on (../shared/design.md section 3), one test
per rule and construct, against PyOMP 0.6.0's results (measured in a separate venv with the
same functions; the table is in README.md, "Coming from PyOMP").

Where PyOMP crashes or rejects the program, the oracle is serial Python: the function
without its `with openmp` lines."""

import numpy as np
import pytest
from pyomp import njit, omp_get_thread_num, openmp


# R1: read in the region, defined before: the value is seen
@njit
def r1_parallel(k):
    x = 5
    out = np.zeros(k)
    with openmp("parallel num_threads(k)"):
        out[omp_get_thread_num()] = x
    return out.sum()

@njit
def r1_parallel_for(k):
    x = 5
    out = np.zeros(10)
    with openmp("parallel for num_threads(k)"):
        for i in range(10):  # noqa: B007 - read after the loop
            out[i] = x + i
    return out.sum()

@njit
def r1_task_firstprivate(k):
    # y: the region's own (not read after it): firstprivate in the task, captured at creation
    out = np.zeros(2)
    with openmp("parallel num_threads(k)"):
        with openmp("single"):
            y = 1
            with openmp("task"):
                out[0] = y
                y = 7
            with openmp("taskwait"):
                out[1] = y
    return out[0], out[1]

@njit
def r1_task_shared(k):
    # x: shared in the region (read after it): the task writes the shared x
    x = 1
    with openmp("parallel num_threads(k)"):
        with openmp("single"):
            with openmp("task"):
                x = 7
            with openmp("taskwait"):
                pass
    return x

# R2: assigned in the region, read after: shared
@njit
def r2_parallel(k):
    with openmp("parallel num_threads(k)"):
        with openmp("single"):
            s = 42
    return s

@njit
def r2_parallel_existing(k):
    s = 1
    with openmp("parallel num_threads(k)"):
        with openmp("master"):
            s = 43
    return s

@njit
def r2_task(k):
    with openmp("parallel num_threads(k)"):
        with openmp("single"):
            with openmp("task"):
                r = 9
    return r

# R3: assigned, not read after: private even if it existed before
@njit
def r3_parallel(k):
    x = 100
    out = np.zeros(k)
    with openmp("parallel num_threads(k)"):
        x = omp_get_thread_num()
        with openmp("barrier"):
            pass
        out[omp_get_thread_num()] = x
    return (out == np.arange(k)).all()

@njit
def r3_parallel_for(k):
    x = 100
    out = np.zeros(40)
    with openmp("parallel for num_threads(k) schedule(static, 1)"):
        for i in range(40):
            x = i * 2
            out[i] = x
    return (out == 2 * np.arange(40)).all()

@njit
def r3_task(k):
    z = 3
    out = np.zeros(4)
    with openmp("parallel num_threads(k)"):
        with openmp("single"):
            for i in range(4):
                with openmp("task"):
                    z = i * 10
                    out[i] = z
            with openmp("taskwait"):
                pass
    return out.sum()

# R4: the loop variable of a worksharing loop is private
@njit
def r4_loop_var(k):
    i = -1
    with openmp("parallel for num_threads(k)"):
        for i in range(10):  # noqa: B007 - read after the loop
            pass
    return i

# R5: private(x): outer x unchanged after
@njit
def r5_private(k):
    x = 5
    with openmp("parallel num_threads(k) private(x)"):
        x = omp_get_thread_num()
    return x

@njit
def r5_private_for(k):
    x = 5
    with openmp("parallel for num_threads(k) private(x)"):
        for i in range(10):  # noqa: B007 - read after the loop
            x = i
    return x

@njit
def r5_private_task(k):
    x = 5
    with openmp("parallel num_threads(k)"):
        with openmp("single"):
            with openmp("task private(x)"):
                x = 9
    return x


# name -> (function, expected, PyOMP 0.6.0's result)
RULES = {
    "1 read, parallel": (r1_parallel, lambda k: 5.0 * k, "5.0 * k"),
    "1 read, parallel for": (r1_parallel_for, lambda k: 95.0, "95.0"),
    "1 task: firstprivate when the region owns it": (r1_task_firstprivate,
                                                     lambda k: (1.0, 1.0), "(1.0, 1.0)"),
    "1 task: shared when the region shares it": (r1_task_shared, lambda k: 7,
                                                 "crashes the process"),
    "2 assigned, read after: parallel": (r2_parallel, lambda k: 42, "42"),
    "2 assigned, read after: existing variable": (r2_parallel_existing, lambda k: 43,
                                                  "master unsupported"),
    "2 assigned, read after: task": (r2_task, lambda k: 9, "crashes the process"),
    "3 assigned, not read after: parallel": (r3_parallel, lambda k: True, "True"),
    "3 assigned, not read after: parallel for": (r3_parallel_for, lambda k: True, "True"),
    "3 assigned, not read after: task": (r3_task, lambda k: 60.0, "60.0"),
    "4 loop variable read after the loop": (r4_loop_var, lambda k: 9, "9"),
    "5 private: parallel": (r5_private, lambda k: 5, "5"),
    "5 private: parallel for": (r5_private_for, lambda k: 5, "5"),
    "5 private: task": (r5_private_task, lambda k: 5, "5"),
}


@pytest.mark.parametrize("rule", list(RULES))
def test_rule_as_pyomp(rule, threads):
    fn, expected, _ = RULES[rule]
    assert fn(threads) == expected(threads)


@njit
def r4_loop_vars_collapsed(k):
    i, j = -1, -1
    with openmp("parallel for collapse(2) num_threads(k)"):
        for i in range(4):  # noqa: B007 - read after the loop
            for j in range(5):  # noqa: B007
                pass
    return i, j


@njit
def r4_loop_var_of_a_for_in_a_region(k, n):
    i = -1
    with openmp("parallel num_threads(k)"):
        with openmp("for"):
            for i in range(n):  # noqa: B007
                pass
    return i


def test_loop_variables_end_with_the_last_iterations_values(threads):
    # serial Python: after the loops, i == 3 and j == 4; an empty loop leaves i alone
    assert r4_loop_vars_collapsed(threads) == (3, 4)
    assert r4_loop_var_of_a_for_in_a_region(threads, 10) == 9
    assert r4_loop_var_of_a_for_in_a_region(threads, 0) == -1
