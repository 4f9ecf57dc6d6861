"""Worksharing loops: the `for i in range(...)` of a `for` construct, rewritten in Numba IR
into a loop over the chunks the OpenMP runtime hands this thread.

    with openmp("for schedule(dynamic, 4)"):         n = trip_count(a, b, s)
        for i in range(a, b, s):              ->     loop_init(id, n)
            body                                     while (more, lo, hi := loop_next(id)):
                                                         for k in range(lo, hi):
                                                             i = a + k * s
                                                             body
                                                     loop_fini(id)

The three `loop_*` calls are markers the Rust pass replaces with `__kmpc_for_static_*` /
`__kmpc_dispatch_*` calls; the chunk loop counts 0..n, so it vectorises like serial Numba.
"""

from __future__ import annotations

import operator

from llvmlite import ir as llir
from numba.core import cgutils, errors, ir, types
from numba.core.extending import intrinsic

from .errors import (
    ParallelForExtraCode,
    ParallelForInvalidCollapseCount,
    ParallelForWrongLoopCount,
    pyomp_says,
)
from .nonrect import nest_at
from .ranges import trip_count
from .sharing import is_user_var

INIT, NEXT, FINI = "pyomp.loop.init", "pyomp.loop.next", "pyomp.loop.fini"
SKIP, ITERATION_END = "pyomp.loop.skip", "pyomp.loop.iteration_end"


def _declare(builder, name, ret, args):
    fnty = llir.FunctionType(ret, args)
    return cgutils.get_or_insert_function(builder.module, fnty, name)


def _check_literal(region_id):
    if not isinstance(region_id, types.IntegerLiteral):
        raise errors.TypingError("pyomp loop marker needs a literal region id")


@intrinsic(prefer_literal=True)
def loop_init(typingctx, region_id, n):
    """Starts the worksharing loop of region `region_id` over n iterations."""
    _check_literal(region_id)

    def codegen(context, builder, signature, args):
        i64 = llir.IntType(64)
        n64 = context.cast(builder, args[1], signature.args[1], types.int64)
        fn = _declare(builder, INIT, llir.VoidType(), [i64, i64])
        builder.call(fn, [i64(region_id.literal_value), n64])
        return context.get_dummy_value()

    return types.none(region_id, n), codegen


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


class _Emit:
    """Appends statements to a block, making fresh temporaries."""

    def __init__(self, block, loc):
        self.block, self.scope, self.loc = block, block.scope, loc

    def var(self, prefix):
        return ir.Var(self.scope, self.scope.redefine(prefix, self.loc).name, self.loc)

    def assign(self, value, prefix="$pyomp_loop"):
        target = self.var(prefix)
        self.block.body.append(ir.Assign(value=value, target=target, loc=self.loc))
        return target

    def call(self, name, fn, args):
        fn_var = self.assign(ir.Global(name, fn, self.loc), "$pyomp_loop_fn")
        return self.assign(ir.Expr.call(fn_var, args, (), self.loc))

    def const(self, value):
        return self.assign(ir.Const(value, self.loc))


def _definition(func_ir, var):
    try:
        return func_ir.get_definition(var)
    except KeyError:
        return None


def find_loop(func_ir, region, located):
    """The region's single `for ... in range(...)` loop, checked: (setup block, getiter
    statement index, range args, header label, body label, exit label, loop var)."""
    blocks = func_ir.blocks
    # In bytecode order (labels are offsets): the first getiter is the outermost loop's.
    getiters = [(label, i) for label in sorted(region.blocks)
                for i, s in enumerate(blocks[label].body)
                if isinstance(s, ir.Assign) and isinstance(s.value, ir.Expr)
                and s.value.op == "getiter"]
    if not getiters:
        # a back edge: a while loop (its first line: Python tests the condition at the
        # end of the body too)
        back = [min(s.loc.line for s in blocks[label].body + blocks[t].body)
                for label in sorted(region.blocks)
                for t in blocks[label].terminator.get_targets()
                if t <= label and t in region.blocks]
        found = (f"found a `while` loop (line {back[0]}), which OpenMP cannot divide: "
                 "write it as `for i in range(...)`" if back else "found none")
        raise located(ParallelForWrongLoopCount(
            f"a '{region.directive.construct}' construct must contain exactly one "
            f"`for ... in range(...)` loop; {found}" + _pyomp_loop_count(0)))
    setup, index = getiters[0]
    stmt = blocks[setup].body[index]
    call = _definition(func_ir, stmt.value.value)
    fn = _definition(func_ir, call.func) if isinstance(call, ir.Expr) and call.op == "call" \
        else None
    if not (isinstance(fn, (ir.Global, ir.FreeVar)) and fn.value is range) or call.kws:
        raise located(ParallelForWrongLoopCount(
            f"the loop of a worksharing construct must iterate over range(...) (the loop "
            f"of line {stmt.loc.line} does not): OpenMP divides a counted loop, so write "
            "`for i in range(len(a))` and index"))
    # The block after the setup is the loop header: iternext / pair_first / branch
    # (Numba sometimes puts empty blocks in between: follow their jumps).
    (header,) = blocks[setup].terminator.get_targets()
    while len(blocks[header].body) == 1 and isinstance(blocks[header].terminator, ir.Jump):
        (header,) = blocks[header].terminator.get_targets()
    branch = blocks[header].terminator
    if not isinstance(branch, ir.Branch):
        raise located(ParallelForWrongLoopCount("unrecognised loop shape"))
    body, exit_label = branch.truebr, branch.falsebr
    loop_blocks = _loop_blocks(blocks, header, body)
    nested_getiters = [g for g in getiters[1:] if g[0] not in loop_blocks]
    if nested_getiters:
        raise located(ParallelForWrongLoopCount(
            f"a '{region.directive.construct}' construct must contain exactly one loop; "
            f"found {1 + len(nested_getiters)} loops one after the other"
            + _pyomp_loop_count(1 + len(nested_getiters))))
    extra = _extra_statements(blocks, region.blocks - loop_blocks - {header}, stmt)
    # The loop must be the construct's block itself, not inside a `with` nested around it
    # (the nested region would hold the loop the construct divides).
    extra += [s for label in region.blocks - loop_blocks - {header}
              for s in blocks[label].body if isinstance(s, ir.EnterWith) and s is not region.stmt]
    if extra:
        raise located(ParallelForExtraCode(
            "statements besides the loop in a worksharing-loop construct (move them before "
            f"or after the `with` block): line {extra[0].loc.line}"
            + _pyomp_extra_code(extra[0].loc.line)))
    first = blocks[body].body[0]
    if not (isinstance(first, ir.Assign) and is_user_var(first.target.name)):
        raise located(ParallelForWrongLoopCount("unrecognised loop shape"))
    loop_var = first.target.name
    for label in loop_blocks:
        for stmt in blocks[label].body:
            if stmt is not first and isinstance(stmt, ir.Assign) \
                    and stmt.target.name == loop_var:
                raise located(ParallelForWrongLoopCount(
                    f"the loop variable '{loop_var}' is assigned in the loop body (line "
                    f"{stmt.loc.line}); a worksharing loop must be in canonical form, its "
                    "variable changed only by the loop (assign another variable)"))
    return setup, index, call.args, header, body, exit_label, loop_var


class Level:
    """One loop of a (collapsed) nest: where its range is made and its blocks."""

    def __init__(self, setup, index, args, header, body, exit_label, var):
        self.setup, self.index, self.args = setup, index, args
        self.header, self.body, self.exit, self.var = header, body, exit_label, var
        self.dependent = False  # its bounds use an outer loop variable


def find_nest(func_ir, region, depth, located):
    """The `depth` perfectly nested range loops of a `collapse(depth)` construct."""
    outer = Level(*find_loop(func_ir, region, located))
    levels = [outer]
    blocks = func_ir.blocks
    while len(levels) < depth:
        parent = levels[-1]
        body = blocks[parent.body]
        getiter = next((i for i, s in enumerate(body.body)
                        if isinstance(s, ir.Assign) and isinstance(s.value, ir.Expr)
                        and s.value.op == "getiter"), None)
        found = len(levels)
        if getiter is None:
            collapse = region.directive.clause("collapse")
            raise located(ParallelForInvalidCollapseCount(
                f"collapse({depth}) needs {depth} perfectly nested loops; found {found}",
                directive=region.directive.text,
                span=collapse.span if collapse is not None else None))
        stmts = body.body[1:getiter]
        between = [s for s in _beside(stmts, body.body[getiter])
                   if not isinstance(s, ir.Assign) or is_user_var(s.target.name)
                   or isinstance(s.value, ir.Expr)]
        if between:
            raise located(ParallelForExtraCode(
                f"collapse({depth}): statements between the loops (line "
                f"{between[0].loc.line}); collapsed loops must be perfectly nested"
                + _pyomp_extra_code(between[0].loc.line)))
        outer_vars = {lv.var for lv in levels}
        # bounds that depend on an outer loop variable: a non-rectangular nest (nonrect.py)
        dependent = any(v.name in outer_vars for s in stmts for v in s.list_vars())
        call = _definition(func_ir, body.body[getiter].value.value)
        fn = _definition(func_ir, call.func) if isinstance(call, ir.Expr) else None
        if not (isinstance(fn, (ir.Global, ir.FreeVar)) and fn.value is range):
            raise located(ParallelForWrongLoopCount(
                "collapsed loops must iterate over range(...)"))
        (header,) = body.terminator.get_targets()
        branch = blocks[header].terminator
        first = blocks[branch.truebr].body[0]
        level = Level(parent.body, getiter, call.args, header, branch.truebr, branch.falsebr,
                      first.target.name)
        level.dependent = dependent
        # after the inner loop, straight back to the outer loop's header
        label = level.exit
        while label != parent.header:
            block = blocks[label]
            if len(block.body) != 1 or not isinstance(block.terminator, ir.Jump):
                raise located(ParallelForExtraCode(
                    f"collapse({depth}): statements after an inner loop (line "
                    f"{block.loc.line}); collapsed loops must be perfectly nested"
                    + _pyomp_extra_code(block.loc.line)))
            label = block.terminator.target
        levels.append(level)
    return levels


def _loop_blocks(blocks, header, body):
    """The loop's body blocks: reachable from `body` without passing the header."""
    seen, stack = set(), [body]
    while stack:
        label = stack.pop()
        if label in seen or label == header:
            continue
        seen.add(label)
        term = blocks[label].terminator
        if term is not None:
            stack.extend(term.get_targets())
    return seen


def _extra_statements(blocks, labels, getiter):
    """The statements of `labels` (the construct's blocks outside its loop) that do more
    than compute the loop's range: assignments to user variables, stores, and anything
    computed for no use in the loop (a `print(...)`, `f(x)` or `a[0] + 1` statement, whose
    value Python drops: Numba assigns it to a temporary)."""
    stmts = [s for label in labels for s in blocks[label].body]
    found = [s for s in _beside(stmts, getiter)
             if (isinstance(s, ir.Assign)
                 and (is_user_var(s.target.name) or isinstance(s.value, ir.Expr)))
             or isinstance(s, (ir.SetItem, ir.StaticSetItem, ir.SetAttr, ir.Print))]
    return sorted(found, key=lambda s: s.loc.line)


def _beside(stmts, getiter):
    """`stmts` less those the loop's `getiter` is computed from (its range(...) call and
    the call's arguments, `len(a) - n`...)."""
    defs = {s.target.name: s for s in stmts if isinstance(s, ir.Assign)}
    feeding, todo = set(), [v.name for v in getiter.list_vars()]
    while todo:
        name = todo.pop()
        if name in defs and name not in feeding:
            feeding.add(name)
            todo.extend(v.name for v in defs[name].list_vars())
    return [s for s in stmts
            if not (isinstance(s, ir.Assign) and s.target.name in feeding)]


def _pyomp_loop_count(count):
    return pyomp_says("OpenMP parallel for regions must contain exactly one range based "
                      f"loop; this one contains {count} loops")


def _pyomp_extra_code(line):
    return pyomp_says(f"Extra code near line {line} is not allowed before or after the "
                      "loop in an OpenMP parallel for region")


def _bounds(args):
    """(start, stop, step) of range(*args); None for an omitted start or step."""
    if len(args) == 1:
        return None, args[0], None
    return args[0], args[1], (args[2] if len(args) == 3 else None)


def rewrite(func_ir, region, region_id, levels, linear=(), ordered=False, rows=None):
    """Turns the loop (or the collapsed nest `levels`) into the chunk loop of the module
    docstring; a collapsed nest runs as one loop over the product of the trip counts.
    An `ordered` loop also marks each iteration's start and end (_mark_iterations)."""
    outer = levels[0]
    setup, index, header, body, exit_label = (outer.setup, outer.index, outer.header,
                                              outer.body, outer.exit)
    blocks = func_ir.blocks
    loc = blocks[setup].body[index].loc
    top = max(blocks) + 1
    dispatch, inner, done = top, top + 1, top + 2

    # setup: n = trip_count(...); loop_init(id, n); jump dispatch
    old_setup = blocks[setup]
    iter_var = old_setup.body[index].target
    # Numba copies the iterator into the variable the header reads (`$phi = $iter`).
    copies = [s.target for s in old_setup.body[index + 1:]
              if isinstance(s, ir.Assign) and isinstance(s.value, ir.Var)
              and s.value.name == iter_var.name]
    header_iter = copies[0] if copies else iter_var
    old_setup.body = old_setup.body[:index]
    emit = _Emit(old_setup, loc)
    zero, one = emit.const(0), emit.const(1)
    counts = []
    if rows is not None:
        # non-rectangular: the rows helper walks the outer loops (nonrect.py)
        helper, free = rows
        rows_var = emit.call("nest_rows", helper,
                             [ir.Var(old_setup.scope, name, loc) for name in free])
        n = emit.assign(ir.Expr.static_getitem(rows_var, 0, None, loc))
        hint = emit.const(0)
    else:
        # Inner loops' bounds do not depend on outer loop variables: compute them here.
        for level in levels[1:]:
            block = blocks[level.setup]
            old_setup.body.extend(block.body[1:level.index])
            del block.body[1:level.index]
            level.index = 1
        for level in levels:
            start, stop, step = _bounds(level.args)
            counts.append(emit.call("trip_count", trip_count,
                                    [start or zero, stop, step or one]))
        n = counts[0]
        for count in counts[1:]:
            n = emit.assign(ir.Expr.binop(operator.mul, n, count, loc))
    emit.call("loop_init", loop_init, [emit.const(region_id), n])
    old_setup.body.append(ir.Jump(dispatch, loc))

    # dispatch: more, lo, hi = loop_next(id); branch more, inner, done
    blocks[dispatch] = ir.Block(old_setup.scope, loc)
    emit = _Emit(blocks[dispatch], loc)
    chunk = emit.call("loop_next", loop_next, [emit.const(region_id)])
    more = emit.assign(ir.Expr.static_getitem(chunk, 0, None, loc))
    lo = emit.assign(ir.Expr.static_getitem(chunk, 1, None, loc))
    hi = emit.assign(ir.Expr.static_getitem(chunk, 2, None, loc))
    blocks[dispatch].body.append(ir.Branch(more, inner, done, loc))

    # inner: the header's iterator becomes range(hi - lo), counted from 0 (with lo >= 0
    # known to LLVM, indexing by lo + k then needs no wraparound check: it vectorises)
    blocks[inner] = ir.Block(old_setup.scope, loc)
    emit = _Emit(blocks[inner], loc)
    rng = emit.assign(ir.Global("range", range, loc))
    count = emit.assign(ir.Expr.binop(operator.sub, hi, lo, loc))
    chunk_range = emit.assign(ir.Expr.call(rng, [count], (), loc))
    chunk_iter = emit.assign(ir.Expr.getiter(chunk_range, loc))
    blocks[inner].body.append(ir.Assign(value=chunk_iter, target=header_iter, loc=loc))
    blocks[inner].body.append(ir.Jump(header, loc))

    # header: when the chunk is exhausted, ask for the next one
    branch = blocks[header].terminator
    branch.falsebr = dispatch

    # done: loop_fini(id); continue after the loop
    blocks[done] = ir.Block(old_setup.scope, loc)
    emit = _Emit(blocks[done], loc)
    emit.call("loop_fini", loop_fini, [emit.const(region_id)])
    blocks[done].body.append(ir.Jump(exit_label, loc))

    # body: the iteration number lo + k gives each loop variable (innermost fastest):
    # i = start + number * step for one loop.
    first = blocks[body].body[0]
    body_block = blocks[body]
    emit = _Emit(ir.Block(body_block.scope, loc), loc)
    k = emit.assign(first.value)
    number = emit.assign(ir.Expr.binop(operator.add, lo, k, loc))
    if rows is not None:
        at = emit.call("nest_at", nest_at, [rows_var, number, hint])
        emit.block.body.append(ir.Assign(ir.Expr.static_getitem(at, 0, None, loc), hint, loc))
        outer_values = emit.assign(ir.Expr.static_getitem(at, 1, None, loc))
        for depth, level in enumerate(levels):
            value = (emit.assign(ir.Expr.static_getitem(at, 2, None, loc))
                     if depth == len(levels) - 1 else
                     emit.assign(ir.Expr.getitem(outer_values, emit.const(depth), loc)))
            var = ir.Var(body_block.scope, level.var, loc)
            emit.block.body.append(ir.Assign(value=value, target=var, loc=first.loc))
    for depth in range(len(levels) - 1, -1, -1) if rows is None else ():
        level = levels[depth]
        if depth:
            index = emit.assign(ir.Expr.binop(operator.mod, number, counts[depth], loc))
            number = emit.assign(ir.Expr.binop(operator.floordiv, number, counts[depth], loc))
        else:
            index = number
        start, _, step = _bounds(level.args)
        value = index
        if step is not None:
            value = emit.assign(ir.Expr.binop(operator.mul, value, step, loc))
        if start is not None:
            value = emit.assign(ir.Expr.binop(operator.add, start, value, loc))
        var = ir.Var(body_block.scope, level.var, loc)
        emit.block.body.append(ir.Assign(value=value, target=var, loc=first.loc))
    for name, start, step in linear:  # x = start + iteration number * step
        number_now = emit.assign(ir.Expr.binop(operator.add, lo, k, loc))
        offset = emit.assign(ir.Expr.binop(operator.mul, number_now, step, loc))
        value = emit.assign(ir.Expr.binop(operator.add, start, offset, loc))
        emit.block.body.append(ir.Assign(value=value, target=ir.Var(body_block.scope, name, loc),
                                         loc=first.loc))
    if len(levels) == 1:
        body_block.body[0:1] = emit.block.body
    else:
        _skip_inner_headers(func_ir, region, levels, emit.block.body, loc)
    region.blocks |= {dispatch, inner, done}
    if ordered:
        _mark_iterations(func_ir, region, region_id, header, inner, loc, lo, first.value)
    return ChunkLoop(dispatch, inner, header, lo, hi, n)


class ChunkLoop:
    """Where the rewritten loop's parts are: the dispatch block (asks for the next chunk),
    the block that starts a chunk, the chunk loop's header, the chunk's bounds [lo, hi)
    and the loop's iteration count n."""

    def __init__(self, dispatch, inner, header, lo, hi, n):
        self.dispatch, self.inner, self.header, self.lo, self.hi, self.n = \
            dispatch, inner, header, lo, hi, n

    def chunk_blocks(self, blocks):
        """The blocks that run one chunk: from its start up to the next dispatch."""
        seen, stack = set(), [self.inner]
        while stack:
            label = stack.pop()
            if label in seen or label == self.dispatch:
                continue
            seen.add(label)
            stack.extend(blocks[label].terminator.get_targets())
        return seen


def _mark_iterations(func_ir, region, region_id, header, inner, loc, lo, k):
    """An `ordered` loop ends every iteration with loop_iteration_end (the runtime's
    per-iteration ticket) and starts it with `if loop_skip(id): goto end`:

        header -> check: if loop_skip(id): iteration_end    else: body
        body (every edge back to header) -> iteration_end: loop_iteration_end(id) -> header
    """
    blocks = func_ir.blocks
    top = max(blocks) + 1
    check, end = top, top + 1
    scope = blocks[header].scope
    for label in region.blocks:  # the body's back edges (and `continue`s)
        if label in (header, inner):
            continue
        term = blocks[label].terminator
        if isinstance(term, ir.Jump) and term.target == header:
            term.target = end
        elif isinstance(term, ir.Branch):
            term.truebr = end if term.truebr == header else term.truebr
            term.falsebr = end if term.falsebr == header else term.falsebr
    branch = blocks[header].terminator
    body = branch.truebr
    branch.truebr = check
    blocks[check] = ir.Block(scope, loc)
    emit = _Emit(blocks[check], loc)
    skip = emit.call("loop_skip", loop_skip, [emit.const(region_id), lo, k])
    blocks[check].body.append(ir.Branch(skip, end, body, loc))
    blocks[end] = ir.Block(scope, loc)
    emit = _Emit(blocks[end], loc)
    emit.call("loop_iteration_end", loop_iteration_end, [emit.const(region_id)])
    blocks[end].body.append(ir.Jump(header, loc))
    region.blocks |= {check, end}


def _skip_inner_headers(func_ir, region, levels, index_stmts, loc):
    """Collapsed: the outer body computes every loop variable and enters the innermost
    body; the innermost body's back edges go to the outer header (the next iteration
    number); the inner loops' own headers, exits and setups disappear."""
    blocks = func_ir.blocks
    outer, innermost = levels[0], levels[-1]
    blocks[outer.body].body = index_stmts + [ir.Jump(innermost.body, loc)]
    del blocks[innermost.body].body[0]  # its loop variable is computed above
    dead = set()
    for depth in range(1, len(levels)):
        level = levels[depth]
        dead.add(level.header)
        label = level.exit
        while label != levels[depth - 1].header:
            dead.add(label)
            label = blocks[label].terminator.target
        if depth < len(levels) - 1:
            dead.add(level.body)
    for label in region.blocks - dead:
        term = blocks[label].terminator
        if isinstance(term, ir.Jump) and term.target == innermost.header:
            term.target = outer.header
        elif isinstance(term, ir.Branch):
            if term.truebr == innermost.header:
                term.truebr = outer.header
            if term.falsebr == innermost.header:
                term.falsebr = outer.header
    for label in dead:
        del blocks[label]
    region.blocks -= dead

