"""A worksharing construct that ends its parallel region (the `for` of a `parallel for`, a
`for`, `single` or `sections` written last in a `parallel`) has no barrier of its own: the
region's join barrier stands in for it (passes/split.py `_ends_its_team`). The oracle is
serial Python; exceptions raised before, inside and after such a construct propagate as
they do with the barrier (raise/'s barrier counting), at 1, 2, 3 and 8 threads."""

import re

import numpy as np
import pytest
from pyomp import njit, omp_get_num_threads, omp_get_thread_num, openmp

N = 50


def barriers(fn):
    """The `__kmpc_barrier` calls in fn's compiled code (its only signature)."""
    (llvm,) = fn.inspect_llvm().values()
    return len(re.findall(r"call \w+ @__kmpc_barrier\(", llvm))


@njit
def parallel_for(a):
    with openmp("parallel for"):
        for i in range(a.size):
            a[i] = i * 2


@njit
def for_written_last(a, b):
    with openmp("parallel"):
        b[omp_get_thread_num()] = 1
        with openmp("for"):
            for i in range(a.size):
                a[i] = i * 2


@njit
def for_then_read(a, seen):
    """Code after the loop reads what other threads wrote in it: the barrier stays."""
    with openmp("parallel"):
        with openmp("for schedule(static, 1)"):
            for i in range(a.size):
                a[i] = i * 2
        t = omp_get_thread_num()
        seen[t] = a[(t + 1) % a.size]


@njit
def single_last(out):
    with openmp("parallel"):
        out[omp_get_thread_num() + 1] = 1
        with openmp("single"):
            out[0] = omp_get_num_threads()


@njit
def sections_last(out):
    with openmp("parallel sections"):
        with openmp("section"):
            out[0] = 1
        with openmp("section"):
            out[1] = 2


@njit
def parallel_for_reduction(n):
    s = 0
    with openmp("parallel for reduction(+:s)"):
        for i in range(n):
            s += i
    return s


@njit
def parallel_for_lastprivate(n):
    x = -1
    with openmp("parallel for lastprivate(x)"):
        for i in range(n):
            x = i * 3
    return x


def test_a_parallel_for_has_only_its_join_barrier(threads):
    a = np.zeros(N, dtype=np.int64)
    parallel_for(a)
    assert (a == np.arange(N) * 2).all()
    assert barriers(parallel_for) == 0


def test_a_for_written_last_has_only_the_join_barrier(threads):
    a = np.zeros(N, dtype=np.int64)
    b = np.zeros(threads, dtype=np.int64)
    for_written_last(a, b)
    assert (a == np.arange(N) * 2).all() and (b == 1).all()
    assert barriers(for_written_last) == 0


def test_a_for_followed_by_code_keeps_its_barrier(threads):
    a = np.zeros(N, dtype=np.int64)
    seen = np.full(threads, -1, dtype=np.int64)
    for_then_read(a, seen)
    # every thread reads an element another thread wrote (static, 1): the barrier made
    # it visible
    assert (seen == (np.arange(threads) + 1) % N * 2).all()
    assert barriers(for_then_read) >= 1  # (and a final one: `%` may raise)


def test_single_and_sections_written_last(threads):
    out = np.zeros(threads + 1, dtype=np.int64)
    single_last(out)
    assert out[0] == threads and (out[1:] == 1).all()
    assert barriers(single_last) == 0
    out = np.zeros(2, dtype=np.int64)
    sections_last(out)
    assert list(out) == [1, 2]
    assert barriers(sections_last) == 0


def test_reduction_and_lastprivate_of_a_parallel_for(threads):
    assert parallel_for_reduction(1000) == sum(range(1000))
    assert parallel_for_lastprivate(N) == (N - 1) * 3


# -- exceptions before, inside and after a construct without its barrier -----------------

@njit
def raise_in_parallel_for(a, bad):
    with openmp("parallel for"):
        for i in range(a.size):
            if i == bad:
                raise ValueError("bad iteration")
            a[i] = i


@njit
def raise_before_last_for(a, bad_thread):
    with openmp("parallel"):
        if omp_get_thread_num() == bad_thread:
            raise ValueError("before the loop")
        with openmp("for"):
            for i in range(a.size):
                a[i] = i


@njit
def raise_after_region_with_last_for(a, bad):
    with openmp("parallel"):
        with openmp("for"):
            for i in range(a.size):
                a[i] = i
    if a[bad] == bad:
        raise ValueError("after the region")


@njit
def raise_in_last_single(out, bad):
    with openmp("parallel"):
        out[omp_get_thread_num() + 1] = 1
        with openmp("single"):
            if bad:
                raise ValueError("in single")
            out[0] = 1


@pytest.mark.parametrize("bad", [0, N // 2, N - 1])
def test_a_raise_inside_a_parallel_for_propagates(threads, bad):
    a = np.zeros(N, dtype=np.int64)
    with pytest.raises(ValueError, match="bad iteration"):
        raise_in_parallel_for(a, bad)
    # the function works again afterwards
    raise_in_parallel_for(a, -1)
    assert (a == np.arange(N)).all()


@pytest.mark.parametrize("bad_thread", [0, 1])
def test_a_raise_before_a_for_written_last_propagates(threads, bad_thread):
    a = np.zeros(N, dtype=np.int64)
    if bad_thread >= threads:
        raise_before_last_for(a, bad_thread)
        assert (a == np.arange(N)).all()
        return
    with pytest.raises(ValueError, match="before the loop"):
        raise_before_last_for(a, bad_thread)


def test_a_raise_after_the_region_sees_the_whole_loop(threads):
    a = np.zeros(N, dtype=np.int64)
    with pytest.raises(ValueError, match="after the region"):
        raise_after_region_with_last_for(a, N - 1)


def test_a_raise_in_a_single_written_last_propagates(threads):
    out = np.zeros(threads + 1, dtype=np.int64)
    with pytest.raises(ValueError, match="in single"):
        raise_in_last_single(out, True)
    raise_in_last_single(out, False)
    assert out[0] == 1 and (out[1:] == 1).all()
