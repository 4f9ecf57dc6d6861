"""pyomp: OpenMP directives in Numba-compiled Python, lowered by an LLVM pass written in Rust.

    from pyomp import njit, openmp

    @njit
    def pi(n):
        ...
        with openmp("parallel for reduction(+:s)"):
            ...

Importing pyomp loads the OpenMP runtime (LLVM libomp; PYOMP_OPENMP_LIB overrides the
path) so that compiled and cached code finds it; the Rust pass itself loads on first
compile.
"""

from . import errors
from . import offloading as offloading
from . import profiling as profiling
from . import runtime as runtime  # loads the OpenMP runtime before anything is compiled
from .context import openmp, openmp_context
from .decorators import jit, njit
from .errors import (
                     ClauseNotAllowedError,
                     DirectiveSyntaxError,
                     MultipleNumThreadsClauses,
                     NonconstantOpenmpSpecification,
                     NonStringOpenmpSpecification,
                     ParallelForExtraCode,
                     ParallelForInvalidCollapseCount,
                     ParallelForWrongLoopCount,
                     PassError,
                     PyompError,
                     PyompWarning,
                     RaceWarning,
                     UnspecifiedVarInDefaultNone,
                     UnsupportedConstructError,
)
from .explain import explain
from .pipeline import OpenMPCompiler
from .profiling import Profile, profile
from .profiling.environment import start_from_environment as _start_profile_from_environment
from .runtime.api import *  # noqa: F403  (the omp_* user API)
from .runtime.api import __all__ as _runtime_all

__version__ = "0.1.0"

__all__ = [
    "njit", "jit", "openmp", "explain", "openmp_context", "OpenMPCompiler", "errors", "PyompError",
    "UnspecifiedVarInDefaultNone", "NonconstantOpenmpSpecification",
    "NonStringOpenmpSpecification", "ParallelForExtraCode", "ParallelForWrongLoopCount",
    "ParallelForInvalidCollapseCount", "MultipleNumThreadsClauses", "PyompWarning",
    "RaceWarning", "DirectiveSyntaxError", "ClauseNotAllowedError",
    "UnsupportedConstructError", "PassError", "profile", "Profile",
] + list(_runtime_all)

_start_profile_from_environment()  # PYOMP_PROFILE=out.json
