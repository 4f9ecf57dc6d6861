/* The cost of a `target` region that adds to a mapped scalar, EPCC style (minus the bare
 * work): compiled without offload targets, C runs it on the initial device (the host),
 * which is what pyomp's initial device does. Prints microseconds per region. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    long reps = argc > 1 ? atol(argv[1]) : 100000, x = 0;
    double t0 = omp_get_wtime();
    for (long r = 0; r < reps; r++) {
#pragma omp target map(tofrom : x)
        { x += r; }
    }
    double t1 = omp_get_wtime();
    for (long r = 0; r < reps; r++) {
        x += r;
        __asm__ volatile("" : "+r"(x)); /* kept: one add per repetition, as above */
    }
    double t2 = omp_get_wtime();
    printf("%.6f %ld\n", ((t1 - t0) - (t2 - t1)) / reps * 1e6, x);
    return 0;
}
