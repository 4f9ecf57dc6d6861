"""NVIDIA GPUs, the first step (docs/design/gpu-offload.md): the PTX kernel of a target
loop, compiled here through LLVM's NVPTX backend (pass-plugin/src/gpu.rs), to be loaded
and launched through the CUDA driver where a GPU is (CuPy's RawModule, or ctypes).

    k = pyomp.gpu.loop_kernel(saxpy, (a, x, y))      # saxpy has a `target teams
    k.ptx                                             # distribute parallel for` loop
    k.arguments(a, x_device, y_device)                # the kernel's arguments, in order

One GPU thread runs one iteration of the loop: `for i in range(...)` of the first
`target ... parallel for` / `target teams distribute ...` / `target teams loop` construct
of the function, its body compiled by Numba as a function of the iteration and the
variables it uses. What the device cannot run (the Python C API, Numba's allocator: a
NumPy call that makes an array, `print`, exceptions' messages are kept on the host) is a
PassError naming the call. Reductions, teams-level code and data mapping are not part of
this step; pyomp runs such programs on its host offload devices.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass

import numba
from numba.core import types

from .errors import PyompError

_LOOP_CONSTRUCTS = ("target teams distribute parallel for", "target parallel for",
                    "target teams loop", "target teams distribute", "target parallel loop")


@dataclass
class LoopKernel:
    """A target loop as a PTX kernel `pyomp_kernel(n, <per variable: its fields>)`."""

    ptx: str
    variables: list  # [(name, Numba type)] in argument order (after start and step)
    trip_count: int
    start: int
    step: int

    def arguments(self, **values):
        """The kernel's arguments as (C type name, value) pairs, given each variable's host
        value or, for an array, a (host array, device address) pair: an array passes
        Numba's fields (meminfo and parent null: the kernel owns nothing)."""
        out = [("int64", self.trip_count), ("int64", self.start), ("int64", self.step)]
        for name, ty in self.variables:
            value = values[name]
            if isinstance(ty, types.Array):
                host, address = value
                out += [("pointer", 0), ("pointer", 0), ("int64", host.size),
                        ("int64", host.itemsize), ("pointer", address)]
                out += [("int64", d) for d in host.shape]
                out += [("int64", s) for s in host.strides]
            else:
                out.append((str(ty), value))
        return out


def _target_loop(fn):
    """The first target loop construct of `fn`'s source: (directive, For node)."""
    source = textwrap.dedent(inspect.getsource(fn))
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.With) or len(node.items) != 1:
            continue
        call = node.items[0].context_expr
        if not (isinstance(call, ast.Call) and call.args
                and isinstance(call.args[0], ast.Constant)
                and isinstance(call.args[0].value, str)):
            continue
        directive = " ".join(call.args[0].value.split())
        if directive.startswith(_LOOP_CONSTRUCTS) and len(node.body) == 1 \
                and isinstance(node.body[0], ast.For):
            return directive, node.body[0]
    raise PyompError(f"{fn.__name__} has no `target ... parallel for` loop (a `with "
                     "openmp(\"target teams distribute parallel for ...\")` around one "
                     "`for i in range(...)` loop) to compile for a GPU")


def _free_names(loop):
    """Names the loop's body and range read that it does not assign."""
    body = ast.Module(body=loop.body, type_ignores=[])
    assigned = {n.id for n in ast.walk(body) if isinstance(n, ast.Name)
                and isinstance(n.ctx, ast.Store)}
    read = [n.id for n in ast.walk(ast.Module(body=[*loop.body, ast.Expr(loop.iter)],
                                              type_ignores=[]))
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]
    return [n for n in dict.fromkeys(read) if n not in assigned and n != loop.target.id]


def loop_kernel(fn, args, sm="sm_80"):
    """The PTX kernel of `fn`'s first target loop, for the types of `args` (a tuple of
    example arguments of `fn`); `sm` the GPU architecture (e.g. "sm_80", "sm_90")."""
    from .roundtrip import kernel_ptx
    dispatcher = fn
    py = dispatcher.py_func
    sig = tuple(numba.typeof(a) for a in args)
    dispatcher.compile(sig)
    typemap = dispatcher.overloads[sig].type_annotation.typemap
    directive, loop = _target_loop(py)
    if not (isinstance(loop.iter, ast.Call) and isinstance(loop.iter.func, ast.Name)
            and loop.iter.func.id == "range" and isinstance(loop.target, ast.Name)):
        raise PyompError("the GPU loop must be `for i in range(...)`")
    names = [n for n in _free_names(loop) if n in typemap]
    variables = [(n, typemap[n]) for n in names]
    bounds = [ast.unparse(a) for a in loop.iter.args]
    start, stop, step = (["0", *bounds, "1"] if len(bounds) == 1 else
                         [*bounds, "1"] if len(bounds) == 2 else bounds)
    body = textwrap.indent("\n".join(ast.unparse(s) for s in loop.body), "    ")
    source = (f"def pyomp_gpu_body(pyomp_k, pyomp_start, pyomp_step, {', '.join(names)}):\n"
              f"    {loop.target.id} = pyomp_start + pyomp_k * pyomp_step\n{body}\n")
    namespace = {}
    exec(compile(source, f"<gpu body of {py.__name__}>", "exec"),  # noqa: S102
         py.__globals__, namespace)
    body_sig = (types.int64, types.int64, types.int64, *(t for _, t in variables))
    compiled = numba.njit(body_sig)(namespace["pyomp_gpu_body"])
    ir = compiled.inspect_llvm(body_sig)
    mangled = compiled.overloads[body_sig].fndesc.mangled_name
    ptx = kernel_ptx(ir, mangled, sm)
    values = dict(zip(py.__code__.co_varnames, args))
    trip = _evaluate_range(py, (start, stop, step), values)
    return LoopKernel(ptx, variables, len(range(*trip)), trip[0], trip[2])


def _evaluate_range(py, bounds, values):
    """The range's bounds from the function's arguments (the names they use must be
    arguments)."""
    try:
        return tuple(int(eval(b, py.__globals__, dict(values))) for b in bounds)  # noqa: S307
    except NameError as err:
        raise PyompError(f"the GPU loop's range must depend on the function's arguments "
                         f"only: {err}") from None
