"""Region markers: the calls that delimit an OpenMP region in the LLVM IR Numba emits.

A region's entry becomes `call void (i8*, ...) @pyomp.region.enter(i8* <payload>, <vars>)`
and its end `call void (i8*, ...) @pyomp.region.exit(i8* <payload>, <vars>)`.  The payload
is JSON: the directive, its clause values' operand positions, each variable's data-sharing
decision and its Numba type; the operands are the variables' values, loaded from the
allocas the Rust pass rewrites.  Passing the variables also keeps Numba's liveness honest:
a variable used by the region stays alive (no decref) until the exit marker.  No marker
survives the Rust pass.
"""

from __future__ import annotations

import ast
import json

from llvmlite import ir as llir
from numba.core import cgutils, errors, ir, types
from numba.core.extending import intrinsic

from . import array_copies, array_reduction
from .directives.model import Expr
from .errors import PyompError, UnsupportedConstructError

ENTER = "pyomp.region.enter"
EXIT = "pyomp.region.exit"


def _type_info(context, ty):
    """What the Rust pass needs to know of a Numba type (LLVM types lack signedness)."""
    if isinstance(ty, types.Boolean):
        return {"kind": "bool"}
    if isinstance(ty, types.Integer):
        return {"kind": "int", "signed": bool(ty.signed), "bits": ty.bitwidth}
    if isinstance(ty, types.Float):
        return {"kind": "float", "bits": ty.bitwidth}
    if isinstance(ty, types.Complex):
        return {"kind": "complex", "bits": ty.bitwidth}
    return {"kind": "other"}


def _refcount_helpers(context, builder, ty, tag):
    """Emit `void(ptr)` functions that incref / decref a value of type `ty` held in memory,
    so the pass can copy or drop private copies without knowing Numba's data models."""
    if not (context.enable_nrt and context.data_model_manager[ty].contains_nrt_meminfo()):
        return None
    module = builder.module
    lltype = context.get_value_type(ty)
    names = {}
    for action in ("incref", "decref"):
        fn = llir.Function(module, llir.FunctionType(llir.VoidType(), [lltype.as_pointer()]),
                           name=f"pyomp.{action}.{tag}")
        fn.linkage = "internal"
        b = llir.IRBuilder(fn.append_basic_block("entry"))
        getattr(context.nrt, action)(b, ty, b.load(fn.args[0]))
        b.ret_void()
        names[action] = fn.name
    return names


def _starts_race_the_copy_out(region, decisions):
    """Whether a worksharing loop reads an original its last iteration's thread writes
    back: a linear variable's start (read before the loop) or a firstprivate and
    lastprivate variable's first value. Every thread must have read it before any copies
    out: a barrier after the starts, as Clang emits."""
    if region.directive.construct != "for":
        return False
    return (any(d.first for d in decisions.values() if d.sharing == "lastprivate")
            or any(clause.vars for clause in region.directive.clauses_named("linear")))


def _emit_marker(name, builder, payload, args):
    module = builder.module
    text = json.dumps(payload, separators=(",", ":"))
    data = bytearray(text.encode("utf-8")) + b"\0"
    gv = cgutils.global_constant(module, f"{name}.payload.{payload['id']}",
                                 llir.Constant(llir.ArrayType(llir.IntType(8), len(data)), data))
    fnty = llir.FunctionType(llir.VoidType(), [cgutils.voidptr_t], var_arg=True)
    fn = cgutils.get_or_insert_function(module, fnty, name)
    builder.call(fn, [builder.bitcast(gv, cgutils.voidptr_t), *args])


def _marker_intrinsic(name, annotate):
    """A marker intrinsic `f(payload_literal, *operands)` emitting a call to `name`;
    `annotate(context, builder, info, operands)` adds what codegen knows to the payload."""

    def typer(typingctx, payload, *operands):
        if not isinstance(payload, types.StringLiteral):
            raise errors.TypingError("pyomp region marker needs a literal payload")
        sig = types.none(payload, types.StarArgTuple.from_types(operands))

        def codegen(context, builder, signature, args):
            info = json.loads(payload.literal_value)
            values = cgutils.unpack_tuple(builder, args[1], len(operands))
            annotate(context, builder, info, operands, payload.literal_value)
            _emit_marker(name, builder, info, values)
            return context.get_dummy_value()

        return sig, codegen

    # Numba names the intrinsic (and its cache entries) after the function.
    typer.__name__ = typer.__qualname__ = name.replace(".", "_")
    return typer


#: The types Numba inferred for the function being lowered, by the JSON payload of each of
#: its enter markers (set by pipeline.UseOpenMPCodeLibrary just before lowering): what a
#: marker's operands do not say (a region's own variables have no value at its start).
LOWERING_TYPES = {}


def remember_types(func_ir, typemap):
    """Before lowering: the typemap of the function, for its enter markers' codegen."""
    LOWERING_TYPES.clear()
    for block in func_ir.blocks.values():
        for stmt in block.body:
            if (isinstance(stmt, ir.Assign) and isinstance(stmt.value, ir.Const)
                    and stmt.target.name.startswith("$pyomp_payload")
                    and isinstance(stmt.value.value, str)):
                LOWERING_TYPES[stmt.value.value] = typemap


def _nrt_variables(context, typemap):
    """The function's variables whose values hold NRT references (sorted names)."""
    return sorted(name for name, ty in typemap.items()
                  if not name.startswith("arg.") and context.enable_nrt
                  and context.data_model_manager[ty].contains_nrt_meminfo())


def _annotate_variables(context, builder, info, operands, raw):
    """Per variable with an operand: its type for the pass, and the Numba-compiled helpers
    the pass calls for reference counts and array reductions. Without an operand, from
    the function's typemap: the release helper of a parallel region's own variables (a
    thread that leaves the region early, past Numba's `del`s, releases them), and of every
    variable of a function whose orphaned construct may tell its thread to leave."""
    typemap = LOWERING_TYPES.get(raw) or {}
    by_type = {}

    def decref_of(ty, tag):
        if ty not in by_type:
            by_type[ty] = (_refcount_helpers(context, builder, ty, tag) or {}).get("decref")
        return by_type[ty]

    if info.get("leave_release") and typemap:
        info["leave_release"] = [
            {"name": name, "decref": decref_of(typemap[name], f"{info['id']}.leave.{i}")}
            for i, name in enumerate(_nrt_variables(context, typemap))]
    elif "leave_release" in info:
        del info["leave_release"]
    for var in info["vars"]:
        if var.get("operand") is None:
            ty = typemap.get(var["name"])
            if (info["construct"] == "parallel" and var["sharing"] == "private"
                    and ty is not None):
                decref = decref_of(ty, f"{info['id']}.local.{len(by_type)}")
                if decref:
                    var["decref"] = decref
            continue
        ty = operands[var["operand"]]
        var["type"] = _type_info(context, ty)
        var["numba_type"] = str(ty)
        tag = f"{info['id']}.{var['operand']}"
        # (a task's borrowed capture: no reference taken, none to release)
        helpers = None if var.get("borrowed") else _refcount_helpers(context, builder, ty,
                                                                      tag)
        if helpers:
            var.update(helpers)
        if array_copies.applies(ty, var):
            var["array_init"] = array_copies.emit(context, builder, ty, tag,
                                                  array_copies.starts_as_copy(var))
        if var["sharing"] == "reduction" and array_reduction.supports(ty, var["op"]):
            var.update(array_reduction.emit(context, builder, ty, var["op"], tag,
                                            section=var.get("section") is not None))


def _annotate_exit(context, builder, info, operands, raw):
    """The reference-count helpers of variables whose value exists at the end of the
    region but not necessarily at its start: copyprivate ones (the broadcast copies them)
    and those the region gives a value (released when the region raises)."""
    helpers = {}
    for name in sorted(set(info.get("copyprivate", ())) | set(info.get("fresh", ()))):
        ty = operands[info["vars"].index(name)]
        helpers[name] = _refcount_helpers(context, builder, ty,
                                          f"{info['id']}.exit.{name}") or {}
    if helpers:
        info["helpers"] = helpers


#: Marks the start of a region; the payload is the front end's JSON (a string literal).
region_enter = intrinsic(prefer_literal=True)(_marker_intrinsic(ENTER, _annotate_variables))
#: Marks the end of a region (the first statement after it).
region_exit = intrinsic(prefer_literal=True)(_marker_intrinsic(EXIT, _annotate_exit))


def marker_calls(func_ir):
    """(block label, "enter" or "exit", payload dict, call expression) of each region marker
    call the front end placed, in the order of func_ir.blocks (what passes/dels.py and the
    tests read back)."""
    consts, globals_ = {}, {}
    for block in func_ir.blocks.values():
        for stmt in block.body:
            if isinstance(stmt, ir.Assign) and isinstance(stmt.value, ir.Global):
                globals_[stmt.target.name] = stmt.value.value
            elif isinstance(stmt, ir.Assign) and isinstance(stmt.value, ir.Const):
                consts[stmt.target.name] = stmt.value.value
    for label, block in func_ir.blocks.items():
        for stmt in block.body:
            value = stmt.value if isinstance(stmt, ir.Assign) else None
            if not (isinstance(value, ir.Expr) and value.op == "call"):
                continue
            fn = globals_.get(value.func.name)
            if fn is region_enter or fn is region_exit:
                kind = "enter" if fn is region_enter else "exit"
                yield label, kind, json.loads(consts[value.args[0].name]), value


class StatementBuilder:
    """Appends Numba IR statements that build a marker call."""

    def __init__(self, func_ir, block, loc):
        self.func_ir, self.scope, self.loc = func_ir, block.scope, loc
        self.stmts = []

    def assign(self, value, prefix):
        var = ir.Var(self.scope, self.scope.redefine(prefix, self.loc).name, self.loc)
        self.stmts.append(ir.Assign(value=value, target=var, loc=self.loc))
        return var

    def call(self, fn_name, fn, args):
        fn_var = self.assign(ir.Global(fn_name, fn, self.loc), "$pyomp_fn")
        return self.assign(ir.Expr.call(fn_var, args, (), self.loc), "$pyomp_call")


def clause_reads(directive, local_names):
    """The local variables a directive's clause expressions read: a construct nested in a
    region evaluates them inside that region, so they count among the region's reads."""
    names = set()
    for clause in directive.clauses:
        exprs = [clause.expr] if clause.expr is not None else []
        if clause.name == "depend":
            exprs += list(clause.items)
        for expr in exprs:
            names |= {n.id for n in ast.walk(expr.tree())
                      if isinstance(n, ast.Name) and n.id in local_names}
    return names


def clause_operand(builder, func_ir, expr, local_names, located):
    """A Numba IR variable holding the value of a clause expression (`num_threads(k+1)`).

    Names and integer literals are used directly; any other expression becomes a small
    jitted function of the local variables it names, called before the region.
    """
    tree = expr.tree()
    if isinstance(tree, ast.Name) and tree.id in local_names:
        return ir.Var(builder.scope, tree.id, builder.loc)
    if isinstance(tree, ast.Constant) and isinstance(tree.value, (int, bool)):
        return builder.assign(ir.Const(tree.value, builder.loc), "$pyomp_const")
    import builtins

    import numba
    func = func_ir.func_id.func
    unknown = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
                      and n.id not in local_names and n.id not in func.__globals__
                      and not hasattr(builtins, n.id)
                      and n.id not in (func_ir.func_id.func.__code__.co_freevars or ())})
    if unknown:
        raise located(PyompError(
            f"'{unknown[0]}' in the clause expression '{expr.text}' is not a variable of "
            "the function, a global or a builtin", span=expr.span))
    names = sorted({n.id for n in ast.walk(tree)
                    if isinstance(n, ast.Name) and n.id in local_names})
    source = f"def clause_expr({', '.join(names)}):\n    return ({expr.text})\n"
    namespace = {}
    try:
        exec(compile(source, func_ir.loc.filename or "<openmp>", "exec"),  # noqa: S102
             func.__globals__, namespace)
    except SyntaxError as exc:  # the grammar checked it; keep a clear error regardless
        raise located(PyompError(f"invalid expression '{expr.text}': {exc.msg}",
                                 span=expr.span)) from None
    helper = numba.njit(namespace["clause_expr"])
    args = [ir.Var(builder.scope, n, builder.loc) for n in names]
    return builder.call("clause_expr", helper, args)


#: kmp_depend_info flags of each dependence type (as Clang sets them).
_DEPEND_FLAGS = {"in": 1, "out": 3, "inout": 3, "mutexinoutset": 4, "inoutset": 8}


def _depend_operands(enter, func_ir, directive, operands, local_names, located):
    """`depend(type: x, a[i])` of a task or taskwait: per item, an operand giving its
    address (a variable: its value, whose alloca the pass finds; an array element: its
    address, computed here) and the runtime's flag for the type."""
    from . import tasks
    out = []
    for clause in directive.clauses_named("depend"):
        flag = _DEPEND_FLAGS.get(clause.kind)
        if flag is None:
            raise located(UnsupportedConstructError(
                f"depend({clause.kind}: ...) is not implemented by this version of pyomp",
                span=clause.span))
        for item in clause.items:
            tree = item.tree()
            if isinstance(tree, ast.Name) and tree.id in local_names:
                out.append({"flag": flag, "operand": len(operands), "kind": "variable"})
                operands.append(ir.Var(enter.scope, tree.id, enter.loc))
                continue
            if isinstance(tree, ast.Subscript) and isinstance(tree.value, ast.Name) \
                    and tree.value.id in local_names \
                    and not isinstance(tree.slice, (ast.Slice, ast.Tuple)):
                index = Expr(ast.unparse(tree.slice), item.span)
                idx = clause_operand(enter, func_ir, index, local_names, located)
                addr = enter.call("element_address", tasks.element_address,
                                  [ir.Var(enter.scope, tree.value.id, enter.loc), idx])
                out.append({"flag": flag, "operand": len(operands), "kind": "address"})
                operands.append(addr)
                continue
            raise located(PyompError(
                f"a dependence is on a variable or an array element (`x`, `a[i]`), not "
                f"'{item.text}'", span=item.span))
    return out


def _clause_payload(enter, func_ir, directive, operands, local_names, located):
    """The clause part of the payload; clause expressions become marker operands."""
    clauses = {}
    for name in ("num_threads", "if", "filter", "final", "priority", "grainsize",
                 "num_tasks", "num_teams", "thread_limit"):
        clause = directive.clause(name)
        if clause is not None:
            clauses[name] = len(operands)
            operands.append(clause_operand(enter, func_ir, clause.expr, local_names, located))
    proc_bind = directive.clause("proc_bind")
    if proc_bind is not None:
        clauses["proc_bind"] = proc_bind.kind
    schedule = directive.clause("schedule")
    if schedule is not None:
        chunk = None
        if schedule.expr is not None:
            chunk = len(operands)
            operands.append(clause_operand(enter, func_ir, schedule.expr, local_names,
                                           located))
        clauses["schedule"] = {"kind": schedule.kind, "modifiers": list(schedule.modifiers),
                               "chunk": chunk}
    if directive.has("nowait"):
        clauses["nowait"] = True
    if directive.construct == "for" and directive.has("ordered"):
        clauses["ordered"] = True
    if directive.has("untied"):
        clauses["untied"] = True
    if directive.has("nogroup"):
        clauses["nogroup"] = True
    depends = _depend_operands(enter, func_ir, directive, operands, local_names, located)
    if depends:
        clauses["depend"] = depends
    if directive.construct == "critical":
        clauses["name"] = directive.name or ""
    if directive.construct in ("cancel", "cancellation point"):
        clauses["cancel"] = directive.cancel_type
    return clauses


#: Orphaned constructs with a barrier, after which a thread whose team failed leaves the
#: function (the pass's team_frame.rs protocol).
_ORPHAN_BARRIERS = ("barrier", "for", "single", "sections")


def _may_leave_its_function(region):
    """An orphaned construct with a barrier: the region of its team is in a caller."""
    outer = region.parent
    while outer is not None:
        if outer.directive.construct in ("parallel", "task", "taskloop"):
            return False
        outer = outer.parent
    return region.directive.construct in _ORPHAN_BARRIERS and not region.directive.has(
        "nowait")


def _region_facts(region, clauses, operands):
    """What the front end found about the region beyond its clauses, into its payload."""
    if region.binds is not None:  # cancel: the id of the construct it cancels
        clauses["binds"] = region.binds.region_id
    if region.cancellable:
        clauses["cancellable"] = True
    if region.ends_team:  # the join barrier stands in for its own (passes/split.py)
        clauses["nowait"] = True
    if region.distribute:  # a loop over the league's teams (pyomp.leagues)
        clauses["distribute"] = True
    if region.record is not None:  # target / target data: the record its end ends
        clauses["record"] = len(operands)
        operands.append(region.record)
    if region.last_flag is not None:  # a taskloop's chunk task with lastprivate variables
        clauses["last"] = len(operands)
        operands.append(region.last_flag)


def insert(func_ir, region, region_id, decisions, defined, local_names, located):
    """Puts the region's enter marker before its `enter_with` and its exit marker at the
    start of the block after it (so regions of one combined directive nest properly when
    inserted outer first); the front end removes the `enter_with`/`pop_block` afterwards."""
    blocks = func_ir.blocks
    head, loc = blocks[region.head], region.loc
    enter = StatementBuilder(func_ir, head, loc)
    operands = []
    clauses = _clause_payload(enter, func_ir, region.directive, operands, local_names, located)
    _region_facts(region, clauses, operands)
    var_payload = []
    for name, d in sorted(decisions.items()):
        entry = {"name": name, "sharing": d.sharing, "why": d.why, "op": d.op,
                 "operand": None, "first": d.first}
        if d.borrowed:
            entry["borrowed"] = True
        if d.explicit:
            entry["explicit"] = True
        if name in defined[region.head]:
            entry["operand"] = len(operands)
            operands.append(ir.Var(head.scope, name, loc))
        if d.section is not None:  # reduction(op: a[lo:hi]): the bounds, at the start
            entry["section"] = []
            for bound, default in zip(d.section, ("0", f"{name}.shape[0]")):
                bound = bound or Expr(default, (0, 0))
                entry["section"].append(len(operands))
                operands.append(clause_operand(enter, func_ir, bound, local_names, located))
        var_payload.append(entry)
    if _starts_race_the_copy_out(region, decisions):
        clauses["barrier_after_starts"] = True
    payload = {
        "id": region_id,
        "construct": region.directive.construct,
        "directive": region.directive.text,
        "loc": {"file": loc.filename, "line": loc.line, "column": (loc.col or 0) + 1},
        "clauses": clauses,
        "vars": var_payload,
    }
    if _may_leave_its_function(region):
        payload["leave_release"] = True  # the codegen lists the variables (see above)
    payload_var = enter.assign(ir.Const(json.dumps(payload), loc), "$pyomp_payload")
    enter.call("region_enter", region_enter, [payload_var, *operands])
    index = next(i for i, s in enumerate(head.body) if s is region.stmt)
    head.body[index:index] = enter.stmts

    exit_block = blocks[region.exit]
    leave = StatementBuilder(func_ir, exit_block, exit_block.loc)
    # Only variables whose outer slot holds a live value after the region: shared ones,
    # and private copies of variables that existed before it (their outer value is
    # released after the region, as Numba would without it).
    names = [n for n, d in sorted(decisions.items())
             if n in defined[region.exit]
             and (d.sharing in ("shared", "copyprivate") or n in defined[region.head])]
    copied = [n for n, d in sorted(decisions.items()) if d.sharing == "copyprivate"]
    for name in copied:
        if name not in defined[region.exit]:
            clause = next(v for c in region.directive.clauses_named("copyprivate")
                          for v in c.vars if v.name == name)
            raise located(PyompError(
                f"copyprivate variable '{name}' has no value at the end of the block",
                directive=region.directive.text, span=clause.span))
    exit_payload = {"id": region_id, "vars": names}
    if copied:
        exit_payload["copyprivate"] = copied
    fresh = [n for n in names if n not in defined[region.head]]
    if fresh:  # given a value in the region: the pass releases them when it raises
        exit_payload["fresh"] = fresh
    exit_var = leave.assign(ir.Const(json.dumps(exit_payload), loc), "$pyomp_payload")
    leave.call("region_exit", region_exit,
               [exit_var, *(ir.Var(exit_block.scope, n, loc) for n in names)])
    exit_block.body[0:0] = leave.stmts
    return payload
