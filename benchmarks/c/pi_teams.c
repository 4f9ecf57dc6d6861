/* pi by the midpoint rule through the teams layer on the host: `teams distribute parallel
 * for` with a + reduction (OpenMP 5.0 host teams; no device). Prints seconds. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 200000000L;
    double t0 = omp_get_wtime(), step = 1.0 / (double)n, s = 0.0;
#pragma omp teams distribute parallel for reduction(+ : s)
    for (long i = 0; i < n; i++) {
        double x = (i + 0.5) * step;
        s += 4.0 / (1.0 + x * x);
    }
    double t1 = omp_get_wtime();
    printf("%.9f %.17g\n", t1 - t0, step * s);
    return 0;
}
