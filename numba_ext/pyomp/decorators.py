"""`pyomp.njit` and `pyomp.jit`: Numba's decorators with pyomp's compiler pipeline."""

import numba

from .pipeline import OpenMPCompiler


def _with_pipeline(kws):
    if "pipeline_class" in kws and kws["pipeline_class"] is not OpenMPCompiler:
        raise TypeError("pyomp.njit sets pipeline_class itself; use numba.njit to choose "
                        "another pipeline")
    kws["pipeline_class"] = OpenMPCompiler
    return kws


def njit(*args, **kws):
    """Like numba.njit (same options: cache, fastmath, boundscheck, nogil, signatures...),
    compiling `with openmp(...)` blocks into OpenMP regions."""
    return numba.njit(*args, **_with_pipeline(kws))


def jit(*args, **kws):
    """Like numba.jit, compiling `with openmp(...)` blocks into OpenMP regions."""
    return numba.jit(*args, **_with_pipeline(kws))
