"""Reductions that vectorise: the statements that accumulate into a reduction variable
(`s += x`, `s = s + x`, `s = x + s`, `s -= x`, `s *= x`, `s = s + a + b`, in the
construct's body and in loops inside it) are compiled with LLVM's `reassoc` flag on
exactly those floating-point operations, so the loop vectoriser may keep a partial sum per
SIMD lane. OpenMP leaves the order in which a reduction's values are combined unspecified
(5.2's reduction clauses; under `simd` each lane keeps a private copy);
`PYOMP_REDUCTION_ORDER=strict`, read when a function is compiled, keeps every
accumulation in source order instead.

`find` (front-end pass 4) picks the statements out of the Numba IR; `mark` (after type
inference, just before lowering) gives those whose result is a real float the operators
below, whose lowering emits `fadd/fsub/fmul reassoc`. Integer and complex reductions, and
everything else in the body (called functions included), keep Numba's code.
"""

from __future__ import annotations

import operator
import os

from numba.core import ir, types
from numba.core.imputils import lower_builtin
from numba.core.typing.templates import AbstractTemplate, infer_global, signature

from .errors import PyompError

#: The environment variable that chooses; its values (the first is the default).
ORDER_VAR = "PYOMP_REDUCTION_ORDER"
ORDERS = ("relaxed", "strict")

_ADDITIVE = (operator.add, operator.sub)
#: Reduction identifier -> the operators whose updates of the variable are accumulations.
_FAMILIES = {"+": _ADDITIVE, "-": _ADDITIVE, "*": (operator.mul,)}
_COMMUTATIVE = (operator.add, operator.mul)
#: Constructs whose body gives a variable a new data environment of its own (a variable of
#: the enclosing reduction updated there is another copy).
_NEW_ENVIRONMENT = ("parallel", "task", "taskloop", "teams", "target")
#: Clauses that give a listed variable a copy of its own in a nested construct.
_OWN_COPY = ("private", "firstprivate", "lastprivate", "linear", "reduction",
             "in_reduction")


def reassoc_add(a, b):
    """a + b; compiled, a reassociable `fadd` (a reduction's accumulation)."""
    return a + b


def reassoc_sub(a, b):
    """a - b; compiled, a reassociable `fsub`."""
    return a - b


def reassoc_mul(a, b):
    """a * b; compiled, a reassociable `fmul`."""
    return a * b


_REASSOC = {operator.add: reassoc_add, operator.sub: reassoc_sub, operator.mul: reassoc_mul}


_REAL = (types.Float, types.Integer, types.Boolean)


def _real_float_signature(context, fn, args):
    """Numba's signature of fn(*args) when the operands are real and the result a float
    (the accumulations this module marks), else None."""
    sig = context.resolve_function_type(fn, tuple(args), {})
    if sig is None or not isinstance(sig.return_type, types.Float) \
            or not all(isinstance(t, _REAL) for t in sig.args):
        return None
    return signature(sig.return_type, *sig.args)


def _typing(fn, reassoc):
    class Reassoc(AbstractTemplate):
        key = reassoc

        def generic(self, args, kws):
            if not kws:
                return _real_float_signature(self.context, fn, args)

    infer_global(reassoc)(Reassoc)


def _lower(instruction):
    def impl(context, builder, sig, args):
        a, b = (context.cast(builder, v, t, sig.return_type) for v, t in zip(args, sig.args))
        return getattr(builder, instruction)(a, b, flags=("reassoc",))
    return impl


for _fn, _instruction in ((operator.add, "fadd"), (operator.sub, "fsub"),
                          (operator.mul, "fmul")):
    _typing(_fn, _REASSOC[_fn])
    lower_builtin(_REASSOC[_fn], types.Any, types.Any)(_lower(_instruction))


def strict():
    """Whether PYOMP_REDUCTION_ORDER asks for accumulations in source order."""
    order = os.environ.get(ORDER_VAR) or ORDERS[0]
    if order not in ORDERS:
        raise PyompError(f"{ORDER_VAR}={order!r}: expected one of {', '.join(ORDERS)}")
    return order == "strict"


def find(func_ir, withs):
    """The binop / inplace_binop expressions of `func_ir` that accumulate into a variable
    of a `reduction` or `in_reduction` clause of one of the regions `withs` (a region's own
    blocks and those of nested constructs that keep the variable); [] when strict."""
    if strict():
        return []
    found = {}
    for region in withs:
        for name, fns in _reduced(region.directive):
            for label in sorted(_blocks_keeping(region, name)):
                for expr in _updates(func_ir.blocks[label], name, fns):
                    found[id(expr)] = expr
    return list(found.values())


def _reduced(directive):
    """(variable, operators) for each scalar variable the directive reduces with + - *."""
    for clause in directive.clauses_named("reduction") + directive.clauses_named(
            "in_reduction"):
        fns = _FAMILIES.get(clause.op)
        if fns is None or "inscan" in clause.modifiers:
            continue
        for var in clause.vars:
            if var.section is None:
                yield var.name, fns


def _blocks_keeping(region, name):
    """The region's blocks less those of nested constructs where `name` is another copy."""
    blocks = set(region.blocks)
    stack = list(region.children)
    while stack:
        child = stack.pop()
        d = child.directive
        if any(part in _NEW_ENVIRONMENT for part in d.construct.split()) or any(
                v.name == name for c in d.clauses if c.name in _OWN_COPY for v in c.vars):
            blocks -= child.blocks
        else:
            stack.extend(child.children)
    return blocks


def _updates(block, name, fns):
    """The expressions of `name = <expr>` statements in `block` on the path from `name`
    to its new value through operators of `fns` (temporaries only: `s = s + a * b` marks
    the +, not the *)."""
    temps = {}
    for stmt in block.body:
        if not isinstance(stmt, ir.Assign):
            continue
        value, target = stmt.value, stmt.target.name
        is_binop = isinstance(value, ir.Expr) and value.op in ("binop", "inplace_binop")
        if target == name:
            # `s = $t` after `$t = s + x`, or (as Numba also reads it) `s = s + x` at once
            yield from _path(temps, temps.get(value.name) if isinstance(value, ir.Var)
                             else value if is_binop else None, name, fns)
        elif is_binop and target.startswith("$"):
            temps[target] = value


def _path(temps, expr, name, fns):
    """The operators of `expr` and the temporaries under it that lead from `name` to its
    value, innermost first ([] if none)."""
    if expr is None or _base_fn(expr) not in fns:
        return []
    fn = _base_fn(expr)
    operands = [expr.lhs, expr.rhs] if fn in _COMMUTATIVE else [expr.lhs]
    for operand in operands:
        if operand.name == name:
            return [expr]
        inner = _path(temps, temps.get(operand.name), name, fns)
        if inner:
            return inner + [expr]
    return []


def _base_fn(expr):
    return expr.immutable_fn if expr.op == "inplace_binop" else expr.fn


def mark(exprs, calltypes):
    """After type inference: each accumulation whose operands are real numbers and whose
    result is a float lowers to its reassociable operator (complex and integer ones keep
    Numba's)."""
    for expr in exprs:
        sig = calltypes.get(expr)
        fn = _base_fn(expr)
        if sig is None or not isinstance(sig.return_type, types.Float) \
                or not all(isinstance(t, _REAL) for t in sig.args):
            continue
        if expr.op == "inplace_binop":  # (Numba lowers `+=` on a float as its `+`)
            expr.immutable_fn = _REASSOC[fn]
        expr.fn = _REASSOC[fn]
