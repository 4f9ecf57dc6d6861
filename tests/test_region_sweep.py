"""The region sweep: inside any construct, code compiles and behaves as the same code does
in serial Numba.

Each entry of CATALOGUE is a snippet of Numba code that computes row `i` of `out` (from the
inputs `x` and `recs`). Each PLACEMENT puts it in a construct: a `parallel` region body
(i = the thread number), a `parallel for` body, a `task`, `single`, `critical`, `master`
and an orphaned `for` in a called function. The oracle is the same snippet compiled by plain
`numba.njit` with each directive replaced by `if True:` and the team replaced by a serial
loop over the same `i`. The thread count is an argument, so each case compiles once and runs
at 1, 2, 3 and 8 threads. Results must be equal (floating-point sums are over the same
elements in the same order within a row, so equality is exact).
"""

import linecache
import textwrap
from collections import namedtuple

import numba
import numpy as np
import pyomp
import pytest
from numba.experimental import jitclass
from numba.typed import Dict, List
from pyomp import njit, omp_get_thread_num, openmp

N = 10  # iterations of the loop placements; rows of `out`
THREADS = (1, 2, 3, 8)

Point = namedtuple("Point", ["x", "y"])


@jitclass([("count", numba.float64)])
class Counter:
    def __init__(self, start):
        self.count = start

    def add(self, v):
        self.count += v
        return self.count


@numba.njit
def squares(n):
    for j in range(n):
        yield j * j


@numba.njit
def factorial(n):
    return 1 if n <= 1 else n * factorial(n - 1)


@numba.njit
def fails_on(v, bad):
    if v == bad:
        raise ValueError("bad value")
    return v * 2.0


@numba.njit(parallel=True)
def prange_sum(a):
    s = 0.0
    for j in numba.prange(a.size):
        s += a[j]
    return s


#: name -> snippet computing out[i, :] (4 columns); `i`, `x` (float64[16]), `recs` (a
#: structured array of N records) and `out` are in scope.
CATALOGUE = {
    "arithmetic": """
        out[i, 0] = i * 2.5 + x[i % 16]
    """,
    "string_building": """
        s = str(i) + "-" + "abc"
        out[i, 0] = len(s)
        out[i, 1] = s.find("abc")
    """,
    "np_random_seeded": """
        np.random.seed(i)
        out[i, 0] = np.random.random()
        out[i, 1] = np.random.randint(0, 100)
    """,
    "nd_array_expression": """
        y = np.ones((3, 3)) * i + 1.0
        z = np.sqrt(y) * 2.0 + 1.0
        out[i, 0] = z.sum()
        out[i, 1] = z[1, 2]
    """,
    "nd_slice_assignment": """
        m = np.zeros((4, 3))
        m[1:3, :] = np.sqrt(x[:6].reshape((2, 3)) + i) * 2.0 + 1.0
        out[i, 0] = m.sum()
        m[:, :] = m * 2.0
        out[i, 1] = m[2, 2]
    """,
    "broadcasting_ufuncs": """
        m = x[:4].reshape((2, 2))
        r = np.exp(m * 0.1) + np.arange(2.0) * i
        out[i, 0] = r.sum()
        out[i, 1] = np.maximum(m, 2.0).sum()
    """,
    "reductions_along_axes": """
        m = np.arange(12.0).reshape((3, 4)) + i
        out[i, 0] = m.sum(axis=0)[1]
        out[i, 1] = m.sum(axis=1)[2] + np.cumsum(m, axis=0)[2, 1]
        u = m / m.sum(axis=1).reshape((3, 1))
        out[i, 2] = u[1, 1]
    """,
    "fancy_and_boolean_indexing": """
        idx = np.array([0, 2, 3])
        v = x[idx]
        out[i, 0] = v[v > 1.0].sum() + i
        w = x.copy()
        w[w < 3.0] = 0.0
        out[i, 1] = w.sum()
    """,
    "slicing_views": """
        v = x[1:9]
        v2 = v[::2]
        out[i, 0] = v2.sum() + i
        out[i, 1] = v2[-1]
    """,
    "numpy_functions": """
        a = np.cumsum(x[:5] + i)
        b = np.sort(x[::-1])
        e = np.empty_like(x)
        e[:] = i
        out[i, 0] = a[-1] + b[0]
        out[i, 1] = np.argmax(x) + np.where(x > 2.0, 1.0, 0.0).sum()
        out[i, 2] = e.sum() + np.mean(x) + np.sum(x[:3] * x[3:6])
    """,
    "typed_list_and_dict": """
        lst = List()
        for j in range(3):
            lst.append(j * i)
        d = Dict.empty(numba.int64, numba.float64)
        d[i] = 1.5
        comp = [j * 2 for j in range(i + 1)]
        out[i, 0] = lst[2] + d[i]
        out[i, 1] = len(comp) + comp[-1]
    """,
    "tuples_and_namedtuples": """
        t = (i, 2.0, "s")
        p = Point(i, 3.0)
        out[i, 0] = t[0] + t[1] + len(t[2])
        out[i, 1] = p.x * p.y
    """,
    "records": """
        r = recs[i]
        out[i, 0] = r.a + r.b
        recs[i].b = r.a * 2.0
        out[i, 1] = recs[i].b
    """,
    "jitclass": """
        c = Counter(float(i))
        c.add(2.0)
        out[i, 0] = c.add(0.5)
    """,
    "closure_over_local": """
        k = i * 2
        def g(v):
            return k * v
        out[i, 0] = g(3.0)
    """,
    "generator": """
        s = 0.0
        for v in squares(i + 1):
            s += v
        out[i, 0] = s
    """,
    # (Numba catches with `except Exception` or a bare `except` only)
    "try_except_call": """
        try:
            out[i, 0] = fails_on(i % 3, 1)
        except Exception:
            out[i, 0] = -1.0
    """,
    "raise_and_catch": """
        try:
            if i % 2 == 0:
                raise KeyError("even")
            out[i, 1] = 1.0
        except Exception:
            out[i, 1] = -2.0
    """,
    "while_loop_last": """
        j = 0
        while j < i:
            out[i, 0] += 1.0
            j += 1
    """,
    "break_continue": """
        s = 0.0
        for j in range(20):
            if j % 3 == 0:
                continue
            if j > i + 5:
                break
            s += j
        out[i, 0] = s
    """,
    "prange_call": """
        out[i, 0] = prange_sum(x + i)
    """,
    "recursion": """
        out[i, 0] = factorial(i % 8)
    """,
    "objmode": """
        with numba.objmode(k="int64"):
            k = int(i) + 10
        out[i, 0] = k
    """,
    "print": """
        print("row", i, 2.5)
        out[i, 0] = i
    """,
}

#: name -> (pyomp source, serial source); {body} is the snippet, indented in place. `k` is
#: the thread count, an argument.
PLACEMENTS = {
    "parallel": ("""
def f(x, recs, out, k):
    with openmp("parallel num_threads(k)"):
        i = omp_get_thread_num()
        if True:
{body}
    return out
""", """
def f(x, recs, out, k):
    for i in range(k):
        if True:
{body}
    return out
"""),
    "parallel_for": ("""
def f(x, recs, out, k):
    with openmp("parallel for num_threads(k) schedule(dynamic)"):
        for i in range(10):
{body}
    return out
""", """
def f(x, recs, out, k):
    for i in range(10):
        if True:
{body}
    return out
"""),
    "task": ("""
def f(x, recs, out, k):
    with openmp("parallel num_threads(k)"):
        with openmp("single"):
            for i in range(10):
                with openmp("task firstprivate(i)"):
{body}
    return out
""", """
def f(x, recs, out, k):
    for i in range(10):
        if True:
            if True:
{body}
    return out
"""),
    "single": ("""
def f(x, recs, out, k):
    with openmp("parallel num_threads(k)"):
        with openmp("single"):
            for i in range(10):
{body}
    return out
""", """
def f(x, recs, out, k):
    for i in range(10):
        if True:
{body}
    return out
"""),
    "critical": ("""
def f(x, recs, out, k):
    with openmp("parallel num_threads(k)"):
        i = omp_get_thread_num()
        with openmp("critical"):
{body}
    return out
""", """
def f(x, recs, out, k):
    for i in range(k):
        if True:
{body}
    return out
"""),
    "master": ("""
def f(x, recs, out, k):
    with openmp("parallel num_threads(k)"):
        with openmp("master"):
            for i in range(10):
{body}
    return out
""", """
def f(x, recs, out, k):
    for i in range(10):
        if True:
{body}
    return out
"""),
    "orphaned_for": ("""
@njit
def g(x, recs, out):
    with openmp("for"):
        for i in range(10):
{body}

def f(x, recs, out, k):
    with openmp("parallel num_threads(k)"):
        g(x, recs, out)
    return out
""", """
@numba.njit
def g(x, recs, out):
    for i in range(10):
        if True:
{body}

def f(x, recs, out, k):
    g(x, recs, out)
    return out
"""),
}

#: How deep {body} sits in each placement (spaces), so the snippet can be indented.
_DEPTH = {"parallel": 12, "parallel_for": 12, "task": 20, "single": 16, "critical": 12,
          "master": 16, "orphaned_for": 12}

RECORD = np.dtype([("a", np.float64), ("b", np.float64)])


def _compile(src, name, jit):
    namespace = {"np": np, "numba": numba, "openmp": openmp, "njit": njit,
                 "omp_get_thread_num": omp_get_thread_num, "List": List, "Dict": Dict,
                 "Point": Point, "Counter": Counter, "squares": squares,
                 "factorial": factorial, "fails_on": fails_on, "prange_sum": prange_sum}
    filename = f"<sweep-{name}>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    exec(compile(src, filename, "exec"), namespace)
    return jit(namespace["f"])


def _inputs():
    x = np.linspace(0.5, 8.0, 16)
    recs = np.zeros(N, dtype=RECORD)
    recs["a"] = np.arange(N) * 1.5
    recs["b"] = 0.25
    return x, recs, np.zeros((N, 4))


def _rows_run(placement, k):
    """The rows `out` gets: one per thread for parallel/critical, else the loop's."""
    return k if placement in ("parallel", "critical") else N


@pytest.mark.parametrize("placement", list(PLACEMENTS))
@pytest.mark.parametrize("entry", list(CATALOGUE))
def test_region_body_behaves_as_serial_numba(entry, placement, capfd):
    pyomp_src, serial_src = PLACEMENTS[placement]
    body = textwrap.indent(textwrap.dedent(CATALOGUE[entry]).strip("\n"),
                           " " * _DEPTH[placement])
    parallel = _compile(pyomp_src.format(body=body), f"{entry}-{placement}", njit)
    serial_body = textwrap.indent(textwrap.dedent(CATALOGUE[entry]).strip("\n"),
                                  " " * (_DEPTH[placement] if placement != "task" else 16))
    serial = _compile(serial_src.format(body=serial_body), f"{entry}-{placement}-serial",
                      numba.njit)
    for k in THREADS:
        if placement in ("parallel", "critical") and k > N:
            continue
        rows = _rows_run(placement, k)
        x, recs, out = _inputs()
        got = parallel(x, recs, out, k)
        printed = capfd.readouterr().out
        x2, recs2, out2 = _inputs()
        want = serial(x2, recs2, out2, k)
        expected_print = capfd.readouterr().out
        assert np.array_equal(got[:rows], want[:rows]), (entry, placement, k)
        assert np.array_equal(recs, recs2), (entry, placement, k)
        # printed lines: the same set (threads print in any order), each whole
        assert sorted(printed.splitlines()) == sorted(expected_print.splitlines())


UNCAUGHT = """
def f(x, recs, out, k):
    with openmp("parallel for num_threads(k)"):
        for i in range(10):
            if i == 7:
                raise ValueError("row seven")
            out[i, 0] = i
    return out
"""


@pytest.mark.parametrize("k", THREADS)
def test_uncaught_exception_leaves_the_region_as_in_serial_numba(k):
    parallel = _compile(UNCAUGHT, "uncaught", njit)
    serial = _compile(UNCAUGHT.replace('with openmp("parallel for num_threads(k)"):',
                                       "if True:"), "uncaught-serial", numba.njit)
    x, recs, out = _inputs()
    with pytest.raises(ValueError, match="row seven"):
        serial(x, recs, out, k)
    with pytest.raises(ValueError, match="row seven"):
        parallel(x, recs, out, k)


def test_atomic_on_an_element_indexed_by_the_thread_number():
    # an int32 index (omp_get_thread_num()) in an atomic's subscript
    @pyomp.njit
    def f(out):
        with openmp("parallel num_threads(3)"):
            me = omp_get_thread_num()
            with openmp("atomic write"):
                out[me] = me + 1
            with openmp("atomic update"):
                out[me] += 10
            with openmp("atomic read"):
                v = out[me]
            out[me + 3] = v
        return out

    assert f(np.zeros(6, np.int64)).tolist() == [11, 12, 13, 11, 12, 13]
