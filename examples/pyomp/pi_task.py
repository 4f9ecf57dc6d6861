"""Mirrors PyOMP's published examples/pi_task.py; written for pyomp, it runs unchanged under
PyOMP 0.6 with the PyOMP import line (`from numba.openmp import ...`).

pi by the midpoint rule (1,024 slices) with explicit tasks: a range of slices is cut in two
halves, each half summed by its own task (results passed back through `shared` variables),
and `taskwait` holds the parent until both are done; ranges under 256 slices are summed
directly. One thread (`single`) starts the recursion; the others in the team pick up tasks.
Repeated for teams of 1 to 4 threads (omp_set_num_threads), timing each.
"""

from pyomp import (
    njit,
    omp_get_num_threads,
    omp_get_wtime,
    omp_set_num_threads,
)
from pyomp import openmp_context as openmp

SLICES = 1024
LARGEST_TEAM = 4
LEAF = 256  # ranges shorter than this are summed without further tasks


@njit
def range_sum(first, stop, width):
    span = stop - first
    result = 0.0
    if span < LEAF:
        for k in range(first, stop):
            x = (k + 0.5) * width
            result += 4.0 / (1.0 + x * x)
    else:
        middle = first + span // 2
        lower = 0.0
        upper = 0.0
        with openmp("task shared(lower)"):
            lower = range_sum(first, middle, width)
        with openmp("task shared(upper)"):
            upper = range_sum(middle, stop, width)
        with openmp("taskwait"):
            pass
        result = lower + upper
    return result


@njit
def task_pi_over_teams(slices, largest_team):
    width = 1.0 / slices
    for team in range(1, largest_team + 1):
        omp_set_num_threads(team)
        whole = 0.0
        began = omp_get_wtime()
        with openmp("parallel"):
            with openmp("single"):
                print("num_threads = ", omp_get_num_threads())
                whole = range_sum(0, slices, width)
        estimate = width * whole
        print("pi = ", estimate, "runtime = ", omp_get_wtime() - began, team)


task_pi_over_teams(SLICES, LARGEST_TEAM)
print("DONE")
