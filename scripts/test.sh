#!/usr/bin/env bash
# The test command: set up, build, run every test. Tests needing /dev/kvm or root skip with a reason without them.
# Without arguments it also tests the kselftest install (scripts/test-kselftest.sh: the static release binary
# under the kernel's own kselftest runner); its result is reported before the Swift suite and fails the command.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --build-tests
ksft=0
if [ $# -eq 0 ]; then scripts/test-kselftest.sh || ksft=$?; fi
swift test --skip-build "$@"
if [ "$ksft" -ne 0 ]; then echo "scripts/test-kselftest.sh failed (exit $ksft)" >&2; exit "$ksft"; fi
