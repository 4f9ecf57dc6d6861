"""Front-end pass 5: each combined construct (`parallel for`, `parallel masked taskloop`,
...) becomes one region per leaf construct over the same blocks, each with the clauses
OpenMP 5.2 gives it (pyomp.combined); `cancel` and nested regions re-bind to the leaf
they belong to.  state.regions: every region left to mark, outermost first.
"""

import dataclasses
import itertools

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
