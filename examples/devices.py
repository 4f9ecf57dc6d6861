"""Offloading on pyomp's host devices: the data a GPU program moves, checked on a CPU.

    .venv/bin/python examples/devices.py

Under PyOMP 0.6 (`from numba.openmp import ...`) it prints the same lines
(tests/test_devices_example.py compares them).
"""

import numpy as np
from pyomp import njit, omp_get_num_devices
from pyomp import openmp_context as openmp
from pyomp.offloading import find_device_ids


@njit
def forgotten_update():
    """The device copy comes back on exit, so the host's `a += 1` is lost."""
    a = np.ones(5)
    with openmp("target enter data map(to: a) device(0)"):
        pass
    a += 1
    with openmp("target exit data map(from: a) device(0)"):
        pass
    return a


@njit
def saxpy(a, x, y):
    with openmp("target teams distribute parallel for map(to: x) map(tofrom: y) "
                "device(0)"):
        for i in range(len(y)):
            y[i] += a * x[i]
    return y


@njit
def sweeps(u, n_sweeps):
    """Jacobi sweeps on the device; the grid comes back once, at the end."""
    n = u.shape[0]
    v = np.zeros_like(u)
    with openmp("target data map(tofrom: u) map(alloc: v) device(0)"):
        for _ in range(n_sweeps):
            with openmp("target teams distribute parallel for device(0)"):
                for i in range(1, n - 1):
                    v[i] = 0.5 * (u[i - 1] + u[i + 1])
            with openmp("target teams distribute parallel for device(0)"):
                for i in range(1, n - 1):
                    u[i] = v[i]
    return u


def main():
    print("host devices:", find_device_ids(type="host"), "of", omp_get_num_devices())
    print("forgotten update:", forgotten_update())
    x = np.arange(8.0)
    print("saxpy:", saxpy(2.0, x, np.ones(8)))
    u = np.zeros(9)
    u[-1] = 1.0
    print("sweeps:", np.round(sweeps(u, 200), 6))


if __name__ == "__main__":
    main()
