"""The benchmark kernels in pyomp and in Numba prange (the C versions live in c/)."""

import numba
import numpy as np
from pyomp import (
    bench,
    njit,
    omp_get_max_threads,
    omp_get_num_threads,
    omp_get_thread_num,
    omp_get_wtime,
    openmp,
)
from syncbench import begin, delay, end, per_thread_counts, reference


@njit
def pi_spmd(n):
    step = 1.0 / n
    partial = np.zeros(64)
    nthreads = 1
    with openmp("parallel"):
        tid = omp_get_thread_num()
        nt = omp_get_num_threads()
        if tid == 0:
            nthreads = nt
        acc = 0.0
        for i in range(tid, n, nt):
            x = (i + 0.5) * step
            acc += 4.0 / (1.0 + x * x)
        partial[tid] = acc
    return step * partial[:nthreads].sum()


@numba.njit(parallel=True)
def pi_prange(n):
    step = 1.0 / n
    s = 0.0
    for i in numba.prange(n):
        x = (i + 0.5) * step
        s += 4.0 / (1.0 + x * x)
    return step * s


@njit
def forkjoin(reps, out):
    """Microseconds per empty-ish parallel region (EPCC method: minus the bare work)."""
    t0 = omp_get_wtime()
    for r in range(reps):
        with openmp("parallel"):
            out[omp_get_thread_num() * 16] += r  # a cache line per thread
    t1 = omp_get_wtime()
    for r in range(reps):
        out[omp_get_thread_num() * 16] += r
    t2 = omp_get_wtime()
    return ((t1 - t0) - (t2 - t1)) / reps * 1e6


#: The same function compiled with nogil=True: the caller holds no GIL at the fork, so
#: the region does not release and retake it. The difference to `forkjoin` is what the
#: GIL release costs a region called from a function that holds the GIL.
forkjoin_nogil = njit(nogil=True)(forkjoin.py_func)


@njit
def forkjoin_reduction(reps, out):
    """Microseconds per `parallel for reduction(+:s)` region of one iteration per thread
    (minus the same sums without the region)."""
    nt = omp_get_max_threads()
    total = 0
    t0 = omp_get_wtime()
    for r in range(reps):
        s = 0
        with openmp("parallel for reduction(+:s)"):
            for i in range(nt):
                s += i + r
        total += s
    t1 = omp_get_wtime()
    for r in range(reps):
        s = 0
        for i in range(nt):
            s += i + r
        total -= s
    t2 = omp_get_wtime()
    out[0] = total  # 0 when every region summed right
    return ((t1 - t0) - (t2 - t1)) / reps * 1e6


forkjoin_reduction_nogil = njit(nogil=True)(forkjoin_reduction.py_func)


@njit
def forkjoin_firstprivate(reps, out):
    """Microseconds per `parallel firstprivate(a)` region over a 1,000-element array (each
    thread gets its own copy of the contents; c/forkjoin_firstprivate.c in C), minus the
    same copies without the region. out[0]: how many threads saw a changed original."""
    a = np.arange(1000.0)
    bad = 0
    t0 = omp_get_wtime()
    for r in range(reps):
        with openmp("parallel firstprivate(a) reduction(+:bad)"):
            bad += a[0] != 0.0
            a[0] += r
    t1 = omp_get_wtime()
    for r in range(reps):
        c = a.copy()
        bad += c[0] != 0.0
        c[0] += r
    t2 = omp_get_wtime()
    out[0] = bad
    return ((t1 - t0) - (t2 - t1)) / reps * 1e6


@numba.njit(parallel=True)
def forkjoin_prange(reps, out):
    """The same with Numba's prange: one parallel loop of one iteration per thread."""
    nt = numba.get_num_threads()
    t0 = omp_get_wtime()
    for r in range(reps):
        for t in numba.prange(nt):
            out[t * 16] += r
    t1 = omp_get_wtime()
    for r in range(reps):
        out[0] += r
    t2 = omp_get_wtime()
    return ((t1 - t0) - (t2 - t1)) / reps * 1e6


#: pi by `parallel for reduction(+:s)` (static schedule): the kernel of `python -m pyomp
#: bench`, the same loop as c/pi_loop.c.
pi_loop = bench.pi


#: The same loop compiled with Numba's error_model="numpy": `4.0 / (1.0 + x * x)` without
#: the ZeroDivisionError check, whose early exit keeps LLVM from vectorising the loop.
pi_loop_numpy_errors = njit(error_model="numpy")(pi_loop.py_func)


@njit
def matmul(a, b, c):
    n = a.shape[0]
    with openmp("parallel for"):
        for i in range(n):
            for k in range(n):
                aik = a[i, k]
                for j in range(n):
                    c[i, j] += aik * b[k, j]
    return c


@numba.njit(parallel=True)
def matmul_prange(a, b, c):
    n = a.shape[0]
    for i in numba.prange(n):
        for k in range(n):
            aik = a[i, k]
            for j in range(n):
                c[i, j] += aik * b[k, j]
    return c


@njit
def mandelbrot(n, maxit):
    inside = 0
    with openmp("parallel for schedule(dynamic, 16) reduction(+:inside)"):
        for i in range(n):
            ci = -1.5 + 3.0 * i / n
            for j in range(n):
                cr = -2.0 + 3.0 * j / n
                zr = 0.0
                zi = 0.0
                it = 0
                while it < maxit and zr * zr + zi * zi <= 4.0:
                    t = zr * zr - zi * zi + cr
                    zi = 2 * zr * zi + ci
                    zr = t
                    it += 1
                if it == maxit:
                    inside += 1
    return inside


@numba.njit(parallel=True)
def mandelbrot_prange(n, maxit):
    inside = 0
    for i in numba.prange(n):
        ci = -1.5 + 3.0 * i / n
        for j in range(n):
            cr = -2.0 + 3.0 * j / n
            zr = 0.0
            zi = 0.0
            it = 0
            while it < maxit and zr * zr + zi * zi <= 4.0:
                t = zr * zr - zi * zi + cr
                zi = 2 * zr * zi + ci
                zr = t
                it += 1
            if it == maxit:
                inside += 1
    return inside


def _schedbench(schedule):
    """An EPCC schedbench kernel for one schedule (directives are compile-time strings)."""
    src = f"""
def schedbench(reps, iters, out):
    nt = omp_get_max_threads()
    n = iters * nt
    t0 = omp_get_wtime()
    with openmp("parallel"):
        for r in range(reps):
            with openmp("for schedule({schedule})"):
                for i in range(n):
                    out[omp_get_thread_num() * 16] += i
    t1 = omp_get_wtime()
    for r in range(reps):
        for i in range(iters):
            out[omp_get_thread_num() * 16] += i
    t2 = omp_get_wtime()
    return ((t1 - t0) - (t2 - t1)) / reps * 1e6
"""
    namespace = dict(globals(), omp_get_max_threads=omp_get_max_threads)
    exec(compile(src, __file__, "exec"), namespace)
    return njit(namespace["schedbench"])


SCHEDULES = {"static": "static", "static1": "static, 1", "dynamic1": "dynamic, 1",
             "dynamic64": "dynamic, 64", "guided1": "guided, 1"}
schedbench = {name: _schedbench(s) for name, s in SCHEDULES.items()}


@njit
def jacobi(u, v, sweeps):
    """The same sweeps as c/jacobi.c: for, single, for with a residual reduction."""
    n = u.shape[0]
    res = 0.0
    with openmp("parallel"):
        for _sweep in range(sweeps):
            with openmp("for"):
                for i in range(1, n - 1):
                    for j in range(1, n - 1):
                        v[i, j] = 0.25 * (u[i - 1, j] + u[i + 1, j] + u[i, j - 1] + u[i, j + 1])
            with openmp("single"):
                res = 0.0
            with openmp("for reduction(+:res)"):
                for i in range(1, n - 1):
                    for j in range(1, n - 1):
                        d = v[i, j] - u[i, j]
                        res += d * d
                        u[i, j] = v[i, j]
    return res


def _jacobi_resid(g, sweeps):
    """The sweeps of c/jacobi_resid.c: per sweep a `for reduction(+:resid)` over the rows
    that reads plane src of the (2, n, n) grid, writes plane dst and sums (new - old)^2 at
    every point, then a `single` that records and resets the residual."""
    n = g.shape[1]
    resid = 0.0
    last = 0.0
    with openmp("parallel"):
        for sweep in range(sweeps):
            src = sweep % 2
            dst = 1 - src
            with openmp("for reduction(+:resid)"):
                for i in range(1, n - 1):
                    for j in range(1, n - 1):
                        new = 0.25 * (g[src, i - 1, j] + g[src, i + 1, j]
                                      + g[src, i, j - 1] + g[src, i, j + 1])
                        d = new - g[src, i, j]
                        g[dst, i, j] = new
                        resid += d * d
            with openmp("single"):
                last = resid
                resid = 0.0
    return last


def _jacobi_resid_simd(g, sweeps):
    """The same with `simd reduction(+:resid)` on the inner loop (c/jacobi_resid.c simd)."""
    n = g.shape[1]
    resid = 0.0
    last = 0.0
    with openmp("parallel"):
        for sweep in range(sweeps):
            src = sweep % 2
            dst = 1 - src
            with openmp("for reduction(+:resid)"):
                for i in range(1, n - 1):
                    with openmp("simd reduction(+:resid)"):
                        for j in range(1, n - 1):
                            new = 0.25 * (g[src, i - 1, j] + g[src, i + 1, j]
                                          + g[src, i, j - 1] + g[src, i, j + 1])
                            d = new - g[src, i, j]
                            g[dst, i, j] = new
                            resid += d * d
            with openmp("single"):
                last = resid
                resid = 0.0
    return last


jacobi_resid = {"for": njit(_jacobi_resid), "simd": njit(_jacobi_resid_simd)}


@njit
def histogram_atomic(values, hist):
    with openmp("parallel for"):
        for i in range(values.size):
            with openmp("atomic"):
                hist[values[i] & 255] += 1
    return hist


@njit
def histogram_private(values, hist):
    with openmp("parallel"):
        mine = np.zeros(256, dtype=np.int64)
        with openmp("for"):
            for i in range(values.size):
                mine[values[i] & 255] += 1
        with openmp("critical"):
            for b in range(256):
                hist[b] += mine[b]
    return hist


# -- Tasks ---------------------------------------------------------------------------------
# Task-parallel kernels (fib, merge sort, a linked list) and the EPCC taskbench overheads;
# c/fib.c, c/mergesort.c, c/linkedlist.c and c/taskbench.c are the same in C.

FIB_CUTOFF = 20  # fib(n) for n < FIB_CUTOFF runs serially, without tasks


@njit
def fib_serial(n):
    if n < 2:
        return n
    return fib_serial(n - 1) + fib_serial(n - 2)


@njit
def fib_task(n):
    if n < FIB_CUTOFF:
        return fib_serial(n)
    x = 0
    y = 0
    with openmp("task shared(x)"):
        x = fib_task(n - 1)
    with openmp("task shared(y)"):
        y = fib_task(n - 2)
    with openmp("taskwait"):
        pass
    return x + y


@njit
def fib(n):
    r = 0
    with openmp("parallel shared(r)"):
        with openmp("single"):
            r = fib_task(n)
    return r


# Merge sort: halves sorted by two tasks down to SORT_CUTOFF elements, then the same serial
# merge sort (insertion sort below INSERTION_CUTOFF elements) in both languages; merges go
# through a temporary buffer of the array's size and are copied back.
SORT_CUTOFF = 8192
INSERTION_CUTOFF = 32


@njit
def _insertion_sort(a, lo, hi):
    for i in range(lo + 1, hi):
        v = a[i]
        j = i - 1
        while j >= lo and a[j] > v:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = v


@njit
def _merge(a, tmp, lo, mid, hi):
    """Merges the sorted a[lo:mid] and a[mid:hi] (stable) through tmp[lo:hi]."""
    i = lo
    j = mid
    k = lo
    while i < mid and j < hi:
        if a[j] < a[i]:
            tmp[k] = a[j]
            j += 1
        else:
            tmp[k] = a[i]
            i += 1
        k += 1
    while i < mid:
        tmp[k] = a[i]
        i += 1
        k += 1
    while j < hi:
        tmp[k] = a[j]
        j += 1
        k += 1
    for k in range(lo, hi):
        a[k] = tmp[k]


@njit
def _merge_sort_serial(a, tmp, lo, hi):
    if hi - lo <= INSERTION_CUTOFF:
        _insertion_sort(a, lo, hi)
        return
    mid = (lo + hi) >> 1
    _merge_sort_serial(a, tmp, lo, mid)
    _merge_sort_serial(a, tmp, mid, hi)
    _merge(a, tmp, lo, mid, hi)


@njit
def _merge_sort_task(a, tmp, lo, hi):
    if hi - lo <= SORT_CUTOFF:
        _merge_sort_serial(a, tmp, lo, hi)
        return
    mid = (lo + hi) >> 1
    with openmp("task"):
        _merge_sort_task(a, tmp, lo, mid)
    with openmp("task"):
        _merge_sort_task(a, tmp, mid, hi)
    with openmp("taskwait"):
        pass
    _merge(a, tmp, lo, mid, hi)


@njit
def merge_sort(a, tmp):
    """Sorts a (float64) in place; tmp: a buffer of the same size."""
    with openmp("parallel"):
        with openmp("single"):
            _merge_sort_task(a, tmp, 0, a.size)
    return a


def sort_keys(n):
    """n float64 keys in [0, 1): splitmix64 of the index (c/mergesort.c makes the same)."""
    z = np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


# Linked list: node p's successor is nxt[p] (-1 ends the list); one thread walks it and
# creates one task per node, which runs size[p] dependent additions into out[p].

@njit
def list_work(size):
    a = 0.0
    for i in range(size):
        a += i
    return a


@njit
def linked_list(head, nxt, size, out):
    with openmp("parallel"):
        with openmp("single"):
            p = head
            while p >= 0:
                with openmp("task firstprivate(p)"):
                    out[p] = list_work(size[p])
                p = nxt[p]
    return out


def make_list(n):
    """(head, nxt, size): the nodes linked in the order k * 7919 % n (n coprime to 7919),
    node i doing 64 + (i * 2654435761 % 1000003) % 4032 iterations; c/linkedlist.c builds
    the same list."""
    assert n % 7919 != 0
    order = np.arange(n, dtype=np.int64) * 7919 % n
    nxt = np.full(n, -1, dtype=np.int64)
    nxt[order[:-1]] = order[1:]
    size = 64 + (np.arange(n, dtype=np.int64) * 2654435761 % 1000003) % 4032
    return order[0], nxt, size


# -- EPCC taskbench ------------------------------------------------------------------------
# Each kernel: (reps, delay length, out) -> (microseconds per task, check count).  As in
# EPCC, every thread runs `reps` tasks (each the delay loop and a store to the thread's own
# cache line): the reference is `reps` delays without OpenMP and the difference is divided
# by `reps` (with one thread: the cost of one task; with k: of k tasks run side by side).
# The check count is the number of task bodies run.  c/taskbench.c is the same in C.

TREE_DEPTH = 5  # task tree: 2**(TREE_DEPTH + 1) - 1 = 63 tasks per tree


@njit
def _task_body(dl, out):
    delay(dl, out)
    out[omp_get_thread_num() * 16] += 1


@njit
def task_parallel(reps, dl, out):
    """Every thread creates `reps` tasks."""
    nt, t0 = begin(out)
    with openmp("parallel"):
        for _r in range(reps):
            with openmp("task"):
                _task_body(dl, out)
    return end(t0, reps, dl, out, nt)


@njit
def task_master(reps, dl, out):
    """The master thread creates threads x reps tasks."""
    nt, t0 = begin(out)
    with openmp("parallel"):
        with openmp("master"):
            for _r in range(reps * nt):
                with openmp("task"):
                    _task_body(dl, out)
    return end(t0, reps, dl, out, nt)


@njit
def task_conditional(reps, dl, out):
    """Every thread creates `reps` tasks with an if clause false at run time (undeferred)."""
    nt, t0 = begin(out)
    with openmp("parallel"):
        for _r in range(reps):
            with openmp("task if(dl < 0)"):
                _task_body(dl, out)
    return end(t0, reps, dl, out, nt)


@njit
def task_taskwait(reps, dl, out):
    """Every thread creates a task and waits for it, `reps` times."""
    nt, t0 = begin(out)
    with openmp("parallel"):
        for _r in range(reps):
            with openmp("task"):
                _task_body(dl, out)
            with openmp("taskwait"):
                pass
    return end(t0, reps, dl, out, nt)


@njit
def task_barrier(reps, dl, out):
    """Every thread creates a task, then a barrier (which completes the tasks), `reps`
    times."""
    nt, t0 = begin(out)
    with openmp("parallel"):
        for _r in range(reps):
            with openmp("task"):
                _task_body(dl, out)
            with openmp("barrier"):
                pass
    return end(t0, reps, dl, out, nt)


@njit
def _nested_inner(nt, dl, out):
    # A function of its own: a task nested directly in a task's body (same function) runs
    # its taskwait with the outer creator's thread id (see README), which libomp rejects.
    for _i in range(nt):
        with openmp("task untied"):
            _task_body(dl, out)
    with openmp("taskwait"):
        pass


@njit
def task_nested(reps, dl, out):
    """Every thread creates reps / threads tasks, each creating `threads` (untied) tasks and
    waiting for them."""
    nt = omp_get_max_threads()
    outer = reps // nt
    total = outer * nt
    per_thread_counts(out, nt)
    t0 = omp_get_wtime()
    with openmp("parallel"):
        for _r in range(outer):
            with openmp("task"):
                _nested_inner(nt, dl, out)
    t1 = omp_get_wtime()
    count = per_thread_counts(out, nt)
    return ((t1 - t0) - reference(total, dl, out)) / total * 1e6, count


@njit
def _tree(level, dl, out):
    """A binary tree of tasks below this one, `level` deep; each node's body is the delay."""
    if level > 0:
        with openmp("task"):
            _tree(level - 1, dl, out)
        with openmp("task"):
            _tree(level - 1, dl, out)
    _task_body(dl, out)
    with openmp("taskwait"):
        pass


@njit
def task_tree(reps, dl, out):
    """Every thread creates reps / 63 tasks, each the root of a task tree of 63 tasks."""
    nt = omp_get_max_threads()
    nodes = 2 ** (TREE_DEPTH + 1) - 1
    trees = reps // nodes
    total = trees * nodes
    per_thread_counts(out, nt)
    t0 = omp_get_wtime()
    with openmp("parallel"):
        for _r in range(trees):
            with openmp("task"):
                _tree(TREE_DEPTH, dl, out)
    t1 = omp_get_wtime()
    count = per_thread_counts(out, nt)
    return ((t1 - t0) - reference(total, dl, out)) / total * 1e6, count


taskbench = {"parallel": task_parallel, "master": task_master,
             "conditional": task_conditional, "taskwait": task_taskwait,
             "barrier": task_barrier, "nested": task_nested, "tree": task_tree}
