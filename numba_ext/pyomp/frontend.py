"""pyomp's front end: turns each `with openmp(...)` block of a function's Numba IR into a
region between marker calls that the Rust pass lowers.  It runs before Numba's
with-lifting, as a sequence of passes (pyomp.passes, one module each) over one shared
state; every problem is a located PyompError naming the file, line and token.
"""

# tasks' intrinsics are registered at import: one imported during a compilation is unknown to
# its typing context (NameError on the first compilation in a process)
from . import tasks  # noqa: F401
from .passes import (
    analyse,
    data_sharing,
    dels,
    devices,
    find_withs,
    nesting,
    parse,
    place_markers,
    replace_constructs,
    rewrite,
    split,
)
from .passes.state import FrontEnd

#: The passes of mark_regions, in order (pyomp.passes says what each does).
PASSES = (find_withs, parse, nesting, replace_constructs, split, devices, analyse,
          data_sharing, rewrite, place_markers)


def mark_regions(func_ir, accumulations=None):
    """Turns every `with openmp(...)` into a marked region; returns the regions (with their
    data-sharing decisions, for pyomp.explain). `accumulations`, a list, gets the
    reductions' update expressions (pyomp.accumulations.mark takes them after typing)."""
    state = FrontEnd(func_ir)
    for step in PASSES:
        step.run(state)
        if not state.found:
            return []
    if accumulations is not None:
        accumulations.extend(state.accumulations)
    return state.regions


def place_dels(func_ir):
    """The last pass, run just before lowering, once Numba has placed its `del`s."""
    dels.strip_shared_dels(func_ir)
