"""pi by the midpoint rule: pyomp's demo.

Prints what pyomp runs on, then times the kernel.  (The parallel-region issue turns this into
the speed-up table over 1..N threads; until then it shows the serial baseline compiled
through pyomp's pipeline next to plain Numba.)
"""

import time

import numba
import pyomp
from pyomp import njit
from pyomp.cli import info_lines


def pi_kernel(n):
    step = 1.0 / n
    s = 0.0
    for i in range(n):
        x = (i + 0.5) * step
        s += 4.0 / (1.0 + x * x)
    return step * s


def best_of(f, n, repeat=5):
    f(n)  # compile
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = f(n)
        best = min(best, time.perf_counter() - t0)
    return value, best


def main(n=100_000_000):
    print("\n".join(info_lines()))
    print()
    ours, t_ours = best_of(njit(pi_kernel), n)
    plain, t_plain = best_of(numba.njit(pi_kernel), n)
    print(f"pi({n:,}) = {ours:.12f}")
    print(f"{'variant':<28}{'time (s)':>10}{'ratio':>8}")
    print(f"{'numba.njit (serial)':<28}{t_plain:>10.4f}{1.0:>8.2f}")
    print(f"{'pyomp.njit (serial)':<28}{t_ours:>10.4f}{t_ours / t_plain:>8.2f}")
    assert abs(ours - plain) < 1e-9
    print(f"\nOpenMP threads available: {pyomp.omp_get_max_threads()}")


if __name__ == "__main__":
    main()
