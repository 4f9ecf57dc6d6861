"""Shared by the test modules: compiling a function from source text, so error messages
can point at a known line and caret."""

import linecache

import numpy as np
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
