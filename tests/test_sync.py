"""In-place constructs of a team: barrier, master, masked, single (nowait, private,
firstprivate); exceptions inside them propagate without hanging the team."""

import numpy as np
import pyomp
import pytest
from pyomp import njit, omp_get_num_threads, omp_get_thread_num, openmp


@njit
def phases(out, seen):
    with openmp("parallel"):
        tid = omp_get_thread_num()
        nt = omp_get_num_threads()
        out[tid] = tid + 1
        with openmp("barrier"):
            pass
        # after the barrier every thread sees every other thread's write
        total = 0
        for t in range(nt):
            total += out[t]
        seen[tid] = total
    return seen


def test_barrier_orders_the_phases(threads):
    seen = phases(np.zeros(16, dtype=np.int64), np.zeros(16, dtype=np.int64))
    assert seen[:threads].tolist() == [threads * (threads + 1) // 2] * threads


@njit
def who_runs(counts, which):
    with openmp("parallel"):
        with openmp("master"):
            counts[0] += 1
            which[0] = omp_get_thread_num()
        with openmp("masked filter(1)"):
            counts[1] += 1
            which[1] = omp_get_thread_num()
        with openmp("single"):
            counts[2] += 1
            which[2] = omp_get_thread_num()
        with openmp("single nowait"):
            counts[3] += 1
    return counts


def test_master_masked_single_run_once(threads):
    counts = np.zeros(4, dtype=np.int64)
    which = np.full(3, -1, dtype=np.int64)
    who_runs(counts, which)
    assert counts.tolist() == [1, 1 if threads > 1 else 0, 1, 1]
    assert which[0] == 0
    assert which[1] == (1 if threads > 1 else -1)
    assert 0 <= which[2] < threads


@njit
def single_then_loop(n, a):
    x = 10
    with openmp("parallel"):
        with openmp("single firstprivate(x)"):
            x += 5
            a[0] = x
        with openmp("for"):
            for i in range(1, n):
                a[i] = a[0] + i
    return a, x


def test_single_result_is_visible_after_its_barrier(threads):
    a, x = single_then_loop(8, np.zeros(8, dtype=np.int64))
    assert a.tolist() == [15] + [15 + i for i in range(1, 8)]
    assert x == 10


@njit
def raise_in_single(flag, out):
    with openmp("parallel"):
        with openmp("single"):
            if flag:
                raise ValueError("single failed")
        out[omp_get_thread_num()] = 1
    return out


def test_exception_in_single_propagates_without_hanging(threads):
    assert raise_in_single(False, np.zeros(16)).sum() == threads
    with pytest.raises(ValueError, match="single failed"):
        raise_in_single(True, np.zeros(16))


@njit
def raise_in_master_before_barrier(out):
    with openmp("parallel"):
        with openmp("master"):
            if out[0] == 0:
                raise KeyError("master failed")
        with openmp("barrier"):
            pass
        out[omp_get_thread_num()] = 1
    return out


def test_exception_in_master_before_a_barrier(threads):
    with pytest.raises(KeyError):
        raise_in_master_before_barrier(np.zeros(16))


def test_benchmark_jacobi_matches_numpy(threads):
    from kernels import jacobi
    u = np.zeros((40, 40))
    u[0, :] = 1.0
    ref = u.copy()
    res = jacobi(u, u.copy(), 7)
    for _ in range(7):
        new = 0.25 * (ref[:-2, 1:-1] + ref[2:, 1:-1] + ref[1:-1, :-2] + ref[1:-1, 2:])
        expected = ((new - ref[1:-1, 1:-1]) ** 2).sum()
        ref[1:-1, 1:-1] = new
    assert res == pytest.approx(expected) and np.allclose(u, ref)


@njit
def count_with_critical(n, counter):
    with openmp("parallel for"):
        for _i in range(n):
            with openmp("critical"):
                counter[0] += 1           # a read-modify-write that loses updates unguarded
    return counter


@njit
def named_a(n, counter):
    with openmp("parallel for"):
        for _i in range(n):
            with openmp("critical(tally)"):
                counter[0] += 1
    return counter


@njit
def named_b(n, counter):
    with openmp("parallel for"):
        for _i in range(n):
            with openmp("critical(tally)"):
                counter[0] += 2
    return counter


def test_critical_excludes_within_a_function(threads):
    assert count_with_critical(20_000, np.zeros(1, dtype=np.int64))[0] == 20_000


def test_same_name_excludes_across_functions():
    from helpers import in_lasting_python_threads
    counter = np.zeros(1, dtype=np.int64)
    named_a(10, counter), named_b(10, counter)
    counter[0] = 0
    # two Python threads run the two functions at once: both update under critical(tally)
    in_lasting_python_threads(lambda k: (named_a, named_b)[k](20_000, counter), 2)
    assert counter[0] == 20_000 * 3


@njit
def sections_each_once(hits, who):
    total = 0
    with openmp("parallel sections reduction(+:total)"):
        with openmp("section"):
            hits[0] += 1
            who[0] = omp_get_thread_num()
            total += 1
        with openmp("section"):
            hits[1] += 1
            who[1] = omp_get_thread_num()
            total += 10
        with openmp("section"):
            for i in range(4):
                hits[2] += i
            total += 100
        with openmp("section"):
            hits[3] += 1
            total += 1000
    return total


def test_every_section_runs_once(threads):
    hits = np.zeros(4, dtype=np.int64)
    who = np.full(2, -1, dtype=np.int64)
    assert sections_each_once(hits, who) == 1111
    assert hits.tolist() == [1, 1, 6, 1]
    assert all(0 <= w < threads for w in who)


@njit
def sections_in_a_region(out):
    x = -1
    y = 5
    with openmp("parallel"):
        with openmp("sections lastprivate(x) firstprivate(y)"):
            with openmp("section"):
                x = 1
                out[0] = y
            with openmp("section"):
                x = 2
                out[1] = y + 1
        out[2 + omp_get_thread_num()] = 1
    return x


def test_sections_inside_a_region_with_lastprivate(threads):
    out = np.zeros(16, dtype=np.int64)
    assert sections_in_a_region(out) == 2  # the lexically last section's value
    assert out[:2].tolist() == [5, 6] and out[2:2 + threads].sum() == threads


@njit
def raising_section(flag):
    with openmp("parallel sections"):
        with openmp("section"):
            if flag:
                raise ValueError("section failed")
        with openmp("section"):
            pass
    return 1


def test_exception_in_a_section(threads):
    assert raising_section(False) == 1
    with pytest.raises(ValueError, match="section failed"):
        raising_section(True)


def test_sections_shape_errors():
    import linecache
    import textwrap
    src = textwrap.dedent("""
        def f(a):
            with openmp("parallel sections"):
                a[0] = 1
                with openmp("section"):
                    a[1] = 2
            return a

        def g(a):
            with openmp("parallel"):
                with openmp("section"):
                    a[1] = 2
            return a
    """)
    filename = "<sections-errors>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    ns = {"openmp": openmp}
    exec(compile(src, filename, "exec"), ns)
    with pytest.raises(pyomp.PyompError, match="outside any `section`"):
        njit(ns["f"])(np.zeros(2))
    with pytest.raises(pyomp.PyompError, match="directly inside a 'sections'"):
        njit(ns["g"])(np.zeros(2))


@njit
def atomic_updates(n, hist, counter):
    total = 0.0
    with openmp("parallel for shared(total)"):
        for i in range(n):
            with openmp("atomic"):
                hist[i % 7] += 1
            with openmp("atomic update"):
                counter[0] += 2
            with openmp("atomic"):
                total += 0.5
    with openmp("flush"):
        pass
    return total


def test_atomic_updates_lose_nothing(threads):
    hist = np.zeros(7, dtype=np.int64)
    counter = np.zeros(1, dtype=np.int64)
    total = atomic_updates(7000, hist, counter)
    assert hist.tolist() == [1000] * 7
    assert counter[0] == 14000 and total == 3500.0


def test_array_element_and_scalar_atomics_use_hardware_atomics():
    atomic_updates(70, np.zeros(7, dtype=np.int64), np.zeros(1, dtype=np.int64))
    (cres,) = atomic_updates.overloads.values()
    final = cres.library.get_llvm_str()
    # the two array updates and the scalar `total` are hardware atomics: no lock
    assert "__kmpc_critical" not in final
    assert "atomicrmw add" in final


def test_benchmark_histograms_match_numpy(threads):
    from kernels import histogram_atomic, histogram_private
    values = (np.arange(50_000, dtype=np.int64) * 2654435761) % 1000003
    expected = np.bincount(values & 255, minlength=256)
    assert (histogram_atomic(values, np.zeros(256, dtype=np.int64)) == expected).all()
    assert (histogram_private(values, np.zeros(256, dtype=np.int64)) == expected).all()


@njit
def shared_scalar_set_in_single(n):
    r = 0
    with openmp("parallel shared(r)"):
        with openmp("single"):
            r = n * 2 + 1
    return r


def test_a_shared_scalar_set_in_single_is_not_cleared_by_the_team(threads):
    # Numba frees `r` right after the region's start (every path there reassigns it);
    # that `del` ran on every thread and raced with the single's store.
    for _ in range(200):
        assert shared_scalar_set_in_single(20) == 41


@njit
def locked_increments(lock, n, counter):
    # a read-modify-write that loses updates without the lock
    with openmp("parallel"):
        for _i in range(n):
            pyomp.omp_set_lock(lock)
            v = counter[0]
            for _k in range(20):  # widen the window between read and write
                v = v + 0
            counter[0] = v + 1
            pyomp.omp_unset_lock(lock)
    return counter[0]


@njit
def nested_locking(lock, n, counter):
    with openmp("parallel"):
        for _i in range(n):
            pyomp.omp_set_nest_lock(lock)
            pyomp.omp_set_nest_lock(lock)  # the owner may take it again
            counter[0] += 1
            pyomp.omp_unset_nest_lock(lock)
            pyomp.omp_unset_nest_lock(lock)
    return counter[0]


@njit
def make_lock():
    return pyomp.omp_init_lock()


def test_locks_made_in_one_function_guard_another(threads):
    lock = make_lock()  # a handle from compiled code, passed on
    assert locked_increments(lock, 400, np.zeros(1, dtype=np.int64)) == 400 * threads
    pyomp.omp_destroy_lock(lock)
    nest = pyomp.omp_init_nest_lock()
    assert nested_locking(nest, 200, np.zeros(1, dtype=np.int64)) == 200 * threads
    pyomp.omp_destroy_nest_lock(nest)
