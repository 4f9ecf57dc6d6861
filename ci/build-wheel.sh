#!/usr/bin/env bash
# Builds what `pip install` needs, into dist/:
#   dist/pyomp_rs-VERSION-cp310-abi3-manylinux_2_28_x86_64.whl: one wheel for CPython 3.10+
#     (abi3) on any Linux with glibc >= 2.28 (RHEL 8+, Ubuntu 20.04+, Debian 10+), LLVM 19
#     linked in statically, the OpenMP runtime a dependency from PyPI (cmeel-libomp);
#   dist/pyomp_rs-VERSION.tar.gz: the sdist, which builds where LLVM 19's development files
#     are (README, "Install").
# PYOMP_WHEEL_GLIBC=2.17 builds a manylinux_2_17 wheel the same way (it imports and runs
# the demo here), but pip could not install it where glibc < 2.28 anyway: cmeel-libomp's
# wheels are manylinux_2_28, numba's and llvmlite's 2_27/2_28; 2.28 is the real floor.
# Run ci/setup.sh first (Debian's LLVM 19, the .venv with maturin, ziglang, auditwheel).
#
# How the wide tag is reached on Debian 12 (glibc 2.36): rustc links the extension through
# ci/wheel/zig-cc.sh, `zig cc` against glibc 2.28's stubs (ziglang from PyPI), with libstdc++
# and libffi static and ci/wheel/glibc_compat.c for the three newer glibc symbols Debian's
# archives use.  The build has its own target folder (target/wheel-2.28): another linker means
# other artifacts, and the development build in target/ stays as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
export LLVM_SYS_191_PREFIX=${LLVM_SYS_191_PREFIX:-/usr/lib/llvm-19}
export PYOMP_WHEEL_GLIBC=${PYOMP_WHEEL_GLIBC:-2.28}
export PYOMP_ZIG_PYTHON=$PWD/.venv/bin/python
# (one per glibc: cargo does not relink when only the linker's target changes)
export CARGO_TARGET_DIR=$PWD/target/wheel-$PYOMP_WHEEL_GLIBC
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER=$PWD/ci/wheel/zig-cc.sh
export PYOMP_WHEEL_COMPAT_OBJ=$CARGO_TARGET_DIR/glibc_compat.o
mkdir -p "$CARGO_TARGET_DIR" dist
"$PYOMP_ZIG_PYTHON" -m ziglang cc -target "x86_64-linux-gnu.$PYOMP_WHEEL_GLIBC" -O2 -fPIC \
  -c ci/wheel/glibc_compat.c -o "$PYOMP_WHEEL_COMPAT_OBJ"
tag=manylinux_${PYOMP_WHEEL_GLIBC/./_}
rm -f dist/pyomp_rs-*
echo "== wheel ($tag)"
# maturin checks the tag itself (glibc symbol versions, libraries outside the policy)
.venv/bin/maturin build --release --strip --compatibility "$tag" --out dist
echo "== symbols the extension leaves to the loader"
.venv/bin/python ci/wheel/check_symbols.py dist/pyomp_rs-*.whl "$PYOMP_WHEEL_GLIBC"
echo "== sdist"
.venv/bin/maturin sdist --out dist
.venv/bin/auditwheel show dist/pyomp_rs-*.whl
ls -l dist/
