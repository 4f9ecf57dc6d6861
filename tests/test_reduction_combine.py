"""Each thread's partial result of a scalar reduction is combined into the original by one
hardware atomic (integer `+ - & | ^`: an atomic add/and/or/xor; the other operators and
floating point: a compare-and-swap loop running the same combine), not one critical
section per thread; complex numbers and arrays still combine under the reduction lock.
The oracle is serial Python over the same terms (integers exactly; floating-point `+` of
integer-valued terms is exact too, so any combining order gives the same result)."""

import math
import re

import numpy as np
import pytest
from pyomp import njit, omp_get_thread_num, openmp

REPS = 200  # regions per call: every thread combines REPS times, contending


def critical_sections(fn):
    (llvm,) = fn.inspect_llvm().values()
    return len(re.findall(r"call \w+ @__kmpc_critical\(", llvm))


@njit
def int_ops(n):
    s, p, a, o, x, mx, mn, land, lor = 0, 1, -1, 0, 0, -(10 ** 9), 10 ** 9, 1, 0
    for _r in range(REPS):
        with openmp("parallel for reduction(+:s) reduction(*:p) reduction(&:a) "
                    "reduction(|:o) reduction(^:x) reduction(max:mx) reduction(min:mn) "
                    "reduction(&&:land) reduction(||:lor)"):
            for i in range(n):
                s += i
                if i % 7 == 3:
                    p *= 3
                a &= ~(1 << (i % 20))
                o |= 1 << (i % 30)
                x ^= i
                mx = max(mx, i * 3 - 50)
                mn = min(mn, 50 - i * 3)
                land = land and (i < n)
                lor = lor or (i == n - 1)
    return s, p, a, o, x, mx, mn, land, lor


def int_ops_serial(n):
    s, p, a, o, x, mx, mn, land, lor = 0, 1, -1, 0, 0, -(10 ** 9), 10 ** 9, 1, 0
    for _r in range(REPS):
        for i in range(n):
            s += i
            if i % 7 == 3:
                p = (p * 3) % (1 << 64)
            a &= ~(1 << (i % 20))
            o |= 1 << (i % 30)
            x ^= i
            mx = max(mx, i * 3 - 50)
            mn = min(mn, 50 - i * 3)
            land = land and (i < n)
            lor = lor or (i == n - 1)
    if p >= 1 << 63:  # int64 wraps
        p -= 1 << 64
    return s, p, a, o, x, mx, mn, int(land), int(lor)


@njit
def float_ops(n):
    s, d, m, mx, mn = 0.0, 0.0, 1.0, -math.inf, math.inf
    for _r in range(REPS):
        with openmp("parallel for reduction(+:s) reduction(-:d) reduction(*:m) "
                    "reduction(max:mx) reduction(min:mn)"):
            for i in range(n):
                s += i
                d -= i
                if i % 50 == 0:
                    m *= 2.0
                mx = max(mx, i * 0.5)
                mn = min(mn, -i * 0.5)
    return s, d, m, mx, mn


@njit
def parallel_region_sum(n):
    s = 0.0
    k = 0
    for _r in range(REPS):
        with openmp("parallel reduction(+:s, k)"):
            t = omp_get_thread_num()
            s += t + 1.0
            k += n
    return s, k


@njit
def complex_sum(n):
    z = 0j
    with openmp("parallel for reduction(+:z)"):
        for i in range(n):
            z += complex(i, -i)
    return z


def test_integer_operators_combine_exactly(threads):
    n = 100
    assert int_ops(n) == int_ops_serial(n)
    assert critical_sections(int_ops) == 0


def test_floating_point_operators_combine_exactly_on_integer_values(threads):
    n = 100
    s, d, m, mx, mn = float_ops(n)
    total = REPS * sum(range(n))
    assert (s, d) == (total, -total)
    assert m == 2.0 ** (REPS * len(range(0, n, 50)))  # a power of two: exact
    assert (mx, mn) == ((n - 1) * 0.5, -(n - 1) * 0.5)
    assert critical_sections(float_ops) == 0


def test_a_parallel_reduction_counts_every_thread_of_every_region(threads):
    s, k = parallel_region_sum(3)
    assert s == REPS * sum(t + 1.0 for t in range(threads))
    assert k == REPS * threads * 3
    assert critical_sections(parallel_region_sum) == 0


def test_complex_reductions_still_combine_under_the_lock(threads):
    n = 1000
    assert complex_sum(n) == complex(sum(range(n)), -sum(range(n)))
    assert critical_sections(complex_sum) >= 1


@pytest.mark.parametrize("values", [[1.0, math.nan, 3.0], [math.nan, 2.0]])
def test_max_keeps_its_nan_behaviour(values):
    """The compare-and-swap runs the same combine as the lock did: the result at one
    thread is serial `max` folded left to right from the identity."""
    arr = np.array(values)

    @njit
    def red_max(a):
        m = -math.inf
        with openmp("parallel for reduction(max:m) num_threads(1)"):
            for i in range(a.size):
                m = max(m, a[i])
        return m

    expected = -math.inf
    for v in values:
        expected = max(expected, v)
    got = red_max(arr)
    assert (math.isnan(got) and math.isnan(expected)) or got == expected
