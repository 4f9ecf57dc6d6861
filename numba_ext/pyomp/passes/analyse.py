"""Front-end pass 6: the facts the data-sharing decisions and the rewrites ask about the
function: which variables are live where and definitely defined at each block, the
function's own variables, each worksharing loop's nest (pyomp.loop_nests) and which loop
variables the code after a region reads, and which parallel regions use a threadprivate
variable.  Checks that the variables clauses name exist.
"""

from numba.core import analysis

from .. import loop_nests, regions, sharing
from ..errors import PyompError, UnsupportedConstructError
from ..located import locate, locator


def run(state):
    func_ir, all_regions = state.func_ir, state.regions
    cfg = analysis.compute_cfg_from_blocks(func_ir.blocks)
    usedefs = analysis.compute_use_defs(func_ir.blocks)
    state.live_map = analysis.compute_live_map(cfg, func_ir.blocks, usedefs.usemap,
                                               usedefs.defmap)
    state.defined = regions.definitely_defined(func_ir, cfg)
    state.local_names = {v.name for b in func_ir.blocks.values() for s in b.body
                         for v in s.list_vars() if sharing.is_user_var(v.name)}
    for region in all_regions:
        _check_clause_variables(region, state.local_names)
    state.private_to_threads = _threadprivate_uses(func_ir, state.declarations, all_regions,
                                                   state.local_names)
    state.loop_of = {id(r): _loop_nest(func_ir, r) for r in all_regions
                     if r.directive.construct in ("for", "taskloop")}
    # (asked by each loop and by the parallel region it binds)
    state.read_after = {id(r): _loop_vars_read_after(r, state.loop_of, state.live_map)
                        for r in all_regions if r.directive.construct == "for"}


def _loop_nest(func_ir, region):
    """The loop nest of a worksharing loop or taskloop (as deep as its `collapse`)."""
    located = locator(region)
    collapse = region.directive.clause("collapse")
    depth = collapse.expr.int_value() if collapse is not None else 1
    nest = loop_nests.find_nest(func_ir, region, depth, located)
    # (for typechecks.py: range(...) of each loop must be over integers)
    region.range_args = [(level.var, [a.name for a in level.args],
                          func_ir.blocks[level.setup].body[level.index].loc.line)
                         for level in nest]
    if region.directive.construct == "taskloop" and any(level.dependent for level in nest):
        raise located(UnsupportedConstructError(
            "taskloop over a non-rectangular nest is not implemented by this "
            "version of pyomp", directive=region.directive.text))
    return nest


def _check_clause_variables(region, local_names):
    """A variable named in a data-sharing clause must be a variable of the function."""
    d = region.directive
    for clause in d.clauses:
        if clause.name not in sharing.CLAUSE_SHARING:
            continue
        for var in clause.vars:
            if var.name not in local_names:
                raise locate(PyompError(
                    f"'{var.name}' in {clause.name}(...) is not a variable of this function",
                    directive=d.text, span=var.span), region.loc)


def _threadprivate_uses(func_ir, declarations, all_regions, local_names):
    """{id(parallel region): {variable: (its threadprivate declaration, copyin?)}} for the
    parallel regions after a declaration that use a declared variable; checks the rules:
    declarations stand outside regions and name variables that have a value, declared
    variables appear in no data-sharing clause, copyin names only declared variables."""
    declared = {}
    for decl in declarations:
        located = locator(decl.loc)
        if decl.parent is not None:
            raise located(PyompError(
                "`threadprivate` declares variables for the whole function: it must stand "
                f"outside any OpenMP construct (it is inside the one of line "
                f"{decl.parent.loc.line})", directive=decl.directive.text))
        for var in decl.directive.threadprivate_vars:
            if var.name not in local_names:
                raise located(PyompError(
                    f"'{var.name}' in threadprivate(...) is not a variable of this function",
                    directive=decl.directive.text, span=var.span))
            declared[var.name] = decl
    uses = {}
    for region in all_regions:
        d = region.directive
        located = locator(region)
        for clause in d.clauses:
            if clause.name in sharing.CLAUSE_SHARING:
                for var in clause.vars:
                    decl = declared.get(var.name)
                    if decl is not None and decl.head < region.head:
                        raise located(PyompError(
                            f"'{var.name}' is threadprivate (line {decl.loc.line}) and "
                            f"cannot appear in a {clause.name} clause",
                            directive=d.text, span=var.span))
        copied = {v.name: v for c in d.clauses_named("copyin") for v in c.vars}
        for name, var in copied.items():
            decl = declared.get(name)
            if decl is None or decl.head > region.head:
                raise located(PyompError(
                    f"copyin variable '{name}' is not threadprivate (declare it before the "
                    f"region: `with openmp(\"threadprivate({name})\"): pass`)",
                    directive=d.text, span=var.span))
        if d.construct != "parallel":
            continue
        reads, writes = sharing.region_uses_and_defs(func_ir, region.blocks)
        mine = {}
        for name, decl in declared.items():
            if decl.head < region.head and (name in reads | writes or name in copied):
                mine[name] = (decl, name in copied)
        if mine:
            uses[id(region)] = mine
    return uses


def _loop_vars_read_after(loop, loop_of, live_map):
    """The loop variables of worksharing loop `loop` that the code after the parallel
    region it binds reads: after `for i in range(n)` Python's `i` is n - 1, and PyOMP gives
    the same, so they are lastprivate (the region shares them). An orphaned loop's are
    its thread's own: private."""
    bound = regions.enclosing_parallel(loop)
    if bound is None:
        return set()
    live = live_map.get(bound.exit, set())
    return {level.var for level in loop_of[id(loop)] if level.var in live}
