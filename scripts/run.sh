#!/usr/bin/env bash
# The main job: set up, build (release) and run lbrprobe. Without arguments it runs the default
# scenario set on the best available backend; any arguments are passed to lbrprobe instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product lbrprobe >&2
bin="$(swift build -c release --show-bin-path)/lbrprobe"
if [ $# -eq 0 ]; then set -- run --backend auto; fi
exec "$bin" "$@"
