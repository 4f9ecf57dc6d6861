"""Every program shown in the documentation runs, and prints what the page says it prints.

The oracle is the page itself: each output block was produced by running its program, and
a change to pyomp that changes it (or breaks the program) fails here. How a page marks its
examples: tests/docs_examples.py.
"""

import doctest
import os
import shutil
import subprocess
import sys

import pytest
from docs_examples import all_examples

EXAMPLES = all_examples()
_CHECKER = doctest.OutputChecker()


def _matches(want, got, sort):
    if sort:
        want = "".join(sorted(want.splitlines(keepends=True)))
        got = "".join(sorted(got.splitlines(keepends=True)))
    return _CHECKER.check_output(want, got, doctest.ELLIPSIS)


def _build_c(example, tmp_path):
    source = tmp_path / "example.c"
    source.write_text(example.code)
    compiler = {"gcc": "gcc", "clang": "clang-19"}[example.compiler]
    if shutil.which(compiler) is None:
        pytest.fail(f"{compiler} is needed to run the C example {example.id}")
    binary = tmp_path / "example"
    subprocess.run([compiler, "-O2", "-fopenmp", str(source), "-o", str(binary), "-lm"],
                   check=True, timeout=120)
    return [str(binary)]


def _command(example, tmp_path):
    if example.language == "c":
        return _build_c(example, tmp_path)
    script = tmp_path / "example.py"
    script.write_text(example.code)
    if example.ranks:
        mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
        return [mpiexec, "-n", str(example.ranks), sys.executable, "-m", "mpi4py",
                str(script)]
    return [sys.executable, str(script)]


def test_the_docs_have_examples():
    assert len(EXAMPLES) >= 40
    assert sum(e.output is not None for e in EXAMPLES) >= 30


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_docs_example(example, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS=str(example.threads), PYTHONUNBUFFERED="1")
    if example.threads * max(example.ranks, 1) > (os.cpu_count() or 1):
        env.setdefault("OMP_WAIT_POLICY", "passive")
    done = subprocess.run(_command(example, tmp_path), cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=example.timeout)
    shown = done.stdout + (done.stderr if example.stderr else "")
    assert done.returncode == example.exit, (
        f"{example.id} exited with {done.returncode}\n{done.stdout}\n{done.stderr}")
    if example.output is not None:
        assert _matches(example.output, shown, example.sorted), (
            f"{example.id} printed:\n{shown}\nthe page shows:\n{example.output}")
