"""`atomic` as hardware atomics: updates of array elements, and every form (update, read,
write, capture) on scalar variables.

`with openmp("atomic"): a[i] += v` (also `-= &= |= ^=` and `a[i] = a[i] op v`) becomes one
LLVM `atomicrmw` on the element: the front end replaces the statement with a call to
`atomic_update`, whose code Numba emits with the array's own addressing. Scalars: see
below. Other atomic statements (other operators, shapes) keep the generic lowering (a lock
all atomics share).
"""

from __future__ import annotations

import operator

from llvmlite import ir as llir
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
        idx = context.cast(builder, idx, index, types.intp)
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
    if index is None or not isinstance(old, ir.Expr) \
            or old.op not in ("getitem", "static_getitem") \
            or old.value.name != store.target.name:
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


# --- scalar variables ------------------------------------------------------------------
#
# `with openmp("atomic"): x += e` on a variable x (and the read, write and capture forms)
# becomes `$pair = atomic_scalar("<kind>.<op>.<order>", x, e)`, (old, new) in x's type.
# Numba IR cannot take x's address, so the call's codegen emits a marker the Rust pass
# (pass-plugin/src/lower/atomic.rs) turns into the atomic instruction on x's alloca, found
# behind the load that passes x. The rewrite happens after the data-sharing decisions,
# which therefore still see x assigned in the region.

_SCALAR_OPS = {
    operator.iadd: "add", operator.add: "add", operator.isub: "sub", operator.sub: "sub",
    operator.imul: "mul", operator.mul: "mul", operator.iand: "and", operator.and_: "and",
    operator.ior: "or", operator.or_: "or", operator.ixor: "xor", operator.xor: "xor",
}
_COMMUTATIVE = {"add", "mul", "and", "or", "xor"}
_ORDERS = ("seq_cst", "acq_rel", "acquire", "release", "relaxed")


@intrinsic(prefer_literal=True)
def atomic_scalar(typingctx, form, x, value):
    """(old, new) of one atomic operation on variable x (see the comment above)."""
    if not isinstance(form, types.StringLiteral):
        raise errors.TypingError("atomic_scalar needs a literal form")
    if not isinstance(x, (types.Integer, types.Float)):
        raise errors.TypingError(
            f"pyomp: `atomic` works on integer and float variables (and array elements); "
            f"this variable is {x}. Use `critical` instead")
    if not isinstance(value, (types.Integer, types.Float, types.Boolean)):
        raise errors.TypingError(f"pyomp: `atomic` cannot combine a {x} with a {value}")
    kind, op, order = form.literal_value.split(".")
    if op in ("and", "or", "xor") and isinstance(x, types.Float):
        raise errors.TypingError(f"pyomp: bitwise `atomic` update of a float ({x})")
    pair = types.UniTuple(x, 2)

    def codegen(context, builder, sig, args):
        _, x_val, v = args
        v = context.cast(builder, v, value, x)
        lltype = context.get_value_type(x)
        fnty = llir.FunctionType(context.get_value_type(pair), [lltype, lltype])
        name = f"pyomp.atomic.{kind}.{op}.{order}.{lltype}"
        fn = cgutils.get_or_insert_function(builder.module, fnty, name)
        return builder.call(fn, [x_val, v])

    return pair(form, x, value), codegen


@intrinsic
def unliteral(typingctx, x):
    """x itself, typed as its non-literal type: `x = unliteral(x)` before the region keeps
    Numba from typing a variable whose only other assignment is `x = 0` as Literal[int](0)
    (the atomic that updates it is not an assignment Numba sees)."""
    def codegen(context, builder, sig, args):
        return context.cast(builder, args[0], sig.args[0], sig.return_type)

    return types.unliteral(x)(x), codegen


class ScalarPlan:
    """How to rewrite one atomic region on a scalar: the statements to replace and what
    the call computes."""

    def __init__(self, kind, op, target, value, capture=None, capture_new=False):
        self.kind, self.op, self.target, self.value = kind, op, target, value
        self.capture, self.capture_new = capture, capture_new
        self.replaced = []  # statements the call replaces


def _user_assigns(blocks):
    from .sharing import is_user_var
    return [(b, s) for b in blocks for s in b.body
            if isinstance(s, ir.Assign) and is_user_var(s.target.name)]


def _update_of(defs, stmt, target):
    """(op, e) when `stmt` is `target = target op e` (or `e op target`, commutative op)."""
    new = defs.get(stmt.value.name) if isinstance(stmt.value, ir.Var) else None
    if not (isinstance(new, ir.Expr) and new.op in ("inplace_binop", "binop")
            and new.fn in _SCALAR_OPS):
        return None
    op = _SCALAR_OPS[new.fn]
    if new.lhs.name == target and new.rhs.name != target:
        return op, new.rhs
    if new.rhs.name == target and new.lhs.name != target and op in _COMMUTATIVE:
        return op, new.lhs
    return None


def _reads(defs, var, name, depth=0):
    """Whether temporary `var` is computed from variable `name`."""
    if var.name == name:
        return True
    value = defs.get(var.name)
    if isinstance(value, ir.Var):
        return _reads(defs, value, name, depth + 1)
    if not isinstance(value, ir.Expr) or depth > 50:
        return False
    return any(_reads(defs, v, name, depth + 1) for v in value.list_vars())


def scalar_plan(func_ir, region):
    """A ScalarPlan when the atomic region's block is one of OpenMP's atomic statement
    forms on a variable, else None (the region keeps the lock-based lowering)."""
    d = region.directive
    if any(c.name not in _ORDERS for c in d.clauses):
        return None
    blocks = [func_ir.blocks[label] for label in sorted(region.blocks)]
    if any(isinstance(s, (ir.SetItem, ir.StaticSetItem, ir.SetAttr, ir.Print))
           for b in blocks for s in b.body):
        return None
    defs = {s.target.name: s.value for b in blocks for s in b.body if isinstance(s, ir.Assign)}
    assigns = [s for _, s in _user_assigns(blocks)]
    kind = d.atomic_kind or "update"
    plan = None
    if kind in ("update", "capture") and len(assigns) == 1:
        x = assigns[0].target.name
        found = _update_of(defs, assigns[0], x)
        if kind == "update" and found and not _reads(defs, found[1], x):
            plan = ScalarPlan("update", found[0], x, found[1])
            plan.replaced = [assigns[0]]
    elif kind == "read" and len(assigns) == 1 and isinstance(assigns[0].value, ir.Var):
        v, x = assigns[0].target.name, assigns[0].value.name
        if x != v and _is_user(x):
            plan = ScalarPlan("read", "none", x, assigns[0].value, capture=v)
            plan.replaced = [assigns[0]]
    elif kind == "write" and len(assigns) == 1:
        x = assigns[0].target.name
        if isinstance(assigns[0].value, ir.Var) and not _reads(defs, assigns[0].value, x):
            plan = ScalarPlan("write", "none", x, assigns[0].value)
            plan.replaced = [assigns[0]]
    elif kind == "capture" and len(assigns) == 2:
        plan = _capture_plan(defs, assigns)
    if plan is not None:
        plan.order = next((c.name for c in d.clauses), "relaxed")
    return plan


def _is_user(name):
    from .sharing import is_user_var
    return is_user_var(name)


def _capture_plan(defs, assigns):
    first, second = assigns
    # v = x; x op= e   |   v = x; x = e   (the old value)
    if isinstance(first.value, ir.Var) and _is_user(first.value.name):
        v, x = first.target.name, first.value.name
        if second.target.name != x or v == x:
            return None
        found = _update_of(defs, second, x)
        if found and not _reads(defs, found[1], x):
            plan = ScalarPlan("update", found[0], x, found[1], capture=v)
        elif isinstance(second.value, ir.Var) and not _reads(defs, second.value, x):
            plan = ScalarPlan("write", "none", x, second.value, capture=v)
        else:
            return None
        plan.replaced = [first, second]
        return plan
    # x op= e; v = x   (the new value)
    x = first.target.name
    found = _update_of(defs, first, x)
    if found and not _reads(defs, found[1], x) and isinstance(second.value, ir.Var) \
            and second.value.name == x and second.target.name != x:
        plan = ScalarPlan("update", found[0], x, found[1], capture=second.target.name,
                          capture_new=True)
        plan.replaced = [first, second]
        return plan
    return None


def apply_scalar(func_ir, region, plan, before=None):
    """Replaces the atomic statement(s) by the atomic_scalar call; `before` = (block,
    statement) where `x = unliteral(x)` may run (serially: before the outermost region)."""
    if before is not None:
        block, stmt = before
        loc = stmt.loc
        fn = ir.Var(block.scope, block.scope.redefine("$pyomp_unliteral", loc).name, loc)
        x = ir.Var(block.scope, plan.target, loc)
        at = next(i for i, s in enumerate(block.body) if s is stmt)
        block.body[at:at] = [
            ir.Assign(ir.Global("unliteral", unliteral, loc), fn, loc),
            ir.Assign(ir.Expr.call(fn, [x], (), loc), x, loc),
        ]
    first = plan.replaced[0]
    block = next(func_ir.blocks[label] for label in region.blocks
                 if any(s is first for s in func_ir.blocks[label].body))
    loc, scope = first.loc, block.scope

    def fresh(prefix):
        return ir.Var(scope, scope.redefine(prefix, loc).name, loc)

    fn_var, form_var, pair = fresh("$pyomp_atomic_fn"), fresh("$pyomp_atomic_form"), \
        fresh("$pyomp_atomic")
    x = ir.Var(scope, plan.target, loc)
    value = plan.value if plan.kind != "read" else x
    stmts = [
        ir.Assign(ir.Global("atomic_scalar", atomic_scalar, loc), fn_var, loc),
        ir.Assign(ir.Const(f"{plan.kind}.{plan.op}.{plan.order}", loc), form_var, loc),
        ir.Assign(ir.Expr.call(fn_var, [form_var, x, value], (), loc), pair, loc),
    ]
    if plan.capture is not None:
        index = 1 if plan.capture_new else 0
        stmts.append(ir.Assign(ir.Expr.static_getitem(pair, index, None, loc),
                               ir.Var(scope, plan.capture, loc), loc))
    # the call takes the place of the last replaced statement (its operands are computed
    # by then); the others go, with the non-atomic `x op e` they assigned
    last = plan.replaced[-1]
    computed = {s.value.name for s in plan.replaced
                if s.target.name == plan.target and isinstance(s.value, ir.Var)}
    for b in (func_ir.blocks[label] for label in region.blocks):
        body = []
        for s in b.body:
            if s is last:
                body.extend(stmts)
            elif not any(s is r for r in plan.replaced) and not (
                    isinstance(s, ir.Assign) and s.target.name in computed
                    and isinstance(s.value, ir.Expr)
                    and s.value.op in ("binop", "inplace_binop")):
                body.append(s)
        b.body = body


# --- array elements: read, write and capture -------------------------------------------
#
# `v = a[i]` (read), `a[i] = e` (write), and the capture forms `v = a[i]; a[i] op= e` (old
# value), `a[i] op= e; v = a[i]` (new value), `v = a[i]; a[i] = e` (swap) become
# `$pair = atomic_element("<kind>.<op>", a, i, e)`, (old, new) as for scalars, with the
# element's address computed by Numba's own array indexing.

@intrinsic(prefer_literal=True)
def atomic_element(typingctx, form, arr, index, value):
    """(old, new) of one atomic operation on arr[index]."""
    if not (isinstance(form, types.StringLiteral) and isinstance(arr, types.Array)
            and arr.ndim == 1 and isinstance(index, types.Integer)
            and isinstance(arr.dtype, (types.Integer, types.Float))
            and isinstance(value, (types.Integer, types.Float, types.Boolean))):
        raise errors.TypingError("pyomp: `atomic` works on elements of 1-d integer and "
                                 f"float arrays; not on {arr}[{index}]. Use `critical`")
    kind, op = form.literal_value.split(".")
    is_float = isinstance(arr.dtype, types.Float)
    rmw = {"add": "fadd" if is_float else "add", "sub": "fsub" if is_float else "sub",
           "and": "and", "or": "or", "xor": "xor"}.get(op)
    if kind == "update" and (rmw is None or (is_float and op in ("and", "or", "xor"))):
        raise errors.TypingError(f"pyomp: no hardware atomic for {op} on {arr.dtype}")
    pair = types.UniTuple(arr.dtype, 2)

    def codegen(context, builder, sig, args):
        _, ary_val, idx, val = args
        ary = make_array(arr)(context, builder, ary_val)
        # Numba's indexing takes intp (an int32 index, e.g. a thread number, would not do)
        idx = context.cast(builder, idx, index, types.intp)
        ptr = cgutils.get_item_pointer(context, builder, arr, ary, [idx], wraparound=True)
        val = context.cast(builder, val, value, arr.dtype)
        align = context.get_abi_sizeof(context.get_data_type(arr.dtype))
        if kind == "read":
            old = builder.load_atomic(ptr, "monotonic", align)
            new = old
        elif kind == "write":
            old = builder.atomic_rmw("xchg", ptr, val, "monotonic")
            new = val
        else:
            old = builder.atomic_rmw(rmw, ptr, val, "monotonic")
            apply = {"fadd": builder.fadd, "fsub": builder.fsub, "add": builder.add,
                     "sub": builder.sub, "and": builder.and_, "or": builder.or_,
                     "xor": builder.xor}[rmw]
            new = apply(old, val)
        return context.make_tuple(builder, pair, (old, new))

    return pair(form, arr, index, value), codegen


def _element_of(defs, value):
    """(array var, index var, constant index or None) when `value` (an expression or a
    variable) reads an array element."""
    if isinstance(value, ir.Var):
        value = defs.get(value.name)
    if isinstance(value, ir.Expr) and value.op == "getitem":
        known = defs.get(value.index.name)
        return value.value, value.index, (known.value if isinstance(known, ir.Const)
                                          else None)
    if isinstance(value, ir.Expr) and value.op == "static_getitem" \
            and value.index_var is not None:
        return value.value, value.index_var, value.index
    return None


def _stored_element(defs, store):
    if isinstance(store, ir.StaticSetItem):
        return store.target, store.index_var, store.index
    known = defs.get(store.index.name)
    return store.target, store.index, known.value if isinstance(known, ir.Const) else None


def _same_element(a, b):
    if a is None or b is None or a[0].name != b[0].name or a[1] is None or b[1] is None:
        return False
    if a[1].name == b[1].name:
        return True
    return a[2] is not None and a[2] == b[2]


def try_rewrite_element_forms(func_ir, region):
    """Read, write and capture forms on an array element (see above); True if rewritten."""
    kind = region.directive.atomic_kind or "update"
    if region.directive.clauses or kind not in ("read", "write", "capture"):
        return False
    labels = sorted(region.blocks)
    blocks = [func_ir.blocks[label] for label in labels]
    order = [(b, s) for b in blocks for s in b.body]
    defs = {s.target.name: s.value for _, s in order if isinstance(s, ir.Assign)}
    assigns = [(b, s) for b, s in _user_assigns(blocks)]
    stores = [(b, s) for b, s in order if isinstance(s, (ir.SetItem, ir.StaticSetItem))]
    if any(isinstance(s, (ir.SetAttr, ir.Print)) for _, s in order):
        return False
    position = {id(s): n for n, (_, s) in enumerate(order)}
    if kind == "read" and len(assigns) == 1 and not stores:
        elem = _element_of(defs, assigns[0][1].value)
        if elem is None:
            return False
        return _replace(func_ir, region, "read.none", elem, elem[1], assigns[0][1].target,
                        0, [assigns[0]])
    if len(stores) != 1:
        return False
    block, store = stores[0]
    target = _stored_element(defs, store)
    new = defs.get(store.value.name)
    update = None
    if isinstance(new, ir.Expr) and new.op in ("inplace_binop", "binop") \
            and new.fn in _NAME_OF and _same_element(target, _element_of(defs, new.lhs)):
        update = (_NAME_OF[new.fn], new.rhs)
    if kind == "write":
        if assigns or update is not None or _same_element(target, _element_of(defs, store.value)):
            return False
        return _replace(func_ir, region, "write.none", target, store.value, None, 0, [stores[0]])
    if len(assigns) != 1:
        return False
    ablock, assign = assigns[0]
    if not _same_element(target, _element_of(defs, assign.value)):
        return False
    captured_first = position[id(assign)] < position[id(store)]
    if update is not None:
        form = f"update.{update[0]}"
        return _replace(func_ir, region, form, target, update[1], assign.target,
                        0 if captured_first else 1, [assigns[0], stores[0]])
    if captured_first:  # swap
        return _replace(func_ir, region, "write.none", target, store.value, assign.target, 0,
                        [assigns[0], stores[0]])
    return False


def _replace(func_ir, region, form, element, value, capture, which, replaced):
    """Puts `$pair = atomic_element(form, a, i, value)` (and `capture = $pair[which]`)
    where the last replaced statement was; drops the others."""
    last_block, last = replaced[-1]
    loc, scope = last.loc, last_block.scope

    def fresh(prefix):
        return ir.Var(scope, scope.redefine(prefix, loc).name, loc)

    fn, form_var, pair = fresh("$pyomp_atomic_fn"), fresh("$pyomp_atomic_form"), \
        fresh("$pyomp_atomic")
    stmts = [ir.Assign(ir.Global("atomic_element", atomic_element, loc), fn, loc),
             ir.Assign(ir.Const(form, loc), form_var, loc),
             ir.Assign(ir.Expr.call(fn, [form_var, element[0], element[1], value], (), loc),
                       pair, loc)]
    if capture is not None:
        stmts.append(ir.Assign(ir.Expr.static_getitem(pair, which, None, loc), capture, loc))
    gone = {id(s) for _, s in replaced}
    for label in region.blocks:
        block = func_ir.blocks[label]
        body = []
        for s in block.body:
            if s is last:
                body.extend(stmts)
            elif id(s) not in gone:
                body.append(s)
        block.body = body
    return True
