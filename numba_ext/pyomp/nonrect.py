"""collapse(n) over non-rectangular nests (OpenMP 5): inner bounds that depend on outer
loop variables, as in the triangle `for i in range(n): for j in range(i + 1, n)`.

The collapsed loop runs over iteration numbers 0..total, so each number must map back to
the loop variables. pyomp compiles a helper from the loops' own header lines that walks
the outer loops once when the construct starts ("rows": each combination of the outer
loop variables, with where its innermost iterations start, their step and how many came
before), and each iteration finds its row from the previous one (amortised O(1), a binary
search when a thread jumps to another chunk):

    rows = nest_rows(<variables the bounds use>)        # once per construct execution
    for number in my chunks:
        m = locate(prefix, number, m)                      # the row
        i = outer[m, 0]; ...; j = start[m] + (number - prefix[m]) * step[m]
"""

from __future__ import annotations

import ast
import linecache

import numpy as np
from numba import njit

from .errors import ParallelForWrongLoopCount
from .ranges import trip_count


@njit
def locate(prefix, number, hint):
    """The row m with prefix[m] <= number < prefix[m + 1], starting the search at hint."""
    rows = prefix.size - 1
    m = hint if 0 <= hint < rows else 0
    if prefix[m] <= number:
        # usually the same row or the next one; empty rows are skipped
        steps = 0
        while m + 1 < rows and prefix[m + 1] <= number and steps < 8:
            m += 1
            steps += 1
        if prefix[m] <= number < prefix[m + 1] or m + 1 >= rows:
            return m
    lo, hi = 0, rows - 1
    while lo < hi:  # the last row whose prefix is <= number
        mid = (lo + hi + 1) // 2
        if prefix[mid] <= number:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _header(func_ir, level, located):
    """The range(...) arguments of a loop's header line, as source text."""
    loc = func_ir.blocks[level.setup].body[level.index].loc
    line = linecache.getline(loc.filename, loc.line).strip() if loc.filename else ""
    try:
        node = ast.parse(line + "\n    pass").body[0]
    except SyntaxError:
        node = None
    if not (isinstance(node, ast.For) and isinstance(node.iter, ast.Call)
            and isinstance(node.iter.func, ast.Name) and node.iter.func.id == "range"
            and not node.iter.keywords and isinstance(node.target, ast.Name)):
        raise located(ParallelForWrongLoopCount(
            "collapse of a non-rectangular nest needs each loop header on one line, as "
            f"`for j in range(...):` (line {loc.line})"))
    args = [ast.unparse(a) for a in node.iter.args]
    if len(args) == 1:
        args = ["0", args[0], "1"]
    elif len(args) == 2:
        args.append("1")
    names = {n.id for a in node.iter.args for n in ast.walk(a) if isinstance(n, ast.Name)}
    return node.target.id, args, names


def build_rows_helper(func_ir, levels, local_names, located):
    """(helper, names of the local variables it takes): helper(*values) -> (total, prefix,
    outer, start, step) for the nest `levels` (see the module doc)."""
    headers = [_header(func_ir, level, located) for level in levels]
    loop_vars = [h[0] for h in headers]
    free = sorted({n for h in headers for n in h[2]
                   if n in local_names and n not in loop_vars})
    d = len(levels)

    def loops(depth, body, indent):
        lines = []
        for k in range(depth):
            var, (a, b, c), _ = headers[k]
            lines.append("    " * (indent + k) + f"for {var} in range({a}, {b}, {c}):")
        lines += ["    " * (indent + depth) + stmt for stmt in body]
        return lines

    inner_var, (a, b, c), _ = headers[-1]
    src = [f"def nest_rows({', '.join(free)}):", "    rows = 0"]
    src += loops(d - 1, ["rows += 1"], 1)
    src += [f"    outer = np.empty((rows, {d - 1}), np.int64)",
            "    start = np.empty(rows, np.int64)",
            "    step = np.empty(rows, np.int64)",
            "    prefix = np.empty(rows + 1, np.int64)",
            "    m = 0",
            "    total = 0"]
    body = [f"outer[m, {k}] = {loop_vars[k]}" for k in range(d - 1)]
    body += [f"s, e, st = {a}, {b}, {c}",
             "start[m] = s",
             "step[m] = st",
             "prefix[m] = total",
             "total += trip_count(s, e, st)",
             "m += 1"]
    src += loops(d - 1, body, 1)
    src += ["    prefix[rows] = total", "    return total, prefix, outer, start, step"]
    namespace = {}
    func = func_ir.func_id.func
    scope = dict(func.__globals__)
    scope.update(np=np, trip_count=trip_count)
    exec(compile("\n".join(src), func_ir.loc.filename or "<collapse>", "exec"),  # noqa: S102
         scope, namespace)
    return njit(namespace["nest_rows"]), free


@njit
def nest_at(rows, number, hint):
    """(row, value of each outer loop variable..., value of the innermost one) for
    iteration `number`; the row is the next call's hint."""
    total, prefix, outer, start, step = rows
    m = locate(prefix, number, hint)
    return m, outer[m], start[m] + (number - prefix[m]) * step[m]
