/* EPCC schedbench: the cost of one worksharing loop of `iters` iterations per thread
 * (each a store to the thread's own cache line) under a schedule, inside one parallel
 * region, minus the same iterations without OpenMP; microseconds per loop.
 * argv: kind (static, static1, dynamic1, dynamic64, guided1), reps, iters per thread. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long out[256 * 16];

#define LOOP(SCHED)                                                     \
    _Pragma("omp parallel") for (long r = 0; r < reps; r++) {           \
        _Pragma(SCHED) for (long i = 0; i < n; i++)                     \
            out[omp_get_thread_num() * 16] += i;                        \
    }

int main(int argc, char **argv) {
    const char *kind = argc > 1 ? argv[1] : "static";
    long reps = argc > 2 ? atol(argv[2]) : 10000, iters = argc > 3 ? atol(argv[3]) : 128;
    int nt = omp_get_max_threads();
    long n = iters * nt;
    double t0 = omp_get_wtime();
    if (!strcmp(kind, "static")) LOOP("omp for schedule(static)")
    else if (!strcmp(kind, "static1")) LOOP("omp for schedule(static, 1)")
    else if (!strcmp(kind, "dynamic1")) LOOP("omp for schedule(dynamic, 1)")
    else if (!strcmp(kind, "dynamic64")) LOOP("omp for schedule(dynamic, 64)")
    else LOOP("omp for schedule(guided, 1)")
    double t1 = omp_get_wtime();
    for (long r = 0; r < reps; r++)
        for (long i = 0; i < iters; i++) out[omp_get_thread_num() * 16] += i;
    double t2 = omp_get_wtime();
    printf("%.6f %ld\n", ((t1 - t0) - (t2 - t1)) / reps * 1e6, out[0]);
    return 0;
}
