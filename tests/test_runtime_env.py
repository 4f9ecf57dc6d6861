"""The runtime in fresh processes: OMP_* environment variables, PYOMP_OPENMP_LIB, import cost."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

NUMBA_EXT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         "numba_ext")


def run(code, **env):
    """Run ``code`` in a fresh interpreter with only the given OMP_*/KMP_*/PYOMP_* variables."""
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("OMP_", "KMP_", "PYOMP_"))}
    full.update(env)
    full["PYTHONPATH"] = os.pathsep.join(filter(None, [NUMBA_EXT, os.environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full, check=False,
                          capture_output=True, text=True, timeout=300)


def run_ok(code, **env):
    proc = run(code, **env)
    assert proc.returncode == 0, proc.stderr
    return proc


def py_and_jit(expr):
    """A script printing ``expr`` evaluated from Python, then from a numba.njit function."""
    return f"""
        import numba
        from pyomp.runtime import *
        print(repr({expr}))
        print(repr(numba.njit(lambda: {expr})()))
    """


@pytest.mark.parametrize("var, value, expr, expected", [
    ("OMP_NUM_THREADS", "3", "omp_get_max_threads()", 3),
    ("OMP_DYNAMIC", "true", "omp_get_dynamic()", 1),
    ("OMP_MAX_ACTIVE_LEVELS", "2", "omp_get_max_active_levels()", 2),
    ("OMP_PROC_BIND", "close", "omp_get_proc_bind()", 3),
    ("OMP_SCHEDULE", "dynamic,5", "omp_get_schedule()", (2, 5)),
    ("OMP_SCHEDULE", "guided", "omp_get_schedule()[0]", 3),
])
def test_environment_variable(var, value, expr, expected):
    out = run_ok(py_and_jit(expr), **{var: value}).stdout.split("\n")
    assert out[:2] == [repr(expected)] * 2


def test_proc_bind_close_constant():
    out = run_ok(py_and_jit("omp_get_proc_bind() == omp_proc_bind_close"),
                 OMP_PROC_BIND="close").stdout
    assert out.split() == ["True", "True"]


def test_display_env_once_the_runtime_initialises():
    proc = run_ok("""
        import pyomp.runtime as rt
        rt.omp_get_max_threads()
        rt.omp_get_num_threads()
    """, OMP_DISPLAY_ENV="true")
    assert proc.stderr.count("OPENMP DISPLAY ENVIRONMENT BEGIN") == 1


def test_info_reports_runtime_and_environment():
    proc = run_ok("""
        import pyomp.runtime as rt
        print(repr(rt.info()))
    """, OMP_NUM_THREADS="2", KMP_BLOCKTIME="0")
    info = eval(proc.stdout)
    assert info["omp_get_max_threads"] == 2 and info["omp_get_num_procs"] >= 1
    assert info["OMP_NUM_THREADS"] == "2" and info["KMP_BLOCKTIME"] == "0"
    assert info["vendor"] in ("LLVM libomp", "Intel libiomp5") and info["version"]
    assert os.path.exists(info["path"])


def test_explicit_library_is_used():
    path = "/usr/lib/llvm-19/lib/libomp.so.5"
    if not os.path.exists(path):
        pytest.skip("no Debian libomp-19")
    proc = run_ok("""
        import pyomp.runtime as rt
        r = rt.load()
        print(r.path, r.vendor, r.version, sep="|")
        assert rt.load() is r
    """, PYOMP_OPENMP_LIB=path)
    assert proc.stdout.strip() == f"{os.path.realpath(path)}|LLVM libomp|19"


IMPORT_AND_REPORT = """
    try:
        import pyomp.runtime
    except ImportError as exc:
        # pyomp/__init__ imports the runtime too, so the class is checked by name and base.
        assert type(exc).__name__ == "OpenMPRuntimeNotFound", type(exc)
        print("ERROR:", exc)
    else:
        raise SystemExit("imported despite PYOMP_OPENMP_LIB")
"""


def test_nonexistent_explicit_library_raises_import_error():
    path = "/nonexistent/libomp.so"
    proc = run_ok(IMPORT_AND_REPORT, PYOMP_OPENMP_LIB=path)
    assert proc.stdout.startswith("ERROR:") and path in proc.stdout
    assert "PYOMP_OPENMP_LIB" in proc.stdout


def _libgomp():
    gcc = shutil.which("gcc")
    if gcc:
        out = subprocess.run([gcc, "-print-file-name=libgomp.so.1"], capture_output=True,
                             check=False, text=True).stdout.strip()
        if os.path.isabs(out) and os.path.exists(out):
            return out
    out = "/usr/lib/x86_64-linux-gnu/libgomp.so.1"
    return out if os.path.exists(out) else None


def test_library_without_kmpc_symbols_raises_import_error():
    path = _libgomp()
    if path is None:
        pytest.skip("GCC's libgomp.so.1 not found")
    proc = run_ok(IMPORT_AND_REPORT, PYOMP_OPENMP_LIB=path)
    assert proc.stdout.startswith("ERROR:") and path in proc.stdout
    assert "__kmpc_fork_call" in proc.stdout  # names a missing symbol


def test_cached_compiled_code_finds_the_runtime(tmp_path):
    """A cache=True function is loaded from disk in a new process: the symbols must resolve."""
    (tmp_path / "cached_mod.py").write_text(textwrap.dedent("""
        import numba
        from pyomp.runtime import omp_get_max_threads, omp_init_lock, omp_test_lock

        @numba.njit(cache=True)
        def probe():
            lock = omp_init_lock()
            return omp_get_max_threads(), omp_test_lock(lock)
    """))
    code = f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import cached_mod
        print(cached_mod.probe(), len(cached_mod.probe.stats.cache_hits))
    """
    first = run_ok(code, OMP_NUM_THREADS="3").stdout.split("\n")[0]
    second = run_ok(code, OMP_NUM_THREADS="5").stdout.split("\n")[0]
    assert first == "(3, 1) 0"
    assert second == "(5, 1) 1"  # loaded from the cache, calling the runtime


def test_cmeel_wheel_layout_is_found_first(tmp_path):
    """A cmeel-libomp wheel's layout (site-packages/cmeel.prefix/lib/libomp.so) on any
    sys.path entry is a "wheel" candidate, ahead of Debian's, with its version from the
    wheel's dist-info; the venv's own cmeel-libomp (pyomp's dependency) is the one loaded."""
    src = "/usr/lib/llvm-19/lib/libomp.so.5"
    if not os.path.exists(src):
        pytest.skip("no libomp to copy")
    lib = tmp_path / "cmeel.prefix" / "lib"
    lib.mkdir(parents=True)
    shutil.copy(src, lib / "libomp.so")
    (tmp_path / "cmeel_libomp-21.1.8.dist-info").mkdir()
    proc = run_ok(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import pyomp.runtime as rt
        from pyomp.runtime import loader
        found = list(loader._candidates())
        fake = {str(lib / 'libomp.so')!r}
        print(("wheel", fake) in found, found.index(("wheel", fake)) <
              found.index(("system", {src!r})), loader._version(fake, fake))
        r = rt.load()
        print(r.path, r.vendor, r.version, r.source, rt.omp_get_max_threads(), sep="|")
    """, OMP_NUM_THREADS="2")
    layout, loaded = proc.stdout.split("\n")[:2]
    assert layout == "True True 21.1.8"
    path, vendor, version, source, threads = loaded.split("|")
    assert path.endswith(os.path.join("site-packages", "cmeel.prefix", "lib", "libomp.so"))
    assert (vendor, version, source, threads) == ("LLVM libomp", "21.1.8", "wheel", "2")


def test_nothing_found_explains_how_to_fix(monkeypatch):
    from pyomp.errors import OpenMPRuntimeNotFound
    from pyomp.runtime import loader

    monkeypatch.delenv("PYOMP_OPENMP_LIB", raising=False)
    monkeypatch.setattr(loader, "_candidates",
                        lambda search: iter([("system", "/nonexistent/libomp.so.5")]))
    with pytest.raises(OpenMPRuntimeNotFound) as info:
        loader._load()
    msg = str(info.value)
    assert isinstance(info.value, ImportError)
    assert "/nonexistent/libomp.so.5" in msg
    assert "apt-get install libomp-19-dev" in msg and "pip install cmeel-libomp" in msg
    assert "pyomp's wheel depends on `cmeel-libomp`" in msg
    assert "PYOMP_OPENMP_LIB" in msg
    assert loader.load() is loader.load()  # the loaded runtime is untouched


def test_candidate_order():
    from pyomp.runtime import loader

    found = [path for _, path in loader._candidates()]
    debian = [p for p in found if p.startswith("/usr/lib/llvm-")]
    if os.path.exists("/usr/lib/llvm-19/lib/libomp.so.5"):
        assert debian[0] == "/usr/lib/llvm-19/lib/libomp.so.5"
    majors = [loader._llvm_major(p) for p in debian[1:]]
    assert majors == sorted(majors, reverse=True)
    assert len(found) == len(set(found))
    assert not any("gomp" in os.path.basename(p) for p in found)


LOCK_KIND = """
    import os
    from pyomp.runtime import loader
    import pyomp
    print(os.environ["KMP_LOCK_KIND"], "KMP_LOCK_KIND" in loader.defaults_applied)
"""


def test_the_test_and_set_lock_is_the_default_and_a_users_choice_wins():
    # libomp reads KMP_LOCK_KIND when it starts: pyomp sets tas (its measured choice for
    # critical and omp locks, loader.RUNTIME_DEFAULTS) unless the user chose a kind
    assert run_ok(LOCK_KIND).stdout.split() == ["tas", "True"]  # (run: no KMP_* set)
    proc = run_ok(LOCK_KIND, KMP_LOCK_KIND="queuing")
    assert proc.stdout.split() == ["queuing", "False"]
