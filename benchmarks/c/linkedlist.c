/* A linked list of n nodes (linked in the order k * 7919 % n, node i doing
 * 64 + (i * 2654435761 % 1000003) % 4032 iterations, as kernels.make_list) walked by one
 * thread (parallel + single) creating one task per node, which runs that many dependent
 * additions into the node.  Prints seconds and the sum; exits 1 if a node is wrong. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

static volatile int warm; /* written by the untimed warm-up task */

struct node {
    struct node *next;
    long size;
    double out;
};

static double list_work(long size) {
    double a = 0.0;
    for (long i = 0; i < size; i++) a += i;
    return a;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 50000;
    if (n % 7919 == 0) return 2;
    struct node *nodes = calloc(n, sizeof(struct node));
    for (long i = 0; i < n; i++) nodes[i].size = 64 + (i * 2654435761L % 1000003) % 4032;
    for (long k = 0; k + 1 < n; k++) nodes[k * 7919 % n].next = &nodes[(k + 1) * 7919 % n];
    struct node *head = &nodes[0];
    /* Untimed: start the team and libomp's tasking (a process's first tasks cost up to a
     * millisecond more); pyomp's are started by the runner's warm-up run. */
#pragma omp parallel
#pragma omp single
#pragma omp task
    warm = 1;
    double t0 = omp_get_wtime();
#pragma omp parallel
#pragma omp single
    for (struct node *p = head; p; p = p->next) {
#pragma omp task firstprivate(p)
        p->out = list_work(p->size);
    }
    double t1 = omp_get_wtime();
    double sum = 0.0;
    int ok = 1;
    for (long i = 0; i < n; i++) {
        sum += nodes[i].out;
        if (nodes[i].out != nodes[i].size * (nodes[i].size - 1) / 2) ok = 0;
    }
    printf("%.9f %.17g\n", t1 - t0, sum);
    return ok ? 0 : 1;
}
