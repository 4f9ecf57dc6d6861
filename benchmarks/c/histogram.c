/* Histogram of n values into 256 bins: `atomic` per value, or private histograms merged
 * in a `critical` section (argv[1]: atomic | private). Prints seconds and a checksum. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    int use_atomic = argc < 2 || strcmp(argv[1], "private") != 0;
    long n = argc > 2 ? atol(argv[2]) : 10000000;
    long *values = malloc(n * sizeof(long)), hist[256] = {0};
    for (long i = 0; i < n; i++) values[i] = (i * 2654435761L) % 1000003;
    double t0 = omp_get_wtime();
    if (use_atomic) {
#pragma omp parallel for
        for (long i = 0; i < n; i++) {
#pragma omp atomic
            hist[values[i] & 255] += 1;
        }
    } else {
#pragma omp parallel
        {
            long mine[256] = {0};
#pragma omp for
            for (long i = 0; i < n; i++) mine[values[i] & 255] += 1;
#pragma omp critical
            for (int b = 0; b < 256; b++) hist[b] += mine[b];
        }
    }
    double t1 = omp_get_wtime();
    long check = 0;
    for (int b = 0; b < 256; b++) check += hist[b] * b;
    printf("%.9f %ld\n", t1 - t0, check);
    return 0;
}
