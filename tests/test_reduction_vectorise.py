"""Reductions and `simd` that vectorise (pyomp.accumulations, pyomp.simd): the updates of
a + - * reduction variable are reassociable floating-point operations, so LLVM keeps a
partial sum per SIMD lane; `simd` loops get `llvm.loop.vectorize.enable`. Results are
compared with the serial result (the function run as plain Python, in order) within
n * eps * sum(|terms|), not bitwise; PYOMP_REDUCTION_ORDER=strict gives the in-order sum
bitwise at one thread."""

import re
import textwrap

import numba
import numpy as np
import pyomp
import pytest
from helpers import compile_source
from numba.core.errors import TypingError
from pyomp import njit, openmp
from pyomp.accumulations import ORDER_VAR

EPS = np.finfo(np.float64).eps


def assert_close(got, want, terms):
    """|got - want| <= n * eps * sum(|terms|): any order of summing the n terms."""
    terms = np.abs(np.asarray(terms, dtype=np.float64))
    assert abs(got - want) <= terms.size * EPS * terms.sum(), (got, want)


def final_ir(fn):
    return "\n".join(fn.inspect_llvm().values())


def lowered_ir(fn):
    """The module as the Rust pass returned it (before Numba's optimisation)."""
    return "\n".join(text for _, text in
                     fn.overloads[fn.signatures[0]].library.pyomp_lowered_ir)


def vectorised(fn):
    """Whether the optimised code adds doubles in vector registers (LLVM IR, any target;
    and the packed instructions in the assembly on x86)."""
    vector_add = re.search(r"fadd (?:reassoc )?<\d+ x double>", final_ir(fn)) is not None
    asm = "\n".join(fn.inspect_asm().values())
    if "%xmm" in asm:  # x86
        return vector_add and re.search(r"\bv?addpd\b", asm) is not None
    return vector_add


def accumulations_of(fn):
    """The reduction updates the front end found in fn's (first) compilation."""
    cres = fn.overloads[fn.signatures[0]]
    return cres.metadata["pyomp_accumulations"]


@njit
def sum_of_squares(a, b):
    s = 0.0
    with openmp("parallel for reduction(+:s)"):
        for i in range(a.size):
            d = a[i] - b[i]
            s += d * d
    return s


def test_a_plain_reduction_vectorises_and_stays_within_its_tolerance(threads):
    rng = np.random.default_rng(1)
    a, b = rng.random(10_001), rng.random(10_001)
    got = sum_of_squares(a, b)
    assert_close(got, sum_of_squares.py_func(a, b), (a - b) ** 2)
    assert vectorised(sum_of_squares)
    ir = final_ir(sum_of_squares)
    # only the accumulation is reassociable: not d = a - b, not d * d
    assert "fadd reassoc" in ir
    assert "fsub reassoc" not in ir and "fmul reassoc" not in ir


@njit
def update_forms(a):
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    s4 = 0.0
    with openmp("parallel for reduction(+:s1, s2, s3) reduction(-:s4)"):
        for i in range(a.size):
            s1 = s1 + a[i]
            s2 = 2.0 * a[i] + s2          # the variable on the right
            s3 = s3 + a[i] + 0.5 * a[i]   # a chain: both + reassociable
            s4 -= a[i]
    return s1, s2, s3, s4


def test_update_forms(threads):
    a = np.random.default_rng(2).random(5000)
    got = update_forms(a)
    want = update_forms.py_func(a)
    for g, w, terms in zip(got, want, (a, 2 * a, np.r_[a, 0.5 * a], a)):
        assert_close(g, w, terms)
    assert len(accumulations_of(update_forms)) == 5
    assert vectorised(update_forms)


@njit
def product(a):
    p = 1.0
    with openmp("parallel for reduction(*:p)"):
        for i in range(a.size):
            p *= a[i]
    return p


def test_a_product_reduction(threads):
    a = 1.0 + np.random.default_rng(3).random(4000) * 1e-3
    got, want = product(a), product.py_func(a)
    # each rounding is relative: the product of n factors is within ~n eps of any other
    assert abs(got - want) <= a.size * EPS * abs(want)
    assert "fmul reassoc" in final_ir(product)


@njit
def mixed_operands(n):
    s = 0.0
    t = 0.0
    with openmp("parallel for reduction(+:s, t)"):
        for i in range(n):
            s += i            # an integer added to a float
            t += i * 0.25
    return s, t


def test_int_operands_of_a_float_reduction(threads):
    s, t = mixed_operands(10_000)
    # exact in any order: every partial sum is an integer (or a quarter) below 2**53
    assert (s, t) == mixed_operands.py_func(10_000)
    assert "fadd reassoc" in final_ir(mixed_operands)


@njit
def int_reduction(n):
    k = 0
    with openmp("parallel for reduction(+:k)"):
        for i in range(n):
            k += i * 3
    return k


def test_an_integer_reduction_is_unchanged(threads):
    assert int_reduction(1000) == int_reduction.py_func(1000)
    assert "reassoc" not in final_ir(int_reduction)


@njit
def complex_reduction(a):
    c = 0j
    with openmp("parallel for reduction(+:c)"):
        for i in range(a.size):
            c += a[i] * 1j + a[i]
    return c


def test_a_complex_reduction_stays_in_order(threads):
    a = np.random.default_rng(4).random(3000)
    got, want = complex_reduction(a), complex_reduction.py_func(a)
    assert_close(got.real, want.real, a)
    assert_close(got.imag, want.imag, a)
    assert "reassoc" not in final_ir(complex_reduction)


@njit
def read_in_the_body(a):
    s = 0.0
    clipped = 0
    with openmp("parallel for reduction(+:s, clipped)"):
        for i in range(a.size):
            s += a[i]
            if s < 0.0:      # the thread's partial sum, read: never negative here
                clipped += 1
                s = 0.0
    return s, clipped


def test_a_reduction_variable_also_read_in_the_body(threads):
    a = np.random.default_rng(5).random(4000)
    s, clipped = read_in_the_body(a)
    assert clipped == 0
    assert_close(s, read_in_the_body.py_func(a)[0], a)


@njit
def nested_rows(g):
    resid = 0.0
    n = g.shape[0]
    with openmp("parallel for reduction(+:resid)"):
        for i in range(1, n - 1):
            for j in range(1, n - 1):
                new = 0.25 * (g[i - 1, j] + g[i + 1, j] + g[i, j - 1] + g[i, j + 1])
                d = new - g[i, j]
                resid += d * d
    return resid


def test_the_accumulation_in_an_inner_loop_vectorises(threads):
    g = np.random.default_rng(6).random((70, 70))
    got, want = nested_rows(g), nested_rows.py_func(g)
    assert_close(got, want, np.full(68 * 68, 1.0))  # each d * d is below 1
    assert vectorised(nested_rows)


def test_the_benchmark_jacobi_with_residual(threads):
    from kernels import jacobi_resid
    for kernel in jacobi_resid.values():
        g = np.zeros((2, 40, 40))
        g[:, 0, :] = 1.0
        ref = g.copy()
        got = kernel(g, 5)
        want = kernel.py_func(ref, 5)
        assert_close(got, want, np.ones(38 * 38))
        np.testing.assert_allclose(g, ref, rtol=0, atol=0)  # the grid: no reduction
        assert vectorised(kernel)


@njit
def helper_add(x):
    return x + 1.5


@njit
def calls_a_function(a):
    s = 0.0
    with openmp("parallel for reduction(+:s)"):
        for i in range(a.size):
            s += helper_add(a[i])
    return s


def test_only_the_statements_of_the_construct_are_marked(threads):
    a = np.random.default_rng(7).random(1000)
    assert_close(calls_a_function(a), calls_a_function.py_func(a), a + 1.5)
    (update,) = accumulations_of(calls_a_function)
    assert update.lhs.name == "s"
    assert "reassoc" not in final_ir(helper_add)


@njit
def simd_constructs(a):
    s = 0.0
    with openmp("parallel for simd reduction(+:s)"):
        for i in range(a.size):
            s += a[i]
    t = 0.0
    with openmp("parallel"):
        with openmp("for simd reduction(+:t)"):
            for i in range(a.size):
                t += a[i]
    u = 0.0
    with openmp("simd reduction(+:u)"):
        for i in range(a.size):
            u += a[i]
    v = 0.0
    with openmp("loop reduction(+:v)"):   # no parallel region around: binds as simd
        for i in range(a.size):
            v += a[i]
    w = 0.0
    with openmp("parallel"):
        with openmp("single"):
            with openmp("taskloop simd reduction(+:w) grainsize(100)"):
                for i in range(a.size):
                    w += a[i]
    return s, t, u, v, w


def test_simd_constructs_mark_their_loops_and_vectorise(threads):
    a = np.random.default_rng(8).random(2000)
    for got in simd_constructs(a):
        assert_close(got, a.sum(), a)
    ir = lowered_ir(simd_constructs)
    # s, t, w: the worksharing / taskloop chunk loops; u, v: plain loops of the function
    assert ir.count('!{!"llvm.loop.vectorize.enable", i32 1}') == 1  # (one node, shared)
    assert len(re.findall(r"br label %\S+, !llvm\.loop !\d+", ir)) >= 5
    assert "pyomp.simd.loop" not in ir
    assert vectorised(simd_constructs)


@njit
def simd_without_reduction(a):
    s = 0.0
    with openmp("simd"):
        for i in range(a.size):
            s += a[i]   # no reduction clause: in order, but the loop may be reordered
    return s


@njit
def plain_loop(a):
    s = 0.0
    for i in range(a.size):
        s += a[i]
    return s


def test_simd_alone_lets_llvm_reorder_its_loop():
    a = np.arange(1000.0)
    assert simd_without_reduction(a) == plain_loop(a) == a.sum()  # (exact: integers)
    assert "reassoc" not in final_ir(simd_without_reduction)
    assert vectorised(simd_without_reduction) and not vectorised(plain_loop)


def test_the_strict_order_is_serial_at_one_thread(monkeypatch):
    monkeypatch.setenv(ORDER_VAR, "strict")
    strict = njit(sum_of_squares.py_func)
    strict_simd = njit(simd_constructs.py_func)
    rng = np.random.default_rng(9)
    a, b = rng.random(10_001), rng.random(10_001)
    pyomp.omp_set_num_threads(1)
    numba.set_num_threads(1)
    try:
        assert strict(a, b) == sum_of_squares.py_func(a, b)  # bitwise
        # (a taskloop's chunks are tasks with partial sums of their own: w is not serial)
        assert strict_simd(a)[:4] == simd_constructs.py_func(a)[:4]
    finally:
        pyomp.omp_set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for fn in (strict, strict_simd):
        assert "reassoc" not in final_ir(fn)
        assert "llvm.loop.vectorize.enable" not in lowered_ir(fn)
        assert not accumulations_of(fn)


def test_an_unknown_order_is_an_error(monkeypatch):
    monkeypatch.setenv(ORDER_VAR, "sometimes")
    with pytest.raises(pyomp.PyompError, match="PYOMP_REDUCTION_ORDER='sometimes'"):
        njit(sum_of_squares.py_func)(np.ones(3), np.ones(3))


def test_a_type_error_in_an_accumulation_is_numbas():
    f = compile_source(textwrap.dedent("""
        def f(n):
            s = 0.0
            with openmp("parallel for reduction(+:s)"):
                for i in range(n):
                    s += "x"
            return s
    """))
    with pytest.raises(TypingError, match="add"):
        f(4)
