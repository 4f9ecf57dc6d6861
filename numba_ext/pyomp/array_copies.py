"""Private copies of NumPy arrays named in data-sharing clauses, emitted by Numba for the
Rust pass.

A C array named in `private`, `firstprivate` or `lastprivate` is copied into each thread
(task, ...): the storage, not a pointer to it. PyOMP does the same for NumPy arrays, and
its programs rely on it: `firstprivate(a)` gives each thread its own copy of the contents
and leaves the original unchanged. So for an explicit clause on an array variable the pass
calls one helper per variable at the start of the construct (for a task, when it is
created), which stores a new array into the private copy:

    i32 @pyomp.arrayinit.<tag>(ptr %original, ptr %private)

- firstprivate (and a lastprivate that is firstprivate too): `a.copy()`;
- private, lastprivate: an array of the same shape and dtype. OpenMP leaves its contents
  undefined; pyomp fills it with zeros (as PyOMP shows 0 for a private scalar), so a
  program that reads it before writing gets the same answer on every run. (PyOMP 0.6 gives
  an empty array here, and a write to it corrupts memory.)

At the end, lastprivate binds the original variable to the private array of the thread
that ran the last iteration, as it binds any Python value (and as PyOMP does): other
references to the original array do not see it. The implicit rules never copy an array
(a task that captures an array works on the same array, as a C pointer would).
"""

import numpy as np
from numba.core import types

from .array_reduction import compiled_helper

_CLAUSE_SHARINGS = ("private", "firstprivate", "lastprivate")


def applies(ty, var):
    """Whether variable `var` (its payload entry) of type `ty` gets an array copy."""
    return (isinstance(ty, types.Array) and var.get("explicit", False)
            and var["sharing"] in _CLAUSE_SHARINGS)


def starts_as_copy(var):
    """Whether the private array starts with the original's contents."""
    return var["sharing"] == "firstprivate" or var.get("first", False)


def _copy(a):
    return a.copy()


def _zeros_like(a):
    return np.zeros_like(a)


def emit(context, builder, ty, tag, copy):
    """Emits the helper for a variable of array type `ty`; returns its name."""
    return compiled_helper(context, builder, ty, f"pyomp.arrayinit.{tag}",
                           _copy if copy else _zeros_like, ty(ty), stores_result=True)
