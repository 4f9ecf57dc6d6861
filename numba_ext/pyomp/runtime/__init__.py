"""pyomp's OpenMP runtime: loads libomp at import, so the runtime is there before any compile or
cache load, and exposes the ``omp_*`` user API to Python and to Numba-compiled code."""

from .loader import RuntimeLibrary, info, load

load()  # raises OpenMPRuntimeNotFound (an ImportError) with a how-to-fix message

from . import api  # noqa: E402  (needs the library loaded)
from .api import *  # noqa: E402,F403

__all__ = ["RuntimeLibrary", "info", "load"]
__all__ += api.__all__
