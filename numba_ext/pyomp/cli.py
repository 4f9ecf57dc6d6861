"""`python -m pyomp`: what pyomp runs on (`info`), what it made of a function (`explain`),
how it scales here (`bench`)."""

import argparse
import ast
import importlib
import importlib.util
import os
import sys
from pathlib import Path

#: What `info` says of where the runtime came from (runtime.loader's sources).
_SOURCES = {"wheel": "the cmeel-libomp package (PyPI), pyomp's dependency",
            "system": "the system (not the cmeel-libomp package)",
            "PYOMP_OPENMP_LIB": "PYOMP_OPENMP_LIB"}


def _devices_line():
    from pyomp import devices
    from pyomp.runtime.api import omp_get_default_device
    offload = (f"host offload devices 0-{devices.NUM_DEVICES - 1}, "
               if devices.NUM_DEVICES else "no offload device (OMP_TARGET_OFFLOAD=DISABLED), ")
    return (f"devices: {offload}initial device {devices.INITIAL_DEVICE}, default device "
            f"{omp_get_default_device()}")


def info_lines(initialise_mpi=False):
    """The versions and settings a bug report needs, one `key: value` per line
    (`initialise_mpi`: see mpi_info.mpi_lines)."""
    import llvmlite
    import llvmlite.binding as ll
    import numba

    import pyomp
    from pyomp import mpi_info, roundtrip, runtime

    rt = runtime.info()
    lines = [
        f"pyomp: {pyomp.__version__}",
        f"numba: {numba.__version__}",
        f"llvmlite: {llvmlite.__version__} (LLVM {'.'.join(map(str, ll.llvm_version_info))})",
    ]
    try:
        lines.append(f"pass LLVM: {roundtrip.pass_llvm_version()}")
    except ImportError as exc:  # the Rust extension is not built
        lines.append(f"pass LLVM: unavailable ({exc}); run ci/setup.sh")
    lines += [
        f"OpenMP runtime: {rt['vendor']} {rt['version']}",
        f"runtime path: {rt['path']}",
        f"runtime from: {_SOURCES.get(rt['source'], rt['source'])}",
    ]
    if rt["other_runtimes"]:
        lines.append("other OpenMP runtimes in this process (each with its own threads; "
                     "busy together, they oversubscribe the cores): "
                     + ", ".join(rt["other_runtimes"]))
    lines += [
        f"max threads: {rt['omp_get_max_threads']}",
        f"processors: {rt['omp_get_num_procs']}",
        _devices_line(),
        *mpi_info.mpi_lines(initialise_mpi),
    ]
    env = {k: v for k, v in rt.items() if k.startswith(("OMP_", "KMP_", "PYOMP_"))}
    lines += [f"{k}={v}" for k, v in sorted(env.items())] or ["OMP_* settings: none set"]
    return lines


class CommandError(Exception):
    """A problem with what the command line asked for (printed without a traceback)."""


def _import_module(spec):
    """A module from a path (`examples/pi.py`) or a dotted name (`examples.pi`)."""
    if spec.endswith(".py") or "/" in spec or os.sep in spec:
        path = Path(spec).resolve()
        if not path.is_file():
            raise CommandError(f"no such file: {spec}")
        sys.path.insert(0, str(path.parent))  # its sibling modules import as when run
        name = path.stem
        loaded = sys.modules.get(name)
        if loaded is not None and Path(getattr(loaded, "__file__", "") or "") == path:
            return loaded
        if loaded is not None:
            name = f"_pyomp_explain_{name}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)  # not as __main__: its main() stays unrun
        return module
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        raise CommandError(f"cannot import '{spec}': {exc}") from None


def _pyomp_functions(module):
    from .pipeline import OpenMPCompiler
    return sorted(name for name, value in vars(module).items()
                  if getattr(getattr(value, "_compiler", None), "pipeline_class", None)
                  is OpenMPCompiler)


def _argument(text):
    """One --args value: a Python literal, or an expression over numpy (`np.ones(8)`)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    import numpy as np
    try:
        return eval(text, {"__builtins__": {}, "np": np, "numpy": np})  # the user's own input
    except Exception as exc:
        raise CommandError(f"--args: cannot read {text!r} as a Python literal or a NumPy "
                           f"expression ({type(exc).__name__}: {exc})") from None


def explain_target(target, args=None, ir=False):
    """The text `python -m pyomp explain target` prints; compiles for `args` (values)
    first when given.  Raises CommandError."""
    from .explain import explain
    module_spec, sep, qualname = target.rpartition(":")
    if not sep or not module_spec or not qualname:
        raise CommandError(f"expected module:function (e.g. examples/pi.py:pi_parallel or "
                           f"examples.pi:pi_parallel), not {target!r}")
    module = _import_module(module_spec)
    fn = module
    for attr in qualname.split("."):
        fn = getattr(fn, attr, None)
        if fn is None:
            known = ", ".join(_pyomp_functions(module)) or "none"
            raise CommandError(f"'{module_spec}' has no '{qualname}' (its pyomp.njit "
                               f"functions: {known})")
    if not hasattr(fn, "overloads"):
        raise CommandError(f"'{qualname}' is not a function compiled by pyomp.njit")
    if args is not None:
        import numba
        values = [_argument(a) for a in args]
        fn.compile(tuple(numba.typeof(v) for v in values))
    if not fn.overloads:
        raise CommandError(
            f"'{qualname}' has no compiled signature yet: pyomp.njit compiles a function "
            f"when it is first called. Either have the module call it when imported (or "
            f"give pyomp.njit a signature), or pass example arguments to compile it for:\n"
            f"    python -m pyomp explain {target} --args 1000\n"
            f"(each argument a Python literal or a NumPy expression such as 'np.ones(100)')")
    return explain(fn, ir=ir)


def _thread_counts(text):
    try:
        counts = [int(t) for t in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"expected thread counts such as 1,2,4, not {text!r}")
    return sorted(set(counts))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m pyomp")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="versions, the OpenMP runtime in use and OMP_* settings")
    explain = sub.add_parser(
        "explain", help="what pyomp made of each OpenMP region of a function: data "
                        "sharing, schedules, race warnings (pyomp.explain)")
    explain.add_argument("target", help="module:function, the module as a path "
                                        "(examples/pi.py) or a dotted name (examples.pi)")
    explain.add_argument("--args", nargs="+", metavar="VALUE",
                         help="compile the function for these arguments first (Python "
                              "literals, or NumPy expressions such as 'np.ones(100)')")
    explain.add_argument("--ir", action="store_true",
                         help="also print each outlined function's LLVM IR")
    bench = sub.add_parser(
        "bench", help="a one-minute benchmark of this machine: times and speed-ups of a few "
                      "kernels at 1, 2, 4, ... threads")
    bench.add_argument("--threads", type=_thread_counts, metavar="1,2,4",
                       help="thread counts (default: powers of two up to the processors)")
    bench.add_argument("--repeats", type=int, default=3, help="runs per step (the best counts)")
    bench.add_argument("--scale", type=float, default=1.0,
                       help="problem sizes relative to the default (0.1: ten times smaller)")
    bench.add_argument("--plot", metavar="FILE.png",
                       help="also draw the speed-ups into a PNG (needs matplotlib)")
    args = parser.parse_args(argv)
    if args.command == "bench":
        from .bench import run
        return run(args.threads, args.repeats, args.scale, args.plot)
    if args.command == "info":
        print("\n".join(info_lines(initialise_mpi=True)))
    elif args.command == "explain":
        try:
            print(explain_target(args.target, args.args, args.ir))
        except CommandError as exc:
            print(f"python -m pyomp explain: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
