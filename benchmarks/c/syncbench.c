/* EPCC syncbench: the cost of one synchronisation construct, executed `reps` times by the
 * threads of one parallel region (or `reps` times as a combined construct), each around
 * the EPCC delay loop, minus the same delays without OpenMP; microseconds per construct.
 * argv: kind (parallel, for, parallelfor, barrier, single, critical, lock, atomic,
 * reduction), reps, delay length (iterations of the delay loop), and "called" to call an
 * out-of-line delay function instead of inlining it.  Prints the overhead and a check
 * count.
 * critical, lock and atomic run `reps` times per thread (threads * reps constructs, one at
 * a time): the reference is threads * reps delays and the time is divided by that count.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long out[256 * 16]; /* one cache line per thread */

/* The EPCC delay: a chain of dependent floating-point additions (not reassociable without
 * -ffast-math, so neither folded nor vectorised), its result kept live by the test. */
static inline void delay_inline(long n) {
    double a = 0.0;
    for (long i = 0; i < n; i++) a += i;
    if (a < 0) printf("%f\n", a);
}

/* The same, out of line: every delay is a call (EPCC's delay is a function of its own). */
__attribute__((noinline)) static void delay_called(long n) { delay_inline(n); }

static int called; /* argv[4] == "called" */

static inline void delay(long n) {
    if (called)
        delay_called(n);
    else
        delay_inline(n);
}

int main(int argc, char **argv) {
    const char *kind = argc > 1 ? argv[1] : "barrier";
    long reps = argc > 2 ? atol(argv[2]) : 10000, dl = argc > 3 ? atol(argv[3]) : 64;
    called = argc > 4 && !strcmp(argv[4], "called");
    int nt = omp_get_max_threads();
    long total = reps, count = 0; /* constructs timed; the check count */
    double t0 = omp_get_wtime();
    if (!strcmp(kind, "parallel")) {
        for (long r = 0; r < reps; r++) {
#pragma omp parallel
            {
                delay(dl);
                out[omp_get_thread_num() * 16] += 1;
            }
        }
    } else if (!strcmp(kind, "for")) {
#pragma omp parallel
        for (long r = 0; r < reps; r++) {
#pragma omp for
            for (long i = 0; i < nt; i++) {
                delay(dl);
                out[omp_get_thread_num() * 16] += 1;
            }
        }
    } else if (!strcmp(kind, "parallelfor")) {
        for (long r = 0; r < reps; r++) {
#pragma omp parallel for
            for (long i = 0; i < nt; i++) {
                delay(dl);
                out[omp_get_thread_num() * 16] += 1;
            }
        }
    } else if (!strcmp(kind, "barrier")) {
#pragma omp parallel
        for (long r = 0; r < reps; r++) {
            delay(dl);
            out[omp_get_thread_num() * 16] += 1;
#pragma omp barrier
        }
    } else if (!strcmp(kind, "single")) {
#pragma omp parallel
        for (long r = 0; r < reps; r++) {
#pragma omp single
            {
                delay(dl);
                count += 1;
            }
        }
    } else if (!strcmp(kind, "critical")) {
        total = nt * reps;
#pragma omp parallel
        for (long r = 0; r < reps; r++) {
#pragma omp critical
            {
                delay(dl);
                count += 1;
            }
        }
    } else if (!strcmp(kind, "lock")) {
        total = nt * reps;
        omp_lock_t lock;
        omp_init_lock(&lock);
#pragma omp parallel
        for (long r = 0; r < reps; r++) {
            omp_set_lock(&lock);
            delay(dl);
            count += 1;
            omp_unset_lock(&lock);
        }
        omp_destroy_lock(&lock);
    } else if (!strcmp(kind, "atomic")) { /* as EPCC: no delay; the reference adds alone */
        total = nt * reps;
#pragma omp parallel
        for (long r = 0; r < reps; r++) {
#pragma omp atomic
            count += 1;
        }
    } else if (!strcmp(kind, "reduction")) {
        for (long r = 0; r < reps; r++) {
#pragma omp parallel reduction(+ : count)
            {
                delay(dl);
                count += 1;
            }
        }
    } else {
        fprintf(stderr, "unknown construct %s\n", kind);
        return 2;
    }
    double t1 = omp_get_wtime();
    for (int t = 0; t < nt; t++) count += out[t * 16]; /* parallel, for, parallelfor, barrier */
    if (!strcmp(kind, "atomic")) {
        for (long r = 0; r < total; r++) out[0] += 1;
    } else {
        for (long r = 0; r < total; r++) {
            delay(dl);
            out[omp_get_thread_num() * 16] += 1;
        }
    }
    double t2 = omp_get_wtime();
    printf("%.6f %ld\n", ((t1 - t0) - (t2 - t1)) / total * 1e6, count);
    return 0;
}
