"""Every module of a pyomp-compiled function goes text -> Rust pass (LLVM 19) -> bitcode ->
llvmlite.  This sweep pushes a wide range of Numba features through that roundtrip and
checks the results equal plain Numba's, so a new numba/llvmlite release that prints IR the
pass cannot read fails here, loudly."""

import math

import numba
import numpy as np
import pyomp
import pytest
from numba import prange, typed, types

GLOBAL_TABLE = np.arange(7, dtype=np.int64) * 3
GLOBAL_SCALE = 2.5


@numba.njit
def plain_helper(x):
    return x * 2 + 1


@pyomp.njit
def pyomp_helper(x):
    return x - 3


def arrays_of_dtypes(a, b, c, d):
    return a.sum() + b.astype(np.float64).sum() + c.real.sum() + d.sum()


def layouts(m):
    # C, F and non-contiguous (A) views of the same data
    return m.sum() + m.T.sum() + m[::2, 1::3].sum() + np.asfortranarray(m)[1:, :].sum()


def reduction_loop(a):
    s = 0.0
    p = 1.0
    mx = -np.inf
    for i in range(a.size):
        s += a[i]
        p *= 1.0 + a[i] * 1e-3
        mx = max(mx, a[i])
    return s, p, mx


def raise_with_runtime_args(n):
    if n > 3:
        raise ValueError("n too large:", n)
    return n


def strings(s):
    t = s.upper() + "-" + s[::-1]
    return len(t), t, "LO" in t


def typed_containers(n):
    lst = typed.List.empty_list(types.int64)
    d = typed.Dict.empty(types.unicode_type, types.float64)
    for i in range(n):
        lst.append(i * i)
        d[str(i)] = i / 2
    return sum(lst), d["3"], len(d)


def tuples(a, b):
    t = (a, b, a + b)
    x, y, z = t
    return z * x, (y, x)


REC = np.dtype([("x", np.float64), ("n", np.int32)])


def records(r):
    total = 0.0
    for i in range(r.size):
        total += r[i].x * r[i].n
    r[0].x = total
    return total


def gen(n):
    for i in range(n):
        yield i * i


def use_generator(n):
    s = 0
    for v in gen_jit(n):
        s += v
    return s


def numpy_calls(a):
    b = np.sort(a)
    c = np.cumsum(b)
    idx = np.argsort(-a)
    return c[-1], idx[0], np.unique(np.floor(a)).size, np.where(a > 0.5, 1, 0).sum()


def calls_and_globals(x):
    return plain_helper(x) + pyomp_helper(x) + GLOBAL_TABLE[x % 7] * GLOBAL_SCALE


def math_and_complex(x):
    z = complex(x, -x)
    return math.sin(x) + math.exp(-x) + abs(z) + (z * z).imag + math.gamma(1.5)


def closures(n):
    k = 3

    def inner(v):
        return v * k

    return inner(n) + inner(1)


def boundscheck_index(a, i):
    return a[i]


def prange_sum(a):
    s = 0.0
    for i in prange(a.size):
        s += a[i] * a[i]
    return s


gen_jit = numba.njit(gen)

rng = np.random.default_rng(7)
VEC = rng.random(101)
MAT = rng.random((6, 9))
RECS = np.zeros(4, dtype=REC)
RECS["x"] = [1.5, 2.0, 3.0, 0.5]
RECS["n"] = [1, 2, 3, 4]

CASES = [
    (arrays_of_dtypes, (np.arange(5, dtype=np.int8), np.ones(4, np.float32),
                        np.array([1 + 2j, 3 - 1j]), np.array([True, False, True]))),
    (layouts, (MAT,)),
    (reduction_loop, (VEC,)),
    (raise_with_runtime_args, (2,)),
    (strings, ("hello",)),
    (typed_containers, (10,)),
    (tuples, (3, 4.5)),
    (records, (RECS,)),
    (use_generator, (10,)),
    (numpy_calls, (VEC,)),
    (calls_and_globals, (11,)),
    (math_and_complex, (0.7,)),
    (closures, (5,)),
]


def _copy(args):
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)


def _went_through_pass(dispatcher):
    libs = [cres.library for cres in dispatcher.overloads.values()]
    return libs and all(getattr(lib, "pyomp_modules", None) for lib in libs)


@pytest.mark.parametrize("func,args", CASES, ids=[c[0].__name__ for c in CASES])
def test_same_result_as_numba(func, args, threads):
    expected = numba.njit(func)(*_copy(args))
    ours = pyomp.njit(func)
    got = ours(*_copy(args))
    np.testing.assert_equal(got, expected)
    assert _went_through_pass(ours)


def test_exception_with_runtime_args_keeps_type_and_message():
    ours = pyomp.njit(raise_with_runtime_args)
    with pytest.raises(ValueError) as ours_err:
        ours(9)
    with pytest.raises(ValueError) as numba_err:
        numba.njit(raise_with_runtime_args)(9)
    assert ours_err.value.args == numba_err.value.args == ("n too large:", 9)


def test_boundscheck_raises_index_error():
    ours = pyomp.njit(boundscheck=True)(boundscheck_index)
    assert ours(VEC, 3) == VEC[3]
    with pytest.raises(IndexError):
        ours(VEC, 1000)


def test_parallel_true_prange_through_the_pass(threads):
    ours = pyomp.njit(parallel=True)(prange_sum)
    assert ours(VEC) == pytest.approx(float((VEC * VEC).sum()))
    assert _went_through_pass(ours)


def test_numba_options_are_accepted():
    f = pyomp.njit("float64(float64)", fastmath=True, nogil=True)(lambda x: math.sqrt(x))
    assert f(4.0) == 2.0 and len(f.overloads) == 1  # compiled eagerly from the signature
    g = pyomp.njit(error_model="numpy")(lambda x: 1.0 / x)
    assert math.isinf(g(0.0))  # numpy error model: no ZeroDivisionError
    with pytest.raises(ZeroDivisionError):
        pyomp.njit(lambda x: 1.0 / x)(0.0)
    assert pyomp.jit(nopython=True)(lambda x: x + 1)(1) == 2


def test_pipeline_class_with_numba_njit():
    f = numba.njit(pipeline_class=pyomp.OpenMPCompiler)(calls_and_globals)
    assert f(4) == numba.njit(calls_and_globals)(4)
    assert _went_through_pass(f)


def test_function_defined_in_a_notebook_cell():
    import linecache
    src = "def cell_fn(n):\n    s = 0\n    for i in range(n):\n        s += i\n    return s\n"
    filename = "<ipython-input-3-0123456789ab>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    namespace = {}
    exec(compile(src, filename, "exec"), namespace)
    f = pyomp.njit(namespace["cell_fn"])
    assert f(10) == 45
