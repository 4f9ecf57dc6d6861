"""Mirrors PyOMP's published examples/hello.py; written for pyomp, it runs unchanged under
PyOMP 0.6 with the PyOMP import line (`from numba.openmp import ...`).

A team of eight threads is asked for explicitly (`num_threads(8)` wins over
OMP_NUM_THREADS) and every member reports its rank; the lines arrive in whatever order
the threads reach the print.
"""

from pyomp import njit, omp_get_num_threads, omp_get_thread_num
from pyomp import openmp_context as openmp


@njit
def greet_from_team():
    with openmp("parallel num_threads(8)"):
        rank = omp_get_thread_num()
        size = omp_get_num_threads()
        print("hello thread", rank, "of", size)


greet_from_team()
