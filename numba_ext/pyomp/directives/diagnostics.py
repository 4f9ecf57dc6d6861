"""Translates lark's parse errors into user-facing DirectiveSyntaxErrors with hints.

Users must never see lark's terminal names (``LPAR``, ``__ANON_3``): expected tokens
are described in words, and misspelt keywords get a ``did you mean`` from difflib over
the words that are valid at that position.
"""

from __future__ import annotations

import difflib
import functools
import re

from ..errors import DirectiveSyntaxError
from .checks import CLAUSE_NAMES, CONSTRUCTS

_EXPR_TERMINALS = {"NUMBER", "STRING", "OP"}
_CONSTRUCT_WORDS = sorted({w for c in CONSTRUCTS for w in c.split()})


@functools.cache
def _keyword_values(parser):
    """Terminal name -> literal text, for the grammar's string terminals."""
    out = {}
    for term in parser.terminals:
        if type(term.pattern).__name__ == "PatternStr":
            out[term.name] = term.pattern.value
    return out


def _word_at(text, pos):
    """The whole identifier around ``pos`` (the contextual lexer may have matched only a
    keyword prefix of it, e.g. 'schedule' of 'scheduleX')."""
    start = end = pos
    if pos >= len(text) or not (text[pos].isalnum() or text[pos] == "_"):
        return pos, pos
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    while end < len(text) and (text[end].isalnum() or text[end] == "_"):
        end += 1
    return start, end


def _enclosing_clause(text, pos):
    """Name of the clause whose parentheses contain ``pos`` (e.g. 'schedule'), or None."""
    depth = 0
    for i in range(min(pos, len(text)) - 1, -1, -1):
        if text[i] == ")":
            depth += 1
        elif text[i] == "(":
            if depth == 0:
                j = i
                while j > 0 and text[j - 1] == " ":
                    j -= 1
                start, end = _word_at(text, j - 1) if j > 0 else (j, j)
                return text[start:end] or None
            depth -= 1
    return None


REDUCTION_OPERATORS = ("+", "-", "*", "&", "|", "^", "&&", "||", "max", "min")
# Words people write for an operator (difflib cannot map 'plus' to '+').
_OPERATOR_WORDS = {
    "plus": "+", "add": "+", "sum": "+", "minus": "-", "sub": "-", "subtract": "-",
    "times": "*", "mul": "*", "mult": "*", "multiply": "*", "prod": "*", "product": "*",
    "bitand": "&", "bitor": "|", "xor": "^", "bitxor": "^", "land": "&&", "lor": "||",
    "maximum": "max", "minimum": "min", "amax": "max", "amin": "min",
}


def _at_reduction_operator(text, start):
    """Whether ``start`` is where a reduction clause's operator goes:
    ``reduction(`` or ``reduction(<modifier>,`` right before it."""
    depth = 0
    for i in range(min(start, len(text)) - 1, -1, -1):
        if text[i] == ")":
            depth += 1
        elif text[i] == "(":
            if depth == 0:
                head = re.search(r"(\w+)\s*$", text[:i])
                return bool(head and head.group(1) in ("reduction", "in_reduction",
                                                       "task_reduction")
                            and re.fullmatch(r"\s*(\w+\s*,\s*)?", text[i + 1:start]))
            depth -= 1
    return False


def _reduction_operator_error(text, span, word):
    hint = None
    if word:
        guess = _OPERATOR_WORDS.get(word.lower())
        if guess is None:
            close = difflib.get_close_matches(word.lower(), ["max", "min", "and", "or"], n=1,
                                              cutoff=0.6)
            guess = close[0] if close else None
        hint = f"did you mean '{guess}'?" if guess else None
    return DirectiveSyntaxError(
        f"unknown reduction operator '{word}'; expected one of "
        + ", ".join(REDUCTION_OPERATORS) + " (or 'and', 'or')",
        directive=text, span=span, hint=hint)


def _quote_all(words):
    quoted = [f"'{w}'" for w in words]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _describe(expected, values):
    """Expected terminals in words, e.g. "a clause, 'for' or the end of the directive"."""
    words = sorted({values[t] for t in expected if t in values})
    if expected & _EXPR_TERMINALS:  # an expression may start with a bracket anyway
        words = [w for w in words if w not in ("(", "[", "{")]
    clause_words = [w for w in words if w in CLAUSE_NAMES]
    other = [w for w in words if w not in CLAUSE_NAMES]
    parts = []
    if len(clause_words) > 6:
        parts.append("a clause")
    else:
        other = sorted(other + clause_words)
    if len(other) > 12:
        parts.append("a construct name" if set(other) & set(_CONSTRUCT_WORDS) else "a keyword")
    else:
        parts.extend(f"'{w}'" for w in other)
    if expected & _EXPR_TERMINALS:
        parts.append("an expression")
    elif "NAME" in expected:
        parts.append("a variable name")
    if "$END" in expected:
        parts.append("the end of the directive")
    if not parts:
        return "something else"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def _hint(word, candidates):
    if not word or not (word[0].isalpha() or word[0] == "_"):
        return None
    if word.lower() != word and word.lower() in candidates:
        return f"OpenMP keywords are lowercase: did you mean '{word.lower()}'?"
    close = difflib.get_close_matches(word.lower(), candidates, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def _hint_after_construct(word, text, start):
    """A hint from the words that can follow what precedes ``start``: the clauses of the
    construct written so far and, right after its name, the words that extend it
    ('parallel fro' -> 'for', not the target clause 'from'); None if nothing is close."""
    from .checks import ALLOWED_CLAUSES
    before = text[:start].split()
    lead = []
    for w in before:
        if w not in _CONSTRUCT_WORDS:
            break
        lead.append(w)
    construct = " ".join(lead)
    words = set(ALLOWED_CLAUSES.get(construct, ()))
    if len(lead) == len(before):
        words |= {c.split()[len(lead)] for c in CONSTRUCTS
                  if c.startswith(construct + " ")}
    return _hint(word, sorted(words)) if words else None


def syntax_error(exc, text, parser, interactive=None):
    """A DirectiveSyntaxError for a lark ``UnexpectedInput`` raised on ``text``, or for
    a token glued to the word before it (``exc`` is then that Token)."""
    import lark

    values = _keyword_values(parser)
    precise = None
    if interactive is not None:
        try:  # what can really follow (LALR merges states, so exc.expected can be wider)
            precise = interactive.accepts()
        except Exception:  # noqa: BLE001 - a worse message is better than a crash
            precise = None
    if isinstance(exc, lark.Token):
        expected, pos = set(), exc.start_pos
    elif isinstance(exc, lark.exceptions.UnexpectedToken):
        expected = set(exc.accepts or exc.expected or ())
        tok = exc.token
        pos = len(text) if tok.type == "$END" else tok.start_pos
    elif isinstance(exc, lark.exceptions.UnexpectedCharacters):
        expected, pos = set(exc.allowed or ()), exc.pos_in_stream
    else:  # UnexpectedEOF
        expected, pos = set(getattr(exc, "expected", ()) or ()), len(text)
    pos = min(max(pos or 0, 0), len(text))
    if precise:
        expected = set(precise)

    if pos >= len(text):
        found, span, word = "the end of the directive", (len(text), len(text)), None
    else:
        span = _word_at(text, pos)
        if span[0] == span[1]:
            span = (pos, pos + 1)
        word = text[span[0]:span[1]]
        found = f"'{word}'"

    if word and _at_reduction_operator(text, span[0]):
        return _reduction_operator_error(text, span, word)
    candidates = sorted({values[t] for t in expected if t in values and values[t][0].isalpha()})
    at_start = not text[:span[0]].strip()
    where = _enclosing_clause(text, span[0])
    if isinstance(exc, lark.exceptions.UnexpectedCharacters) and word \
            and not (word[0].isalnum() or word[0] == "_"):
        return DirectiveSyntaxError(
            f"unexpected character {found}; expected {_describe(expected, values)}",
            directive=text, span=span)
    if word and span[0] < pos:
        # The state's lexer matched a keyword that is only a prefix of the word, so
        # ``expected`` describes the position after that keyword: judge the whole word.
        if at_start:
            return DirectiveSyntaxError(f"unknown OpenMP construct '{word}'",
                                        directive=text, span=span,
                                        hint=_hint(word, list(CONSTRUCTS) + _CONSTRUCT_WORDS))
        if where:
            words = sorted({v for v in values.values() if v[0].isalpha()})
            return DirectiveSyntaxError(f"unexpected '{word}' in '{where}(...)'",
                                        directive=text, span=span, hint=_hint(word, words))
        return DirectiveSyntaxError(f"unknown clause '{word}'", directive=text, span=span,
                                    hint=_hint_after_construct(word, text, span[0])
                                    or _hint(word, list(CLAUSE_NAMES) + _CONSTRUCT_WORDS))
    hint = _hint(word, candidates)
    if at_start:
        if word and (word[0].isalpha() or word[0] == "_"):
            message = f"unknown OpenMP construct '{word}'"
            hint = _hint(word, list(CONSTRUCTS) + _CONSTRUCT_WORDS) or hint
        else:
            message = f"a directive must start with a construct name, not {found}"
        return DirectiveSyntaxError(message, directive=text, span=span, hint=hint)

    inside = f" in '{where}(...)'" if where else ""
    if word and word in CLAUSE_NAMES and not where:
        message = f"clause '{word}' cannot appear here; expected {_describe(expected, values)}"
    elif word and word[0].isalpha() and not where and any(c in CLAUSE_NAMES for c in candidates):
        message = f"unknown clause '{word}'"
        hint = _hint_after_construct(word, text, span[0]) or hint
    else:
        message = f"expected {_describe(expected, values)}{inside} but found {found}"
    return DirectiveSyntaxError(message, directive=text, span=span, hint=hint)
