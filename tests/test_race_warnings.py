"""Compile-time race warnings (pyomp.races): each racy shape warns with the variable, its
line and the clause probably meant; the same code made race-free (a clause, a protecting
construct, a lock, a thread-varying index, a task) compiles silently; the examples, the
benchmark kernels and the whole suite compile without any (conftest.py turns a
RaceWarning into an error)."""

import importlib.util
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import compile_source
from pyomp import (
    PyompWarning,
    RaceWarning,
    explain,
    frontend,
    omp_init_lock,
    omp_set_lock,
    omp_unset_lock,
)
from pyomp.pipeline import OpenMPCompiler, run_frontend

ROOT = Path(__file__).resolve().parent.parent
NAMES = {"omp_init_lock": omp_init_lock, "omp_set_lock": omp_set_lock,
         "omp_unset_lock": omp_unset_lock}


def race_warnings(src, *args):
    """Compiles and runs `f` of `src`; returns (its RaceWarnings, the line marked `# <-`,
    the function)."""
    src = textwrap.dedent(src)
    marked = next((i for i, line in enumerate(src.splitlines(), 1) if "# <-" in line), None)
    f = compile_source(src, prefix="race", **NAMES)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f(*(args or (np.zeros(16), 16)))
    return [w for w in caught if issubclass(w.category, RaceWarning)], marked, f


def the_one(found):
    assert len(found) == 1, [str(w.message) for w in found]
    return found[0]


# -- each shape warns, at its line, with the clause probably meant -------------------------

UPDATES = {
    "parallel for": """
def f(a, n):
    b = a.astype(np.int64)
    s = 1
    with openmp("parallel for"):
        for i in range(n):
            v = b[i]
            {update}  # <-
    return s
""",
    "parallel": """
def f(a, n):
    v = 0
    s = 1
    with openmp("parallel"):
        v = omp_get_thread_num()
        {update}  # <-
    return s
"""}


@pytest.mark.parametrize("op", ["+", "-", "*", "&", "|", "^"])
@pytest.mark.parametrize("form", ["s {op}= v", "s = s {op} v"])
@pytest.mark.parametrize("construct", ["parallel for", "parallel"])
def test_a_shared_scalar_updated_by_every_thread_suggests_its_reduction(op, form, construct):
    found, line, _ = race_warnings(UPDATES[construct].format(update=form.format(op=op)))
    w = the_one(found)
    message = str(w.message)
    assert w.lineno == line and w.filename.startswith("<race-")
    assert f"{Path(w.filename).name}:{line}" in message
    assert "shared variable 's'" in message and f"'{construct}' (line 5)" in message
    assert message.endswith(f"did you mean reduction({op}:s)?")


def test_a_running_maximum_suggests_a_max_reduction():
    w = the_one(race_warnings("""
    def f(a, n):
        m = 0.0
        with openmp("parallel for"):
            for i in range(n):
                m = max(m, a[i])  # <-
        return m
    """)[0])
    assert "'m'" in str(w.message) and "reduction(max:m)" in str(w.message)


def test_a_conditional_update_suggests_critical():
    found, line, _ = race_warnings("""
    def f(a, n):
        m = 0.0
        with openmp("parallel for"):
            for i in range(n):
                if a[i] > m:
                    m = a[i]  # <-
        return m
    """)
    w = the_one(found)
    assert w.lineno == line and "'m' is read and assigned" in str(w.message)
    assert "`critical` or `atomic`" in str(w.message)


TEMPORARIES = {
    "parallel for": """
def f(a, n):
    t = 0.0
    with openmp("parallel for"):
        for i in range(n):
            t = i * 2.0  # <-
            a[i] = t
    return t
""",
    "parallel": """
def f(a, n):
    t = 0.0
    with openmp("parallel"):
        t = omp_get_thread_num() * 2.0  # <-
        a[omp_get_thread_num()] = t
    return t
"""}


@pytest.mark.parametrize("construct", ["parallel for", "parallel"])
def test_a_shared_temporary_suggests_private(construct):
    found, line, _ = race_warnings(TEMPORARIES[construct])
    w = the_one(found)
    assert w.lineno == line and "shared variable 't'" in str(w.message)
    assert "read after it" in str(w.message)  # why it is shared
    assert "did you mean private(t)?" in str(w.message)
    assert ("lastprivate(t)" in str(w.message)) == (construct == "parallel for")


@pytest.mark.parametrize("index", ["0", "k", "k + 1", "n - 1", "0, 0"])
def test_a_loop_invariant_index_in_a_worksharing_loop(index):
    found, line, _ = race_warnings(f"""
    def f(a, n):
        k = n // 4
        with openmp("parallel for"):
            for i in range(n):
                a[{index}] = i  # <-
        return a
    """, np.zeros((4, 4)) if "," in index else np.zeros(16), 16)
    w = the_one(found)
    assert w.lineno == line and "shared array 'a'" in str(w.message)
    assert "does not depend on the loop variable 'i'" in str(w.message)
    assert "index it by the loop variable" in str(w.message)


def test_a_thread_invariant_index_in_a_parallel_region():
    found, line, _ = race_warnings("""
    def f(a, n):
        with openmp("parallel"):
            tid = omp_get_thread_num()
            a[n - 1] += tid  # <-
        return a
    """)
    w = the_one(found)
    assert w.lineno == line and "shared array 'a'" in str(w.message)
    assert "the same on every thread" in str(w.message)
    assert "omp_get_thread_num()" in str(w.message)


def test_a_variable_assigned_in_two_sections():
    found, line, _ = race_warnings("""
    def f(a, n):
        x = 0
        with openmp("parallel sections"):
            with openmp("section"):
                x = 1  # <-
            with openmp("section"):
                x = 2
        return x
    """)
    w = the_one(found)
    assert w.lineno == line and "'x' " in str(w.message) and "2 sections" in str(w.message)


def test_the_warning_classes_and_filtering():
    assert issubclass(RaceWarning, PyompWarning) and issubclass(PyompWarning, UserWarning)
    src = """
    def f(a, n):
        s = 0.0
        with openmp("parallel for"):
            for i in range(n):
                s += a[i]
        return s
    """
    f = compile_source(textwrap.dedent(src), prefix="race")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", PyompWarning)
        f(np.ones(4), 4)
    assert not caught


def test_the_suite_turns_race_warnings_into_errors():
    """conftest.py: a compiled function of the suite that looks racy fails its test."""
    f = compile_source(textwrap.dedent("""
    def f(a, n):
        with openmp("parallel for"):
            for i in range(n):
                a[0] = i
        return a
    """), prefix="race")
    with pytest.raises(RaceWarning, match="shared array 'a'"):
        f(np.zeros(4), 4)


# -- the same code, race-free: no warning --------------------------------------------------

SAFE = {
    "reduction": """
        with openmp("parallel for reduction(+:s)"):
            for i in range(n):
                s += a[i]
    """,
    "private": """
        with openmp("parallel for private(s)"):
            for i in range(n):
                s = a[i] * 2
                a[i] = s
    """,
    "lastprivate": """
        with openmp("parallel for lastprivate(s)"):
            for i in range(n):
                s = a[i] * 2
    """,
    "atomic": """
        with openmp("parallel for"):
            for i in range(n):
                with openmp("atomic"):
                    s += a[i]
                with openmp("atomic"):
                    a[0] += 1
    """,
    "critical": """
        with openmp("parallel for"):
            for i in range(n):
                with openmp("critical"):
                    s += a[i]
                    a[0] = s
    """,
    "single": """
        with openmp("parallel"):
            with openmp("single"):
                s += 1
                a[0] = s
    """,
    "master": """
        with openmp("parallel"):
            with openmp("master"):
                s = s + 1
                a[0] = s
    """,
    "masked": """
        with openmp("parallel"):
            with openmp("masked"):
                s = s + 1
                a[0] = s
    """,
    "ordered": """
        with openmp("parallel for ordered"):
            for i in range(n):
                with openmp("ordered"):
                    s += a[i]
                    a[0] = s
    """,
    "lock": """
        lock = omp_init_lock()
        with openmp("parallel"):
            omp_set_lock(lock)
            s += 1
            a[0] = s
            omp_unset_lock(lock)
    """,
    "one thread by its number": """
        with openmp("parallel"):
            tid = omp_get_thread_num()
            if tid == 0:
                s = s + 1
                a[0] = s
    """,
    "one iteration": """
        with openmp("parallel for"):
            for i in range(n):
                if i == n - 1:
                    s = a[i]
                    a[0] = s
    """,
    "loop-variable index": """
        with openmp("parallel for"):
            for i in range(n):
                a[i] = s
                a[(i + 1) % n] += 1.0
    """,
    "collapsed loop variables": """
        b = a.reshape((4, 4))
        with openmp("parallel for collapse(2)"):
            for i in range(4):
                for j in range(4):
                    b[i, j] = i + j
    """,
    "thread-id index": """
        with openmp("parallel"):
            a[omp_get_thread_num()] = 1.0
            tid = omp_get_thread_num()
            a[tid + 1] = 2.0
    """,
    "private index": """
        with openmp("parallel"):
            k = omp_get_thread_num() * 2
            a[k] = 1.0
    """,
    "task": """
        with openmp("parallel"):
            with openmp("task"):
                s = s + 1
                a[0] = s
            with openmp("taskwait"):
                pass
    """,
    "worksharing loop in a region": """
        with openmp("parallel"):
            with openmp("for reduction(+:s)"):
                for i in range(n):
                    s += a[i]
            with openmp("for"):
                for i in range(n):
                    a[i] = 0.0
    """,
    "sections, one each": """
        t = 0.0
        with openmp("parallel sections"):
            with openmp("section"):
                s = 1.0
                a[0] = 1.0
            with openmp("section"):
                t = 2.0
        s += t
    """,
    "local scratch": """
        with openmp("parallel for"):
            for i in range(n):
                t = a[i] * 2.0
                a[i] = t + 1.0
    """,
}


def _function(body):
    """`f(a, n)` with `s = 0.0`, then `body`, returning s."""
    return ("def f(a, n):\n    s = 0.0\n"
            + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n    return s\n")


@pytest.mark.parametrize("case", sorted(SAFE))
def test_protected_or_thread_varying_writes_do_not_warn(case):
    found, _, _ = race_warnings(_function(SAFE[case]))
    assert not found, [str(w.message) for w in found]


def test_each_safe_case_without_its_protection_warns():
    """The negative cases above are silent for the right reason: take the protection
    away and the same shapes warn (so those tests can fail)."""
    stripped = {
        "reduction": SAFE["reduction"].replace(" reduction(+:s)", ""),
        "private": SAFE["private"].replace(" private(s)", ""),
        "critical": SAFE["critical"].replace('with openmp("critical"):', "if True:"),
        "single": SAFE["single"].replace('with openmp("single"):', "if True:"),
        "lock": SAFE["lock"].replace("omp_set_lock(lock)", "pass")
                            .replace("omp_unset_lock(lock)", "pass"),
        "one thread by its number": SAFE["one thread by its number"].replace("==", ">="),
        "task": SAFE["task"].replace('with openmp("task"):', "if True:"),
    }
    for case, body in stripped.items():
        found, _, _ = race_warnings(_function(body))
        assert found, case


# -- explain shows them, with the loop's schedule ------------------------------------------

def test_explain_shows_schedules_and_race_warnings():
    found, line, f = race_warnings("""
    def f(a, n):
        s = 0.0
        with openmp("parallel for schedule(dynamic, 4)"):
            for i in range(n):
                s += a[i]  # <-
        with openmp("parallel"):
            with openmp("for schedule(guided)"):
                for i in range(n):
                    a[i] = s
            with openmp("for"):
                for i in range(n):
                    a[i] += 1.0
        return s
    """)
    assert the_one(found).lineno == line
    text = explain(f)
    assert "schedule: dynamic, chunk 4" in text
    assert "schedule: guided" in text and "schedule: static (default)" in text
    warning_lines = [ln for ln in text.splitlines() if "race warning:" in ln]
    assert len(warning_lines) == 1
    assert f":{line}: shared variable 's'" in warning_lines[0]
    assert "reduction(+:s)" in warning_lines[0]
    # under the loop's report (the region that runs the update)
    lines = text.splitlines()
    at = lines.index(warning_lines[0])
    assert "schedule: dynamic, chunk 4" in lines[at - 1]


# -- nothing shipped looks racy ------------------------------------------------------------

def _front_end_warnings(dispatcher):
    """The race check of pyomp's front end on a function (no types needed)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frontend.mark_regions(run_frontend(dispatcher.py_func))
    return [str(w.message) for w in caught if issubclass(w.category, RaceWarning)]


def _pyomp_functions(module):
    for name, value in vars(module).items():
        for key, item in (value.items() if isinstance(value, dict) else [(None, value)]):
            compiler = getattr(item, "_compiler", None)
            if getattr(compiler, "pipeline_class", None) is OpenMPCompiler:
                yield f"{name}[{key}]" if key is not None else name, item


def _examples():
    for path in sorted((ROOT / "examples").glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"_race_example_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield from _pyomp_functions(module)


def test_examples_and_benchmark_kernels_have_no_race_warnings():
    import kernels
    functions = list(_pyomp_functions(kernels)) + list(_examples())
    assert len(functions) > 40 and any(name == "pi_parallel" for name, _ in functions)
    racy = {name: found for name, fn in functions if (found := _front_end_warnings(fn))}
    assert not racy
    # the check above runs the analysis: a racy function through it warns
    bad = compile_source(textwrap.dedent("""
    def f(a, n):
        s = 0
        with openmp("parallel"):
            s += 1
        return s
    """), prefix="race")
    assert _front_end_warnings(bad)


def test_explain_command_line():
    """`python -m pyomp explain module:function`: a function not compiled yet is explained
    how to compile it; with --args it is compiled and explained (race warnings included)."""
    run = [sys.executable, "-m", "pyomp", "explain"]
    out = subprocess.run(run + ["examples/pi.py:pi_parallel"], capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 1 and "no compiled signature yet" in out.stderr
    assert "--args" in out.stderr
    out = subprocess.run(run + ["examples.pi:pi_parallel", "--args", "1000"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "pi_parallel(int64,): 1 OpenMP region(s)" in out.stdout
    assert "nthreads  shared" in out.stdout and "RaceWarning" not in out.stderr
    out = subprocess.run(run + ["benchmarks/kernels.py:mandelbrot", "--args", "16", "20"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "schedule: dynamic, chunk 16" in out.stdout
    out = subprocess.run(run + ["examples/pi.py:pi"], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 1 and "pyomp.njit functions: pi_parallel" in out.stderr


def test_explain_command_line_shows_race_warnings(tmp_path):
    (tmp_path / "racy.py").write_text(textwrap.dedent("""
        import numpy as np
        from pyomp import njit, openmp

        @njit
        def total(a):
            s = 0.0
            with openmp("parallel for"):
                for i in range(a.size):
                    s += a[i]
            return s
    """))
    out = subprocess.run([sys.executable, "-m", "pyomp", "explain", "racy.py:total",
                          "--args", "np.ones(10)"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "racy.py:10: RaceWarning: data race at racy.py:10" in out.stderr
    assert "race warning: data race at racy.py:10: shared variable 's'" in out.stdout
    assert "reduction(+:s)" in out.stdout and "schedule: static (default)" in out.stdout
