/* 2D Jacobi: `sweeps` sweeps over an n x n grid in one parallel region: a `for` computing
 * the new grid, a `single` resetting the residual, a `for` with a + reduction of the
 * residual that copies the grid back. Prints seconds and the last residual. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 2048, sweeps = argc > 2 ? atol(argv[2]) : 100;
    double *u = calloc(n * n, sizeof(double)), *v = calloc(n * n, sizeof(double));
    for (long j = 0; j < n; j++) { u[j] = 1.0; v[j] = 1.0; }
    double res = 0.0, t0 = omp_get_wtime();
#pragma omp parallel
    for (long s = 0; s < sweeps; s++) {
#pragma omp for
        for (long i = 1; i < n - 1; i++)
            for (long j = 1; j < n - 1; j++)
                v[i * n + j] = 0.25 * (u[(i - 1) * n + j] + u[(i + 1) * n + j] +
                                       u[i * n + j - 1] + u[i * n + j + 1]);
#pragma omp single
        res = 0.0;
#pragma omp for reduction(+ : res)
        for (long i = 1; i < n - 1; i++)
            for (long j = 1; j < n - 1; j++) {
                double d = v[i * n + j] - u[i * n + j];
                res += d * d;
                u[i * n + j] = v[i * n + j];
            }
    }
    double t1 = omp_get_wtime();
    printf("%.9f %.17g\n", t1 - t0, res);
    return 0;
}
