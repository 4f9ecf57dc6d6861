"""Finds the `with openmp(...)` blocks of a function's Numba IR and checks their directives.

This is the first step of pyomp's pipeline (directive parsing -> region marking -> the Rust
pass).  It runs before Numba's with-lifting, reads each directive as a compile-time constant
string, parses it with pyomp's grammar and reports every problem as a located PyompError.
"""

import dataclasses
import itertools
import json
import operator
import re

from numba.core import analysis, ir, ir_utils
from numba.core.consts import ConstantInference
from numba.core.errors import ConstantInferenceError

# tasks' intrinsics are registered at import: one imported during a compilation is unknown to
# its typing context (NameError on the first compilation in a process)
from . import (
    atomics,
    combined,
    loops,
    markers,
    nonrect,
    prange_calls,
    printing,
    races,
    regions,
    sections,
    sharing,
    tasks,
    threadprivate,
)
from .context import OpenMPContext
from .directives.model import Clause, Var
from .errors import (
    NonconstantOpenmpSpecification,
    NonStringOpenmpSpecification,
    PyompError,
    UnsupportedConstructError,
    pyomp_says,
    source_line_of,
)

#: Constructs the pipeline lowers.  The grammar knows the whole directive language; a
#: construct outside this set is rejected with an error naming it, never ignored.
SUPPORTED_CONSTRUCTS = frozenset({"parallel", "for", "parallel for", "simd", "for simd",
                                  "parallel for simd", "barrier", "master", "masked",
                                  "single", "critical", "sections", "section",
                                  "parallel sections", "atomic", "flush", "ordered",
                                  "cancel", "cancellation point", "threadprivate",
                                  "task", "taskwait", "taskgroup", "taskyield",
                                  "taskloop", "taskloop simd", "loop", "parallel loop",
                                  "parallel master", "parallel masked", "master taskloop",
                                  "master taskloop simd", "masked taskloop",
                                  "masked taskloop simd", "parallel master taskloop",
                                  "parallel master taskloop simd",
                                  "parallel masked taskloop",
                                  "parallel masked taskloop simd"})

#: Constructs lowered in place inside a team's region (no outlining, no loop).
IN_PLACE = frozenset({"barrier", "master", "masked", "single", "critical", "atomic",
                      "flush", "ordered", "cancel", "cancellation point", "taskwait",
                      "taskgroup", "taskyield"})

#: Task clauses not lowered yet (rejected with an error naming them, never ignored).
_TASK_UNSUPPORTED = frozenset({"affinity", "detach", "allocate"})

#: `simd` promises the loop can run in SIMD lanes.  pyomp runs it as the counted loop it is,
#: which LLVM vectorises where it can: `simd` alone needs no region (its data-sharing
#: clauses hold trivially for a loop run in order), and a combined one's simd clauses go
#: to its loop or are dropped (pyomp.combined).

#: Clauses the grammar accepts on a supported construct but the pipeline does not lower
#: yet: rejected with an error naming them, never ignored.
UNSUPPORTED_CLAUSES = frozenset({"allocate"})

_region_ids = itertools.count(1)


def construct_span(text):
    """(start, end) of the construct name that begins a directive string ('parallel for'
    of 'parallel for schedule(static)'): where a caret goes when no clause is at fault."""
    from .directives.checks import CONSTRUCTS
    words = {w for c in CONSTRUCTS for w in c.split()}
    start = len(text) - len(text.lstrip())
    end = start
    for m in re.finditer(r"\s*([A-Za-z_]\w*)", text[start:]):
        if m.start() != end - start or m.group(1) not in words:
            break
        end = start + m.end()
    return start, max(end, start + 1)


def _locate(err, loc, directive=None):
    """Attach the `with` statement's location to an error raised while reading it; an
    error about a whole construct (no token of its own) points at the construct name."""
    if isinstance(err, PyompError):
        err.at(filename=loc.filename, line=loc.line, source_line=source_line_of(loc))
        if directive is not None and err.directive is None:
            err.directive, err.span = directive.text, construct_span(directive.text)
    return err


def _locator(where, directive=None):
    """A function that attaches the location of `where` (an `ir.Loc`, or a region: then
    also its directive) to an error (what region-level checks call)."""
    if isinstance(where, regions.Region):
        return lambda err: _locate(err, where.loc, where.directive)
    return lambda err: _locate(err, where, directive)


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
    value = _constant_value(func_ir, call.args[0])
    if isinstance(value, str):
        return value
    if value is not _NOT_CONSTANT:
        raise _locate(NonStringOpenmpSpecification(
            f"the directive must be a string, not {type(value).__name__} ({value!r})"
            + pyomp_says(f"Non-string OpenMP specification at line {loc.line}")), loc)
    # PyOMP's words differ for an argument and for a value it could not follow
    words = "Non-constant" if isinstance(_definition(func_ir, call.args[0]), ir.Arg) \
        else "Cannot infer constant"
    raise _locate(NonconstantOpenmpSpecification(
        "the directive must be a constant string known at compile time (a literal, a "
        "constant, or an f-string or `+` over constants), not a value computed at run time"
        + pyomp_says(f"{words} OpenMP specification at line {loc.line}")), loc)


#: What _constant_value returns for a value not known at compile time.
_NOT_CONSTANT = object()


def _constant_value(func_ir, var):
    """The compile-time value of `var`: a constant, global or closure variable, or what
    Numba makes of an f-string (`str(...)` calls joined by `+`) or a `+` over such values;
    else Numba's own constant inference (a module's attribute); else _NOT_CONSTANT.
    A variable assigned twice (`s += "for"`) has no single definition: not constant."""
    defn = _definition(func_ir, var)
    if isinstance(defn, (ir.Const, ir.Global, ir.FreeVar)):
        return defn.value
    if isinstance(defn, ir.Expr) and defn.op == "binop" and defn.fn is operator.add:
        lhs, rhs = (_constant_value(func_ir, v) for v in (defn.lhs, defn.rhs))
        if _NOT_CONSTANT in (lhs, rhs) or type(lhs) is not type(rhs):
            return _NOT_CONSTANT
        return lhs + rhs
    if isinstance(defn, ir.Expr) and defn.op == "call" and len(defn.args) == 1 \
            and not defn.kws and _constant_value(func_ir, defn.func) is str:
        value = _constant_value(func_ir, defn.args[0])
        # Numba reads f"{x}" as a call str(x): folded here with Python's own str
        return str(value) if isinstance(value, (str, int, float, bool)) else _NOT_CONSTANT
    try:
        # a fresh inference: func_ir's own caches values from before pyomp's rewrites
        return ConstantInference(func_ir).infer_constant(var.name)
    except ConstantInferenceError:
        return _NOT_CONSTANT


def parse_directive(text, loc):
    """Parses and checks one directive, raising a located error on any problem."""
    from .directives import parse  # lark is imported on first use, not with pyomp
    try:
        directive = parse(text)
    except PyompError as err:
        raise _locate(err, loc) from None
    if directive.construct not in SUPPORTED_CONSTRUCTS:
        raise _locate(UnsupportedConstructError(
            f"OpenMP construct '{directive.construct}' is not implemented by this version "
            f"of pyomp", directive=text, span=construct_span(text)), loc)
    for clause in directive.clauses:
        if clause.name == "nogroup" and directive.has("reduction"):
            raise _locate(PyompError(
                "a taskloop with a reduction waits for its tasks: it cannot be `nogroup`",
                directive=text, span=clause.span), loc)
        if clause.name in _TASK_UNSUPPORTED and directive.construct.startswith("task"):
            raise _locate(UnsupportedConstructError(
                f"the '{clause.name}' clause of '{directive.construct}' is not implemented by "
                "this version of pyomp", directive=text, span=clause.span), loc)
        if clause.name == "reduction" and clause.modifier == "inscan":
            raise _locate(UnsupportedConstructError(
                "`inscan` reductions go with the `scan` directive, which this version of "
                "pyomp does not implement", directive=text, span=clause.span), loc)
        if clause.name in UNSUPPORTED_CLAUSES:
            raise _locate(UnsupportedConstructError(
                f"the '{clause.name}' clause is not implemented by this version of pyomp",
                directive=text, span=clause.span), loc)
        doacross = (clause.name == "ordered" and clause.expr is not None) or \
            (clause.name == "depend" and directive.construct == "ordered")
        if doacross:
            raise _locate(UnsupportedConstructError(
                "doacross loops (ordered(n) with `ordered depend(sink/source)`) are not "
                "implemented by this version of pyomp; the `ordered` clause without a "
                "number is", directive=text, span=clause.span), loc)
    return directive


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


def _split(region):
    """A combined construct (`parallel for`, `parallel masked taskloop`, ...) becomes one
    region per leaf construct over the same blocks, outermost first, each with the clauses
    OpenMP 5.2 applies to it (pyomp.combined). `simd` parts run as the plain loop: `for
    simd` is a `for`, and `simd` alone needs no region at all."""
    d = region.directive
    if d.construct == "simd":
        return []
    try:
        directives, implied = combined.split(d)
    except PyompError as err:
        raise _locate(err, region.loc) from None
    if len(directives) == 1:
        region.directive = directives[0]
        return [region]
    parts = [dataclasses.replace(region, directive=leaf, children=[])
             for leaf in directives]
    for outer, inner in itertools.pairwise(parts):
        inner.parent, outer.children = outer, [inner]
    parts[0].implied = implied  # (the parallel leaf, when there is one: it is outermost)
    return parts


def _innermost_part(parent, all_regions):
    """The region a construct nested in `parent` stands in after the split: `parent`
    itself, or its innermost leaf when `parent` was a combined construct."""
    if parent is None or any(r is parent for r in all_regions):
        return parent
    parts = [r for r in all_regions if r.stmt is parent.stmt]
    return parts[-1] if parts else parent


_LOOP_CONSTRUCTS = frozenset({"for", "parallel for", "for simd", "parallel for simd",
                              "simd"})


def _ordered_loop(region):
    """The loop construct an `ordered` block binds to (None when there is none)."""
    r = region.parent
    while r is not None and r.directive.construct not in _LOOP_CONSTRUCTS:
        r = r.parent
    return r


def _check_ordered_nesting(region):
    """An `ordered` block binds to the innermost enclosing loop construct, which must
    carry the `ordered` clause; no region that changes who runs the code may stand between
    them (OpenMP's closely-nested rule).  Returns that loop construct."""
    located = _locator(region)
    loop = _ordered_loop(region)
    if loop is None:
        raise located(PyompError(
            "an `ordered` block must be inside a worksharing loop that has the `ordered` "
            "clause (`with openmp(\"for ordered\"):`)"))
    between = region.parent
    if between is not None and between is not loop:
        raise located(PyompError(
            f"an `ordered` block cannot be nested inside '{between.directive.construct}' "
            f"(line {between.loc.line}); it must stand directly in the body of a loop with "
            "the `ordered` clause"))
    if loop.directive.construct != "simd" and not loop.directive.has("ordered"):
        raise located(PyompError(
            f"this `ordered` block is inside the loop of line {loop.loc.line}, whose "
            f"directive '{loop.directive.text}' has no `ordered` clause; add `ordered` to it"))
    return loop


#: Why the threads of a team do not all run the body of a construct together, per leaf
#: construct: a construct nested in it with no `parallel` between (closely nested) that
#: needs the whole team, or one given thread, cannot work there.
_NOT_THE_WHOLE_TEAM = {
    "for": "the threads run different iterations of its loop",
    "loop": "the threads run different iterations of its loop",
    "sections": "each of its sections runs on one thread",
    "section": "each section runs on one thread",
    "single": "only one thread runs its block",
    "master": "only the primary thread runs its block",
    "masked": "only the selected thread runs its block",
    "critical": "the threads run its block one at a time",
    "ordered": "the threads run its block one at a time, in iteration order",
    "task": "a task runs on one thread, whenever the runtime schedules it",
    "taskloop": "each of its tasks runs on one thread, whenever the runtime schedules it",
    "atomic": "its statement is one indivisible update",
}
#: OpenMP 5.2, 17.1: the regions a barrier or worksharing region (needs every thread of
#: the team) and a master/masked region (needs a given thread) may not be closely nested in.
_NO_TEAM_INSIDE = frozenset(_NOT_THE_WHOLE_TEAM)
_NO_MASKED_INSIDE = frozenset({"for", "loop", "sections", "section", "single", "task",
                               "taskloop", "atomic"})


def _check_nothing_inside_atomic(region):
    """No OpenMP construct may run inside an `atomic` block (its body is one update); one
    that also takes the atomics' lock (a nested `atomic`) would wait for itself forever."""
    outer = region.parent
    while outer is not None and outer.directive.construct != "atomic":
        outer = outer.parent
    if outer is not None:
        raise _locator(region)(PyompError(
            f"'{region.directive.construct}' cannot be nested inside 'atomic' (line "
            f"{outer.loc.line}): an atomic block holds one update statement and no OpenMP "
            "construct"))


def _check_closely_nested(region):
    """OpenMP's nesting restrictions: a barrier or worksharing construct (for, sections,
    single) must be reached by all threads of a team or none, so it cannot be closely
    nested (no `parallel` between) in a construct whose body not every thread runs; master
    and masked not in worksharing or task constructs; a critical not in a critical of the
    same name (its thread would wait for itself)."""
    from .directives.checks import leaves
    d = region.directive
    located = _locator(region)
    construct = d.construct
    first = leaves(construct)[0]  # (`master taskloop` is first a master block)
    if first in ("barrier", "for", "sections", "single"):
        forbidden = _NO_TEAM_INSIDE
        what = ("a barrier" if construct == "barrier" else "a worksharing construct") + \
            " must be reached by all threads of the team or by none"
    elif first in ("master", "masked"):
        forbidden = _NO_MASKED_INSIDE
        what = f"a '{construct}' block is meant for one thread of the whole team"
    else:
        forbidden = None
    outer = region.parent
    while forbidden and outer is not None:
        parts = leaves(outer.directive.construct)
        bad = next((p for p in reversed(parts) if p in forbidden), None)
        if bad is not None:
            raise located(PyompError(
                f"'{construct}' cannot be nested inside '{bad}' (line {outer.loc.line}) "
                f"without a 'parallel' region between them: {what}, and "
                f"{_NOT_THE_WHOLE_TEAM[bad]}; move it out of the '{bad}' block (or open a "
                "nested `parallel` region around it)"))
        if parts[0] == "parallel":
            break
        outer = outer.parent
    if construct == "critical":
        outer = region.parent
        while outer is not None:
            if outer.directive.construct == "critical" and outer.directive.name == d.name:
                name = f"critical({d.name})" if d.name else "critical"
                raise located(PyompError(
                    f"'{name}' is nested inside a '{name}' (line {outer.loc.line}): the "
                    "thread holding its lock would wait for itself forever; give the inner "
                    "one a different name"))
            outer = outer.parent


_CANCELLED_BY = {"parallel": ("parallel",),
                  "for": ("for", "parallel for", "for simd", "parallel for simd"),
                  "sections": ("sections", "parallel sections")}


#: taskloop clauses that belong to its tasks.
_TASK_PART = frozenset({"private", "firstprivate", "shared", "default", "if", "final",
                        "priority", "untied", "mergeable", "reduction", "in_reduction",
                        "lastprivate"})


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


def _chunk_task(func_ir, region, chunk, defined, local_names):
    """The task a taskloop creates for each chunk: a region around the chunk loop of the
    rewritten loop, with the taskloop's data clauses, its chunk bounds captured."""
    blocks = func_ir.blocks
    d = region.directive
    loop_private = _loop_vars_private(d, [var for var, _, _ in region.range_args])
    task_directive = dataclasses.replace(
        d, construct="task",
        clauses=tuple(c for c in d.clauses if c.name in _TASK_PART) + loop_private)
    inner = blocks[chunk.inner]
    # The task ends where its chunk does: a block of its own between the chunk loop's
    # header and the next dispatch (which the first dispatch also reaches).
    end = max(blocks) + 1
    header = blocks[chunk.header].terminator
    blocks[end] = ir.Block(inner.scope, header.loc)
    blocks[end].body.append(ir.Jump(chunk.dispatch, header.loc))
    header.falsebr = end
    region.blocks.add(end)
    task = regions.Region(head=chunk.inner, body=chunk.header, pop=end, exit=end,
                          blocks=chunk.chunk_blocks(blocks) - {end},
                          stmt=inner.body[0], directive=task_directive, parent=region)
    if task_directive.has("lastprivate"):
        # The task whose chunk ends the loop ran its sequentially last iteration: it copies
        # its lastprivate values out when it ends. The flag is computed when the task is
        # created and handed to the pass as an operand of the task's enter marker.
        flag = ir.Var(inner.scope, inner.scope.redefine("$pyomp_last", header.loc).name,
                      header.loc)
        inner.body.insert(0, ir.Assign(ir.Expr.binop(operator.eq, chunk.hi, chunk.n,
                                                     header.loc), flag, header.loc))
        task.last_flag = flag
    around = region.parent
    while around is not None and around.directive.construct not in ("parallel", "task"):
        around = around.parent
    task.sharing = sharing.decide_task(
        func_ir, task, around.sharing if around is not None else None,
        defined[task.head], _locator(region))
    for var in (v for clause in loop_private for v in clause.vars):
        task.sharing[var.name].why = "the loop variable of the taskloop (predetermined)"
    # What the chunk loop reads of the creator's temporaries (the chunk's bounds, the
    # collapsed loops' trip counts) is captured too: the creator goes on and reuses them.
    made = {s.target.name for label in task.blocks for s in blocks[label].body
            if isinstance(s, ir.Assign)}
    read = {v.name for label in task.blocks for s in blocks[label].body
            for v in s.list_vars() if not sharing.is_user_var(v.name)}
    for name in sorted(read - made) + [chunk.lo.name, chunk.hi.name, chunk.n.name]:
        task.sharing[name] = sharing.VarSharing(name, "firstprivate",
                                                "the task's chunk of the taskloop")
    task.region_id = next(_region_ids)
    task.call = None
    return task


def _loop_vars_private(directive, loop_vars):
    """A `private` clause for the taskloop's loop variables no clause names: they are
    predetermined private in its tasks (OpenMP 5.2, 5.1.1), whatever default(...) says
    (default(none) must not ask for them; default(shared) must not share them)."""
    named = {v.name for c in directive.clauses if c.name in sharing.CLAUSE_SHARING
             for v in c.vars}
    unnamed = tuple(Var(name, directive.span) for name in loop_vars if name not in named)
    return (Clause("private", directive.span, vars=unnamed),) if unnamed else ()


def _bind_cancel(region):
    """`cancel <kind>` and `cancellation point <kind>` must stand directly in the construct
    they cancel (OpenMP's closely-nested rule): no other construct between them, so the
    jump to its end leaves nothing half done (a lock held, a turn not passed on)."""
    d = region.directive
    located = _locator(region)
    kind = d.cancel_type
    if kind == "taskgroup":
        raise located(UnsupportedConstructError(
            "`cancel taskgroup` (and `cancellation point taskgroup`) is not implemented by "
            "this version of pyomp; `cancel parallel`, `for` and `sections` are",
            directive=d.text, span=(0, len(d.text))))
    parent = region.parent
    if kind == "sections" and parent is not None and parent.directive.construct == "section":
        parent = parent.parent
    if parent is None or parent.directive.construct not in _CANCELLED_BY[kind]:
        where = (f"inside '{parent.directive.construct}' (line {parent.loc.line})"
                 if parent is not None else "outside any construct")
        raise located(PyompError(
            f"`{d.construct} {kind}` must stand directly inside a '{kind}' construct; this "
            f"one is {where}", directive=d.text, span=(0, len(d.text))))
    if kind != "parallel":
        for clause in ("nowait", "ordered"):
            if parent.directive.has(clause):
                raise located(PyompError(
                    f"a {kind} construct that can be cancelled cannot have the '{clause}' "
                    f"clause (line {parent.loc.line})", directive=d.text,
                    span=(0, len(d.text))))
    region.binds = parent


def _bind_loop(region):
    """`loop` runs as what it binds to (OpenMP 5.2, 11.7): bound to a parallel region
    (`bind(parallel)`, or closely nested in one) it is that team's worksharing `for`, with
    the `for`'s barrier; bound to the thread (`bind(thread)`, or with no parallel region
    directly around it, as Clang decides) the encountering thread runs it alone, in order,
    as pyomp runs `simd`. `parallel loop` is `parallel for`."""
    d = region.directive
    if d.construct not in ("loop", "parallel loop"):
        return
    bind = d.clause("bind")
    kind = bind.kind if bind is not None else None
    if kind == "teams" or (kind == "thread" and d.construct == "parallel loop"):
        raise _locator(region)(UnsupportedConstructError(
            f"`bind({kind})` on '{d.construct}' is not implemented by this version of pyomp "
            "(it has no `teams`); `bind(parallel)` and, on an orphaned `loop`, "
            "`bind(thread)` are", directive=d.text, span=bind.span))
    closely_nested = region.parent is not None and \
        region.parent.directive.construct == "parallel"
    if d.construct == "parallel loop":
        construct = "parallel for"
    elif kind == "parallel" or (kind is None and closely_nested):
        construct = "for"
    else:
        construct = "simd"
    region.directive = dataclasses.replace(d, construct=construct, clauses=tuple(
        c for c in d.clauses if c.name != "bind"))


def _enclosing_parallel(region):
    r = region.parent
    while r is not None and r.directive.construct != "parallel":
        r = r.parent
    return r


def mark_regions(func_ir):
    """Turns every `with openmp(...)` into a marked region; returns the regions (with their
    data-sharing decisions, for pyomp.explain)."""
    found = list(find_openmp_withs(func_ir))
    if not found:
        return []
    printing.print_whole_lines(func_ir)
    merge_versions(func_ir)
    func_ir._definitions = ir_utils.build_definitions(func_ir.blocks)
    cfg = analysis.compute_cfg_from_blocks(func_ir.blocks)
    by_head = {label: (stmt, call) for label, stmt, call in found}
    known = {}

    def region_at(label):
        """The region of the `with openmp` whose head is block `label` (memoised; nested
        regions are found first, from inside their parent's walk)."""
        if label not in by_head:
            return None
        if label not in known:
            stmt, call = by_head[label]
            directive = parse_directive(directive_text(func_ir, stmt, call), stmt.loc)
            located = _locator(stmt.loc, directive)
            region = regions.find_region(func_ir, label, stmt, located, region_at)
            region.directive, region.call = directive, call
            known[label] = region
        return known[label]

    withs = [region_at(label) for label, _, _ in found]
    regions.nest(withs)
    for region in withs:
        _bind_loop(region)
    prange_calls.serialise_prange_calls(func_ir, set().union(*(r.blocks for r in withs)))
    for region in withs:
        _check_closely_nested(region)
        _check_nothing_inside_atomic(region)
    for region in withs:
        if region.directive.construct in ("cancel", "cancellation point"):
            _bind_cancel(region)
    # An `ordered` block in a `simd` loop needs nothing: pyomp runs that loop in order.
    for r in withs:
        if r.directive.construct == "ordered":
            r.binds = _check_ordered_nesting(r)
    in_order_anyway = [r for r in withs if r.directive.construct == "ordered"
                       and r.binds.directive.construct == "simd"]
    race_facts = races.Facts.collect(withs)  # protected blocks, before the rewrites
    withs = _sections_as_loops(func_ir, withs)
    cfg = analysis.compute_cfg_from_blocks(func_ir.blocks)  # sections changed the blocks
    for region in withs:
        if region.directive.construct == "simd":
            loops.find_nest(func_ir, region, 1, _locator(region))  # checks the loop
    # An atomic array-element update becomes one hardware atomic: no region left to lower.
    hardware_atomics = [r for r in withs if r.directive.construct == "atomic"
                        and ((r.directive.atomic_kind in (None, "update")
                              and not r.directive.clauses and atomics.try_rewrite(func_ir, r))
                             or atomics.try_rewrite_element_forms(func_ir, r))]
    # An atomic statement on a variable becomes one too, after the sharing decisions.
    scalar_atomics = [(r, plan) for r in withs if r.directive.construct == "atomic"
                      and r not in hardware_atomics
                      and (plan := atomics.scalar_plan(func_ir, r)) is not None]
    declarations = [r for r in withs if r.directive.construct == "threadprivate"]
    done_in_hardware = (hardware_atomics + [r for r, _ in scalar_atomics] + in_order_anyway
                        + declarations)
    all_regions = [part for region in withs if region not in done_in_hardware
                   for part in _split(region)]
    for region in all_regions:  # a cancel binds to the split part of its construct
        bound = region.binds
        if bound is not None and not any(r is bound for r in all_regions):
            want = "parallel" if region.directive.cancel_type == "parallel" else "for"
            region.binds = next(r for r in all_regions
                                if r.stmt is bound.stmt and r.directive.construct == want)
        if bound is not None and region.directive.construct != "ordered" \
                and region.directive.cancel_type != "parallel":
            region.binds.cancellable = True
    for region in all_regions:  # re-link parents across split combined constructs
        region.parent = _innermost_part(region.parent, all_regions)
    usedefs = analysis.compute_use_defs(func_ir.blocks)
    live_map = analysis.compute_live_map(cfg, func_ir.blocks, usedefs.usemap, usedefs.defmap)
    defined = regions.definitely_defined(func_ir, cfg)
    local_names = {v.name for b in func_ir.blocks.values() for s in b.body
                   for v in s.list_vars() if sharing.is_user_var(v.name)}
    for region in all_regions:
        _check_clause_variables(region, local_names)
    private_to_threads = _threadprivate_uses(func_ir, declarations, all_regions, local_names)
    loop_of = {}
    for region in all_regions:
        located = _locator(region)
        if region.directive.construct in ("for", "taskloop"):
            collapse = region.directive.clause("collapse")
            depth = collapse.expr.int_value() if collapse is not None else 1
            loop_of[id(region)] = loops.find_nest(func_ir, region, depth, located)
            # (for typechecks.py: range(...) of each loop must be over integers)
            region.range_args = [(level.var, [a.name for a in level.args],
                                  func_ir.blocks[level.setup].body[level.index].loc.line)
                                 for level in loop_of[id(region)]]
            if region.directive.construct == "taskloop" and \
                    any(level.dependent for level in loop_of[id(region)]):
                raise located(UnsupportedConstructError(
                    "taskloop over a non-rectangular nest is not implemented by this "
                    "version of pyomp", directive=region.directive.text))
    # (asked by each loop and by the parallel region it binds)
    read_after = {id(r): _loop_vars_read_after(r, loop_of, live_map) for r in all_regions
                  if r.directive.construct == "for"}
    for region in all_regions:
        located = _locator(region)
        if region.directive.construct == "for":
            region.sharing = sharing.decide_worksharing(
                region, [level.var for level in loop_of[id(region)]], read_after[id(region)])
        elif region.directive.construct in IN_PLACE:
            region.sharing = sharing.decide_worksharing(region, [])
        elif region.directive.construct in ("task", "taskloop"):
            region.sharing = {}  # tasks: after the regions around them (below)
            continue
        else:
            forced = {**region.implied, **_forced_by_inner_loops(region, all_regions,
                                                                 loop_of, read_after)}
            for name, (decl, _) in private_to_threads.get(id(region), {}).items():
                forced[name] = ("private", f"threadprivate (line {decl.loc.line})")
            inner_reads = set().union(*(
                markers.clause_reads(r.directive, local_names) for r in all_regions
                if r is not region and r.head in region.blocks))
            region.sharing = sharing.decide(func_ir, region, live_map,
                                            defined[region.head], located, forced,
                                            inner_reads)
    for region, plan in scalar_atomics:
        outer = region
        while outer.parent is not None:
            outer = outer.parent
        head = func_ir.blocks[outer.head]
        before = (head, outer.stmt) if plan.target in defined[outer.head] else None
        atomics.apply_scalar(func_ir, region, plan, before)
    kept_arguments = _arguments_never_reassigned(func_ir)
    for region in all_regions:  # outer first: a task reads its enclosing region's choices
        if region.directive.construct == "task":
            around = region.parent
            while around is not None and around.directive.construct not in ("parallel",
                                                                              "task"):
                around = around.parent
            inner_reads = set().union(*(
                markers.clause_reads(r.directive, local_names) for r in all_regions
                if r is not region and r.head in region.blocks))
            region.sharing = sharing.decide_task(
                func_ir, region, around.sharing if around is not None else None,
                defined[region.head], _locator(region), inner_reads)
            _borrow_arguments(region, all_regions, kept_arguments)
    for region in all_regions:
        if region.directive.has("copyprivate"):
            _check_copyprivate(region)
        if region.directive.has("in_reduction"):
            _check_in_reduction(region)
        if any(c.modifier == "task" for c in region.directive.clauses_named("reduction")):
            _check_task_modifier(func_ir, region, all_regions)
    races.check(func_ir, all_regions, loop_of, race_facts)  # RaceWarnings
    chunk_tasks = []
    for region in all_regions:
        region.region_id = next(_region_ids)
        if region.directive.construct == "taskloop":
            chunk = loops.rewrite(func_ir, region, region.region_id, loop_of[id(region)])
            chunk_tasks.append((region, chunk))
        if region.directive.construct == "for":
            linear = _linear_starts(func_ir, region, loop_of[id(region)], defined,
                                    local_names)
            levels = loop_of[id(region)]
            rows = (nonrect.build_rows_helper(func_ir, levels, local_names,
                                              _locator(region))
                    if any(level.dependent for level in levels) else None)
            loops.rewrite(func_ir, region, region.region_id, levels, linear,
                          ordered=region.directive.has("ordered"), rows=rows)
    # (after the loop rewrites: they hold statement positions in the loops' blocks)
    stores = {}
    for decl in declarations:
        for var in decl.directive.threadprivate_vars:
            stores[(id(decl), var.name)] = threadprivate.declare(func_ir, decl, var.name)
    for region in all_regions:
        for name, (decl, copyin) in private_to_threads.get(id(region), {}).items():
            threadprivate.rewrite_region(func_ir, region, name, stores[(id(decl), name)],
                                         copyin)
    if chunk_tasks:
        defined = regions.definitely_defined(func_ir,
                                             analysis.compute_cfg_from_blocks(func_ir.blocks))
        for region, chunk in chunk_tasks:
            task = _chunk_task(func_ir, region, chunk, defined, local_names)
            all_regions.insert(all_regions.index(region) + 1, task)
        defined = regions.definitely_defined(func_ir,
                                             analysis.compute_cfg_from_blocks(func_ir.blocks))
    for region in all_regions:  # outer first: enter markers nest in order
        located = _locator(region)
        region.payload = markers.insert(func_ir, region, region.region_id, region.sharing,
                                        defined, local_names, located)
    _keep_task_shared_alive(func_ir, all_regions, defined)
    for region in withs:
        _drop_context_call(func_ir, region.call)
        head = func_ir.blocks[region.head]
        head.body = [s for s in head.body if s is not region.stmt]
        pop = func_ir.blocks[region.pop]
        pop.body = [s for s in pop.body if not isinstance(s, ir.PopBlock)]
    func_ir._definitions = ir_utils.build_definitions(func_ir.blocks)
    return all_regions


def _sections_as_loops(func_ir, withs):
    """Each `sections` becomes a worksharing loop over its `section`s (pyomp.sections);
    the `section` blocks stop being regions of their own."""
    for region in withs:
        construct = region.directive.construct
        if construct == "section" and (region.parent is None or not region.parent.directive
                                       .construct.endswith("sections")):
            raise _locate(PyompError(
                "a `section` block must stand directly inside a 'sections' construct "
                "(`with openmp(\"sections\"):` around the `section` blocks)"),
                region.loc, region.directive)
    children = [r for r in withs if r.directive.construct == "section"]
    for region in withs:
        if region.directive.construct.endswith("sections"):
            mine = [c for c in children if c.parent is region]
            region.directive = sections.rewrite(func_ir, region, mine, _locator(region))
            func_ir._definitions = ir_utils.build_definitions(func_ir.blocks)
    kept = [r for r in withs if r.directive.construct != "section"]
    for child in children:  # their enter_with/pop_block are gone with their blocks
        child.parent = None
    return kept


def _threadprivate_uses(func_ir, declarations, all_regions, local_names):
    """{id(parallel region): {variable: (its threadprivate declaration, copyin?)}} for the
    parallel regions after a declaration that use a declared variable; checks the rules:
    declarations stand outside regions and name variables that have a value, declared
    variables appear in no data-sharing clause, copyin names only declared variables."""
    declared = {}
    for decl in declarations:
        located = _locator(decl.loc)
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
        located = _locator(region)
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
                        raise _locate(PyompError(
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
                        raise _locate(UnsupportedConstructError(
                            f"'{var.name}' is updated on line {stmt.loc.line} outside the "
                            f"tasks of this `reduction(task, ...)`; pyomp does not yet "
                            f"combine a thread's own updates with its in_reduction tasks' "
                            f"(update it in tasks with in_reduction({clause.op}: "
                            f"{var.name}), or use a plain reduction)",
                            directive=region.directive.text, span=var.span), region.loc)


def _check_copyprivate(region):
    """copyprivate broadcasts into each thread's own variable: a variable the enclosing
    parallel region shares would be one variable written by every thread at once."""
    team = _enclosing_parallel(region)
    if team is None:
        return  # an orphaned `single`: each thread's variables are its own
    for clause in region.directive.clauses_named("copyprivate"):
        for var in clause.vars:
            d = team.sharing.get(var.name)
            if d is not None and d.sharing not in ("private", "firstprivate"):
                raise _locate(PyompError(
                    f"copyprivate variable '{var.name}' must be private in the enclosing "
                    f"parallel region (line {team.loc.line}), where it is {d.sharing} "
                    f"({d.why}); add private({var.name}) there",
                    directive=region.directive.text, span=var.span), region.loc)


def _linear_starts(func_ir, region, levels, defined, local_names):
    """For `linear(x: step)`: read x and evaluate the step before the construct (into
    temporaries); returns [(x, start, step)] for the loop body to set x = start + k * step
    at iteration k."""
    d = region.directive
    loop_vars = {level.var for level in levels}
    head = func_ir.blocks[region.head]
    found = []
    for clause in d.clauses_named("linear"):
        located = _locator(region)
        if clause.modifiers:
            raise located(UnsupportedConstructError(
                f"linear modifier '{clause.modifiers[0]}' is not implemented by this version "
                "of pyomp", directive=d.text, span=clause.span))
        for var in clause.vars:
            if var.name in loop_vars:
                continue  # the loop variable is linear already
            if var.name not in defined[region.head]:
                raise located(PyompError(
                    f"linear variable '{var.name}' has no value before the loop",
                    directive=d.text, span=var.span))
            builder = markers.StatementBuilder(func_ir, head, region.loc)
            start = builder.assign(ir.Var(head.scope, var.name, region.loc), "$pyomp_linear")
            step = (markers.clause_operand(builder, func_ir, clause.expr, local_names, located)
                    if clause.expr is not None
                    else builder.assign(ir.Const(1, region.loc), "$pyomp_linear"))
            index = next(i for i, s in enumerate(head.body) if s is region.stmt)
            head.body[index:index] = builder.stmts
            found.append((var.name, start, step))
    return found


def _check_clause_variables(region, local_names):
    """A variable named in a data-sharing clause must be a variable of the function."""
    d = region.directive
    for clause in d.clauses:
        if clause.name not in sharing.CLAUSE_SHARING:
            continue
        for var in clause.vars:
            if var.name not in local_names:
                raise _locate(PyompError(
                    f"'{var.name}' in {clause.name}(...) is not a variable of this function",
                    directive=d.text, span=var.span), region.loc)


def _loop_vars_read_after(loop, loop_of, live_map):
    """The loop variables of worksharing loop `loop` that the code after the parallel
    region it binds reads: after `for i in range(n)` Python's `i` is n - 1, and PyOMP gives
    the same, so they are lastprivate (the region shares them). An orphaned loop's are
    its thread's own: private."""
    bound = _enclosing_parallel(loop)
    if bound is None:
        return set()
    live = live_map.get(bound.exit, set())
    return {level.var for level in loop_of[id(loop)] if level.var in live}


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
        if inner.directive.construct != "for" or _enclosing_parallel(inner) is not region:
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


def _drop_context_call(func_ir, call):
    """`openmp("...")` computes nothing at run time: its call becomes a constant None, so no
    call to the context object is typed or lowered."""
    for block in func_ir.blocks.values():
        for stmt in block.body:
            if isinstance(stmt, ir.Assign) and stmt.value is call:
                stmt.value = ir.Const(None, call.loc)
                return


def strip_shared_dels(func_ir):
    """Removes Numba's `del` of shared variables inside regions (run just before lowering,
    when the dels exist).

    A `del` decrefs the variable and zeroes its slot; inside a region that slot belongs to
    the whole team, so a thread leaving the region by an exception would free or clear a
    value the other threads are still using.  On the normal path the exit marker keeps
    shared variables alive until after the region, so only exception paths had such dels.
    """
    consts, globals_ = {}, {}
    calls = []
    for label, block in func_ir.blocks.items():
        for stmt in block.body:
            if not isinstance(stmt, ir.Assign):
                continue
            value = stmt.value
            if isinstance(value, ir.Global):
                globals_[stmt.target.name] = value.value
            elif isinstance(value, ir.Const):
                consts[stmt.target.name] = value.value
            elif isinstance(value, ir.Expr) and value.op == "call":
                calls.append((label, value))
    enters, exits = {}, {}
    for label, call in calls:
        fn = globals_.get(call.func.name)
        if fn is markers.region_enter or fn is markers.region_exit:
            payload = json.loads(consts[call.args[0].name])
            (enters if fn is markers.region_enter else exits)[payload["id"]] = (label, payload,
                                                                                call)
    for rid, (head, payload, enter_call) in enters.items():
        if rid not in exits:
            continue
        end, _, exit_call = exits[rid]
        shared = {v["name"] for v in payload["vars"] if v["sharing"] == "shared"}
        inside = _blocks_between(func_ir, head, end) if end != head else set()
        if payload["construct"] == "parallel":
            shared |= _shared_by_tasks_in(enters, inside)
        ordered = payload["clauses"].get("ordered", False)
        # The head block's statements after the enter marker belong to the region too
        # (Numba puts the `del` of a variable every path redefines right after its last
        # use, which may be the marker itself: a shared `r` set in a `single`), up to the
        # exit marker when that is in the same block: Numba merges straight-line blocks
        # once it has inlined a helper (a worksharing loop's trip count), and the dels
        # after the region must stay.
        head_block = func_ir.blocks[head]
        at = next(i for i, stmt in enumerate(head_block.body)
                  if isinstance(stmt, ir.Assign) and stmt.value is enter_call)
        stop = len(head_block.body)
        if end == head:
            stop = next(i for i, stmt in enumerate(head_block.body)
                        if isinstance(stmt, ir.Assign) and stmt.value is exit_call)
        kept = head_block.body[:at + 1]
        for stmt in head_block.body[at + 1:stop]:
            if not (isinstance(stmt, ir.Del) and (stmt.value in shared
                                                  or payload["construct"] == "task")):
                kept.append(stmt)
        head_block.body = kept + head_block.body[stop:]
        if payload["construct"] == "task":
            # The task's code runs apart from its creator, which goes on: it may release
            # only what it made itself (a raise would `del` the creator's loop iterator).
            made = {s.target.name for label in inside for s in func_ir.blocks[label].body
                    if isinstance(s, ir.Assign)}
            for label in inside:
                block = func_ir.blocks[label]
                block.body = [s for s in block.body
                              if not (isinstance(s, ir.Del) and s.value not in made)]
            continue
        for label in inside:
            block = func_ir.blocks[label]
            # A thread that raises in an ordered loop goes on running the loop's
            # machinery (without the bodies) to pass its ordered turns on: the temporaries
            # that machinery reads (the chunk iterator, bounds) must survive the raise.
            resumes = ordered and isinstance(block.terminator, _RAISES)
            block.body = [s for s in block.body
                          if not (isinstance(s, ir.Del)
                                  and (s.value in shared
                                       or (resumes and s.value.startswith("$"))))]
        if payload["construct"] in _ONE_THREAD:
            _move_dels_after(func_ir, head_block, at, inside, end, exit_call)


def _shared_by_tasks_in(enters, labels):
    """The variables that the tasks created in blocks `labels` (a parallel region's) share
    by address. A task may run until the region's end: Numba's `del` after the task's
    construct (the variable's last use in the creating thread's code) would release, and
    zero, a variable of the region (a thread's own array made in a `single`) that the task
    is still to read; without it the region's end releases the thread's copy, after the
    tasks are done."""
    names = set()
    for head, payload, _ in enters.values():
        if payload["construct"] == "task" and head in labels:
            names |= {v["name"] for v in payload["vars"] if v["sharing"] == "shared"}
    return names


#: Constructs whose block only one thread of the team runs (the others go straight to its
#: end).
_ONE_THREAD = ("single", "master", "masked", "section")


def _move_dels_after(func_ir, head_block, at, inside, end, exit_call):
    """Moves the `del`s of variables made before a one-thread construct (`single`,
    `master`, ...) from its block to its end: every thread holds its own reference to such
    a variable (an argument, a value of its team's region), and Numba put the release at
    the last use, inside the block, which the other threads skip (a leak per thread and
    call).  The `del`s on raising paths stay: a thread that raises there returns before
    the end."""
    made = {s.target.name for label in inside for s in func_ir.blocks[label].body
            if isinstance(s, ir.Assign)}
    made |= {s.target.name for s in head_block.body[at + 1:]
             if isinstance(s, ir.Assign) and s.value is not exit_call}
    moved = []

    def strip(stmts):
        kept = []
        for stmt in stmts:
            if isinstance(stmt, ir.Del) and stmt.value not in made:
                moved.append(stmt)
            else:
                kept.append(stmt)
        return kept

    # the head block's statements after the enter marker, up to the exit marker if there
    stop = next((i for i, stmt in enumerate(head_block.body)
                 if isinstance(stmt, ir.Assign) and stmt.value is exit_call),
                len(head_block.body))
    head_block.body = (head_block.body[:at + 1] + strip(head_block.body[at + 1:stop])
                       + head_block.body[stop:])
    for label in inside:
        block = func_ir.blocks[label]
        if not isinstance(block.terminator, _RAISES):
            block.body = strip(block.body)
    if not moved:
        return
    # right after the exit marker (the pass puts the construct's end, where the other
    # threads join, at the marker)
    end_block = func_ir.blocks[end]
    after = next(i for i, stmt in enumerate(end_block.body)
                 if isinstance(stmt, ir.Assign) and stmt.value is exit_call) + 1
    present = {s.value for s in end_block.body if isinstance(s, ir.Del)}
    dels = []
    for stmt in moved:
        if stmt.value not in present:
            present.add(stmt.value)
            dels.append(stmt)
    end_block.body[after:after] = dels


_RAISES = (ir.Raise, ir.StaticRaise, ir.DynamicRaise)


def _blocks_between(func_ir, head, end):
    """Blocks reachable from `head`'s successors without passing `end`."""
    seen, stack = set(), list(func_ir.blocks[head].terminator.get_targets())
    while stack:
        label = stack.pop()
        if label in seen or label == end:
            continue
        seen.add(label)
        stack.extend(func_ir.blocks[label].terminator.get_targets())
    return seen
