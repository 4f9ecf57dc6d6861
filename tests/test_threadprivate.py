"""threadprivate variables of a function keep each thread's value from one parallel
region to the next; copyin starts every thread with the master's value; misuse is a
compile-time error."""

import textwrap

import numpy as np
import pyomp
import pytest
from helpers import compile_source
from pyomp import njit, omp_get_thread_num, openmp


@njit
def persist(out, start):
    x = start
    with openmp("threadprivate(x)"):
        pass
    with openmp("parallel"):
        x += omp_get_thread_num()
    with openmp("parallel"):
        x *= 2
    with openmp("parallel"):
        out[omp_get_thread_num()] = x
    return x


@pytest.mark.parametrize("start", [3, 1.5])
def test_each_thread_keeps_its_value_between_regions(start, threads):
    out = np.zeros(threads)
    master = persist(out, start)
    assert out.tolist() == [(start + t) * 2 for t in range(threads)]
    assert master == start * 2  # the master's copy is the variable itself


@njit
def with_copyin(out, value):
    x = 0
    with openmp("threadprivate(x)"):
        pass
    with openmp("parallel"):
        x = -omp_get_thread_num()
    x = value
    with openmp("parallel copyin(x)"):
        out[omp_get_thread_num(), 0] = x
        x += omp_get_thread_num() + 1
    with openmp("parallel"):
        out[omp_get_thread_num(), 1] = x
    return x


def test_copyin_starts_every_thread_with_the_masters_value(threads):
    out = np.zeros((threads, 2), dtype=np.int64)
    assert with_copyin(out, 7) == 8
    assert out[:, 0].tolist() == [7] * threads
    assert out[:, 1].tolist() == [7 + t + 1 for t in range(threads)]


@njit
def counters(n, out):
    hits = 0
    with openmp("threadprivate(hits)"):
        pass
    for _rep in range(3):
        with openmp("parallel for schedule(dynamic, 5)"):
            for _i in range(n):
                hits += 1
    with openmp("parallel"):
        out[omp_get_thread_num()] = hits
    return out


def test_per_thread_counters_over_several_loops(threads):
    out = counters(200, np.zeros(threads, dtype=np.int64))
    assert out.sum() == 3 * 200


def _compile(src):
    return compile_source(src, "threadprivate")


@pytest.mark.parametrize("body,message", [
    ("""with openmp("parallel"):
            with openmp("threadprivate(x)"):
                pass""", "must stand outside any OpenMP construct"),
    ("""with openmp("parallel copyin(x)"):
            x += 1""", "copyin variable 'x' is not threadprivate"),
    ("""with openmp("threadprivate(x)"):
            pass
        with openmp("parallel private(x)"):
            x = 1""", "cannot appear in a private clause"),
    ("""with openmp("threadprivate(nope)"):
            pass""", r"'nope' in threadprivate\(\.\.\.\) is not a variable"),
])
def test_threadprivate_errors(body, message):
    f = _compile("def f(n):\n    x = n\n    " + textwrap.dedent("    " + body).strip() +
                 "\n    return x\n")
    with pytest.raises(pyomp.PyompError, match=message) as err:
        f(4)
    assert "with openmp" in str(err.value)
