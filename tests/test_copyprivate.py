"""`single copyprivate(...)`: the value the single thread computed reaches every thread's
own variable (scalars, tuples, arrays with their reference counts), also when the single
raises (no hang), and copyprivate on a variable the team shares is a compile-time error."""

import textwrap

import numpy as np
import pyomp
import pytest
from helpers import compile_source
from numba.core.runtime import _nrt_python, rtsys
from pyomp import njit, omp_get_thread_num, openmp


@njit
def broadcast(n, out, who):
    with openmp("parallel private(x, pair, arr)"):
        x = -1.0
        pair = (0, 0)
        arr = np.zeros(1)
        for rep in range(n):
            with openmp("single copyprivate(x, pair, arr)"):
                x = 3.5 * rep
                pair = (rep, omp_get_thread_num())
                arr = np.full(3, float(rep))
                who[rep] = omp_get_thread_num()
            t = omp_get_thread_num()
            out[rep, t, 0] = x
            out[rep, t, 1] = pair[0]
            out[rep, t, 2] = pair[1]
            out[rep, t, 3] = arr.sum()
    return out


def test_every_thread_gets_the_single_threads_values(threads):
    n = 20
    out = np.full((n, threads, 4), -9.0)
    who = np.zeros(n, dtype=np.int64)
    broadcast(n, out, who)
    for rep in range(n):
        expected = [3.5 * rep, rep, who[rep], 3.0 * rep]
        assert out[rep].tolist() == [expected] * threads


def test_broadcast_arrays_leak_nothing(threads):
    out, who = np.zeros((5, threads, 4)), np.zeros(5, dtype=np.int64)
    broadcast(5, out, who)  # compiled
    _nrt_python.memsys_enable_stats()
    before = rtsys.get_allocation_stats()
    broadcast(5, out, who)
    after = rtsys.get_allocation_stats()
    assert after.alloc - before.alloc == after.free - before.free


@njit
def orphaned_single(out):
    with openmp("single copyprivate(v)"):
        v = 42
    out[omp_get_thread_num()] = v


@njit
def calls_orphaned_single(out):
    with openmp("parallel"):
        orphaned_single(out)
    return out


def test_orphaned_single_copyprivate(threads):
    assert calls_orphaned_single(np.zeros(threads)).tolist() == [42.0] * threads


@njit
def raising_single(fail, out):
    with openmp("parallel private(x)"):
        x = 0
        with openmp("single copyprivate(x)"):
            x = 7
            if fail:
                raise ValueError("single failed")
        out[omp_get_thread_num()] = x
        with openmp("barrier"):
            pass
    return out


def test_exception_in_single_with_copyprivate_propagates_without_a_hang(threads):
    assert raising_single(False, np.zeros(threads)).tolist() == [7.0] * threads
    with pytest.raises(ValueError, match="single failed"):
        raising_single(True, np.zeros(threads))
    assert raising_single(False, np.zeros(threads)).tolist() == [7.0] * threads


def _compile(src):
    return compile_source(src, "copyprivate")


@pytest.mark.parametrize("src,error,message", [
    ("""
     def f(a):
         x = 0
         with openmp("parallel"):
             with openmp("single copyprivate(x)"):
                 x = 1
         return x
     """, pyomp.PyompError, "must be private in the enclosing parallel region"),
    ("""
     def f(a):
         with openmp("parallel private(x)"):
             x = 0
             with openmp("single copyprivate(x) nowait"):
                 x = 1
         return a
     """, pyomp.errors.ClauseNotAllowedError, "copyprivate cannot be combined with nowait"),
    ("""
     def f(a):
         with openmp("parallel private(x)"):
             x = 0
             with openmp("master copyprivate(x)"):
                 x = 1
         return a
     """, pyomp.errors.ClauseNotAllowedError, "copyprivate"),
])
def test_copyprivate_errors(src, error, message):
    f = _compile(textwrap.dedent(src))
    with pytest.raises(error, match=message) as err:
        f(np.zeros(2))
    assert "with openmp" in str(err.value)
