#!/usr/bin/env bash
# Checks reStructuredText files with the real docutils, warnings fatal (as the kernel's
# Documentation/ build would treat them): `scripts/rst-check.sh FILE.rst...`.
# docutils is used from PATH (the `docutils` front end, or rst2html[.py]); when it is missing the script
# installs it: Debian's python3-docutils when root with apt, else PyPI docutils into a private venv
# (.build/docutils-venv). Exit 0: every file rendered without a warning; 1: docutils reported a problem
# (its messages on stderr); 2: docutils could not be found or installed (the reason on stderr).
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 FILE.rst..." >&2; exit 2; }
here=$(cd "$(dirname "$0")/.." && pwd)
venv="$here/.build/docutils-venv"

find_tool() {
  for t in docutils rst2html rst2html.py "$venv/bin/docutils" "$venv/bin/rst2html"; do
    if command -v "$t" >/dev/null 2>&1; then echo "$t"; return 0; fi
  done
  if python3 -c 'import docutils' >/dev/null 2>&1; then echo "python3 -m docutils"; return 0; fi
  return 1
}

tool=$(find_tool || true)
if [ -z "$tool" ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "rst-check: installing python3-docutils (apt)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-docutils >&2 || true
  fi
  tool=$(find_tool || true)
fi
if [ -z "$tool" ] && command -v python3 >/dev/null 2>&1; then
  echo "rst-check: installing docutils from PyPI into $venv" >&2
  python3 -m venv "$venv" >&2 && "$venv/bin/python" -m pip install -q docutils >&2 || true
  tool=$(find_tool || true)
fi
[ -n "$tool" ] || { echo "rst-check: docutils not found and could not be installed (apt python3-docutils or pip docutils)" >&2; exit 2; }

status=0
for f in "$@"; do
  if ! $tool --halt=warning "$f" >/dev/null; then
    echo "rst-check: $f: docutils reported a warning or error (above)" >&2
    status=1
  fi
done
exit $status
