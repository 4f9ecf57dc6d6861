/* Points of an n x n grid inside the Mandelbrot set, rows shared by schedule(dynamic, 16). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1024, maxit = 1000, inside = 0;
    double t0 = omp_get_wtime();
#pragma omp parallel for schedule(dynamic, 16) reduction(+ : inside)
    for (long i = 0; i < n; i++) {
        double ci = -1.5 + 3.0 * i / n;
        for (long j = 0; j < n; j++) {
            double cr = -2.0 + 3.0 * j / n, zr = 0, zi = 0;
            long it = 0;
            while (it < maxit && zr * zr + zi * zi <= 4.0) {
                double t = zr * zr - zi * zi + cr;
                zi = 2 * zr * zi + ci;
                zr = t;
                it++;
            }
            if (it == maxit) inside++;
        }
    }
    double t1 = omp_get_wtime();
    printf("%.9f %ld\n", t1 - t0, inside);
    return 0;
}
