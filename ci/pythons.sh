#!/usr/bin/env bash
# pyomp on other Pythons than the default python3 of ci/setup.sh (3.11 on Debian 12).
#
#   ci/pythons.sh VERSION [PYTEST ARGS...]   # e.g. `ci/pythons.sh 3.13` (the whole suite),
#                                            # `ci/pythons.sh 3.12 tests/test_loops.py`
#   ci/pythons.sh --setup VERSION            # only set up .venvNNN (e.g. .venv313)
#   ci/pythons.sh --ci                       # what .ci/run runs: the matrix below
#
# VERSION is a minor version (3.10, 3.12, 3.13); its interpreter is pyenv's newest
# X.Y.Z under `pyenv root` (or $PYENV_ROOT, or /root/.pyenv) /versions/.  The venv gets
# ci/requirements.txt and pyomp itself as in .venv: a .pth file naming numba_ext/, whose
# pyomp/_pass.abi3.so ci/setup.sh built once (maturin builds an abi3 extension, stable ABI
# for every Python >= 3.10; nothing is rebuilt here).  Run ci/setup.sh first.  Safe to
# run again: an existing venv is reused.
#
# CI matrix (--ci), run by .ci/run after ci/setup.sh and ci/test.sh (which runs `cargo
# test` and the whole suite on the default python3, 3.11), on every run:
#   3.13: the whole suite but test_combined_clauses.py and test_docs_examples.py.  The
#         newest Python pyomp supports, and the one whose bytecode differs most from
#         3.11 (exception table layout, `with` and loop shapes, CACHE entries, new
#         opcodes): pyomp's bytecode reading (pyomp.withends, pyomp.flow) and everything
#         built on it must hold there too.  test_combined_clauses.py (1,460 tests, 2.5 minutes) checks which leaf of
#         a combined directive each clause goes to, logic over the directive's text that
#         no Python version changes; it runs on 3.11.  test_docs_examples.py (the
#         documentation's programs, 2-3 minutes: each in a fresh interpreter) uses the
#         constructs the rest of the suite covers on 3.13; it runs on 3.11.
#   3.12 (and 3.10, on the installed wheel: ci/test-wheel.sh): a smoke subset: test_parallel.py, test_loops.py, the region-shape tests
#         test_py312_regions.py (3.10 copies a `with`'s exit, 3.12 puts a loop's back
#         edge outside the `with`) and test_region_sweep.py when it exists.  Their
#         bytecode differs from 3.11's / 3.13's in those shapes; the whole suite on both
#         would add some 14 minutes.
# Every leg runs even if one fails; --ci fails at the end if any did.
# .ci/run must stay under 30 minutes on the 2-core CI machine.  Measured on this 2-core
# machine (session of 2026-12-06, idle): the whole suite (3,989 tests) 12 minutes in one
# process on 3.11, 7.5 with `-n 2` (ci/test.sh); 3.13 without test_combined_clauses.py
# about 5 with `-n 2`; a smoke run 2.5 (test_loops.py and test_region_sweep.py are most of
# it); a new venv 15 s.  With the wheel (ci/build-wheel.sh under a minute from a clean
# target, ci/test-wheel.sh 3.10 3.13 4.3 minutes) .ci/run comes to about 23 minutes.
set -euo pipefail
shopt -s inherit_errexit  # a failure inside $(...) stops the script too
cd "$(dirname "$0")/.."

SMOKE=(tests/test_parallel.py tests/test_loops.py tests/test_py312_regions.py
       tests/test_region_sweep.py)

die() { echo "ci/pythons.sh: $*" >&2; exit 1; }

pyenv_root() {
  if [ -n "${PYENV_ROOT:-}" ]; then echo "$PYENV_ROOT"
  elif command -v pyenv >/dev/null 2>&1; then pyenv root
  else echo /root/.pyenv
  fi
}

# The interpreter for minor version $1: pyenv's newest X.Y.Z.
find_python() {
  local minor=$1 root versions found
  root=$(pyenv_root)
  versions="$root/versions"
  [ -d "$versions" ] || die "no pyenv Pythons: $versions does not exist (set PYENV_ROOT, or install pyenv and \`pyenv install $minor\`)"
  found=$(find "$versions" -mindepth 1 -maxdepth 1 -name "$minor.*" -printf '%f\n' \
          | grep -E "^${minor//./\\.}\.[0-9]+$" | sort -V | tail -n 1 || true)
  if [ -z "$found" ] || [ ! -x "$versions/$found/bin/python" ]; then
    die "Python $minor not found under $versions (there: $(ls "$versions" | tr '\n' ' ')); install it with \`pyenv install $minor\`"
  fi
  echo "$versions/$found/bin/python"
}

# Sets up .venvNNN for minor version $1; prints the venv's directory.  Each step checks
# its own status: --ci calls this where `set -e` does not apply.
setup_venv() {
  local minor=$1 venv py site
  [[ "$minor" =~ ^3\.[0-9]+$ ]] || die "VERSION must look like 3.13, not '$minor'"
  venv=".venv${minor//./}"
  [ -f numba_ext/pyomp/_pass.abi3.so ] || \
    die "numba_ext/pyomp/_pass.abi3.so is missing: run ci/setup.sh first (it builds the pass)"
  py=$(find_python "$minor") || return 1
  if [ ! -x "$venv/bin/python" ]; then
    echo "== creating $venv ($("$py" --version))" >&2
    "$py" -m venv "$venv" || die "could not create $venv"
  fi
  echo "== installing Python packages into $venv" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r ci/requirements.txt >&2 \
    || die "pip could not install ci/requirements.txt into $venv"
  # pyomp from the working tree, as `maturin develop` installs it into .venv.
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') \
    || die "no site-packages in $venv"
  echo "$PWD/numba_ext" > "$site/pyomp_rs.pth" || die "could not write $site/pyomp_rs.pth"
  "$venv/bin/python" -c 'import pyomp, pyomp._pass' >&2 || die "pyomp does not import in $venv"
  echo "$venv"
}

# Sets up minor version $1's venv and runs pytest there on the rest of the arguments;
# returns pytest's status (explicitly: --ci calls it where `set -e` does not apply).
run_tests() {
  local minor=$1 venv start rc=0
  shift
  venv=$(setup_venv "$minor") || return 1
  echo "== pytest on Python $minor ($venv) ${*:-tests/}"
  start=$SECONDS
  # (the status is kept, not lost to a comment)
  "$venv/bin/python" -m pytest -q "$@" || rc=$?
  echo "== Python $minor: $((SECONDS - start)) s, pytest exit status $rc"
  return "$rc"
}

case "${1:-}" in
  --setup)
    [ $# -eq 2 ] || die "usage: ci/pythons.sh --setup VERSION"
    setup_venv "$2" >/dev/null
    ;;
  --ci)
    smoke=()
    for f in "${SMOKE[@]}"; do [ -f "$f" ] && smoke+=("$f"); done
    # Every leg runs; the script fails at the end if any did.
    failed=()
    run_tests 3.13 -n 2 --ignore=tests/test_combined_clauses.py \
      --ignore=tests/test_docs_examples.py || failed+=(3.13)
    run_tests 3.12 "${smoke[@]}" || failed+=("3.12 (smoke)")
    # (3.10: the same smoke subset runs on the installed wheel, ci/test-wheel.sh)
    [ ${#failed[@]} -eq 0 ] || die "failed (tests, or setting up) on Python ${failed[*]}"
    ;;
  "" | -h | --help)
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
    [ $# -eq 1 ] || exit 1
    ;;
  *)
    run_tests "$@"
    ;;
esac
