#!/usr/bin/env bash
# PyOMP 0.6's own target tests (its TestOpenmpTarget, run on the host as an offload
# device) against pyomp, with only the import lines changed: an oracle we did not write.
# Not part of CI (it needs PyOMP installed in a venv of its own, see ../shared/design.md):
#   ci/pyomp_target_suite.sh /path/to/pyomp-venv
set -euo pipefail
pyomp_venv=${1:?usage: ci/pyomp_target_suite.sh PYOMP_VENV}
here=$(cd "$(dirname "$0")/.." && pwd)
src=$(ls "$pyomp_venv"/lib/python3*/site-packages/numba/openmp/tests/test_openmp.py)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed -e 's/from numba.openmp.offloading import/from pyomp.offloading import/' \
    -e 's/from numba.openmp import/from pyomp import/' "$src" > "$work/pyomp_target_suite.py"
cd "$work"
TEST_DEVICE=host OVERRIDE_TEST_SKIP=1 "$here/.venv/bin/python" -m pytest -q -p no:cacheprovider \
    -rfs pyomp_target_suite.py -k TestOpenmpTarget "${@:2}"
