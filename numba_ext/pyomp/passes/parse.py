"""Front-end pass 2: read each directive (a compile-time constant string), parse and check
it, and find the region of Numba IR blocks of its `with` statement, nested ones inside
their parents (pyomp.regions).
"""

import operator

from numba.core import ir
from numba.core.consts import ConstantInference
from numba.core.errors import ConstantInferenceError

from .. import regions
from ..errors import (
    NonconstantOpenmpSpecification,
    NonStringOpenmpSpecification,
    PyompError,
    UnsupportedConstructError,
    pyomp_says,
)
from ..located import construct_span, locate, locator
from ..profiling.sites import register_directive
from .find_withs import definition

#: Constructs the pipeline lowers.  The grammar knows the whole directive language; a
#: construct outside this set is rejected with an error naming it, never ignored.
SUPPORTED_CONSTRUCTS = frozenset({"parallel", "for", "parallel for", "simd", "for simd",
                                  "parallel for simd", "barrier", "master", "masked",
                                  "single", "critical", "sections", "section",
                                  "parallel sections", "atomic", "flush", "ordered",
                                  "cancel", "cancellation point", "threadprivate",
                                  "task", "taskwait", "taskgroup", "taskyield",
                                  "taskloop", "taskloop simd", "loop", "parallel loop",
                                  "parallel master", "parallel masked", "master taskloop",
                                  "master taskloop simd", "masked taskloop",
                                  "masked taskloop simd", "parallel master taskloop",
                                  "parallel master taskloop simd",
                                  "parallel masked taskloop",
                                  "parallel masked taskloop simd", "target",
                                  "target data", "target enter data", "target exit data",
                                  "target update", "target parallel", "target parallel for",
                                  "target parallel for simd", "target parallel loop",
                                  "target simd", "teams", "teams distribute",
                                  "teams distribute simd", "teams distribute parallel for",
                                  "teams distribute parallel for simd", "teams loop",
                                  "distribute", "distribute simd", "distribute parallel for",
                                  "distribute parallel for simd", "target teams",
                                  "target teams distribute", "target teams distribute simd",
                                  "target teams distribute parallel for",
                                  "target teams distribute parallel for simd",
                                  "target teams loop", "declare target"})


#: Task clauses not lowered yet (rejected with an error naming them, never ignored).
_TASK_UNSUPPORTED = frozenset({"affinity", "detach", "allocate"})


#: Clauses the grammar accepts on a supported construct but the pipeline does not lower
#: yet: rejected with an error naming them, never ignored.
UNSUPPORTED_CLAUSES = frozenset({"allocate"})



def run(state):
    """state.withs: a region per `with openmp`, in the order they were found, nested."""
    func_ir = state.func_ir
    by_head = {label: (stmt, call) for label, stmt, call in state.found}
    known = {}

    def region_at(label):
        """The region of the `with openmp` whose head is block `label` (memoised; nested
        regions are found first, from inside their parent's walk)."""
        if label not in by_head:
            return None
        if label not in known:
            stmt, call = by_head[label]
            text = directive_text(func_ir, stmt, call)
            directive = parse_directive(text, stmt.loc)
            register_directive(stmt.loc.filename, stmt.loc.line, text)  # pyomp.profile's names
            region = regions.find_region(func_ir, label, stmt, locator(stmt.loc, directive),
                                         region_at)
            region.directive, region.call = directive, call
            known[label] = region
        return known[label]

    state.withs = [region_at(label) for label, _, _ in state.found]
    regions.nest(state.withs)


def directive_text(func_ir, stmt, call):
    """The constant string given to openmp(...), or a PyOMP-compatible error."""
    loc = stmt.loc
    if not (isinstance(call, ir.Expr) and call.op == "call"):
        raise locate(PyompError("openmp must be called with a directive string: "
                                 "`with openmp(\"parallel\"):`"), loc)
    if len(call.args) != 1 or call.kws:
        raise locate(PyompError("openmp(...) takes exactly one argument, the directive "
                                 "string"), loc)
    value = _constant_value(func_ir, call.args[0])
    if isinstance(value, str):
        return value
    if value is not _NOT_CONSTANT:
        raise locate(NonStringOpenmpSpecification(
            f"the directive must be a string, not {type(value).__name__} ({value!r})"
            + pyomp_says(f"Non-string OpenMP specification at line {loc.line}")), loc)
    # PyOMP's words differ for an argument and for a value it could not follow
    words = "Non-constant" if isinstance(definition(func_ir, call.args[0]), ir.Arg) \
        else "Cannot infer constant"
    raise locate(NonconstantOpenmpSpecification(
        "the directive must be a constant string known at compile time (a literal, a "
        "constant, or an f-string or `+` over constants), not a value computed at run time"
        + pyomp_says(f"{words} OpenMP specification at line {loc.line}")), loc)


#: What _constant_value returns for a value not known at compile time.
_NOT_CONSTANT = object()


def _constant_value(func_ir, var):
    """The compile-time value of `var`: a constant, global or closure variable, or what
    Numba makes of an f-string (`str(...)` calls joined by `+`) or a `+` over such values;
    else Numba's own constant inference (a module's attribute); else _NOT_CONSTANT.
    A variable assigned twice (`s += "for"`) has no single definition: not constant."""
    defn = definition(func_ir, var)
    if isinstance(defn, (ir.Const, ir.Global, ir.FreeVar)):
        return defn.value
    if isinstance(defn, ir.Expr) and defn.op == "binop" and defn.fn is operator.add:
        lhs, rhs = (_constant_value(func_ir, v) for v in (defn.lhs, defn.rhs))
        if _NOT_CONSTANT in (lhs, rhs) or type(lhs) is not type(rhs):
            return _NOT_CONSTANT
        return lhs + rhs
    if isinstance(defn, ir.Expr) and defn.op == "call" and len(defn.args) == 1 \
            and not defn.kws and _constant_value(func_ir, defn.func) is str:
        value = _constant_value(func_ir, defn.args[0])
        # Numba reads f"{x}" as a call str(x): folded here with Python's own str
        return str(value) if isinstance(value, (str, int, float, bool)) else _NOT_CONSTANT
    try:
        # a fresh inference: func_ir's own caches values from before pyomp's rewrites
        return ConstantInference(func_ir).infer_constant(var.name)
    except ConstantInferenceError:
        return _NOT_CONSTANT


def parse_directive(text, loc):
    """Parses and checks one directive, raising a located error on any problem."""
    from ..directives import parse  # lark is imported on first use, not with pyomp
    try:
        directive = parse(text)
    except PyompError as err:
        raise locate(err, loc) from None
    if directive.construct not in SUPPORTED_CONSTRUCTS:
        raise locate(UnsupportedConstructError(
            f"OpenMP construct '{directive.construct}' is not implemented by this version "
            f"of pyomp", directive=text, span=construct_span(text)), loc)
    for clause in directive.clauses:
        if clause.name == "nogroup" and directive.has("reduction"):
            raise locate(PyompError(
                "a taskloop with a reduction waits for its tasks: it cannot be `nogroup`",
                directive=text, span=clause.span), loc)
        if clause.name in _TASK_UNSUPPORTED and directive.construct.startswith("task"):
            raise locate(UnsupportedConstructError(
                f"the '{clause.name}' clause of '{directive.construct}' is not implemented by "
                "this version of pyomp", directive=text, span=clause.span), loc)
        if clause.name == "reduction" and clause.modifier == "inscan":
            raise locate(UnsupportedConstructError(
                "`inscan` reductions go with the `scan` directive, which this version of "
                "pyomp does not implement", directive=text, span=clause.span), loc)
        if clause.name == "in_reduction" and directive.construct.startswith("target"):
            raise locate(UnsupportedConstructError(
                "the 'in_reduction' clause of a target construct is not implemented by this "
                "version of pyomp", directive=text, span=clause.span), loc)
        if clause.name == "if" and "teams" in directive.construct.split() and \
                clause.modifier in (None, "teams"):
            raise locate(UnsupportedConstructError(
                "the 'if' clause of 'teams' is not implemented by this version of pyomp",
                directive=text, span=clause.span), loc)
        if clause.name == "lastprivate" and clause.modifier == "conditional":
            raise locate(UnsupportedConstructError(
                "lastprivate(conditional: ...) is not implemented by this version of pyomp "
                "(plain lastprivate gives the value of the sequentially last iteration, not "
                "of the last one that assigned the variable)",
                directive=text, span=clause.span), loc)
        if clause.name in UNSUPPORTED_CLAUSES:
            raise locate(UnsupportedConstructError(
                f"the '{clause.name}' clause is not implemented by this version of pyomp",
                directive=text, span=clause.span), loc)
        doacross = (clause.name == "ordered" and clause.expr is not None) or \
            (clause.name == "depend" and directive.construct == "ordered")
        if doacross:
            raise locate(UnsupportedConstructError(
                "doacross loops (ordered(n) with `ordered depend(sink/source)`) are not "
                "implemented by this version of pyomp; the `ordered` clause without a "
                "number is implemented", directive=text, span=clause.span), loc)
    return directive
