"""`print(...)` in functions with regions: one line per call, even from many threads.

Numba's print (like Python's) writes each item and separator with a call of its own to
`sys.stdout.write`; the GIL can change hands between them, so lines printed by several
threads at once come out mixed ("hello fromhello from 0"). Every team mate of a region that
prints does that at once. pyomp's `print_line` builds the whole line first (each item's
`str`, one space apart, a newline: the same text as Numba's print) and writes it with one
call.
"""

from llvmlite import ir as llvm_ir
from numba.core import cgutils, ir, types
from numba.extending import intrinsic


def _boxed_str(context, builder, pyapi, env_manager, ty, val):
    """A new reference to str(item), or to "" where the item cannot be boxed (Numba's
    print skips such an item after reporting it as unraisable; so does this)."""
    if isinstance(ty, types.Literal):
        obj = pyapi.unserialize(pyapi.serialize_object(ty.literal_value))
    else:
        if context.enable_nrt:
            context.nrt.incref(builder, ty, val)
        obj = pyapi.from_native_value(ty, val, env_manager)
    result = cgutils.alloca_once(builder, pyapi.pyobj)
    with builder.if_else(cgutils.is_not_null(builder, obj), likely=True) as (ok, bad):
        with ok:
            builder.store(pyapi.object_str(obj), result)
            pyapi.decref(obj)
        with bad:
            what = context.insert_const_string(builder.module, "the print() function")
            strobj = pyapi.string_from_string(what)
            pyapi.err_write_unraisable(strobj)
            pyapi.decref(strobj)
            builder.store(cgutils.get_null_value(pyapi.pyobj), result)
    text = builder.load(result)
    with builder.if_then(cgutils.is_null(builder, text), likely=False):  # or str() failed
        builder.store(pyapi.string_from_string(
            context.insert_const_string(builder.module, "")), result)
    return builder.load(result)


def _unicode_fn(pyapi, name, nargs):
    fnty = llvm_ir.FunctionType(pyapi.pyobj, [pyapi.pyobj] * nargs)
    return pyapi._get_function(fnty, name=name)


@intrinsic
def print_line(typingctx, *items):
    """Numba's print, written as one line."""

    def codegen(context, builder, sig, args):
        pyapi = context.get_python_api(builder)
        gil = pyapi.gil_ensure()
        env_manager = context.get_env_manager(builder)
        (star,), (packed,) = sig.args, args
        values = cgutils.unpack_tuple(builder, packed, len(star))
        pieces = pyapi.list_new(context.get_constant(types.intp, len(values)))
        for i, (ty, val) in enumerate(zip(star.types, values)):
            piece = _boxed_str(context, builder, pyapi, env_manager, ty, val)
            pyapi.list_setitem(pieces, context.get_constant(types.intp, i), piece)  # steals
        space = pyapi.string_from_string(context.insert_const_string(builder.module, " "))
        newline = pyapi.string_from_string(context.insert_const_string(builder.module, "\n"))
        joined = builder.call(_unicode_fn(pyapi, "PyUnicode_Join", 2), [space, pieces])
        line = builder.call(_unicode_fn(pyapi, "PyUnicode_Concat", 2), [joined, newline])
        with builder.if_then(cgutils.is_not_null(builder, line), likely=True):
            pyapi.sys_write_stdout(context.insert_const_string(builder.module, "%U"), line)
            pyapi.decref(line)
        for obj in (joined, newline, space, pieces):
            pyapi.decref(obj)  # (Py_DecRef: NULL is fine)
        pyapi.gil_release(gil)
        return context.get_dummy_value()

    return types.none(types.StarArgTuple(items)), codegen


def print_whole_lines(func_ir):
    """Makes each `print(a, b, ...)` call (not `print(*t)`, nor one with keywords, which
    Numba rejects anyway) call `print_line`. At this stage of Numba's pipeline a print is
    still a call of the global `print` (Numba's own rewrite to a Print statement comes
    later)."""
    import builtins
    for block in func_ir.blocks.values():
        for i, stmt in enumerate(block.body):
            call = stmt.value if isinstance(stmt, ir.Assign) else None
            if not (isinstance(call, ir.Expr) and call.op == "call" and not call.kws
                    and call.vararg is None and call.varkwarg is None):
                continue
            try:
                callee = func_ir.get_definition(call.func)
            except KeyError:
                continue
            if not (isinstance(callee, (ir.Global, ir.FreeVar)) and callee.value is builtins.print):
                continue
            fn = block.scope.redefine("$pyomp_print_line", stmt.loc)
            block.body.insert(i, ir.Assign(ir.Global("print_line", print_line, stmt.loc), fn,
                                           stmt.loc))
            call.func = fn
