"""Front-end pass 5b: the device constructs, once combined constructs are split.

Teams and distribute (pyomp.leagues): a composite `distribute parallel for` becomes a
`parallel for` over each team's block of the loop; any other `distribute` becomes a
worksharing loop whose static schedule counts teams (the Rust pass forks `teams` like a
parallel region, with `__kmpc_fork_teams`).

Target constructs (pyomp.targets): each `target` and `target data` region gets the calls
that choose its device and map its data before it and take the host's values back after
it (its region stays: the Rust pass ends its device record at its end, exceptions
included); `target enter data`, `exit data` and `update` become calls and no region.

Run before the analyses of pass 6, which then see the rewritten loops and the calls.
"""

import dataclasses

from numba.core import analysis, ir_utils

from .. import leagues, regions, sharing, targets
from ..located import locator

_DEVICE_LEAVES = ("target", "teams", "distribute")


def run(state):
    func_ir = state.func_ir
    if not any(r.directive.construct.startswith(_DEVICE_LEAVES) for r in state.regions):
        return
    state.regions = _leagues(func_ir, state.regions)
    cfg = analysis.compute_cfg_from_blocks(func_ir.blocks)
    defined = regions.definitely_defined(func_ir, cfg)
    local_names = {v.name for b in func_ir.blocks.values() for s in b.body
                   for v in s.list_vars() if sharing.is_user_var(v.name)}
    kept = []
    for region in state.regions:
        construct = region.directive.construct
        if construct in targets.STANDALONE:
            targets.rewrite_standalone(func_ir, region, local_names, locator(region))
            continue
        if construct in ("target", "target data"):
            region.record = targets.rewrite(func_ir, region, state.regions,
                                            defined[region.head], local_names,
                                            locator(region))
            # its clauses are done: the region itself only runs its body in place
            region.directive = dataclasses.replace(region.directive, clauses=())
        kept.append(region)
    state.regions = kept
    func_ir._definitions = ir_utils.build_definitions(func_ir.blocks)


def _leagues(func_ir, all_regions):
    """Composite `distribute parallel for` leaves narrowed to their team's block; other
    distribute leaves become loops over the league. Returns the regions left."""
    dropped = []
    for region in all_regions:
        if region.directive.construct != "distribute":
            continue
        inner = [r for r in all_regions if r.stmt is region.stmt and r.parent is region]
        if inner and inner[0].directive.construct == "parallel":
            (loop,) = [r for r in all_regions if r.stmt is region.stmt
                       and r.parent is inner[0]]
            leagues.split_composite(func_ir, region, inner[0], loop, locator(region))
            func_ir._definitions = ir_utils.build_definitions(func_ir.blocks)
            dropped.append(region)
        else:
            leagues.distribute_as_for(region)
    return [r for r in all_regions if not any(r is d for d in dropped)]
