"""Front-end pass 7: each region's data-sharing decisions (pyomp.sharing), outer regions
first: a task reads the choices of the region around it.  Between them, the atomic
statements on variables become hardware atomics (they need the regions' choices).  Then
the checks that need the decisions (copyprivate, in_reduction, the task modifier) and
the race warnings (pyomp.races).
"""

from numba.core import ir

from .. import atomics, markers, private_writes, races, regions, sharing
from ..errors import PyompError, UnsupportedConstructError
from ..located import locate, locator

#: Constructs lowered in place inside a team's region (no outlining, no loop).
IN_PLACE = frozenset({"barrier", "master", "masked", "single", "critical", "atomic",
                      "flush", "ordered", "cancel", "cancellation point", "taskwait",
                      "taskgroup", "taskyield", "target", "target data"})



def run(state):
    for region in state.regions:
        if region.directive.construct not in ("task", "taskloop"):
            region.sharing = _decide(state, region)
        else:
            region.sharing = {}  # tasks: after the regions around them (below)
    _apply_scalar_atomics(state)
    kept_arguments = _arguments_never_reassigned(state.func_ir)
    for region in state.regions:  # outer first: a task reads its enclosing region's choices
        if region.directive.construct == "task":
            around = region.parent
            while around is not None and around.directive.construct not in ("parallel",
                                                                              "task"):
                around = around.parent
            region.sharing = sharing.decide_task(
                state.func_ir, region, around.sharing if around is not None else None,
                state.defined[region.head], locator(region), _inner_clause_reads(state, region))
            _borrow_arguments(region, state.regions, kept_arguments)
    for region in state.regions:
        if region.directive.has("copyprivate"):
            _check_copyprivate(region)
        if region.directive.has("in_reduction"):
            _check_in_reduction(region)
        if any(c.modifier == "task" for c in region.directive.clauses_named("reduction")):
            _check_task_modifier(state.func_ir, region, state.regions)
    races.check(state.func_ir, state.regions, state.loop_of, state.race_facts)
    private_writes.check(state.func_ir, state.regions, state.race_facts)


def _decide(state, region):
    """The data sharing of a region that is not a task."""
    construct = region.directive.construct
    if construct == "for":
        return sharing.decide_worksharing(
            region, [level.var for level in state.loop_of[id(region)]],
            state.read_after[id(region)])
    if construct in IN_PLACE:
        return sharing.decide_worksharing(region, [])
    forced = {**region.implied, **_forced_by_inner_loops(region, state.regions, state.loop_of,
                                                         state.read_after)}
    for name, (decl, _) in state.private_to_threads.get(id(region), {}).items():
        forced[name] = ("private", f"threadprivate (line {decl.loc.line})")
    return sharing.decide(state.func_ir, region, state.live_map, state.defined[region.head],
                          locator(region), forced, _inner_clause_reads(state, region))


def _inner_clause_reads(state, region):
    """The variables the clauses of the regions inside `region` read (their values are
    needed where those regions start)."""
    return set().union(*(markers.clause_reads(r.directive, state.local_names)
                         for r in state.regions if r is not region and r.head in region.blocks))


def _apply_scalar_atomics(state):
    """An atomic statement on a variable becomes one hardware atomic; when the variable
    has a value before the outermost region around it, the atomic's setup goes there."""
    for region, plan in state.scalar_atomics:
        outer = region
        while outer.parent is not None:
            outer = outer.parent
        head = state.func_ir.blocks[outer.head]
        before = (head, outer.stmt) if plan.target in state.defined[outer.head] else None
        atomics.apply_scalar(state.func_ir, region, plan, before)


def _forced_by_inner_loops(region, all_regions, loop_of, read_after):
    """Attributes a parallel region must give variables because of the worksharing loops
    it binds: loop variables are private (shared when read after the region: the loop
    makes them lastprivate); reduction and lastprivate variables are shared (the loop
    combines into them). `read_after`: id(loop) -> its loop variables read after the
    region (_loop_vars_read_after)."""
    forced = {}
    for inner in all_regions:
        if inner.directive.construct == "taskloop" and inner.stmt is region.stmt:
            # `parallel master taskloop`: its loop variables are the combined construct's
            # (predetermined private, so listed for its default(none))
            for level in loop_of[id(inner)]:
                forced[level.var] = ("private", "the loop variable of its taskloop")
        # (not a taskloop: every thread that reaches one runs all of it, into its own
        # variables if they are private)
        if inner.directive.construct != "for" or regions.enclosing_parallel(inner) is not region:
            continue
        for level in loop_of[id(inner)]:
            forced[level.var] = (
                ("shared", "the loop variable of a worksharing loop, read after the region "
                           "(lastprivate)") if level.var in read_after[id(inner)]
                else ("private", "the loop variable of a worksharing loop"))
        for clause in inner.directive.clauses:
            if clause.name in ("reduction", "lastprivate", "linear"):
                for var in clause.vars:
                    forced[var.name] = ("shared", f"{clause.name} of the worksharing loop")
    return forced


def _arguments_never_reassigned(func_ir):
    reassigned = {s.target.name for b in func_ir.blocks.values() for s in b.body
                  if isinstance(s, ir.Assign) and not isinstance(s.value, ir.Arg)}
    return set(func_ir.arg_names) - reassigned


def _borrow_arguments(task, all_regions, kept_arguments):
    """A task normally keeps the arrays it captures alive with a reference of its own (an
    atomic increment and decrement of a count every thread of the team touches). It can
    borrow them instead when something older than the task is sure to outlive it: an
    argument of the function the function never reassigns (`kept_arguments`: its caller
    holds it until the call returns), captured by a task that no task of this function
    encloses or is enclosed by (conservative: a child task would hold its own reference).
    Such a task is a child of the function's own code, and the function waits for its
    children before it returns (a task outside any parallel region), or its parallel
    region waits for all of its tasks before it ends."""
    around = task.parent
    while around is not None:
        if around.directive.construct in ("task", "taskloop"):
            return
        around = around.parent
    if any(r is not task and r.directive.construct in ("task", "taskloop")
           and r.head in task.blocks for r in all_regions):
        return
    for name, d in task.sharing.items():
        if d.sharing == "firstprivate" and name in kept_arguments:
            d.borrowed = True
            d.why += "; borrowed, not counted: the caller holds it until the tasks end"


def _check_copyprivate(region):
    """copyprivate broadcasts into each thread's own variable: a variable the enclosing
    parallel region shares would be one variable written by every thread at once."""
    team = regions.enclosing_parallel(region)
    if team is None:
        return  # an orphaned `single`: each thread's variables are its own
    for clause in region.directive.clauses_named("copyprivate"):
        for var in clause.vars:
            d = team.sharing.get(var.name)
            if d is not None and d.sharing not in ("private", "firstprivate"):
                raise locate(PyompError(
                    f"copyprivate variable '{var.name}' must be private in the enclosing "
                    f"parallel region (line {team.loc.line}), where it is {d.sharing} "
                    f"({d.why}); add private({var.name}) there",
                    directive=region.directive.text, span=var.span), region.loc)


def _check_in_reduction(region):
    """`in_reduction(op: x)` joins the reduction of x that an enclosing `taskgroup
    task_reduction(op: x)` (or `reduction(task, op: x)`) opened: the operators must agree.
    (Without one in this function, the task combines into x when it ends.)"""
    for clause in region.directive.clauses_named("in_reduction"):
        for var in clause.vars:
            around = region.parent
            while around is not None:
                d = around.directive
                opened = list(d.clauses_named("task_reduction")) + \
                    [c for c in d.clauses_named("reduction") if c.modifier == "task"]
                match = next((c for c in opened if any(v.name == var.name for v in c.vars)),
                             None)
                if match is not None:
                    if match.op != clause.op:
                        raise locate(PyompError(
                            f"in_reduction({clause.op}: {var.name}) joins the reduction "
                            f"'{around.directive.text}' opened on line {around.loc.line} "
                            f"with operator '{match.op}'; the operators must be the same",
                            directive=region.directive.text, span=var.span), region.loc)
                    break
                around = around.parent


def _check_task_modifier(func_ir, region, all_regions):
    """`reduction(task, op: x)`: pyomp's in_reduction tasks combine into the creating
    thread's copy of x when they end, under a lock the thread's own updates do not take.
    Until the thread gets a copy of its own for that, its own updates of x are refused
    (not left to race)."""
    in_tasks = set().union(*(r.blocks for r in all_regions
                             if r.directive.construct in ("task", "taskloop")
                             and r.head in region.blocks), set())
    for clause in region.directive.clauses_named("reduction"):
        if clause.modifier != "task":
            continue
        for var in clause.vars:
            for label in sorted(region.blocks - in_tasks):
                for stmt in func_ir.blocks[label].body:
                    if isinstance(stmt, ir.Assign) and stmt.target.name == var.name:
                        raise locate(UnsupportedConstructError(
                            f"'{var.name}' is updated on line {stmt.loc.line} outside the "
                            f"tasks of this `reduction(task, ...)`; pyomp does not yet "
                            f"combine a thread's own updates with its in_reduction tasks' "
                            f"(update it in tasks with in_reduction({clause.op}: "
                            f"{var.name}), or use a plain reduction)",
                            directive=region.directive.text, span=var.span), region.loc)
