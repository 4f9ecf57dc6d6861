/* Merge sort of n doubles with tasks: the halves sorted by two tasks (then taskwait and a
 * merge) down to 8192 elements, below which the same merge sort runs serially, with an
 * insertion sort below 32 elements; merges go through a temporary buffer and are copied
 * back.  One thread starts it (parallel + single).  The keys: splitmix64 of the index, as
 * kernels.sort_keys.  Prints seconds and the sum of the keys; exits 1 if not sorted. */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile int warm; /* written by the untimed warm-up task */

#define SORT_CUTOFF 8192
#define INSERTION_CUTOFF 32

static void insertion_sort(double *a, long lo, long hi) {
    for (long i = lo + 1; i < hi; i++) {
        double v = a[i];
        long j = i - 1;
        while (j >= lo && a[j] > v) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = v;
    }
}

static void merge(double *a, double *tmp, long lo, long mid, long hi) {
    long i = lo, j = mid, k = lo;
    while (i < mid && j < hi) {
        if (a[j] < a[i])
            tmp[k++] = a[j++];
        else
            tmp[k++] = a[i++];
    }
    while (i < mid) tmp[k++] = a[i++];
    while (j < hi) tmp[k++] = a[j++];
    for (k = lo; k < hi; k++) a[k] = tmp[k];
}

static void merge_sort_serial(double *a, double *tmp, long lo, long hi) {
    if (hi - lo <= INSERTION_CUTOFF) {
        insertion_sort(a, lo, hi);
        return;
    }
    long mid = (lo + hi) >> 1;
    merge_sort_serial(a, tmp, lo, mid);
    merge_sort_serial(a, tmp, mid, hi);
    merge(a, tmp, lo, mid, hi);
}

static void merge_sort_task(double *a, double *tmp, long lo, long hi) {
    if (hi - lo <= SORT_CUTOFF) {
        merge_sort_serial(a, tmp, lo, hi);
        return;
    }
    long mid = (lo + hi) >> 1;
#pragma omp task
    merge_sort_task(a, tmp, lo, mid);
#pragma omp task
    merge_sort_task(a, tmp, mid, hi);
#pragma omp taskwait
    merge(a, tmp, lo, mid, hi);
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 10000000;
    double *a = malloc(n * sizeof(double)), *tmp = malloc(n * sizeof(double));
    for (long i = 0; i < n; i++) {
        uint64_t z = (uint64_t)i * 0x9E3779B97F4A7C15ULL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        a[i] = (double)(z >> 11) * 0x1.0p-53;
    }
    memset(tmp, 0, n * sizeof(double)); /* touched, as the Python side's reused buffer */
    /* Untimed: start the team and libomp's tasking (a process's first tasks cost up to a
     * millisecond more); pyomp's are started by the runner's warm-up run. */
#pragma omp parallel
#pragma omp single
#pragma omp task
    warm = 1;
    double t0 = omp_get_wtime();
#pragma omp parallel
#pragma omp single
    merge_sort_task(a, tmp, 0, n);
    double t1 = omp_get_wtime();
    double sum = 0.0;
    int sorted = 1;
    for (long i = 0; i < n; i++) {
        sum += a[i];
        if (i > 0 && a[i - 1] > a[i]) sorted = 0;
    }
    printf("%.9f %.17g\n", t1 - t0, sum);
    return sorted ? 0 : 1;
}
