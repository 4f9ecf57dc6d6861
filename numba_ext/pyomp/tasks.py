"""Helpers for task dependences: the address of an array element, which the runtime
matches dependences on (`depend(inout: a[i])`)."""

from __future__ import annotations

from numba.core import cgutils, errors, types
from numba.core.extending import intrinsic
from numba.np.arrayobj import make_array


@intrinsic
def element_address(typingctx, arr, index):
    """The address of arr[index] as an integer (Numba's own indexing, negative indices
    wrap as in Python)."""
    if not (isinstance(arr, types.Array) and arr.ndim == 1
            and isinstance(index, types.Integer)):
        raise errors.TypingError("pyomp: a dependence on an array element needs a 1-d array "
                                 f"and an integer index, not {arr}[{index}]")

    def codegen(context, builder, sig, args):
        ary = make_array(arr)(context, builder, args[0])
        idx = context.cast(builder, args[1], index, types.intp)  # Numba indexes with intp
        ptr = cgutils.get_item_pointer(context, builder, arr, ary, [idx], wraparound=True)
        return builder.ptrtoint(ptr, context.get_value_type(types.intp))

    return types.intp(arr, index), codegen


@intrinsic
def wait_for_child_tasks(typingctx):
    """`taskwait` from plain code: a function whose tasks share its variables waits for
    them before those variables are released (see passes/place_markers._keep_task_shared_alive)."""

    def codegen(context, builder, sig, args):
        from llvmlite import ir as llir
        module = builder.module
        ptr = llir.IntType(8).as_pointer()
        i32 = llir.IntType(32)
        gtid_fn = cgutils.get_or_insert_function(
            module, llir.FunctionType(i32, [ptr]), "__kmpc_global_thread_num")
        wait_fn = cgutils.get_or_insert_function(
            module, llir.FunctionType(i32, [ptr, i32]), "__kmpc_omp_taskwait")
        null = llir.Constant(ptr, None)
        builder.call(wait_fn, [null, builder.call(gtid_fn, [null])])
        return context.get_dummy_value()

    return types.none(), codegen
