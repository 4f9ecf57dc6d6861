#!/usr/bin/env bash
# Builds the documentation site (docs/) with warnings as errors: a broken internal link,
# an unknown reference or a page outside the table of contents fails the build.
# Output: docs/_build/html (index.html), or $PYOMP_DOCS_OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m sphinx -W --keep-going -n -q -b html docs "${PYOMP_DOCS_OUT:-docs/_build/html}" "$@"
