"""Front-end pass 9: the enter and exit marker calls of each region, carrying its JSON
payload for the Rust pass (pyomp.markers), and the `with openmp` statements removed.
Variables that tasks outside any parallel region share are kept alive until the
function's tasks are done.
"""

from numba.core import ir, ir_utils

from .. import markers, tasks
from ..located import locator


def run(state):
    func_ir = state.func_ir
    for region in state.regions:  # outer first: enter markers nest in order
        region.payload = markers.insert(func_ir, region, region.region_id, region.sharing,
                                        state.defined, state.local_names, locator(region))
    _keep_task_shared_alive(func_ir, state.regions, state.defined)
    for region in state.withs:
        _drop_context_call(func_ir, region.call)
        head = func_ir.blocks[region.head]
        head.body = [s for s in head.body if s is not region.stmt]
        pop = func_ir.blocks[region.pop]
        pop.body = [s for s in pop.body if not isinstance(s, ir.PopBlock)]
    func_ir._definitions = ir_utils.build_definitions(func_ir.blocks)


def _keep_task_shared_alive(func_ir, all_regions, defined):
    """A task outside any parallel region of the function may still run when the function
    reaches a `return`, and Numba releases a variable after its last use in the function:
    a variable such a task shares must stay alive until the tasks are done. At each
    `return`, the function first waits for its child tasks, then uses those variables."""
    names = set()
    for region in all_regions:
        if region.directive.construct != "task":
            continue
        around = region.parent
        while around is not None and around.directive.construct != "parallel":
            around = around.parent
        if around is None:
            names |= {n for n, d in region.sharing.items() if d.sharing == "shared"}
    if not names:
        return
    for label, block in func_ir.blocks.items():
        if not isinstance(block.terminator, ir.Return):
            continue
        loc, scope = block.terminator.loc, block.scope
        fn = ir.Var(scope, scope.redefine("$pyomp_wait_fn", loc).name, loc)
        stmts = [ir.Assign(ir.Global("wait_for_child_tasks", tasks.wait_for_child_tasks, loc),
                           fn, loc),
                 ir.Assign(ir.Expr.call(fn, [], (), loc),
                           ir.Var(scope, scope.redefine("$pyomp_wait", loc).name, loc), loc)]
        for name in sorted(names & defined.get(label, set())):
            stmts.append(ir.Assign(ir.Var(scope, name, loc),
                                   ir.Var(scope, scope.redefine("$pyomp_keep", loc).name, loc),
                                   loc))
        block.body[-1:-1] = stmts


def _drop_context_call(func_ir, call):
    """`openmp("...")` computes nothing at run time: its call becomes a constant None, so no
    call to the context object is typed or lowered."""
    for block in func_ir.blocks.values():
        for stmt in block.body:
            if isinstance(stmt, ir.Assign) and stmt.value is call:
                stmt.value = ir.Const(None, call.loc)
                return
