#!/usr/bin/env bash
# Tests the kselftest install (scripts/install-kselftest.sh) the way a farm runs it: the release binary only,
# no Swift toolchain on PATH, under the kernel's own tools/testing/selftests/run_kselftest.sh and
# kselftest/runner.sh. Those are taken from Debian's linux-source package (apt-get download, only the runner
# files extracted, cached under .build/kselftest-runner — never vendored). Where the package is not reachable
# the test says so and checks the runner's exit-code contract directly (0 ok, 4 SKIP, 124 TIMEOUT, else not ok).
#
#   scripts/test-kselftest.sh            (LBRPROBE_BIN=prebuilt static binary to skip the release build;
#                                         KSFT_RUNNER_CACHE=dir; KSFT_NO_DOWNLOAD=1 forces the direct check)
# Prints one ok/not ok line per check and a count; exits 1 if any check failed.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${KSFT_RUNNER_CACHE:-$root/.build/kselftest-runner}"
work="$(mktemp -d /tmp/lbrprobe-ksft.XXXXXX)"
trap 'rm -rf "$work"' EXIT
passed=0; failed=0
check() { # check NAME CONDITION-EXIT-STATUS [detail]
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok - $1"
  else failed=$((failed + 1)); echo "not ok - $1${3:+: $3}"; fi
}

dest="$work/kselftest"
if ! KSFT_TIMEOUT=300 "$root/scripts/install-kselftest.sh" "$dest" >"$work/install.log" 2>&1; then
  cat "$work/install.log" >&2
  check "install-kselftest.sh lays out the collection" 1; echo "test-kselftest: $passed checks ok, $failed not ok"; exit 1
fi
col="$dest/lbrprobe"
check "layout: binary, run script, settings, list" "$( [ -x "$col/lbrprobe" ] && [ -x "$col/run_lbrprobe.sh" ] \
  && grep -qx 'timeout=300' "$col/settings" && grep -qx 'lbrprobe:run_lbrprobe.sh' "$dest/kselftest-list.txt"; echo $?)"
ldd "$col/lbrprobe" > "$work/ldd.txt" 2>&1
check "binary needs no Swift runtime library" "$(! grep -Eq 'libswift|libFoundation|libdispatch|not found' "$work/ldd.txt"; echo $?)" \
  "$(grep -E 'libswift|libFoundation|libdispatch|not found' "$work/ldd.txt" | head -3 | tr '\n' ' ')"

# A target's environment: no Swift toolchain on PATH.
clean=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME="$work" LANG=C.UTF-8)
check "no swift on the target PATH" "$("${clean[@]}" sh -c '! command -v swift >/dev/null'; echo $?)"

# The kernel's runner, from Debian's linux-source package.
why=""
fetch_runner() {
  if [ -r "$cache/kselftest/runner.sh" ] && [ -r "$cache/run_kselftest.sh" ]; then return 0; fi
  if [ -n "${KSFT_NO_DOWNLOAD:-}" ]; then why="KSFT_NO_DOWNLOAD is set"; return 1; fi
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || { why="no apt-get/dpkg-deb on this machine"; return 1; }
  pick() { apt-cache search --names-only '^linux-source-[0-9.]+$' 2>/dev/null | cut -d' ' -f1 | sort -V | tail -1; }
  local pkg; pkg="$(pick)"
  if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then apt-get update -qq >/dev/null 2>&1; pkg="$(pick)"; fi
  [ -n "$pkg" ] || { why="no linux-source-* package in the apt lists (apt-get update?)"; return 1; }
  local dl="$work/deb"; mkdir -p "$dl"
  if ! (cd "$dl" && apt-get download "$pkg") >"$work/download.log" 2>&1; then
    why="apt-get download $pkg failed: $(grep -E '^(E|Err)' "$work/download.log" | head -1)"; return 1
  fi
  local deb; deb="$(ls "$dl"/*.deb | head -1)"
  echo "test-kselftest: extracting the kselftest runner from $(basename "$deb") (decompresses the whole source tarball)" >&2
  mkdir -p "$work/src"
  dpkg-deb --fsys-tarfile "$deb" | tar -xO --wildcards './usr/src/linux-source-*.tar.xz' | xz -dc \
    | tar -x -C "$work/src" --wildcards '*/tools/testing/selftests/run_kselftest.sh' '*/tools/testing/selftests/kselftest/*' \
    || { why="could not extract the runner from $(basename "$deb")"; return 1; }
  local st; st="$(ls -d "$work"/src/*/tools/testing/selftests | head -1)"
  [ -r "$st/kselftest/runner.sh" ] || { why="$(basename "$deb") has no tools/testing/selftests/kselftest/runner.sh"; return 1; }
  mkdir -p "$cache/kselftest"
  cp "$st/run_kselftest.sh" "$cache/" && cp "$st"/kselftest/* "$cache/kselftest/"
  dpkg-deb -f "$deb" Package Version | tr '\n' ' ' > "$cache/SOURCE"
  rm -rf "$dl" "$work/src"
}

# A run that lasts well past a 2 s timeout yet stays small when the SIGTERM makes lbrprobe write its reports
# (the runs not started are SKIP): the real KVM guest where /dev/kvm exists, else many sim repeats.
if [ -c /dev/kvm ] && [ -w /dev/kvm ]; then slow=(LBRPROBE_BACKEND=hybrid LBRPROBE_REPEAT=200)
else slow=(LBRPROBE_BACKEND=sim LBRPROBE_REPEAT=5000); fi

# How many scenarios the default set has (the TAP plan of a sim run).
n=$("${clean[@]}" "$col/lbrprobe" run --backend sim --format tap 2>/dev/null | sed -n 's/^1\.\.\([0-9]*\)$/\1/p' | head -n 1)

# What lbrprobe itself exits with for hw here (4 on a host without LBR; the farm's LBR hosts run it).
"${clean[@]}" "$col/lbrprobe" run --backend hw --format tap >/dev/null 2>&1; hw_rc=$?

if fetch_runner; then
  echo "test-kselftest: kselftest runner from Debian $(cat "$cache/SOURCE" 2>/dev/null)" >&2
  cp "$cache/run_kselftest.sh" "$dest/" && mkdir -p "$dest/kselftest" && cp "$cache"/kselftest/* "$dest/kselftest/"
  chmod +x "$dest/run_kselftest.sh" "$dest/kselftest/prefix.pl" 2>/dev/null
  # Through a pipe, as farms read it: with a regular file as stdout the runner's own "ok N" line (fd 1) and the
  # test's prefixed output (reopened in append mode) write at different offsets and overwrite each other.
  runk() { "${clean[@]}" "$@" sh "$dest/run_kselftest.sh" -c lbrprobe 2>&1 | cat > "$work/out.tap"; }
  hdr="selftests: lbrprobe: run_lbrprobe.sh"

  mkdir -p "$work/a" "$work/b"
  runk LBRPROBE_BACKEND=sim LBRPROBE_OUT="$work/a"
  check "runner: sim run is ok, nested TAP has $n results" "$(grep -qx "ok 1 $hdr" "$work/out.tap" \
    && grep -q "^# 1\.\.$n\$" "$work/out.tap" && grep -q "^# # Totals: pass:$n fail:0" "$work/out.tap"; echo $?)" "$(tail -2 "$work/out.tap" | tr '\n' ' ')"
  check "runner: the model's results are named after it (sim-model-mainline.*)" "$(grep -q '^# ok 1 sim-model-mainline\.guest-baseline$' "$work/out.tap" \
    && ! grep -Eq '^# (not )?ok [0-9]+ [a-z-]+$' "$work/out.tap"; echo $?)"
  check "runner: run document written for compare" "$("$col/lbrprobe" compare "$work/a/lbrprobe.json" "$work/a/lbrprobe.json" >/dev/null 2>&1; echo $?)"

  runk LBRPROBE_BACKEND=sim LBRPROBE_MODEL=seed-2023 LBRPROBE_EXPECT=mainline LBRPROBE_OUT="$work/b"
  check "runner: unmet expectation is not ok (exit=1)" "$(grep -qx "not ok 1 $hdr # exit=1" "$work/out.tap"; echo $?)" "$(tail -1 "$work/out.tap")"
  "${clean[@]}" "$col/lbrprobe" compare "$work/a/lbrprobe.json" "$work/b/lbrprobe.json" > "$work/cmp.txt" 2>&1; cmp_rc=$?
  check "farm outputs compare: mainline vs seed-2023 exits 1 naming host-first" "$([ $cmp_rc -eq 1 ] && grep -q '^\* host-first' "$work/cmp.txt"; echo $?)"

  runk LBRPROBE_OUT="$work"   # the default backend is hw
  case $hw_rc in
    0) want="ok 1 $hdr" ;; 4) want="ok 1 $hdr # SKIP" ;; *) want="not ok 1 $hdr # exit=$hw_rc" ;;
  esac
  check "runner: default (hw) run maps lbrprobe exit $hw_rc to '$want'" "$(grep -qx "$want" "$work/out.tap"; echo $?)" "$(tail -1 "$work/out.tap")"

  sed -i 's/^timeout=.*/timeout=2/' "$col/settings"
  runk "${slow[@]}" LBRPROBE_OUT="$work"
  check "runner: the settings timeout applies (TIMEOUT 2 seconds)" "$(grep -qx "not ok 1 $hdr # TIMEOUT 2 seconds" "$work/out.tap"; echo $?)" "$(tail -1 "$work/out.tap")"
  sed -i 's/^timeout=.*/timeout=300/' "$col/settings"
else
  echo "test-kselftest: the kernel's kselftest runner is not reachable ($why); checking the runner's exit-code contract directly" >&2
  echo "# SKIP kernel runner.sh unavailable: $why"
  t="$(sed -n 's/^timeout=//p' "$col/settings")"
  run() { (cd "$col" && "${clean[@]}" "$@" timeout "${T:-$t}" ./run_lbrprobe.sh > "$work/out.tap" 2>&1); echo $?; }
  mkdir -p "$work/a" "$work/b"
  rc=$(run LBRPROBE_BACKEND=sim LBRPROBE_OUT="$work/a")
  check "contract: sim run exits 0 (ok) with a $n-test TAP plan" "$([ "$rc" -eq 0 ] && grep -qx "1..$n" "$work/out.tap"; echo $?)" "rc=$rc"
  rc=$(run LBRPROBE_BACKEND=sim LBRPROBE_MODEL=seed-2023 LBRPROBE_EXPECT=mainline LBRPROBE_OUT="$work/b")
  check "contract: unmet expectation exits 1 (not ok)" "$([ "$rc" -eq 1 ]; echo $?)" "rc=$rc"
  "${clean[@]}" "$col/lbrprobe" compare "$work/a/lbrprobe.json" "$work/b/lbrprobe.json" > "$work/cmp.txt" 2>&1; cmp_rc=$?
  check "farm outputs compare: mainline vs seed-2023 exits 1 naming host-first" "$([ $cmp_rc -eq 1 ] && grep -q '^\* host-first' "$work/cmp.txt"; echo $?)"
  rc=$(run LBRPROBE_OUT="$work")   # the default backend is hw
  check "contract: default (hw) exits as lbrprobe does ($hw_rc; 4 = kselftest SKIP)" "$([ "$rc" -eq "$hw_rc" ]; echo $?)" "rc=$rc"
  rc=$(T=2 run "${slow[@]}" LBRPROBE_OUT="$work")
  check "contract: a run past the timeout exits 124 (TIMEOUT)" "$([ "$rc" -eq 124 ]; echo $?)" "rc=$rc"
fi
echo "test-kselftest: $passed checks ok, $failed not ok"
[ "$failed" -eq 0 ]
