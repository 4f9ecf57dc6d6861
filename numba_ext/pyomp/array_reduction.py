"""Helpers for reductions over NumPy arrays, emitted by Numba for the Rust pass.

A `reduction(op: a)` on an array gives each thread a private array shaped like `a` and
filled with the operator's identity; at the end of the construct each thread combines its
array into `a` element by element (the pass serialises the combines). Creating and
combining arrays needs Numba's data model and NRT, so Numba compiles them here as two
functions per variable the pass calls:

    i32 @pyomp.redinit.<tag>(ptr %original, ptr %private)      ; private = full_like(a, id)
    i32 @pyomp.redcombine.<tag>(ptr %original, ptr %private)   ; a = a op private
"""

import operator

import numpy as np
from llvmlite import ir as llir
from numba.core import types

_COMBINE = {
    "+": operator.add, "-": operator.add, "*": operator.mul,
    "&": operator.and_, "|": operator.or_, "^": operator.xor,
    "max": max, "min": min,
}


def _identity(op, dtype):
    """The identity of `op` for elements of `dtype` (a NumPy dtype), or None."""
    if op in ("+", "-", "|", "^"):
        return 0
    if op == "*":
        return 1
    if op == "&":
        return -1 if np.issubdtype(dtype, np.integer) else None
    if op in ("max", "min"):
        if np.issubdtype(dtype, np.floating):
            return -np.inf if op == "max" else np.inf
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            return int(info.min if op == "max" else info.max)
    return None


def supports(ty, op):
    return (isinstance(ty, types.Array) and op in _COMBINE
            and _identity(op, np.dtype(str(ty.dtype))) is not None)


def _make_init(identity):
    def init(a):
        return np.full_like(a, identity)
    return init


def _make_combine(fn):
    def combine(dst, src):
        for idx in np.ndindex(dst.shape):
            dst[idx] = fn(dst[idx], src[idx])
        return 0
    return combine


def _make_section_init(identity):
    def init(a, lo, hi):
        p = a.copy()
        p[lo:hi] = identity
        return p
    return init


def _make_section_combine(fn):
    def combine(dst, src, lo, hi):
        d, s = dst[lo:hi], src[lo:hi]
        for idx in np.ndindex(d.shape):
            d[idx] = fn(d[idx], s[idx])
        return 0
    return combine


def compiled_helper(context, builder, ty, name, impl, sig, stores_result, section=False):
    """An internal `i32(ptr original, ptr private[, i64 lo, i64 hi])` function calling
    Numba-compiled impl."""
    module = builder.module
    ptr = context.get_value_type(ty).as_pointer()
    i64 = llir.IntType(64)
    params = [ptr, ptr] + ([i64, i64] if section else [])
    fn = llir.Function(module, llir.FunctionType(llir.IntType(32), params), name=name)
    fn.linkage = "internal"
    b = llir.IRBuilder(fn.append_basic_block("entry"))
    cres = context.compile_subroutine(b, impl, sig)
    original = b.load(fn.args[0])
    args = [original] if stores_result else [original, b.load(fn.args[1])]
    if section:
        args += [fn.args[2], fn.args[3]]
    status, result = context.call_internal_no_propagate(b, cres.fndesc, sig, args)
    if stores_result:
        b.store(result, fn.args[1])
    b.ret(status.code)
    return fn.name


def emit(context, builder, ty, op, tag, section=False):
    """Emit the init and combine helpers for `reduction(op: a)` with `a` of type `ty`;
    returns their names for the payload. With `section` (`reduction(op: a[lo:hi])`) they
    take lo and hi too: the private array is a copy of `a` whose section holds the
    identity, and only the section is combined (as in C, the region may only use the
    section's elements)."""
    identity = _identity(op, np.dtype(str(ty.dtype)))
    if section:
        i64 = types.int64
        init = compiled_helper(context, builder, ty, f"pyomp.redinit.{tag}",
                       _make_section_init(identity), ty(ty, i64, i64), stores_result=True,
                       section=True)
        combine = compiled_helper(context, builder, ty, f"pyomp.redcombine.{tag}",
                          _make_section_combine(_COMBINE[op]), types.intp(ty, ty, i64, i64),
                          stores_result=False, section=True)
        return {"red_init": init, "red_combine": combine}
    init = compiled_helper(context, builder, ty, f"pyomp.redinit.{tag}", _make_init(identity),
                   ty(ty), stores_result=True)
    combine = compiled_helper(context, builder, ty, f"pyomp.redcombine.{tag}",
                      _make_combine(_COMBINE[op]), types.intp(ty, ty), stores_result=False)
    return {"red_init": init, "red_combine": combine}
