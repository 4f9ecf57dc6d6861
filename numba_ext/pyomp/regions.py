"""The blocks of each `with openmp(...)` in Numba IR, and the checks on their shape.

A region is single-entry, single-exit, as OpenMP requires of a structured block: control
enters at the `with` and leaves through its end.  `return`, `break` and `continue` out of a
region are compile-time errors (as in C).  An exception raised inside a region is an exit
the Rust pass handles (it propagates after the region).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from numba.core import ir

from .errors import PyompError, UnsupportedConstructError

#: A `with` block inside a `try` statement (pyomp.flow reports it while reading bytecode).
WITH_IN_TRY = (
    "a `with` block (an OpenMP construct or region, `numba.objmode`, ...) inside a `try` "
    "statement is not supported: Numba does not follow a `try` around a `with` block, so "
    "an exception raised in the block would not reach the `except`/`finally`; put the "
    "`try` inside the `with` block, or move the `with` block out of the `try`")


@dataclass(eq=False)
class Region:
    """One `with openmp(...)` block of a function's Numba IR."""

    head: int  # block holding the `enter_with`
    body: int  # first block of the region
    pop: int  # block holding the `pop_block` (last block of the region)
    exit: int  # first block after the region
    blocks: set = field(default_factory=set)  # labels of the region's blocks
    stmt: ir.EnterWith | None = None
    directive: object = None  # pyomp.directives.Directive
    parent: Region | None = None
    children: list = field(default_factory=list)
    binds: Region | None = None  # cancel / cancellation point: the construct it cancels
    cancellable: bool = False  # a worksharing construct a `cancel` inside may cancel
    ends_team: bool = False  # a worksharing construct at its parallel region's end (split)
    last_flag: ir.Var | None = None  # a taskloop's chunk task: true for the last chunk
    record: ir.Var | None = None  # target / target data: its device record (pyomp.targets)
    distribute: bool = False  # a `for` that is a `distribute` over a league (pyomp.leagues)
    device_plan: list = field(default_factory=list)  # target: (variable, how it is mapped)
    owns_last: ir.Var | None = None  # a composite distribute's loop: its team has the last
    #                                  iteration (pyomp.leagues, for lastprivate)
    distribute_chunk: ir.Var | None = None  # ... under a separate teams: dist_schedule's chunk
    # the parallel leaf of a combined construct: {variable: (sharing, why)} its other
    # leaves' clauses decide (pyomp.combined)
    implied: dict = field(default_factory=dict)

    @property
    def loc(self):
        return self.stmt.loc


def _successors(block):
    return block.terminator.get_targets() if block.terminator is not None else []


_ESCAPE = ("control leaves the OpenMP region other than through its end (a `break`, "
           "`continue` or `return` inside `with openmp(...)`); OpenMP regions are "
           "structured blocks with one entry and one exit")


def find_region(func_ir, head, stmt, located, nested=None):
    """The region that starts at block `head` (its `enter_with` is `stmt`).

    `located(err)` adds the source location to an error; `nested(label)` returns the
    region of another `with openmp` whose head is block `label` (regions nest: the walk
    steps over a nested region to its exit, so its `pop_block` is not taken for ours).
    The region is what is reachable from the body without passing the block after its
    `pop_block`.  Leaving it any other
    way (break, continue, return) shows up as a region block that cannot reach the
    `pop_block`, or as a path back to the `with` itself.
    """
    blocks = func_ir.blocks
    successors = _successors(blocks[head])
    if len(successors) != 1:  # Numba's exception check after the `with` itself
        raise located(UnsupportedConstructError(WITH_IN_TRY))
    (body,) = successors
    region_blocks, pops = set(), []
    stack = [body]
    while stack:
        label = stack.pop()
        if label in region_blocks:
            continue
        if label == head:
            raise located(PyompError(_ESCAPE))
        block = blocks[label]
        region_blocks.add(label)
        enters = [s for s in block.body if isinstance(s, ir.EnterWith)]
        if enters:
            inner = nested(label) if nested is not None else None
            if inner is None:
                # Another `with` (numba.objmode, a user's context): its `pop_block` ends it,
                # not ours; its blocks are ours (Numba's with-lifting handles it later).
                inner = find_region(func_ir, label, enters[0], located, nested)
            region_blocks |= inner.blocks
            stack.append(inner.exit)
            continue
        if any(isinstance(s, ir.PopBlock) for s in block.body):
            pops.append(label)
            continue  # the pop_block's successor is the region's exit
        stack.extend(_successors(block))
    # A region block that returns was reached without passing the region's end: control
    # escaped.  Python leaves a `with` by `return` through a pop_block followed directly by
    # the return (the shape Numba's with-lifting rewrites), which names the culprit.
    returns = [label for label in region_blocks if isinstance(blocks[label].terminator, ir.Return)]
    pop_then_return = any(isinstance(blocks[_successors(blocks[p])[0]].terminator, ir.Return)
                          for p in pops)
    if (returns and (pop_then_return or not pops)) or \
            (len(pops) > 1 and _returns_from_inside(blocks, region_blocks, pops, stmt)):
        raise located(PyompError(
            "`return` inside an OpenMP region is not allowed (a region has one exit); "
            "assign the result to a variable and return after the `with` block"))
    if not pops:
        raise located(PyompError(
            "every path through this OpenMP region raises an exception, so the region never "
            "reaches its end; pyomp needs a reachable end (raise under a condition)"))
    if len(pops) != 1 or returns:
        raise located(PyompError(_ESCAPE))
    (pop,) = pops
    _check_all_reach(blocks, region_blocks, pop, located)
    (exit_label,) = _successors(blocks[pop])
    return Region(head=head, body=body, pop=pop, exit=exit_label, blocks=region_blocks,
                  stmt=stmt)


def _returns_from_inside(blocks, region_blocks, pops, stmt):
    """Whether one of a region's several pop_blocks is a `return` inside the block.

    Python 3.10 compiles `return` inside a `with` block as a copy of the block's end
    (POP_BLOCK, the `__exit__` call) and the return, on the `with` statement's line: a
    pop_block followed by a return on a line of the region (the return after the block is
    on a later line)."""
    lines = {s.loc.line for label in region_blocks for s in blocks[label].body
             if s.loc is not None and s.loc.line is not None}
    lines.add(stmt.loc.line)
    first, last = min(lines), max(lines)
    for p in pops:
        term = blocks[_successors(blocks[p])[0]].terminator
        if isinstance(term, ir.Return) and term.loc is not None \
                and first <= term.loc.line <= last:
            return True
    return False


def _check_all_reach(blocks, region_blocks, pop, located):
    """Every region block reaches the end of the region (or raises)."""
    reaches = {pop}
    changed = True
    while changed:
        changed = False
        for label in region_blocks - reaches:
            term = blocks[label].terminator
            if isinstance(term, (ir.Raise, ir.StaticRaise, ir.TryRaise, ir.StaticTryRaise)) \
                    or any(t in reaches for t in _successors(blocks[label])):
                reaches.add(label)
                changed = True
    if region_blocks - reaches:
        raise located(PyompError(_ESCAPE))


def nest(regions):
    """Sets parent/children by block containment; returns the outermost regions."""
    ordered = sorted(regions, key=lambda r: len(r.blocks))
    for i, inner in enumerate(ordered):
        for outer in ordered[i + 1:]:
            if inner.head in outer.blocks:
                inner.parent = outer
                outer.children.append(inner)
                break
    return [r for r in regions if r.parent is None]


def definitely_defined(func_ir, cfg):
    """For each block, the variables assigned on every path from the function entry."""
    blocks = func_ir.blocks
    defs = {label: {s.target.name for s in b.body if isinstance(s, ir.Assign)}
            for label, b in blocks.items()}
    everything = set().union(*defs.values()) if defs else set()
    entry = cfg.entry_point()
    out = {label: set(everything) for label in blocks}
    into = {label: set() for label in blocks}
    out[entry] = defs[entry]
    changed = True
    while changed:
        changed = False
        for label in cfg.topo_order():
            preds = [p for p, _ in cfg.predecessors(label)]
            new_in = set.intersection(*(out[p] for p in preds)) if preds else set()
            new_out = new_in | defs[label]
            if new_in != into[label] or new_out != out[label]:
                into[label], out[label] = new_in, new_out
                changed = True
    return into


def enclosing_parallel(region):
    """The innermost `parallel` region around `region` (None for an orphaned construct)."""
    r = region.parent
    while r is not None and r.directive.construct != "parallel":
        r = r.parent
    return r
