"""Mirrors PyOMP's published examples/pi_spmd.py; written for pyomp, it runs unchanged under
PyOMP 0.6 with the PyOMP import line (`from numba.openmp import ...`).

pi by the midpoint rule (10^8 slices) in SPMD style: inside one parallel region each thread
takes every team-size-th slice starting from its own rank, leaves its partial sum in its
own slot of a shared array, and the master adds the slots once the region has ended.
Repeated for teams of 1 to 8 threads (omp_set_num_threads), timing each.
"""

import numpy as np
from pyomp import (
    njit,
    omp_get_num_threads,
    omp_get_thread_num,
    omp_get_wtime,
    omp_set_num_threads,
)
from pyomp import openmp_context as openmp

SLICES = 100_000_000
LARGEST_TEAM = 8


@njit
def spmd_pi_over_teams(slices, largest_team):
    width = 1.0 / slices
    for team in range(1, largest_team + 1):
        slots = np.zeros(team)
        omp_set_num_threads(team)
        began = omp_get_wtime()

        with openmp("parallel private(rank, size, acc, x)"):
            rank = omp_get_thread_num()
            size = omp_get_num_threads()
            if rank == 0:
                print("num_threads = ", size)
            acc = 0.0
            # cyclic share: rank, rank + size, rank + 2 * size, ...
            for k in range(rank, slices, size):
                x = (k + 0.5) * width
                acc += 4.0 / (1.0 + x * x)
            slots[rank] = acc

        # back on the master thread: add the slots in rank order
        whole = 0.0
        for s in range(team):
            whole += slots[s]
        estimate = width * whole
        print("pi = ", estimate, "runtime = ", omp_get_wtime() - began, team)


spmd_pi_over_teams(SLICES, LARGEST_TEAM)
print("DONE")
