#!/usr/bin/env bash
# Regenerates the committed contract examples (docs/contract-example.md and .rst) from ONE set of sim runs of
# every kernel model: `lbrprobe contract --backend sim --model all`, saved, then rendered in both formats with
# --from (so the two files describe the same runs). Usage: scripts/contract-example.sh [path/to/lbrprobe]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-"$here/.build/debug/lbrprobe"}
runs=$(mktemp -d)
trap 'rm -rf "$runs"' EXIT
"$bin" contract --backend sim --model all --save-runs "$runs" -o "$runs/live.md"
"$bin" contract --from "$runs"/run-sim-*.json --format markdown -o "$here/docs/contract-example.md"
"$bin" contract --from "$runs"/run-sim-*.json --format rst -o "$here/docs/contract-example.rst"
cmp -s "$runs/live.md" "$here/docs/contract-example.md" || { echo "contract-example: --from differs from the live run" >&2; exit 1; }
"$here/scripts/rst-check.sh" "$here/docs/contract-example.rst"
echo "wrote docs/contract-example.md and docs/contract-example.rst" >&2
