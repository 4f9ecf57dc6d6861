"""Run by test_stress.test_leaving_is_sticky (in a subprocess: a hang blocks the process).

A thread told to leave a called function must not wait again where its team mates no
longer come: "try" (a function between the region and the orphaned barrier catches the
leave status and goes on), "nowait" (a thread raises late in a `for nowait` while its team
mates already wait at an orphaned barrier after the loop).
"""

import sys

import numpy as np
from pyomp import njit, omp_get_thread_num, openmp


@njit
def helper():
    with openmp("barrier"):
        pass


@njit
def guarded():
    try:
        helper()
    except Exception:
        pass


@njit
def caught(nt, who):
    with openmp("parallel num_threads(nt)"):
        t = omp_get_thread_num()
        if t == who:
            raise ValueError("boom")
        guarded()
        guarded()
    return 0


@njit
def late_in_nowait(nt, who, out):
    with openmp("parallel num_threads(nt)"):
        with openmp("for nowait schedule(static)"):
            for i in range(out.size):
                if i == who:
                    raise ValueError("late")
                out[i] += 1
        helper()
        helper()
    return 0


def main(case):
    for nt in (2, 3, 8):
        for _ in range(50):
            try:
                if case == "try":
                    caught(nt, 0)
                else:
                    late_in_nowait(nt, 39, np.zeros(40))
            except ValueError:
                pass
            else:
                raise SystemExit("no exception")
    print("done")


if __name__ == "__main__":
    main(sys.argv[1])
