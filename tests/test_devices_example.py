"""examples/devices.py prints what PyOMP 0.6 prints for the same program (measured with
PyOMP 0.6.0 on its host device, the example's imports changed to `numba.openmp`), at 1, 2,
3 and 8 threads, with nothing on stderr."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "devices.py"

PYOMP_06 = """\
host devices: [0, 1, 2, 3] of 4
forgotten update: [1. 1. 1. 1. 1.]
saxpy: [ 1.  3.  5.  7.  9. 11. 13. 15.]
sweeps: [0.    0.125 0.25  0.375 0.5   0.625 0.75  0.875 1.   ]
"""


@pytest.mark.parametrize("threads", (1, 2, 3, 8))
def test_the_devices_example_prints_what_pyomp_prints(threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_WAIT_POLICY="passive")
    proc = subprocess.run([sys.executable, str(EXAMPLE)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout == PYOMP_06
