"""Shared by the test modules: compiling a function from source text (so error messages
can point at a known line and caret), Python threads that last, NRT allocation counts."""

import concurrent.futures
import contextlib
import linecache
import threading

import numpy as np
from numba.core.runtime import _nrt_python, rtsys
from pyomp import njit, omp_get_num_threads, omp_get_thread_num, openmp


def compile_source(src, prefix="test", **names):
    """pyomp.njit of the function `f` defined in `src` (registered with linecache, so
    errors show its lines); `names` are extra globals."""
    namespace = {"openmp": openmp, "np": np, "omp_get_thread_num": omp_get_thread_num,
                 "omp_get_num_threads": omp_get_num_threads, **names}
    filename = f"<{prefix}-{abs(hash(src))}>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    exec(compile(src, filename, "exec"), namespace)
    return njit(namespace["f"])


#: Python threads that call compiled code at once; see in_lasting_python_threads.
_POOL_SIZE = 4
_pool = []


def in_lasting_python_threads(target, count=_POOL_SIZE, timeout=120):
    """Runs target(k) for k in range(count) in as many Python threads at once; fails if
    one raises or hangs.

    The threads are made once and never end before the process: when a non-main thread
    that ran tasks ends, LLVM libomp (19 and 21, the same in C) frees task memory its
    former workers still hold, and a later task region crashes. pyomp's tasks avoid that
    (runtime.rs, pyomp_task_alloc_size) but `depend` nodes do not (README, "Python
    threads"); a test that let its threads end could crash a later test at random.
    test_stress.py::test_tasks_in_python_threads_that_come_and_go covers ending threads,
    in a process of its own."""
    assert count <= _POOL_SIZE
    if not _pool:
        _pool.append(concurrent.futures.ThreadPoolExecutor(_POOL_SIZE, "pyomp-tests"))
    start = threading.Barrier(count)

    def body(k):
        start.wait(timeout)
        target(k)

    jobs = [_pool[0].submit(body, k) for k in range(count)]
    _, hanging = concurrent.futures.wait(jobs, timeout)
    assert not hanging, "a Python thread hangs"
    for job in jobs:
        job.result()  # re-raises a thread's failure


@contextlib.contextmanager
def nrt_balanced():
    """Every NRT allocation (arrays, meminfos) made in the block is freed in it."""
    _nrt_python.memsys_enable_stats()
    before = rtsys.get_allocation_stats()
    yield
    after = rtsys.get_allocation_stats()
    allocs, frees = after.alloc - before.alloc, after.free - before.free
    assert allocs == frees, f"NRT allocations {allocs} != frees {frees}"
    mi_allocs, mi_frees = after.mi_alloc - before.mi_alloc, after.mi_free - before.mi_free
    assert mi_allocs == mi_frees, f"NRT meminfos {mi_allocs} != frees {mi_frees}"
