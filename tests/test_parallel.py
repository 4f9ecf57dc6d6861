"""`parallel` regions: team size, clauses, data sharing, types, nesting, placement in the
function; results compared with a serial computation at 1, 2, 3 and 8 threads."""

import numpy as np
import pyomp
import pytest
from pyomp import (
    njit,
    omp_get_level,
    omp_get_num_threads,
    omp_get_thread_num,
    omp_in_parallel,
    openmp,
)


@njit
def team_ids(out):
    nt = 0
    with openmp("parallel"):
        tid = omp_get_thread_num()
        out[tid] += 1
        if tid == 0:
            nt = omp_get_num_threads()
    return nt


def test_every_thread_runs_the_region_once(threads):
    out = np.zeros(16, dtype=np.int64)
    assert team_ids(out) == threads
    assert list(out[:threads]) == [1] * threads
    assert out[threads:].sum() == 0


@njit
def with_num_threads(k, out):
    n = 0
    with openmp("parallel num_threads(k + 1)"):
        out[omp_get_thread_num()] = omp_get_num_threads()
        if omp_get_thread_num() == 0:
            n = omp_get_num_threads()
    return n


def test_num_threads_expression(threads):
    out = np.zeros(16, dtype=np.int64)
    assert with_num_threads(threads, out) == threads + 1
    assert list(out[:threads + 1]) == [threads + 1] * (threads + 1)


@njit
def with_if(flag, out):
    with openmp("parallel if(flag)"):
        out[omp_get_thread_num()] = omp_get_num_threads() * 10 + omp_in_parallel()
    return out


def test_if_clause(threads):
    serial = with_if(False, np.zeros(16, dtype=np.int64))
    assert serial[0] == 10 and serial[1:].sum() == 0  # a team of one; not active
    parallel = with_if(True, np.zeros(16, dtype=np.int64))
    assert list(parallel[:threads]) == [threads * 10 + (threads > 1)] * threads


@njit
def sharing_rules(x, out):
    flag = 0
    y = x * 2
    t = -1
    with openmp("parallel firstprivate(x) private(y)"):
        tid = omp_get_thread_num()
        x = x + tid            # firstprivate: starts at the outer x, changes stay local
        y = tid * 100          # private: the outer y is untouched
        t = tid                # assigned, not read after: private by default
        out[tid] = x + y + t
        if tid == 0:
            flag = 42          # assigned and read after: shared
    return flag, x, y


def test_data_sharing_defaults_and_clauses(threads):
    out = np.zeros(16, dtype=np.int64)
    flag, x, y = sharing_rules(5, out)
    assert (flag, x, y) == (42, 5, 10)
    assert list(out[:threads]) == [5 + tid + tid * 100 + tid for tid in range(threads)]


@njit
def reductions(n):
    s = 0
    p = 1.0
    big = -1
    small = 1 << 40
    z = 0j
    every = True
    with openmp("parallel reduction(+:s) reduction(*:p) reduction(max:big) "
                "reduction(min:small) reduction(+:z) reduction(&&:every)"):
        tid = omp_get_thread_num()
        s += tid + n
        p *= 2.0
        big = max(big, tid * 7)
        small = min(small, tid + 3)
        z += complex(tid, 1)
        every = every and tid < 100
    return s, p, big, small, z, every


def test_scalar_reductions_on_parallel(threads):
    k = threads
    s, p, big, small, z, every = reductions(10)
    assert s == sum(range(k)) + 10 * k
    assert p == 2.0 ** k
    assert big == 7 * (k - 1) and small == 3
    assert z == complex(sum(range(k)), k)
    assert every is True


@njit
def reads_many_types(i8, f32, c, b, arr2d_f, sliced, tup, rec, out):
    with openmp("parallel"):
        tid = omp_get_thread_num()
        v = i8 + f32 + c.real + b + arr2d_f[1, 2] + sliced[1] + tup[0] + tup[1] + rec.x
        out[tid] = v
    return out


def test_variables_of_many_types_are_shared(threads):
    arr = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    sliced = np.arange(10.0)[::3]
    rec = np.zeros(1, dtype=[("x", np.float64), ("n", np.int32)])
    rec[0]["x"] = 0.5
    out = np.zeros(16)
    args = (np.int8(3), np.float32(1.5), 2 + 1j, True, arr, sliced, (4, 0.25), rec[0], out)
    reads_many_types(*args)
    expected = 3 + 1.5 + 2 + 1 + arr[1, 2] + sliced[1] + 4 + 0.25 + 0.5
    assert np.allclose(out[:threads], expected)


@njit
def nested(out):
    with openmp("parallel num_threads(2)"):
        outer = omp_get_thread_num()
        with openmp("parallel num_threads(3)"):
            inner = omp_get_thread_num()
            out[outer, inner] = omp_get_level() * 100 + omp_get_num_threads()
    return out


def test_nested_parallel_regions(threads):
    pyomp.omp_set_max_active_levels(2)
    try:
        out = nested(np.zeros((2, 3), dtype=np.int64))
        assert (out == 203).all(), out
        pyomp.omp_set_max_active_levels(1)
        out = nested(np.zeros((2, 3), dtype=np.int64))  # inner regions serialised
        assert list(out[:, 0]) == [201, 201] and out[:, 1:].sum() == 0
    finally:
        pyomp.omp_set_max_active_levels(1)


@njit
def region_in_loop_and_branch(n, out):
    total = 0
    for r in range(n):
        if r % 2 == 0:
            with openmp("parallel"):
                out[r, omp_get_thread_num()] = r + 1
        else:
            with openmp("parallel num_threads(1)"):
                out[r, omp_get_thread_num()] = -1
        total += r
    with openmp("parallel"):
        if omp_get_thread_num() == 0:
            total += 1000
    return total


def test_regions_in_loops_branches_and_sequence(threads):
    out = np.zeros((6, 16), dtype=np.int64)
    assert region_in_loop_and_branch(6, out) == 15 + 1000
    for r in range(6):
        if r % 2 == 0:
            assert list(out[r, :threads]) == [r + 1] * threads
        else:
            assert out[r, 0] == -1 and out[r, 1:].sum() == 0


@njit
def inner_region(out, row):
    with openmp("parallel num_threads(2)"):
        out[row, omp_get_thread_num()] += 1


@njit
def calls_a_function_with_a_region(out):
    with openmp("parallel"):
        inner_region(out, omp_get_thread_num())
    return out


def test_region_in_a_function_called_from_a_region(threads):
    out = calls_a_function_with_a_region(np.zeros((16, 2), dtype=np.int64))
    if threads == 1:
        # a team of one is not an active level, so the inner region gets its 2 threads
        assert list(out[0]) == [1, 1] and out[1:].sum() == 0
    else:
        # max active levels is 1: the inner regions run on one thread each
        assert list(out[:threads, 0]) == [1] * threads and out[:, 1].sum() == 0


def test_spmd_pi(threads):
    from kernels import pi_spmd  # the benchmark's kernel: thread-id distribution
    assert pi_spmd(100_000) == pytest.approx(np.pi, rel=1e-9)


def test_explain_shows_every_decision():
    sharing_rules(1, np.zeros(16, dtype=np.int64))
    text = pyomp.explain(sharing_rules)
    assert "'parallel firstprivate(x) private(y)'" in text
    for line in ("x", "firstprivate", "clause firstprivate"), ("y", "private", "clause private"), \
            ("flag", "shared", "read after"), ("t", "private", "not read after"), \
            ("out", "shared", "read-only"):
        assert any(all(part in row for part in line) for row in text.splitlines()), line
    assert "define internal void" in pyomp.explain(sharing_rules, ir=True)


def test_no_marker_survives_in_the_final_module():
    team_ids(np.zeros(16, dtype=np.int64))
    reductions(1)
    nested(np.zeros((2, 3), dtype=np.int64))
    region_in_loop_and_branch(2, np.zeros((2, 16), dtype=np.int64))
    for fn in (team_ids, reductions, nested, region_in_loop_and_branch):
        for cres in fn.overloads.values():
            final = cres.library.get_llvm_str()
            assert "pyomp.region" not in final
            assert "__kmpc_fork_call" in final


def test_benchmark_kernels_compute_pi(threads):
    from kernels import forkjoin, pi_spmd
    assert pi_spmd(10_000) == pytest.approx(np.pi, rel=1e-8)
    out = np.zeros(256 * 16, dtype=np.int64)
    forkjoin(10, out)
    assert out[0] == 2 * sum(range(10))  # the region's pass and the reference pass


@njit
def with_proc_bind(out):
    with openmp("parallel proc_bind(close)"):
        out[omp_get_thread_num()] = pyomp.omp_get_proc_bind() + 10
    return out


def test_proc_bind_clause_reaches_the_runtime(threads):
    out = with_proc_bind(np.zeros(16, dtype=np.int64))
    assert out[:threads].tolist() == [out[0]] * threads and out[0] >= 10
    (cres,) = with_proc_bind.overloads.values()
    assert "__kmpc_push_proc_bind" in cres.library.get_llvm_str()
