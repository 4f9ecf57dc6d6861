#!/usr/bin/env bash
# The test command of README.md: the Rust pass's fixture tests, then the Python suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export LLVM_SYS_191_PREFIX=${LLVM_SYS_191_PREFIX:-/usr/lib/llvm-19}
echo "== cargo test"
cargo test --quiet
echo "== pytest"
.venv/bin/python -m pytest -q "$@"
