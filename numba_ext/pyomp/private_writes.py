"""Warnings for variables the default rules make private although only one thread, or one
thread at a time, assigns them: almost always a variable the programmer meant to share.

A variable assigned in a `parallel` region and not read after it is private (firstprivate
when read before it is assigned: PyOMP's rule, and pyomp's). Two shapes of code then do
not do what they say, silently:

- assigned only in a `single` (`master`, `masked`) and read where every thread runs (not
  in a branch only some threads take, `if tid == 0:`): the other threads read their own
  copy, which the `single` never set (`shared(x)`, or `copyprivate(x)` on the single, is
  what was meant);
- updated (`x += 1`) only under `critical` or `atomic`: each thread updates its own copy,
  and the construct protects nothing (`shared(x)` was meant, or a reduction).

Run with the race check (passes/data_sharing.py), on each `parallel` region; each report
is a `RaceWarning` and is kept on the region for pyomp.explain. Variables named in a
clause are left alone: `private(x)` says what it means.
"""

from __future__ import annotations

import os
import warnings

from numba.core import ir

from .errors import RaceWarning
from .races import RaceReport, every_thread_blocks
from .sharing import is_generated, is_user_var

ONE_THREAD = frozenset({"single", "master", "masked"})
ONE_AT_A_TIME = frozenset({"critical", "atomic"})
_REGISTRY = {}  # warnings' once-per-location registry for the "default" action


def check(func_ir, regions, facts):
    """Warns for every `parallel` region; returns the reports."""
    found = []
    for team in regions:
        if team.directive.construct != "parallel":
            continue
        for report in _reports(func_ir, team, regions, facts):
            warnings.warn_explicit(report.message, RaceWarning, report.filename,
                                   report.line, registry=_REGISTRY)
            team.race_warnings.append(report)
            found.append(report)
    return found


def _reports(func_ir, team, regions, facts):
    inside = sorted((p for p in facts.protectors
                     if p.head in team.blocks and p.stmt is not team.stmt),
                    key=lambda p: len(p.blocks))  # innermost first
    if not inside:
        return []
    writes, reads = _uses(func_ir, team.blocks & func_ir.blocks.keys())
    reports, every_thread = [], None
    for name, stmts in sorted(writes.items()):
        d = team.sharing.get(name)
        if d is None or d.sharing not in ("private", "firstprivate") or d.explicit \
                or not d.why.startswith("default"):
            continue
        owners = {_innermost(inside, label) for _, label in stmts}
        if None in owners:
            continue  # also assigned where every thread runs: a private temporary
        kinds = {p.construct for p in owners}
        first = min((s for s, _ in stmts), key=lambda s: (s.loc.line, s.loc.col or 0))
        if kinds <= ONE_THREAD and not any(_copies_out(p, name) for p in owners):
            if every_thread is None:
                every_thread = every_thread_blocks(func_ir, team, regions, facts)
            outside = [s for s, label in reads.get(name, ()) if label in every_thread]
            if outside:
                reports.append(_one_thread_report(name, d, team, min(owners, key=_line),
                                                  first, outside))
        elif kinds <= ONE_AT_A_TIME and all(_is_update(func_ir, name, stmt, label)
                                             for stmt, label in stmts):
            reports.append(_serialised_report(name, d, team, min(owners, key=_line), first))
    return reports


def _uses(func_ir, labels):
    """{name: [(stmt, label)]} of the user variables assigned, and of those read."""
    writes, reads = {}, {}
    for label in labels:
        block = func_ir.blocks[label]
        for stmt in block.body:
            target = stmt.target if isinstance(stmt, ir.Assign) else None
            if target is not None and is_user_var(target.name) and not is_generated(stmt):
                writes.setdefault(target.name, []).append((stmt, label))
            for var in stmt.list_vars():
                if var is not target and is_user_var(var.name):
                    reads.setdefault(var.name, []).append((stmt, label))
    return writes, reads


def _is_update(func_ir, name, stmt, label):
    """Whether assignment `stmt` updates `name` (`x += 1`): the value it had is read by
    it or earlier in the same block.  (A temporary the construct assigns first, or its own loop
    variable, is not an update: private is right for it.)"""
    body = func_ir.blocks[label].body
    before = body[:next(i for i, s in enumerate(body) if s is stmt)]
    reads = [var for s in (*before, stmt) for var in s.list_vars() if var is not stmt.target]
    return any(var.name == name for var in reads)


def _copies_out(protector, name):
    """single copyprivate(name): the single gives every thread its value."""
    return any(v.name == name for c in protector.directive.clauses_named("copyprivate")
               for v in c.vars)


def _innermost(protectors, label):
    return next((p for p in protectors if label in p.blocks), None)


def _line(protector):
    return protector.line


def _where(stmt):
    return stmt.loc.filename, stmt.loc.line, f"{os.path.basename(stmt.loc.filename)}:" \
                                             f"{stmt.loc.line}"


def _one_thread_report(name, d, team, owner, first, outside):
    filename, line, where = _where(first)
    read = min(s.loc.line for s in outside)
    fix = f"add shared({name}) to the parallel directive"
    if owner.construct == "single":
        fix += f", or copyprivate({name}) to the single"
    message = (f"'{name}' is assigned only in the '{owner.construct}' at {where} and read at "
               f"line {read} by every thread of '{team.directive.text}' (line "
               f"{team.loc.line}), but it is private there ({d.why}): the other threads "
               f"read their own copy, which the '{owner.construct}' never sets; {fix}")
    return RaceReport(name, filename, line, message)


def _serialised_report(name, d, team, owner, first):
    filename, line, where = _where(first)
    message = (f"'{name}' is updated only under '{owner.construct}' at {where}, but it is "
               f"private in '{team.directive.text}' (line {team.loc.line}; {d.why}): each "
               f"thread updates its own copy and the '{owner.construct}' protects nothing; "
               f"add shared({name}) to the parallel directive (or make it a reduction)")
    return RaceReport(name, filename, line, message)
