#!/usr/bin/env bash
# Memory benchmark: peak RSS of `lbrprobe run --backend sim --repeat N` (flat in N), and
# `--repeat 1000000` interrupted after 2 s (exit 130 within 1 s, with a report, RSS bounded).
# Usage: scripts/bench-memory.sh [path/to/lbrprobe]   (default: a release build, built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq time; }
BIN=${1:-.build/release/lbrprobe}
[ -x "$BIN" ] || swift build -c release --product lbrprobe >/dev/null
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

rss() { # N format -> peak RSS in KB
    /usr/bin/time -f "%M" -o "$tmp/time" "$BIN" run --backend sim --repeat "$1" --format "$2" >"$tmp/out" 2>/dev/null || true
    tail -1 "$tmp/time"
}
for fmt in text tap json; do
    r10=$(rss 10 $fmt); r2000=$(rss 2000 $fmt)
    echo "--format $fmt: peak RSS --repeat 10: ${r10} KB, --repeat 2000: ${r2000} KB ($(wc -c <"$tmp/out") bytes of report)"
    awk -v a="$r10" -v b="$r2000" 'BEGIN { printf "  ratio 2000/10: %.3f (target <= 1.10); 2000 <= 40 MB: %s\n", b / a, (b <= 40960 ? "yes" : "NO") }'
done

# --repeat 1000000, SIGINT after 2 s (text report on stdout + --junit; then the same with --format json).
for fmt in text json; do
    /usr/bin/time -f "%M" -o "$tmp/time1m" "$BIN" run --backend sim --repeat 1000000 --format $fmt \
        --junit "$tmp/j.xml" >"$tmp/1m.out" 2>"$tmp/1m.err" &
    tpid=$!
    sleep 2
    pid=$(pgrep -P "$tpid" -x lbrprobe || echo "$tpid")
    t0=$(date +%s.%N)
    kill -INT "$pid"
    set +e; wait "$tpid"; code=$?; set -e
    t1=$(date +%s.%N)
    echo "--repeat 1000000 --format $fmt --junit, SIGINT after 2 s: exit $code," \
         "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') s from signal to exit, peak RSS $(tail -1 "$tmp/time1m") KB"
    echo "  stderr: $(grep 'not started' "$tmp/1m.err")"
    echo "  report: $(tail -1 "$tmp/1m.out" | cut -c1-100); junit: $(grep -c '<testcase' "$tmp/j.xml") testcases"
done

# Every file at scale (LARGE=1; ~30 min on 2 busy cores): the JSON run document of 1.8 M runs and the KCIDB
# file of 90 000, each under 60 MB peak RSS (folded runs coded in ~8 bytes, every writer streamed).
if [ "${LARGE:-0}" = 1 ]; then
    /usr/bin/time -f "%M %e" -o "$tmp/tk" "$BIN" run --backend sim --repeat 10000 --kcidb "$tmp/k.json" -q >/dev/null 2>&1 || true
    echo "--repeat 10000 --kcidb FILE: peak RSS $(cut -d' ' -f1 "$tmp/tk") KB in $(cut -d' ' -f2 "$tmp/tk") s ($(wc -c <"$tmp/k.json") bytes)"
    rm -f "$tmp/k.json"
    /usr/bin/time -f "%M %e" -o "$tmp/tj" "$BIN" run --backend sim --repeat 200000 --json "$tmp/r.json" -q >/dev/null 2>&1 || true
    echo "--repeat 200000 --json FILE: peak RSS $(cut -d' ' -f1 "$tmp/tj") KB in $(cut -d' ' -f2 "$tmp/tj") s ($(wc -c <"$tmp/r.json") bytes)"
    awk -v k="$(cut -d' ' -f1 "$tmp/tk")" -v j="$(cut -d' ' -f1 "$tmp/tj")" 'BEGIN { printf "  both <= 60 MB: %s\n", (k <= 61440 && j <= 61440 ? "yes" : "NO") }'
fi

# Reading a big run document (READ=1; the document takes ~6 min to write on 2 busy cores): a `--repeat 17000`
# document (~145 MB) read by compare (itself twice), timeline and contract --from; reading holds the results
# decoded and a bounded part of the file (RunDocumentReader maps it and gives pages back behind the read), so
# compare, timeline and contract stay under 250 MB (contract folds repeated runs: its text and its own memory do
# not grow with the number of runs).
if [ "${READ:-0}" = 1 ]; then
    big=${READ_DOCUMENT:-$tmp/big.json}
    [ -s "$big" ] || "$BIN" run --backend sim --repeat "${READ_REPEAT:-17000}" --json "$big" -q >/dev/null 2>&1 || true
    size=$(wc -c <"$big")
    echo "reading a run document of $size bytes ($(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1048576 }') MiB):"
    for cmd in "compare $big $big" "timeline $big -o $tmp/t.svg" "contract --from $big -o $tmp/c.md"; do
        set +e; /usr/bin/time -f "%M %e" -o "$tmp/tr" "$BIN" $cmd >/dev/null 2>&1; code=$?; set -e
        kb=$(cut -d' ' -f1 "$tmp/tr" | tail -1)
        echo "  ${cmd%% *}: exit $code, peak RSS $kb KB in $(cut -d' ' -f2 "$tmp/tr" | tail -1) s;" \
             "$(awk -v k="$kb" -v s="$size" 'BEGIN { printf "%.2f x the document, under 250 MB: %s", k * 1024 / s, (k <= 256000 ? "yes" : "NO") }')"
    done
fi
