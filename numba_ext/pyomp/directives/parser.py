"""Turns an ``openmp("...")`` string into a checked ``Directive`` (lark LALR, built lazily).

lark is imported and the parser built on the first call only, then cached, because
importing pyomp must stay cheap.  Every failure leaves as a ``PyompError`` subclass.
"""

from __future__ import annotations

import ast
import functools
import keyword
import os
import re
import warnings

from ..errors import DirectiveSyntaxError, PyompError
from .model import Clause, Directive, Expr, Var

_GRAMMAR = os.path.join(os.path.dirname(__file__), "grammar.lark")
_WORD = re.compile(r"[^\W\d]\w*")

# Grammar rules whose single keyword (or keywords) is a clause's ``kind`` / a modifier.
_KIND_RULES = frozenset({
    "default_kind", "proc_bind_kind", "bind_kind", "order_kind", "schedule_kind",
    "dist_schedule_kind", "depend_kind", "depend_source", "map_type",
    "defaultmap_behavior",
})
_MODIFIER_RULES = frozenset({
    "directive_modifier", "device_modifier", "strict", "lastprivate_modifier",
    "order_modifier", "reduction_modifier", "schedule_modifier", "map_modifier",
    "defaultmap_category", "iterator", "linear_modifier",
})
_CANONICAL_OP = {"and": "&&", "or": "||"}


@functools.cache
def _lark():
    """The lark parser, built once on first use (about 0.1 s)."""
    import lark

    with open(_GRAMMAR, encoding="utf-8") as f:
        grammar = f.read()
    return lark.Lark(grammar, parser="lalr", lexer="contextual",
                     propagate_positions=True, maybe_placeholders=True)


def parse(text):
    """Parse and check one directive string; raise a ``PyompError`` on any problem."""
    if not isinstance(text, str):
        raise DirectiveSyntaxError(
            f"an OpenMP directive must be a string, not {type(text).__name__}")
    if not text.strip():
        raise DirectiveSyntaxError("empty OpenMP directive", directive=text,
                                   span=(0, len(text)),
                                   hint="write a construct such as 'parallel'")
    try:
        _check_brackets(text)
        tree = _parse_tree(text)
        directive = _Builder(text).build(tree.children[0])
        from .checks import check
        check(directive)
        return directive
    except PyompError:
        raise
    except (RecursionError, MemoryError):
        raise DirectiveSyntaxError("directive is nested too deeply", directive=text,
                                   span=(0, len(text))) from None
    except Exception as exc:  # noqa: BLE001 - the contract is "only PyompError escapes"
        raise DirectiveSyntaxError(f"cannot parse directive ({exc.__class__.__name__})",
                                   directive=text, span=(0, len(text))) from exc


def _parse_tree(text):
    import lark

    parser = _lark()
    interactive = parser.parse_interactive(text)
    try:
        tok = None
        for tok in interactive.iter_parse():
            # A state's lexer knows only the keywords valid there, so it may match a
            # keyword that is just the prefix of a longer word ("parallelfor"): a token
            # that starts inside a word is such a leftover.
            start = tok.start_pos
            if start and _is_word_char(text[start - 1]) and _is_word_char(tok.value[:1]):
                from .diagnostics import syntax_error
                raise syntax_error(tok, text, parser)
        return interactive.feed_eof(tok)
    except lark.exceptions.UnexpectedInput as exc:
        from .diagnostics import syntax_error
        raise syntax_error(exc, text, parser, interactive) from None


def _is_word_char(c):
    return c.isalnum() or c == "_"


def _check_brackets(text):
    """Report unbalanced brackets and unterminated strings at the token that causes
    them, which is clearer than the parser's "unexpected end of directive"."""
    closing = {")": "(", "]": "[", "}": "{"}
    stack = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "'\"":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            if j >= n or text[j] != c:
                raise DirectiveSyntaxError("unterminated string", directive=text,
                                           span=(i, i + 1))
            i = j
        elif c in "([{":
            stack.append(i)
        elif c in closing:
            if not stack:
                raise DirectiveSyntaxError(f"unmatched '{c}'", directive=text,
                                           span=(i, i + 1))
            opener = text[stack.pop()]
            if opener != closing[c]:
                raise DirectiveSyntaxError(
                    f"'{c}' does not match '{opener}'", directive=text, span=(i, i + 1))
        i += 1
    if stack:
        raise DirectiveSyntaxError(f"'{text[stack[-1]]}' was never closed",
                                   directive=text, span=(stack[-1], stack[-1] + 1),
                                   hint="add the missing closing bracket")


class _Builder:
    """Builds the model from lark's tree; spans come from propagate_positions."""

    def __init__(self, text):
        self.text = text

    # -- helpers -----------------------------------------------------------------------
    @staticmethod
    def span(node):
        if hasattr(node, "start_pos") and not hasattr(node, "meta"):
            return (node.start_pos, node.end_pos)
        return (node.meta.start_pos, node.meta.end_pos)

    def source(self, node):
        start, end = self.span(node)
        return self.text[start:end]

    def words(self, node):
        """Keyword text of a node with whitespace normalised ("target   data")."""
        return " ".join(self.source(node).split())

    def error(self, message, span, hint=None):
        return DirectiveSyntaxError(message, directive=self.text, span=span, hint=hint)

    def expr(self, node):
        text, span = self.source(node), self.span(node)
        try:
            # Parenthesised so a triple-quoted directive may break lines inside an
            # expression; the grammar guarantees balanced brackets, so this is safe.
            with warnings.catch_warnings():  # e.g. "1if x" warns; users see our errors
                warnings.simplefilter("ignore")
                ast.parse("(" + text + ")", mode="eval")
        except (SyntaxError, ValueError) as exc:
            reason = getattr(exc, "msg", None) or str(exc)
            raise self.error(f"invalid Python expression '{text}': {reason}", span) from None
        return Expr(text, span)

    def var(self, tok):
        if keyword.iskeyword(tok.value):
            raise self.error(f"'{tok.value}' is a Python keyword, not a variable name",
                             self.span(tok))
        return Var(tok.value, self.span(tok))

    def var_list(self, node):
        return tuple(self.var(v.children[0]) for v in node.children)

    def reduction_item(self, item):
        """A reduction list item: a variable, or an array section `a[lo:hi]` (a slice of
        the first axis, Python's rules)."""
        node = item.tree()
        if isinstance(node, ast.Name):
            return Var(node.id, item.span)
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) \
                and isinstance(node.slice, ast.Slice) and node.slice.step is None:
            def part(bound):
                return None if bound is None else Expr(ast.unparse(bound), item.span)
            return Var(node.value.id, item.span,
                       section=(part(node.slice.lower), part(node.slice.upper)))
        raise self.error("a reduction list item is a variable or an array section "
                         "`a[lo:hi]`", item.span)

    def expr_list(self, node):
        return tuple(self.expr(e) for e in node.children)

    # -- directives --------------------------------------------------------------------
    def build(self, node):
        kind = node.data
        fields = {}
        if kind == "plain":
            construct = self.words(node.children[0])
            clauses = self.clauses(node.children[1])
        elif kind == "critical":
            construct = "critical"
            name_tok, clause_node = node.children
            if name_tok is not None:
                fields["name"], fields["name_span"] = name_tok.value, self.span(name_tok)
            clauses = self.clauses(clause_node)
        elif kind == "atomic":
            construct, clauses = "atomic", []
            for child in node.children:
                if child.data == "atomic_kind":
                    if "atomic_kind" in fields:
                        raise self.error(
                            "atomic takes at most one of read, write, update, capture",
                            self.span(child))
                    fields["atomic_kind"] = self.words(child)
                else:
                    clauses.append(self.clause(child))
            fields.setdefault("atomic_kind", "update")
        elif kind == "flush":
            construct, clauses = "flush", []
            order, items = node.children
            if order is not None:
                clauses.append(Clause(self.words(order), self.span(order)))
            if items is not None:
                fields["flush_list"] = self.expr_list(items)
        elif kind in ("cancel", "cancellation"):
            construct = "cancel" if kind == "cancel" else "cancellation point"
            fields["cancel_type"] = self.words(node.children[0])
            clauses = self.clauses(node.children[1]) if kind == "cancel" else []
        elif kind == "threadprivate":
            construct, clauses = "threadprivate", []
            fields["threadprivate_vars"] = self.var_list(node.children[0])
        elif kind == "ordered":
            construct = "ordered"
            clauses = [self.clause(c) for c in node.children]
        else:  # pragma: no cover - the grammar has no other directive rules
            raise self.error(f"unsupported directive form {kind}", self.span(node))
        return Directive(construct=construct, clauses=tuple(clauses), text=self.text,
                         span=self.span(node), **fields)

    def clauses(self, node):
        return [self.clause(c) for c in node.children]

    # -- clauses -----------------------------------------------------------------------
    def clause(self, node):
        """Fill Clause fields from the kinds of child nodes, so one function serves
        every clause shape in the grammar."""
        span = self.span(node)
        name = _WORD.match(self.text, span[0]).group()
        f = {"vars": (), "items": (), "expr": None, "kind": None, "op": None}
        mods = []
        pending = [c for c in node.children if c is not None]
        while pending:
            child = pending.pop(0)
            data = getattr(child, "data", None)
            if data == "expr":
                f["expr"] = self.expr(child)
            elif data == "var_list":
                f["vars"] = self.var_list(child)
            elif data == "red_list":
                f["vars"] = tuple(self.reduction_item(self.expr(e)) for e in child.children)
            elif data == "expr_list":
                f["items"] = self.expr_list(child)
            elif data == "reduction_op":
                op = self.words(child)
                f["op"] = _CANONICAL_OP.get(op, op)
            elif data in _KIND_RULES:
                f["kind"] = self.words(child)
            elif data in _MODIFIER_RULES:
                mods.append(self.words(child))
            elif data in ("map_prefix", "schedule_modifiers", "linear_list"):
                pending[:0] = [c for c in child.children if c is not None]
        return Clause(name=name, span=span, modifiers=tuple(mods), **f)
