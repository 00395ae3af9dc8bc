#!/bin/sh
# The LAVA step of lbrprobe.yaml (POSIX sh: LAVA runs steps with /bin/sh on many images). Finds lbrprobe,
# runs it once, shows its TAP in the log, and reports one `lava-test-case` per result through tap-to-lava.sh
# (inside a `lava-test-set` named after the basis: `hw`, or e.g. `hybrid-model-mainline`), plus `lbrprobe-run`
# for the invocation itself: pass when lbrprobe produced a complete report (exit 0, 1 or 4), fail with the exit
# code as measurement when it could not (no binary, a bad EXPECT file = exit 65, a bad REPEAT = 64, an
# unwritable output = 73, a signal = 130/143, no TAP plan). docs/farms.md describes the definition.
#
# Where lbrprobe comes from (first that is set):
#   LBRPROBE       a prebuilt lbrprobe binary
#   KSELFTEST_DIR  a kselftest install containing an lbrprobe binary (any depth, e.g. INSTALL/lbrprobe/lbrprobe)
#   BUILD=true     build it here (scripts/setup.sh + swift build -c release; needs a Swift 6 toolchain)
#   otherwise      lbrprobe on PATH
# Run parameters:
#   BACKEND (default hw)  hw measures the real LBR; where the device cannot, every scenario is SKIP with the
#                         blockers. hybrid, sim or auto run a kernel model: an explicit choice, reported under
#                         the model's names (`hybrid-model-mainline.host-first`) and never as a hardware result.
#   MODEL                 the kernel model for hybrid/sim/auto (default: lbrprobe's, mainline)
#   SCENARIOS             space-separated scenario names (default: the default set)
#   REPEAT (default 1)    runs per scenario (timing-sensitive questions want 20 or more)
#   EXPECT                an expectation file, or the name of a shipped one ("mainline"), looked up in the
#                         kselftest install's expectations/ or the repository's
#   KCIDB_ORIGIN, KCIDB_BUILD_ID   what a KernelCI submitter sets (--kcidb-origin / --kcidb-build-id)
#   LBRPROBE_OUT (default .)       where lbrprobe.tap, lbrprobe.err, lbrprobe.json (the run document `lbrprobe
#                         compare` reads), lbrprobe.junit.xml and lbrprobe.kcidb.json go (the names
#                         run_lbrprobe.sh of the kselftest install uses)
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${LBRPROBE_OUT:-.}

case_result() {  # NAME RESULT [MEASUREMENT UNITS]
  if command -v lava-test-case >/dev/null 2>&1; then
    if [ $# -ge 4 ]; then lava-test-case "$1" --result "$2" --measurement "$3" --units "$4"
    else lava-test-case "$1" --result "$2"; fi
  else
    echo "lava-test-case $*"
  fi
}
early_failure() {  # REASON [EXIT CODE]
  echo "lbrprobe-lava: $1" >&2
  if [ $# -ge 2 ]; then case_result lbrprobe-run fail "$2" exit-code; else case_result lbrprobe-run fail; fi
  exit 1
}

bin=""
if [ -n "${LBRPROBE:-}" ]; then
  bin=$LBRPROBE
elif [ -n "${KSELFTEST_DIR:-}" ]; then
  bin=$(find -L "$KSELFTEST_DIR" -type f -name lbrprobe 2>/dev/null | head -n 1)
  [ -n "$bin" ] || early_failure "no lbrprobe binary under KSELFTEST_DIR=$KSELFTEST_DIR"
elif [ "${BUILD:-false}" = true ]; then
  (cd "$root" && scripts/setup.sh && swift build -c release --product lbrprobe) >&2 \
    || early_failure "BUILD=true: building lbrprobe failed"
  bin=$(cd "$root" && swift build -c release --show-bin-path)/lbrprobe
else
  bin=$(command -v lbrprobe 2>/dev/null || true)
fi
[ -n "$bin" ] && [ -x "$bin" ] \
  || early_failure "no lbrprobe binary (${bin:-none found}): set LBRPROBE, KSELFTEST_DIR or BUILD=true"
mkdir -p "$out" || early_failure "cannot create LBRPROBE_OUT=$out"

expect=${EXPECT:-}
case $expect in
  ""|*/*|*.expect) ;;
  *)  # a shipped expectation by name: next to the binary (kselftest install), else in the repository
      for d in "$(dirname "$bin")/expectations" "$root/expectations"; do
        if [ -f "$d/$expect.expect" ]; then expect=$d/$expect.expect; break; fi
      done ;;
esac
set -- run --backend "${BACKEND:-hw}" --repeat "${REPEAT:-1}" --format tap --json "$out/lbrprobe.json" \
  --junit "$out/lbrprobe.junit.xml" --kcidb "$out/lbrprobe.kcidb.json"
[ -n "${MODEL:-}" ] && set -- "$@" --model "$MODEL"
[ -n "$expect" ] && set -- "$@" --expect "$expect"
[ -n "${KCIDB_ORIGIN:-}" ] && set -- "$@" --kcidb-origin "$KCIDB_ORIGIN"
[ -n "${KCIDB_BUILD_ID:-}" ] && set -- "$@" --kcidb-build-id "$KCIDB_BUILD_ID"
# shellcheck disable=SC2086  # SCENARIOS is a word list
set -- "$@" ${SCENARIOS:-}
echo "lbrprobe-lava: $bin $*" >&2
# A flat TAP stream of our own, not nested in a kselftest runner's: keep the version line.
(unset KSFT_TAP_LEVEL; exec "$bin" "$@") >"$out/lbrprobe.tap" 2>"$out/lbrprobe.err"
rc=$?
cat "$out/lbrprobe.tap"
cat "$out/lbrprobe.err" >&2

case $rc in
  0|1|4) ;;
  *) "$here/tap-to-lava.sh" <"$out/lbrprobe.tap"   # an interrupted run still lists what it did
     early_failure "lbrprobe exited $rc: $(tail -n 1 "$out/lbrprobe.err")" "$rc" ;;
esac
grep -q '^1\.\.[0-9]' "$out/lbrprobe.tap" || early_failure "lbrprobe exited $rc without a TAP plan" "$rc"
case_result lbrprobe-run pass "$rc" exit-code
"$here/tap-to-lava.sh" <"$out/lbrprobe.tap"
