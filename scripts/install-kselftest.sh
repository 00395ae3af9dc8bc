#!/usr/bin/env bash
# Lays out lbrprobe as a kselftest collection that runs on a farm target without a Swift toolchain:
#
#   scripts/install-kselftest.sh DEST
#
#   DEST/kselftest-list.txt        "lbrprobe:run_lbrprobe.sh" (the list run_kselftest.sh reads)
#   DEST/lbrprobe/lbrprobe         release binary, Swift runtime and Foundation linked in statically
#                                  (--static-swift-stdlib); needs only glibc, libstdc++6 and libnuma1
#   DEST/lbrprobe/run_lbrprobe.sh  the test: lbrprobe run ... --format tap, exit 0 pass / 1 fail / 4 skip
#   DEST/lbrprobe/settings         timeout=N for the kernel's kselftest/runner.sh
#   DEST/lbrprobe/expectations/    mainline.expect, seed-2023.expect
#   DEST/lbrprobe/LAYOUT           what this is, the lbrprobe version and how to run it
#
# Run it with the kernel's own runner (tools/testing/selftests/run_kselftest.sh and kselftest/runner.sh copied
# next to kselftest-list.txt, as `make -C tools/testing/selftests install` lays them out), or by hand:
#   cd DEST/lbrprobe && ./run_lbrprobe.sh
# Environment of run_lbrprobe.sh (LAVA params map onto these; docs/farms.md):
#   LBRPROBE_BACKEND (hw: SKIP with the blockers where the target has no usable LBR; hybrid, sim or auto run a
#   kernel model, an explicit choice whose results are named after it)
#   LBRPROBE_MODEL (mainline, hybrid/sim/auto only)  LBRPROBE_EXPECT (file or shipped name)
#   LBRPROBE_REPEAT (1)  LBRPROBE_SCENARIOS (default set)  LBRPROBE_OUT (directory for lbrprobe.json,
#   lbrprobe.junit.xml, lbrprobe.kcidb.json; default: the collection directory)  KCIDB_ORIGIN, KCIDB_BUILD_ID.
#
# Options (environment): LBRPROBE_BIN=path  use this already built static binary instead of building one
#                                          (without it, this script builds one with --static-swift-stdlib);
#                        KSFT_TIMEOUT=seconds (settings file; default 300).
set -euo pipefail
usage() { echo "usage: scripts/install-kselftest.sh DEST   (LBRPROBE_BIN=prebuilt binary, KSFT_TIMEOUT=seconds)" >&2; exit 64; }
[ $# -eq 1 ] || usage
case "$1" in -h|--help) usage ;; esac
dest="$1"
root="$(cd "$(dirname "$0")/.." && pwd)"
timeout_s="${KSFT_TIMEOUT:-300}"
case "$timeout_s" in ''|*[!0-9]*) echo "install-kselftest: KSFT_TIMEOUT must be a number of seconds (got '$timeout_s')" >&2; exit 64 ;; esac

bin="${LBRPROBE_BIN:-}"
if [ -z "$bin" ]; then
  "$root/scripts/setup.sh"
  echo "install-kselftest: building a release lbrprobe with the Swift runtime linked in statically" >&2
  (cd "$root" && swift build -c release --product lbrprobe --static-swift-stdlib >&2)
  bin="$(cd "$root" && swift build -c release --static-swift-stdlib --show-bin-path)/lbrprobe"
fi
[ -x "$bin" ] || { echo "install-kselftest: $bin is not an executable" >&2; exit 66; }
runtime=$(ldd "$bin" 2>/dev/null | grep -cE 'libswift|libFoundation|libdispatch|libBlocksRuntime' || true)
if [ "$runtime" -gt 0 ]; then
  echo "install-kselftest: $bin links $runtime Swift runtime libraries dynamically, which a farm target does not have;" \
       "unset LBRPROBE_BIN and this script builds the static binary itself, or build one with:" \
       "swift build -c release --product lbrprobe --static-swift-stdlib" >&2
  exit 65
fi

col="$dest/lbrprobe"
mkdir -p "$col/expectations"
tmp="$col/.lbrprobe.$$"
cp "$bin" "$tmp" && chmod 0755 "$tmp" && mv -f "$tmp" "$col/lbrprobe"
cp "$root"/expectations/*.expect "$col/expectations/"
version="$("$col/lbrprobe" --version)"

cat > "$col/settings" <<EOF
# kselftest runner settings (tools/testing/selftests/kselftest/runner.sh reads timeout=SECONDS)
timeout=$timeout_s
EOF

cat > "$col/run_lbrprobe.sh" <<'EOF'
#!/bin/sh
# kselftest test: lbrprobe's contention scenarios as TAP 13 (kselftest exit codes: 0 pass, 1 fail, 4 skip).
# Installed by lbrprobe's scripts/install-kselftest.sh; needs no Swift toolchain.
here="$(cd "$(dirname "$0")" && pwd)"
out="${LBRPROBE_OUT:-$here}"
# LBRPROBE_BACKEND defaults to hw: a target without usable LBR is a SKIP (exit 4) with the blockers. A kernel
# model (hybrid, sim, auto) is an explicit choice; its TAP names start with <backend>-model-<model>.
set -- run --backend "${LBRPROBE_BACKEND:-hw}" --format tap --repeat "${LBRPROBE_REPEAT:-1}" \
  --json "$out/lbrprobe.json" --junit "$out/lbrprobe.junit.xml" --kcidb "$out/lbrprobe.kcidb.json"
case "${LBRPROBE_BACKEND:-hw}" in hw) ;; *) set -- "$@" --model "${LBRPROBE_MODEL:-mainline}" ;; esac
if [ -n "${LBRPROBE_EXPECT:-}" ]; then
  e="$LBRPROBE_EXPECT"
  [ -f "$e" ] || [ ! -f "$here/expectations/$e" ] || e="$here/expectations/$e"
  [ -f "$e" ] || [ ! -f "$here/expectations/$e.expect" ] || e="$here/expectations/$e.expect"
  set -- "$@" --expect "$e"
fi
[ -z "${KCIDB_ORIGIN:-}" ] || set -- "$@" --kcidb-origin "$KCIDB_ORIGIN"
[ -z "${KCIDB_BUILD_ID:-}" ] || set -- "$@" --kcidb-build-id "$KCIDB_BUILD_ID"
# shellcheck disable=SC2086
exec "$here/lbrprobe" "$@" ${LBRPROBE_SCENARIOS:-}
EOF
chmod 0755 "$col/run_lbrprobe.sh"

cat > "$col/LAYOUT" <<EOF
lbrprobe kselftest collection ($version), laid out by scripts/install-kselftest.sh.
Run under the kernel's runner: run_kselftest.sh -c lbrprobe (with kselftest/runner.sh next to kselftest-list.txt),
or directly: cd lbrprobe && ./run_lbrprobe.sh. LBRPROBE_BACKEND defaults to hw (SKIP where the target has no
usable LBR); a kernel model (LBRPROBE_BACKEND=hybrid or sim) is reported under its own test names.
Results: TAP on stdout; lbrprobe.json (compare input),
lbrprobe.junit.xml and lbrprobe.kcidb.json in \$LBRPROBE_OUT (default: this directory).
EOF

list="$dest/kselftest-list.txt"
touch "$list"
grep -qx 'lbrprobe:run_lbrprobe.sh' "$list" || echo 'lbrprobe:run_lbrprobe.sh' >> "$list"
echo "install-kselftest: $col ($version, timeout ${timeout_s}s)" >&2
