"""The loop (or `collapse(n)` nest) of a worksharing loop or taskloop in Numba IR, checked:
one `for ... in range(...)` loop in canonical form, nothing else in the construct's block,
collapsed loops perfectly nested (their bounds may use outer loop variables: a
non-rectangular nest, pyomp.nonrect).
"""

from __future__ import annotations

from numba.core import ir

from .errors import (
    ParallelForExtraCode,
    ParallelForInvalidCollapseCount,
    ParallelForWrongLoopCount,
    pyomp_says,
)
from .located import written_construct
from .sharing import is_generated, is_user_var


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
            f"a '{written_construct(region.directive)}' construct must contain exactly one "
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
            f"a '{written_construct(region.directive)}' construct must contain exactly one "
            f"loop; "
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
                    and stmt.target.name == loop_var and not is_generated(stmt):
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
             if not is_generated(s)  # (pyomp.leagues' loop setup)
             and (isinstance(s, ir.Assign)
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
