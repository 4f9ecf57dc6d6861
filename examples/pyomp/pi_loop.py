"""Mirrors PyOMP's published examples/pi_loop.py; written for pyomp, it runs unchanged under
PyOMP 0.6 with the PyOMP import line (`from numba.openmp import ...`).

pi as the integral of 4 / (1 + x^2) over [0, 1], by the midpoint rule with 100,000
slices; the slices are shared out by a worksharing loop and the per-thread partial sums
are combined by a `+` reduction.
"""

from pyomp import njit
from pyomp import openmp_context as openmp

SLICES = 100_000


@njit
def midpoint_pi(slices):
    width = 1.0 / slices
    area = 0.0
    x = 0.0
    with openmp("parallel for private(x) reduction(+:area)"):
        for k in range(slices):
            x = (k + 0.5) * width
            area += 4.0 / (1.0 + x * x)
    return width * area


print("pi =", midpoint_pi(SLICES))
