#!/usr/bin/env bash
# The test command: set up, build, run every test. Tests needing /dev/kvm or root skip with a reason without them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --build-tests
swift test --skip-build "$@"
