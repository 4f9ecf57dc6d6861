"""Regions whose last statement is a loop (a `while` loop above all).

CPython 3.12 and 3.13 compile a `while` loop's test at the bottom as POP_JUMP_IF_FALSE
plus a JUMP_BACKWARD that lies outside the enclosing `with` block's exception-table range,
and Numba then put the `with` block's end on the loop's back edge (3.12: "POP_BLOCK
peephole failed"; 3.13: the region's end inside the loop); CPython 3.10 copies the block's
exit onto each edge that leaves such a loop (a region with two ends).  pyomp.withends
gives the block its one end back.  Each function here runs at 1, 2, 3 and 8 threads and
must give what its plain Python version (`.py_func`: `openmp` does nothing there, one
thread does all the work) gives.  Every thread works on its own elements, or the construct
makes the order fixed, so no result depends on which thread wins.
"""

import numpy as np
import pytest
from helpers import compile_source
from pyomp import PyompError, njit, omp_get_num_threads, omp_get_thread_num, openmp

N = 11


@njit
def while_last(nt, out):
    with openmp("parallel num_threads(nt)"):
        i = omp_get_thread_num()
        step = omp_get_num_threads()
        while i < out.size:
            out[i] += i + 1
            i += step
    return out


@njit
def while_last_then_more_code(nt, out):
    with openmp("parallel num_threads(nt)"):
        i = omp_get_thread_num()
        step = omp_get_num_threads()
        while i < out.size:
            out[i] += 2 * i
            i += step
    total = 0
    for v in out:
        total += v
    out[0] += total
    return out


@njit
def while_never_entered(nt, out):
    with openmp("parallel num_threads(nt)"):
        i = out.size + omp_get_thread_num()
        while i < out.size:
            out[i] += 1
            i += 1
    out[0] += 5
    return out


@njit
def while_true_break_last(nt, out):
    with openmp("parallel num_threads(nt)"):
        i = omp_get_thread_num()
        step = omp_get_num_threads()
        while True:
            if i >= out.size:
                break
            out[i] += 3
            i += step
    return out


@njit
def while_break_last(nt, out):
    with openmp("parallel num_threads(nt)"):
        i = omp_get_thread_num()
        step = omp_get_num_threads()
        while i < 1000:
            if i >= out.size:
                break
            out[i] += i
            i += step
    return out


@njit
def while_continue_last(nt, out):
    with openmp("parallel num_threads(nt)"):
        i = omp_get_thread_num() - omp_get_num_threads()
        step = omp_get_num_threads()
        while i < out.size - step:
            i += step
            if i % 3 == 0:
                continue
            out[i] += 7
    return out


@njit
def while_if_else_last(nt, out):
    with openmp("parallel num_threads(nt)"):
        i = omp_get_thread_num()
        step = omp_get_num_threads()
        while i < out.size:
            if i % 2 == 0:
                out[i] += 1
            else:
                out[i] -= 1
            i += step
    return out


@njit
def while_else_last(nt, out):
    with openmp("parallel num_threads(nt)"):
        t = omp_get_thread_num()
        i = t
        step = omp_get_num_threads()
        while i < out.size:
            out[i] += 1
            i += step
        else:
            out[t] += 100
    return out


@njit
def while_in_while_last(nt, out):
    with openmp("parallel num_threads(nt)"):
        i = omp_get_thread_num()
        step = omp_get_num_threads()
        while i < out.size:
            j = 0
            while j < i:
                out[i] += j
                j += 1
            i += step
    return out


@njit
def if_last(nt, out):
    # 3.10 copied the region's end onto both paths out of a last `if`
    with openmp("parallel num_threads(nt)"):
        i = omp_get_thread_num()
        step = omp_get_num_threads()
        while i < out.size:
            out[i] += 1
            i += step
        if omp_get_thread_num() == 0:
            out[0] += 100
    return out


@njit
def if_else_last(nt, out):
    with openmp("parallel num_threads(nt)"):
        t = omp_get_thread_num()
        if t == 0:
            i = 0
            while i < out.size:
                out[i] += 5
                i += 1
        else:
            i = -t
    return out


@njit
def for_last(nt, out):
    with openmp("parallel num_threads(nt)"):
        for i in range(omp_get_thread_num(), out.size, omp_get_num_threads()):
            out[i] += 4
    return out


@njit
def for_in_for_last(nt, out):
    with openmp("parallel num_threads(nt)"):
        for i in range(omp_get_thread_num(), out.size, omp_get_num_threads()):
            for j in range(3):
                out[i] += j
    return out


@njit
def for_in_while_last(nt, out):
    with openmp("parallel num_threads(nt)"):
        i = omp_get_thread_num()
        step = omp_get_num_threads()
        while i < out.size:
            for j in range(i):
                out[i] += j
            i += step
    return out


@njit
def region_in_a_loop(nt, out):
    k = 0
    while k < 3:
        with openmp("parallel num_threads(nt)"):
            i = omp_get_thread_num()
            step = omp_get_num_threads()
            while i < out.size:
                out[i] += k
                i += step
        k += 1
    return out


@njit
def reduction_while_last(nt, out):
    s = 0
    with openmp("parallel num_threads(nt) reduction(+:s)"):
        i = omp_get_thread_num()
        step = omp_get_num_threads()
        while i < out.size:
            s += out[i] + i
            i += step
    out[0] = s
    return out


@njit
def critical_while_last(nt, out):
    with openmp("parallel num_threads(nt)"):
        t = omp_get_thread_num()
        step = omp_get_num_threads()
        with openmp("critical"):
            i = t
            while i < out.size:
                out[i] += 2
                i += step
    return out


@njit
def single_while_last(nt, out):
    with openmp("parallel num_threads(nt)"):
        with openmp("single"):
            i = 0
            while i < out.size:
                out[i] += i * i
                i += 1
    return out


@njit
def master_while_last(nt, out):
    with openmp("parallel num_threads(nt)"):
        with openmp("master"):
            i = 0
            while i < out.size:
                out[i] += 9
                i += 1
    return out


@njit
def tasks_while_last(nt, out):
    with openmp("parallel num_threads(nt)"):
        with openmp("single"):
            b = 0
            while b < out.size:
                with openmp("task firstprivate(b)"):
                    i = b
                    while i < min(b + 4, out.size):
                        out[i] += i + 10
                        i += 1
                b += 4
    return out


@njit
def parallel_for_body_while_last(nt, out):
    with openmp("parallel for num_threads(nt)"):
        for k in range(out.size):
            j = 0
            while j < k:
                out[k] += 1
                j += 1
    return out


@njit
def for_construct_while_last(nt, out):
    with openmp("parallel num_threads(nt)"):
        with openmp("for schedule(dynamic, 2)"):
            for k in range(out.size):
                j = k
                while j > 0:
                    out[k] += j
                    j -= 2
    return out


@njit
def sections_while_last(nt, out):
    with openmp("parallel num_threads(nt)"):
        with openmp("sections"):
            with openmp("section"):
                i = 0
                while i < out.size:
                    out[i] += 1
                    i += 2
            with openmp("section"):
                i = 1
                while i < out.size:
                    out[i] += 2
                    i += 2
    return out


@njit
def taskloop_while_last(nt, out):
    with openmp("parallel num_threads(nt)"):
        with openmp("single"):
            with openmp("taskloop grainsize(2)"):
                for k in range(out.size):
                    j = 0
                    while j < 3:
                        out[k] += j
                        j += 1
    return out


@njit
def ordered_while_last(nt, out):
    with openmp("parallel for ordered schedule(dynamic) num_threads(nt)"):
        for k in range(out.size):
            with openmp("ordered"):
                j = 0
                while j < 2:
                    out[k] = out[k - 1] + k + j if k > 0 else j
                    j += 1
    return out


@njit
def two_regions_same_exit_code(nt, out, flag):
    # On 3.10 both regions end in the same instructions (POP_BLOCK, __exit__, return):
    # each keeps its own end.
    if flag:
        with openmp("parallel num_threads(nt)"):
            i = omp_get_thread_num()
            step = omp_get_num_threads()
            while i < out.size:
                out[i] += 1
                i += step
        return out
    else:
        with openmp("parallel num_threads(nt)"):
            i = omp_get_thread_num()
            step = omp_get_num_threads()
            while i < out.size:
                out[i] += 2
                i += step
        return out


CASES = [while_last, while_last_then_more_code, while_never_entered, while_true_break_last,
         while_break_last, while_continue_last, while_if_else_last, while_in_while_last,
         if_last, if_else_last, for_last, for_in_for_last, for_in_while_last,
         region_in_a_loop, reduction_while_last, critical_while_last, single_while_last,
         master_while_last, tasks_while_last, parallel_for_body_while_last,
         for_construct_while_last, sections_while_last, taskloop_while_last,
         ordered_while_last]


def _start():
    return np.arange(N, dtype=np.int64) * 3 - 5


@pytest.mark.parametrize("fn", CASES, ids=lambda f: f.py_func.__name__)
def test_region_ending_in_a_loop(fn, threads):
    expected = fn.py_func(threads, _start())
    got = fn(threads, _start())
    np.testing.assert_array_equal(got, expected)


def test_while_else_runs_the_else_on_every_thread(threads):
    # while_else_last's `else` adds 100 at each thread's number: all of them ran it
    got = while_else_last(threads, np.zeros(N, np.int64))
    assert list(got[:threads]) == [101] * threads
    assert list(got[threads:]) == [1] * (N - threads)


@pytest.mark.parametrize("flag", [True, False])
def test_two_regions_with_the_same_exit_code(flag, threads):
    expected = two_regions_same_exit_code.py_func(threads, _start(), flag)
    np.testing.assert_array_equal(two_regions_same_exit_code(threads, _start(), flag),
                                  expected)


def test_the_region_ends_after_the_loop():
    # The region is the whole `with` block, loop included, and ends where the loop's exit
    # edges go (a region ending on the back edge would fork a team per iteration).
    from numba.core import ir
    from pyomp import frontend
    from pyomp.pipeline import run_frontend

    func_ir = run_frontend(while_last.py_func)
    (region,) = frontend.mark_regions(func_ir)
    blocks = func_ir.blocks
    loop = {label for label, b in blocks.items()
            if any(isinstance(s, ir.SetItem) for s in b.body)}
    assert loop and loop <= region.blocks
    assert region.exit not in region.blocks
    after = blocks[region.exit]
    while not isinstance(after.terminator, ir.Return):
        (target,) = after.terminator.get_targets()
        assert target not in region.blocks
        after = blocks[target]


def test_return_inside_a_region_ending_in_a_loop_is_still_an_error():
    f = compile_source("""
def f(n):
    with openmp("parallel"):
        i = 0
        while i < n:
            if i == 3:
                return i
            i += 1
    return 0
""", prefix="py312")
    with pytest.raises(PyompError, match="`return` inside an OpenMP region|control leaves"):
        f(5)


def test_break_out_of_a_region_in_a_loop_is_still_an_error():
    f = compile_source("""
def f(n):
    k = 0
    while k < n:
        with openmp("parallel"):
            i = 0
            while i < n:
                i += 1
            if n > 2:
                break
        k += 1
    return k
""", prefix="py312")
    with pytest.raises(PyompError, match="control leaves"):
        f(5)


def test_a_region_that_always_raises_is_still_reported():
    f = compile_source("""
def f(n):
    with openmp("parallel"):
        i = 0
        while i < n:
            i += 1
        raise ValueError(i)
    return 0
""", prefix="py312")
    with pytest.raises(PyompError, match="reachable end"):
        f(5)
