#!/usr/bin/env bash
# Regenerates the examples in README.md and docs/*.md (regions between `<!-- BEGIN generated: NAME -->` and
# `<!-- END generated -->`) from real output of the built lbrprobe, so they cannot drift from what it prints.
#   scripts/gen-docs.sh [--check] [--bin PATH]
# --check compares instead of rewriting (exit 1 with a diff when a deterministic region is stale); the Swift
# test DocsExamplesTests runs it. Default binary: the debug build (`swift build --show-bin-path`).
set -euo pipefail
cd "$(dirname "$0")/.."
args=("$@")
if [[ " $* " != *" --bin "* ]]; then args+=(--bin "$(swift build --show-bin-path)/lbrprobe"); fi
exec python3 scripts/conformance/gen_docs.py "${args[@]}"
