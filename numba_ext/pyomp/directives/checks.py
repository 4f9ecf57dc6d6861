"""OpenMP 5.2 rules the grammar leaves out: which clauses each construct accepts, and
clause restrictions (at most once, data-sharing conflicts, exclusive clauses).

Kept out of the grammar so errors can name the construct and list what it accepts.
"""

from __future__ import annotations

from ..errors import (
    ClauseNotAllowedError,
    DirectiveSyntaxError,
    MultipleNumThreadsClauses,
    ParallelForInvalidCollapseCount,
)

# Every clause the grammar knows, in the order used when listing them to users.
CLAUSE_NAMES = (
    "if", "num_threads", "default", "private", "firstprivate", "lastprivate", "shared",
    "copyin", "copyprivate", "reduction", "task_reduction", "in_reduction", "linear",
    "aligned", "nontemporal", "schedule", "collapse", "ordered", "nowait", "proc_bind",
    "safelen", "simdlen", "final", "untied", "mergeable", "priority", "depend",
    "affinity", "detach", "grainsize", "num_tasks", "nogroup", "num_teams",
    "thread_limit", "dist_schedule", "map", "device", "is_device_ptr", "use_device_ptr",
    "use_device_addr", "has_device_addr", "defaultmap", "to", "from", "filter", "hint",
    "order", "bind", "allocate", "seq_cst", "acq_rel", "release", "acquire", "relaxed",
    "threads", "simd",
)
MEMORY_ORDER = ("seq_cst", "acq_rel", "release", "acquire", "relaxed")

# Leaf constructs (OpenMP 5.2 clause lists).
_LEAF = {
    "parallel": "if num_threads default private firstprivate shared copyin reduction "
                "proc_bind allocate",
    "for": "private firstprivate lastprivate linear reduction schedule collapse ordered "
           "nowait allocate order",
    "sections": "private firstprivate lastprivate reduction allocate nowait",
    "section": "",
    "single": "private firstprivate copyprivate nowait allocate",
    "scope": "private firstprivate reduction allocate nowait",
    "master": "",
    "masked": "filter",
    "critical": "hint",
    "atomic": "seq_cst acq_rel release acquire relaxed hint",
    "barrier": "",
    "flush": "acq_rel release acquire seq_cst",
    "ordered": "threads simd depend",
    "task": "if final untied default mergeable private firstprivate shared in_reduction "
            "depend priority allocate affinity detach",
    "taskwait": "depend nowait",
    "taskgroup": "task_reduction allocate",
    "taskyield": "",
    "taskloop": "if shared private firstprivate lastprivate reduction in_reduction default "
                "grainsize num_tasks collapse final priority untied mergeable nogroup "
                "allocate",
    "simd": "if safelen simdlen linear aligned nontemporal private lastprivate reduction "
            "collapse order",
    "loop": "bind collapse order private lastprivate reduction",
    "cancel": "if",
    "cancellation point": "",
    "threadprivate": "",
    "teams": "if num_teams thread_limit default private firstprivate shared reduction "
             "allocate",
    "distribute": "private firstprivate lastprivate collapse dist_schedule allocate order",
    "target": "if device private firstprivate in_reduction map is_device_ptr "
              "has_device_addr defaultmap nowait depend allocate thread_limit",
    "target data": "if device map use_device_ptr use_device_addr",
    "target enter data": "if device map depend nowait",
    "target exit data": "if device map depend nowait",
    "target update": "if device to from depend nowait",
    # a function called from a target region is compiled for it anyway (as Numba resolves
    # calls): accepted for C programs' sake, it changes nothing
    "declare target": "to",
}
_COMBINED = (
    "parallel for", "parallel for simd", "parallel sections", "parallel loop",
    "parallel masked", "parallel masked taskloop", "parallel masked taskloop simd",
    "parallel master", "parallel master taskloop", "parallel master taskloop simd",
    "for simd", "master taskloop", "master taskloop simd", "masked taskloop",
    "masked taskloop simd", "taskloop simd", "teams distribute", "teams distribute simd",
    "teams distribute parallel for", "teams distribute parallel for simd", "teams loop",
    "distribute simd", "distribute parallel for", "distribute parallel for simd",
    "target simd", "target parallel", "target parallel for", "target parallel for simd",
    "target parallel loop", "target teams", "target teams distribute",
    "target teams distribute simd", "target teams distribute parallel for",
    "target teams distribute parallel for simd", "target teams loop",
)
CONSTRUCTS = tuple(_LEAF) + _COMBINED


def leaves(construct):
    """The leaf constructs a (combined) construct is made of."""
    return (construct,) if construct in _LEAF else tuple(construct.split())


def leaf_clauses(leaf):
    """The clauses a leaf construct accepts on its own (OpenMP 5.2's table)."""
    return frozenset(_LEAF[leaf].split())


def _allowed(construct):
    parts = leaves(construct)
    names = set()
    for leaf in parts:
        names.update(_LEAF[leaf].split())
    # A combined parallel worksharing construct ends in the parallel region's own
    # barrier, so nowait is meaningless there (it stays when target contributes it).
    if "parallel" in parts and {"for", "sections", "loop"} & set(parts) \
            and "target" not in parts:
        names.discard("nowait")
    return tuple(c for c in CLAUSE_NAMES if c in names)


ALLOWED_CLAUSES = {c: _allowed(c) for c in CONSTRUCTS}

_ONCE = ("default", "schedule", "collapse", "ordered", "proc_bind", "final", "priority",
         "grainsize", "num_tasks", "safelen", "simdlen", "device", "num_teams",
         "thread_limit", "dist_schedule", "filter", "bind", "order", "hint", "detach",
         "nowait", "untied", "mergeable", "nogroup")
_DATA_SHARING = ("private", "firstprivate", "lastprivate", "shared", "reduction",
                 "linear", "copyprivate")
_COMPATIBLE = {frozenset(("firstprivate", "lastprivate"))}


def check(d):
    """Raise the first rule violation in Directive ``d``; return None if it is valid."""
    text = d.text

    def err(cls, message, span, hint=None):
        return cls(message, directive=text, span=span, hint=hint)

    allowed = ALLOWED_CLAUSES[d.construct]
    for c in d.clauses:
        if c.name not in allowed:
            accepts = (f"'{d.construct}' accepts: {', '.join(allowed)}"
                       if allowed else f"'{d.construct}' takes no clauses")
            raise err(ClauseNotAllowedError,
                      f"clause '{c.name}' is not allowed on '{d.construct}'; {accepts}",
                      c.span)

    seen = {}
    for c in d.clauses:
        key = c.name
        if c.name == "if":
            key = ("if", c.modifier)
        elif c.name in MEMORY_ORDER:
            key = "memory-order"
        if key in seen:
            what = {"memory-order": "a memory-order clause"}.get(key, f"'{c.name}'")
            if c.name == "if" and c.modifier:
                what = f"'if({c.modifier}: ...)'"
            if c.name == "num_threads":
                raise err(MultipleNumThreadsClauses,
                          "more than one num_threads clause", c.span)
            if c.name in _ONCE or c.name == "if" or key == "memory-order":
                raise err(ClauseNotAllowedError,
                          f"{what} may appear at most once on '{d.construct}'", c.span)
        seen.setdefault(key, c)

    ifs = d.clauses_named("if")
    parts = leaves(d.construct)
    for c in ifs:
        if c.modifier and c.modifier not in parts:
            raise err(ClauseNotAllowedError,
                      f"if modifier '{c.modifier}' does not name a part of "
                      f"'{d.construct}'", c.span,
                      hint="use one of: " + ", ".join(p for p in parts
                                                      if p != "cancellation point"))
    if any(c.modifier for c in ifs) and not all(c.modifier for c in ifs):
        raise err(ClauseNotAllowedError, "when one if clause has a directive-name "
                  "modifier, all if clauses must have one", ifs[-1].span)

    _check_values(d, err)
    _check_data_sharing(d, err)

    if d.has("grainsize") and d.has("num_tasks"):
        raise err(ClauseNotAllowedError, "grainsize and num_tasks are mutually exclusive",
                  d.clause("num_tasks").span)
    if d.construct == "single" and d.has("copyprivate") and d.has("nowait"):
        raise err(ClauseNotAllowedError, "copyprivate cannot be combined with nowait",
                  d.clause("nowait").span)
    if d.has("order") and d.has("ordered"):
        raise err(ClauseNotAllowedError, "a loop with an order clause cannot have the "
                  "ordered clause", d.clause("ordered").span)
    if d.construct == "flush" and d.flush_list and d.clauses:
        raise err(ClauseNotAllowedError, "flush with a memory-order clause takes no list",
                  d.clauses[0].span)
    for c in d.clauses_named("depend"):
        doacross = c.kind in ("source", "sink")
        if doacross != (d.construct == "ordered"):
            where = "only on 'ordered'" if doacross else "not on 'ordered'"
            raise err(ClauseNotAllowedError, f"depend({c.kind}) is allowed {where}",
                      c.span)
    if d.construct == "ordered" and d.has("depend") and d.clauses_named("threads") + \
            d.clauses_named("simd"):
        raise err(ClauseNotAllowedError, "ordered with depend cannot have threads or simd",
                  d.clause("depend").span)


def _check_values(d, err):
    for c in d.clauses:
        if c.name in ("collapse", "ordered", "safelen", "simdlen") and c.expr is not None:
            n = c.expr.int_value()
            if n is None or n <= 0:
                cls = (ParallelForInvalidCollapseCount if c.name == "collapse"
                       else DirectiveSyntaxError)
                raise err(cls, f"{c.name} needs a positive integer constant, not "
                          f"'{c.expr.text}'", c.expr.span)
        if c.name == "schedule":
            mods = c.modifiers
            if len(set(mods)) != len(mods):
                raise err(DirectiveSyntaxError, "schedule modifier repeated", c.span)
            if {"monotonic", "nonmonotonic"} <= set(mods):
                raise err(DirectiveSyntaxError, "schedule cannot be both monotonic and "
                          "nonmonotonic", c.span)
            if "nonmonotonic" in mods and d.has("ordered"):
                raise err(ClauseNotAllowedError, "a nonmonotonic schedule cannot be "
                          "combined with ordered", d.clause("ordered").span)
            if c.kind in ("auto", "runtime") and c.expr is not None:
                raise err(DirectiveSyntaxError, f"schedule({c.kind}) takes no chunk size",
                          c.expr.span)


def _check_data_sharing(d, err):
    """Each variable in at most one data-sharing clause (firstprivate + lastprivate ok)."""
    owner = {}
    for c in d.clauses:
        if c.name not in _DATA_SHARING:
            continue
        for v in c.vars:
            prev = owner.get(v.name)
            if prev is not None and frozenset((prev, c.name)) not in _COMPATIBLE:
                again = "twice in" if prev == c.name else f"in both {prev} and"
                raise err(ClauseNotAllowedError,
                          f"variable '{v.name}' appears {again} {c.name}", v.span)
            owner.setdefault(v.name, c.name)
