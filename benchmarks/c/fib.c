/* fib(n) with tasks: two tasks per call (shared results, then taskwait) down to n < 20,
 * below which the recursion is serial; one thread starts it (parallel + single).
 * Prints seconds and fib(n); exits 1 if fib(n) is wrong. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

static volatile int warm; /* written by the untimed warm-up task */

#define FIB_CUTOFF 20

static long fib_serial(long n) {
    if (n < 2) return n;
    return fib_serial(n - 1) + fib_serial(n - 2);
}

static long fib_task(long n) {
    if (n < FIB_CUTOFF) return fib_serial(n);
    long x = 0, y = 0;
#pragma omp task shared(x)
    x = fib_task(n - 1);
#pragma omp task shared(y)
    y = fib_task(n - 2);
#pragma omp taskwait
    return x + y;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 32, r = 0;
    /* Untimed: start the team and libomp's tasking (a process's first tasks cost up to a
     * millisecond more); pyomp's are started by the runner's warm-up run. */
#pragma omp parallel
#pragma omp single
#pragma omp task
    warm = 1;
    double t0 = omp_get_wtime();
#pragma omp parallel shared(r)
#pragma omp single
    r = fib_task(n);
    double t1 = omp_get_wtime();
    long a = 0, b = 1; /* the check, iteratively */
    for (long i = 0; i < n; i++) {
        long t = a + b;
        a = b;
        b = t;
    }
    printf("%.9f %ld\n", t1 - t0, r);
    return r == a ? 0 : 1;
}
