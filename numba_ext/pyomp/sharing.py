"""Data-sharing decisions for the variables of an OpenMP region (what Clang's Sema does).

Python has no declarations, so like PyOMP the defaults follow use (liveness), decided on
Numba IR where Python's variables are still visible:

1. read in the region, not assigned there: shared;
2. assigned in the region and read after it: shared;
3. assigned in the region and not read after it: private (firstprivate when the region
   reads it before assigning it, so the read sees the value from before the region);
4. the loop variable of a worksharing loop: private.

Explicit clauses override the defaults; `default(none)` makes every unlisted variable an
error.  The Rust pass implements the decisions on the allocas these variables became.
"""

from __future__ import annotations

from dataclasses import dataclass

from numba.core import ir

from .errors import UnspecifiedVarInDefaultNone, pyomp_says

#: clause name -> the data-sharing attribute it gives its variables.
CLAUSE_SHARING = {
    "private": "private",
    "firstprivate": "firstprivate",
    "shared": "shared",
    "reduction": "reduction",
    "lastprivate": "lastprivate",
    # linear(x): private, set from the iteration number each iteration, and its value from
    # the sequentially last iteration is kept (pyomp.loops sets it; this copies it out).
    "linear": "lastprivate",
    # copyprivate(x) on `single`: x stays the thread's own variable; after the block the
    # value of the thread that ran it is copied into every thread's x.
    "copyprivate": "copyprivate",
    # in_reduction(op: x) on a task: the task's private copy starts at the identity and is
    # combined into x when the task ends, so x holds the whole reduction by the end of the
    # taskgroup whose task_reduction(op: x) the task joins (that clause itself needs
    # nothing more: its tasks combine straight into the shared x).
    "in_reduction": "reduction",
}


@dataclass
class VarSharing:
    name: str
    sharing: str  # shared | private | firstprivate | reduction | lastprivate | copyprivate
    why: str
    op: str | None = None  # reduction operator
    section: tuple | None = None  # reduction of an array section: (lo, hi) Exprs or None
    first: bool = False  # lastprivate and firstprivate: the copy starts with x's value
    borrowed: bool = False  # a task's capture that needs no reference of its own
    explicit: bool = False  # named in a clause, or default(private|firstprivate): an array
    #                         is then copied (array_copies.py)


def clause_decisions(directive, skip_shared=False):
    """name -> VarSharing for the variables the directive's data-sharing clauses name.
    A variable both firstprivate and lastprivate (the one pair OpenMP allows) is a
    lastprivate whose private copy starts with the original's value."""
    explicit = {}
    for clause in directive.clauses:
        sharing = CLAUSE_SHARING.get(clause.name)
        if sharing is None or (skip_shared and sharing == "shared"):
            continue
        for var in clause.vars:
            before = explicit.get(var.name)
            if before is not None and {before.sharing, sharing} == {"firstprivate",
                                                                    "lastprivate"}:
                explicit[var.name] = VarSharing(var.name, "lastprivate",
                                                "clauses firstprivate and lastprivate",
                                                first=True, explicit=True)
                continue
            explicit[var.name] = VarSharing(var.name, sharing, f"clause {clause.name}",
                                            op=clause.op, section=var.section,
                                            explicit=True)
    return explicit


def is_user_var(name):
    return not name.startswith("$") and not name.startswith(".")


def mark_generated(stmt):
    """Marks a statement the front end wrote, not the user: a target's host value taken
    back after it (pyomp.targets), a composite distribute's loop setup (pyomp.leagues).
    Its assignment is no write the data sharing, the race check or the canonical-loop
    check count (its reads are reads like any other)."""
    stmt.pyomp_generated = True
    return stmt


def is_generated(stmt):
    return getattr(stmt, "pyomp_generated", False)


def region_uses_and_defs(func_ir, labels):
    """(read, assigned) sets of user variable names in the given blocks.

    A closure (an inner `def` or `lambda`) is code, not data: using it reads the
    variables it captures, and neither it nor an assignment of it counts (see
    `closure_captures`)."""
    closures = closure_captures(func_ir)
    reads, writes = set(), set()
    for label in labels:
        for stmt in func_ir.blocks[label].body:
            reads.update(n for n in _read_names(stmt, closures) if is_user_var(n))
            if isinstance(stmt, ir.Assign) and is_user_var(stmt.target.name) \
                    and stmt.target.name not in closures and not is_generated(stmt):
                writes.add(stmt.target.name)
    return reads, writes


def closure_captures(func_ir):
    """name -> the names of the variables it captures, for each variable of the function
    whose every value is a closure made in the function (`make_function`).

    Numba inlines a closure at each call (its captured variables become plain reads of the
    caller's variables there) and otherwise makes it a jitted function of its own; the
    closure's value is no data a region shares or privatises. Its captured variables are
    what the region reads through it: as marker operands they keep their values, while the
    closure passed to a region marker would escape, and Numba can only capture constants in
    an escaping closure ("Cannot capture the non-constant value")."""
    found = {}
    for name, values in func_ir._definitions.items():
        if not values or not all(isinstance(v, ir.Expr) and v.op == "make_function"
                                 for v in values):
            continue
        captured = set()
        for value in values:
            cells = value.closure
            while isinstance(cells, ir.Var):  # the tuple of cells, maybe through copies
                defs = func_ir._definitions.get(cells.name, ())
                cells = defs[0] if len(defs) == 1 else None
            if isinstance(cells, ir.Expr) and cells.op == "build_tuple":
                captured.update(v.name for v in cells.items if isinstance(v, ir.Var))
        found[name] = captured
    return found


def _read_names(stmt, closures):
    """The names of the variables a statement reads, a closure standing for what it
    captures."""
    for var in _read_vars(stmt):
        if var.name in closures:
            yield from closures[var.name]
        else:
            yield var.name


def _read_vars(stmt):
    """The variables a statement reads (an assignment's target is not read)."""
    if isinstance(stmt, ir.Assign):
        value = stmt.value
        if isinstance(value, ir.Var):
            return [value]
        return value.list_vars() if isinstance(value, ir.Expr) else []
    return stmt.list_vars()


def reads_before_write(func_ir, region, name):
    """Whether some path through the region reads `name` before assigning it."""
    blocks = func_ir.blocks
    closures = closure_captures(func_ir)
    seen, stack = set(), [region.body]
    while stack:
        label = stack.pop()
        if label in seen or label not in region.blocks:
            continue
        seen.add(label)
        assigned = False
        for stmt in blocks[label].body:
            if name in _read_names(stmt, closures):
                return True
            if isinstance(stmt, ir.Assign) and stmt.target.name == name:
                assigned = True
                break
        if not assigned and blocks[label].terminator is not None:
            stack.extend(blocks[label].terminator.get_targets())
    return False


def decide_worksharing(region, loop_vars, read_after=()):
    """A worksharing loop's own attributes: its clauses and the private loop variables
    (lastprivate those in `read_after`: read after the region the loop binds, they end
    with the last iteration's value, as in serial Python); every other variable keeps the
    attribute of the enclosing parallel region."""
    decisions = {v: VarSharing(v, "private", "a loop variable (rule 4)") for v in loop_vars}
    for v in read_after:
        decisions[v] = VarSharing(v, "lastprivate", "a loop variable read after the region "
                                                    "(rule 4, as serial Python)")
    decisions.update(clause_decisions(region.directive, skip_shared=True))
    return decisions


def decide(func_ir, region, live_map, defined_at, located, forced=None, inner_reads=()):
    """The data-sharing decision for every user variable the region references.

    `forced`: name -> (attribute, reason) imposed by constructs inside the region;
    `inner_reads`: variables the clause expressions of constructs inside it read."""
    forced = forced or {}
    directive = region.directive
    reads, writes = region_uses_and_defs(func_ir, region.blocks)
    reads |= set(inner_reads)
    explicit = clause_decisions(directive)
    default = directive.clause("default")
    default_kind = default.kind if default is not None else "shared"
    live_after = live_map.get(region.exit, set())
    decisions, missing = {}, []
    for name in sorted(reads | writes | set(explicit)):
        if name in explicit:
            decisions[name] = explicit[name]
            continue
        if name in forced:
            decisions[name] = VarSharing(name, forced[name][0], forced[name][1])
            continue
        if default_kind == "none":
            missing.append(name)
            continue
        if default_kind in ("private", "firstprivate"):
            # as if listed in the clause: an array gets its own copy (array_copies.py)
            decisions[name] = VarSharing(name, default_kind, f"default({default_kind})",
                                         explicit=True)
        elif name not in writes:
            decisions[name] = VarSharing(name, "shared", "default: read-only in the region")
        elif name in live_after:
            decisions[name] = VarSharing(
                name, "shared", "default: assigned in the region and read after it")
        elif name in defined_at and reads_before_write(func_ir, region, name):
            decisions[name] = VarSharing(
                name, "firstprivate",
                "default: assigned in the region, not read after it, read before assigned")
        else:
            decisions[name] = VarSharing(
                name, "private", "default: assigned in the region, not read after it")
    if missing:
        names = ", ".join(f"'{n}'" for n in missing)
        raise located(UnspecifiedVarInDefaultNone(
            f"default(none) requires a data-sharing clause for every variable the region "
            f"uses; missing: {names}" + pyomp_says("Variables with no data env clause"),
            directive=directive.text, span=default.span))
    return decisions


def decide_task(func_ir, region, enclosing, defined_at, located, inner_reads=()):
    """A task's data sharing (OpenMP's rules for tasks): clauses first, then
    default(...); otherwise a variable the enclosing region shares stays shared (even one
    that has no value before the task), a variable that has no value before the task is
    the task's own (private), and any other
    is firstprivate: captured when the task is created.

    `enclosing`: the decisions of the innermost enclosing parallel region or task of
    this function (None for a task outside any: the function's variables are then
    firstprivate, as C's are in an orphaned task)."""
    directive = region.directive
    reads, writes = region_uses_and_defs(func_ir, region.blocks)
    reads |= set(inner_reads)
    explicit = clause_decisions(directive)
    default = directive.clause("default")
    default_kind = default.kind if default is not None else None
    decisions, missing = {}, []
    for name in sorted(reads | writes | set(explicit)):
        if name in explicit:
            decisions[name] = explicit[name]
        elif default_kind == "none":
            missing.append(name)
        elif default_kind is not None:
            decisions[name] = VarSharing(name, default_kind, f"default({default_kind})",
                                         explicit=default_kind != "shared")
        elif enclosing is not None and name in enclosing \
                and enclosing[name].sharing == "shared":
            # (also one that gets its first value in the task: the enclosing region shares
            # it because it is read after that region, as in PyOMP)
            decisions[name] = VarSharing(name, "shared",
                                         "task default: shared in the enclosing region")
        elif name not in defined_at:
            decisions[name] = VarSharing(name, "private", "task default: no value before it")
        else:
            decisions[name] = VarSharing(name, "firstprivate",
                                         "task default: captured when the task is created")
    if missing:
        names = ", ".join(f"'{n}'" for n in missing)
        raise located(UnspecifiedVarInDefaultNone(
            f"default(none) requires a data-sharing clause for every variable the task "
            f"uses; missing: {names}" + pyomp_says("Variables with no data env clause"),
            directive=directive.text, span=default.span))
    return decisions
