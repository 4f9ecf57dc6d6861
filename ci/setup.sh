#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (or refreshes this one) for pyomp: the LLVM 19
# toolchain and libomp from Debian, a Python venv in .venv, and the Rust pass built into it
# with maturin.  Safe to run again: each step skips what is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(llvm-19-dev libpolly-19-dev clang-19 libomp-19-dev zlib1g-dev libzstd-dev
                 libffi-dev libxml2-dev libncurses-dev)
missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PY" -m venv .venv
fi
echo "== installing Python packages"
.venv/bin/python -m pip install -q --disable-pip-version-check -r ci/requirements.txt

echo "== building the Rust pass (maturin develop --release)"
export LLVM_SYS_191_PREFIX=${LLVM_SYS_191_PREFIX:-/usr/lib/llvm-19}
VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH" \
  .venv/bin/maturin develop --release --quiet
.venv/bin/python -m pyomp info
