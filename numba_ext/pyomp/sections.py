"""`sections`: the blocks of its `section`s become the iterations of a worksharing loop.

    with openmp("sections"):                  with openmp("for"):
        with openmp("section"):                   for _pyomp_section in range(2):
            A                          ->             if _pyomp_section == 0: A
        with openmp("section"):                       elif _pyomp_section == 1: B
            B

so sections get the loop's scheduling, data sharing, reductions, lastprivate (the
lexically last section, the last iteration) and barrier, written once.
"""

from __future__ import annotations

import dataclasses
import operator

from numba.core import ir

from .errors import PyompError

SECTION_VAR = "_pyomp_section"


def rewrite(func_ir, region, children, located):
    """Rewrites the `sections` region (with its `section` regions `children`) in place
    into a range loop dispatching on the section number; returns the new directive."""
    blocks = func_ir.blocks
    children = sorted(children, key=lambda r: r.head)
    if not children:
        raise located(PyompError("a 'sections' construct needs at least one "
                                 "`with openmp(\"section\")` block"))
    _check_only_sections(func_ir, region, children, located)
    scope, loc = blocks[region.body].scope, region.loc
    top = max(blocks) + 1
    setup, header, body = region.body, top, top + 1
    tests = [top + 2 + i for i in range(len(children))]

    def var(prefix):
        return ir.Var(scope, scope.redefine(prefix, loc).name, loc)

    def assign(block, value, prefix="$pyomp_sections"):
        target = var(prefix)
        block.body.append(ir.Assign(value=value, target=target, loc=loc))
        return target

    old = set(region.blocks)
    # setup: the iterator over range(number of sections)
    blk = blocks[setup] = ir.Block(scope, loc)
    rng = assign(blk, ir.Global("range", range, loc))
    count = assign(blk, ir.Const(len(children), loc))
    it = assign(blk, ir.Expr.getiter(assign(blk, ir.Expr.call(rng, [count], (), loc)), loc))
    phi = assign(blk, it)
    blk.body.append(ir.Jump(header, loc))
    # header: the next section number, or the end of the sections
    blk = blocks[header] = ir.Block(scope, loc)
    pair = assign(blk, ir.Expr.iternext(phi, loc))
    value = assign(blk, ir.Expr.pair_first(pair, loc))
    more = assign(blk, ir.Expr.pair_second(pair, loc))
    blk.body.append(ir.Branch(more, body, region.pop, loc))
    # body: which section
    blk = blocks[body] = ir.Block(scope, loc)
    number = ir.Var(scope, SECTION_VAR, loc)
    blk.body.append(ir.Assign(value=value, target=number, loc=loc))
    blk.body.append(ir.Jump(tests[0], loc))
    for i, child in enumerate(children):
        blk = blocks[tests[i]] = ir.Block(scope, loc)
        const = assign(blk, ir.Const(i, loc))
        same = assign(blk, ir.Expr.binop(operator.eq, number, const, loc))
        otherwise = tests[i + 1] if i + 1 < len(children) else header
        blk.body.append(ir.Branch(same, child.body, otherwise, loc))
        # the section's end goes back for the next section number
        pop = blocks[child.pop]
        pop.body = [s for s in pop.body if not isinstance(s, ir.PopBlock)]
        pop.body[-1] = ir.Jump(header, loc)
    new = {setup, header, body, *tests}
    kept = {label for child in children for label in child.blocks}
    deleted = old - kept - new - {region.pop}
    for label in deleted:
        del blocks[label]
    region.blocks = kept | new | {region.pop}
    parent = region.parent
    while parent is not None:  # enclosing regions hold these blocks too
        parent.blocks = (parent.blocks - deleted) | new
        parent = parent.parent
    construct = "parallel for" if region.directive.construct == "parallel sections" else "for"
    return dataclasses.replace(region.directive, construct=construct)


def _check_only_sections(func_ir, region, children, located):
    """Nothing but `section` blocks may stand directly in `sections`."""
    inside = set().union(*(c.blocks | {c.head} for c in children))
    for label in region.blocks - inside:
        for stmt in func_ir.blocks[label].body:
            user = isinstance(stmt, ir.Assign) and not stmt.target.name.startswith("$")
            if user or isinstance(stmt, (ir.SetItem, ir.StaticSetItem, ir.SetAttr, ir.Print)):
                raise located(PyompError(
                    f"statement outside any `section` in a 'sections' construct (line "
                    f"{stmt.loc.line}); put it in a `with openmp(\"section\")` block"))
