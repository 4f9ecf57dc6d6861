"""Target constructs on pyomp's devices (pyomp.devices): a construct's device and data
environment become calls around it, and the construct runs in place on the encountering
thread, on the device copies.

    with openmp("target map(to: a)"):        $dev = select_device(NO_DEVICE, True)
        body                                 $rec = target_begin($dev)
                                      ->     $host = a; a = map_enter($rec, $host, TO, ..)
                                             enter_device($dev)
                                             [target region: body; end of $rec]
                                             a = map_back($host, a, TO)

Inside the body `a` is a view of the device copy, so a program that forgets
`map(from: a)` sees the host's old values, as on a GPU. The region's end (the Rust pass,
on every path, an exception's included) ends the record: each list item's mapping ends,
copied back and freed as its reference count says. `target enter data`, `exit data` and
`update` become one call per list item (data_motion) and no region at all.

Types are not known yet, so each variable gets the bits for an array and, in the second
byte, what a scalar does (SCALAR_BACK: its value comes back, for map from/tofrom);
pyomp.devices' overloads choose by type.
"""

from __future__ import annotations

import ast
import dataclasses

from numba.core import ir, ir_utils

from . import devices, tasks
from .devices import FROM, OWN_COPY, SCALAR_BACK, TO
from .directives.model import Expr
from .errors import PyompError, UnsupportedConstructError
from .markers import StatementBuilder, clause_operand, clause_reads
from .sharing import mark_generated

#: The standalone data constructs: which list they move and how.
STANDALONE = ("target enter data", "target exit data", "target update")
_MOTION = {"target enter data": 0, "target exit data": 1, "target update": 2}
_MAP_TYPES = {
    "target": ("to", "from", "tofrom", "alloc"),
    "target data": ("to", "from", "tofrom", "alloc"),
    "target enter data": ("to", "alloc"),
    "target exit data": ("from", "release", "delete"),
}
_DEFAULT_MAP_TYPE = {"target": "tofrom", "target data": "tofrom", "target enter data": "to",
                     "target exit data": "from"}
_BITS = {"to": TO, "from": FROM | SCALAR_BACK, "tofrom": TO | FROM | SCALAR_BACK, "alloc": 0,
         "release": 0, "delete": devices.DELETE}
_MODIFIER_BITS = {"always": devices.ALWAYS, "present": devices.PRESENT, "close": 0}
#: Implicit data-mapping attributes (OpenMP 5.2, 5.8.1): an array tofrom, a scalar
#: firstprivate; defaultmap(behaviour[: category]) changes them.
_IMPLICIT_ARRAY, _IMPLICIT_SCALAR = TO | FROM, 0
_DEFAULTMAP_BITS = {"alloc": 0, "to": TO, "from": FROM | SCALAR_BACK,
                    "tofrom": TO | FROM | SCALAR_BACK, "firstprivate": OWN_COPY | TO,
                    "present": devices.PRESENT}


class _Item:
    """One list item: the variable, its bits, and its section bounds (None: whole)."""

    def __init__(self, name, bits, section=None, span=None):
        self.name, self.bits, self.section, self.span = name, bits, section, span


def list_items(directive, clause, located):
    """The list items of a map/to/from clause as (variable, (lo, hi) texts or None, span):
    a variable, or a section of an array's first axis `a[lo:hi]` (bounds may be left out)."""
    out = []
    for item in clause.items:
        tree = item.tree()
        if isinstance(tree, ast.Name):
            out.append((tree.id, None, item.span))
            continue
        if isinstance(tree, ast.Subscript) and isinstance(tree.value, ast.Name) \
                and isinstance(tree.slice, ast.Slice) and tree.slice.step is None:
            bounds = tuple(ast.unparse(b) if b is not None else None
                           for b in (tree.slice.lower, tree.slice.upper))
            out.append((tree.value.id, bounds, item.span))
            continue
        raise located(PyompError(
            f"a {clause.name} list item is a variable or a section of an array's first axis "
            f"(`a`, `a[lo:hi]`), not '{item.text}'", directive=directive.text,
            span=item.span))
    return out


def _explicit(directive, located):
    """{variable: _Item} from the construct's own clauses (one list item per variable: two
    sections of one array in one construct are refused by name)."""
    items = {}
    construct = directive.construct
    for clause in directive.clauses_named("map"):
        kind = clause.kind or _DEFAULT_MAP_TYPE[construct]
        if kind not in _MAP_TYPES[construct]:
            raise located(PyompError(
                f"map type '{kind}' is not allowed on '{construct}' (it takes "
                f"{', '.join(_MAP_TYPES[construct])})", directive=directive.text,
                span=clause.span))
        bits = _BITS[kind]
        for modifier in clause.modifiers:
            bits |= _MODIFIER_BITS[modifier]
        for name, section, span in list_items(directive, clause, located):
            _add(items, _Item(name, bits, section, span), directive, located)
    for clause_name in ("to", "from"):  # target update
        for clause in directive.clauses_named(clause_name):
            for name, section, span in list_items(directive, clause, located):
                bits = TO if clause_name == "to" else FROM
                _add(items, _Item(name, bits, section, span), directive, located)
    for clause in directive.clauses_named("firstprivate"):
        for var in clause.vars:
            _add(items, _Item(var.name, OWN_COPY | TO), directive, located)
    for clause in directive.clauses_named("private"):
        for var in clause.vars:
            _add(items, _Item(var.name, OWN_COPY), directive, located)
    return items


def _add(items, item, directive, located):
    """items[item.name] = item, refusing a second list item for a variable."""
    if item.name in items:
        raise located(UnsupportedConstructError(
            f"'{item.name}' appears in two list items of '{directive.construct}': this "
            "version of pyomp maps one list item per variable and construct (map the whole "
            "array, or one section per construct)", directive=directive.text,
            span=item.span))
    items[item.name] = item


def _implicit_bits(directive, located):
    """The bits of a variable no clause names (None: defaultmap(none) forbids it)."""
    array, scalar = _IMPLICIT_ARRAY, _IMPLICIT_SCALAR
    for clause in directive.clauses_named("defaultmap"):
        category = clause.modifier or "all"
        if clause.kind == "none":
            if category == "all":
                return None
            continue  # (per category: types are not known here; not checked)
        bits = _IMPLICIT_ARRAY if clause.kind == "default" else _DEFAULTMAP_BITS[clause.kind]
        if category in ("aggregate", "pointer", "all"):
            array = bits & 0xFF
        if category in ("scalar", "all"):
            scalar = _IMPLICIT_SCALAR if clause.kind == "default" else bits & SCALAR_BACK
    return array | scalar


def _used(func_ir, region, regions, local_names):
    """The variables the region's statements and nested directives read or write."""
    names = set()
    for label in region.blocks:
        for stmt in func_ir.blocks[label].body:
            names |= {v.name for v in stmt.list_vars()}
    for inner in regions:
        if inner is not region and inner.head in region.blocks:
            names |= clause_reads(inner.directive, local_names)
            names |= {v.name for c in inner.directive.clauses for v in c.vars}
    return {n for n in names if n in local_names}


def _implied_by_combined(region, regions):
    """A combined `target ...` construct: its other leaves' reduction and lastprivate
    variables are mapped tofrom on the target (OpenMP 5.2, 17.2)."""
    names = set()
    for other in regions:
        if other is not region and other.stmt is region.stmt:
            for clause in other.directive.clauses:
                if clause.name in ("reduction", "lastprivate"):
                    names |= {v.name for v in clause.vars}
    return names


def plan(func_ir, region, regions, defined, local_names, located):
    """[_Item] to map for target or target data `region`."""
    d = region.directive
    explicit = _explicit(d, located)
    skipped = {v.name for c in d.clauses if c.name in ("is_device_ptr", "has_device_addr")
               for v in c.vars}
    items = [i for n, i in sorted(explicit.items()) if n not in skipped]
    for name in sorted(_implied_by_combined(region, regions) - set(explicit)):
        items.append(_Item(name, TO | FROM | SCALAR_BACK))
    if d.construct == "target":
        implicit = _implicit_bits(d, located)
        taken = set(explicit) | skipped | {i.name for i in items}
        for name in sorted(_used(func_ir, region, regions, local_names) - taken):
            if name not in defined:
                continue  # first given a value inside: the construct's own
            if implicit is None:
                raise located(PyompError(
                    f"variable '{name}' is used in a target region with defaultmap(none) "
                    "but is not listed in a map, firstprivate, private or is_device_ptr "
                    "clause", directive=d.text))
            items.append(_Item(name, implicit))
    # A variable first given a value inside the construct has nothing to copy in, and the
    # value it gets there is the host's afterwards: the region runs in place (PyOMP's
    # `map(from: r)` of a result computed in the region relies on it). Anything else
    # listed must have a value where the construct starts.
    for item in items:
        if item.name not in defined and item.bits & (TO | OWN_COPY | devices.PRESENT):
            raise located(PyompError(
                f"'{item.name}' may have no value where the '{d.construct}' construct starts, "
                "but a clause copies it to the device", directive=d.text, span=item.span))
    return [item for item in items if item.name in defined]


def describe(bits):
    """How a list item is mapped, in OpenMP's words (pyomp.explain)."""
    if bits & OWN_COPY:
        return "firstprivate" if bits & TO else "private"
    kind = {TO: "to", FROM: "from", TO | FROM: "tofrom", 0: "alloc"}[bits & (TO | FROM)]
    if kind == "tofrom" and not bits & SCALAR_BACK:
        kind = "tofrom (an array; a scalar: firstprivate)"
    extras = [m for m, bit in (("always", devices.ALWAYS), ("present", devices.PRESENT))
              if bits & bit]
    return ", ".join([*extras, kind])


def _device_and_condition(b, func_ir, directive, local_names, located):
    device = directive.clause("device")
    if device is not None and device.modifier == "ancestor":
        raise located(UnsupportedConstructError(
            "device(ancestor: ...) (reverse offload) is not implemented by this version of "
            "pyomp", directive=directive.text, span=device.span))
    dev = (clause_operand(b, func_ir, device.expr, local_names, located) if device
           else b.assign(ir.Const(devices.NO_DEVICE, b.loc), "$pyomp_const"))
    cond_clause = directive.clause("if")
    cond = (clause_operand(b, func_ir, cond_clause.expr, local_names, located) if cond_clause
            else b.assign(ir.Const(True, b.loc), "$pyomp_const"))
    if directive.has("depend"):
        # run now, after every earlier child task: each dependence is then met (more than
        # the construct asks for, never less)
        b.call("wait_for_child_tasks", tasks.wait_for_child_tasks, [])
    return b.call("select_device", devices.select_device, [dev, cond])


def _bounds(b, func_ir, item, local_names, located):
    out = []
    for text in item.section or (None, None):
        if text is None:
            out.append(b.assign(ir.Const(devices.NO_BOUND, b.loc), "$pyomp_const"))
        else:
            out.append(clause_operand(b, func_ir, Expr(text, item.span or (0, 0)),
                                      local_names, located))
    return out


def rewrite(func_ir, region, regions, defined, local_names, located):
    """Rewrites target / target data `region` in place: the calls before and after it;
    returns the record variable its end must end.

    A target region's body sees each list item's device copy: at the top of a function
    the variable itself is rebound for the region (and given the host's value back
    after it); in a region nested in another construct, where the variable may be shared
    by a team, the body's uses are renamed to a variable of the target region's own."""
    d = region.directive
    items = plan(func_ir, region, regions, defined, local_names, located)
    head, loc = func_ir.blocks[region.head], region.loc
    b = StatementBuilder(func_ir, head, loc)
    dev = _device_and_condition(b, func_ir, d, local_names, located)
    record = b.call("target_begin", devices.target_begin, [dev])
    exit_block = func_ir.blocks[region.exit]
    after = StatementBuilder(func_ir, exit_block, loc)
    renamed = {}
    nested = d.construct == "target" and _inside_a_team_or_task(region)
    for item in items:
        var = ir.Var(head.scope, item.name, loc)
        bits = b.assign(ir.Const(item.bits, loc), "$pyomp_const")
        lo, hi = _bounds(b, func_ir, item, local_names, located)
        mapped = _call(b, "map_enter", devices.map_enter, [record, var, bits, lo, hi])
        if d.construct == "target data":  # the body is host code: it keeps the host's
            b.assign(mapped, "$pyomp_mapped")
            continue
        if nested:
            inside = ir.Var(head.scope, f"{item.name}_pyomp_device{region.head}", loc)
            renamed[item.name] = inside.name
            b.stmts.append(ir.Assign(mapped, inside, loc))
            if not item.bits & SCALAR_BACK:
                continue  # nothing comes back: the host's variable is left alone
            host = var
        else:
            host = b.assign(var, "$pyomp_host")
            b.stmts.append(ir.Assign(mapped, var, loc))
            inside = var
        back_bits = after.assign(ir.Const(item.bits, loc), "$pyomp_const")
        after.stmts.append(mark_generated(ir.Assign(
            _call(after, "map_back", devices.map_back, [host, inside, back_bits]), var, loc)))
    for clause in d.clauses:
        if clause.name in ("use_device_ptr", "use_device_addr"):
            for v in clause.vars:
                var = ir.Var(head.scope, v.name, loc)
                host = b.assign(var, "$pyomp_host")
                b.stmts.append(ir.Assign(_call(b, "device_view", devices.device_view,
                                               [dev, host]), var, loc))
                after.stmts.append(ir.Assign(host, var, loc))
    if d.construct == "target":  # (after the maps: one that fails leaves nothing set)
        b.call("enter_device", devices.enter_device, [dev])
    _insert_before(head, region.stmt, b.stmts)
    exit_block.body[0:0] = after.stmts
    region.device_plan = [(item.name, describe(item.bits)) for item in items]
    if renamed:
        _rename(func_ir, region, regions, renamed)
    return record


def _inside_a_team_or_task(region):
    """Whether a construct around `region` may run it on several threads (anything but
    `target data`, which one thread runs in place): its variables may be a team's."""
    outer = region.parent
    while outer is not None:
        if outer.directive.construct != "target data":
            return True
        outer = outer.parent
    return False


def _rename(func_ir, region, regions, renamed):
    """The body's uses of each variable in `renamed` (old -> new name), in its statements
    and in the directives of the constructs inside it."""
    ir_utils.replace_var_names({label: func_ir.blocks[label] for label in region.blocks},
                               renamed)
    for inner in regions:  # constructs inside, and the other leaves of a combined one
        if inner is not region and (inner.head in region.blocks or inner.stmt is region.stmt):
            inner.directive = rename_directive(inner.directive, renamed)
            inner.implied = {renamed.get(k, k): v for k, v in inner.implied.items()}


def rename_directive(d, renamed):
    """Directive `d` with the variables its clauses name renamed."""
    def expr(e):
        if e is None:
            return None
        tree = ast.parse("(" + e.text + ")", mode="eval")
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id in renamed:
                node.id = renamed[node.id]
        return dataclasses.replace(e, text=ast.unparse(tree.body))

    def var(v):
        section = tuple(expr(x) if isinstance(x, Expr) else x for x in v.section) \
            if v.section else v.section
        return dataclasses.replace(v, name=renamed.get(v.name, v.name), section=section)

    clauses = tuple(dataclasses.replace(
        c, vars=tuple(map(var, c.vars)), items=tuple(map(expr, c.items)), expr=expr(c.expr))
        for c in d.clauses)
    return dataclasses.replace(d, clauses=clauses, flush_list=tuple(map(expr, d.flush_list)))


def rewrite_standalone(func_ir, region, local_names, located):
    """`target enter data` / `exit data` / `update`: one call per list item, at the
    construct's place (its region goes)."""
    d = region.directive
    head, loc = func_ir.blocks[region.head], region.loc
    b = StatementBuilder(func_ir, head, loc)
    dev = _device_and_condition(b, func_ir, d, local_names, located)
    items = sorted(_explicit(d, located).values(), key=lambda i: i.name)
    if not items:
        raise located(PyompError(f"'{d.construct}' needs at least one "
                                 + ("to or from clause" if d.construct == "target update"
                                    else "map clause"), directive=d.text))
    what = b.assign(ir.Const(_MOTION[d.construct], loc), "$pyomp_const")
    for item in items:
        var = ir.Var(head.scope, item.name, loc)
        bits = b.assign(ir.Const(item.bits, loc), "$pyomp_const")
        lo, hi = _bounds(b, func_ir, item, local_names, located)
        b.call("data_motion", devices.data_motion, [dev, var, bits, lo, hi, what])
    _insert_before(head, region.stmt, b.stmts)


def _call(b, name, fn, args):
    fn_var = b.assign(ir.Global(name, fn, b.loc), "$pyomp_fn")
    return ir.Expr.call(fn_var, args, (), b.loc)


def _insert_before(block, stmt, stmts):
    index = next(i for i, s in enumerate(block.body) if s is stmt)
    block.body[index:index] = stmts
