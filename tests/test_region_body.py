"""The body of a construct compiles and behaves as the same code does in serial Numba.

Each case is written once, as source text with placeholders for the constructs, and
compiled twice: by pyomp with the OpenMP constructs, and by plain `numba.njit` with
serial stand-ins (`parallel` -> a loop over the thread numbers, `single` -> the body for
thread 0, other constructs -> `if True:`).  Results and exceptions (type and message) must
be the same, at 1, 2, 3 and 8 threads.  Every thread writes only its own slots (or the
construct makes it deterministic), so nothing depends on which thread wins a race.  Where
serial Numba itself departs from Python on the serial form (its own `try` bugs on some
Python versions), pyomp must give what Python gives (`check`).
"""

import linecache
import sys
import textwrap

import numba
import numpy as np
import pyomp
import pytest
from pyomp import omp_get_thread_num, openmp

# placeholder -> (pyomp's construct, plain Numba's serial stand-in)
_FORMS = {
    "PARALLEL_FOR": ('with openmp("parallel for num_threads(nt)"):', "if True:"),
    "PARALLEL": ('with openmp("parallel num_threads(nt)"):', "for _t in range(nt):"),
    "TID": ("omp_get_thread_num()", "_t"),
    "SINGLE": ('with openmp("single")', "if _t == 0"),
    "CRITICAL": ('with openmp("critical"):', "if True:"),
    "TASK": ('with openmp("task firstprivate(i)"):', "if True:"),
    "FOR": ('with openmp("for"):', "if True:"),
}


class UserError(Exception):
    pass


@numba.njit
def _may_raise(x):
    if x == 0:
        raise ValueError("zero argument")
    return 100 // x


def _raise_for_thread(t, which):
    """Plain Python, called in object mode."""
    if t == which:
        raise ValueError("raised in object mode")


def _raise_always(t):
    """Plain Python, called in object mode."""
    raise KeyError("raised in object mode by every thread")


@numba.njit
def _calls_objmode(t, which):
    with numba.objmode():
        _raise_for_thread(t, which)
    return t


_GLOBALS = {"openmp": openmp, "omp_get_thread_num": omp_get_thread_num, "np": np,
            "numba": numba, "UserError": UserError, "may_raise": _may_raise,
            "raise_for_thread": _raise_for_thread, "raise_always": _raise_always,
            "calls_objmode": _calls_objmode}


def _compile(src, parallel, extra=None, jit=True):
    """pyomp.njit of the OpenMP form, numba.njit of the serial one (or, `jit=False`, the
    serial form as plain Python)."""
    text = textwrap.dedent(src)
    for key in sorted(_FORMS, key=len, reverse=True):
        text = text.replace(key, _FORMS[key][0 if parallel else 1])
    kind = "omp" if parallel else "serial"
    filename = f"<region-body-{kind}-{abs(hash(text))}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    namespace = dict(_GLOBALS, **(extra or {}))
    exec(compile(text, filename, "exec"), namespace)
    if not jit:
        return namespace["f"]
    return (pyomp.njit if parallel else numba.njit)(namespace["f"])


def _outcome(fn, args):
    args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    try:
        result = fn(*args)
    except Exception as exc:  # noqa: BLE001 - the exception is the outcome compared
        return ("raised", type(exc), str(exc))
    return ("returned", result, args)


def _same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def check(src, make_args, threads, extra=None):
    """Runs the case at `threads` threads in both forms; returns pyomp's outcome.

    Where serial Numba itself departs from Python on the serial form (its own `try`
    bugs: a `try` in a loop keeps the caught state on Python 3.10; on 3.12+ a `try` in
    nested loops after another `try` misses the exception), pyomp must give Python's
    answer instead (the region's body is the same code run once per thread)."""
    omp = _compile(src, True, extra)
    serial = _compile(src, False, extra)
    args = (threads,) + tuple(make_args(threads))
    got, want = _outcome(omp, args), _outcome(serial, args)
    if not _same(got, want):
        with np.errstate(all="raise"):  # NumPy's integer `// 0` raises, as in Numba
            python = _outcome(_compile(src, False, extra, jit=False), args)
        assert not _same(want, python) and _same(got, python), \
            f"pyomp: {got}\nserial Numba: {want}\nPython: {python}"
    return got


def _divisors(nt):
    """Per-thread divisors: thread numbers divisible by 2 divide by zero."""
    return np.array([0 if t % 2 == 0 else t for t in range(nt)], dtype=np.int64)


# --- try / except ------------------------------------------------------------------------

TRY_EXCEPT = """
def f(nt, b, out):
    PARALLEL
        t = TID
        try:
            out[t] = 100 // b[t]
        except Exception:
            out[t] = -1
    return out
"""


def test_try_except(threads):
    got = check(TRY_EXCEPT, lambda nt: (_divisors(nt), np.zeros(nt, np.int64)), threads)
    assert got[0] == "returned" and got[1][0] == -1


TRY_BARE_EXCEPT_ELSE = """
def f(nt, b, out, other):
    PARALLEL
        t = TID
        try:
            q = 100 // b[t]
        except:
            q = -1
        else:
            other[t] = 1
        out[t] = q
    return out, other
"""


def test_try_bare_except_else(threads):
    check(TRY_BARE_EXCEPT_ELSE,
          lambda nt: (_divisors(nt), np.zeros(nt, np.int64), np.zeros(nt, np.int64)), threads)


TRY_FINALLY = """
def f(nt, b, out, fin):
    PARALLEL
        t = TID
        try:
            out[t] = 100 // b[t]
        except Exception:
            out[t] = -1
        finally:
            fin[t] += 1
    return out, fin
"""


def test_try_except_finally(threads):
    check(TRY_FINALLY, lambda nt: (_divisors(nt), np.zeros(nt, np.int64),
                                   np.zeros(nt, np.int64)), threads)


RAISE_AND_CATCH = """
def f(nt, b, out):
    PARALLEL
        t = TID
        try:
            if b[t] == 0:
                raise UserError("no divisor")
            out[t] = 100 // b[t]
        except Exception:
            out[t] = -2
    return out
"""


def test_raise_and_catch_user_exception(threads):
    check(RAISE_AND_CATCH, lambda nt: (_divisors(nt), np.zeros(nt, np.int64)), threads)


RAISE_DYNAMIC_AND_CATCH = """
def f(nt, b, out):
    PARALLEL
        t = TID
        try:
            if b[t] == 0:
                raise UserError("no divisor for", t)
            out[t] = 100 // b[t]
        except Exception:
            out[t] = -2
    return out
"""


def test_raise_dynamic_exception_and_catch(threads):
    check(RAISE_DYNAMIC_AND_CATCH, lambda nt: (_divisors(nt), np.zeros(nt, np.int64)),
          threads)


CALLED_FUNCTION_RAISES = """
def f(nt, b, out):
    PARALLEL
        t = TID
        try:
            out[t] = may_raise(b[t])
        except Exception:
            out[t] = -3
    return out
"""


def test_exception_from_called_function_caught(threads):
    check(CALLED_FUNCTION_RAISES, lambda nt: (_divisors(nt), np.zeros(nt, np.int64)),
          threads)


NESTED_TRY = """
def f(nt, b, out):
    PARALLEL
        t = TID
        try:
            try:
                out[t] = 100 // b[t]
            except Exception:
                out[t] = -1
                raise UserError("again")
        except Exception:
            out[t] -= 10
    return out
"""


def test_nested_try(threads):
    check(NESTED_TRY, lambda nt: (_divisors(nt), np.zeros(nt, np.int64)), threads)


TRY_IN_A_LOOP = """
def f(nt, b, out):
    PARALLEL
        t = TID
        for i in range(6):
            try:
                out[t] += 100 // (b[t] + i % 3 - 1)
            except Exception:
                out[t] -= 1
    return out
"""


def test_try_in_a_loop_in_the_region(threads):
    check(TRY_IN_A_LOOP, lambda nt: (np.arange(nt, dtype=np.int64) % 3, np.zeros(nt, np.int64)),
          threads)


RAISE_AFTER_CATCH = """
def f(nt, b, out):
    PARALLEL
        t = TID
        try:
            out[t] = 100 // b[t]
        except Exception:
            out[t] = -1
        if out[t] == -1 and t == 0:
            raise UserError("raised after the try")
    return out
"""


def test_exception_after_a_caught_one_leaves_the_region(threads):
    got = check(RAISE_AFTER_CATCH, lambda nt: (_divisors(nt), np.zeros(nt, np.int64)), threads)
    assert got[:3] == ("raised", UserError, "raised after the try")


TRY_OUTSIDE_AND_INSIDE = """
def f(nt, b, out):
    s = 0
    try:
        s = 100 // b[0]
    except Exception:
        s = -5
    PARALLEL
        t = TID
        for _ in range(300):
            try:
                out[t] = may_raise(b[t]) + s
            except Exception:
                out[t] = s
    try:
        s = 100 // b[0]
    except Exception:
        s = -7
    return out, s
"""


def test_try_outside_and_inside_the_region(threads):
    """Numba keeps one `try` depth per function: each thread (and task) has its own, or a
    team mate's `try` would decide whether a failed call is caught."""
    check(TRY_OUTSIDE_AND_INSIDE, lambda nt: (_divisors(nt), np.zeros(nt, np.int64)), threads)


def test_the_try_depth_is_the_threads_own():
    fn = _compile(TRY_OUTSIDE_AND_INSIDE, True)
    fn(2, _divisors(2), np.zeros(2, np.int64))
    (_, lowered), = fn.overloads[fn.signatures[0]].library.pyomp_lowered_ir
    outlined = [line for line in lowered.splitlines()
                if line.startswith("define") and ".omp.parallel." in line
                and "omp_microtask" not in line]
    assert outlined and all("%try_state" not in line for line in outlined)
    assert "%try_state.private = alloca" in lowered


TRY_IN_PARALLEL_FOR = """
def f(nt, b, out):
    PARALLEL_FOR
        for i in range(b.shape[0]):
            try:
                out[i] = 1000 // b[i]
            except Exception:
                out[i] = -1
    return out
"""


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Numba on 3.10 keeps a caught "
                    "exception's state into a loop's later iterations (its own bug), so the "
                    "result depends on how the iterations are dealt to threads")
def test_try_in_parallel_for_body(threads):
    check(TRY_IN_PARALLEL_FOR,
          lambda nt: (np.arange(23, dtype=np.int64) % 4, np.zeros(23, np.int64)), threads)


TRY_IN_FOR = """
def f(nt, b, out):
    PARALLEL
        FOR
            for i in range(b.shape[0]):
                try:
                    out[i] = may_raise(b[i])
                except Exception:
                    out[i] = -1
    return out
"""


def test_try_in_worksharing_for_body(threads):
    check(TRY_IN_FOR,
          lambda nt: (np.arange(17, dtype=np.int64) % 3, np.zeros(17, np.int64)), threads)


TRY_IN_SINGLE = """
def f(nt, b, out):
    PARALLEL
        SINGLE:
            try:
                out[0] = 100 // b[0]
            except Exception:
                out[0] = -1
            try:
                out[1] = 100 // b[1]
            except Exception:
                out[1] = -1
    return out
"""


def test_try_in_single(threads):
    check(TRY_IN_SINGLE, lambda nt: (np.array([0, 4], np.int64), np.zeros(2, np.int64)),
          threads)


TRY_IN_CRITICAL = """
def f(nt, b, out, count):
    PARALLEL
        t = TID
        CRITICAL
            try:
                out[t] = 100 // b[t]
            except Exception:
                out[t] = -1
                count[0] += 1
    return out, count
"""


def test_try_in_critical(threads):
    check(TRY_IN_CRITICAL, lambda nt: (_divisors(nt), np.zeros(nt, np.int64),
                                       np.zeros(1, np.int64)), threads)


TRY_IN_TASK = """
def f(nt, b, out):
    PARALLEL
        SINGLE:
            for i in range(b.shape[0]):
                TASK
                    try:
                        out[i] = 100 // b[i]
                    except Exception:
                        out[i] = -1
    return out
"""


def test_try_in_task(threads):
    check(TRY_IN_TASK, lambda nt: (np.arange(11, dtype=np.int64) % 3, np.zeros(11, np.int64)),
          threads)


@pytest.mark.parametrize("src, line", [
    ("""
def f(nt, b, out):
    try:
        with openmp("parallel num_threads(nt)"):
            out[omp_get_thread_num()] = 100 // b[0]
    except Exception:
        out[0] = -1
    return out
""", 4),
    ("""
def f(nt, b, out):
    with openmp("parallel num_threads(nt)"):
        try:
            with openmp("critical"):
                out[omp_get_thread_num()] = 100 // b[0]
        except Exception:
            out[0] = -1
    return out
""", 5),
    ("""
def f(nt, b, out):
    with openmp("parallel num_threads(nt)"):
        try:
            out[omp_get_thread_num()] = 100 // b[0]
        except Exception:
            with openmp("critical"):
                out[0] -= 1
    return out
""", 7),
    ("""
def f(nt, b, out):
    with openmp("parallel num_threads(nt)"):
        try:
            with numba.objmode():
                pass
        finally:
            out[0] = 1
    return out
""", 5),
], ids=["around-region", "around-construct", "in-except", "objmode-in-try"])
@pytest.mark.skipif(sys.version_info < (3, 11), reason="3.10's `try` blocks (SETUP_FINALLY) "
                    "are read by Numba's own tracer, which follows a `with` inside them")
def test_with_block_inside_try_is_a_located_error(src, line):
    """Numba does not follow a `try` around a `with` block (plain Numba rejects one around
    `objmode`): a compile-time error at the `with`, not a `try` that catches nothing."""
    fn = _compile(src, True)
    with pytest.raises(pyomp.errors.UnsupportedConstructError) as info:
        fn(2, np.zeros(1, np.int64), np.zeros(2, np.int64))
    err = info.value
    assert err.line == line and err.filename.startswith("<region-body-omp-")
    assert "inside a `try` statement is not supported" in str(err)


# --- numba.objmode -------------------------------------------------------------------------

OBJMODE_OUTPUT_USED = """
def f(nt, out):
    PARALLEL
        t = TID
        with numba.objmode(k="int64"):
            k = t + 10
        out[t] = k * 2
    return out
"""


def test_objmode_with_output_used_in_the_region(threads):
    check(OBJMODE_OUTPUT_USED, lambda nt: (np.zeros(nt, np.int64),), threads)


OBJMODE_NO_OUTPUT = """
def f(nt, out):
    PARALLEL
        with numba.objmode():
            pass
        out[TID] = 1
    return out
"""


def test_objmode_without_outputs(threads):
    check(OBJMODE_NO_OUTPUT, lambda nt: (np.zeros(nt, np.int64),), threads)


OBJMODE_READS_AND_WRITES = """
def f(nt, a, out):
    PARALLEL
        t = TID
        s = a[t] + 1.0
        with numba.objmode(v="float64", w="int64"):
            v = float(np.sqrt(s))
            w = int(s) * 3
        out[t] = v + w
    return out
"""


def test_objmode_inputs_and_two_outputs(threads):
    check(OBJMODE_READS_AND_WRITES,
          lambda nt: (np.arange(nt, dtype=np.float64) * 2.0, np.zeros(nt)), threads)


OBJMODE_IN_CRITICAL = """
def f(nt, out, total):
    PARALLEL
        t = TID
        CRITICAL
            with numba.objmode(k="int64"):
                k = t * t
            total[0] += k
            out[t] = k
    return out, total
"""


def test_objmode_in_critical(threads):
    check(OBJMODE_IN_CRITICAL, lambda nt: (np.zeros(nt, np.int64), np.zeros(1, np.int64)),
          threads)


OBJMODE_IN_PARALLEL_FOR = """
def f(nt, out):
    PARALLEL_FOR
        for i in range(out.shape[0]):
            with numba.objmode(k="int64"):
                k = i * 7 % 5
            out[i] = k
    return out
"""


def test_objmode_in_parallel_for_body(threads):
    check(OBJMODE_IN_PARALLEL_FOR, lambda nt: (np.zeros(19, np.int64),), threads)


OBJMODE_RAISES = """
def f(nt, which, out):
    PARALLEL
        t = TID
        with numba.objmode():
            raise_for_thread(t, which)
        out[t] = 1
    return out
"""


@pytest.mark.parametrize("which", ["first", "last"])
def test_objmode_exception_leaves_the_region(threads, which):
    """A Python exception raised in object mode on any of the team's threads (the
    encountering thread or another) reaches the caller."""
    got = check(OBJMODE_RAISES, lambda nt: (0 if which == "first" else nt - 1,
                                            np.zeros(nt, np.int64)), threads)
    assert got[:3] == ("raised", ValueError, "raised in object mode")


OBJMODE_RAISES_EVERYWHERE = """
def f(nt, out):
    PARALLEL
        t = TID
        with numba.objmode():
            raise_always(t)
        out[t] = 1
    return out
"""


def test_objmode_exception_on_every_thread(threads):
    for _ in range(3):  # the exceptions not passed on are released, nothing stays set
        got = check(OBJMODE_RAISES_EVERYWHERE, lambda nt: (np.zeros(nt, np.int64),), threads)
        assert got[:2] == ("raised", KeyError)


OBJMODE_RAISES_IN_NESTED_REGION = """
def f(nt, which, out):
    PARALLEL
        t = TID
        with openmp("parallel num_threads(2)"):
            with numba.objmode():
                raise_for_thread(t * 2 + omp_get_thread_num(), which)
        out[t] = 1
    return out
"""


def test_objmode_exception_in_a_nested_region(threads):
    """Raised in an inner region on the outer team's last thread: passed on to the outer
    team, then to the caller (whether or not the inner region runs on more threads)."""
    with pytest.raises(ValueError, match="raised in object mode"):
        _compile(OBJMODE_RAISES_IN_NESTED_REGION, True)(threads, 2 * (threads - 1),
                                                         np.zeros(threads, np.int64))


OBJMODE_IN_A_CALLED_FUNCTION = """
def f(nt, which, out):
    PARALLEL
        t = TID
        out[t] = calls_objmode(t, which)
    return out
"""


def test_objmode_exception_in_a_called_function(threads):
    """Raised on the encountering thread it reaches the caller; on another thread, in a
    function the region calls, pyomp cannot reach it (the thread's Python state is gone
    with it) and says so, rather than Python's "returned NULL without setting an
    exception"."""
    got = check(OBJMODE_IN_A_CALLED_FUNCTION, lambda nt: (0, np.zeros(nt, np.int64)), threads)
    assert got[:2] == ("raised", ValueError)
    if threads > 1:
        fn = _compile(OBJMODE_IN_A_CALLED_FUNCTION, True)
        with pytest.raises(RuntimeError, match="Python exception raised on a thread of an "
                           "OpenMP region was lost"):
            fn(threads, threads - 1, np.zeros(threads, np.int64))
