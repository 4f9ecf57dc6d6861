"""Combined constructs: which leaf construct each clause applies to (OpenMP 5.2, 17.2).

`parallel for default(none) shared(out) firstprivate(a)` runs as a `parallel
default(none) shared(out)` region around a `for firstprivate(a)` loop, and the parallel
region shares `a` (the spec's words), so `a` counts as listed for its default(none).

pyomp runs a `simd` leaf as the loop it belongs to (the `for` or `taskloop` before it,
marked for LLVM's vectoriser: pyomp.simd): a clause the spec gives that simd leaf goes to
the loop when it changes the values the program sees, and is dropped when it only tells
how to vectorise.
"""

from __future__ import annotations

import dataclasses

from .directives.checks import leaf_clauses, leaves
from .errors import UnsupportedConstructError

#: 17.2: applied to the innermost leaf that accepts it (collapse: "applied once", to the
#: innermost loop).
_INNERMOST = frozenset({"private", "linear", "in_reduction", "collapse"})
#: 17.2: applied to the outermost leaf that accepts it.
_OUTERMOST = frozenset({"nowait"})
#: 17.2: firstprivate goes to these leaves when present, and to `parallel` only otherwise.
_FIRSTPRIVATE_BEFORE_PARALLEL = frozenset({"for", "sections", "single", "taskloop"})
#: 17.2: a reduction is not repeated on a `parallel` combined with these (it shares the
#: variable instead).
_REDUCTION_NOT_ON_PARALLEL = frozenset({"for", "sections", "loop", "taskloop"})
#: simd clauses that only tell how to vectorise a loop (LLVM chooses).
SIMD_HINTS = frozenset({"safelen", "simdlen", "aligned", "nontemporal", "if", "order"})
#: Clauses giving a variable its own copy in a leaf: a `parallel` leaf that does not take
#: the clause shares the variable (17.2's rules for firstprivate, lastprivate, reduction
#: and linear; for private, which the spec leaves to the implicit rules, the copy of the
#: inner leaf is the only one the body sees, so sharing costs nothing).
_OWN_COPY = frozenset({"private", "firstprivate", "lastprivate", "reduction", "linear",
                       "in_reduction"})


def _leaves_for(clause, parts):
    """The leaves of `parts` (outermost first) that `clause` applies to."""
    accepting = [p for p in parts if clause.name in leaf_clauses(p)]
    name = clause.name
    if name == "if" and clause.modifier:
        return [clause.modifier]
    if name in _INNERMOST:
        return accepting[-1:]
    if name in _OUTERMOST:
        return accepting[:1]
    if name == "firstprivate":
        first = [p for p in accepting if p in _FIRSTPRIVATE_BEFORE_PARALLEL]
        return first or accepting
    if name == "reduction" and _REDUCTION_NOT_ON_PARALLEL & set(parts):
        return [p for p in accepting if p != "parallel"]
    return accepting


def _without_simd(clause, targets, parts, directive):
    """`targets` with a simd leaf replaced by the loop pyomp runs it as (or dropped)."""
    if "simd" not in targets:
        return targets
    kept = [t for t in targets if t != "simd"]
    loop = parts[parts.index("simd") - 1]
    if clause.name in SIMD_HINTS or loop in kept:
        return kept
    if clause.name not in leaf_clauses(loop):
        raise UnsupportedConstructError(
            f"'{clause.name}' on '{directive.construct}' is not implemented by this version "
            f"of pyomp: OpenMP applies it to the simd loop of each {loop} chunk, counted "
            "from the chunk's start", directive=directive.text, span=clause.span)
    return kept + [loop]


def split(directive):
    """The directives of a combined construct's leaves as pyomp runs them (outermost
    first; a simd leaf is its loop's), each with the clauses it applies; and, for the
    `parallel` leaf, {variable: (sharing, why)} for the variables it shares because
    another leaf's clause gives them their own copy."""
    construct = directive.construct
    parts = leaves(construct)
    if len(parts) == 1:
        return [directive], {}
    if parts == ("simd",):
        return [], {}
    per_leaf = {p: [] for p in parts if p != "simd"}
    shared_by_parallel = {}
    for clause in directive.clauses:
        targets = _without_simd(clause, _leaves_for(clause, parts), parts, directive)
        for leaf in targets:
            per_leaf[leaf].append(clause)
        if "parallel" in per_leaf and targets and "parallel" not in targets \
                and clause.name in _OWN_COPY:
            why = (f"{clause.name} of '{construct}' applies to its '{targets[-1]}' "
                   "(OpenMP 5.2, 17.2)")
            for var in clause.vars:
                shared_by_parallel[var.name] = ("shared", why)
    return [dataclasses.replace(directive, construct=leaf, clauses=tuple(clauses))
            for leaf, clauses in per_leaf.items()], shared_by_parallel
