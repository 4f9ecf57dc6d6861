/* SPMD pi: each thread sums a cyclic share of the midpoint rule, partial sums in a shared
 * array (the pyomp kernel in benchmarks/kernels.py does the same). Prints seconds. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

static double pi_spmd(long n) {
    double step = 1.0 / (double)n, partial[64] = {0};
    int nthreads = 1;
#pragma omp parallel
    {
        int tid = omp_get_thread_num(), nt = omp_get_num_threads();
        if (tid == 0) nthreads = nt;
        double acc = 0.0;
        for (long i = tid; i < n; i += nt) {
            double x = (i + 0.5) * step;
            acc += 4.0 / (1.0 + x * x);
        }
        partial[tid] = acc;
    }
    double s = 0.0;
    for (int t = 0; t < nthreads; t++) s += partial[t];
    return step * s;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 100000000L;
    double t0 = omp_get_wtime();
    double pi = pi_spmd(n);
    double t1 = omp_get_wtime();
    printf("%.9f %.17g\n", t1 - t0, pi);
    return 0;
}
