#!/usr/bin/env bash
# The rendered check of the documentation site: builds it (ci/docs.sh) and has headless
# Chromium (Debian's `chromium`) take a screenshot of a page, to look at.  Not part of CI
# (Chromium is 300 MB); run it after changing the site's layout or theme.
#   ci/docs-screenshot.sh [PAGE [OUT.png [WIDTHxHEIGHT]]]   # default: common-core
set -euo pipefail
cd "$(dirname "$0")/.."
page=${1:-common-core}
out=${2:-/tmp/pyomp-docs-$page.png}
size=${3:-1280x2400}
command -v chromium >/dev/null || { echo "needs Debian's chromium: apt-get install chromium" >&2; exit 1; }
bash ci/docs.sh
html=$PWD/${PYOMP_DOCS_OUT:-docs/_build/html}/$page.html
[ -f "$html" ] || { echo "no page $html" >&2; exit 1; }
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --window-size="${size/x/,}" --screenshot="$out" "file://$html" 2>/dev/null
echo "screenshot: $out"
