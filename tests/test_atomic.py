"""`atomic` on scalar variables, in every form OpenMP has (update, read, write, capture),
as hardware atomics: counters that would lose updates without them come out exact, capture
hands out unique tickets, and forms without a hardware instruction still work (on a lock)."""

import textwrap

import numpy as np
import pytest
from helpers import compile_source
from pyomp import njit, omp_get_thread_num, openmp

UPDATES = [("x += v", lambda x, v: x + v), ("x -= v", lambda x, v: x - v),
           ("x = x + v", lambda x, v: x + v), ("x = v + x", lambda x, v: x + v),
           ("x *= v", lambda x, v: x * v), ("x = v * x", lambda x, v: x * v)]
BITWISE = [("x |= v", lambda x, v: x | v), ("x &= v", lambda x, v: x & v),
           ("x ^= v", lambda x, v: x ^ v), ("x = x ^ v", lambda x, v: x ^ v)]


def _compile(src, **names):
    return compile_source(src, "atomic", **names)


def _updater(statement, start, directive="atomic"):
    return _compile(textwrap.dedent(f"""
        def f(values):
            x = {start}
            with openmp("parallel for schedule(static, 1)"):
                for i in range(values.size):
                    v = values[i]
                    with openmp("{directive}"):
                        {statement}
            return x
    """))


def _serial(op, start, values):
    x = start
    for v in values:
        x = op(x, v)
    return x


@pytest.mark.parametrize("statement,op", UPDATES)
@pytest.mark.parametrize("start,dtype", [("0", np.int64), ("0.0", np.float64),
                                         ("np.int32(1)", np.int32),
                                         ("np.float32(1)", np.float32)])
def test_update_forms_lose_nothing(statement, op, start, dtype, threads):
    multiplying = "*" in statement
    values = (np.ones(20) * 2 if multiplying else np.arange(4000) % 7).astype(dtype)
    f = _updater(statement, start)
    expected = _serial(op, eval(start), values)  # noqa: S307 - test data
    got = f(values)
    if np.issubdtype(dtype, np.floating):
        assert got == pytest.approx(expected, rel=1e-6)
    else:
        assert got == expected


@pytest.mark.parametrize("statement,op", BITWISE)
def test_bitwise_updates(statement, op, threads):
    values = (np.arange(64) * 2654435761 % 1024).astype(np.int64)
    start = 0 if "&" not in statement else -1
    assert _updater(statement, str(start))(values) == _serial(op, start, values)


@pytest.mark.parametrize("directive", ["atomic", "atomic update", "atomic seq_cst",
                                       "atomic update relaxed", "atomic acq_rel"])
def test_memory_order_clauses(directive, threads):
    values = np.ones(1000, dtype=np.int64)
    assert _updater("x += v", "0", directive)(values) == 1000


@njit
def tickets(n, out):
    counter = 0
    with openmp("parallel for"):
        for i in range(n):
            with openmp("atomic capture"):
                mine = counter
                counter += 1
            out[i] = mine
    return counter


@njit
def tickets_new(n, out):
    counter = 0
    with openmp("parallel for"):
        for i in range(n):
            with openmp("atomic capture"):
                counter += 1
                mine = counter
            out[i] = mine
    return counter


def test_capture_hands_out_unique_tickets(threads):
    out = np.zeros(3000, dtype=np.int64)
    assert tickets(3000, out) == 3000
    assert sorted(out.tolist()) == list(range(3000))
    assert tickets_new(3000, out) == 3000
    assert sorted(out.tolist()) == list(range(1, 3001))


@njit
def read_write_swap(n, seen, swapped):
    flag = 0
    with openmp("parallel"):
        t = omp_get_thread_num()
        with openmp("atomic write"):
            flag = t + 1
        with openmp("barrier"):
            pass
        with openmp("atomic read"):
            got = flag
        seen[t] = got
        with openmp("barrier"):
            pass
        with openmp("atomic capture"):
            old = flag
            flag = t + 100
        swapped[t] = old
    return flag


def test_read_write_and_swap(threads):
    seen, swapped = np.zeros(threads, dtype=np.int64), np.zeros(threads, dtype=np.int64)
    last = read_write_swap(threads, seen, swapped)
    # every thread read the one value some thread wrote
    assert len(set(seen.tolist())) == 1 and 1 <= seen[0] <= threads
    # the swaps form one chain: each old value is the initial one or another swap's new one
    assert last - 100 in range(threads)
    olds = sorted(swapped.tolist())
    news = sorted({t + 100 for t in range(threads)} - {last})
    assert olds == sorted([seen[0]] + news)


@njit
def divide_on_a_lock(n):
    x = 1e6
    with openmp("parallel for"):
        for _i in range(n):
            with openmp("atomic"):
                x /= 2.0
    return x


def test_forms_without_a_hardware_instruction_still_work(threads):
    assert divide_on_a_lock(10) == 1e6 / 2**10


@njit
def orphaned_counter(n):
    local = 0
    for _i in range(n):
        with openmp("atomic"):
            local += 2
    return local


@njit
def calls_orphaned(n, out):
    with openmp("parallel"):
        out[omp_get_thread_num()] = orphaned_counter(n)
    return out


def test_orphaned_atomic_on_a_local(threads):
    assert calls_orphaned(50, np.zeros(threads)).tolist() == [100.0] * threads


def test_scalar_atomics_compile_to_atomic_instructions():
    tickets(10, np.zeros(10, dtype=np.int64))
    (cres,) = tickets.overloads.values()
    final = cres.library.get_llvm_str()
    assert "atomicrmw add" in final and "__kmpc_critical" not in final


def test_atomic_on_a_complex_variable_says_to_use_critical():
    f = _compile(textwrap.dedent("""
        def f(n):
            z = 0j
            with openmp("parallel for"):
                for i in range(n):
                    with openmp("atomic"):
                        z += 1j
            return z
    """))
    with pytest.raises(Exception, match="Use `critical` instead"):
        f(4)


@njit
def element_forms(n, cells, tickets, news, seen):
    with openmp("parallel for"):
        for i in range(n):
            with openmp("atomic capture"):
                mine = cells[0]
                cells[0] += 1
            tickets[i] = mine
            with openmp("atomic capture"):
                cells[1] += 0.5
                now = cells[1]
            news[i] = now
            with openmp("atomic write"):
                cells[2] = 9
            with openmp("atomic read"):
                got = cells[2]
            seen[i] = got
            with openmp("atomic capture"):
                before = cells[3]
                cells[3] = i
            cells[4 + (before >= 0)] += 0  # uses the swapped-out value
    return cells


def test_array_element_read_write_capture(threads):
    n = 2000
    cells = np.zeros(6)
    cells[3] = -1.0
    tickets, news, seen = np.zeros(n), np.zeros(n), np.zeros(n)
    element_forms(n, cells, tickets, news, seen)
    assert sorted(tickets.tolist()) == list(range(n))
    assert sorted(news.tolist()) == [0.5 * (k + 1) for k in range(n)]
    assert cells[0] == n and cells[1] == 0.5 * n and (seen == 9).all()
    assert 0 <= cells[3] < n


def test_array_element_forms_compile_to_atomic_instructions():
    n = 10
    element_forms(n, np.zeros(6), np.zeros(n), np.zeros(n), np.zeros(n))
    (cres,) = element_forms.overloads.values()
    final = cres.library.get_llvm_str()
    assert "__kmpc_critical" not in final
    assert "atomicrmw xchg" in final and "load atomic" in final
