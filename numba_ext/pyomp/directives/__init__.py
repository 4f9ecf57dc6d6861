"""OpenMP directive parsing for pyomp: ``parse("parallel for ...")`` -> checked Directive.

Importing this package is cheap: lark is imported and the grammar built on first parse.
"""

from .checks import ALLOWED_CLAUSES, CLAUSE_NAMES, CONSTRUCTS
from .model import Clause, Directive, Expr, Span, Var
from .parser import parse

__all__ = ["parse", "Directive", "Clause", "Var", "Expr", "Span", "CONSTRUCTS",
           "ALLOWED_CLAUSES", "CLAUSE_NAMES"]
