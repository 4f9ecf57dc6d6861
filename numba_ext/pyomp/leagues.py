"""Teams and distribute on the CPU: a league of teams is a set of thread teams (libomp's
`__kmpc_fork_teams`, lowered by the Rust pass like a parallel region), and `distribute`
shares a loop's iterations among the league's teams.

    distribute dist_schedule(static[, c])  ->  a `for schedule(static[, c]) nowait` whose
                                               schedule counts teams, not threads
                                               (payload `distribute`: the Rust pass divides
                                               by omp_get_team_num / omp_get_num_teams)

    distribute parallel for (composite)    ->  parallel for over the team's block:
        for i in range(a, b, s)                    for i in range(*distribute_block(a, b, s))

In the composite form each team's threads share the iterations of the team's block (one
contiguous block per team, as dist_schedule(static) without a chunk gives); the loop's
range is narrowed where it is made, so every thread of the team computes the same block,
and whether it holds the loop's last iteration (lastprivate copies out there only).
"""

from __future__ import annotations

import dataclasses

from numba import njit
from numba.core import ir

from .directives.model import Clause, Expr
from .errors import PyompError
from .loop_nests import find_loop
from .runtime.api import omp_get_num_teams, omp_get_team_num
from .sharing import is_user_var, mark_generated


def distribute_as_for(region):
    """A `distribute` leaf becomes a worksharing loop over the league (see module doc)."""
    d = region.directive
    schedule = d.clause("dist_schedule")
    clauses = [c for c in d.clauses if c.name != "dist_schedule"]
    span = schedule.span if schedule is not None else d.span
    clauses.append(Clause("schedule", span, kind="static",
                          expr=schedule.expr if schedule is not None else None))
    clauses.append(Clause("nowait", span))
    region.directive = dataclasses.replace(d, construct="for", clauses=tuple(clauses))
    region.distribute = True


def split_composite(func_ir, distribute, parallel, loop, located):
    """`distribute parallel for`: the distribute leaf goes; the parallel region (now
    directly in the teams region) runs the loop over the team's block.

    With a dist_schedule chunk, one block per team does not do: the teams of a combined
    `teams distribute parallel for` are then one team (OpenMP 5.1's num_teams is an upper
    bound), which runs every chunk; under a separate `teams` construct (its league already
    made) each team runs its round-robin chunks (`distribute_chunk`: pyomp.loops counts
    the team's iterations and maps them onto the loop's). lastprivate: only the team
    holding the last iteration copies out (`owns_last`, the last-owner marker)."""
    d = distribute.directive
    schedule = d.clause("dist_schedule")
    chunked = schedule is not None and schedule.expr is not None
    teams = distribute.parent
    combined = teams is not None and teams.stmt is distribute.stmt \
        and teams.directive.construct == "teams"
    if chunked and not combined:
        # the league exists: each team runs its round-robin chunks (pyomp.loops maps the
        # team's iteration numbers onto the loop's)
        loop.distribute_chunk = _chunk_operand(func_ir, loop, schedule, located)
        if d.has("lastprivate"):
            loop.owns_last = True  # (the plan says which team: pyomp.loops)
        parallel.parent = distribute.parent
        if distribute.parent is not None:
            siblings = distribute.parent.children
            distribute.parent.children = [parallel if c is distribute else c
                                          for c in siblings]
        return
    if chunked:
        one = Expr("1", d.span)
        kept = [c for c in teams.directive.clauses if c.name != "num_teams"]
        teams.directive = dataclasses.replace(
            teams.directive, clauses=(*kept, Clause("num_teams", d.span, expr=one)))
    parallel.parent = distribute.parent
    if distribute.parent is not None:
        siblings = distribute.parent.children
        distribute.parent.children = [parallel if c is distribute else c for c in siblings]
    owns_last = _narrow_to_the_team(func_ir, loop, located)
    if d.has("lastprivate"):
        loop.owns_last = owns_last  # only the team of the last iteration copies out


def _chunk_operand(func_ir, loop, schedule, located):
    """dist_schedule's chunk size as a variable computed where the loop's range is made
    (inside the loop construct, before its loop)."""
    from .markers import StatementBuilder, clause_operand
    setup, index, *_ = find_loop(func_ir, loop, located)
    block = func_ir.blocks[setup]
    b = StatementBuilder(func_ir, block, block.body[index].loc)
    names = {v.name for blk in func_ir.blocks.values() for st in blk.body
             for v in st.list_vars() if is_user_var(v.name)}
    # (a copy: the statement reads the variables, so the regions around see them used)
    chunk = b.assign(clause_operand(b, func_ir, schedule.expr, names, located),
                     "$pyomp_chunk")
    for stmt in b.stmts:
        mark_generated(stmt)  # (not user code beside the loop: loop_nests)
    block.body[index:index] = b.stmts
    return chunk


@njit
def chunk_plan(n, chunk):
    """dist_schedule(static, chunk) over n iterations, for this team: (how many it runs,
    chunk, team, teams, whether it runs the last one)."""
    team, teams = omp_get_team_num(), omp_get_num_teams()
    chunk = max(chunk, 1)
    chunks = (n + chunk - 1) // chunk
    mine = 0
    for c in range(team, chunks, teams):
        mine += min(chunk, n - c * chunk)
    owns_last = n > 0 and ((n - 1) // chunk) % teams == team
    return mine, chunk, team, teams, owns_last


@njit
def chunk_index(k, plan):
    """The loop's iteration number of this team's k-th iteration (plan: chunk_plan's)."""
    _, chunk, team, teams, _ = plan
    return (k // chunk * teams + team) * chunk + k % chunk


def _narrow_to_the_team(func_ir, loop, located):
    """The loop's `range(...)` call takes the bounds of this team's block instead; returns
    the variable that says whether the block holds the loop's last iteration."""
    _, _, args, *_ = find_loop(func_ir, loop, located)
    label, index, call = next(
        (label, i, s.value) for label in sorted(loop.blocks)
        for i, s in enumerate(func_ir.blocks[label].body)
        if isinstance(s, ir.Assign) and isinstance(s.value, ir.Expr)
        and s.value.op == "call" and s.value.args is args)
    block = func_ir.blocks[label]
    scope, loc = block.scope, call.loc
    stmts = []

    def assign(value, prefix):
        var = ir.Var(scope, scope.redefine(prefix, loc).name, loc)
        stmts.append(ir.Assign(value, var, loc))
        return var

    helper = assign(ir.Global("distribute_block", _BLOCKS[len(args)], loc), "$pyomp_fn")
    bounds = assign(ir.Expr.call(helper, list(args), (), loc), "$pyomp_block")
    call.args = [assign(ir.Expr.static_getitem(bounds, i, None, loc), "$pyomp_bound")
                 for i in range(3)]
    owns_last = assign(ir.Expr.static_getitem(bounds, 3, None, loc), "$pyomp_owns_last")
    mark_generated(stmts[-1])  # (not user code beside the loop: loop_nests)
    block.body[index:index] = stmts
    return owns_last


@njit
def _block(start, stop, step):
    """(lo, hi, step, holds the last iteration) of this team's block of range(start, stop,
    step)."""
    n = len(range(start, stop, step))
    team, teams = omp_get_team_num(), omp_get_num_teams()
    q, r = n // teams, n % teams
    first = team * q + min(team, r)
    count = q + (1 if team < r else 0)
    owns_last = count > 0 and first + count == n
    return start + first * step, start + (first + count) * step, step, owns_last


_BLOCKS = {
    1: njit(lambda stop: _block(0, stop, 1)),
    2: njit(lambda start, stop: _block(start, stop, 1)),
    3: njit(lambda start, stop, step: _block(start, stop, step)),
}


def check_nesting(region, located):
    """OpenMP 5.2 (10.2, 11.6, 13.8): a `teams` region is at the top of the program or
    closely nested in `target`; `distribute` is closely nested in `teams`; no target
    construct inside a target region."""
    from .directives.checks import leaves
    parts = leaves(region.directive.construct)
    parent = region.parent
    outer = leaves(parent.directive.construct)[-1] if parent is not None else None
    if "teams" in parts and parts[0] != "target" and outer not in (None, "target"):
        raise located(PyompError(
            f"a 'teams' construct must be closely nested in a 'target' construct or stand "
            f"outside any other construct; this one is inside '{outer}' (line "
            f"{parent.loc.line})"))
    if parts[0].startswith("target"):  # (target data, update, ... too)
        around = parent
        while around is not None:
            if "target" in leaves(around.directive.construct):
                raise located(PyompError(
                    f"a '{region.directive.construct}' construct inside a target region "
                    f"('{around.directive.construct}', line {around.loc.line}): OpenMP "
                    "forbids it, the region already runs on a device"))
            around = around.parent
    if parts[0] == "distribute" and outer != "teams":
        where = f"inside '{outer}' (line {parent.loc.line})" if parent else "outside any"
        raise located(PyompError(
            f"a '{region.directive.construct}' construct must be closely nested in a "
            f"'teams' construct; this one is {where}"
            + (" construct" if parent is None else "")))
