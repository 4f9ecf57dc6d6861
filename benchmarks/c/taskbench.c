/* EPCC taskbench: the cost of a task, as EPCC measures it: every thread of one parallel
 * region runs `reps` tasks whose body is the EPCC delay loop (and a store to the thread's
 * own cache line), minus `reps` delays without OpenMP, divided by `reps`: microseconds per
 * task (with k threads: per k tasks run side by side).
 * argv: kind, reps, delay length (iterations of the delay loop).  Prints the overhead and
 * a check count (task bodies run).  Kinds:
 *   parallel     every thread creates `reps` tasks
 *   master       the master thread creates threads x reps tasks
 *   conditional  every thread creates `reps` tasks with if(false at run time): undeferred
 *   taskwait     every thread creates a task and waits for it, `reps` times
 *   barrier      every thread creates a task, then a barrier, `reps` times
 *   nested       every thread creates reps / threads tasks, each creating `threads`
 *                (untied) tasks and waiting for them
 *   tree         every thread creates reps / 63 tasks, each the root of a binary tree of
 *                63 tasks (depth 5): a node creates its two children, runs the delay, and
 *                waits for them */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile int warm; /* written by the untimed warm-up task */

#define TREE_DEPTH 5

static long out[256 * 16]; /* one cache line per thread */

/* The EPCC delay, as in syncbench.c. */
static inline void delay(long n) {
    double a = 0.0;
    for (long i = 0; i < n; i++) a += i;
    if (a < 0) printf("%f\n", a);
}

static inline void task_body(long dl) {
    delay(dl);
    out[omp_get_thread_num() * 16] += 1;
}

static void nested_inner(int nt, long dl) {
    for (int i = 0; i < nt; i++) {
#pragma omp task untied
        task_body(dl);
    }
#pragma omp taskwait
}

static void tree(int level, long dl) {
    if (level > 0) {
#pragma omp task
        tree(level - 1, dl);
#pragma omp task
        tree(level - 1, dl);
    }
    task_body(dl);
#pragma omp taskwait
}

int main(int argc, char **argv) {
    const char *kind = argc > 1 ? argv[1] : "parallel";
    long reps = argc > 2 ? atol(argv[2]) : 10000, dl = argc > 3 ? atol(argv[3]) : 64;
    int nt = omp_get_max_threads();
    long total = reps;  /* tasks per thread */
    /* Untimed: start the team and libomp's tasking (a process's first tasks cost up to a
     * millisecond more); pyomp's are started by the runner's warm-up run. */
#pragma omp parallel
#pragma omp single
#pragma omp task
    warm = 1;
    double t0 = omp_get_wtime();
    if (!strcmp(kind, "parallel")) {
#pragma omp parallel
        for (long r = 0; r < reps; r++) {
#pragma omp task
            task_body(dl);
        }
    } else if (!strcmp(kind, "master")) {
#pragma omp parallel
#pragma omp master
        for (long r = 0; r < reps * nt; r++) {
#pragma omp task
            task_body(dl);
        }
    } else if (!strcmp(kind, "conditional")) {
#pragma omp parallel
        for (long r = 0; r < reps; r++) {
#pragma omp task if (dl < 0) /* false, not known at compile time */
            task_body(dl);
        }
    } else if (!strcmp(kind, "taskwait")) {
#pragma omp parallel
        for (long r = 0; r < reps; r++) {
#pragma omp task
            task_body(dl);
#pragma omp taskwait
        }
    } else if (!strcmp(kind, "barrier")) {
#pragma omp parallel
        for (long r = 0; r < reps; r++) {
#pragma omp task
            task_body(dl);
#pragma omp barrier
        }
    } else if (!strcmp(kind, "nested")) {
        long outer = reps / nt;
        total = outer * nt;
#pragma omp parallel
        for (long r = 0; r < outer; r++) {
#pragma omp task
            nested_inner(nt, dl);
        }
    } else if (!strcmp(kind, "tree")) {
        long nodes = (2L << TREE_DEPTH) - 1, trees = reps / nodes;
        total = trees * nodes;
#pragma omp parallel
        for (long r = 0; r < trees; r++) {
#pragma omp task
            tree(TREE_DEPTH, dl);
        }
    } else {
        fprintf(stderr, "unknown construct %s\n", kind);
        return 2;
    }
    double t1 = omp_get_wtime();
    long count = 0;
    for (int t = 0; t < nt; t++) count += out[t * 16];
    for (long r = 0; r < total; r++) {
        delay(dl);
        out[omp_get_thread_num() * 16] += 1;
    }
    double t2 = omp_get_wtime();
    printf("%.6f %ld\n", ((t1 - t0) - (t2 - t1)) / total * 1e6, count);
    return 0;
}
