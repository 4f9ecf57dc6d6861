/* Fork/join of a `parallel for reduction(+:s)` region with one iteration per thread,
 * `reps` times, minus the same sums without the region; prints microseconds per region.
 * Exits 1 if any region's sum was wrong. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    long reps = argc > 1 ? atol(argv[1]) : 100000;
    int nt = omp_get_max_threads();
    long total = 0;
    double t0 = omp_get_wtime();
    for (long r = 0; r < reps; r++) {
        long s = 0;
#pragma omp parallel for reduction(+ : s)
        for (int i = 0; i < nt; i++) s += i + r;
        total += s;
    }
    double t1 = omp_get_wtime();
    for (long r = 0; r < reps; r++) {
        long s = 0;
        for (int i = 0; i < nt; i++) s += i + r;
        total -= s;
    }
    double t2 = omp_get_wtime();
    printf("%.6f %ld\n", ((t1 - t0) - (t2 - t1)) / reps * 1e6, total);
    return total != 0;
}
