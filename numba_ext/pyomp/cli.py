"""`python -m pyomp`: what pyomp runs on (`info`)."""

import argparse
import sys


def info_lines():
    """The versions and settings a bug report needs, one `key: value` per line."""
    import llvmlite
    import llvmlite.binding as ll
    import numba

    import pyomp
    from pyomp import roundtrip, runtime

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
        f"max threads: {rt['omp_get_max_threads']}",
        f"processors: {rt['omp_get_num_procs']}",
    ]
    env = {k: v for k, v in rt.items() if k.startswith(("OMP_", "KMP_", "PYOMP_"))}
    lines += [f"{k}={v}" for k, v in sorted(env.items())] or ["OMP_* settings: none set"]
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m pyomp")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="versions, the OpenMP runtime in use and OMP_* settings")
    args = parser.parse_args(argv)
    if args.command == "info":
        print("\n".join(info_lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
