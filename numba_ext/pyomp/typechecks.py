"""Checks that need Numba's types (run right after type inference): a worksharing loop
counts over integers, a reduction's operator exists for its variable's type, and a count
clause (num_threads, a schedule's chunk, ...) names an integer.

Each problem is a located PyompError with a caret in the directive, raised before the
function is lowered (the Rust pass checks reductions again, as a backstop).
"""

from numba.core import types

from . import array_reduction
from .errors import ParallelForWrongLoopCount, PyompError, source_line_of
from .located import construct_span

#: The reduction operators the pass implements per scalar type (pass-plugin/src/reduction.rs).
SCALAR_OPS = {
    "integers": ("+", "-", "*", "&", "|", "^", "&&", "||", "max", "min"),
    "booleans": ("&", "|", "^", "&&", "||"),
    "floats": ("+", "-", "*", "max", "min"),
    "complex numbers": ("+", "-", "*"),
}
_ALL_OPS = SCALAR_OPS["integers"]
_REDUCTION_CLAUSES = ("reduction", "in_reduction", "task_reduction")


def _array_supports(ty, op):
    """Element-wise reductions (array_reduction.py); bitwise ones on integer elements."""
    return array_reduction.supports(ty, op) and \
        (op not in ("&", "|", "^") or _kind(ty.dtype) in ("integers", "booleans"))


def _kind(ty):
    if isinstance(ty, types.Boolean):
        return "booleans"
    if isinstance(ty, types.Integer):
        return "integers"
    if isinstance(ty, types.Float):
        return "floats"
    if isinstance(ty, types.Complex):
        return "complex numbers"
    return None


def _located(err, region):
    loc = region.loc
    return err.at(filename=loc.filename, line=loc.line, source_line=source_line_of(loc))


#: Clauses whose expression is a count or a number of the runtime (the chunk of the
#: schedules): an integer (a bool converts); a float there is a mistake.
_INTEGER_CLAUSES = ("num_threads", "num_teams", "thread_limit", "grainsize", "num_tasks",
                    "priority", "schedule", "dist_schedule", "device")


def check(regions, typemap):
    """Raise the first type problem of the function's regions (pyomp.frontend's)."""
    for region in regions:
        _check_loop_bounds(region, typemap)
        _check_reductions(region, typemap)
        _check_integer_clauses(region, typemap)


def _check_integer_clauses(region, typemap):
    """`num_threads(x)` with a float `x` (and the other count clauses): located at the
    clause, in Numba's words (the Rust pass would say it of the `with`, in LLVM's).
    Only a plain variable is checked here; other expressions are left to the pass."""
    d = region.directive
    for clause in d.clauses:
        if clause.name not in _INTEGER_CLAUSES or clause.expr is None:
            continue
        name = clause.expr.base_name()
        ty = typemap.get(name) if name == clause.expr.text.strip() else None
        if ty is None or isinstance(ty, (types.Integer, types.Boolean)):
            continue
        what = "chunk size" if clause.name.endswith("schedule") else "value"
        raise _located(PyompError(
            f"the {what} of {clause.name}(...) must be an integer, but '{name}' has type "
            f"{ty} (convert it with int(...))", directive=d.text, span=clause.span), region)


def _check_loop_bounds(region, typemap):
    d = region.directive
    for var, args, line in getattr(region, "range_args", ()):
        names = (("stop",) if len(args) == 1 else ("start", "stop", "step"))[:len(args)]
        for what, name in zip(names, args):
            ty = typemap.get(name)
            if ty is None or isinstance(ty, (types.Integer, types.Boolean)):
                continue
            raise _located(ParallelForWrongLoopCount(
                f"the loop of a worksharing construct must count with integers, but the "
                f"{what} of range(...) in the loop over '{var}' (line {line}) has type "
                f"{ty}: OpenMP loops run over integer ranges (convert it with int(...))",
                directive=d.text, span=construct_span(d.text)), region)


def _check_reductions(region, typemap):
    d = region.directive
    for clause in d.clauses:
        if clause.name not in _REDUCTION_CLAUSES:
            continue
        op = clause.op
        for var in clause.vars:
            ty = typemap.get(var.name)
            if ty is None:
                continue
            if isinstance(ty, types.Array):
                ok = [o for o in _ALL_OPS if _array_supports(ty, o)]
                if op in ok:
                    continue
                expected = (f"arrays of {ty.dtype} reduce element by element with "
                            + ", ".join(ok) if ok else
                            "arrays reduce element by element if their elements are "
                            "integers or floats")
            else:
                kind = _kind(ty)
                if kind is not None and op in SCALAR_OPS[kind]:
                    continue
                expected = (f"{kind} reduce with " + ", ".join(SCALAR_OPS[kind])
                            if kind is not None else
                            "reductions work on integers, floats, complex numbers, "
                            "booleans and NumPy arrays of numbers")
            raise _located(PyompError(
                f"{clause.name}({op}: {var.name}) is not supported for a variable of type "
                f"{ty}: {expected}", directive=d.text, span=var.span), region)
