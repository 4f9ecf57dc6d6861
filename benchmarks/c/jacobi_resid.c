/* 2D Jacobi with the residual summed inside the stencil loop: `sweeps` sweeps over a
 * (2, n, n) grid in one parallel region; each sweep is a `for reduction(+:resid)` over the
 * rows that reads plane src, writes plane dst and adds (new - old)^2 at every point, then a
 * `single` that records and resets the residual. Mode "for" (default) or "simd": the same
 * with `simd reduction(+:resid)` on the inner loop. Prints seconds and the last residual. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 2048, sweeps = argc > 2 ? atol(argv[2]) : 100;
    int simd = argc > 3 && strcmp(argv[3], "simd") == 0;
    double *g = calloc(2 * n * n, sizeof(double));
    for (long j = 0; j < n; j++) { g[j] = 1.0; g[n * n + j] = 1.0; }
    double resid = 0.0, last = 0.0, t0 = omp_get_wtime();
#pragma omp parallel
    for (long s = 0; s < sweeps; s++) {
        const double *src = g + (s % 2) * n * n;
        double *dst = g + (1 - s % 2) * n * n;
        if (simd) {
#pragma omp for reduction(+ : resid)
            for (long i = 1; i < n - 1; i++) {
#pragma omp simd reduction(+ : resid)
                for (long j = 1; j < n - 1; j++) {
                    double new = 0.25 * (src[(i - 1) * n + j] + src[(i + 1) * n + j] +
                                         src[i * n + j - 1] + src[i * n + j + 1]);
                    double d = new - src[i * n + j];
                    dst[i * n + j] = new;
                    resid += d * d;
                }
            }
        } else {
#pragma omp for reduction(+ : resid)
            for (long i = 1; i < n - 1; i++)
                for (long j = 1; j < n - 1; j++) {
                    double new = 0.25 * (src[(i - 1) * n + j] + src[(i + 1) * n + j] +
                                         src[i * n + j - 1] + src[i * n + j + 1]);
                    double d = new - src[i * n + j];
                    dst[i * n + j] = new;
                    resid += d * d;
                }
        }
#pragma omp single
        {
            last = resid;
            resid = 0.0;
        }
    }
    double t1 = omp_get_wtime();
    printf("%.9f %.17g\n", t1 - t0, last);
    return 0;
}
