"""The EPCC syncbench kernels in pyomp (c/syncbench.c is the same in C).

Each kernel: (reps, delay length, out) -> (microseconds per construct, check count).  The
threads of one parallel region execute the construct `reps` times around the EPCC delay
loop (`parallel`, `parallelfor` and `reduction`: `reps` regions, each around the delay);
the reference is the same delays (and the same per-thread store) without OpenMP.
critical, lock and atomic run `reps` times per thread, one at a time: the reference is
threads * reps delays and the time is divided by that count.

Two sets of the same kernels: `inline`, whose delay is a jitted function that LLVM inlines
into the region (as c/syncbench.c's `static inline` one), and `called`, whose delay is an
out-of-line function the region calls (a `cfunc`, called through its address: nothing can
inline it; C: `__attribute__((noinline))`), as EPCC's C code has.
"""

import numba
from numba import cfunc
from pyomp import (
    njit,
    omp_destroy_lock,
    omp_get_max_threads,
    omp_get_thread_num,
    omp_get_wtime,
    omp_init_lock,
    omp_set_lock,
    omp_unset_lock,
    openmp,
)


@njit
def delay(n, out):
    """The EPCC delay: dependent floating-point additions (not reassociated, so neither
    folded nor vectorised), the result kept live by a test that never passes."""
    a = 0.0
    for i in range(n):
        a += i
    if a < 0.0:
        out[1] = 1


@cfunc("float64(int64)")
def _delay_out_of_line(n):
    a = 0.0
    for i in range(n):
        a += i
    return a


_delay_address = _delay_out_of_line.ctypes  # called through a pointer: never inlined


@njit
def delay_called(n, out):
    """The EPCC delay as a call of an out-of-line function (the test as `delay`'s)."""
    if _delay_address(n) < 0.0:
        out[1] = 1


@njit
def per_thread_counts(out, nt):
    """The per-thread stores' sum (then zeroed: the reference adds to thread 0's)."""
    count = 0
    for t in range(nt):
        count += out[t * 16]
        out[t * 16] = 0
    return count


@njit
def begin(out):
    """The EPCC measurement's start: the per-thread counters cleared, the clock read."""
    nt = omp_get_max_threads()
    per_thread_counts(out, nt)
    return nt, omp_get_wtime()


def measures(delay):
    """(reference, end) for the kernels whose delay is `delay(dl, out)`."""

    @njit
    def reference(total, dl, out):
        """`total` delays with the per-thread store, without OpenMP: seconds."""
        t0 = omp_get_wtime()
        for _r in range(total):
            delay(dl, out)
            out[omp_get_thread_num() * 16] += 1
        return omp_get_wtime() - t0

    @njit
    def end(t0, reps, dl, out, nt):
        """(microseconds per construct, check count): the time since t0 minus the
        reference run's, per repetition."""
        t1 = omp_get_wtime()
        count = per_thread_counts(out, nt)
        return ((t1 - t0) - reference(reps, dl, out)) / reps * 1e6, count

    return reference, end


# Long on purpose: one closure per construct over the same delay, read side by side with
# c/syncbench.c.
def kernels(delay):
    """{construct: kernel} with `delay(dl, out)` as the delay."""
    reference, end = measures(delay)

    @njit
    def sync_parallel(reps, dl, out):
        nt, t0 = begin(out)
        for _r in range(reps):
            with openmp("parallel"):
                delay(dl, out)
                out[omp_get_thread_num() * 16] += 1
        return end(t0, reps, dl, out, nt)

    @njit
    def sync_for(reps, dl, out):
        nt, t0 = begin(out)
        with openmp("parallel"):
            for _r in range(reps):
                with openmp("for"):
                    for _i in range(nt):
                        delay(dl, out)
                        out[omp_get_thread_num() * 16] += 1
        return end(t0, reps, dl, out, nt)

    @njit
    def sync_parallel_for(reps, dl, out):
        nt, t0 = begin(out)
        for _r in range(reps):
            with openmp("parallel for"):
                for _i in range(nt):
                    delay(dl, out)
                    out[omp_get_thread_num() * 16] += 1
        return end(t0, reps, dl, out, nt)

    @njit
    def sync_barrier(reps, dl, out):
        nt, t0 = begin(out)
        with openmp("parallel"):
            for _r in range(reps):
                delay(dl, out)
                out[omp_get_thread_num() * 16] += 1
                with openmp("barrier"):
                    pass
        return end(t0, reps, dl, out, nt)

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
        return ((t1 - t0) - reference(reps, dl, out)) / reps * 1e6, count

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
        return ((t1 - t0) - reference(total, dl, out)) / total * 1e6, count

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
        return ((t1 - t0) - reference(total, dl, out)) / total * 1e6, count

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
        return ((t1 - t0) - reference(reps, dl, out)) / reps * 1e6, count

    return {"parallel": sync_parallel, "for": sync_for, "parallelfor": sync_parallel_for,
            "barrier": sync_barrier, "single": sync_single, "critical": sync_critical,
            "lock": sync_lock, "atomic": sync_atomic, "reduction": sync_reduction}


def prange_kernels(delay):
    """Numba's nearest: {construct: kernel} for `parallel` and `parallel for` (a prange of
    one iteration per thread) and `reduction` (the same prange with a `+` reduction)."""
    reference, end = measures(delay)

    @numba.njit(parallel=True)
    def prange_parallel_for(reps, dl, out):
        nt, t0 = begin(out)
        for _r in range(reps):
            for i in numba.prange(nt):
                delay(dl, out)
                out[i * 16] += 1
        return end(t0, reps, dl, out, nt)

    @numba.njit(parallel=True)
    def prange_reduction(reps, dl, out):
        nt = numba.get_num_threads()
        count = 0
        t0 = omp_get_wtime()
        for _r in range(reps):
            for _i in numba.prange(nt):
                delay(dl, out)
                count += 1
        t1 = omp_get_wtime()
        return ((t1 - t0) - reference(reps, dl, out)) / reps * 1e6, count

    return {"parallel": prange_parallel_for, "parallelfor": prange_parallel_for,
            "reduction": prange_reduction}


reference, end = measures(delay)  # the task benchmarks' (kernels.py)
inline = kernels(delay)
called = kernels(delay_called)
prange_inline = prange_kernels(delay)
prange_called = prange_kernels(delay_called)
