"""Issue 14, "PyOMP programs run unchanged": the directive strings PyOMP 0.6 accepts (an
f-string over constant locals, concatenated constant locals), PyOMP's phrases in our error
messages (programs and test suites match on them) and `ParallelForExtraCode` for any
statement beside the loop of a `parallel for`, prints and calls included.

Programs run at each thread count and are compared with a serial numba.njit oracle; errors
name the file and line of the `with openmp(...)`.
"""

import textwrap

import numba
import numpy as np
import pyomp
import pytest
from helpers import compile_source
from pyomp.errors import PyompError

N = 100


@numba.njit
def _sum_of_squares(n):
    """The serial oracle of the reductions below."""
    s = 0
    for i in range(n):
        s += i * i
    return s


def _compile(src):
    return compile_source(textwrap.dedent(src), "compat")


def _team_and_sum(src, k):
    """Runs `f(n, team)` of `src` and checks it against the oracle: the sum of squares
    below n, and a team of k threads written to team[0]."""
    team = np.zeros(1, dtype=np.int64)
    assert _compile(src)(N, team) == _sum_of_squares(N)
    assert team[0] == k


# -- directive strings ----------------------------------------------------------------------
def test_fstring_over_constant_locals_is_a_directive(threads):
    _team_and_sum(f"""
        def f(n, team):
            num_threads = {threads}
            s = 0
            with openmp(f"parallel for num_threads({{num_threads}}) reduction(+:s)"):
                for i in range(n):
                    s += i * i
            with openmp(f"parallel num_threads({{num_threads}})"):
                if omp_get_thread_num() == 0:
                    team[0] = omp_get_num_threads()
            return s
    """, threads)


def test_concatenated_constant_locals_are_a_directive(threads):
    _team_and_sum(f"""
        def f(n, team):
            prefix = "parallel "
            suffix = "num_threads({threads})"
            reduction = " reduction(+:s)"
            s = 0
            with openmp(prefix + "for " + suffix + reduction):
                for i in range(n):
                    s += i * i
            with openmp(prefix + suffix):
                if omp_get_thread_num() == 0:
                    team[0] = omp_get_num_threads()
            return s
    """, threads)


def test_fstring_concatenated_with_a_constant_local(threads):
    _team_and_sum(f"""
        def f(n, team):
            k = {threads}
            clause = "reduction(+:s)"
            s = 0
            with openmp(f"parallel for num_threads({{k}}) " + clause):
                for i in range(n):
                    s += i * i
            with openmp("parallel " + f"num_threads({{k}})"):
                if omp_get_thread_num() == 0:
                    team[0] = omp_get_num_threads()
            return s
    """, threads)


def _fail(src, cls, *args):
    """The error compiling and running `f(*args)` of `src` raises (exactly `cls`)."""
    f = _compile(src)
    with pytest.raises(cls) as info:
        f(*args)
    assert type(info.value) is cls, type(info.value)
    assert isinstance(info.value, PyompError)
    return info.value


def _indent(lines, width):
    return textwrap.indent(lines, " " * width)


def _names_the_line(err, line):
    msg = str(err)
    assert err.filename.startswith("<compat-")
    assert msg.startswith(f"{err.filename}:{line}:"), msg
    return msg


def test_a_string_built_at_run_time_is_not_constant():
    err = _fail("""
        def f(n):
            ovar = "parallel "
            ovar += "for"
            with openmp(ovar):
                for i in range(n):
                    pass
            return n
    """, pyomp.NonconstantOpenmpSpecification, 4)
    msg = _names_the_line(err, 5)
    assert "Cannot infer constant OpenMP specification at line 5" in msg


def test_an_fstring_over_an_argument_is_not_constant():
    err = _fail("""
        def f(n):
            with openmp(f"parallel num_threads({n})"):
                pass
            return n
    """, pyomp.NonconstantOpenmpSpecification, 4)
    msg = _names_the_line(err, 3)
    assert "Cannot infer constant OpenMP specification at line 3" in msg


def test_an_argument_is_not_constant():
    err = _fail("""
        def f(n, d):
            with openmp(d):
                pass
            return n
    """, pyomp.NonconstantOpenmpSpecification, 4, "parallel")
    msg = _names_the_line(err, 3)
    assert "Non-constant OpenMP specification at line 3" in msg


@pytest.mark.parametrize("setup,arg,kind", [
    ("ovar = 7", "ovar", "int"),
    ("a = 3\n    b = 4", "a + b", "int"),
])
def test_a_constant_that_is_not_a_string(setup, arg, kind):
    err = _fail(f"""
def f(n):
    {setup}
    with openmp({arg}):
        pass
    return n
""", pyomp.NonStringOpenmpSpecification, 4)
    line = 3 + setup.count("\n") + 1
    msg = _names_the_line(err, line)
    assert f"Non-string OpenMP specification at line {line}" in msg
    assert kind in msg


# -- PyOMP's phrases in our messages --------------------------------------------------------
def test_default_none_says_pyomps_words():
    err = _fail("""
        def f(n):
            a = np.zeros(n, dtype=np.int32)
            x = 7
            with openmp("parallel for default(none)"):
                for i in range(n):
                    a[i] = i + x
            return a
    """, pyomp.UnspecifiedVarInDefaultNone, 10)
    msg = _names_the_line(err, 5)
    assert "Variables with no data env clause" in msg
    assert "missing: 'a', 'n', 'x'" in msg  # ours stays


@pytest.mark.parametrize("body,count", [
    ("pass", 0),
    ("a[0] = 1", 0),
    ("for i in range(2):\n    a[i] = 1\nfor i in range(2, 4):\n    a[i] = 1", 2),
])
def test_wrong_loop_count_says_pyomps_words(body, count):
    err = _fail(f"""
def f(a):
    with openmp("parallel for"):
{_indent(body, 8)}
    return a
""", pyomp.ParallelForWrongLoopCount, np.zeros(4))
    msg = _names_the_line(err, 3)
    assert "OpenMP parallel for regions must contain exactly one range based loop" in msg
    assert f"contains {count} loops" in msg


# -- extra code beside the loop of a `parallel for` -----------------------------------------
@numba.njit
def _helper():
    pass


EXTRA_STATEMENTS = [
    'print("Fail")',
    'print("Fail", n, 2.5, a[0])',
    "_helper()",
    "a[0] + 1",
    "len(a)",
    "x = 1",
    "np.sum(a)",
]


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize("stmt", EXTRA_STATEMENTS)
def test_statement_beside_the_loop_is_extra_code(stmt, where):
    loop = "for i in range(n):\n    a[i] = i"
    body = f"{stmt}\n{loop}" if where == "before" else f"{loop}\n{stmt}"
    f = compile_source(f"""
def f(a, n):
    with openmp("parallel for"):
{_indent(body, 8)}
    return a
""", "compat", _helper=_helper)
    with pytest.raises(pyomp.ParallelForExtraCode) as info:
        f(np.zeros(4), 4)
    err = info.value
    stmt_line = 4 if where == "before" else 6
    msg = _names_the_line(err, 3)
    assert f"line {stmt_line}" in msg
    assert f"Extra code near line {stmt_line}" in msg


@pytest.mark.parametrize("stmt", ['print("Fail")', "_helper()", "a[0, 0] + 1"])
def test_statement_between_collapsed_loops_is_extra_code(stmt):
    f = compile_source(textwrap.dedent(f"""
        def f(a, n):
            with openmp("parallel for collapse(2)"):
                for i in range(n):
                    {stmt}
                    for j in range(n):
                        a[i, j] = i + j
            return a
    """), "compat", _helper=_helper)
    with pytest.raises(pyomp.ParallelForExtraCode) as info:
        f(np.zeros((4, 4)), 4)
    msg = _names_the_line(info.value, 3)
    assert "line 5" in msg
    assert "Extra code near line 5" in msg


def test_a_loop_over_a_computed_range_is_not_extra_code(threads):
    def serial(a, n):
        for i in range(len(a) - n, len(a)):
            a[i] = i * 2
        return a

    f = _compile(f"""
        def f(a, n):
            with openmp("parallel for num_threads({threads})"):
                for i in range(len(a) - n, len(a)):
                    a[i] = i * 2
            return a
    """)
    np.testing.assert_array_equal(f(np.zeros(50), 30), numba.njit(serial)(np.zeros(50), 30))
