"""`for ordered` loops with `with openmp("ordered"):` blocks: the blocks run in iteration
order under every schedule, iterations that skip the block do not stall the others, an
exception (in the block or around it) propagates without a hang, and misplaced blocks are
compile-time errors."""

import textwrap

import numpy as np
import pyomp
import pytest
from helpers import compile_source
from pyomp import njit, omp_get_thread_num, openmp

SCHEDULES = ["", "schedule(static)", "schedule(static, 3)", "schedule(dynamic)",
             "schedule(dynamic, 4)", "schedule(guided)", "schedule(guided, 2)",
             "schedule(auto)", "schedule(runtime)", "schedule(monotonic: dynamic, 2)"]


def _compile(src):
    return compile_source(src, "ordered")


def _ordered_loop(schedule):
    # `work` runs unordered before the block; `log` records the order the blocks ran in.
    return _compile(textwrap.dedent(f"""
        def f(start, stop, step, log):
            pos = 0
            with openmp("parallel for ordered {schedule} shared(pos)"):
                for i in range(start, stop, step):
                    work = 0
                    for k in range(i % 7 * 50):
                        work += k
                    with openmp("ordered"):
                        log[pos] = i
                        pos += 1
            return pos
    """))


_loops = {s: _ordered_loop(s) for s in SCHEDULES}


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("bounds", [(0, 60, 1), (50, -7, -3), (5, 5, 1), (2, 3, 1)])
def test_ordered_blocks_run_in_iteration_order(schedule, bounds, threads):
    expected = list(range(*bounds))
    log = np.full(100, -99, dtype=np.int64)
    assert _loops[schedule](*bounds, log) == len(expected)
    assert log[:len(expected)].tolist() == expected


@njit
def ordered_in_a_region(n, log, owner):
    pos = 0
    with openmp("parallel shared(pos)"):
        with openmp("for ordered schedule(static, 1)"):
            for i in range(n):
                with openmp("ordered"):
                    log[pos] = i
                    owner[pos] = omp_get_thread_num()
                    pos += 1
        with openmp("for ordered schedule(dynamic, 2) nowait"):
            for i in range(n):
                with openmp("ordered"):
                    log[pos] = 100 + i
                    pos += 1
    return pos


def test_two_ordered_loops_in_one_region(threads):
    n = 25
    log, owner = np.zeros(2 * n, dtype=np.int64), np.zeros(2 * n, dtype=np.int64)
    assert ordered_in_a_region(n, log, owner) == 2 * n
    assert log.tolist() == list(range(n)) + [100 + i for i in range(n)]
    # static, 1: iteration i belongs to thread i % threads
    assert owner[:n].tolist() == [i % threads for i in range(n)]


@njit
def some_iterations_skip_the_block(n, log):
    pos = 0
    with openmp("parallel for ordered schedule(dynamic, 3) shared(pos)"):
        for i in range(n):
            if i % 3 == 1:
                continue  # no ordered block in this iteration
            if i % 5 == 0:
                with openmp("ordered"):
                    log[pos] = i
                    pos += 1
    return pos


def test_iterations_without_an_ordered_block_do_not_stall_the_others(threads):
    log = np.zeros(100, dtype=np.int64)
    expected = [i for i in range(100) if i % 3 != 1 and i % 5 == 0]
    assert some_iterations_skip_the_block(100, log) == len(expected)
    assert log[:len(expected)].tolist() == expected


@njit
def collapsed_ordered(n, m, log):
    pos = 0
    with openmp("parallel for ordered collapse(2) schedule(dynamic) shared(pos)"):
        for i in range(n):
            for j in range(m):
                with openmp("ordered"):
                    log[pos] = i * 100 + j
                    pos += 1
    return pos


def test_ordered_with_collapse_follows_the_nest_order(threads):
    log = np.zeros(4 * 6, dtype=np.int64)
    assert collapsed_ordered(4, 6, log) == 24
    assert log.tolist() == [i * 100 + j for i in range(4) for j in range(6)]


@njit
def orphaned_ordered_loop(n, log, pos):
    with openmp("for ordered schedule(dynamic)"):
        for i in range(n):
            with openmp("ordered"):
                log[pos[0]] = i
                pos[0] += 1


@njit
def calls_orphaned_ordered(n, log):
    pos = np.zeros(1, dtype=np.int64)
    with openmp("parallel"):
        orphaned_ordered_loop(n, log, pos)
    return pos[0]


def test_orphaned_ordered_loop(threads):
    log = np.zeros(30, dtype=np.int64)
    assert calls_orphaned_ordered(30, log) == 30
    assert log.tolist() == list(range(30))


@njit
def raises_in_ordered(n, bad, where, log):
    pos = 0
    with openmp("parallel for ordered schedule(dynamic, 2) shared(pos)"):
        for i in range(n):
            if where == 0 and i == bad:
                raise ValueError("before the block", i)
            with openmp("ordered"):
                log[pos] = i
                pos += 1
                if where == 1 and i == bad:
                    raise ValueError("in the block", i)
    return pos


@pytest.mark.parametrize("where,message", [(0, "before the block"), (1, "in the block")])
def test_exception_in_an_ordered_loop_propagates_without_a_hang(where, message, threads):
    log = np.zeros(64, dtype=np.int64)
    assert raises_in_ordered(64, -1, where, log) == 64
    with pytest.raises(ValueError) as err:
        raises_in_ordered(64, 21, where, log)
    assert err.value.args == (message, 21)
    # the blocks before the failing iteration ran, in order
    assert log[:21].tolist() == list(range(21))
    # and the function still works afterwards
    assert raises_in_ordered(64, -1, where, log) == 64


@njit
def ordered_simd(n, out):
    with openmp("simd"):
        for i in range(n):
            with openmp("ordered simd"):
                out[i] = i * 2
    return out


def test_ordered_simd_in_a_simd_loop():
    assert ordered_simd(10, np.zeros(10)).tolist() == [2.0 * i for i in range(10)]


@pytest.mark.parametrize("src,message", [
    ("""with openmp("parallel for"):
            for i in range(n):
                with openmp("ordered"):
                    a[i] = i""",
     "has no `ordered` clause; add `ordered` to it"),
    ("""with openmp("parallel"):
            with openmp("ordered"):
                a[0] = 1""",
     "must be inside a worksharing loop that has the `ordered` clause"),
    ("""with openmp("ordered"):
            a[0] = 1""",
     "must be inside a worksharing loop that has the `ordered` clause"),
    ("""with openmp("parallel for ordered"):
            for i in range(n):
                with openmp("critical"):
                    with openmp("ordered"):
                        a[i] = i""",
     "cannot be nested inside 'critical'"),
])
def test_misplaced_ordered_blocks_are_compile_time_errors(src, message):
    f = _compile("def f(n, a):\n    " + textwrap.dedent("    " + src).strip() +
                 "\n    return a\n")
    with pytest.raises(pyomp.PyompError) as err:
        f(4, np.zeros(4))
    assert message in str(err.value)
    assert "with openmp" in str(err.value)


@pytest.mark.parametrize("directive,inner,token", [
    ("parallel for ordered(1)", "ordered", "ordered(1)"),
    ("parallel for ordered", "ordered depend(source)", "depend(source)"),
])
def test_doacross_is_rejected_with_a_caret(directive, inner, token):
    f = _compile(textwrap.dedent(f"""
        def f(n, a):
            with openmp("{directive}"):
                for i in range(n):
                    with openmp("{inner}"):
                        a[i] = i
            return a
    """))
    with pytest.raises(pyomp.errors.UnsupportedConstructError) as err:
        f(4, np.zeros(4))
    msg = str(err.value)
    assert "doacross" in msg
    src, caret = msg.splitlines()[1:3]
    assert src[caret.index("^"):].startswith(token)


@pytest.mark.parametrize("directive,message", [
    ("parallel for ordered schedule(nonmonotonic: dynamic)",
     "nonmonotonic schedule cannot be combined with ordered"),
    ("parallel for ordered order(concurrent)", "cannot have the ordered clause"),
])
def test_ordered_clause_conflicts(directive, message):
    f = _compile(textwrap.dedent(f"""
        def f(n, a):
            with openmp("{directive}"):
                for i in range(n):
                    a[i] = i
            return a
    """))
    with pytest.raises(pyomp.PyompError, match=message):
        f(4, np.zeros(4))


@njit
def order_concurrent(n):
    a = np.zeros(n)
    with openmp("parallel for order(concurrent)"):
        for i in range(n):
            a[i] = i
    return a


def test_order_concurrent_is_accepted(threads):
    assert (order_concurrent(50) == np.arange(50)).all()


@njit
def raise_before_ordered(n, bad, log):
    pos = 0
    with openmp("parallel shared(pos)"):
        if omp_get_thread_num() == bad:
            raise ValueError("before the ordered loop")
        with openmp("for ordered schedule(static, 1)"):
            for i in range(n):
                with openmp("ordered"):
                    log[pos] = i
                    pos += 1
    return pos


def test_a_thread_raising_before_an_ordered_loop_hangs_nobody(threads):
    # Its iterations' turns never come: the others must give up waiting, not hang.
    log = np.zeros(40, dtype=np.int64)
    for _ in range(5):
        with pytest.raises(ValueError, match="before the ordered loop"):
            raise_before_ordered(40, threads - 1, log)
        assert raise_before_ordered(40, -1, log) == 40
        assert log.tolist() == list(range(40))
