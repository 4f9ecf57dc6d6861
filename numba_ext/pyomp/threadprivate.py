"""`threadprivate` variables of a function, and `copyin`.

C's threadprivate is for global variables, which Numba freezes as constants; pyomp's
Python equivalent is a variable of the function:

    x = 0
    with openmp("threadprivate(x)"):      # after x has a value
        pass
    with openmp("parallel"):               # each thread has its own x ...
        x += 1
    with openmp("parallel"):               # ... and finds it again in the next region
        out[omp_get_thread_num()] = x      # (the same thread number, as in C)
    with openmp("parallel copyin(x)"):     # every thread starts with the master's x
        ...

Every thread's copy lives in one array per variable, made at the declaration (one slot
per thread number); the master thread's copy is the variable itself, as in OpenMP.  The
front end rewrites each parallel region that uses x:

    before:        store[0] = store[last] = x
    region start:  x = store[omp_get_thread_num()]        (copyin: store[last])
    region end:    store[omp_get_thread_num()] = x
    after:         x = store[0]
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.core import ir

from .runtime.api import omp_get_max_threads, omp_get_num_procs, omp_get_thread_num

#: Thread numbers a threadprivate variable has room for beyond the default team size.
EXTRA_SLOTS = 256


@njit
def make_store(x):
    """One slot per thread number, each holding x, and a last one: the master's value when
    the region started, which copyin reads (the master's own slot may change meanwhile)."""
    return np.full(max(omp_get_max_threads(), omp_get_num_procs()) + EXTRA_SLOTS + 1, x)


@njit
def _slot(store, t):
    if t >= store.size - 1:
        raise RuntimeError("pyomp: a threadprivate variable has no room for this thread "
                           "number (more threads than when it was declared + 256)")
    return t


@njit
def load(store, master):
    """This thread's copy (the master's with copyin)."""
    if master:
        return store[store.size - 1]
    return store[_slot(store, omp_get_thread_num())]


@njit
def save(store, x):
    store[_slot(store, omp_get_thread_num())] = x


@njit
def put_master(store, x):
    store[0] = x
    store[store.size - 1] = x


@njit
def get(store, t):
    return store[t]


def _call(builder_block, scope, loc, name, fn, args, target=None):
    fn_var = ir.Var(scope, scope.redefine("$pyomp_tp_fn", loc).name, loc)
    out = target or ir.Var(scope, scope.redefine("$pyomp_tp", loc).name, loc)
    return [ir.Assign(ir.Global(name, fn, loc), fn_var, loc),
            ir.Assign(ir.Expr.call(fn_var, args, (), loc), out, loc)]


def _const(scope, loc, value):
    var = ir.Var(scope, scope.redefine("$pyomp_tp_c", loc).name, loc)
    return var, ir.Assign(ir.Const(value, loc), var, loc)


def declare(func_ir, region, name):
    """At the declaration: store_<name> = make_store(name). Returns the store's variable."""
    block = func_ir.blocks[region.head]
    scope, loc = block.scope, region.loc
    store = ir.Var(scope, scope.redefine(f"$pyomp_tp_{name}", loc).name, loc)
    at = next(i for i, s in enumerate(block.body) if s is region.stmt)
    block.body[at:at] = _call(block, scope, loc, "make_store", make_store,
                              [ir.Var(scope, name, loc)], store)
    return store


def rewrite_region(func_ir, region, name, store, copyin):
    """The four steps of the module doc around and inside parallel region `region`."""
    blocks = func_ir.blocks
    loc = region.loc
    head, body, pop, exit_ = (blocks[region.head], blocks[region.body], blocks[region.pop],
                              blocks[region.exit])
    scope = head.scope
    x = ir.Var(scope, name, loc)
    at = next(i for i, s in enumerate(head.body) if s is region.stmt)
    head.body[at:at] = _call(head, scope, loc, "put_master", put_master, [store, x])
    master, master_stmt = _const(scope, loc, bool(copyin))
    body.body[0:0] = [master_stmt, *_call(body, scope, loc, "load", load, [store, master], x)]
    pop.body[-1:-1] = _call(pop, scope, loc, "save", save, [store, x])
    zero2, zero2_stmt = _const(scope, loc, 0)
    exit_.body[0:0] = [zero2_stmt, *_call(exit_, scope, loc, "get", get, [store, zero2], x)]
