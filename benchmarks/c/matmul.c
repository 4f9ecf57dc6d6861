/* C = A B for n x n doubles, i-k-j order, rows of C shared out by parallel for. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1024;
    double *a = malloc(n * n * sizeof(double)), *b = malloc(n * n * sizeof(double)),
           *c = calloc(n * n, sizeof(double));
    for (long i = 0; i < n * n; i++) { a[i] = (double)(i % 7) * 0.5; b[i] = (double)(i % 5) * 0.25; }
    double t0 = omp_get_wtime();
#pragma omp parallel for
    for (long i = 0; i < n; i++)
        for (long k = 0; k < n; k++) {
            double aik = a[i * n + k];
            for (long j = 0; j < n; j++) c[i * n + j] += aik * b[k * n + j];
        }
    double t1 = omp_get_wtime();
    double s = 0; for (long i = 0; i < n * n; i++) s += c[i];
    printf("%.9f %.17g\n", t1 - t0, s);
    return 0;
}
