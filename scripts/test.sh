#!/usr/bin/env bash
# The test command: set up, build, check every output kind with the real farm tools, run every test. Tests
# needing /dev/kvm or root skip with a reason without them. Without arguments it also tests the kselftest
# install (scripts/test-kselftest.sh: the static release binary under the kernel's own kselftest runner).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The real third-party checkers (apt: xmllint, prove, lava-common; pip into .build/conformance/venv: tap.py,
# jsonschema, kcidb-io, junitparser, docutils); the Swift tests' schema checks use the venv's jsonschema.
scripts/check-outputs.sh --setup
# House rule: no function over 80 lines without a stated reason (a `long-function:` comment).
python3 scripts/long-functions.py Sources
swift build --build-tests
conformance=0
scripts/check-outputs.sh || conformance=$?
ksft=0
if [ $# -eq 0 ]; then scripts/test-kselftest.sh || ksft=$?; fi
# Hostile paths, crafted documents, broken outputs, signals (about a minute; the expensive trials sampled).
adversarial=0
scripts/adversarial.sh || adversarial=$?
swift test --skip-build "$@"
if [ "$conformance" -ne 0 ]; then
  echo "scripts/check-outputs.sh: a farm tool rejected an lbrprobe output (see above)" >&2
  exit "$conformance"
fi
if [ "$ksft" -ne 0 ]; then echo "scripts/test-kselftest.sh failed (exit $ksft)" >&2; exit "$ksft"; fi
if [ "$adversarial" -ne 0 ]; then echo "scripts/adversarial.sh: a hostile-input trial failed (see above)" >&2; exit "$adversarial"; fi
