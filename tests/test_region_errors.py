"""Failures inside and around parallel regions: exceptions propagate after the region (no
hang, no crash, no leak); malformed regions and default(none) violations are located
compile-time errors."""

import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pyomp
import pytest
from helpers import in_lasting_python_threads
from numba.core.runtime import _nrt_python, rtsys
from pyomp import njit, omp_get_num_threads, omp_get_thread_num, openmp

HERE = os.path.basename(__file__)


@njit
def raise_on_thread(who, out):
    with openmp("parallel"):
        tid = omp_get_thread_num()
        out[tid] = 1
        if tid == who:
            raise ValueError("thread failed:", tid)
    return out.sum()


def test_exception_from_one_thread_propagates_after_the_region(threads):
    out = np.zeros(16, dtype=np.int64)
    with pytest.raises(ValueError) as err:
        raise_on_thread(threads - 1, out)
    assert err.value.args == ("thread failed:", threads - 1)
    assert out[:threads].sum() == threads, "every thread ran to the end of the region"
    # and the function works normally afterwards
    assert raise_on_thread(-1, np.zeros(16, dtype=np.int64)) == threads


@njit
def everyone_raises(flag):
    with openmp("parallel"):
        if flag:
            raise KeyError(omp_get_thread_num())
    return 0


def test_when_all_threads_raise_one_exception_is_raised(threads):
    with pytest.raises(KeyError) as err:
        everyone_raises(True)
    assert err.value.args[0] in range(threads)


def test_a_region_that_always_raises_is_a_clear_error():
    f, filename = _compile(textwrap.dedent("""
        def f():
            with openmp("parallel"):
                raise KeyError(omp_get_thread_num())
            return 0
    """))
    with pytest.raises(pyomp.PyompError, match="every path through this OpenMP region raises"):
        njit(f)()


@njit
def helper_that_raises(x):
    if x >= 0:
        raise ZeroDivisionError("helper saw", x)
    return x


@njit
def raise_from_called_function(out):
    with openmp("parallel"):
        out[omp_get_thread_num()] = helper_that_raises(omp_get_thread_num() - 1)
    return out


def test_exception_from_a_called_function(threads):
    if threads == 1:
        assert raise_from_called_function(np.zeros(16))[0] == -1
        return
    with pytest.raises(ZeroDivisionError):
        raise_from_called_function(np.zeros(16))


@njit(boundscheck=True)
def out_of_bounds(a):
    with openmp("parallel"):
        a[omp_get_thread_num() + 100] = 1.0
    return a


def test_boundscheck_index_error_in_region(threads):
    with pytest.raises(IndexError):
        out_of_bounds(np.zeros(4))


@njit
def divide(a, b):
    s = 0
    with openmp("parallel reduction(+:s)"):
        s += a // b
    return s


def test_zero_division_in_region(threads):
    assert divide(7, 2) == 3 * threads
    with pytest.raises(ZeroDivisionError):
        divide(7, 0)


@njit
def nested_raise():
    with openmp("parallel num_threads(2)"):
        with openmp("parallel num_threads(2)"):
            if omp_get_thread_num() == 1:
                raise RuntimeError("inner")
    return 1


def test_exception_in_a_nested_region():
    pyomp.omp_set_max_active_levels(2)
    try:
        with pytest.raises(RuntimeError, match="inner"):
            nested_raise()
    finally:
        pyomp.omp_set_max_active_levels(1)


@njit
def shares_arrays(a, b, out):
    with openmp("parallel firstprivate(b)"):
        tid = omp_get_thread_num()
        c = a[:2] + b[:2]      # a temporary array in each thread
        out[tid] = c[0]
        b = np.ones(3)          # rebinding the private copy
    return out.sum()


def test_no_leak_when_arrays_are_shared_private_and_allocated_in_regions(threads):
    _nrt_python.memsys_enable_stats()
    a, b, out = np.zeros(16), np.full(4, 2.0), np.zeros(16)
    shares_arrays(a, b, out)  # compile
    before = rtsys.get_allocation_stats()
    for _ in range(20):
        shares_arrays(a, b, out)
    after = rtsys.get_allocation_stats()
    allocs = after.alloc - before.alloc
    frees = after.free - before.free
    assert allocs == frees and allocs >= 20 * threads, (allocs, frees)
    mi = after.mi_alloc - before.mi_alloc
    assert mi == after.mi_free - before.mi_free
    assert out[:threads].tolist() == [2.0] * threads


def _compile(src):
    namespace = {"openmp": openmp, "omp_get_thread_num": omp_get_thread_num}
    filename = f"<region-errors-{abs(hash(src))}>"
    import linecache
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    exec(compile(src, filename, "exec"), namespace)
    return namespace["f"], filename


def test_return_inside_a_region_is_an_error():
    f, filename = _compile(textwrap.dedent("""
        def f(n):
            with openmp("parallel"):
                if n > 0:
                    return 1
            return 0
    """))
    with pytest.raises(pyomp.PyompError, match="`return` inside an OpenMP region") as err:
        njit(f)(1)
    assert f"{filename}:3" in str(err.value)


def test_break_out_of_a_region_is_an_error():
    f, filename = _compile(textwrap.dedent("""
        def f(n):
            s = 0
            for i in range(n):
                with openmp("parallel"):
                    if i > 2:
                        break
                s += i
            return s
    """))
    with pytest.raises(pyomp.PyompError, match="control leaves the OpenMP region") as err:
        njit(f)(5)
    assert f"{filename}:5" in str(err.value)


def test_default_none_names_every_unlisted_variable():
    f, filename = _compile(textwrap.dedent("""
        def f(a, n):
            k = 2
            with openmp("parallel default(none) shared(a)"):
                a[omp_get_thread_num()] = n * k
            return a
    """))
    with pytest.raises(pyomp.UnspecifiedVarInDefaultNone) as err:
        njit(f)(np.zeros(16), 3)
    msg = str(err.value)
    assert "'k', 'n'" in msg and f"{filename}:4" in msg
    src, caret = msg.splitlines()[1:3]
    assert src[caret.index("^"):].startswith("default(none)")


def test_default_none_with_every_variable_listed_compiles(threads):
    f, _ = _compile(textwrap.dedent("""
        def f(a, n):
            k = 2
            with openmp("parallel default(none) shared(a) firstprivate(n, k)"):
                a[omp_get_thread_num()] = n * k
            return a
    """))
    assert njit(f)(np.zeros(16), 3)[:threads].tolist() == [6.0] * threads


def test_pyomp_and_numba_prange_in_one_process(threads):
    @numba.njit(parallel=True)
    def prange_sum(a):
        s = 0.0
        for i in numba.prange(a.size):
            s += a[i]
        return s

    a = np.arange(1000.0)
    assert prange_sum(a) == a.sum()
    out = np.zeros(16, dtype=np.int64)
    from test_parallel import team_ids
    assert team_ids(out) == threads
    assert prange_sum(a) == a.sum()


def test_called_from_several_python_threads_at_once():
    @njit(nogil=True)
    def work(out, k):
        with openmp("parallel num_threads(2)"):
            out[omp_get_thread_num()] = k * 10 + omp_get_num_threads()
        return out

    results, errors = {}, []

    def run(k):
        try:
            for _ in range(50):
                results[k] = work(np.zeros(2, dtype=np.int64), k).tolist()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    work(np.zeros(2, dtype=np.int64), 0)
    in_lasting_python_threads(run)
    assert not errors
    assert results == {k: [k * 10 + 2, k * 10 + 2] for k in range(4)}


CACHED = textwrap.dedent("""
    import numpy as np
    from pyomp import njit, openmp, omp_get_thread_num, omp_set_num_threads

    @njit(cache=True)
    def kernel(n):
        s = 0
        with openmp("parallel reduction(+:s)"):
            s += omp_get_thread_num() + n
        return s

    if __name__ == "__main__":
        omp_set_num_threads(3)
        r = kernel(10)
        sig = kernel.signatures[0]
        print(r, kernel.stats.cache_hits.get(sig, 0))
""")


def test_cache_true_with_a_region(tmp_path):
    path = tmp_path / "cached_region.py"
    path.write_text(CACHED)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))

    def run():
        out = subprocess.run([sys.executable, str(path)], env=env, capture_output=True,
                             text=True, timeout=180)
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    assert run() == ["33", "0"]
    assert run() == ["33", "1"], "loaded from the cache, still parallel"
