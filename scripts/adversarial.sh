#!/usr/bin/env bash
# Adversarial trials (docs/robustness.md): hostile paths, crafted documents, broken standard output, signals,
# lock directories. Each trial checks the exit code, that stderr is one line where an error is expected, and
# that no other file in the trial's directory changed (names, sizes, modes and contents before and after).
# Trials needing root (a second user, fs.protected_symlinks, tmpfs) or /dev/kvm skip with a reason without them.
# Bounded in time: every command runs under `timeout`; the expensive ones (signals during a repeated run) are
# sampled by SAMPLE=1 (default) and all run with SAMPLE=all.
# Usage: scripts/adversarial.sh            env: LBRPROBE=.build/debug/lbrprobe SAMPLE=1|all
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${LBRPROBE:-.build/debug/lbrprobe}")
SAMPLE=${SAMPLE:-1}
[ -x "$BIN" ] || { echo "adversarial: $BIN not built (swift build)" >&2; exit 2; }
W=$(mktemp -d /tmp/lbrprobe-adv.XXXXXX)
chmod 755 "$W"
trap 'rm -rf "$W"' EXIT
pass=0; fail=0; skip=0

snapshot() { # dir -> listing with checksums (outputs named in $IGNORE excluded)
    local d; d=$(realpath "$1")
    (cd "$d" && find . -mindepth 1 \( -type f -o -type l -o -type p -o -type s -o -type d \) -printf '%p %y %m %s %l\n' 2>/dev/null \
        | grep -vE "${IGNORE:-^$}" | sort
     cd "$d" && find . -type f -readable -exec md5sum {} + 2>/dev/null | grep -vE "${IGNORE:-^$}" | sort)
}

# trial NAME EXPECTED_CODE LINES(1|any) DIR -- command...   (stderr must be LINES lines; DIR must not change)
trial() {
    local name=$1 want=$2 lines=$3 dir=$4; shift 5
    local before after code nerr
    before=$(snapshot "$dir")
    timeout -k 5 60 "$@" > "$W/.out" 2> "$W/.err"; code=$?
    after=$(snapshot "$dir")
    nerr=$(grep -vc '^lbrprobe: note:' "$W/.err")
    local why=""
    [ "$code" = "$want" ] || why="exit $code, want $want"
    if [ -z "$why" ] && [ "$lines" = 1 ] && [ "$nerr" != 1 ]; then why="$nerr stderr lines, want 1"; fi
    if [ -z "$why" ] && [ "$before" != "$after" ]; then why="files changed: $(diff <(echo "$before") <(echo "$after") | head -4 | tr '\n' ' ')"; fi
    if [ -z "$why" ]; then pass=$((pass + 1)); echo "ok   $name"
    else fail=$((fail + 1)); echo "FAIL $name: $why"; sed 's/^/     stderr: /' "$W/.err" | head -5; fi
}
skipped() { skip=$((skip + 1)); echo "skip $1: $2"; }

cd "$W"
# A real run document and expectation file to attack with.
"$BIN" run guest-baseline host-first --backend sim --json r.json --write-expect m.expect -q > /dev/null || true
[ -s r.json ] || { echo "adversarial: could not make a run document" >&2; exit 2; }
mkdir -p d && cp r.json m.expect d/

echo "# outputs that are inputs (64)"
trial expect-is-junit 64 1 d -- "$BIN" run guest-baseline --backend sim --expect d/m.expect --junit d/m.expect
trial expect-is-junit-other-spelling 64 1 d -- "$BIN" run guest-baseline --backend sim --expect d/m.expect --junit ./d/../d/m.expect
trial contract-from-is-output 64 1 d -- "$BIN" contract --from d/r.json -o d/r.json
trial timeline-input-is-output 64 1 d -- "$BIN" timeline d/r.json -o ./d/r.json
ln d/r.json d/hard.json
trial timeline-input-is-output-hardlink 64 1 d -- "$BIN" timeline d/hard.json -o d/r.json

echo "# output targets checked before the run (73)"
trial name-too-long 73 1 d -- "$BIN" run guest-baseline --backend sim --junit "d/$(printf 'a%.0s' $(seq 245))"
trial empty-path 73 1 d -- "$BIN" run guest-baseline --backend sim --junit ""
trial trailing-slash 73 1 d -- "$BIN" run guest-baseline --backend sim --junit d/nodir/
trial missing-directory 73 1 d -- "$BIN" run guest-baseline --backend sim --junit d/nodir/j.xml
trial directory 73 1 d -- "$BIN" run guest-baseline --backend sim --json d
trial fd-not-open 73 1 d -- "$BIN" run guest-baseline --backend sim --json /dev/fd/9
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" d/sock 2>/dev/null
if [ -S d/sock ]; then trial socket 73 1 d -- "$BIN" run guest-baseline --backend sim --kcidb d/sock
else skipped socket "cannot create a Unix socket"; fi
ln -s nowhere d/dangling
trial dangling-link 73 1 d -- "$BIN" run guest-baseline --backend sim --junit d/dangling
trial kcidb-origin 64 any d -- "$BIN" run guest-baseline --backend sim --kcidb d/k.json --kcidb-origin 'Bad Origin:x'
# A given descriptor is written (and only that).
IGNORE='' trial given-fd 0 any d -- bash -c "exec 7>'$W/fd7.out'; '$BIN' run guest-baseline --backend sim --json /dev/fd/7 >/dev/null"
grep -q '"schema"' fd7.out && echo "ok   given-fd-content" && pass=$((pass + 1)) || { echo "FAIL given-fd-content"; fail=$((fail + 1)); }

echo "# crafted documents (65, one line)"
python3 - r.json d <<'PY'
import json, sys
doc = json.load(open(sys.argv[1])); out = sys.argv[2]
def w(name, d): json.dump(d, open(f"{out}/{name}", "w"))
d = json.loads(json.dumps(doc)); d["duration_ms"] = 1e19; w("dur.json", d)
d = json.loads(json.dumps(doc)); d["results"][0]["duration_ms"] = -1; w("negdur.json", d)
d = json.loads(json.dumps(doc))
for r in d["results"]:
    if r.get("timeline"): r["timeline"][0]["dur_ns"] = 2**62 + 1; break
w("durns.json", d)
d = json.loads(json.dumps(doc))
for r in d["results"]:
    if r.get("timeline"): r["timeline"][-1]["t_ns"] = 10**15; break
w("tns.json", d)
d = json.loads(json.dumps(doc)); d["results"][0]["repeat"] = 2**63 - 1; w("rep.json", d)
d = json.loads(json.dumps(doc)); d["host"]["hostname"] = "evil\u001b]0;pwned\u0007\u001b[2J"; w("esc.json", d)
PY
trial timeline-duration-1e19 65 1 d -- "$BIN" timeline d/dur.json -o - 
trial timeline-negative-duration 65 1 d -- "$BIN" timeline d/negdur.json -o -
trial timeline-dur-ns-2^62 65 1 d -- "$BIN" timeline d/durns.json -o -
trial contract-repeat-int-max 65 1 d -- "$BIN" contract --from d/rep.json
trial compare-stdin-dev-zero 65 1 d -- bash -c "'$BIN' compare d/r.json - < /dev/zero"
trial contract-stdin-dev-zero 65 1 d -- bash -c "'$BIN' contract --from - < /dev/zero"
trial timeline-stdin-dev-zero 65 1 d -- bash -c "'$BIN' timeline - -o - < /dev/zero"
trial compare-dev-stdin 0 any d -- bash -c "'$BIN' compare d/r.json /dev/stdin < d/r.json"
trial compare-missing 65 1 d -- "$BIN" compare d/r.json d/missing.json
mkfifo d/fifo-in
trial compare-fifo-without-writer 65 1 d -- "$BIN" compare d/r.json d/fifo-in
"$BIN" timeline d/tns.json -o - > tns.svg 2>/dev/null; size=$(stat -c %s tns.svg)
if [ "$size" -lt 2000000 ]; then echo "ok   timeline-t-ns-1e15 ($size bytes)"; pass=$((pass + 1))
else echo "FAIL timeline-t-ns-1e15: $size bytes"; fail=$((fail + 1)); fi
for fmt in markdown rst; do
    if "$BIN" contract --from d/esc.json --format $fmt 2>/dev/null | LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]'; then
        echo "FAIL contract-$fmt-control-characters"; fail=$((fail + 1))
    else echo "ok   contract-$fmt-control-characters"; pass=$((pass + 1)); fi
done
if "$BIN" compare d/r.json d/esc.json --format markdown 2>/dev/null | LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]'; then
    echo "FAIL compare-control-characters"; fail=$((fail + 1))
else echo "ok   compare-control-characters"; pass=$((pass + 1)); fi

echo "# expectation files with CRLF, CR and a BOM gate like LF"
printf 'guest-baseline vlbr-inactive\n' > lf.expect
printf 'guest-baseline vlbr-inactive\r\n' > crlf.expect
printf 'guest-baseline vlbr-inactive\r' > cr.expect
printf '\xef\xbb\xbfguest-baseline vlbr-inactive\n' > bom.expect
"$BIN" run guest-baseline --backend sim --expect lf.expect > /dev/null 2>&1; lf=$?
for f in crlf cr bom; do
    "$BIN" run guest-baseline --backend sim --expect $f.expect > /dev/null 2>&1; c=$?
    if [ "$c" = "$lf" ] && [ "$c" != 65 ]; then echo "ok   expect-$f (exit $c like LF)"; pass=$((pass + 1))
    else echo "FAIL expect-$f: exit $c, LF gives $lf"; fail=$((fail + 1)); fi
done

echo "# standard output errors (74) in every subcommand"
for cmd in "caps" "list" "list --format json" "compare d/r.json d/r.json" "contract --from d/r.json" "timeline d/r.json -o -" \
           "run guest-baseline --backend sim"; do
    trial "full: $cmd" 74 1 d -- bash -c "'$BIN' $cmd > /dev/full"
    trial "closed: $cmd" 74 1 d -- bash -c "'$BIN' $cmd >&-"
done

echo "# a FIFO output without a reader: stopped by a signal, the report still comes"
mkfifo d/fifo-out
IGNORE='' trial fifo-no-reader-sigterm 143 any d -- bash -c "'$BIN' run guest-baseline --backend sim --junit d/fifo-out > '$W/fifo-report.txt' & p=\$!; sleep 2; kill -TERM \$p; wait \$p"
grep -q 'guest-baseline' fifo-report.txt && { echo "ok   fifo-report-printed"; pass=$((pass + 1)); } || { echo "FAIL fifo-report-printed"; fail=$((fail + 1)); }

echo "# signals during a repeated run: the whole report, 128 + signal, no runtime crash banner"
sigs=(HUP QUIT INT TERM); [ "$SAMPLE" = all ] || sigs=("${sigs[$((RANDOM % 4))]}" HUP)
for s in "${sigs[@]}"; do
    case $s in HUP) want=129;; INT) want=130;; QUIT) want=131;; TERM) want=143;; esac
    "$BIN" run --backend sim --repeat 5000 --junit "sig-$s.xml" > "sig-$s.txt" 2> "sig-$s.err" & p=$!
    sleep 1.5; kill -"$s" $p; wait $p; c=$?
    if [ "$c" = "$want" ] && grep -q '^totals:' "sig-$s.txt" && [ -s "sig-$s.xml" ] && ! grep -q 'crashed' "sig-$s.err"; then
        echo "ok   SIG$s -> $c with a whole report"; pass=$((pass + 1))
    else echo "FAIL SIG$s: exit $c (want $want)"; head -3 "sig-$s.err"; fail=$((fail + 1)); fi
done
if ls .*.tmp 2>/dev/null | grep -q .; then echo "FAIL temporaries left: $(ls -a | grep tmp)"; fail=$((fail + 1)); fi

echo "# lock directory"
if [ -w /dev/kvm ] || [ "$(id -u)" = 0 -a -e /dev/kvm ]; then
    trial lock-dir-missing 73 1 d -- env LBRPROBE_LOCK_DIR=/nonexistent/lbrprobe-lock "$BIN" run guest-baseline --backend hybrid
    LBRPROBE_LOCK_DIR="$W/locks" "$BIN" run guest-baseline --backend hybrid > /dev/null 2>&1
    mkdir -p locks; chmod 1777 locks
    LBRPROBE_LOCK_DIR="$W/locks" "$BIN" run guest-baseline --backend hybrid > /dev/null 2>&1
    m=$(stat -c %a locks/cpu*.lock 2>/dev/null | head -1)
    [ "$m" = 666 ] && { echo "ok   lock-file-mode-0666"; pass=$((pass + 1)); } || { echo "FAIL lock-file-mode: $m"; fail=$((fail + 1)); }
    # A signal while --wait waits for the lock: the (empty) report, 128 + signal.
    # The CPU lbrprobe picks by default: the first one this process may run on (a cpuset or taskset may leave
    # out CPU 0).
    cpu=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*\([0-9]*\).*/\1/p' /proc/self/status)
    flock "locks/cpu$cpu.lock" sleep 20 & holder=$!
    sleep 0.3
    LBRPROBE_LOCK_DIR="$W/locks" "$BIN" run guest-baseline --backend hybrid --cpu "$cpu" --wait > wait.txt 2> wait.err & p=$!
    sleep 1.5; kill -TERM $p; wait $p; c=$?
    kill $holder 2>/dev/null; wait $holder 2>/dev/null
    if [ "$c" = 143 ] && grep -q 'not run: interrupted by SIGTERM' wait.txt; then echo "ok   wait-interrupted-prints-report"; pass=$((pass + 1))
    else echo "FAIL wait-interrupted: exit $c"; head -3 wait.err; fail=$((fail + 1)); fi
else skipped lock-dir "needs /dev/kvm (hybrid takes the lock)"; fi

echo "# as root: a second user's symlink, fs.protected_symlinks, a full file system"
if [ "$(id -u)" = 0 ] && command -v useradd > /dev/null; then
    user=lbrprobe-adv
    id "$user" > /dev/null 2>&1 || useradd -M -r -s /usr/sbin/nologin "$user" 2>/dev/null
    old=$(sysctl -n fs.protected_symlinks)
    sysctl -qw fs.protected_symlinks=1
    mkdir -p pl/sh pl/vd && chmod 1777 pl/sh && chmod 700 pl/vd && echo "root only" > pl/vd/s.conf && chmod 600 pl/vd/s.conf
    for f in junit.xml kcidb.json run.json tl.svg w.expect c.md; do setpriv --reuid "$user" --regid "$user" --clear-groups ln -s "$W/pl/vd/s.conf" "pl/sh/$f"; done
    for flag in --junit --kcidb --json --timeline --write-expect; do
        f=$(case $flag in --junit) echo junit.xml;; --kcidb) echo kcidb.json;; --json) echo run.json;; --timeline) echo tl.svg;; *) echo w.expect;; esac)
        trial "protected-symlink $flag" 73 1 pl -- "$BIN" run guest-baseline --backend sim $flag "pl/sh/$f"
    done
    trial "protected-symlink contract -o" 73 1 pl -- "$BIN" contract --from d/r.json -o pl/sh/c.md
    grep -qx "root only" pl/vd/s.conf && { echo "ok   root-only-file-intact"; pass=$((pass + 1)); } || { echo "FAIL root-only file changed"; fail=$((fail + 1)); }
    sysctl -qw fs.protected_symlinks="$old"
    mkdir -p full && mount -t tmpfs -o size=16k tmpfs full && {
        head -c 12k /dev/zero > full/pad 2>/dev/null
        IGNORE='' trial "ENOSPC contract -o" 74 1 d -- "$BIN" contract --from d/r.json -o full/c.md
        IGNORE='' trial "ENOSPC timeline -o" 74 1 d -- "$BIN" timeline d/r.json -o full/t.svg
        IGNORE='' trial "ENOSPC run --json" 74 any d -- "$BIN" run guest-baseline --backend sim --json full/r.json
        ls -a full | grep -q tmp && { echo "FAIL temporaries left on the full file system"; fail=$((fail + 1)); }
        umount full; }
else
    skipped protected-symlink "needs root and useradd (a second user plants the link)"
fi

echo "adversarial: $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
