"""Front-end pass 5: each combined construct (`parallel for`, `parallel masked taskloop`,
...) becomes one region per leaf construct over the same blocks, each with the clauses
OpenMP 5.2 gives it (pyomp.combined); `cancel` and nested regions re-bind to the leaf
they belong to.  state.regions: every region left to mark, outermost first.
"""

import dataclasses
import itertools

from numba.core import ir

from .. import combined
from ..errors import PyompError
from ..located import locate


def run(state):
    all_regions = [part for region in state.withs if region not in state.replaced
                   for part in _split(region)]  # (Region compares by identity)
    for region in all_regions:  # a cancel binds to the split part of its construct
        bound = region.binds
        if bound is not None and not any(r is bound for r in all_regions):
            want = "parallel" if region.directive.cancel_type == "parallel" else "for"
            region.binds = next(r for r in all_regions
                                if r.stmt is bound.stmt and r.directive.construct == want)
        if bound is not None and region.directive.construct != "ordered" \
                and region.directive.cancel_type != "parallel":
            region.binds.cancellable = True
    for region in all_regions:  # re-link parents across split combined constructs
        region.parent = _innermost_part(region.parent, all_regions)
    for region in all_regions:
        region.ends_team = _ends_its_team(region, state.func_ir.blocks)
    state.regions = all_regions


def _split(region):
    """A combined construct (`parallel for`, `parallel masked taskloop`, ...) becomes one
    region per leaf construct over the same blocks, outermost first, each with the clauses
    OpenMP 5.2 applies to it (pyomp.combined). `simd` parts run as the plain loop: `for
    simd` is a `for`, and `simd` alone needs no region at all."""
    d = region.directive
    if d.construct == "simd":
        return []
    try:
        directives, implied = combined.split(d)
    except PyompError as err:
        raise locate(err, region.loc) from None
    if len(directives) == 1:
        region.directive = directives[0]
        return [region]
    parts = [dataclasses.replace(region, directive=leaf, children=[])
             for leaf in directives]
    for outer, inner in itertools.pairwise(parts):
        inner.parent, outer.children = outer, [inner]
    parts[0].implied = implied  # (the parallel leaf, when there is one: it is outermost)
    return parts


def _innermost_part(parent, all_regions):
    """The region a construct nested in `parent` stands in after the split: `parent`
    itself, or its innermost leaf when `parent` was a combined construct."""
    if parent is None or any(r is parent for r in all_regions):
        return parent
    parts = [r for r in all_regions if r.stmt is parent.stmt]
    return parts[-1] if parts else parent


#: Constructs whose implicit barrier the join barrier of their team can stand in for.
_BARRIER_ENDED = frozenset({"for", "sections", "single"})


def _ends_its_team(region, blocks):
    """Whether `region` is a worksharing construct whose end is its parallel region's end
    (the `for` of a `parallel for`, a `for` written last in a `parallel`): its implicit
    barrier would be followed at once by the region's join barrier, which does the same
    (every thread done, every write seen, every task finished), so it is left out, as Clang
    does for a combined `parallel for`. Not with copyprivate (its broadcast needs the
    barriers) or a `cancel` inside (the barrier is a cancellation point)."""
    parent, d = region.parent, region.directive
    if parent is None or parent.directive.construct != "parallel" \
            or d.construct not in _BARRIER_ENDED or d.has("copyprivate") \
            or region.cancellable:
        return False
    label = region.exit
    while label != parent.exit:  # only the `with` statements' ends in between
        block = blocks[label]
        if label not in parent.blocks or not all(map(_is_with_end, block.body[:-1])):
            return False
        targets = block.terminator.get_targets()
        if len(targets) != 1:
            return False
        label = targets[0]
    return True


def _is_with_end(stmt):
    """A statement of a `with` block's end: its pop_block, the exit call's constant
    arguments (Numba's `with` lowering), a del."""
    return isinstance(stmt, (ir.PopBlock, ir.Del)) or (
        isinstance(stmt, ir.Assign) and isinstance(stmt.value, ir.Const)
        and stmt.target.name.startswith("$"))
