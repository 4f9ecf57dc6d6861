"""Typed, immutable result of parsing a directive, so later stages never re-read strings.

Every node carries ``span``: the ``(start, end)`` character range inside
``Directive.text``, which is what ``PyompError(span=...)`` needs to draw its caret.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass

Span = tuple[int, int]


@dataclass(frozen=True)
class Var:
    """A Python identifier in a variable list (``private(a, b)`` -> two Vars); in a
    reduction list also an array section ``a[lo:hi]``: ``section`` = (lo, hi) Exprs, None
    where omitted."""

    name: str
    span: Span
    section: tuple | None = None


@dataclass(frozen=True)
class Expr:
    """A Python expression kept as source text; already checked by ``ast.parse``.

    List items of depend/map/to/from/affinity/flush are Exprs too, so an array section
    ``a[lo:hi]`` is the Expr ``"a[lo:hi]"``; ``base_name()`` and ``sections()`` take it
    apart for the lowering stage.
    """

    text: str
    span: Span

    def tree(self) -> ast.expr:
        # Parenthesised so an expression may span lines of a triple-quoted directive;
        # the grammar guarantees the text's brackets are balanced, so this is safe.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse("(" + self.text + ")", mode="eval").body

    def int_value(self) -> int | None:
        """The value if the expression is an integer literal (not a bool), else None."""
        node = self.tree()
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        return None

    def base_name(self) -> str | None:
        """``a`` for ``a``, ``a[i]``, ``a[lo:hi][0]``; None for anything else."""
        node = self.tree()
        while isinstance(node, ast.Subscript):
            node = node.value
        return node.id if isinstance(node, ast.Name) else None

    def sections(self) -> tuple[tuple[str | None, str | None], ...]:
        """Per subscript, outermost last: ``(lo, hi)`` source texts for slices
        (None where omitted), ``(index, None)`` for plain indices."""
        out = []
        node = self.tree()
        while isinstance(node, ast.Subscript):
            sl = node.slice
            if isinstance(sl, ast.Slice):
                lo = ast.unparse(sl.lower) if sl.lower is not None else None
                hi = ast.unparse(sl.upper) if sl.upper is not None else None
                out.append((lo, hi))
            else:
                out.append((ast.unparse(sl), None))
            node = node.value
        return tuple(reversed(out))


@dataclass(frozen=True)
class Clause:
    """One clause; which fields are filled depends on the clause:

    * ``vars``: variable lists (private, shared, firstprivate, lastprivate, copyin,
      copyprivate, reduction/task_reduction/in_reduction, linear, aligned, allocate, ...).
    * ``items``: expression lists (depend, map, to, from, affinity).
    * ``expr``: the single expression argument (if, num_threads, collapse, ordered(n),
      final, priority, grainsize, num_tasks, device, ...), the chunk of schedule and
      dist_schedule, the step of linear, the alignment of aligned, the allocator of
      allocate.
    * ``kind``: the keyword argument: schedule/dist_schedule kind, default, proc_bind,
      bind, order, depend type (in/out/.../sink/source), map type (None if omitted),
      defaultmap behaviour.
    * ``modifiers``: schedule modifiers, the if directive-name modifier (e.g.
      ``"target data"``), reduction modifier, map modifiers, ``"conditional"``,
      ``"strict"``, linear modifier, device modifier, order modifier, the defaultmap
      category, the depend/affinity ``iterator(...)`` text.
    * ``op``: the reduction operator, canonical (``and`` -> ``&&``, ``or`` -> ``||``).
    """

    name: str
    span: Span
    vars: tuple[Var, ...] = ()
    items: tuple[Expr, ...] = ()
    expr: Expr | None = None
    kind: str | None = None
    modifiers: tuple[str, ...] = ()
    op: str | None = None

    @property
    def modifier(self) -> str | None:
        """The first modifier or None (most clauses take at most one)."""
        return self.modifiers[0] if self.modifiers else None


@dataclass(frozen=True)
class Directive:
    """A parsed ``openmp("...")`` string.

    ``construct`` is canonical (single spaces, e.g. ``"parallel for simd"``,
    ``"cancellation point"``).  Extra per-construct fields: ``name`` for
    ``critical(name)``; ``atomic_kind`` (read/write/update/capture, ``"update"`` when
    omitted); ``cancel_type`` for cancel and cancellation point; ``flush_list``;
    ``threadprivate_vars``.
    """

    construct: str
    clauses: tuple[Clause, ...]
    text: str
    span: Span
    name: str | None = None
    name_span: Span | None = None
    atomic_kind: str | None = None
    cancel_type: str | None = None
    flush_list: tuple[Expr, ...] = ()
    threadprivate_vars: tuple[Var, ...] = ()

    def clauses_named(self, name: str) -> tuple[Clause, ...]:
        return tuple(c for c in self.clauses if c.name == name)

    def clause(self, name: str) -> Clause | None:
        """The first clause called ``name``, or None."""
        for c in self.clauses:
            if c.name == name:
                return c
        return None

    def has(self, name: str) -> bool:
        return any(c.name == name for c in self.clauses)
