"""pyomp's error classes: one base class whose message points at the directive.

Every problem pyomp reports to a user is a ``PyompError``.  Its message reads like a
compiler diagnostic (``file:line:col: error: ...``) followed by the source line and a caret
line under the offending token, so the user never has to read a traceback into pyomp.
The subclasses named after PyOMP's exceptions exist so that PyOMP programs (and tests)
that catch them keep working after switching their import to ``pyomp``.
"""

from __future__ import annotations

import linecache


class PyompError(Exception):
    """Base class of every error pyomp raises about a user's program.

    ``span`` is the ``(start, end)`` character range of the offending token inside the
    directive string; ``filename``/``line`` locate the ``with openmp(...)`` statement.
    ``source_line`` is the text of that line; when the directive appears in it literally,
    the caret is drawn under the token in the source line itself.
    """

    def __init__(self, message, *, directive=None, span=None, filename=None,
                 line=None, column=None, source_line=None, hint=None):
        super().__init__(message)
        self.message = message
        self.directive = directive
        self.span = span
        self.filename = filename
        self.line = line
        self.column = column
        self.source_line = source_line
        self.hint = hint

    def at(self, filename=None, line=None, source_line=None, column=None):
        """Fill in the source location (kept if already set) and return self."""
        self.filename = self.filename or filename
        self.line = self.line or line
        self.source_line = self.source_line or source_line
        if self.column is None:
            self.column = column
        return self

    # -- rendering -----------------------------------------------------------------
    def _excerpt(self):
        """The source (or directive) line and a caret line under the offending token."""
        if self.directive is None:
            if self.source_line is None:
                return [], None
            text = self.source_line.rstrip("\n")
            col = self.column
            lines = ["    " + text]
            if col is not None:
                lines.append("    " + " " * col + "^")
            return lines, col
        start, end = self.span if self.span is not None else (None, None)
        text, offset = self.directive, 0
        if self.source_line is not None:
            where = _find_directive(self.source_line, self.directive)
            if where is not None:
                text, offset = self.source_line.rstrip("\n"), where
        lines = ["    " + text]
        col = None
        if start is not None:
            width = max(1, (end or start + 1) - start)
            lines.append("    " + " " * (offset + start) + "^" * width)
            col = offset + start
        return lines, col

    def __str__(self):
        excerpt, col = self._excerpt()
        if self.column is not None:
            col = self.column
        where = []
        if self.filename:
            where.append(str(self.filename))
        if self.line:
            where.append(str(self.line))
            if col is not None:
                where.append(str(col + 1))
        head = ":".join(where)
        out = (head + ": error: " if head else "error: ") + self.message
        if excerpt:
            out += "\n" + "\n".join(excerpt)
        if self.hint:
            out += "\n" + self.hint
        return out

    def __reduce__(self):
        # Keep errors picklable (Numba and multiprocessing pickle exceptions).
        return (_rebuild, (self.__class__, self.message, self.__dict__))


def _rebuild(cls, message, state):
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


def _find_directive(source_line, directive):
    """Column where the directive's text starts inside a source line, or None."""
    idx = source_line.find(directive)
    return None if idx < 0 else idx


class DirectiveSyntaxError(PyompError):
    """The directive string does not follow the OpenMP directive grammar."""


class UnsupportedConstructError(PyompError):
    """A construct or clause that pyomp recognises but does not implement (yet)."""


class ClauseNotAllowedError(PyompError):
    """A clause given on a construct that does not accept it."""


class PassError(PyompError):
    """The LLVM pass (the Rust library) rejected a module; carries its location."""


def pyomp_says(words):
    """PyOMP 0.6's words for the same error, to append to our message: PyOMP programs and
    test suites match on them (`assertIn("Extra code near line", str(err))`)."""
    return f" (PyOMP: {words})"


# PyOMP-compatible names (PyOMP programs catch these).
class UnspecifiedVarInDefaultNone(PyompError):
    """default(none) and a variable used in the region without a data-sharing clause."""


class NonconstantOpenmpSpecification(PyompError):
    """The argument of openmp(...) is not a compile-time constant."""


class NonStringOpenmpSpecification(PyompError):
    """The argument of openmp(...) is a constant but not a string."""


class ParallelForExtraCode(PyompError):
    """Statements besides the loop in a worksharing-loop construct."""


class ParallelForWrongLoopCount(PyompError):
    """Not exactly one loop (or too few loops for collapse) in a loop construct."""


class ParallelForInvalidCollapseCount(PyompError):
    """collapse(n) with n not a positive integer constant."""


class MultipleNumThreadsClauses(PyompError):
    """More than one num_threads clause on a construct."""


class PyompWarning(UserWarning):
    """Base class of the warnings pyomp gives about a user's program (filter them with the
    `warnings` module: `warnings.simplefilter("ignore", pyomp.PyompWarning)`)."""


class RaceWarning(PyompWarning):
    """A probable data race found at compile time: a shared variable or array element
    written by several threads without synchronisation (pyomp.races).  The message names
    the variable, the line and the clause that was probably meant."""


class OpenMPRuntimeNotFound(ImportError):
    """No usable OpenMP runtime library could be loaded (an ImportError)."""


__all__ = [name for name in dir() if name[0].isupper()]


def source_line_of(loc):
    """The text of the source line a Numba `ir.Loc` points at (None when unavailable)."""
    if loc is None or not loc.filename:
        return None
    return linecache.getline(loc.filename, loc.line) or None
