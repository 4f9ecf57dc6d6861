/* EPCC-style fork/join overhead: `reps` parallel regions whose body is one store per
 * thread, minus the same work without the region; prints microseconds per region. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

static long out[256 * 16]; /* one cache line (and more) per thread: no false sharing */

int main(int argc, char **argv) {
    long reps = argc > 1 ? atol(argv[1]) : 100000;
    double t0 = omp_get_wtime();
    for (long r = 0; r < reps; r++) {
#pragma omp parallel
        { out[omp_get_thread_num() * 16] += r; }
    }
    double t1 = omp_get_wtime();
    for (long r = 0; r < reps; r++) out[omp_get_thread_num() * 16] += r;
    double t2 = omp_get_wtime();
    printf("%.6f %ld\n", ((t1 - t0) - (t2 - t1)) / reps * 1e6, out[0]);
    return 0;
}
