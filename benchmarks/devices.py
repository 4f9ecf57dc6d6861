"""Device kernels (issue 18): the pi loop and the Jacobi sweeps through `target teams
distribute parallel for` on a host offload device (its copies and its teams layer) and on
the initial device, beside the same kernels with `parallel for`; the cost of one target
region. The C references run the same kernels on the host (`teams distribute parallel
for`, `parallel for`, a `target` region on the initial device): no C offload toolchain
here (Debian's clang-19 lacks clang-offload-packager)."""

import numpy as np
from pyomp import njit, omp_get_wtime, openmp

OFFLOAD, INITIAL = 0, 4


@njit
def pi_target(n, dev):
    step = 1.0 / n
    s = 0.0
    with openmp("target teams distribute parallel for reduction(+:s) device(dev)"):
        for i in range(n):
            x = (i + 0.5) * step
            s += 4.0 / (1.0 + x * x)
    return step * s


@njit
def pi_teams(n):
    step = 1.0 / n
    s = 0.0
    with openmp("teams distribute parallel for reduction(+:s)"):
        for i in range(n):
            x = (i + 0.5) * step
            s += 4.0 / (1.0 + x * x)
    return step * s


@njit
def jacobi_target(u, v, sweeps, dev):
    """c/jacobi.c's sweeps as a GPU program writes them: the grids mapped once around the
    sweeps, each sweep two `target teams distribute parallel for` kernels."""
    n = u.shape[0]
    res = 0.0
    with openmp("target data map(tofrom: u) map(to: v) device(dev)"):
        for _sweep in range(sweeps):
            with openmp("target teams distribute parallel for collapse(2) device(dev)"):
                for i in range(1, n - 1):
                    for j in range(1, n - 1):
                        v[i, j] = 0.25 * (u[i - 1, j] + u[i + 1, j] + u[i, j - 1]
                                          + u[i, j + 1])
            res = 0.0
            with openmp("target teams distribute parallel for collapse(2) "
                        "reduction(+:res) device(dev)"):
                for i in range(1, n - 1):
                    for j in range(1, n - 1):
                        d = v[i, j] - u[i, j]
                        res += d * d
                        u[i, j] = v[i, j]
    return res


@njit
def jacobi_parallel_for(u, v, sweeps):
    """The same two loops per sweep as `parallel for` regions on the host."""
    n = u.shape[0]
    res = 0.0
    for _sweep in range(sweeps):
        with openmp("parallel for collapse(2)"):
            for i in range(1, n - 1):
                for j in range(1, n - 1):
                    v[i, j] = 0.25 * (u[i - 1, j] + u[i + 1, j] + u[i, j - 1] + u[i, j + 1])
        res = 0.0
        with openmp("parallel for collapse(2) reduction(+:res)"):
            for i in range(1, n - 1):
                for j in range(1, n - 1):
                    d = v[i, j] - u[i, j]
                    res += d * d
                    u[i, j] = v[i, j]
    return res


@njit
def target_region(reps, dev):
    """Microseconds per `target map(tofrom: x)` region adding to x (minus the bare adds)."""
    x = 0
    t0 = omp_get_wtime()
    for r in range(reps):
        with openmp("target map(tofrom: x) device(dev)"):
            x += r
    t1 = omp_get_wtime()
    y = 0
    for r in range(reps):
        y += r
    t2 = omp_get_wtime()
    if x != y:
        raise RuntimeError("target_region: wrong sum")
    return ((t1 - t0) - (t2 - t1)) / reps * 1e6


@njit
def target_array_region(reps, dev, a):
    """Microseconds per `target map(tofrom: a)` region (a copied in and out each time)."""
    t0 = omp_get_wtime()
    for _r in range(reps):
        with openmp("target map(tofrom: a) device(dev)"):
            a[0] += 1.0
    return (omp_get_wtime() - t0) / reps * 1e6


def grids(size):
    u = np.zeros((size, size))
    u[0, :] = 1.0
    return u, u.copy()
