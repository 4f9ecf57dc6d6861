/* Fork/join of a `parallel firstprivate(a)` region over a 1,000-double array: each
 * thread gets its own copy of the contents (8 KB), changes one element and adds it up;
 * `reps` times, minus the same work without the region; prints microseconds per region.
 * Exits 1 if any thread saw a changed original. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#define N 1000

int main(int argc, char **argv) {
    long reps = argc > 1 ? atol(argv[1]) : 100000;
    double a[N];
    for (int i = 0; i < N; i++) a[i] = i;
    long bad = 0;
    double t0 = omp_get_wtime();
    for (long r = 0; r < reps; r++) {
#pragma omp parallel firstprivate(a) reduction(+ : bad)
        {
            bad += a[0] != 0.0;
            a[0] += r;
        }
    }
    double t1 = omp_get_wtime();
    for (long r = 0; r < reps; r++) {
        double c[N];
        for (int i = 0; i < N; i++) c[i] = a[i];
        bad += c[0] != 0.0;
        c[0] += r;
        __asm__ volatile("" : : "r"(c) : "memory");
    }
    double t2 = omp_get_wtime();
    printf("%.6f %ld\n", ((t1 - t0) - (t2 - t1)) / reps * 1e6, bad);
    return bad != 0;
}
