#!/usr/bin/env bash
# The test command of README.md: the Rust pass's fixture tests, then the Python suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export LLVM_SYS_191_PREFIX=${LLVM_SYS_191_PREFIX:-/usr/lib/llvm-19}
echo "== cargo test"
cargo test --quiet
echo "== import cycles"
.venv/bin/python ci/import_cycles.py
echo "== code size (modules <= 500 lines, functions <= 80, or a comment says why)"
.venv/bin/python ci/code_size.py --check > /tmp/pyomp-code-size.txt \
  || { cat /tmp/pyomp-code-size.txt; exit 1; }
head -n 1 /tmp/pyomp-code-size.txt; grep "^== rust" /tmp/pyomp-code-size.txt
echo "== docs (Sphinx, warnings and broken links are errors)"
bash ci/docs.sh
echo "== pytest"
# Two worker processes (pytest-xdist) on CI's two cores: 7.5 minutes instead of 12 for the
# whole suite.  (Two processes once crashed a worker thread: short-lived Python threads of
# test_gil had run tasks, a libomp bug pyomp works around since (runtime.rs,
# pyomp_task_alloc_size).)  PYOMP_TEST_WORKERS=0 runs it in one process.
workers=${PYOMP_TEST_WORKERS:-2}
if [ "$workers" = 0 ]; then
  .venv/bin/python -m pytest -q "$@"
else
  .venv/bin/python -m pytest -q -n "$workers" "$@"
fi
