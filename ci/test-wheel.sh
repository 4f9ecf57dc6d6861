#!/usr/bin/env bash
# The wheel of ci/build-wheel.sh in clean environments, as a user gets it (issue 16):
# for each Python (default: 3.10 and 3.13, pyenv's, neither the one that built it), a new
# venv in a temporary folder, `pip install dist/pyomp_rs-*.whl` and nothing else (its
# dependencies from PyPI: numba, numpy, lark, cmeel-libomp), then, from a folder outside
# the source tree (so `import pyomp` can only be the installed wheel):
#   - `python -m pyomp info`, with PYOMP_OPENMP_SEARCH=wheel (the system's libomp hidden
#     from pyomp's loader): the runtime must be LLVM libomp from the cmeel-libomp package;
#   - the demo, examples/pi.py;
#   - a smoke subset of the suite (a copy of tests/, run against the installed package).
#
#   ci/test-wheel.sh [VERSION...]      # e.g. ci/test-wheel.sh 3.13
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
wheel=$(ls "$root"/dist/pyomp_rs-*.whl)
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(3.10 3.13)
# What runs on the installed wheel: 3.10, whose bytecode shapes differ most, gets the
# region-shape subset (as ci/pythons.sh's smoke legs); 3.13, where CI also runs the whole
# suite from the source tree, what shows the wheel works (regions, loops, tasks, the API).
smoke_for() {
  case "$1" in
    3.10) echo test_parallel.py test_loops.py test_py312_regions.py test_region_sweep.py \
               test_runtime_api.py ;;
    *) echo test_parallel.py test_tasks.py test_runtime_api.py test_pyomp_compat.py \
            test_target_data.py test_gpu_ptx.py ;;
  esac
}
pyenv_root=${PYENV_ROOT:-$(pyenv root 2>/dev/null || echo /root/.pyenv)}
work=$(mktemp -d /tmp/pyomp-wheel.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "== wheel: $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KB)"
echo "== ldd of the extension (no LLVM, no libomp):"
unzip -q -o "$wheel" 'pyomp/_pass.abi3.so' -d "$work/so"
ldd "$work/so/pyomp/_pass.abi3.so" | sed 's/^/   /'
if ldd "$work/so/pyomp/_pass.abi3.so" | grep -Eq 'libLLVM|libomp|libffi'; then
  echo "FAILED: the extension links a library the wheel must not need"; exit 1
fi
failed=0
for version in "${versions[@]}"; do
  python=$(ls -d "$pyenv_root"/versions/"$version".*/bin/python3 | sort -V | tail -1)
  venv=$work/venv$version
  echo "== Python $version ($python)"
  "$python" -m venv "$venv"
  start=$SECONDS
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel"
  echo "   pip install: $((SECONDS - start)) s; installed: $(du -sh "$venv/lib" | cut -f1)"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check pytest pytest-timeout hypothesis
  mkdir -p "$work/run$version"
  # the tests and what they import beside pyomp (conftest.py puts benchmarks/ on sys.path)
  cp -r "$root/tests" "$work/run$version/tests"
  mkdir "$work/run$version/benchmarks"
  cp "$root"/benchmarks/*.py "$work/run$version/benchmarks/"  # kernels.py imports syncbench.py
  cp "$root/examples/pi.py" "$work/run$version/"
  (
    cd "$work/run$version"
    export PYOMP_OPENMP_SEARCH=wheel
    info=$("$venv/bin/python" -m pyomp info)
    echo "$info" | sed 's/^/   /'
    echo "$info" | grep -q "^runtime from: the cmeel-libomp package" \
      || { echo "FAILED: the runtime is not the cmeel-libomp package's"; exit 1; }
    "$venv/bin/python" -c "import pyomp, sys; p = pyomp.__file__; \
      sys.exit(0 if p.startswith('$venv/') else f'pyomp imported from {p}, not the venv')"
    "$venv/bin/python" pi.py | grep -A9 "^pi(" | sed 's/^/   /'
    # `python -m pyomp bench` on a fresh install (no matplotlib: --plot says how to get it)
    "$venv/bin/python" -m pyomp bench --threads 1,2 --repeats 1 --scale 0.05 | tail -6 \
      | sed 's/^/   /'
    if "$venv/bin/python" -m pyomp bench --plot b.png 2> plot.err \
        || ! grep -q "needs matplotlib" plot.err; then
      echo "FAILED: bench --plot without matplotlib"; cat plot.err; exit 1
    fi
    read -r -a smoke <<< "$(smoke_for "$version")"
    "$venv/bin/python" -m pytest -q -p no:cacheprovider -o timeout=300 -rf \
      "${smoke[@]/#/tests/}" > pytest.log 2>&1 || { tail -40 pytest.log; exit 1; }
    tail -1 pytest.log
  ) || failed=1
done
exit $failed
