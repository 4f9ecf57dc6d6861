"""Front-end pass 4: the constructs pyomp rewrites in Numba IR instead of marking them for
the Rust pass.

`sections` becomes a worksharing loop over its `section` blocks (pyomp.sections); an
atomic update of an array element or of a variable becomes one hardware atomic
(pyomp.atomics; a variable's after the data-sharing decisions, pass 7); a `simd` loop runs
as the plain loop it is, marked for LLVM's vectoriser (pyomp.simd), and so does an
`ordered` block in one; `threadprivate` declarations are set aside for pass 8.  What
protects each block (critical, atomic, ordered) is read for the race warnings before
anything is rewritten; the accumulations of each reduction are found before the `simd`
constructs' own regions go (pyomp.accumulations, marked after type inference).
"""

from numba.core import ir_utils

from .. import accumulations, atomics, loop_nests, races, sections, simd
from ..errors import PyompError
from ..located import locate, locator


def run(state):
    func_ir = state.func_ir
    state.race_facts = races.Facts.collect(state.withs)  # (before the rewrites)
    state.withs = withs = _sections_as_loops(func_ir, state.withs)
    for region in withs:
        if region.directive.construct == "simd":
            loop_nests.find_nest(func_ir, region, 1, locator(region))  # checks the loop
    # An `ordered` block in a `simd` loop needs nothing: pyomp runs that loop in order.
    in_order_anyway = [r for r in withs if r.directive.construct == "ordered"
                       and r.binds.directive.construct == "simd"]
    # An atomic array-element update becomes one hardware atomic: no region left to lower.
    hardware_atomics = [r for r in withs if r.directive.construct == "atomic"
                        and ((r.directive.atomic_kind in (None, "update")
                              and not r.directive.clauses and atomics.try_rewrite(func_ir, r))
                             or atomics.try_rewrite_element_forms(func_ir, r))]
    # An atomic statement on a variable becomes one too, after the sharing decisions.
    state.scalar_atomics = [(r, plan) for r in withs if r.directive.construct == "atomic"
                            and r not in hardware_atomics
                            and (plan := atomics.scalar_plan(func_ir, r)) is not None]
    state.declarations = [r for r in withs if r.directive.construct == "threadprivate"]
    # `declare target`: what a target region calls is compiled for it anyway
    device_declarations = [r for r in withs if r.directive.construct == "declare target"]
    state.replaced = (hardware_atomics + [r for r, _ in state.scalar_atomics]
                      + in_order_anyway + state.declarations + device_declarations)
    state.accumulations = accumulations.find(func_ir, withs)
    simd.mark_loops(func_ir, withs)


def _sections_as_loops(func_ir, withs):
    """Each `sections` becomes a worksharing loop over its `section`s (pyomp.sections);
    the `section` blocks stop being regions of their own."""
    for region in withs:
        construct = region.directive.construct
        if construct == "section" and (region.parent is None or not region.parent.directive
                                       .construct.endswith("sections")):
            raise locate(PyompError(
                "a `section` block must stand directly inside a 'sections' construct "
                "(`with openmp(\"sections\"):` around the `section` blocks)"),
                region.loc, region.directive)
    children = [r for r in withs if r.directive.construct == "section"]
    for region in withs:
        if region.directive.construct.endswith("sections"):
            mine = [c for c in children if c.parent is region]
            region.directive = sections.rewrite(func_ir, region, mine, locator(region))
            func_ir._definitions = ir_utils.build_definitions(func_ir.blocks)
    kept = [r for r in withs if r.directive.construct != "section"]
    for child in children:  # their enter_with/pop_block are gone with their blocks
        child.parent = None
    return kept
