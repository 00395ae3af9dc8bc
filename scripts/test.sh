#!/usr/bin/env bash
# The test command: set up, build, check every output kind with the real farm tools, run every test. Tests
# needing /dev/kvm or root skip with a reason without them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The real third-party checkers (apt: xmllint, prove, lava-common; pip into .build/conformance/venv: tap.py,
# jsonschema, kcidb-io, junitparser, docutils); the Swift tests' schema checks use the venv's jsonschema.
scripts/check-outputs.sh --setup
swift build --build-tests
conformance=0
scripts/check-outputs.sh || conformance=$?
swift test --skip-build "$@"
if [ "$conformance" -ne 0 ]; then
  echo "scripts/check-outputs.sh: a farm tool rejected an lbrprobe output (see above)" >&2
  exit "$conformance"
fi
