"""Front-end pass 3: what each construct binds to, and OpenMP's nesting rules.

`loop` becomes the `for` or `simd` it binds as; `cancel` and `ordered` find the construct
they belong to; a barrier or worksharing construct not every thread of its team reaches,
a master block inside worksharing, a critical inside a critical of its name and any
construct inside `atomic` are errors.  A `prange` inside a region runs serially.
"""

import dataclasses

from .. import leagues, prange_calls
from ..errors import PyompError, UnsupportedConstructError
from ..located import locator


def run(state):
    withs = state.withs
    for region in withs:
        _bind_loop(region)
    prange_calls.serialise_prange_calls(state.func_ir, set().union(*(r.blocks for r in withs)))
    for region in withs:
        leagues.check_nesting(region, locator(region))
        _check_closely_nested(region)
        _check_nothing_inside_atomic(region)
    for region in withs:
        if region.directive.construct in ("cancel", "cancellation point"):
            _bind_cancel(region)
    for region in withs:
        if region.directive.construct == "ordered":
            region.binds = _check_ordered_nesting(region)


def _bind_loop(region):
    """`loop` runs as what it binds to (OpenMP 5.2, 11.7): bound to a teams region
    (`bind(teams)`, or closely nested in one; `teams loop`) it is the composite `distribute
    parallel for`; bound to a parallel region (`bind(parallel)`, or closely nested in one)
    it is that team's worksharing `for`, with the `for`'s barrier; bound to the thread
    (`bind(thread)`, or with no parallel region directly around it, as Clang decides) the
    encountering thread runs it alone, in order, as pyomp runs `simd`. `parallel loop` is
    `parallel for`."""
    d = region.directive
    if d.construct not in ("loop", "parallel loop", "teams loop", "target parallel loop",
                           "target teams loop"):
        return
    bind = d.clause("bind")
    kind = bind.kind if bind is not None else None
    prefix = d.construct[:-len("loop")]
    if kind == "thread" and prefix:
        raise locator(region)(UnsupportedConstructError(
            f"`bind(thread)` on '{d.construct}' contradicts its combined construct",
            directive=d.text, span=bind.span))
    parent = region.parent.directive.construct.split()[-1] if region.parent else None
    if prefix.endswith("teams "):
        construct = prefix + "distribute parallel for"
    elif prefix.endswith("parallel "):
        construct = prefix + "for"
    elif kind == "teams" or (kind is None and parent == "teams"):
        construct = "distribute parallel for"
    elif kind == "parallel" or (kind is None and parent == "parallel"):
        construct = "for"
    else:
        construct = "simd"
    region.directive = dataclasses.replace(d, construct=construct, clauses=tuple(
        c for c in d.clauses if c.name != "bind"))


def _bind_cancel(region):
    """`cancel <kind>` and `cancellation point <kind>` must stand directly in the construct
    they cancel (OpenMP's closely-nested rule): no other construct between them, so the
    jump to its end leaves nothing half done (a lock held, a turn not passed on)."""
    d = region.directive
    located = locator(region)
    kind = d.cancel_type
    if kind == "taskgroup":
        raise located(UnsupportedConstructError(
            "`cancel taskgroup` (and `cancellation point taskgroup`) is not implemented by "
            "this version of pyomp; `cancel parallel`, `for` and `sections` are implemented",
            directive=d.text, span=(0, len(d.text))))
    parent = region.parent
    if kind == "sections" and parent is not None and parent.directive.construct == "section":
        parent = parent.parent
    if parent is None or parent.directive.construct not in _CANCELLED_BY[kind]:
        where = (f"inside '{parent.directive.construct}' (line {parent.loc.line})"
                 if parent is not None else "outside any construct")
        raise located(PyompError(
            f"`{d.construct} {kind}` must stand directly inside a '{kind}' construct; this "
            f"one is {where}", directive=d.text, span=(0, len(d.text))))
    if kind != "parallel":
        for clause in ("nowait", "ordered"):
            if parent.directive.has(clause):
                raise located(PyompError(
                    f"a {kind} construct that can be cancelled cannot have the '{clause}' "
                    f"clause (line {parent.loc.line})", directive=d.text,
                    span=(0, len(d.text))))
    region.binds = parent


_CANCELLED_BY = {"parallel": ("parallel",),
                  "for": ("for", "parallel for", "for simd", "parallel for simd"),
                  "sections": ("sections", "parallel sections")}


_LOOP_CONSTRUCTS = frozenset({"for", "parallel for", "for simd", "parallel for simd",
                              "simd"})


def _ordered_loop(region):
    """The loop construct an `ordered` block binds to (None when there is none)."""
    r = region.parent
    while r is not None and r.directive.construct not in _LOOP_CONSTRUCTS:
        r = r.parent
    return r


def _check_ordered_nesting(region):
    """An `ordered` block binds to the innermost enclosing loop construct, which must
    carry the `ordered` clause; no region that changes who runs the code may stand between
    them (OpenMP's closely-nested rule).  Returns that loop construct."""
    located = locator(region)
    loop = _ordered_loop(region)
    if loop is None:
        raise located(PyompError(
            "an `ordered` block must be inside a worksharing loop that has the `ordered` "
            "clause (`with openmp(\"for ordered\"):`)"))
    between = region.parent
    if between is not None and between is not loop:
        raise located(PyompError(
            f"an `ordered` block cannot be nested inside '{between.directive.construct}' "
            f"(line {between.loc.line}); it must stand directly in the body of a loop with "
            "the `ordered` clause"))
    if loop.directive.construct != "simd" and not loop.directive.has("ordered"):
        raise located(PyompError(
            f"this `ordered` block is inside the loop of line {loop.loc.line}, whose "
            f"directive '{loop.directive.text}' has no `ordered` clause; add `ordered` to it"))
    return loop


#: Why the threads of a team do not all run the body of a construct together, per leaf
#: construct: a construct nested in it with no `parallel` between (closely nested) that
#: needs the whole team, or one given thread, cannot work there.
_NOT_THE_WHOLE_TEAM = {
    "for": "the threads run different iterations of its loop",
    "loop": "the threads run different iterations of its loop",
    "sections": "each of its sections runs on one thread",
    "section": "each section runs on one thread",
    "single": "only one thread runs its block",
    "master": "only the primary thread runs its block",
    "masked": "only the selected thread runs its block",
    "critical": "the threads run its block one at a time",
    "ordered": "the threads run its block one at a time, in iteration order",
    "task": "a task runs on one thread, whenever the runtime schedules it",
    "taskloop": "each of its tasks runs on one thread, whenever the runtime schedules it",
    "atomic": "its statement is one indivisible update",
}


#: OpenMP 5.2, 17.1: the regions a barrier or worksharing region (needs every thread of
#: the team) and a master/masked region (needs a given thread) may not be closely nested in.
_NO_TEAM_INSIDE = frozenset(_NOT_THE_WHOLE_TEAM)


_NO_MASKED_INSIDE = frozenset({"for", "loop", "sections", "section", "single", "task",
                               "taskloop", "atomic"})


def _check_nothing_inside_atomic(region):
    """No OpenMP construct may run inside an `atomic` block (its body is one update); one
    that also takes the atomics' lock (a nested `atomic`) would wait for itself forever."""
    outer = region.parent
    while outer is not None and outer.directive.construct != "atomic":
        outer = outer.parent
    if outer is not None:
        raise locator(region)(PyompError(
            f"'{region.directive.construct}' cannot be nested inside 'atomic' (line "
            f"{outer.loc.line}): an atomic block holds one update statement and no OpenMP "
            "construct"))


def _check_closely_nested(region):
    """OpenMP's nesting restrictions: a barrier or worksharing construct (for, sections,
    single) must be reached by all threads of a team or none, so it cannot be closely
    nested (no `parallel` between) in a construct whose body not every thread runs; master
    and masked not in worksharing or task constructs; a critical not in a critical of the
    same name (its thread would wait for itself)."""
    from ..directives.checks import leaves
    d = region.directive
    located = locator(region)
    construct = d.construct
    first = leaves(construct)[0]  # (`master taskloop` is first a master block)
    if first in ("barrier", "for", "sections", "single"):
        forbidden = _NO_TEAM_INSIDE
        what = ("a barrier" if construct == "barrier" else "a worksharing construct") + \
            " must be reached by all threads of the team or by none"
    elif first in ("master", "masked"):
        forbidden = _NO_MASKED_INSIDE
        what = f"a '{construct}' block is meant for one thread of the whole team"
    else:
        forbidden = None
    outer = region.parent
    while forbidden and outer is not None:
        parts = leaves(outer.directive.construct)
        bad = next((p for p in reversed(parts) if p in forbidden), None)
        if bad is not None:
            raise located(PyompError(
                f"'{construct}' cannot be nested inside '{bad}' (line {outer.loc.line}) "
                f"without a 'parallel' region between them: {what}, and "
                f"{_NOT_THE_WHOLE_TEAM[bad]}; move it out of the '{bad}' block (or open a "
                "nested `parallel` region around it)"))
        if parts[0] == "parallel":
            break
        outer = outer.parent
    if construct == "critical":
        outer = region.parent
        while outer is not None:
            if outer.directive.construct == "critical" and outer.directive.name == d.name:
                name = f"critical({d.name})" if d.name else "critical"
                raise located(PyompError(
                    f"'{name}' is nested inside a '{name}' (line {outer.loc.line}): the "
                    "thread holding its lock would wait for itself forever; give the inner "
                    "one a different name"))
            outer = outer.parent
