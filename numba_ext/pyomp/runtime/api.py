"""The OpenMP user API (``omp_*``), callable from plain Python (ctypes) and from Numba code.

Each public function is a Python function calling the loaded runtime through ctypes, with an
``@overload`` whose implementation calls a private ``@intrinsic`` that declares the C symbol in
the LLVM module (Numba's ``get_thread_id`` pattern), so it also works under plain ``numba.njit``.
C ``int`` is int32, ``double`` float64; integer arguments accept any integer (cast to int32).
Locks are int64 handles: the address of a libc-allocated ``omp_lock_t``, valid in both worlds.
"""

from __future__ import annotations

import ctypes
import inspect
import operator

from llvmlite import ir
from numba.core import cgutils, types
from numba.core.extending import intrinsic, overload

from .. import devices
from .loader import load
from .lock_waits import call_recording_wait

_lib = load().cdll
_libc = ctypes.CDLL(None)  # the process's libc: the same malloc/free MCJIT code links to

_I8P = ir.IntType(8).as_pointer()
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
# C type name -> (ctypes type, Numba type, LLVM type).  "lock" is a handle (an address).
_CTYPES = {
    "void": (None, types.none, ir.VoidType()),
    "int": (ctypes.c_int, types.int32, _I32),
    "uint": (ctypes.c_uint, types.uint32, _I32),  # omp_sched_t: monotonic is 0x80000000
    "double": (ctypes.c_double, types.float64, ir.DoubleType()),
    "lock": (ctypes.c_void_p, types.int64, _I8P),
}

omp_sched_static, omp_sched_dynamic, omp_sched_guided, omp_sched_auto = 1, 2, 3, 4
omp_sched_monotonic = 0x80000000
omp_proc_bind_false, omp_proc_bind_true, omp_proc_bind_primary = 0, 1, 2
omp_proc_bind_master, omp_proc_bind_close, omp_proc_bind_spread = 2, 3, 4

# name, C return type, "C type + parameter name" list, docstring.
_SIMPLE = (
    ("omp_set_num_threads", "void", ["int num_threads"],
     "Set the number of threads for later parallel regions without num_threads."),
    ("omp_get_thread_num", "int", [], "The calling thread's number in its team (0 = primary)."),
    ("omp_get_num_threads", "int", [], "The number of threads in the current team."),
    ("omp_get_wtime", "double", [], "Elapsed wall-clock time in seconds."),
    ("omp_get_wtick", "double", [], "The precision of omp_get_wtime, in seconds."),
    ("omp_set_dynamic", "void", ["int dynamic"],
     "Enable (nonzero) or disable dynamic adjustment of the number of threads."),
    ("omp_get_dynamic", "int", [], "1 if dynamic adjustment of the number of threads is on."),
    ("omp_get_cancellation", "int", [],
     "1 if cancel constructs take effect (OMP_CANCELLATION; pyomp sets it true by default)."),
    ("omp_set_nested", "void", ["int nested"], "Deprecated: enable or disable nesting."),
    ("omp_get_nested", "int", [], "Deprecated: 1 if nested parallelism is enabled."),
    ("omp_set_max_active_levels", "void", ["int max_levels"],
     "Limit the number of nested active parallel regions."),
    ("omp_get_max_active_levels", "int", [],
     "The maximum number of nested active parallel regions."),
    ("omp_get_max_threads", "int", [],
     "Upper bound on the team size of a parallel region without num_threads."),
    ("omp_get_num_procs", "int", [], "The number of processors available to the program."),
    ("omp_in_parallel", "int", [], "1 inside an active parallel region, else 0."),
    ("omp_get_thread_limit", "int", [], "The maximum number of threads of the program."),
    ("omp_get_supported_active_levels", "int", [],
     "The number of active nesting levels the runtime supports."),
    ("omp_get_level", "int", [], "The number of nested parallel regions enclosing the call."),
    ("omp_get_active_level", "int", [],
     "The number of nested active parallel regions enclosing the call."),
    ("omp_get_ancestor_thread_num", "int", ["int level"],
     "The thread number of the ancestor at the given nesting level (-1 if none)."),
    ("omp_get_team_size", "int", ["int level"],
     "The team size at the given nesting level (-1 if none)."),
    ("omp_in_final", "int", [], "1 inside a final task region, else 0."),
    ("omp_get_proc_bind", "int", [], "The thread affinity policy (an omp_proc_bind_* value)."),
    ("omp_get_num_places", "int", [], "The number of places in the place list."),
    ("omp_get_place_num_procs", "int", ["int place_num"],
     "The number of processors in the given place."),
    ("omp_get_place_num", "int", [], "The place the calling thread is bound to (-1 if none)."),
    ("omp_set_schedule", "void", ["uint kind", "int chunk_size"],
     "Set the schedule of schedule(runtime) loops: an omp_sched_* kind and a chunk size."),
    ("omp_get_team_num", "int", [], "The team number within a teams region (0 outside)."),
    ("omp_get_num_teams", "int", [], "The number of teams in a teams region (1 outside)."),
    ("omp_set_lock", "void", ["lock lock"], "Wait until the lock is free, then take it."),
    ("omp_unset_lock", "void", ["lock lock"], "Release the lock."),
    ("omp_test_lock", "int", ["lock lock"], "Take the lock if free: nonzero if taken, else 0."),
    ("omp_set_nest_lock", "void", ["lock lock"],
     "Take the nestable lock (again, if this thread holds it)."),
    ("omp_unset_nest_lock", "void", ["lock lock"], "Release the nestable lock once."),
    ("omp_test_nest_lock", "int", ["lock lock"],
     "Take the nestable lock if possible: the new nesting count, or 0."),
)


def _fixed_arity(n, target):
    """A function of exactly n positional parameters forwarding to target: Numba's overload
    machinery needs matching fixed signatures (no *args) for typer and implementation."""
    if n == 0:
        return lambda: target()
    if n == 1:
        return lambda a: target(a)
    if n == 2:
        return lambda a, b: target(a, b)
    if n == 3:
        return lambda a, b, c: target(a, b, c)
    raise ValueError(f"unsupported arity {n}")


def _is_int(ty):
    return isinstance(ty, (types.Integer, types.Boolean))


def _to_c(context, builder, value, ty, kind):
    """Convert a Numba argument to the C parameter's LLVM value."""
    if kind == "lock":
        return builder.inttoptr(context.cast(builder, value, ty, types.int64), _I8P)
    return context.cast(builder, value, ty, _CTYPES[kind][1])


def _c_intrinsic(name, ret, kinds):
    """An @intrinsic calling the C function ``name`` (declared on first use in the module)."""
    def typing(typingctx, *tys):
        if not all(map(_is_int, tys)):
            return None

        def codegen(context, builder, sig, args):
            fnty = ir.FunctionType(_CTYPES[ret][2], [_CTYPES[k][2] for k in kinds])
            fn = cgutils.get_or_insert_function(builder.module, fnty, name)
            c_args = [_to_c(context, builder, v, t, k) for v, t, k in zip(args, sig.args, kinds)]
            if name in ("omp_set_lock", "omp_set_nest_lock"):
                res = call_recording_wait(builder, fn, c_args, name)
            else:
                res = builder.call(fn, c_args)
            return context.get_dummy_value() if ret == "void" else res

        return _CTYPES[ret][1](*tys), codegen

    defn = _fixed_arity(1 + len(kinds), typing)  # lowering needs a fixed signature too
    defn.__name__ = "_c_" + name
    return intrinsic(defn)


def _handle(value):
    """A lock handle from Python: refuse 0 (NULL), which would crash inside the runtime."""
    value = operator.index(value)
    if not value:
        raise ValueError("invalid OpenMP lock handle 0 (destroyed or never initialised?)")
    return value


def _ctypes_fn(name, ret, kinds):
    fn = getattr(_lib, name)
    fn.restype = _CTYPES[ret][0]
    fn.argtypes = [_CTYPES[k][0] for k in kinds]
    return fn


def _public(name, params, doc, pyimpl, jitimpl):
    """Make ``name`` a module-level function with a docstring and a Numba overload."""
    pyfn = _fixed_arity(len(params), pyimpl)
    pyfn.__name__ = pyfn.__qualname__ = name
    pyfn.__module__ = __name__
    pyfn.__doc__ = doc
    pyfn.__signature__ = inspect.Signature(
        [inspect.Parameter(p, inspect.Parameter.POSITIONAL_ONLY) for p in params])

    def typer(*tys):
        return jitimpl if all(map(_is_int, tys)) else None

    overload(pyfn)(_fixed_arity(len(params), typer))
    globals()[name] = pyfn
    __all__.append(name)
    return pyfn


__all__ = [n for n in dir() if n.startswith(("omp_sched_", "omp_proc_bind_"))]
for _name, _ret, _params, _doc in _SIMPLE:
    _kinds = [p.split()[0] for p in _params]
    _cfn = _ctypes_fn(_name, _ret, _kinds)
    _conv = [_handle if k == "lock" else operator.index for k in _kinds]
    _public(_name, [p.split()[1] for p in _params], _doc,
            lambda *a, _f=_cfn, _cv=_conv: _f(*(c(x) for c, x in zip(_cv, a))),
            _fixed_arity(len(_params), _c_intrinsic(_name, _ret, _kinds)))


# -- omp_get_schedule: C returns through two out-parameters; here it returns a tuple ----------
_c_get_schedule = _ctypes_fn("omp_get_schedule", "void", [])
_c_get_schedule.argtypes = [ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_int)]


def _py_get_schedule():
    kind, chunk = ctypes.c_uint(), ctypes.c_int()
    _c_get_schedule(ctypes.byref(kind), ctypes.byref(chunk))
    return kind.value, chunk.value


@intrinsic
def _jit_get_schedule(typingctx):
    def codegen(context, builder, sig, args):
        fnty = ir.FunctionType(ir.VoidType(), [_I32.as_pointer(), _I32.as_pointer()])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "omp_get_schedule")
        kind, chunk = cgutils.alloca_once(builder, _I32), cgutils.alloca_once(builder, _I32)
        builder.call(fn, [kind, chunk])
        return context.make_tuple(builder, sig.return_type,
                                  [builder.load(kind), builder.load(chunk)])

    return types.Tuple((types.uint32, types.int32))(), codegen


_public("omp_get_schedule", [],
        "The schedule of schedule(runtime) loops as a tuple (kind, chunk_size); kind is an "
        "omp_sched_* value, possibly or-ed with omp_sched_monotonic.",
        _py_get_schedule, lambda: _jit_get_schedule())


# -- locks: handles are addresses of libc-allocated omp_lock_t/omp_nest_lock_t ---------------
# One aligned cache line each, so a lock word never shares a line with other data (false
# sharing).  Python and compiled code both use libc's aligned_alloc/free, so a handle made in
# one world can be used and destroyed in the other.
_LOCK_BYTES = 64
_libc.aligned_alloc.restype = ctypes.c_void_p
_libc.aligned_alloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
_libc.free.restype = None
_libc.free.argtypes = [ctypes.c_void_p]


@intrinsic
def _jit_alloc_lock(typingctx):
    def codegen(context, builder, sig, args):
        fnty = ir.FunctionType(_I8P, [_I64, _I64])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "aligned_alloc")
        ptr = builder.call(fn, [_I64(_LOCK_BYTES), _I64(_LOCK_BYTES)])
        return builder.ptrtoint(ptr, _I64)

    return types.int64(), codegen


@intrinsic
def _jit_free(typingctx, handle):
    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [_I8P]), "free")
        builder.call(fn, [_to_c(context, builder, args[0], sig.args[0], "lock")])
        return context.get_dummy_value()

    return types.none(handle), codegen


def _lock_pair(kind):
    """omp_init_<kind> and omp_destroy_<kind>, which also allocate and free the lock."""
    init_c, destroy_c = f"omp_init_{kind}", f"omp_destroy_{kind}"
    py_init, py_destroy = (_ctypes_fn(n, "void", ["lock"]) for n in (init_c, destroy_c))
    jit_init, jit_destroy = (_c_intrinsic(n, "void", ["lock"]) for n in (init_c, destroy_c))

    def pyinit():
        handle = _libc.aligned_alloc(_LOCK_BYTES, _LOCK_BYTES)
        if not handle:
            raise MemoryError(f"{init_c}: out of memory")
        py_init(handle)
        return handle

    def pydestroy(handle):
        handle = _handle(handle)
        py_destroy(handle)
        _libc.free(handle)

    def jitinit():
        handle = _jit_alloc_lock()
        if handle == 0:
            raise MemoryError("out of memory allocating an OpenMP lock")
        jit_init(handle)
        return handle

    def jitdestroy(a):  # named like _fixed_arity's typer parameters, as Numba requires
        jit_destroy(a)
        _jit_free(a)

    _public(init_c, [], f"Allocate and initialise an unlocked {kind}; returns its handle "
            "(an int usable from Python and compiled code).", pyinit, jitinit)
    _public(destroy_c, ["lock"], f"Destroy the {kind} and free its memory.",
            pydestroy, jitdestroy)


# -- devices: pyomp's own device table answers (pyomp.devices) -------------------------------
for _name, (_params, _doc, _py, _jit) in devices.ROUTINES.items():
    _public(_name, _params, _doc, _py, _jit)
omp_target_memcpy = devices.omp_target_memcpy
omp_target_is_present = devices.omp_target_is_present
# (defined beside the device table they use; published here with the rest of the API)
omp_target_memcpy.__module__ = omp_target_is_present.__module__ = __name__
omp_initial_device, omp_invalid_device = devices.omp_initial_device, devices.omp_invalid_device
__all__ += ["omp_target_memcpy", "omp_target_is_present", "omp_initial_device",
            "omp_invalid_device"]

_lock_pair("lock")
_lock_pair("nest_lock")
del _name, _ret, _params, _doc, _kinds, _cfn, _conv, _py, _jit
