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
from dataclasses import dataclass, field

from numba.core import ir

from .loop_intrinsics import (
    loop_fini,
    loop_init,
    loop_iteration_end,
    loop_last_owner,
    loop_next,
    loop_skip,
)
from .nonrect import nest_at
from .ranges import trip_count


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


def _bounds(args):
    """(start, stop, step) of range(*args); None for an omitted start or step."""
    if len(args) == 1:
        return None, args[0], None
    return args[0], args[1], (args[2] if len(args) == 3 else None)

def rewrite(func_ir, region, region_id, levels, linear=(), ordered=False, rows=None):
    """Turns the loop (or the collapsed nest `levels`) into the chunk loop of the module
    docstring; a collapsed nest runs as one loop over the product of the trip counts.
    An `ordered` loop also marks each iteration's start and end (_mark_iterations).

    setup: n = trip count; loop_init -> dispatch: loop_next -> inner: the chunk's range
    -> header (the original loop's) -> body: the loop variables -> ... -> header;
    header exhausted -> dispatch; no chunk left -> done: loop_fini -> the loop's exit."""
    outer = levels[0]
    blocks = func_ir.blocks
    loc = blocks[outer.setup].body[outer.index].loc
    scope = blocks[outer.setup].scope
    top = max(blocks) + 1
    dispatch, inner, done = top, top + 1, top + 2
    count = _emit_trip_count(func_ir, levels, region_id, rows, dispatch, loc,
                             getattr(region, "owns_last", None), region)
    lo, hi = _emit_dispatch(blocks, region_id, dispatch, inner, done, scope, loc)
    _emit_chunk_start(blocks, inner, outer.header, count.header_iter, lo, hi, scope, loc)
    blocks[outer.header].terminator.falsebr = dispatch  # the chunk is done: ask again
    _emit_loop_end(blocks, region_id, done, outer.exit, scope, loc)
    first = blocks[outer.body].body[0]
    index_stmts = _loop_variables(blocks[outer.body], first, levels, count, linear, lo, loc)
    if len(levels) == 1:
        blocks[outer.body].body[0:1] = index_stmts
    else:
        _skip_inner_headers(func_ir, region, levels, index_stmts, loc)
    region.blocks |= {dispatch, inner, done}
    if ordered:
        _mark_iterations(func_ir, region, region_id, outer.header, inner, loc, lo, first.value)
    return ChunkLoop(dispatch, inner, outer.header, lo, hi, count.n)


@dataclass
class _TripCount:
    """What the loop's setup computed: the iteration count n, each collapsed loop's trip
    count (rectangular nests) or the rows helper's table and search hint (non-rectangular:
    pyomp.nonrect), and the variable the loop header reads its iterator from."""

    n: ir.Var
    header_iter: ir.Var
    counts: list = field(default_factory=list)
    rows_var: ir.Var | None = None
    hint: ir.Var | None = None
    # a composite distribute's chunks of this team (pyomp.leagues): the plan tuple
    # (local count, chunk, team, teams, holds the last iteration)
    chunks: ir.Var | None = None


def _emit_trip_count(func_ir, levels, region_id, rows, dispatch, loc, owns_last=None,
                     region_of_setup=None):
    """The setup block: n = trip_count(...) (a product over a collapsed nest, or the rows
    helper's count); loop_init(id, n); jump dispatch.  The range(...) iterator it made is
    gone."""
    blocks = func_ir.blocks
    outer = levels[0]
    old_setup = blocks[outer.setup]
    iter_var = old_setup.body[outer.index].target
    # Numba copies the iterator into the variable the header reads (`$phi = $iter`).
    copies = [s.target for s in old_setup.body[outer.index + 1:]
              if isinstance(s, ir.Assign) and isinstance(s.value, ir.Var)
              and s.value.name == iter_var.name]
    header_iter = copies[0] if copies else iter_var
    old_setup.body = old_setup.body[:outer.index]
    emit = _Emit(old_setup, loc)
    zero, one = emit.const(0), emit.const(1)
    if rows is not None:
        # non-rectangular: the rows helper walks the outer loops (nonrect.py)
        helper, free = rows
        rows_var = emit.call("nest_rows", helper,
                             [ir.Var(old_setup.scope, name, loc) for name in free])
        count = _TripCount(emit.assign(ir.Expr.static_getitem(rows_var, 0, None, loc)),
                           header_iter, rows_var=rows_var, hint=emit.const(0))
    else:
        # Inner loops' bounds do not depend on outer loop variables: compute them here.
        for level in levels[1:]:
            block = blocks[level.setup]
            old_setup.body.extend(block.body[1:level.index])
            del block.body[1:level.index]
            level.index = 1
        counts = []
        for level in levels:
            start, stop, step = _bounds(level.args)
            counts.append(emit.call("trip_count", trip_count,
                                    [start or zero, stop, step or one]))
        n = counts[0]
        for c in counts[1:]:
            n = emit.assign(ir.Expr.binop(operator.mul, n, c, loc))
        count = _TripCount(n, header_iter, counts=counts)
    chunk = getattr(region_of_setup, "distribute_chunk", None)
    if chunk is not None:  # the team's round-robin chunks only (pyomp.leagues)
        from .leagues import chunk_plan
        count.chunks = emit.call("chunk_plan", chunk_plan, [count.n, chunk])
        count.n = emit.assign(ir.Expr.static_getitem(count.chunks, 0, None, loc))
        owns_last = owns_last and emit.assign(
            ir.Expr.static_getitem(count.chunks, 4, None, loc))
    emit.call("loop_init", loop_init, [emit.const(region_id), count.n])
    if owns_last is not None:  # (a composite distribute's lastprivate: pyomp.leagues)
        emit.call("loop_last_owner", loop_last_owner, [emit.const(region_id), owns_last])
    old_setup.body.append(ir.Jump(dispatch, loc))
    return count


def _emit_dispatch(blocks, region_id, dispatch, inner, done, scope, loc):
    """dispatch: more, lo, hi = loop_next(id); branch more, inner, done.  Returns (lo, hi),
    this thread's chunk [lo, hi) of iteration numbers."""
    blocks[dispatch] = ir.Block(scope, loc)
    emit = _Emit(blocks[dispatch], loc)
    chunk = emit.call("loop_next", loop_next, [emit.const(region_id)])
    more = emit.assign(ir.Expr.static_getitem(chunk, 0, None, loc))
    lo = emit.assign(ir.Expr.static_getitem(chunk, 1, None, loc))
    hi = emit.assign(ir.Expr.static_getitem(chunk, 2, None, loc))
    blocks[dispatch].body.append(ir.Branch(more, inner, done, loc))
    return lo, hi


def _emit_chunk_start(blocks, inner, header, header_iter, lo, hi, scope, loc):
    """inner: the header's iterator becomes range(hi - lo), counted from 0 (with lo >= 0
    known to LLVM, indexing by lo + k then needs no wraparound check: it vectorises)."""
    blocks[inner] = ir.Block(scope, loc)
    emit = _Emit(blocks[inner], loc)
    rng = emit.assign(ir.Global("range", range, loc))
    count = emit.assign(ir.Expr.binop(operator.sub, hi, lo, loc))
    chunk_range = emit.assign(ir.Expr.call(rng, [count], (), loc))
    chunk_iter = emit.assign(ir.Expr.getiter(chunk_range, loc))
    blocks[inner].body.append(ir.Assign(value=chunk_iter, target=header_iter, loc=loc))
    blocks[inner].body.append(ir.Jump(header, loc))


def _emit_loop_end(blocks, region_id, done, exit_label, scope, loc):
    """done: loop_fini(id); continue after the loop."""
    blocks[done] = ir.Block(scope, loc)
    emit = _Emit(blocks[done], loc)
    emit.call("loop_fini", loop_fini, [emit.const(region_id)])
    blocks[done].body.append(ir.Jump(exit_label, loc))


def _loop_variables(body_block, first, levels, count, linear, lo, loc):
    """The statements that start each iteration (in place of the loop's own `i = next`,
    `first`): the iteration number lo + k gives each loop variable (innermost fastest),
    i = start + number * step for one loop, and each linear variable its value."""
    emit = _Emit(ir.Block(body_block.scope, loc), loc)
    k = emit.assign(first.value)
    number = emit.assign(ir.Expr.binop(operator.add, lo, k, loc))
    if count.chunks is not None:  # the team's n-th iteration -> the loop's
        from .leagues import chunk_index
        number = emit.call("chunk_index", chunk_index, [number, count.chunks])
    if count.rows_var is not None:
        at = emit.call("nest_at", nest_at, [count.rows_var, number, count.hint])
        emit.block.body.append(ir.Assign(ir.Expr.static_getitem(at, 0, None, loc), count.hint,
                                         loc))
        outer_values = emit.assign(ir.Expr.static_getitem(at, 1, None, loc))
        for depth, level in enumerate(levels):
            value = (emit.assign(ir.Expr.static_getitem(at, 2, None, loc))
                     if depth == len(levels) - 1 else
                     emit.assign(ir.Expr.getitem(outer_values, emit.const(depth), loc)))
            var = ir.Var(body_block.scope, level.var, loc)
            emit.block.body.append(ir.Assign(value=value, target=var, loc=first.loc))
    for depth in range(len(levels) - 1, -1, -1) if count.rows_var is None else ():
        level = levels[depth]
        if depth:
            index = emit.assign(ir.Expr.binop(operator.mod, number, count.counts[depth], loc))
            number = emit.assign(ir.Expr.binop(operator.floordiv, number, count.counts[depth],
                                               loc))
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
    return emit.block.body


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

