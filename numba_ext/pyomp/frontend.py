"""Finds the `with openmp(...)` blocks of a function's Numba IR and checks their directives.

This is the first step of pyomp's pipeline (directive parsing -> region marking -> the Rust
pass).  It runs before Numba's with-lifting, reads each directive as a compile-time constant
string, parses it with pyomp's grammar and reports every problem as a located PyompError.
"""

import linecache
import re

from numba.core import ir, ir_utils

from .context import OpenMPContext
from .errors import (NonconstantOpenmpSpecification, NonStringOpenmpSpecification,
                     PyompError, UnsupportedConstructError)

#: Constructs the pipeline lowers.  The grammar knows the whole directive language; a
#: construct outside this set is rejected with an error naming it, never ignored.
SUPPORTED_CONSTRUCTS = frozenset()


def source_line_of(loc):
    """The text of the source line a Numba `ir.Loc` points at ('' when unavailable)."""
    if loc is None or not loc.filename:
        return None
    return linecache.getline(loc.filename, loc.line) or None


def _locate(err, loc):
    """Attach the `with` statement's location to an error raised while reading it."""
    if isinstance(err, PyompError):
        err.at(filename=loc.filename, line=loc.line, source_line=source_line_of(loc))
    return err


def find_openmp_withs(func_ir):
    """Yields (block label, EnterWith statement, call expression) for each openmp block."""
    for label, block in func_ir.blocks.items():
        for stmt in block.body:
            if not isinstance(stmt, ir.EnterWith):
                continue
            call = _definition(func_ir, stmt.contextmanager)
            target = call.func if isinstance(call, ir.Expr) and call.op == "call" else \
                stmt.contextmanager
            ctx = ir_utils.guard(ir_utils.find_outer_value, func_ir, target)
            if isinstance(ctx, OpenMPContext):
                yield label, stmt, call


def _definition(func_ir, var):
    try:
        return func_ir.get_definition(var)
    except KeyError:
        return None


def directive_text(func_ir, stmt, call):
    """The constant string given to openmp(...), or a PyOMP-compatible error."""
    loc = stmt.loc
    if not (isinstance(call, ir.Expr) and call.op == "call"):
        raise _locate(PyompError("openmp must be called with a directive string: "
                                 "`with openmp(\"parallel\"):`"), loc)
    if len(call.args) != 1 or call.kws:
        raise _locate(PyompError("openmp(...) takes exactly one argument, the directive "
                                 "string"), loc)
    arg = _definition(func_ir, call.args[0])
    if isinstance(arg, (ir.Const, ir.Global, ir.FreeVar)):
        if isinstance(arg.value, str):
            return arg.value
        raise _locate(NonStringOpenmpSpecification(
            f"the directive must be a string, not {type(arg.value).__name__} "
            f"({arg.value!r})"), loc)
    raise _locate(NonconstantOpenmpSpecification(
        "the directive must be a constant string known at compile time (a literal or a "
        "module-level constant), not a value computed at run time"), loc)


def parse_directive(text, loc):
    """Parses and checks one directive, raising a located error on any problem."""
    from .directives import parse  # lark is imported on first use, not with pyomp
    try:
        directive = parse(text)
    except PyompError as err:
        raise _locate(err, loc) from None
    if directive.construct not in SUPPORTED_CONSTRUCTS:
        start = len(text) - len(text.lstrip())
        words = re.match(r"[a-z_ ]*[a-z_]", text[start:])
        end = start + (words.end() if words else 1)
        raise _locate(UnsupportedConstructError(
            f"OpenMP construct '{directive.construct}' is not implemented by this version "
            f"of pyomp", directive=text, span=(start, end)), loc)
    return directive


def read_directives(func_ir):
    """All openmp blocks of a function, parsed: list of (label, EnterWith, Directive)."""
    found = []
    for label, stmt, call in find_openmp_withs(func_ir):
        text = directive_text(func_ir, stmt, call)
        found.append((label, stmt, parse_directive(text, stmt.loc)))
    return found
