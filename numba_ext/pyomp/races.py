"""Compile-time race warnings: unprotected writes to shared variables in parallel code.

Run by the front end after the data-sharing decisions, on the Numba IR of each `parallel`
region and each worksharing loop (`for`, `parallel for`, `sections`) of the function.  It
warns (`pyomp.errors.RaceWarning`, pointing at the user's line) when

- a shared scalar is assigned by every thread: not a reduction, lastprivate or private
  variable, not under atomic/critical/single/master/masked/ordered, not in a task, not in
  a region that takes an OpenMP lock, not in a branch only one thread or iteration takes
  (`if tid == 0:`); in `sections`, a shared scalar assigned in two or more sections;
- a shared array is written, unprotected, at an index that is the same on every thread
  (outside a loop) or in every iteration (in a worksharing loop): an index is thread-varying
  when its definitions in the region reach the loop variable, omp_get_thread_num(), a
  private variable or a call pyomp does not know.

It errs on the side of silence: when it cannot tell, it does not warn.
"""

from __future__ import annotations

import builtins
import math
import operator
import os
import warnings
from dataclasses import dataclass, field

from numba.core import analysis, ir

from .directives.checks import leaves
from .errors import RaceWarning
from .sharing import is_generated, is_user_var, reads_before_write

#: Constructs whose body one thread at a time (or one thread only) runs.
PROTECTING = frozenset({"critical", "single", "master", "masked", "ordered", "atomic"})

#: pyomp runtime calls whose result is the same on every thread of a team (any other call,
#: omp_get_thread_num() first, may give each thread its own value).
TEAM_INVARIANT = frozenset({"omp_get_num_threads", "omp_get_max_threads",
                            "omp_get_num_procs", "omp_in_parallel", "omp_get_level",
                            "omp_get_active_level", "omp_get_dynamic", "omp_get_nested",
                            "omp_get_thread_limit", "omp_get_max_active_levels",
                            "omp_get_team_size", "omp_get_cancellation", "omp_get_wtick"})

#: Calls that take an OpenMP lock: a region making them is taken as protected.
LOCKS = frozenset({"omp_set_lock", "omp_set_nest_lock", "omp_test_lock",
                   "omp_test_nest_lock"})

#: Binary operators that make `s = s op x` a reduction OpenMP has.
REDUCTION_OPS = {operator.add: "+", operator.iadd: "+", operator.sub: "-",
                 operator.isub: "-", operator.mul: "*", operator.imul: "*",
                 operator.and_: "&", operator.iand: "&", operator.or_: "|",
                 operator.ior: "|", operator.xor: "^", operator.ixor: "^"}

_REGISTRY = {}  # warnings' once-per-location registry for the "default" action


@dataclass
class RaceReport:
    """One warning: the variable, where it is written, and the message shown."""

    name: str
    filename: str
    line: int
    message: str


@dataclass(frozen=True)
class Protector:
    """A construct whose body one thread (or one at a time) runs, as Facts found it."""

    construct: str
    line: int
    blocks: frozenset
    head: int
    stmt: object = field(compare=False)
    directive: object = field(compare=False, default=None)


@dataclass
class Facts:
    """What the race check needs from before the front end rewrites `sections` and
    `atomic`: the blocks of protecting constructs and, per `sections` (by the id of its
    `with` statement), the blocks of each of its `section`s."""

    protected: set = field(default_factory=set)
    sections: dict = field(default_factory=dict)
    protectors: list = field(default_factory=list)  # Protector, for private_writes.py

    @classmethod
    def collect(cls, withs):
        facts = cls()
        for region in withs:
            construct = region.directive.construct
            if PROTECTING.intersection(leaves(construct)):  # `parallel masked` too
                facts.protected |= region.blocks
                facts.protectors.append(Protector(construct, region.loc.line,
                                                  frozenset(region.blocks), region.head,
                                                  region.stmt, region.directive))
            elif construct == "section" and region.parent is not None:
                facts.sections.setdefault(id(region.parent.stmt), []).append(
                    frozenset(region.blocks))
        return facts


def check(func_ir, all_regions, loop_of, facts):
    """Warns about the races of every region; each report is also kept on its region
    (`region.race_warnings`, shown by pyomp.explain)."""
    found = []
    blocks = func_ir.blocks
    defs = _definitions(func_ir)
    cfg = None
    for region in all_regions:
        region.race_warnings = []
        construct = region.directive.construct
        if construct not in ("parallel", "for"):
            continue
        team = region if construct == "parallel" else _enclosing_parallel(region)
        if team is None:
            continue  # an orphaned loop: its variables are each calling thread's own
        if _takes_lock(func_ir, team.blocks, defs):
            continue
        if cfg is None:
            cfg = analysis.compute_cfg_from_blocks(blocks)
        loop_vars = [lv.var for lv in loop_of.get(id(region), ())]
        own = _own_blocks(region, team, all_regions, facts) & blocks.keys()
        ctx = _Context(func_ir, defs, cfg, region, team, loop_vars, own)
        if construct == "for" and id(region.stmt) in facts.sections:
            reports = ctx.sections_races(facts.sections[id(region.stmt)])
        else:
            reports = ctx.races()
        for report in reports:
            warnings.warn_explicit(report.message, RaceWarning, report.filename,
                                   report.line, registry=_REGISTRY)
        region.race_warnings = reports
        found += reports
    return found


def every_thread_blocks(func_ir, team, all_regions, facts):
    """The blocks of `parallel` region `team` that every thread of the team runs: its own
    blocks outside branches only some threads take (`if tid == 0:`) and outside protected
    constructs, with the worksharing loops among them (each thread runs some iterations)."""
    own = _own_blocks(team, team, all_regions, facts) & func_ir.blocks.keys()
    cfg = analysis.compute_cfg_from_blocks(func_ir.blocks)
    blocks = _Context(func_ir, _definitions(func_ir), cfg, team, team, (), own)._unguarded()
    for other in all_regions:
        if other.directive.construct == "for" and _enclosing_parallel(other) is team \
                and other.head in blocks:
            blocks |= other.blocks - facts.protected
    return blocks


def _definitions(func_ir):
    """{variable name: [(label, value)]} of the function's user-written assignments."""
    defs = {}
    for label, block in func_ir.blocks.items():
        for stmt in block.body:
            if isinstance(stmt, ir.Assign) and not is_generated(stmt):
                defs.setdefault(stmt.target.name, []).append((label, stmt.value))
    return defs


def _enclosing_parallel(region):
    r = region.parent
    while r is not None and r.directive.construct != "parallel":
        r = r.parent
    return r


def _own_blocks(region, team, all_regions, facts):
    """The blocks where every thread (parallel) or every iteration (loop) of `region`
    runs its own code: without protected constructs, tasks, nested parallel regions, and
    (for a parallel region) the worksharing loops it binds, which are checked on their
    own."""
    own = set(region.blocks) - facts.protected
    for other in all_regions:
        if other is region or other.stmt is region.stmt:
            continue
        c = other.directive.construct
        nested = other.head in region.blocks
        if (c in ("task", "taskloop") and nested) or (c == "parallel" and nested) \
                or (c == "for" and region is team and _enclosing_parallel(other) is team):
            own -= other.blocks
    if region is team:  # `parallel for`: the loop is the part that runs the code
        for other in all_regions:
            if other is not region and other.stmt is region.stmt:
                own -= other.blocks
    return own


def _callee(defs, var, depth=0):
    """The Python object a call's function variable holds (None when unknown)."""
    values = defs.get(var.name, [])
    if len(values) != 1 or depth > 8:
        return None
    value = values[0][1]
    if isinstance(value, (ir.Global, ir.FreeVar)):
        return value.value
    if isinstance(value, ir.Expr) and value.op == "getattr":
        base = _callee(defs, value.value, depth + 1)
        return getattr(base, value.attr, None) if base is not None else None
    if isinstance(value, ir.Var):
        return _callee(defs, value, depth + 1)
    return None


def _name_of(obj):
    return getattr(obj, "__name__", None)


def _is_pyomp_api(obj):
    return (getattr(obj, "__module__", "") or "").startswith("pyomp")


def _pure(obj):
    """A callee whose result depends only on its arguments (as far as races go)."""
    if obj is None:
        return False
    if _is_pyomp_api(obj):
        return _name_of(obj) in TEAM_INVARIANT
    if obj is getattr(builtins, _name_of(obj) or "", None):
        return True
    module = getattr(obj, "__module__", None) or ""
    return module == math.__name__ or module == "numpy" or module.startswith("numpy.")


def _takes_lock(func_ir, labels, defs):
    for label in labels & func_ir.blocks.keys():
        for stmt in func_ir.blocks[label].body:
            if isinstance(stmt, ir.Assign) and isinstance(stmt.value, ir.Expr) \
                    and stmt.value.op == "call":
                fn = _callee(defs, stmt.value.func)
                if _is_pyomp_api(fn) and _name_of(fn) in LOCKS:
                    return True
    return False


class _Context:
    """One region's code run by every thread (or iteration), and what varies in it."""

    def __init__(self, func_ir, defs, cfg, region, team, loop_vars, own):
        self.func_ir, self.defs, self.cfg = func_ir, defs, cfg
        self.region, self.team, self.loop_vars = region, team, set(loop_vars)
        self.own = own
        self.assigned = {s.target.name for label in team.blocks & func_ir.blocks.keys()
                         for s in func_ir.blocks[label].body
                         if isinstance(s, ir.Assign) and is_user_var(s.target.name)
                         and not is_generated(s)}
        self._varying = {}

    # -- what the region does -----------------------------------------------------------
    def sharing_of(self, name):
        d = self.region.sharing.get(name) if self.region is not self.team else None
        return d if d is not None else self.team.sharing.get(name)

    def is_shared(self, name):
        d = self.sharing_of(name)
        return d is not None and d.sharing == "shared" and name not in self.loop_vars

    def varying(self, var):
        """Whether a variable's value may differ between the threads (or iterations) of
        the region.  Unknown means varying: an index that might vary gives no warning."""
        name = var.name
        if name in self._varying:
            return self._varying[name]
        self._varying[name] = True  # a cycle: unknown
        self._varying[name] = result = self._compute_varying(name)
        return result

    def _compute_varying(self, name):
        if is_user_var(name):
            if name in self.loop_vars:
                return True
            d = self.sharing_of(name)
            if d is None:
                return False  # not used in the region: a value from before it
            return d.sharing != "shared" or name in self.assigned
        inside = [value for label, value in self.defs.get(name, [])
                  if label in self.team.blocks]
        if not inside:
            # made before the region (or unknown); the same for the whole team
            return name not in self.defs
        return any(self._value_varies(value) for value in inside)

    def _value_varies(self, value):
        if isinstance(value, (ir.Const, ir.Global, ir.FreeVar, ir.Arg)):
            return False
        if isinstance(value, ir.Var):
            return self.varying(value)
        if isinstance(value, ir.Expr):
            if value.op == "call" and not _pure(_callee(self.defs, value.func)):
                return True
            return any(self.varying(v) for v in value.list_vars())
        return True

    # -- who runs a block ---------------------------------------------------------------
    def _guard_roots(self):
        """Branch targets only one thread or iteration reaches: the `True` side of
        `if <varying> == x:` (`False` of `!=`); both sides of other branches on a varying
        value that is not an ordering comparison (`<`, `>`) or a loop's own test."""
        roots = set()
        preds = {label: {p for p, _ in self.cfg.predecessors(label)}
                 for label in self.region.blocks}
        for label in self.own:
            branch = self.func_ir.blocks[label].terminator
            if not isinstance(branch, ir.Branch) or branch.truebr == branch.falsebr:
                continue
            for target in self._guarded_sides(branch):
                if preds.get(target) == {label}:
                    roots.add(target)
        return roots

    def _guarded_sides(self, branch):
        cond = self._single_def(branch.cond)
        if isinstance(cond, ir.Expr) and cond.op == "call" and len(cond.args) == 1 \
                and _callee(self.defs, cond.func) is bool:
            cond = self._single_def(cond.args[0])
        if isinstance(cond, ir.Expr) and cond.op == "pair_second":
            return ()  # a loop's own test
        if isinstance(cond, ir.Expr) and cond.op == "binop":
            varies = self.varying(cond.lhs) or self.varying(cond.rhs)
            if not varies or cond.fn in (operator.lt, operator.le, operator.gt,
                                         operator.ge):
                return ()
            if cond.fn in (operator.eq, operator.is_):
                return (branch.truebr,)
            if cond.fn in (operator.ne, operator.is_not):
                return (branch.falsebr,)
            return (branch.truebr, branch.falsebr)
        if self.varying(branch.cond):
            return (branch.truebr, branch.falsebr)
        return ()

    def _single_def(self, var):
        values = self.defs.get(var.name, [])
        return values[0][1] if len(values) == 1 else None

    def _unguarded(self):
        """The region's own blocks that every thread (or iteration) may run."""
        roots = self._guard_roots()
        if not roots:
            return set(self.own)
        doms = self.cfg.dominators()
        return {label for label in self.own if not (doms.get(label, set()) & roots)}

    # -- the races ----------------------------------------------------------------------
    def races(self):
        blocks = self.func_ir.blocks
        scalars, elements = {}, {}
        for label in sorted(self._unguarded()):
            for stmt in blocks[label].body:
                if isinstance(stmt, ir.Assign) and is_user_var(stmt.target.name) \
                        and self.is_shared(stmt.target.name) and not is_generated(stmt):
                    scalars.setdefault(stmt.target.name, []).append(stmt)
                elif isinstance(stmt, (ir.SetItem, ir.StaticSetItem)):
                    base = self._same_element_base(stmt)
                    if base is not None:
                        elements.setdefault(base, []).append(stmt)
        reports = [self._scalar_report(name, stmts) for name, stmts in scalars.items()]
        reports += [self._array_report(name, stmts) for name, stmts in elements.items()]
        return sorted(reports, key=lambda r: (r.line, r.name))

    def sections_races(self, sections):
        """`sections`: each section runs on one thread, all of them at once; a shared
        scalar assigned in two or more of them is a race."""
        blocks = self.func_ir.blocks
        writers = {}
        for i, labels in enumerate(sections):
            for label in sorted(labels & self.own):
                for stmt in blocks[label].body:
                    if isinstance(stmt, ir.Assign) and is_user_var(stmt.target.name) \
                            and self.is_shared(stmt.target.name) \
                            and not is_generated(stmt):
                        writers.setdefault(stmt.target.name, {}).setdefault(i, []).append(stmt)
        reports = []
        for name, per_section in writers.items():
            if len(per_section) >= 2:
                stmts = [s for section in per_section.values() for s in section]
                reports.append(self._scalar_report(
                    name, stmts, who=f"{len(per_section)} sections (running at the same "
                                     "time on different threads)",
                    last="the lexically last section"))
        return sorted(reports, key=lambda r: (r.line, r.name))

    def _same_element_base(self, stmt):
        """The shared variable `stmt` writes an element of at an index that does not vary,
        or None."""
        indices = [stmt.index] if isinstance(stmt, ir.SetItem) else \
            ([stmt.index_var] if stmt.index_var is not None else [])
        target = stmt.target
        for _ in range(16):
            if is_user_var(target.name):
                break
            value = self._single_def(target)
            if isinstance(value, ir.Expr) and value.op in ("getitem", "static_getitem"):
                index = value.index if value.op == "getitem" else value.index_var
                if index is not None:
                    indices.append(index)
                target = value.value
            elif isinstance(value, ir.Expr) and value.op == "getattr":
                target = value.value
            elif isinstance(value, ir.Var):
                target = value
            else:
                return None
        else:
            return None
        if not self.is_shared(target.name) or any(self.varying(v) for v in indices):
            return None
        return target.name

    def _where(self, stmt):
        loc = stmt.loc
        return loc.filename, loc.line, f"{os.path.basename(loc.filename)}:{loc.line}"

    def _region_text(self):
        return f"'{self.region.directive.text}' (line {self.region.loc.line})"

    def _scalar_report(self, name, stmts, who="every thread", last="the last iteration"):
        first = min(stmts, key=lambda s: (s.loc.line, s.loc.col or 0))
        filename, line, where = self._where(first)
        what = f"data race at {where}: shared variable '{name}'"
        region = self._region_text()
        ops = {self._update_op(name, s) for s in stmts}
        loop = self.region.directive.construct == "for"
        if len(ops) == 1 and None not in ops:
            (op,) = ops
            message = (f"{what} is updated by {who} of {region} without synchronisation; "
                       f"did you mean reduction({op}:{name})?")
        elif not reads_before_write(self.func_ir, self.region, name):
            d = self.sharing_of(name)
            keep = (f" (or lastprivate({name}) to keep the value of {last})"
                    if loop else " (or assign it in a `single` block if its value is "
                                 "needed after the region)")
            message = (f"{what} ({d.why}) is assigned by {who} of {region}; "
                       f"did you mean private({name})?{keep}")
        else:
            message = (f"{what} is read and assigned by {who} of {region} without "
                       f"synchronisation; protect the update with `critical` or `atomic`, "
                       f"or make '{name}' a reduction or private variable")
        return RaceReport(name, filename, line, message)

    def _array_report(self, name, stmts):
        first = min(stmts, key=lambda s: (s.loc.line, s.loc.col or 0))
        filename, line, where = self._where(first)
        what = f"data race at {where}: shared array '{name}'"
        region = self._region_text()
        if self.region.directive.construct == "for":
            loop_vars = ", ".join(f"'{v}'" for v in sorted(self.loop_vars))
            plural = "s" if len(self.loop_vars) > 1 else ""
            message = (f"{what} is written by every iteration of {region} at an index that "
                       f"does not depend on the loop variable{plural} {loop_vars}, so "
                       f"threads write the same element; index it by the loop variable, or "
                       f"protect the write with `critical` or `atomic`")
        else:
            message = (f"{what} is written by every thread of {region} at an index that is "
                       f"the same on every thread; index it by the thread number "
                       f"(omp_get_thread_num()), or protect the write with `critical`, "
                       f"`atomic` or `single`")
        return RaceReport(name, filename, line, message)

    def _update_op(self, name, stmt):
        """The reduction operator of `name = name op x` (also `name op= x` and
        `name = max(name, x)`), or None."""
        value = stmt.value
        if isinstance(value, ir.Var) and not is_user_var(value.name):
            value = self._single_def(value)
        if isinstance(value, ir.Expr) and value.op in ("binop", "inplace_binop"):
            op = REDUCTION_OPS.get(value.fn)
            if op is None:
                return None
            commutative = op != "-"
            if self._reaches(value.lhs, name, value.fn) or \
                    (commutative and self._reaches(value.rhs, name, value.fn)):
                return op
            return None
        if isinstance(value, ir.Expr) and value.op == "call":
            fn = _callee(self.defs, value.func)
            if fn in (max, min) and any(a.name == name for a in value.args):
                return fn.__name__
        return None

    def _reaches(self, var, name, fn, depth=0):
        """`var` is `name`, or `name op ...` of the same operator (`s + a + b`)."""
        if var.name == name:
            return True
        if is_user_var(var.name) or depth > 16:
            return False
        value = self._single_def(var)
        op = REDUCTION_OPS.get(fn)
        if isinstance(value, ir.Expr) and value.op in ("binop", "inplace_binop") \
                and REDUCTION_OPS.get(value.fn) == op:
            return self._reaches(value.lhs, name, fn, depth + 1) or \
                (op != "-" and self._reaches(value.rhs, name, fn, depth + 1))
        return False
