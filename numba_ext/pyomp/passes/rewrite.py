"""Front-end pass 8: the rewrites of Numba IR the Rust pass builds on.

Each worksharing loop and taskloop becomes a loop over the chunks the runtime hands out
(pyomp.loops; a non-rectangular nest through a rows helper, pyomp.nonrect; `linear`
variables read before the loop); each taskloop chunk's loop becomes a task region of its
own; threadprivate variables become per-thread storage (pyomp.threadprivate).  Each
region gets its id (the markers' `id`).
"""

import dataclasses
import itertools
import operator

from numba.core import analysis, ir

from .. import loops, markers, nonrect, regions, sharing, threadprivate
from ..directives.model import Clause, Var
from ..errors import PyompError, UnsupportedConstructError
from ..located import locator

_region_ids = itertools.count(1)

#: taskloop clauses that belong to its tasks.
_TASK_PART = frozenset({"private", "firstprivate", "shared", "default", "if", "final",
                        "priority", "untied", "mergeable", "reduction", "in_reduction",
                        "lastprivate"})



def run(state):
    func_ir = state.func_ir
    chunk_tasks = []
    for region in state.regions:
        region.region_id = next(_region_ids)
        levels = state.loop_of.get(id(region))
        if region.directive.construct == "taskloop":
            chunk = loops.rewrite(func_ir, region, region.region_id, levels)
            chunk_tasks.append((region, chunk))
        if region.directive.construct == "for":
            linear = _linear_starts(func_ir, region, levels, state.defined, state.local_names)
            rows = (nonrect.build_rows_helper(func_ir, levels, state.local_names,
                                              locator(region))
                    if any(level.dependent for level in levels) else None)
            loops.rewrite(func_ir, region, region.region_id, levels, linear,
                          ordered=region.directive.has("ordered"), rows=rows)
    # (after the loop rewrites: they hold statement positions in the loops' blocks)
    _threadprivate_storage(state)
    if chunk_tasks:
        defined = _definitely_defined(func_ir)
        for region, chunk in chunk_tasks:
            task = _chunk_task(func_ir, region, chunk, defined, state.local_names)
            state.regions.insert(state.regions.index(region) + 1, task)
        state.defined = _definitely_defined(func_ir)


def _definitely_defined(func_ir):
    return regions.definitely_defined(func_ir, analysis.compute_cfg_from_blocks(func_ir.blocks))


def _threadprivate_storage(state):
    """Each threadprivate variable gets its per-thread storage; the parallel regions that
    use it read and write that storage (with copyin, from the primary thread's)."""
    stores = {}
    for decl in state.declarations:
        for var in decl.directive.threadprivate_vars:
            stores[(id(decl), var.name)] = threadprivate.declare(state.func_ir, decl, var.name)
    for region in state.regions:
        for name, (decl, copyin) in state.private_to_threads.get(id(region), {}).items():
            threadprivate.rewrite_region(state.func_ir, region, name, stores[(id(decl), name)],
                                         copyin)


def _linear_starts(func_ir, region, levels, defined, local_names):
    """For `linear(x: step)`: read x and evaluate the step before the construct (into
    temporaries); returns [(x, start, step)] for the loop body to set x = start + k * step
    at iteration k."""
    d = region.directive
    loop_vars = {level.var for level in levels}
    head = func_ir.blocks[region.head]
    found = []
    for clause in d.clauses_named("linear"):
        located = locator(region)
        if clause.modifiers:
            raise located(UnsupportedConstructError(
                f"linear modifier '{clause.modifiers[0]}' is not implemented by this version "
                "of pyomp", directive=d.text, span=clause.span))
        for var in clause.vars:
            if var.name in loop_vars:
                continue  # the loop variable is linear already
            if var.name not in defined[region.head]:
                raise located(PyompError(
                    f"linear variable '{var.name}' has no value before the loop",
                    directive=d.text, span=var.span))
            builder = markers.StatementBuilder(func_ir, head, region.loc)
            start = builder.assign(ir.Var(head.scope, var.name, region.loc), "$pyomp_linear")
            step = (markers.clause_operand(builder, func_ir, clause.expr, local_names, located)
                    if clause.expr is not None
                    else builder.assign(ir.Const(1, region.loc), "$pyomp_linear"))
            index = next(i for i, s in enumerate(head.body) if s is region.stmt)
            head.body[index:index] = builder.stmts
            found.append((var.name, start, step))
    return found


def _chunk_task(func_ir, region, chunk, defined, local_names):
    """The task a taskloop creates for each chunk: a region around the chunk loop of the
    rewritten loop, with the taskloop's data clauses, its chunk bounds captured."""
    blocks = func_ir.blocks
    d = region.directive
    loop_private = _loop_vars_private(d, [var for var, _, _ in region.range_args])
    task_directive = dataclasses.replace(
        d, construct="task",
        clauses=tuple(c for c in d.clauses if c.name in _TASK_PART) + loop_private)
    inner = blocks[chunk.inner]
    # The task ends where its chunk does: a block of its own between the chunk loop's
    # header and the next dispatch (which the first dispatch also reaches).
    end = max(blocks) + 1
    header = blocks[chunk.header].terminator
    blocks[end] = ir.Block(inner.scope, header.loc)
    blocks[end].body.append(ir.Jump(chunk.dispatch, header.loc))
    header.falsebr = end
    region.blocks.add(end)
    task = regions.Region(head=chunk.inner, body=chunk.header, pop=end, exit=end,
                          blocks=chunk.chunk_blocks(blocks) - {end},
                          stmt=inner.body[0], directive=task_directive, parent=region)
    if task_directive.has("lastprivate"):
        # The task whose chunk ends the loop ran its sequentially last iteration: it copies
        # its lastprivate values out when it ends. The flag is computed when the task is
        # created and handed to the pass as an operand of the task's enter marker.
        flag = ir.Var(inner.scope, inner.scope.redefine("$pyomp_last", header.loc).name,
                      header.loc)
        inner.body.insert(0, ir.Assign(ir.Expr.binop(operator.eq, chunk.hi, chunk.n,
                                                     header.loc), flag, header.loc))
        task.last_flag = flag
    around = region.parent
    while around is not None and around.directive.construct not in ("parallel", "task"):
        around = around.parent
    task.sharing = sharing.decide_task(
        func_ir, task, around.sharing if around is not None else None,
        defined[task.head], locator(region))
    for var in (v for clause in loop_private for v in clause.vars):
        task.sharing[var.name].why = "the loop variable of the taskloop (predetermined)"
    # What the chunk loop reads of the creator's temporaries (the chunk's bounds, the
    # collapsed loops' trip counts) is captured too: the creator goes on and reuses them.
    made = {s.target.name for label in task.blocks for s in blocks[label].body
            if isinstance(s, ir.Assign)}
    read = {v.name for label in task.blocks for s in blocks[label].body
            for v in s.list_vars() if not sharing.is_user_var(v.name)}
    for name in sorted(read - made) + [chunk.lo.name, chunk.hi.name, chunk.n.name]:
        task.sharing[name] = sharing.VarSharing(name, "firstprivate",
                                                "the task's chunk of the taskloop")
    task.region_id = next(_region_ids)
    task.call = None
    return task


def _loop_vars_private(directive, loop_vars):
    """A `private` clause for the taskloop's loop variables no clause names: they are
    predetermined private in its tasks (OpenMP 5.2, 5.1.1), whatever default(...) says
    (default(none) must not ask for them; default(shared) must not share them)."""
    named = {v.name for c in directive.clauses if c.name in sharing.CLAUSE_SHARING
             for v in c.vars}
    unnamed = tuple(Var(name, directive.span) for name in loop_vars if name not in named)
    return (Clause("private", directive.span, vars=unnamed),) if unnamed else ()
