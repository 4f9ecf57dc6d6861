#!/usr/bin/env bash
# The test command of README.md: the Rust pass's fixture tests, then the Python suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export LLVM_SYS_191_PREFIX=${LLVM_SYS_191_PREFIX:-/usr/lib/llvm-19}
echo "== cargo test"
cargo test --quiet
echo "== pytest"
# two worker processes (pytest-xdist): most of the suite's time is Numba compiling, one
# core per worker; tests never depend on having the machine to themselves
.venv/bin/python -m pytest -q -n 2 "$@"
