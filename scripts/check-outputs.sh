#!/usr/bin/env bash
# Checks every kind of lbrprobe output with the real third-party tools farms use, installed here from Debian
# (apt) or PyPI (pip, into a venv under .build/, never vendored):
#   TAP    tap.py (PyPI tap.py: its parser and rules) and prove (Debian perl: TAP::Parser)
#   JSON   jsonschema (PyPI) against docs/run.schema.json and docs/caps.schema.json
#   KCIDB  kcidb-io (PyPI), schema exactly v5.3; two invocations must share no test id
#   JUnit  junitparser (PyPI) + xmllint (Debian libxml2-utils) with scripts/conformance/junit-jenkins-rules.xsd
#   LAVA   lava-common's test-definition schema (Debian lava-common), and scripts/lava/run.sh run by /bin/sh
#   RST    docutils (PyPI) on docs/*.rst and any RST file given with --rst
# on these output kinds: run with tests (sim, hybrid with an unmet expectation), skip-all (hw here), interrupted
# (SIGINT during a run), timeout (--timeout 0.001), repeat, nested (KSFT_TAP_LEVEL).
#
#   scripts/check-outputs.sh [--setup] [--bin PATH] [--rst FILE]...
#     --setup      only install the tools (scripts/test.sh runs this before `swift test`, whose schema tests
#                  use the venv's jsonschema)
#     --bin PATH   the lbrprobe binary to check (default: the debug build, `swift build --show-bin-path`)
# A tool that cannot be installed (no network, not root) is reported as SKIPPED with the reason, never passed
# silently; the script exits 1 when any tool rejects any output.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${CONFORMANCE_VENV:-$ROOT/.build/conformance/venv}   # override to test an install failure
PY=$VENV/bin/python
CHECK=$ROOT/scripts/conformance/check.py
# Versions of the PyPI tools (kcidb-io 141 is the release carrying schema v5.3 used by KernelCI).
PIP_PKGS="tap.py==3.2.1 jsonschema==4.26.0 kcidb-io==141 junitparser==5.0.3 docutils==0.23"
APT_PKGS="libxml2-utils perl lava-common"

setup_only=0; BIN=""; RST_EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --setup) setup_only=1 ;;
    --bin) BIN=$2; shift ;;
    --rst) RST_EXTRA+=("$2"); shift ;;
    *) echo "check-outputs: unknown argument $1" >&2; exit 64 ;;
  esac
  shift
done

declare -A SKIPPED=()
ok=0; bad=0
pass() { ok=$((ok + 1)); echo "  ok      $*"; }
reject() { bad=$((bad + 1)); echo "  REJECT  $*"; }
skip_tool() { SKIPPED[$1]=$2; echo "  SKIPPED $1: $2"; }
have() { [ -z "${SKIPPED[$1]+x}" ]; }

# --- tools -------------------------------------------------------------------------------------------------
setup_tools() {
  echo "conformance: installing the real tools"
  local missing=()
  command -v xmllint >/dev/null || missing+=(libxml2-utils)
  command -v prove >/dev/null || missing+=(perl)
  /usr/bin/python3 -c 'import lava_common.schemas.test.testdef, voluptuous, yaml' 2>/dev/null || missing+=(lava-common)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
      export DEBIAN_FRONTEND=noninteractive
      { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; } >"$ROOT/.build/conformance/apt.log" 2>&1 \
        || echo "  apt-get install ${missing[*]} failed (see .build/conformance/apt.log)"
    else
      echo "  not root: cannot apt-get install ${missing[*]}"
    fi
  fi
  if [ ! -x "$PY" ] || ! "$PY" -c 'import tap, jsonschema, kcidb_io, junitparser, docutils' 2>/dev/null; then
    python3 -m venv "$VENV" >"$ROOT/.build/conformance/venv.log" 2>&1 \
      && "$PY" -m pip install --quiet --disable-pip-version-check $PIP_PKGS >>"$ROOT/.build/conformance/venv.log" 2>&1 \
      || echo "  pip install into $VENV failed (see .build/conformance/venv.log)"
  fi
}

probe_tools() {
  command -v xmllint >/dev/null || skip_tool xmllint "not installed (Debian libxml2-utils could not be installed)"
  command -v prove >/dev/null || skip_tool prove "not installed (Debian perl could not be installed)"
  /usr/bin/python3 -c 'import lava_common.schemas.test.testdef' 2>/dev/null \
    || skip_tool lava-common "not installed (Debian lava-common could not be installed)"
  local m
  for m in tap:tap.py jsonschema:jsonschema kcidb_io:kcidb-io junitparser:junitparser docutils:docutils; do
    "$PY" -c "import ${m%%:*}" 2>/dev/null || skip_tool "${m#*:}" "not installed (pip install ${m#*:} into $VENV failed: no network?)"
  done
}

mkdir -p "$ROOT/.build/conformance"
setup_tools
if [ $setup_only -eq 1 ]; then probe_tools; exit 0; fi
probe_tools

# --- outputs -----------------------------------------------------------------------------------------------
if [ -z "$BIN" ]; then BIN=$(swift build --show-bin-path)/lbrprobe; fi
[ -x "$BIN" ] || { echo "check-outputs: no lbrprobe binary at $BIN (build first)" >&2; exit 1; }
OUT=$ROOT/.build/conformance/out
rm -rf "$OUT"; mkdir -p "$OUT"
echo "conformance: producing outputs with $BIN in $OUT"

# produce KIND EXPECTED_EXIT ARGS...: TAP on stdout, JSON by a second identical invocation, JUnit + KCIDB files.
produce() {
  local kind=$1 want=$2; shift 2
  local rc
  "$BIN" run "$@" --format tap --junit "$OUT/$kind.xml" --kcidb "$OUT/$kind.kcidb.json" >"$OUT/$kind.tap" 2>"$OUT/$kind.err"
  rc=$?
  if [ "$rc" != "$want" ]; then reject "$kind: lbrprobe exited $rc, expected $want: $(tail -1 "$OUT/$kind.err")"; return 1; fi
  "$BIN" run "$@" --format json >"$OUT/$kind.json" 2>>"$OUT/$kind.err"
  rc=$?
  if [ "$rc" != "$want" ]; then reject "$kind (json): lbrprobe exited $rc, expected $want"; return 1; fi
  KINDS+=("$kind")
}

KINDS=()
SKIPALL=()
produce sim 0 --backend sim
produce repeat 0 --backend sim --repeat 3 guest-baseline host-first recovery-paths
produce sim-unmet 1 --backend sim --model mainline --expect expectations/seed-2023.expect
if [ -c /dev/kvm ]; then
  produce hybrid 0 --backend hybrid
  produce timeout 1 --backend hybrid --timeout 0.001 guest-traced guest-baseline
else
  skip_tool hybrid-outputs "/dev/kvm absent: the hybrid, timeout and interrupted outputs need a real KVM guest"
fi
# hw: skip-all (exit 4) where the host has no LBR; a run with tests where it has.
"$BIN" run --backend hw --format tap --junit "$OUT/hw.xml" --kcidb "$OUT/hw.kcidb.json" >"$OUT/hw.tap" 2>"$OUT/hw.err"
hw_rc=$?
"$BIN" run --backend hw --format json >"$OUT/hw.json" 2>>"$OUT/hw.err"
case $hw_rc in
  4) KINDS+=(hw); SKIPALL+=(hw) ;;
  0|1) KINDS+=(hw) ;;
  *) reject "hw: lbrprobe exited $hw_rc: $(tail -1 "$OUT/hw.err")" ;;
esac
# Nested in a kselftest runner: no version line.
KSFT_TAP_LEVEL=1 "$BIN" run --backend sim guest-baseline --format tap >"$OUT/nested.tap" 2>"$OUT/nested.err" \
  || reject "nested: lbrprobe exited $?"
# Interrupted: SIGINT while a long hybrid run is going (exit 130, every planned test still listed); twice, for
# TAP (+ JUnit, KCIDB) and for JSON.
interrupt() {  # OUTPUT ARGS...
  local dest=$1; shift
  "$BIN" run --backend hybrid --repeat 50 "$@" >"$dest" 2>>"$OUT/interrupted.err" &
  local pid=$!
  sleep 1.5
  kill -INT "$pid"
  wait "$pid"
}
if [ -c /dev/kvm ]; then
  interrupt "$OUT/interrupted.tap" --format tap --junit "$OUT/interrupted.xml" --kcidb "$OUT/interrupted.kcidb.json"; rc=$?
  interrupt "$OUT/interrupted.json" --format json; rc2=$?
  if [ $rc -eq 130 ] && [ $rc2 -eq 130 ] && grep -q "# ERROR interrupted by SIGINT\|# SKIP not run: interrupted by SIGINT" "$OUT/interrupted.tap"; then
    KINDS+=(interrupted)
  else
    reject "interrupted: exit $rc/$rc2 (want 130) or no interrupted results: $(tail -1 "$OUT/interrupted.err")"
  fi
fi
"$BIN" caps --format json >"$OUT/caps.json" 2>"$OUT/caps.err" || reject "caps: lbrprobe exited $?"
# A second sim invocation for the KCIDB id check.
"$BIN" run --backend sim --kcidb "$OUT/sim2.kcidb.json" >/dev/null 2>"$OUT/sim2.err" || reject "sim2: lbrprobe exited $?"

# --- checks ------------------------------------------------------------------------------------------------
# check TOOL WHAT COMMAND...: runs a tool's check, ok when it exits 0 (its output shown when it does not).
check() {
  local tool=$1 what=$2; shift 2
  if ! have "$tool"; then echo "  SKIPPED $tool on $what: ${SKIPPED[$tool]}"; return; fi
  local log
  if log=$("$@" 2>&1); then pass "$tool: $what"; else reject "$tool: $what"; echo "$log" | head -20 | sed 's/^/          /'; fi
}
is_skipall() { local k; for k in "${SKIPALL[@]}"; do [ "$k" = "$1" ] && return 0; done; return 1; }

prove_check() {  # TAP::Parser through prove: no parse errors; all-pass runs must pass, skip-all must say skipped
  local f=$1 kind=$2 out
  out=$(prove -v --exec cat "$f" 2>&1)
  if echo "$out" | grep -q "Parse errors"; then echo "$out" | grep -A3 "Parse errors"; return 1; fi
  if is_skipall "$kind"; then echo "$out" | grep -q "skipped:" || { echo "$out" | tail -5; return 1; }; fi
  case $kind in sim|repeat|hybrid|nested) echo "$out" | grep -q "^Result: PASS" || { echo "$out" | tail -5; return 1; } ;; esac
  return 0
}

echo "conformance: checking"
for k in "${KINDS[@]}" nested; do
  args=(); is_skipall "$k" && args+=(--skip-all); [ "$k" = nested ] && args+=(--nested)
  check tap.py "TAP $k" "$PY" "$CHECK" tap "${args[@]}" "$OUT/$k.tap"
  check prove "TAP $k" prove_check "$OUT/$k.tap" "$k"
  [ "$k" = nested ] && continue
  [ -f "$OUT/$k.json" ] && check jsonschema "run JSON $k" "$PY" "$CHECK" json-schema docs/run.schema.json "$OUT/$k.json"
  [ -f "$OUT/$k.json" ] && check jsonschema "run JSON $k: ASCII ids/names/codes" "$PY" "$CHECK" run-json "$OUT/$k.json"
  check kcidb-io "KCIDB $k" "$PY" "$CHECK" kcidb "$OUT/$k.kcidb.json"
  check junitparser "JUnit $k" "$PY" "$CHECK" junit "$OUT/$k.xml"
  check xmllint "JUnit $k against the Jenkins junit-10 rules" \
    xmllint --noout --schema scripts/conformance/junit-jenkins-rules.xsd "$OUT/$k.xml"
done
check jsonschema "caps JSON" "$PY" "$CHECK" json-schema docs/caps.schema.json "$OUT/caps.json"
check kcidb-io "two invocations give disjoint KCIDB ids" "$PY" "$CHECK" kcidb-disjoint "$OUT/sim.kcidb.json" "$OUT/sim2.kcidb.json"
check lava-common "LAVA test definition scripts/lava/lbrprobe.yaml" /usr/bin/python3 "$CHECK" lava scripts/lava/lbrprobe.yaml
check sh "LAVA run script under /bin/sh (prebuilt binary, kselftest dir, early failure, skip-all)" \
  scripts/lava/selftest.sh "$BIN"
rst=( docs/*.rst "${RST_EXTRA[@]}" )
rst_files=(); for f in "${rst[@]}"; do [ -f "$f" ] && rst_files+=("$f"); done
if [ ${#rst_files[@]} -gt 0 ]; then
  check docutils "RST ${rst_files[*]}" "$PY" "$CHECK" rst "${rst_files[@]}"
else
  echo "  (no RST files in docs/ yet: docutils has nothing to check)"
fi


# The checks can fail: each tool must reject a known-bad variant of real output (defects the writers once had).
must_reject() {  # TOOL WHAT COMMAND...
  local tool=$1 what=$2; shift 2
  if ! have "$tool"; then echo "  SKIPPED $tool rejecting $what: ${SKIPPED[$tool]}"; return; fi
  if "$@" >/dev/null 2>&1; then reject "$tool accepted $what"; else pass "$tool rejects $what"; fi
}
BADDIR=$OUT/bad; mkdir -p "$BADDIR"
awk 'NR==2 {plan=$0; next} NR==3 {print; print plan; next} {print}' "$OUT/sim.tap" >"$BADDIR/header-before-plan.tap"
{ cat "$OUT/hw.tap"; echo "# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:9 error:0"; } >"$BADDIR/skip-all-totals.tap"
printf 'TAP version 13\n1..2\nok 1 a\nok 3 b\n' >"$BADDIR/misnumbered.tap"
sed 's/<testsuites name="lbrprobe"/<testsuites name="lbrprobe" skipped="0"/' "$OUT/sim.xml" >"$BADDIR/skipped-on-testsuites.xml"
sed 's/"minor" : 3/"minor" : 9/' "$OUT/sim.kcidb.json" >"$BADDIR/kcidb-minor-9.json"
sed '0,/"build_id" : /s//"build_idx" : /' "$OUT/sim.kcidb.json" >"$BADDIR/kcidb-no-build-id.json"
sed '0,/"backend" : "sim"/s//"backend" : "sim", "surprise" : 1/' "$OUT/sim.json" >"$BADDIR/run-extra-member.json"
sed 's/format: Lava-Test Test Definition 1.0/format: Lava-Test Test Definition 2.0/' scripts/lava/lbrprobe.yaml >"$BADDIR/lava-format.yaml"
printf 'metadata:\n  format: Lava-Test Test Definition 1.0\n  name: x\nrun:\n  steps:\n    - set -o pipefail; a | b || true\n' >"$BADDIR/lava-pipefail.yaml"
printf 'Title\n===\n\n`unclosed\n' >"$BADDIR/bad.rst"
must_reject tap.py "a header diagnostic between version and plan" "$PY" "$CHECK" tap "$BADDIR/header-before-plan.tap"
is_skipall hw && must_reject tap.py "totals after 1..0 # SKIP" "$PY" "$CHECK" tap --skip-all "$BADDIR/skip-all-totals.tap"
must_reject prove "misnumbered tests" prove_check "$BADDIR/misnumbered.tap" bad
must_reject xmllint "skipped on <testsuites>" xmllint --noout --schema scripts/conformance/junit-jenkins-rules.xsd "$BADDIR/skipped-on-testsuites.xml"
must_reject kcidb-io "schema version 5.9" "$PY" "$CHECK" kcidb "$BADDIR/kcidb-minor-9.json"
must_reject kcidb-io "a test without build_id" "$PY" "$CHECK" kcidb "$BADDIR/kcidb-no-build-id.json"
must_reject kcidb-io "one invocation's ids twice" "$PY" "$CHECK" kcidb-disjoint "$OUT/sim.kcidb.json" "$OUT/sim.kcidb.json"
must_reject jsonschema "an unknown top-level member" "$PY" "$CHECK" json-schema docs/run.schema.json "$BADDIR/run-extra-member.json"
must_reject lava-common "a wrong metadata.format" /usr/bin/python3 "$CHECK" lava "$BADDIR/lava-format.yaml"
must_reject lava-common "a bash-only step" /usr/bin/python3 "$CHECK" lava "$BADDIR/lava-pipefail.yaml"
must_reject docutils "broken RST" "$PY" "$CHECK" rst "$BADDIR/bad.rst"

echo "conformance: $ok checks accepted, $bad rejected, ${#SKIPPED[@]} tool(s) skipped${SKIPPED[*]+ (${!SKIPPED[*]})}"
[ $bad -eq 0 ]
