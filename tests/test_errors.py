"""Issue 7, "Errors": every directive problem is a PyompError whose message names the file,
line and column of the `with openmp(...)`, shows the directive with a caret under the
offending token and says what was expected. One test per kind of problem, end to end
(compiled with pyomp.njit); the directive-level rules are unit-tested in test_directives.py.
"""

import textwrap

import numba
import numpy as np
import pyomp
import pytest
from helpers import compile_source
from pyomp.errors import (
    ClauseNotAllowedError,
    DirectiveSyntaxError,
    ParallelForInvalidCollapseCount,
    ParallelForWrongLoopCount,
    PyompError,
)


def _fail(src, *args, cls=PyompError):
    """Compile `def f` of `src` with pyomp.njit, run it and return the error it raises."""
    f = compile_source(textwrap.dedent(src), "errors")
    with pytest.raises(cls) as info:
        f(*args)
    assert type(info.value) is cls, type(info.value)
    return info.value


def _assert_located(err, line, token):
    """`file:line:col: error:` first, then the source line and a caret line whose carets sit
    under `token`; returns the message."""
    msg = str(err)
    head, source, caret = msg.splitlines()[:3]
    col = caret.index("^")
    assert source[col:col + len(caret.strip())] == token, (source, caret)
    # the excerpt is indented by 4; columns are 1-based
    assert head.startswith(f"{err.filename}:{line}:{col - 4 + 1}: error: "), head
    assert err.filename.startswith("<errors-")
    return msg


# -- misspelled keywords: "did you mean" ----------------------------------------------------
@pytest.mark.parametrize("directive,token,expected,suggestion", [
    ("parallel for schedule(dinamic)", "dinamic", "'dynamic', 'guided'", "'dynamic'"),
    ("paralel for", "paralel", "unknown OpenMP construct", "'parallel'"),
    ("parallel for reduction(plus:s)", "plus", "+, -, *, &, |, ^, &&, ||, max, min", "'+'"),
    ("parallel for reduction(maximum: s)", "maximum", "max, min", "'max'"),
    ("parallel for firstprivat(s)", "firstprivat", "unknown clause", "'firstprivate'"),
    ("parallel for defualt(none)", "defualt", "unknown clause", "'default'"),
    ("parallel fro", "fro", "unknown clause", "'for'"),
])
def test_misspelled_keywords_get_a_suggestion(directive, token, expected, suggestion):
    err = _fail(f"""
        def f(n):
            s = 0
            with openmp("{directive}"):
                for i in range(n):
                    s += i
            return s
    """, 4, cls=DirectiveSyntaxError)
    msg = _assert_located(err, 4, token)
    assert expected in msg
    assert msg.splitlines()[-1] == f"did you mean {suggestion}?"


# -- clause rules ---------------------------------------------------------------------------
def test_clause_not_allowed_on_the_construct():
    err = _fail("""
        def f(a):
            with openmp("parallel"):
                with openmp("single schedule(static)"):
                    a[0] = 1
            return a
    """, np.zeros(2), cls=ClauseNotAllowedError)
    msg = _assert_located(err, 4, "schedule(static)")
    assert "'single' accepts: private, firstprivate, copyprivate, nowait" in msg


def test_a_variable_in_two_data_sharing_clauses():
    err = _fail("""
        def f(n):
            x = 1
            with openmp("parallel private(x) firstprivate(x)"):
                x = n
            return x
    """, 4, cls=ClauseNotAllowedError)
    msg = _assert_located(err, 4, "x")
    assert "'x' appears in both private and firstprivate" in msg
    assert msg.splitlines()[2].index("^") == msg.splitlines()[1].index("firstprivate(x)") + 13


def test_firstprivate_and_lastprivate_on_one_variable_are_allowed(threads):
    f = compile_source(textwrap.dedent("""
        def f(n, seen):
            x = 100
            with openmp("parallel for firstprivate(x) lastprivate(x)"):
                for i in range(n):
                    seen[i] = x  # every thread's copy starts at 100
                    x = i * 2
            return x
    """), "errors")
    seen = np.zeros(10, dtype=np.int64)
    assert f(10, seen) == 18  # the sequentially last iteration's value
    assert 100 in seen


def test_lastprivate_conditional_is_refused_not_ignored():
    # OpenMP's answer here is 4 (the last iteration that assigned x), plain lastprivate's
    # the last iteration's value of x: pyomp refuses the modifier rather than ignore it
    err = _fail("""
        def f(n):
            x = -1
            with openmp("parallel for lastprivate(conditional: x)"):
                for i in range(n):
                    if i < 5:
                        x = i
            return x
    """, 100, cls=pyomp.errors.UnsupportedConstructError)
    msg = str(err)
    assert "lastprivate(conditional: ...) is not implemented" in msg
    src, caret = msg.splitlines()[1:3]
    assert src[caret.index("^"):].startswith("lastprivate(conditional: x)")


def test_a_loop_run_as_simd_is_named_loop_in_its_error():
    err = _fail("""
        def f(n):
            s = 0
            with openmp("loop bind(thread)"):
                s = n
            return s
    """, 3, cls=ParallelForWrongLoopCount)
    assert "a 'loop' construct must contain exactly one" in str(err)


def test_default_none_names_all_unlisted_variables_at_once():
    err = _fail("""
        def f(a, n):
            k = 2
            m = 3
            with openmp("parallel default(none) shared(a)"):
                a[0] = n * k + m
            return a
    """, np.zeros(2), 4, cls=pyomp.UnspecifiedVarInDefaultNone)
    msg = _assert_located(err, 5, "default(none)")
    assert "missing: 'k', 'm', 'n'" in msg


# -- nesting --------------------------------------------------------------------------------
_OUTER = {  # (directive of the outer region, the code around the inner construct)
    "for": ("parallel for", "for i in range(n):\n    {X}"),
    "single": ("parallel", "with openmp(\"single\"):\n    {X}"),
    "critical": ("parallel", "with openmp(\"critical\"):\n    {X}"),
    "ordered": ("parallel for ordered",
                "for i in range(n):\n    with openmp(\"ordered\"):\n        {X}"),
    "task": ("parallel", "with openmp(\"task\"):\n    {X}"),
    "master": ("parallel", "with openmp(\"master\"):\n    {X}"),
    "section": ("parallel sections", "with openmp(\"section\"):\n    {X}"),
}
_INNER = {
    "barrier": "with openmp(\"barrier\"):\n    pass",
    "for": "with openmp(\"for\"):\n    for j in range(n):\n        a[j] = j",
    "single": "with openmp(\"single\"):\n    a[0] = 1",
}


def _nest(outer, inner):
    directive, around = _OUTER[outer]
    indent = around.rsplit("\n", 1)[1].split("{X}")[0]
    body = around.replace("{X}", textwrap.indent(_INNER[inner], indent)[len(indent):])
    inner_line = 3 + around.split("\n").index(around.rsplit("\n", 1)[1])
    src = (f'def f(n, a):\n    with openmp("{directive}"):\n'
           + textwrap.indent(body, " " * 8) + "\n    return a\n")
    return src, inner_line


@pytest.mark.parametrize("outer", sorted(_OUTER))
@pytest.mark.parametrize("inner", sorted(_INNER))
def test_barrier_and_worksharing_cannot_be_closely_nested(inner, outer):
    src, line = _nest(outer, inner)
    err = _fail(src, 4, np.zeros(4))
    msg = _assert_located(err, line, inner)
    assert f"'{inner}' cannot be nested inside '{outer}'" in msg
    assert "all threads of the team" in msg and "move it out of the" in msg


def test_inside_a_nested_parallel_region_they_are_allowed_again(threads):
    f = compile_source(textwrap.dedent("""
        def f(n, a):
            with openmp("parallel for"):
                for i in range(n):
                    with openmp("parallel num_threads(2)"):
                        with openmp("barrier"):
                            pass
                        with openmp("for"):
                            for j in range(n):
                                a[i, j] = i + j
                        with openmp("single"):
                            a[i, n] = 1
            with openmp("parallel"):
                with openmp("critical"):
                    with openmp("parallel for num_threads(2)"):
                        for j in range(n):
                            a[n, j] += 1
            return a
    """), "errors")
    a = f(5, np.zeros((6, 6)))
    i, j = np.indices((5, 5))
    assert (a[:5, :5] == i + j).all() and (a[:5, 5] == 1).all()
    assert (a[5, :5] == threads).all()


@pytest.mark.parametrize("outer", ["for", "task", "single"])
def test_master_cannot_be_closely_nested_in_worksharing_or_task(outer):
    before, after = _nest(outer, "single")[0].rsplit('"single"', 1)  # the inner one
    src = before + '"master"' + after
    err = _fail(src, 4, np.zeros(4))
    assert f"'master' cannot be nested inside '{outer}'" in str(err)


def test_critical_inside_a_critical_of_the_same_name():
    err = _fail("""
        def f(a):
            with openmp("parallel"):
                with openmp("critical(lock)"):
                    with openmp("critical(lock)"):
                        a[0] += 1
            return a
    """, np.zeros(2))
    msg = _assert_located(err, 5, "critical")
    assert "nested inside a 'critical(lock)' (line 4)" in msg and "different name" in msg


def test_ordered_block_without_the_ordered_clause():
    err = _fail("""
        def f(n, a):
            with openmp("parallel for"):
                for i in range(n):
                    with openmp("ordered"):
                        a[i] = i
            return a
    """, 4, np.zeros(4))
    msg = _assert_located(err, 5, "ordered")
    assert "has no `ordered` clause; add `ordered` to it" in msg


def test_orphaned_section():
    err = _fail("""
        def f(a):
            with openmp("parallel"):
                with openmp("section"):
                    a[0] = 1
            return a
    """, np.zeros(2))
    msg = _assert_located(err, 4, "section")
    assert "must stand directly inside a 'sections' construct" in msg


# -- types ----------------------------------------------------------------------------------
@pytest.mark.parametrize("init,op,expected", [
    ("1.5", "&", "floats reduce with +, -, *, max, min"),
    ("(1, 2)", "+", "reductions work on integers, floats, complex numbers, booleans"),
    ("'ab'", "+", "reductions work on integers, floats, complex numbers, booleans"),
    ("1j", "max", "complex numbers reduce with +, -, *"),
    ("np.zeros(3)", "|", "arrays of float64 reduce element by element with +, -, *, max, min"),
])
def test_reduction_on_a_type_the_operator_does_not_support(init, op, expected):
    err = _fail(f"""
        def f(n):
            s = {init}
            with openmp("parallel for reduction({op}: s)"):
                for i in range(n):
                    s = s
            return s
    """, 4)
    msg = _assert_located(err, 4, "s")
    assert f"reduction({op}: s) is not supported for a variable of type" in msg
    assert expected in msg


# -- loops ----------------------------------------------------------------------------------
def test_collapse_deeper_than_the_nest():
    err = _fail("""
        def f(n, a):
            with openmp("parallel for collapse(3)"):
                for i in range(n):
                    for j in range(n):
                        a[i] += j
            return a
    """, 4, np.zeros(4), cls=ParallelForInvalidCollapseCount)
    msg = _assert_located(err, 3, "collapse(3)")
    assert "needs 3 perfectly nested loops; found 2" in msg


@pytest.mark.parametrize("loop,expected", [
    ("while n > 0:\n        n -= 1", "found a `while` loop (line 5)"),
    ("for i in range(0.0, n):\n        a[int(i)] = 1",
     "the start of range(...) in the loop over 'i' (line 5) has type float64"),
    ("for i in range(x):\n        a[int(i)] = 1",
     "the stop of range(...) in the loop over 'i' (line 5) has type float64"),
    ("for i in range(0, n, 1.0):\n        a[int(i)] = 1", "the step of range(...)"),
    ("for i in range(n):\n        i = i + 1\n        a[i - 1] = 1",
     "the loop variable 'i' is assigned in the loop body (line 6)"),
    ("for v in a:\n        v += 1", "must iterate over range(...) (the loop of line 5"),
    ("for v in [1, 2, 3]:\n        a[v] = 1", "must iterate over range(...) (the loop of line 5"),
])
def test_non_canonical_loops(loop, expected):
    err = _fail("""
        def f(n, a):
            x = 4.0
            with openmp("parallel for"):
                {loop}
            return a
    """.replace("{loop}", loop.replace("\n", "\n            ")), 4, np.zeros(4),
                cls=ParallelForWrongLoopCount)
    msg = _assert_located(err, 4, "parallel for")
    assert expected in msg


# -- compiled by the wrong compiler ---------------------------------------------------------
def test_openmp_under_plain_numba_njit_says_to_use_pyomp_njit():
    f = compile_source(textwrap.dedent("""
        def f(n):
            with openmp("parallel"):
                n += 1
            return n
    """), "errors").py_func
    with pytest.raises(PyompError) as info:
        numba.njit(f)(1)
    msg = str(info.value)
    head, source, caret = msg.splitlines()[:3]
    assert head.startswith(f"{info.value.filename}:3:5: error: ")
    assert source[caret.index("^"):].startswith("with openmp")
    assert "decorate the function with pyomp.njit" in head


def test_runtime_functions_work_from_plain_python():
    # Every pyomp-only function a program calls is an omp_* function, and each works
    # from plain Python too (ctypes): there is nothing that only compiled code can call.
    from pyomp.runtime import api
    assert pyomp.omp_in_final() == 0 and pyomp.omp_get_thread_num() == 0
    lock = pyomp.omp_init_lock()
    assert pyomp.omp_test_lock(lock)
    pyomp.omp_unset_lock(lock)
    pyomp.omp_destroy_lock(lock)
    assert all(callable(getattr(api, n)) or isinstance(getattr(api, n), int)
               for n in api.__all__)


def test_every_error_class_is_importable_from_pyomp():
    # (the docs say so; OpenMPRuntimeNotFound is what `import pyomp` itself raises)
    classes = [name for name, value in vars(pyomp.errors).items()
               if isinstance(value, type) and issubclass(value, (Exception, Warning))
               and value.__module__ == "pyomp.errors"]
    assert len(classes) >= 15
    assert [n for n in classes if n not in pyomp.__all__] == ["OpenMPRuntimeNotFound"]


@pytest.mark.parametrize("directive,token,what", [
    ("parallel num_threads(x)", "num_threads(x)", "the value of num_threads(...)"),
    ("parallel for schedule(dynamic, x)", "schedule(dynamic, x)",
     "the chunk size of schedule(...)"),
])
def test_a_float_count_is_refused_at_its_clause(directive, token, what):
    # (the Rust pass refused it too, but of the whole `with`, in LLVM's words: "double")
    err = _fail(f"""
        def f(x):
            s = 0
            with openmp("{directive} reduction(+:s)"):
                for i in range(4):
                    s += 1
            return s
    """, 2.5)
    msg = str(err)
    assert f"{what} must be an integer, but 'x' has type float64" in msg
    src, caret = msg.splitlines()[1:3]
    assert src[caret.index("^"):].startswith(token)
