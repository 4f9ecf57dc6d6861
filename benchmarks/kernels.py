"""The benchmark kernels in pyomp and in Numba prange (the C versions live in c/)."""

import numba
import numpy as np
from pyomp import (
    njit,
    omp_destroy_lock,
    omp_get_max_threads,
    omp_get_num_threads,
    omp_get_thread_num,
    omp_get_wtime,
    omp_init_lock,
    omp_set_lock,
    omp_unset_lock,
    openmp,
)


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


@njit
def pi_loop(n):
    step = 1.0 / n
    s = 0.0
    with openmp("parallel for reduction(+:s)"):
        for i in range(n):
            x = (i + 0.5) * step
            s += 4.0 / (1.0 + x * x)
    return step * s


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


# -- EPCC syncbench ------------------------------------------------------------------------
# Each kernel: (reps, delay length, out) -> (microseconds per construct, check count).  The
# threads of one parallel region execute the construct `reps` times around the EPCC delay
# loop; the reference is the same delays (and the same per-thread store) without OpenMP.
# critical, lock and atomic run `reps` times per thread, one at a time: the reference is
# threads * reps delays and the time is divided by that count.  c/syncbench.c is the same
# in C.  The parallel construct itself is `forkjoin` above.

@njit
def delay(n, out):
    """The EPCC delay: dependent floating-point additions (not reassociated, so neither
    folded nor vectorised), the result kept live by a test that never passes."""
    a = 0.0
    for i in range(n):
        a += i
    if a < 0.0:
        out[1] = 1


@njit
def _reference(total, dl, out):
    """`total` delays with the per-thread store, without OpenMP: seconds."""
    t0 = omp_get_wtime()
    for _r in range(total):
        delay(dl, out)
        out[omp_get_thread_num() * 16] += 1
    return omp_get_wtime() - t0


@njit
def _per_thread_counts(out, nt):
    """The per-thread stores' sum (then zeroed: the reference adds to thread 0's)."""
    count = 0
    for t in range(nt):
        count += out[t * 16]
        out[t * 16] = 0
    return count


@njit
def sync_for(reps, dl, out):
    nt = omp_get_max_threads()
    _per_thread_counts(out, nt)
    t0 = omp_get_wtime()
    with openmp("parallel"):
        for _r in range(reps):
            with openmp("for"):
                for _i in range(nt):
                    delay(dl, out)
                    out[omp_get_thread_num() * 16] += 1
    t1 = omp_get_wtime()
    count = _per_thread_counts(out, nt)
    return ((t1 - t0) - _reference(reps, dl, out)) / reps * 1e6, count


@njit
def sync_parallel_for(reps, dl, out):
    nt = omp_get_max_threads()
    _per_thread_counts(out, nt)
    t0 = omp_get_wtime()
    for _r in range(reps):
        with openmp("parallel for"):
            for _i in range(nt):
                delay(dl, out)
                out[omp_get_thread_num() * 16] += 1
    t1 = omp_get_wtime()
    count = _per_thread_counts(out, nt)
    return ((t1 - t0) - _reference(reps, dl, out)) / reps * 1e6, count


@njit
def sync_barrier(reps, dl, out):
    nt = omp_get_max_threads()
    _per_thread_counts(out, nt)
    t0 = omp_get_wtime()
    with openmp("parallel"):
        for _r in range(reps):
            delay(dl, out)
            out[omp_get_thread_num() * 16] += 1
            with openmp("barrier"):
                pass
    t1 = omp_get_wtime()
    count = _per_thread_counts(out, nt)
    return ((t1 - t0) - _reference(reps, dl, out)) / reps * 1e6, count


@njit
def sync_single(reps, dl, out):
    count = 0
    t0 = omp_get_wtime()
    with openmp("parallel shared(count)"):
        for _r in range(reps):
            with openmp("single"):
                delay(dl, out)
                count += 1
    t1 = omp_get_wtime()
    return ((t1 - t0) - _reference(reps, dl, out)) / reps * 1e6, count


@njit
def sync_critical(reps, dl, out):
    total = omp_get_max_threads() * reps
    count = 0
    t0 = omp_get_wtime()
    with openmp("parallel shared(count)"):
        for _r in range(reps):
            with openmp("critical"):
                delay(dl, out)
                count += 1
    t1 = omp_get_wtime()
    return ((t1 - t0) - _reference(total, dl, out)) / total * 1e6, count


@njit
def sync_lock(reps, dl, out):
    total = omp_get_max_threads() * reps
    count = 0
    lock = omp_init_lock()
    t0 = omp_get_wtime()
    with openmp("parallel shared(count)"):
        for _r in range(reps):
            omp_set_lock(lock)
            delay(dl, out)
            count += 1
            omp_unset_lock(lock)
    t1 = omp_get_wtime()
    omp_destroy_lock(lock)
    return ((t1 - t0) - _reference(total, dl, out)) / total * 1e6, count


@njit
def sync_atomic(reps, dl, out):
    """As EPCC: no delay; the reference is the same number of plain additions."""
    total = omp_get_max_threads() * reps
    count = 0
    t0 = omp_get_wtime()
    with openmp("parallel shared(count)"):
        for _r in range(reps):
            with openmp("atomic"):
                count += 1
    t1 = omp_get_wtime()
    for _r in range(total):
        out[0] += 1
    t2 = omp_get_wtime()
    return ((t1 - t0) - (t2 - t1)) / total * 1e6, count


@njit
def sync_reduction(reps, dl, out):
    count = 0
    t0 = omp_get_wtime()
    for _r in range(reps):
        with openmp("parallel reduction(+:count)"):
            delay(dl, out)
            count += 1
    t1 = omp_get_wtime()
    return ((t1 - t0) - _reference(reps, dl, out)) / reps * 1e6, count


syncbench = {"for": sync_for, "parallelfor": sync_parallel_for, "barrier": sync_barrier,
             "single": sync_single, "critical": sync_critical, "lock": sync_lock,
             "atomic": sync_atomic, "reduction": sync_reduction}
