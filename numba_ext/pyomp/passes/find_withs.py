"""Front-end pass 1: find the `with openmp(...)` blocks, and give each Python variable one
name again (Numba's reader versions them; a region shares or privatises the variable).

Also whole-line `print`s (pyomp.printing): a thread's line is printed at once, not mixed
with another thread's.
"""

from numba.core import ir, ir_utils

from .. import printing
from ..context import OpenMPContext


def run(state):
    state.found = list(find_openmp_withs(state.func_ir))
    if not state.found:
        return
    printing.print_whole_lines(state.func_ir)
    merge_versions(state.func_ir)
    state.func_ir._definitions = ir_utils.build_definitions(state.func_ir.blocks)


def find_openmp_withs(func_ir):
    """Yields (block label, EnterWith statement, call expression) for each openmp block."""
    for label, block in func_ir.blocks.items():
        for stmt in block.body:
            if not isinstance(stmt, ir.EnterWith):
                continue
            call = definition(func_ir, stmt.contextmanager)
            target = call.func if isinstance(call, ir.Expr) and call.op == "call" else \
                stmt.contextmanager
            ctx = ir_utils.guard(ir_utils.find_outer_value, func_ir, target)
            if isinstance(ctx, OpenMPContext):
                yield label, stmt, call



def definition(func_ir, var):
    """The one definition of `var` in the function, or None."""
    try:
        return func_ir.get_definition(var)
    except KeyError:
        return None


def uses_openmp(func):
    """Whether a Python function refers to `openmp` (by any name): decides, before the
    pipeline is built, that the function is compiled without Numba's SSA form."""
    code = getattr(func, "__code__", None)
    if code is None:
        return False
    scope = dict(getattr(func, "__globals__", {}))
    for name, cell in zip(code.co_freevars, getattr(func, "__closure__", None) or ()):
        try:
            scope[name] = cell.cell_contents
        except ValueError:  # an empty cell
            pass
    for name in code.co_names + code.co_freevars:
        value = scope.get(name)
        if isinstance(value, OpenMPContext):
            return True
        if any(isinstance(getattr(value, attr, None), OpenMPContext)
               for attr in code.co_names if hasattr(value, "__dict__")):
            return True
    return False


def merge_versions(func_ir):
    """Gives each Python variable one name again (`s.1`, `s.2` -> `s`).

    Numba's bytecode reader versions variables assigned in straight-line code; a region's
    data sharing is about the Python variable, and with one name it becomes one alloca the
    Rust pass can share or privatise.  (SSA is off for these functions: see pipeline.py.)

    Only the function's own variables (its code object's locals and cells) are merged:
    the names Numba's bytecode reader makes for itself are versioned the same way
    (`exception_check.3`, `mark_try_block.1`, `end_try_block.2` of a `try`), and its
    lowering finds the `try` blocks by the one definition of each such name.
    """
    code = func_ir.func_id.code
    python_names = set(code.co_varnames) | set(code.co_cellvars) | set(code.co_freevars)
    renames = {}
    for block in func_ir.blocks.values():
        for stmt in block.body:
            for var in stmt.list_vars():
                base, dot, version = var.name.partition(".")
                if dot and base in python_names and version.isdigit():
                    renames[var.name] = base
    if renames:
        ir_utils.replace_var_names(func_ir.blocks, renames)
    return renames
