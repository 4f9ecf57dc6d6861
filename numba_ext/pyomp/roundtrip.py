"""Sends a module's IR through the Rust pass and back: text in, LLVM 19 bitcode out.

llvmlite's LLVM (22) exports no C++ symbols, so the pass carries its own LLVM 19 and the two
exchange IR: text into the pass (LLVM 19 cannot read LLVM 22 bitcode), bitcode back (LLVM 22
reads LLVM 19 bitcode).  The Rust library is imported on first use, keeping `import pyomp`
cheap.
"""

import json

from .errors import PassError

_pass = None


def _rust():
    global _pass
    if _pass is None:
        from . import _pass as rust  # the pyo3 extension built by maturin
        _pass = rust
    return _pass


def pass_llvm_version():
    """The LLVM release the Rust pass is built on (e.g. '19.1.7')."""
    return _rust().llvm_version()


def lower(ir_text, name, keep_ir=False):
    """Runs the pass over one module; returns (bitcode, final IR text or None, reports):
    one report (a dict) per OpenMP region the pass lowered.

    Raises pyomp.errors.PassError, carrying the user's source location when the problem
    is in an OpenMP region, or the IR line when LLVM 19 cannot read what llvmlite printed.
    """
    rust = _rust()
    try:
        bitcode, final_ir, reports = rust.lower(ir_text, name, keep_ir)
    except rust.PassError as exc:
        raise _to_pyomp_error(exc) from None
    return bitcode, final_ir, json.loads(reports)


def _to_pyomp_error(exc):
    message, details = exc.args
    info = json.loads(details)
    kind = info.get("kind")
    if kind == "parse":
        import llvmlite.binding as ll
        llvmlite_llvm = ".".join(map(str, ll.llvm_version_info))
        text = (
            f"pyomp's pass (LLVM {pass_llvm_version()}) cannot read IR printed by llvmlite "
            f"(LLVM {llvmlite_llvm}): {info['message']}"
        )
        if info.get("ir_line"):
            text += f"\n  IR line {info['ir_line']}: {(info.get('ir_text') or '').strip()}"
        text += ("\nThis llvmlite prints syntax the pass does not normalise yet; please "
                 "report it with this message.")
        err = PassError(text)
    elif kind == "region":
        loc = info.get("loc") or {}
        err = PassError(info["message"], filename=loc.get("file"), line=loc.get("line"),
                        column=(loc.get("column") or 1) - 1 if loc else None)
        _add_source_line(err)
    else:
        err = PassError(message)
    err.details = info
    return err


def _add_source_line(err):
    """Show the `with openmp(...)` line the pass complains about, with a caret under the
    `with` when the marker carried no column (Numba rarely knows one)."""
    import linecache
    if not (err.filename and err.line):
        return
    text = linecache.getline(err.filename, err.line)
    if not text:
        return
    err.source_line = text
    indent = len(text) - len(text.lstrip())
    if not err.column and indent:
        err.column = indent


def kernel_ptx(ir_text, body, sm):
    """PTX of a GPU kernel running Numba function `body` of `ir_text` per iteration
    (pass-plugin/src/gpu.rs); raises pyomp.errors.PassError."""
    rust = _rust()
    try:
        return rust.kernel_ptx(ir_text, body, sm)
    except rust.PassError as exc:
        raise _to_pyomp_error(exc) from None
