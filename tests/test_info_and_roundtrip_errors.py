"""`python -m pyomp info`, and the error a user gets when the pass cannot read a module."""

import subprocess
import sys

import llvmlite.binding as ll
import pyomp
import pytest
from pyomp import roundtrip
from pyomp.errors import PassError


def test_info_names_versions_runtime_and_settings():
    out = subprocess.run([sys.executable, "-m", "pyomp", "info"], capture_output=True,
                         text=True, timeout=120, env={"OMP_NUM_THREADS": "3",
                                                      **__import__("os").environ})
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for key in ("pyomp: " + pyomp.__version__, "numba: ", "llvmlite: ", "pass LLVM: 19.",
                "OpenMP runtime: LLVM libomp", "runtime path: /", "max threads: ",
                "OMP_CANCELLATION=true",
                "devices: host offload devices 0-3, initial device 4, default device 0"):
        assert key in text, (key, text)


def test_unreadable_ir_names_both_llvm_versions_and_the_line():
    bad = "define i64 @f(i64 %x) {\n  %y = frobnicate i64 %x\n  ret i64 %y\n}\n"
    with pytest.raises(PassError) as err:
        roundtrip.lower(bad, "bad_module")
    msg = str(err.value)
    llvmlite_llvm = ".".join(map(str, ll.llvm_version_info))
    assert f"pyomp's pass (LLVM {roundtrip.pass_llvm_version()})" in msg
    assert f"llvmlite (LLVM {llvmlite_llvm})" in msg
    assert "IR line 2: %y = frobnicate i64 %x" in msg
    assert "Traceback" not in msg and "panicked" not in msg
