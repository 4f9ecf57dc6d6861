"""`simd` loops vectorise: the loop that a `simd`, `for simd`, `parallel for simd`,
`taskloop simd` (or a `loop` bound as simd) applies to starts each iteration with a
`simd_loop()` marker (pyomp.loop_intrinsics); the Rust pass (pass-plugin/src/simd.rs)
puts `llvm.loop.vectorize.enable` on the loop around it, as Clang does for `omp simd`:
LLVM then vectorises it whatever its cost model says and may reorder its floating-point
reductions (the SIMD lanes' private copies of OpenMP 5.2, 10.4). A collapsed nest's marker
goes in its innermost loop. With PYOMP_REDUCTION_ORDER=strict no loop is marked (LLVM
vectorises what it can without reordering).
"""

from numba.core import ir

from . import accumulations, loop_nests
from .directives.checks import leaves
from .errors import PyompError
from .located import locator
from .loop_intrinsics import simd_loop


def mark_loops(func_ir, withs):
    """Puts the marker at the start of the body of each simd construct's loop."""
    if accumulations.strict():
        return
    for region in withs:
        d = region.directive
        if "simd" not in leaves(d.construct):
            continue
        collapse = d.clause("collapse")
        depth = (collapse.expr.int_value() if collapse is not None else None) or 1
        try:
            levels = loop_nests.find_nest(func_ir, region, depth, locator(region))
        except PyompError:
            continue  # (the construct's loop checks report it, in pass 4 or 6)
        block = func_ir.blocks[levels[-1].body]
        loc = block.body[0].loc
        fn = ir.Var(block.scope, block.scope.redefine("$pyomp_simd_fn", loc).name, loc)
        out = ir.Var(block.scope, block.scope.redefine("$pyomp_simd", loc).name, loc)
        # after the loop variable's assignment, which the loop rewrites expect first
        block.body[1:1] = [ir.Assign(ir.Global("simd_loop", simd_loop, loc), fn, loc),
                           ir.Assign(ir.Expr.call(fn, [], (), loc), out, loc)]
