#!/bin/sh
# Runs scripts/lava/run.sh under /bin/sh the way LAVA does, with a fake lava-test-case that records its calls and
# a fake swift that must never be called, in each mode the definition supports:
#   prebuilt binary (LBRPROBE), kselftest install (KSELFTEST_DIR), early failure (EXPECT missing: exit 65),
#   skip-all (BACKEND=hw where this host has no LBR), no binary at all.
#   scripts/lava/selftest.sh LBRPROBE_BINARY
set -u
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/fakebin" "$tmp/ksft/lbrprobe"
cat >"$tmp/fakebin/lava-test-case" <<FAKE
#!/bin/sh
echo "\$*" >>"$tmp/cases"
FAKE
cat >"$tmp/fakebin/swift" <<FAKE
#!/bin/sh
echo "swift \$*" >>"$tmp/swift-called"; exit 1
FAKE
chmod +x "$tmp/fakebin/lava-test-case" "$tmp/fakebin/swift"
cp "$bin" "$tmp/ksft/lbrprobe/lbrprobe"
printf 'timeout=300\n' >"$tmp/ksft/lbrprobe/settings"
errors=0
bad() { echo "lava selftest: $*"; errors=$((errors + 1)); }

for f in "$here/run.sh" "$here/tap-to-lava.sh"; do
  sh -n "$f" || bad "$f does not parse under /bin/sh"
  head -n 1 "$f" | grep -q '^#!/bin/sh$' || bad "$f is not a /bin/sh script"
done

# step MODE VAR=VALUE...: one LAVA step with these params (only the listed ones set), as /bin/sh runs it.
step() {
  mode=$1; shift
  rm -f "$tmp/cases"; mkdir -p "$tmp/$mode"
  env -i PATH="$tmp/fakebin:/usr/bin:/bin" HOME="$tmp" OUTDIR="$tmp/$mode" "$@" \
    sh -c 'export LBRPROBE KSELFTEST_DIR BUILD BACKEND MODEL EXPECT KCIDB_ORIGIN KCIDB_BUILD_ID; "$0"' "$here/run.sh" \
    >"$tmp/$mode/stdout" 2>"$tmp/$mode/stderr"
  touch "$tmp/cases"
}
count() { grep -c -- "$1" "$tmp/cases"; }

step prebuilt LBRPROBE="$bin" BACKEND=sim
[ "$(count '--result pass')" -eq 11 ] && [ "$(count 'lbrprobe-run --result pass')" -eq 1 ] \
  || bad "prebuilt: want lbrprobe-run + 10 passes, got: $(cat "$tmp/cases")"
grep -q '^TAP version 13' "$tmp/prebuilt/stdout" || bad "prebuilt: TAP not shown in the log"

step kselftest KSELFTEST_DIR="$tmp/ksft" BACKEND=sim MODEL=seed-2023 EXPECT="$here/../../expectations/seed-2023.expect"
[ "$(count '--result pass')" -eq 11 ] || bad "kselftest: want lbrprobe-run + 10 passes, got: $(cat "$tmp/cases")"
grep -q '"schema":"lbrprobe.run/2"' "$tmp/kselftest/lbrprobe.json" || bad "kselftest: no run document (lbrprobe.json, compact) for compare"

# The install of scripts/install-kselftest.sh ships expectations/ next to the binary: EXPECT may name one.
mkdir -p "$tmp/ksft/lbrprobe/expectations"
cp "$here/../../expectations/seed-2023.expect" "$tmp/ksft/lbrprobe/expectations/"
step named KSELFTEST_DIR="$tmp/ksft" BACKEND=sim MODEL=mainline EXPECT=seed-2023 KCIDB_ORIGIN=farm KCIDB_BUILD_ID=farm:b1
[ "$(count 'lbrprobe-run --result pass')" -eq 1 ] && [ "$(count '--result fail')" -ge 1 ] \
  || bad "named expectation: seed-2023.expect applied to mainline must fail some scenarios, got: $(cat "$tmp/cases")"
grep -q '"origin" : "farm"' "$tmp/named/lbrprobe.kcidb.json" && grep -q '"build_id" : "farm:b1"' "$tmp/named/lbrprobe.kcidb.json" \
  || bad "named: KCIDB_ORIGIN/KCIDB_BUILD_ID not passed to lbrprobe"

step early LBRPROBE="$bin" BACKEND=sim EXPECT="$tmp/no-such.expect"
[ "$(cat "$tmp/cases")" = "lbrprobe-run --result fail --measurement 65 --units exit-code" ] \
  || bad "early failure: want one failed lbrprobe-run (exit 65), got: $(cat "$tmp/cases")"

step nobinary BACKEND=sim
[ "$(cat "$tmp/cases")" = "lbrprobe-run --result fail" ] || bad "no binary: want a failed lbrprobe-run, got: $(cat "$tmp/cases")"

step hw LBRPROBE="$bin" BACKEND=hw
if grep -q '^1\.\.0 # SKIP' "$tmp/hw/lbrprobe.tap"; then
  [ "$(cat "$tmp/cases")" = "$(printf 'lbrprobe-run --result pass --measurement 4 --units exit-code\nlbrprobe --result skip')" ] \
    || bad "skip-all: want lbrprobe-run pass (exit 4) + one skip, got: $(cat "$tmp/cases")"
fi

[ ! -e "$tmp/swift-called" ] || bad "swift was called: $(cat "$tmp/swift-called")"
[ $errors -eq 0 ] && echo "lava selftest: prebuilt, kselftest, early failure, no binary, skip-all: ok"
exit $((errors > 0))
