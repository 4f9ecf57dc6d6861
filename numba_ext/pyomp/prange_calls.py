"""prange functions called from a region run on the calling thread, as a nested `parallel`
does in OpenMP with nested parallelism off.

A team whose threads each launch a Numba `parallel=True` function would start one launch
per thread on Numba's threading layer: with `workqueue` (Numba's fallback when neither TBB
nor GNU libgomp loads) that aborts the process ("Concurrent access has been detected"), and
with the others it oversubscribes the machine (team size x Numba's threads). So a call of a
`parallel=True` dispatcher that a region's body names directly calls a serial compilation of
the same function instead (same options otherwise; the same results: Numba's prange
reductions are exact in any split). Calls made through other functions are not seen here;
they need a threading layer that allows concurrent launches (README).
"""

from numba.core import ir
from numba.core.registry import CPUDispatcher

_serial = {}  # id(parallel dispatcher) -> (dispatcher, its serial twin)


def serial_twin(dispatcher):
    """The dispatcher compiled without `parallel` (memoised per dispatcher)."""
    known = _serial.get(id(dispatcher))
    if known is not None and known[0] is dispatcher:
        return known[1]
    import numba

    # (not `cache`: the twin would share the original's cache files; `nopython` is what
    # njit means)
    options = {k: v for k, v in dispatcher.targetoptions.items()
               if k not in ("parallel", "cache", "nopython")}
    twin = numba.njit(**options)(dispatcher.py_func)
    _serial[id(dispatcher)] = (dispatcher, twin)
    return twin


def _is_parallel(value):
    return isinstance(value, CPUDispatcher) and bool(value.targetoptions.get("parallel"))


def serialise_prange_calls(func_ir, labels):
    """Points the globals and closure variables in blocks `labels` that name a
    `parallel=True` dispatcher at its serial twin."""
    for label in labels:
        for stmt in func_ir.blocks[label].body:
            if isinstance(stmt, ir.Assign) and isinstance(stmt.value, (ir.Global, ir.FreeVar)) \
                    and _is_parallel(stmt.value.value):
                old = stmt.value
                twin = serial_twin(old.value)
                stmt.value = (ir.Global(old.name, twin, old.loc) if isinstance(old, ir.Global)
                              else ir.FreeVar(old.index, old.name, twin, old.loc))
