"""Mirrors PyOMP's published heat-equation example (pyomp_examples' heatsim/heat-jit-omp.py);
written for pyomp, it runs unchanged under PyOMP 0.6 with the PyOMP import line
(`from numba.openmp import ...`).

The 2-D heat equation u_t = alpha * (u_xx + u_yy) on a square of side 1000 with u = 0 on
the boundary, started from sin(pi x / L) sin(pi y / L), whose exact solution decays as
exp(-2 alpha pi^2 t / L^2). Explicit five-point scheme on an n x n interior grid (default
1000 x 1000, 10 time steps; `python heat.py n steps` to change), each step a `parallel for`
over the grid rows; at the end the L2 norm of the difference from the exact solution.
"""

import math
import sys

import numpy as np
from pyomp import njit, omp_get_wtime
from pyomp import openmp_context as openmp

ALPHA = 0.1
SIDE = 1000.0
END_TIME = 0.5


@njit
def exact(t, x, y, alpha, side):
    decay = math.exp(-2.0 * alpha * math.pi * math.pi * t / (side * side))
    return decay * math.sin(math.pi * x / side) * math.sin(math.pi * y / side)


@njit
def fill_initial(grid, h, side):
    # interior point (row, col) sits at x = (col + 1) h, y = (row + 1) h
    n = grid.shape[0]
    for row in range(n):
        for col in range(n):
            grid[row, col] = exact(0.0, (col + 1) * h, (row + 1) * h, 1.0, side)


@njit
def step(r, old, new):
    # points outside the grid are on the boundary, where u = 0
    n = old.shape[0]
    centre = 1.0 - 4.0 * r
    with openmp("parallel for"):
        for row in range(n):
            for col in range(n):
                around = 0.0
                if col > 0:
                    around += old[row, col - 1]
                if col < n - 1:
                    around += old[row, col + 1]
                if row > 0:
                    around += old[row - 1, col]
                if row < n - 1:
                    around += old[row + 1, col]
                new[row, col] = centre * old[row, col] + r * around


@njit
def march(steps, r, grid, spare):
    """Advance `steps` time steps; returns the array that holds the last one."""
    for _ in range(steps):
        step(r, grid, spare)
        grid, spare = spare, grid
    return grid


@njit
def error_norm(grid, t, h, alpha, side):
    n = grid.shape[0]
    squares = 0.0
    for row in range(n):
        for col in range(n):
            diff = grid[row, col] - exact(t, (col + 1) * h, (row + 1) * h, alpha, side)
            squares += diff * diff
    return math.sqrt(squares)


def main(n, steps):
    began = omp_get_wtime()
    h = SIDE / (n + 1)
    dt = END_TIME / steps
    r = ALPHA * dt / (h * h)

    print("2-D heat equation, method of manufactured solutions")
    print(f" grid: {n} x {n} interior points, spacing {h}")
    print(f" domain: {SIDE} x {SIDE}, alpha {ALPHA}")
    print(f" time: {steps} steps of {dt} to t = {dt * steps}")
    print(f" r = alpha dt / h^2 = {r}" + (" (over 0.5: unstable)" if r > 0.5 else ""))

    mark = omp_get_wtime()
    march.compile("float64[:, ::1](int64, float64, float64[:, ::1], float64[:, ::1])")
    print("compile time (s):", omp_get_wtime() - mark)

    grid = np.empty((n, n))
    fill_initial(grid, h, SIDE)
    spare = np.empty_like(grid)
    mark = omp_get_wtime()
    grid = march(steps, r, grid, spare)
    solve = omp_get_wtime() - mark

    print("L2 error:", error_norm(grid, dt * steps, h, ALPHA, SIDE))
    print("solve time (s):", solve)
    print("total time (s):", omp_get_wtime() - began)


if __name__ == "__main__":
    if len(sys.argv) == 3:
        main(int(sys.argv[1]), int(sys.argv[2]))
    else:
        main(1000, 10)
