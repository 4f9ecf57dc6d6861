"""The profiler's lock waits (pyomp.profile): `omp_set_lock` and `omp_set_nest_lock` are
Numba overloads compiled in modules of their own, which the Rust pass never sees, so
their calls record the wait here, the way the pass's instrumentation does
(pass-plugin/src/profile/instrument.rs): behind one relaxed load of `pyomp_profile_on`."""

from llvmlite import ir

LOCK_WAIT = 15  # record.rs kind::LOCK_WAIT
_I32, _I64, _PTR = ir.IntType(32), ir.IntType(64), ir.IntType(8).as_pointer()


def call_recording_wait(builder, fn, args, name):
    """`fn(*args)` between the recorder's begin and end of a lock wait at a site named
    `name` (the trace shows it as the routine's name)."""
    site = _site(builder.module, name)
    _when_on(builder, "pyomp_prof_begin", [ir.Constant(_I32, LOCK_WAIT), site,
                                          ir.Constant(_I64, 1), ir.Constant(_I64, 0)])
    res = builder.call(fn, args)
    _when_on(builder, "pyomp_prof_end", [ir.Constant(_I32, LOCK_WAIT), site])
    return res


def _when_on(builder, callee, args):
    module = builder.module
    flag = module.globals.get("pyomp_profile_on")
    if flag is None:
        flag = ir.GlobalVariable(module, _I32, "pyomp_profile_on")
    on = builder.load_atomic(flag, "monotonic", 4)
    with builder.if_then(builder.icmp_unsigned("!=", on, ir.Constant(_I32, 0)), likely=False):
        fnty = ir.FunctionType(ir.VoidType(), [a.type for a in args])
        fn = module.globals.get(callee) or ir.Function(module, fnty, callee)
        builder.call(fn, args)


def _site(module, name):
    """An `ident_t` whose psource names the routine (`;omp_set_lock;;0;0;;`)."""
    gname = f".pyomp.prof.site.{name}"
    if gname in module.globals:
        return _as_ptr(module.globals[gname])
    text = bytearray(f";{name};;0;0;;\0".encode())
    src = ir.GlobalVariable(module, ir.ArrayType(ir.IntType(8), len(text)), gname + ".str")
    src.initializer = ir.Constant(src.type.pointee, text)
    src.global_constant, src.linkage = True, "private"
    ident_ty = ir.LiteralStructType([_I32, _I32, _I32, _I32, _PTR])
    ident = ir.GlobalVariable(module, ident_ty, gname)
    ident.initializer = ir.Constant(ident_ty, [ir.Constant(_I32, v) for v in (0, 2, 0, 0)]
                                    + [src.bitcast(_PTR)])
    ident.global_constant, ident.linkage = True, "private"
    return _as_ptr(ident)


def _as_ptr(ident):
    return ident.bitcast(_PTR)
