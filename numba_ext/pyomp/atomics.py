"""`atomic` updates of array elements as hardware atomics.

`with openmp("atomic"): a[i] += v` (also `-= &= |= ^=` and `a[i] = a[i] op v`) becomes one
LLVM `atomicrmw` on the element: the front end replaces the statement with a call to
`atomic_update`, whose code Numba emits with the array's own addressing. Other atomic
statements (scalars, other operators) keep the generic lowering (a lock all atomics share).
"""

from __future__ import annotations

import operator

from numba.core import cgutils, errors, ir, types
from numba.core.extending import intrinsic
from numba.np.arrayobj import make_array

# name (passed to the intrinsic as a literal) -> (operators, atomicrmw op for integers,
# for floats or None)
_OPS = {
    "add": ((operator.iadd, operator.add), "add", "fadd"),
    "sub": ((operator.isub, operator.sub), "sub", "fsub"),
    "and": ((operator.iand, operator.and_), "and", None),
    "or": ((operator.ior, operator.or_), "or", None),
    "xor": ((operator.ixor, operator.xor), "xor", None),
}
_NAME_OF = {fn: name for name, (fns, _, _) in _OPS.items() for fn in fns}


@intrinsic(prefer_literal=True)
def atomic_update(typingctx, op, arr, index, value):
    """arr[index] = arr[index] op value, as one atomic read-modify-write."""
    if not (isinstance(op, types.StringLiteral) and isinstance(arr, types.Array)
            and arr.ndim == 1 and isinstance(index, types.Integer)
            and isinstance(value, (types.Integer, types.Float, types.Boolean))
            and isinstance(arr.dtype, (types.Integer, types.Float))):
        raise errors.TypingError("atomic_update: unsupported operands")
    _, int_op, float_op = _OPS[op.literal_value]
    rmw = float_op if isinstance(arr.dtype, types.Float) else int_op
    if rmw is None:
        raise errors.TypingError("atomic_update: no hardware atomic for this operator")

    def codegen(context, builder, sig, args):
        _, ary_val, idx, val = args
        ary = make_array(arr)(context, builder, ary_val)
        ptr = cgutils.get_item_pointer(context, builder, arr, ary, [idx], wraparound=True)
        val = context.cast(builder, val, value, arr.dtype)
        builder.atomic_rmw(rmw, ptr, val, "monotonic")
        return context.get_dummy_value()

    return types.none(op, arr, index, value), codegen


def _definition(defs, var):
    return defs.get(var.name)


def try_rewrite(func_ir, region):
    """If the atomic region's block is one array-element update, replace it by an
    `atomic_update` call and return True (the region then needs no lowering)."""
    blocks = [func_ir.blocks[label] for label in region.blocks]
    stores = [(b, s) for b in blocks for s in b.body
              if isinstance(s, (ir.SetItem, ir.StaticSetItem))]
    if len(stores) != 1:
        return False
    block, store = stores[0]
    defs = {s.target.name: s.value for b in blocks for s in b.body if isinstance(s, ir.Assign)}
    new = _definition(defs, store.value)
    if not (isinstance(new, ir.Expr) and new.op in ("inplace_binop", "binop")
            and new.fn in _NAME_OF):
        return False
    old = _definition(defs, new.lhs)
    index = store.index_var if isinstance(store, ir.StaticSetItem) else store.index
    if index is None or not isinstance(old, ir.Expr) or old.value.name != store.target.name:
        return False
    if old.op == "getitem":
        same_index = old.index.name == index.name
    elif old.op == "static_getitem":
        same_index = isinstance(store, ir.StaticSetItem) and old.index == store.index
    else:
        return False
    if not same_index:
        return False
    loc, scope = store.loc, block.scope
    fn_var = ir.Var(scope, scope.redefine("$pyomp_atomic_fn", loc).name, loc)
    op_var = ir.Var(scope, scope.redefine("$pyomp_atomic_op", loc).name, loc)
    out = ir.Var(scope, scope.redefine("$pyomp_atomic", loc).name, loc)
    call = ir.Expr.call(fn_var, [op_var, store.target, index, new.rhs], (), loc)
    position = block.body.index(store)
    block.body[position:position + 1] = [
        ir.Assign(ir.Global("atomic_update", atomic_update, loc), fn_var, loc),
        ir.Assign(ir.Const(_NAME_OF[new.fn], loc), op_var, loc),
        ir.Assign(call, out, loc),
    ]
    return True
