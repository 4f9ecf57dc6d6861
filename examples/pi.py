"""pi by the midpoint rule on a team of threads: pyomp's demo.

Prints what pyomp runs on, then a speed-up table: the same SPMD kernel (each thread sums
a cyclic share of the terms; partial sums meet in a shared array) at 1..N threads,
against the serial loop compiled by plain Numba.

    python examples/pi.py [n] [max_threads]
"""

import os
import sys
import time

import numba
import numpy as np
from pyomp import njit, omp_get_num_threads, omp_get_thread_num, omp_set_num_threads, openmp
from pyomp.cli import info_lines


@njit
def pi_parallel(n):
    step = 1.0 / n
    partial = np.zeros(256)
    nthreads = 1
    with openmp("parallel"):
        tid = omp_get_thread_num()
        nt = omp_get_num_threads()
        if tid == 0:
            nthreads = nt
        acc = 0.0
        for i in range(tid, n, nt):
            x = (i + 0.5) * step
            acc += 4.0 / (1.0 + x * x)
        partial[tid] = acc
    return step * partial[:nthreads].sum()


@numba.njit
def pi_serial(n):
    step = 1.0 / n
    s = 0.0
    for i in range(n):
        x = (i + 0.5) * step
        s += 4.0 / (1.0 + x * x)
    return step * s


def best_of(f, n, repeat=5):
    f(n)  # compile and warm up
    best, value = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = f(n)
        best = min(best, time.perf_counter() - t0)
    return value, best


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000_000
    max_threads = int(sys.argv[2]) if len(sys.argv) > 2 else max(2, os.cpu_count() or 1)
    print("\n".join(info_lines()))
    print()
    ref, t_serial = best_of(pi_serial, n)
    print(f"pi({n:,}) with {max_threads} thread(s) at most; serial Numba: {t_serial:.4f} s\n")
    print(f"{'threads':>7}  {'time (s)':>9}  {'speed-up':>8}  {'error':>9}")
    for k in range(1, max_threads + 1):
        omp_set_num_threads(k)
        value, t = best_of(pi_parallel, n)
        assert abs(value - ref) < 1e-9, (value, ref)
        print(f"{k:>7}  {t:>9.4f}  {t_serial / t:>8.2f}  {abs(value - np.pi):>9.1e}")


if __name__ == "__main__":
    main()
