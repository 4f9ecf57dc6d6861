"""The front end: `with openmp(...)` is read as a constant directive, checked, and every
problem is a located pyomp error (file, line, caret) — never a crash or a Numba internal."""

import os
import subprocess
import sys
import textwrap

import numba
import pyomp
import pytest
from pyomp import openmp
from pyomp.errors import DirectiveSyntaxError, PyompError, UnsupportedConstructError

HERE = os.path.basename(__file__)
UNSUPPORTED = "scope"  # a construct this version does not implement
DIRECTIVE_CONST = "scope"


def _line_of(fragment):
    with open(__file__) as f:
        for n, line in enumerate(f, 1):
            if fragment in line and "_line_of" not in line:
                return n
    raise AssertionError(fragment)


def nonconstant(n):
    d = "parallel" if n else "single"
    with openmp(d):
        n += 1
    return n


def nonstring(n):
    with openmp(5):
        n += 1
    return n


def unsupported(n):
    with openmp("scope private(n)"):
        n += 1
    return n


def misspelled(n):
    with openmp("paralel for schedule(dinamic)"):
        n += 1
    return n


def global_directive(n):
    with openmp(DIRECTIVE_CONST):
        n += 1
    return n


def test_nonconstant_directive():
    with pytest.raises(pyomp.NonconstantOpenmpSpecification) as err:
        pyomp.njit(nonconstant)(1)
    msg = str(err.value)
    assert f"{HERE}:{_line_of('with openmp(d):')}" in msg
    assert "constant" in msg


def test_nonstring_directive():
    with pytest.raises(pyomp.NonStringOpenmpSpecification) as err:
        pyomp.njit(nonstring)(1)
    assert f"{HERE}:{_line_of('with openmp(5):')}" in str(err.value)
    assert "int" in str(err.value)


def test_unsupported_construct_is_named_with_its_line():
    with pytest.raises(UnsupportedConstructError) as err:
        pyomp.njit(unsupported)(1)
    msg = str(err.value)
    line = _line_of('with openmp("scope private')
    assert f"{HERE}:{line}:" in msg
    assert "'scope'" in msg
    # the caret sits under the construct in the quoted source line
    src, caret = msg.splitlines()[1:3]
    assert src.strip().startswith('with openmp("scope')
    assert src[caret.index("^"):].startswith("scope")


def test_syntax_error_points_at_the_token_without_internals():
    with pytest.raises(DirectiveSyntaxError) as err:
        pyomp.njit(misspelled)(1)
    msg = str(err.value)
    assert f"{HERE}:{_line_of('paralel for')}:" in msg
    assert "parallel" in msg  # the suggestion
    src, caret = msg.splitlines()[1:3]
    assert src[caret.index("^"):].startswith("paralel")
    for internal in ("lark", "Traceback", "numba/core", "Token("):
        assert internal not in msg


def test_module_level_string_constant_is_a_constant():
    # Accepted as a constant (then rejected only because scope is not implemented).
    with pytest.raises(UnsupportedConstructError, match="'scope'"):
        pyomp.njit(global_directive)(1)


def test_plain_numba_njit_says_to_use_pyomp():
    with pytest.raises(PyompError) as err:
        numba.njit(unsupported)(1)
    msg = str(err.value)
    assert "pyomp.njit" in msg
    line = _line_of('with openmp("scope private')
    assert f"{HERE}:{line}" in msg


def test_openmp_is_a_noop_in_plain_python():
    assert unsupported(1) == 2
    assert pyomp.njit(unsupported).py_func(41) == 42
    with openmp("this is not even parsed in plain Python"):
        x = 3
    assert x == 3


def test_disable_jit_runs_serially(tmp_path):
    script = tmp_path / "serial.py"
    script.write_text(textwrap.dedent("""
        from pyomp import njit, openmp, omp_get_num_threads
        @njit
        def f(n):
            s = 0
            with openmp("parallel for reduction(+:s)"):
                for i in range(n):
                    s += i
            return s, omp_get_num_threads()
        print(f(10))
    """))
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(45, 1)"


def test_errors_pickle_with_their_location():
    import pickle
    err = DirectiveSyntaxError("bad", directive="for x", span=(4, 5)).at("f.py", 3)
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err) and "f.py:3:5" in str(back)
