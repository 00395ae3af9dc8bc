#!/usr/bin/env bash
# Memory benchmark: peak RSS of `lbrprobe run --backend sim --repeat N` per output format (flat in N), and
# `--repeat 1000000` interrupted after 2 s (exit 130 within 1 s, with a report, RSS bounded).
# Usage: scripts/bench-memory.sh [path/to/lbrprobe]   (default: a release build, built if missing)
#   env: LARGE=1 (N = 20000 / 200000, and the KCIDB and --json files at scale), N1=, N2=, FORMATS="text tap ..."
#        (text summary tap json json-file junit timeline write-expect all), SKIP_SIGINT=1
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq time; }
BIN=${1:-.build/release/lbrprobe}
[ -x "$BIN" ] || swift build -c release --product lbrprobe >/dev/null
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# Peak RSS per output format, at a small and a large --repeat, and their ratio: every writer streams (nothing
# per run is built while a report is written), so what grows with N is only the run's coded results (~8 bytes
# per run, ScenarioResults). LARGE=1 measures N = 20000 and 200000 (2 M runs of the default set, ~20 CPU-minutes
# per process), otherwise N = 10 and 2000.
if [ "${LARGE:-0}" = 1 ]; then N1=${N1:-20000}; N2=${N2:-200000}; else N1=${N1:-10}; N2=${N2:-2000}; fi
FORMATS=${FORMATS:-"text summary tap json json-file junit timeline write-expect all"}
rss() { # N format -> peak RSS in KB
    local args=()
    case $2 in
        text) args=(--format text) ;;
        summary) args=(--format text --summary) ;;
        tap) args=(--format tap) ;;
        json) args=(--format json) ;;
        json-file) args=(--json "$tmp/r.json") ;;
        junit) args=(--junit "$tmp/j.xml") ;;
        timeline) args=(--timeline "$tmp/t.svg") ;;
        write-expect) args=(--write-expect "$tmp/w.expect") ;;
        all) args=(--format tap --json "$tmp/r.json" --junit "$tmp/j.xml" --timeline "$tmp/t.svg" --write-expect "$tmp/w.expect") ;;
    esac
    /usr/bin/time -f "%M" -o "$tmp/time" "$BIN" run --backend sim --repeat "$1" -q "${args[@]}" >"$tmp/out" 2>/dev/null || true
    rm -f "$tmp/r.json" "$tmp/j.xml" "$tmp/t.svg" "$tmp/w.expect"
    tail -1 "$tmp/time"
}
limit=$([ "${LARGE:-0}" = 1 ] && echo 61440 || echo 40960)
echo "peak RSS of lbrprobe run --backend sim --repeat N (KB), N = $N1 and $N2 (default set, $(("$N2" * 10)) runs at $N2):"
for fmt in $FORMATS; do
    a=$(rss "$N1" "$fmt"); b=$(rss "$N2" "$fmt")
    awk -v f="$fmt" -v a="$a" -v b="$b" -v n1="$N1" -v n2="$N2" -v lim="$limit" 'BEGIN {
        printf "  %-13s N=%-7d %7d KB   N=%-7d %7d KB   ratio %.3f   <= %d MB: %s\n", f, n1, a, n2, b, b / a, lim / 1024, (b <= lim ? "yes" : "NO") }'
done

# --repeat 1000000, SIGINT after 2 s (text report on stdout + --junit; then the same with --format json).
for fmt in $([ "${SKIP_SIGINT:-0}" = 1 ] || echo text json); do
    /usr/bin/time -f "%M" -o "$tmp/time1m" "$BIN" run --backend sim --repeat 1000000 --format $fmt \
        --junit "$tmp/j.xml" >"$tmp/1m.out" 2>"$tmp/1m.err" &
    tpid=$!
    sleep 2
    # The run is /usr/bin/time's only child, whatever the binary is called.
    pid=$(pgrep -P "$tpid" | head -1)
    [ -n "$pid" ] || { echo "bench-memory: the run under /usr/bin/time (pid $tpid) has no child process" >&2; kill "$tpid"; exit 1; }
    t0=$(date +%s.%N)
    kill -INT "$pid"
    set +e; wait "$tpid"; code=$?; set -e
    t1=$(date +%s.%N)
    echo "--repeat 1000000 --format $fmt --junit, SIGINT after 2 s: exit $code," \
         "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') s from signal to exit, peak RSS $(tail -1 "$tmp/time1m") KB"
    echo "  stderr: $(grep 'not started' "$tmp/1m.err")"
    echo "  report: $(tail -1 "$tmp/1m.out" | cut -c1-100); junit: $(grep -c '<testcase' "$tmp/j.xml") testcases"
done

# The KCIDB file at scale (LARGE=1): 100 000 test objects (~1 GB of pretty JSON) under 60 MB peak RSS (the
# --json document of 2 M runs is the json-file row above).
if [ "${LARGE:-0}" = 1 ]; then
    /usr/bin/time -f "%M %e" -o "$tmp/tk" "$BIN" run --backend sim --repeat 10000 --kcidb "$tmp/k.json" -q >/dev/null 2>&1 || true
    echo "--repeat 10000 --kcidb FILE: peak RSS $(cut -d' ' -f1 "$tmp/tk") KB in $(cut -d' ' -f2 "$tmp/tk") s ($(wc -c <"$tmp/k.json") bytes)"
    awk -v k="$(cut -d' ' -f1 "$tmp/tk")" 'BEGIN { printf "  <= 60 MB: %s\n", (k <= 61440 ? "yes" : "NO") }'
    rm -f "$tmp/k.json"
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
