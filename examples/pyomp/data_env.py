"""Mirrors PyOMP's published examples/TestDataEnv.py; written for pyomp, it runs unchanged
under PyOMP 0.6 with the PyOMP import line (`from numba.openmp import ...`).

A self-check of the data environment of a parallel region with a team of four threads
(omp_set_num_threads): `private` gives each thread its own copy, `firstprivate` a copy that
starts from the value before the region, `shared` one variable that all threads update
inside a `critical` section, variables not named are shared, and a `single` block runs on
exactly one thread. Prints how many checks failed (0 when all hold).
"""

import numpy as np
from pyomp import njit, omp_get_num_threads, omp_get_thread_num, omp_set_num_threads
from pyomp import openmp_context as openmp

TEAM = 4


@njit
def count_data_env_errors():
    omp_set_num_threads(TEAM)
    own = -1  # private: each thread writes its own copy
    start = 20  # firstprivate: each copy begins at 20
    total = 50  # shared: every thread adds its rank, one at a time
    readonly = 9  # not named in a clause, so shared: only read inside
    single_runs = 0
    team = 0
    seen_own = np.full(TEAM, -1)
    seen_start = np.full(TEAM, -1)
    bad_reads = np.zeros(TEAM, dtype=np.int64)

    with openmp("parallel private(own, rank) firstprivate(start) shared(total)"):
        rank = omp_get_thread_num()
        with openmp("single"):
            single_runs += 1
            team = omp_get_num_threads()
        if readonly != 9:
            bad_reads[rank] += 1
        with openmp("critical"):
            total += rank
        start += 3 * rank
        seen_start[rank] = start
        own = 10 * rank
        seen_own[rank] = own

    errors = 0
    if team < 1 or team > TEAM:
        print("team of", team, "threads; asked for", TEAM)
        errors += 1
    if single_runs != 1:
        print("single block ran", single_runs, "times")
        errors += 1
    if bad_reads.sum() != 0:
        print("shared default: a thread read a wrong value", bad_reads.sum(), "times")
        errors += 1
    if total != 50 + team * (team - 1) // 2:
        print("shared + critical: total is", total)
        errors += 1
    if start != 20:
        print("firstprivate: the original changed to", start)
        errors += 1
    for t in range(team):
        if seen_own[t] != 10 * t:
            print("private: thread", t, "kept", seen_own[t])
            errors += 1
        if seen_start[t] != 20 + 3 * t:
            print("firstprivate: thread", t, "kept", seen_start[t])
            errors += 1

    print(errors, "errors in the data-environment checks "
          "(parallel, private, firstprivate, shared, critical, single)")
    return errors


count_data_env_errors()
