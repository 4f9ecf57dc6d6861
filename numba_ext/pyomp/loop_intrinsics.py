"""The calls a rewritten worksharing loop makes (pyomp.loops): markers typed as Numba
intrinsics that lower to calls of `pyomp.loop.*` functions, which the Rust pass replaces
with `__kmpc_for_static_*` / `__kmpc_dispatch_*` calls (pass-plugin lower/).
"""

from __future__ import annotations

from llvmlite import ir as llir
from numba.core import cgutils, errors, types
from numba.core.extending import intrinsic

INIT, NEXT, FINI = "pyomp.loop.init", "pyomp.loop.next", "pyomp.loop.fini"
SKIP, ITERATION_END = "pyomp.loop.skip", "pyomp.loop.iteration_end"
LAST_OWNER = "pyomp.loop.last_owner"


def _declare(builder, name, ret, args):
    fnty = llir.FunctionType(ret, args)
    return cgutils.get_or_insert_function(builder.module, fnty, name)


def _check_literal(region_id):
    if not isinstance(region_id, types.IntegerLiteral):
        raise errors.TypingError("pyomp loop marker needs a literal region id")


def _id_and_value(name, doc):
    """An intrinsic `f(region_id, value)` lowering to the marker call `name(id, value)`
    (value as an int64)."""
    def typing(typingctx, region_id, value):
        _check_literal(region_id)

        def codegen(context, builder, signature, args):
            i64 = llir.IntType(64)
            v64 = context.cast(builder, args[1], signature.args[1], types.int64)
            fn = _declare(builder, name, llir.VoidType(), [i64, i64])
            builder.call(fn, [i64(region_id.literal_value), v64])
            return context.get_dummy_value()

        return types.none(region_id, value), codegen

    typing.__doc__ = doc
    return intrinsic(prefer_literal=True)(typing)


loop_init = _id_and_value(INIT, "Starts the worksharing loop of region `region_id` over "
                          "n iterations.")
#: A loop of a composite `distribute parallel for`: whether this team holds the loop's last
#: iteration (lastprivate copies out only where it does).
loop_last_owner = _id_and_value(LAST_OWNER, "Whether this team holds the loop's last "
                                "iteration (a composite distribute's lastprivate).")


NEXT_TYPE = types.Tuple((types.boolean, types.int64, types.int64))


@intrinsic(prefer_literal=True)
def loop_next(typingctx, region_id):
    """(more, lo, hi): this thread's next chunk [lo, hi) of iteration numbers."""
    _check_literal(region_id)

    def codegen(context, builder, signature, args):
        i64 = llir.IntType(64)
        ret = context.get_value_type(NEXT_TYPE)
        fn = _declare(builder, NEXT, ret, [i64])
        return builder.call(fn, [i64(region_id.literal_value)])

    return NEXT_TYPE(region_id), codegen


@intrinsic(prefer_literal=True)
def loop_fini(typingctx, region_id):
    """Ends this thread's part of the loop."""
    _check_literal(region_id)

    def codegen(context, builder, signature, args):
        i64 = llir.IntType(64)
        fn = _declare(builder, FINI, llir.VoidType(), [i64])
        builder.call(fn, [i64(region_id.literal_value)])
        return context.get_dummy_value()

    return types.none(region_id), codegen


@intrinsic(prefer_literal=True)
def loop_skip(typingctx, region_id, lo, k):
    """Whether this thread skips the iteration's body (an `ordered` loop after the thread
    raised: it still passes each of its iterations' turn on). Its iteration number is
    lo + k (the pass records it for the iteration's `ordered` block)."""
    _check_literal(region_id)

    def codegen(context, builder, signature, args):
        i64 = llir.IntType(64)
        lo64 = context.cast(builder, args[1], signature.args[1], types.int64)
        k64 = context.cast(builder, args[2], signature.args[2], types.int64)
        fn = _declare(builder, SKIP, llir.IntType(1), [i64, i64, i64])
        return builder.call(fn, [i64(region_id.literal_value), lo64, k64])

    return types.boolean(region_id, lo, k), codegen


@intrinsic(prefer_literal=True)
def loop_iteration_end(typingctx, region_id):
    """The end of one iteration of an `ordered` loop."""
    _check_literal(region_id)

    def codegen(context, builder, signature, args):
        i64 = llir.IntType(64)
        fn = _declare(builder, ITERATION_END, llir.VoidType(), [i64])
        builder.call(fn, [i64(region_id.literal_value)])
        return context.get_dummy_value()

    return types.none(region_id), codegen


SIMD = "pyomp.simd.loop"


@intrinsic
def simd_loop(typingctx):
    """Marks the loop it stands in as a `simd` loop (pyomp.simd): the Rust pass gives the
    innermost loop around the call `llvm.loop.vectorize.enable` and removes the call."""

    def codegen(context, builder, signature, args):
        builder.call(_declare(builder, SIMD, llir.VoidType(), []), [])
        return context.get_dummy_value()

    return types.none(), codegen
