"""Hybrid MPI + pyomp: examples/mpi/heat2d.py under mpiexec at several ranks x threads
layouts and in each of its three halo-exchange styles gives the serial NumPy answer; an
exception raised in a region on one rank ends the job (no hang) with that rank's error;
`python -m pyomp info` reports MPI.

MPICH and mpi4py come from PyPI (ci/requirements.txt, the `mpi` extra); MPICH's mpiexec
needs no `--allow-run-as-root` (CI runs as root) and no `--oversubscribe` (3 ranks, or 2 x 2
threads, on CI's 2 cores). Every run is bounded: on a timeout the whole process group of
mpiexec is killed.
"""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAT = ROOT / "examples" / "mpi" / "heat2d.py"
MPIEXEC = Path(sys.executable).parent / "mpiexec"
N, STEPS = 66, 30


def mpiexec(ranks, threads, *command, timeout=240):
    """`mpiexec -n ranks` of `command` with OMP_NUM_THREADS=threads; (status, out, err)."""
    if not MPIEXEC.exists():
        pytest.fail(f"{MPIEXEC} is missing: pip install 'pyomp-rs[mpi]' (mpi4py, mpich)")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_WAIT_POLICY="passive")
    proc = subprocess.Popen([str(MPIEXEC), "-n", str(ranks), *command], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"mpiexec -n {ranks} {' '.join(command)} hung:\n{out}\n{err}")
    return proc.returncode, out, err


def heat(ranks, threads, *args):
    return mpiexec(ranks, threads, sys.executable, "-m", "mpi4py", str(HEAT), "--n", str(N),
                   "--steps", str(STEPS), *args)


def serial_residual(n, steps):
    """The squared change of the last step, summed in NumPy."""
    u = np.zeros((n, n))
    u[0] = 1.0
    for _ in range(steps):
        before = u.copy()
        u[1:-1, 1:-1] = 0.25 * (before[:-2, 1:-1] + before[2:, 1:-1] + before[1:-1, :-2]
                                + before[1:-1, 2:])
    return float(((u - before) ** 2).sum())


@pytest.mark.parametrize("ranks,threads,style", [
    (1, 2, "overlap"), (2, 1, "overlap"), (2, 2, "overlap"), (3, 1, "overlap"),
    (2, 2, "sendrecv"), (3, 1, "sendrecv"),
    (1, 2, "compiled"), (2, 2, "compiled"), (3, 1, "compiled"),
    (2, 3, "overlap"), (1, 8, "compiled"),  # 3 and 8 (oversubscribed) threads per rank
], ids=lambda v: str(v))
def test_every_layout_gives_the_serial_answer(ranks, threads, style):
    status, out, err = heat(ranks, threads, "--style", style, "--check")
    assert status == 0, out + err
    assert f"{ranks} ranks x {threads} threads" in out
    (diff,) = re.findall(r"max \|difference\| from serial NumPy (\S+)", out)
    assert float(diff) == 0.0  # each point: the same expression, the same order
    (resid,) = re.findall(r"residual (\S+),", out)
    assert float(resid) == pytest.approx(serial_residual(N, STEPS), rel=1e-9)


@pytest.mark.parametrize("style", ["overlap", "compiled"])
def test_an_exception_in_a_region_on_one_rank_ends_the_job(style):
    status, out, err = heat(2, 2, "--style", style, "--raise-on-rank", "1", "--check")
    assert status != 0
    assert "ValueError: a parallel region failed on purpose" in err
    assert "max |difference|" not in out


def test_info_reports_mpi_outside_and_under_mpiexec():
    done = subprocess.run([sys.executable, "-m", "pyomp", "info"], capture_output=True,
                          text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if not k.startswith("PMI")})
    assert done.returncode == 0, done.stderr
    assert re.search(r"^MPI: mpi4py \S+, library mpich ", done.stdout, re.M)
    assert "MPI rank: not initialised (not under mpiexec/srun)" in done.stdout
    status, out, err = mpiexec(2, 1, sys.executable, "-m", "pyomp", "info")
    assert status == 0, err
    ranks = sorted(re.findall(r"^MPI rank: (\d) of 2, thread level multiple", out, re.M))
    assert ranks == ["0", "1"]
    assert re.search(r"^MPI: mpi4py \S+, library MPICH Version: \S+", out, re.M)
