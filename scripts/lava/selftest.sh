#!/bin/sh
# Runs scripts/lava/run.sh under /bin/sh the way LAVA does: with LAVA's own test-shell helpers
# (lava-test-case, lava-test-set and lava-common-functions from Debian's lava-dispatcher package, fetched with
# `apt-get download` and unpacked with `dpkg-deb -x`, never installed) on PATH, and checks the signals they emit
# (<LAVA_SIGNAL_TESTCASE ...>, <LAVA_SIGNAL_TESTSET ...>) and the results they record under LAVA_RESULT_DIR.
# A fake swift on PATH must never be called. Modes: default parameters (BACKEND=hw: SKIP where this host has
# no LBR), explicit models (names carry the model), SCENARIOS/REPEAT, kselftest install, named expectation,
# early failure (EXPECT missing: exit 65), no binary.
#   scripts/lava/selftest.sh LBRPROBE_BINARY
#   LAVA_TEST_SHELL_CACHE=dir   where the unpacked helpers are kept (default .build/lava-test-shell)
# Exit 0 all checks passed, 1 a check failed, 77 the helpers could not be had (the reason is printed).
set -u
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${LAVA_TEST_SHELL_CACHE:-$root/.build/lava-test-shell}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# LAVA's helpers: the files of lava_dispatcher/lava_test_shell, each given the /bin/sh interpreter line that
# LAVA's lava-test-shell action writes when it deploys them to a device.
fetch_helpers() {
  [ -x "$cache/bin/lava-test-case" ] && [ -x "$cache/bin/lava-test-set" ] && [ -r "$cache/bin/lava-common-functions" ] && return 0
  command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 || { why="no apt-get/dpkg-deb on this machine"; return 1; }
  mkdir -p "$tmp/deb"
  (cd "$tmp/deb" && apt-get download lava-dispatcher) >"$tmp/download.log" 2>&1 \
    || { why="apt-get download lava-dispatcher failed: $(grep -E '^(E|Err)' "$tmp/download.log" | head -n 1)"; return 1; }
  deb=$(ls "$tmp"/deb/lava-dispatcher_*.deb 2>/dev/null | head -n 1)
  [ -n "$deb" ] || { why="apt-get download lava-dispatcher gave no .deb"; return 1; }
  dpkg-deb -x "$deb" "$tmp/x" || { why="dpkg-deb -x $(basename "$deb") failed"; return 1; }
  src=$(find "$tmp/x" -type d -name lava_test_shell | head -n 1)
  [ -n "$src" ] && [ -r "$src/lava-test-case" ] && [ -r "$src/lava-test-set" ] && [ -r "$src/lava-common-functions" ] \
    || { why="$(basename "$deb") has no lava_test_shell/lava-test-case, lava-test-set, lava-common-functions"; return 1; }
  mkdir -p "$cache/bin"
  for f in lava-test-case lava-test-set; do
    { echo '#!/bin/sh'; cat "$src/$f"; } >"$cache/bin/$f" && chmod 0755 "$cache/bin/$f"
  done
  cp "$src/lava-common-functions" "$cache/bin/"
  basename "$deb" >"$cache/SOURCE"
}
why=""
if ! fetch_helpers; then
  echo "lava selftest: SKIP: LAVA's test-shell helpers are not available ($why)"
  exit 77
fi

mkdir -p "$tmp/fakebin" "$tmp/ksft/lbrprobe"
cat >"$tmp/fakebin/swift" <<FAKE
#!/bin/sh
echo "swift \$*" >>"$tmp/swift-called"; exit 1
FAKE
chmod +x "$tmp/fakebin/swift"
cp "$bin" "$tmp/ksft/lbrprobe/lbrprobe"
printf 'timeout=300\n' >"$tmp/ksft/lbrprobe/settings"
errors=0
bad() { echo "lava selftest: $*"; errors=$((errors + 1)); }

for f in "$here/run.sh" "$here/tap-to-lava.sh"; do
  sh -n "$f" || bad "$f does not parse under /bin/sh"
  head -n 1 "$f" | grep -q '^#!/bin/sh$' || bad "$f is not a /bin/sh script"
done

# step MODE VAR=VALUE...: one LAVA step with these params (only the listed ones set), as /bin/sh runs it, with
# LAVA's helpers first on PATH. `cases` gets one "NAME RESULT [UNITS MEASUREMENT]" line per test-case signal,
# `sets` the test-set signals, in order.
step() {
  mode=$1; shift
  mkdir -p "$tmp/$mode/lava"
  env -i PATH="$cache/bin:$tmp/fakebin:/usr/bin:/bin" HOME="$tmp" LAVA_RESULT_DIR="$tmp/$mode/lava" \
    LBRPROBE_OUT="$tmp/$mode" "$@" \
    sh -c 'export LBRPROBE KSELFTEST_DIR BUILD BACKEND MODEL SCENARIOS REPEAT EXPECT KCIDB_ORIGIN KCIDB_BUILD_ID; "$0"' \
    "$here/run.sh" >"$tmp/$mode/stdout" 2>"$tmp/$mode/stderr"
  sed -n 's/^<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=\([^ >]*\) RESULT=\([a-z]*\)\( UNITS=\([^ >]*\)\)\{0,1\}\( MEASUREMENT=\([^ >]*\)\)\{0,1\}>$/\1 \2 \4 \6/p' \
    "$tmp/$mode/stdout" | sed 's/ *$//' >"$tmp/cases"
  grep '^<LAVA_SIGNAL_TESTSET ' "$tmp/$mode/stdout" >"$tmp/sets"
  cp "$tmp/cases" "$tmp/$mode/cases"
}
count() { grep -c -- "$1" "$tmp/cases"; }
names() { grep -v '^lbrprobe-run ' "$tmp/cases" | cut -d' ' -f1; }

# Defaults (BACKEND=hw): where this host has no usable LBR, one SKIP and a passing invocation; never a pass
# of a scenario. Where it has, the results are hardware results: bare scenario names in the `hw` set.
step default LBRPROBE="$bin"
if grep -q '^1\.\.0 # SKIP' "$tmp/default/lbrprobe.tap"; then
  [ "$(cat "$tmp/cases")" = "$(printf 'lbrprobe-run pass exit-code 4\nlbrprobe skip')" ] \
    || bad "default (hw, no LBR here): want lbrprobe-run pass (exit 4) + one skip, got: $(cat "$tmp/cases")"
  [ -f "$tmp/default/lava/results/lbrprobe/result" ] && [ "$(cat "$tmp/default/lava/results/lbrprobe/result")" = skip ] \
    || bad "default: lava-test-case did not record the skip under LAVA_RESULT_DIR"
  grep -q 'SKIP.*unavailable\|SKIP .*blocker\|SKIP.*LBR' "$tmp/default/lbrprobe.tap" || bad "default: the SKIP does not give the blockers"
else
  names | grep -q -- '-model-' && bad "default (hw): a result is named as a model's: $(names | head -n 3)"
  grep -qx '<LAVA_SIGNAL_TESTSET START hw>' "$tmp/sets" || bad "default (hw): no test set named hw"
fi

# A model, chosen explicitly: every result named after it, inside its own test set.
step sim LBRPROBE="$bin" BACKEND=sim
[ "$(count ' pass')" -eq 11 ] && [ "$(count '^lbrprobe-run pass exit-code 0$')" -eq 1 ] \
  || bad "sim: want lbrprobe-run + 10 passes, got: $(cat "$tmp/cases")"
[ "$(names | grep -vc '^sim-model-mainline\.')" -eq 0 ] || bad "sim: results not named sim-model-mainline.*: $(names | head -n 3)"
[ "$(cat "$tmp/sets")" = "$(printf '<LAVA_SIGNAL_TESTSET START sim-model-mainline>\n<LAVA_SIGNAL_TESTSET STOP>')" ] \
  || bad "sim: want one test set sim-model-mainline, got: $(cat "$tmp/sets")"
grep -q '^TAP version 13' "$tmp/sim/stdout" || bad "sim: TAP not shown in the log"
for f in lbrprobe.tap lbrprobe.err lbrprobe.json lbrprobe.junit.xml lbrprobe.kcidb.json; do
  [ -f "$tmp/sim/$f" ] || bad "sim: $f not written to LBRPROBE_OUT"
done
grep -q '"path" : "lbrprobe_model\.sim\.mainline\.' "$tmp/sim/lbrprobe.kcidb.json" && ! grep -q '"status" : "PASS"' "$tmp/sim/lbrprobe.kcidb.json" \
  || bad "sim: KCIDB results not under lbrprobe_model.sim.mainline or reported PASS"

# --backend auto on a host without LBR falls back to a model: named as one, never as hw.
step auto LBRPROBE="$bin" BACKEND=auto SCENARIOS=guest-baseline
if ! grep -q '^ok [0-9]* guest-baseline$' "$tmp/auto/lbrprobe.tap"; then
  [ "$(names | grep -c -- '-model-mainline\.guest-baseline$')" -eq 1 ] \
    || bad "auto (no LBR here): the fallback's result is not named after the model: $(cat "$tmp/cases")"
fi

# SCENARIOS and REPEAT reach lbrprobe.
step repeat LBRPROBE="$bin" BACKEND=sim MODEL=seed-2023 SCENARIOS="guest-baseline host-first" REPEAT=2
[ "$(names | tr '\n' ' ')" = "sim-model-seed-2023.guest-baseline.r1 sim-model-seed-2023.guest-baseline.r2 sim-model-seed-2023.host-first.r1 sim-model-seed-2023.host-first.r2 " ] \
  || bad "SCENARIOS/REPEAT: want 2 scenarios x 2 runs of seed-2023, got: $(names | tr '\n' ' ')"
step badrepeat LBRPROBE="$bin" BACKEND=sim REPEAT=0
[ "$(cat "$tmp/cases")" = "lbrprobe-run fail exit-code 64" ] || bad "REPEAT=0: want a failed lbrprobe-run (exit 64), got: $(cat "$tmp/cases")"

step kselftest KSELFTEST_DIR="$tmp/ksft" BACKEND=sim MODEL=seed-2023 EXPECT="$root/expectations/seed-2023.expect"
[ "$(count ' pass')" -eq 11 ] || bad "kselftest: want lbrprobe-run + 10 passes, got: $(cat "$tmp/cases")"
grep -q '"schema":"lbrprobe.run/' "$tmp/kselftest/lbrprobe.json" || bad "kselftest: no run document (lbrprobe.json, compact) for compare"

# The install of scripts/install-kselftest.sh ships expectations/ next to the binary: EXPECT may name one.
mkdir -p "$tmp/ksft/lbrprobe/expectations"
cp "$root/expectations/seed-2023.expect" "$tmp/ksft/lbrprobe/expectations/"
step named KSELFTEST_DIR="$tmp/ksft" BACKEND=sim MODEL=mainline EXPECT=seed-2023 KCIDB_ORIGIN=farm KCIDB_BUILD_ID=farm:b1
[ "$(count '^lbrprobe-run pass')" -eq 1 ] && [ "$(count ' fail')" -ge 1 ] \
  || bad "named expectation: seed-2023.expect applied to mainline must fail some scenarios, got: $(cat "$tmp/cases")"
grep -q '"origin" : "farm"' "$tmp/named/lbrprobe.kcidb.json" && grep -q '"build_id" : "farm:b1"' "$tmp/named/lbrprobe.kcidb.json" \
  || bad "named: KCIDB_ORIGIN/KCIDB_BUILD_ID not passed to lbrprobe"

step early LBRPROBE="$bin" BACKEND=sim EXPECT="$tmp/no-such.expect"
[ "$(cat "$tmp/cases")" = "lbrprobe-run fail exit-code 65" ] \
  || bad "early failure: want one failed lbrprobe-run (exit 65), got: $(cat "$tmp/cases")"
[ "$(cat "$tmp/early/lava/results/lbrprobe-run/measurement" 2>/dev/null)" = 65 ] || bad "early failure: measurement 65 not recorded"

step nobinary BACKEND=sim
[ "$(cat "$tmp/cases")" = "lbrprobe-run fail" ] || bad "no binary: want a failed lbrprobe-run, got: $(cat "$tmp/cases")"

[ ! -e "$tmp/swift-called" ] || bad "swift was called: $(cat "$tmp/swift-called")"
[ $errors -eq 0 ] && echo "lava selftest ($(cat "$cache/SOURCE")): defaults, models, auto, SCENARIOS/REPEAT, kselftest, named expectation, early failure, no binary: ok"
exit $((errors > 0))
