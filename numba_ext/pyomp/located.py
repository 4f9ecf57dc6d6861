"""Errors located at the directive they are about: the file, line and source line of its
`with` statement, and the construct name as the token when no clause is at fault."""

import re

from .errors import PyompError, source_line_of
from .regions import Region


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



def written_construct(directive):
    """The construct as the directive's text spells it ('loop' for a `loop bind(thread)`
    that runs as 'simd'): what an error message should name."""
    start, end = construct_span(directive.text)
    return " ".join(directive.text[start:end].split()) or directive.construct


def locate(err, loc, directive=None):
    """Attach the `with` statement's location to an error raised while reading it; an
    error about a whole construct (no token of its own) points at the construct name."""
    if isinstance(err, PyompError):
        err.at(filename=loc.filename, line=loc.line, source_line=source_line_of(loc))
        if directive is not None and err.directive is None:
            # a span the error carries is a token of this directive's text
            err.directive = directive.text
            err.span = err.span or construct_span(directive.text)
    return err


def locator(where, directive=None):
    """A function that attaches the location of `where` (an `ir.Loc`, or a region: then
    also its directive) to an error (what region-level checks call)."""
    if isinstance(where, Region):
        return lambda err: locate(err, where.loc, where.directive)
    return lambda err: locate(err, where, directive)
