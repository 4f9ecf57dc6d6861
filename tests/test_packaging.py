"""What a user installs: the conda recipe in step with pyproject.toml, and which OpenMP
runtime the loader picks (PYOMP_OPENMP_SEARCH) and reports (`python -m pyomp info`).
The wheel itself is built and tried in clean venvs by ci/build-wheel.sh and
ci/test-wheel.sh (CI runs both)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import tomllib
import yaml
from pyomp.runtime import loader

ROOT = Path(__file__).resolve().parent.parent
#: pyproject's dependency -> conda-forge's package of the same thing
CONDA_NAME = {"cmeel-libomp": "llvm-openmp"}


def _requirement(text):
    """(name, version constraint without spaces) of 'numba>=0.67' or 'numba >=0.67'."""
    text = text.split(";")[0].strip()
    m = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)", text)
    return m.group(1).lower(), m.group(2).replace(" ", "")


def test_the_conda_recipe_builds_what_pyproject_describes():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    recipe = yaml.safe_load((ROOT / "conda" / "recipe.yaml").read_text())
    assert recipe["context"]["version"] == project["version"]
    assert recipe["context"]["name"] == project["name"]
    run = dict(_requirement(r) for r in recipe["requirements"]["run"])
    assert run.pop("python") == project["requires-python"]
    wanted = {}
    for dep in project["dependencies"]:
        name, constraint = _requirement(dep)
        wanted[CONDA_NAME.get(name, name)] = constraint
    assert run == wanted
    # the build needs what the wheel's does: LLVM 19 and maturin as pyproject's backend
    host = dict(_requirement(r) for r in recipe["requirements"]["host"])
    assert host["llvmdev"] == "19.*"
    backend = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    assert host["maturin"] == _requirement(backend["requires"][0])[1]


def test_the_runtime_is_a_hard_dependency_on_linux():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (runtime,) = [d for d in project["dependencies"] if d.startswith("cmeel-libomp")]
    assert "sys_platform == 'linux'" in runtime


def test_the_search_switch_keeps_one_kind_of_candidate():
    assert {source for source, _ in loader._candidates("wheel")} <= {"wheel"}
    system = list(loader._candidates("system"))
    assert system and {source for source, _ in system} == {"system"}
    everything = [source for source, _ in loader._candidates("all")]
    # the wheel's runtime comes first, then the system's
    assert everything == sorted(everything, key=lambda s: s != "wheel")


def _pyomp_info(**env):
    return subprocess.run([sys.executable, "-m", "pyomp", "info"], capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=120)


def test_a_bad_search_value_is_named():
    done = _pyomp_info(PYOMP_OPENMP_SEARCH="pip")
    assert done.returncode != 0
    assert "PYOMP_OPENMP_SEARCH='pip': expected one of wheel, system, all" in done.stderr


def test_info_says_where_the_runtime_came_from():
    done = _pyomp_info(PYOMP_OPENMP_SEARCH="system")
    assert done.returncode == 0, done.stderr
    assert "runtime from: the system (not the cmeel-libomp package)" in done.stdout
    forced = loader.load().path
    done = _pyomp_info(PYOMP_OPENMP_LIB=forced)
    assert done.returncode == 0, done.stderr
    assert f"runtime path: {forced}" in done.stdout
    assert "runtime from: PYOMP_OPENMP_LIB" in done.stdout


SECOND_RUNTIME = """
import numba, numpy as np
import pyomp
from pyomp import cli

@numba.njit(parallel=True)
def total(a):
    s = 0.0
    for i in numba.prange(a.shape[0]):
        s += a[i]
    return s

assert total(np.ones(1000)) == 1000.0
print(numba.threading_layer())
print("\\n".join(cli.info_lines()))
"""


PRANGE_THEN_REGION = """
import numba, numpy as np
from pyomp import njit, openmp, omp_get_num_threads

@numba.njit(parallel=True)
def total(a):
    s = 0.0
    for i in numba.prange(a.shape[0]):
        s += a[i]
    return s

@njit
def team():
    n = 0
    with openmp("parallel"):
        with openmp("single"):
            n = omp_get_num_threads()
    return n

before = team()
assert total(np.ones(1000)) == 1000.0
print(numba.threading_layer(), before, team())
"""


def test_prange_keeps_its_runtime_and_pyomp_its_team_size():
    # pyomp loads libomp first; Numba's `omp` layer (omppool.so, built against libgomp)
    # loads after it.  libomp also exports GOMP_* and omp_*: were it global, omppool would
    # bind to it, and Numba's start-up omp_set_num_threads(NUMBA_NUM_THREADS) would set
    # pyomp's team size (3 here instead of OMP_NUM_THREADS's 4).
    env = {**os.environ, "NUMBA_THREADING_LAYER": "omp", "OMP_NUM_THREADS": "4",
           "NUMBA_NUM_THREADS": "3"}
    done = subprocess.run([sys.executable, "-c", PRANGE_THEN_REGION], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["omp", "4", "4"]


def test_info_reports_a_second_openmp_runtime_in_the_process():
    # Numba's `omp` threading layer runs prange on GCC's libgomp: two OpenMP runtimes,
    # each with its own threads
    done = subprocess.run([sys.executable, "-c", SECOND_RUNTIME], capture_output=True,
                          text=True, env={**os.environ, "NUMBA_THREADING_LAYER": "omp"},
                          timeout=300)
    assert done.returncode == 0, done.stderr
    layer, *info = done.stdout.splitlines()
    assert layer == "omp"
    (line,) = [x for x in info if x.startswith("other OpenMP runtimes in this process")]
    assert "libgomp" in line and loader.load().path not in line
