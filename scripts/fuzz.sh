#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer through `swiftc -sanitize=fuzzer,address`) of the parsers that read
# untrusted bytes:
#   expect        the --expect parser          (Fuzz/FuzzExpect.swift: LbrCore + LbrScenarios)
#   rundoc        the three run-document readers: timeline, contract --from, compare
#                                              (Fuzz/FuzzRunDocument.swift: LbrCore + LbrScenarios + LbrDocument + LbrReport)
#   rundoc-struct the same target with a structure-aware mutator over real run documents
#                 (Fuzz/RunDocumentMutator.swift: value-level mutations of the document's own JSON tree, linked
#                 uninstrumented so that only the readers' branches count as coverage)
#   capture       the capture reader of `judge`: decode, check, judge again, render text/TAP/JSON
#                 (Fuzz/FuzzCapture.swift: LbrCore + LbrScenarios + LbrDocument + LbrReport)
#   capture-struct the same target with the structure-aware mutator over real captures
#   mailbox       the guest mailbox decoder    (Fuzz/FuzzMailbox.swift: LbrCore)
# The structure-aware mutator (Fuzz/RunDocumentMutator.swift over Tests/LbrTestSupport/JsonValueMutator.swift,
# which the unit suite's seeded runs share) works at the value level: extreme, huge, negative
# and NaN-like numbers, wrong types, unknown enum strings, deep nesting, control characters, then CRLF / CR / BOM
# on the bytes. Seeds include the crafted documents of docs/robustness.md and scripts/adversarial.sh
# (duration_ms = 1e19, 1e300 durations, dur_ns = 2^62, t_ns = 1e15, control characters, /dev/zero bytes up to the
# input cap), crafted captures (UInt64.max durations, phases ending before they start, 2^63 times) and CRLF / CR /
# BOM expectation files.
# After each campaign the corpus is replayed through the built lbrprobe (REPLAY files, default 300: `timeline`,
# `compare`, `contract --from` or `judge`, `run --expect`), each under a 20 s and 2 GiB limit: every input must
# end in exit 0/1 or 65 with a one-line message, never a signal, a timeout or another code.
# Each target links its modules built with coverage instrumentation (no SwiftPM: the fuzzer runtime provides
# main), seeded from real inputs (expectations/*.expect, a rendered run document, encoded mailbox
# pages) and run for RUNS inputs (default 1,000,000). A crash or a violated invariant stops the run with
# libFuzzer's report and the crashing input in $OUT; the script then exits non-zero.
# Usage: scripts/fuzz.sh [expect|rundoc|rundoc-struct|capture|capture-struct|mailbox ...]
#   env: RUNS=1000000 OUT=.build/fuzz MAX_TIME=seconds per target (libFuzzer -max_total_time; stops earlier)
#        JOBS=N: N fuzzing processes on the target's one corpus, RUNS/N inputs each (libFuzzer -jobs/-workers)
#        ASAN_OPTIONS (default malloc_context_size=8)
#        LBRPROBE=path of the lbrprobe that makes seeds and replays the corpus (default: .build/release, else debug)
#        TIMEOUT=10 wall seconds per input (an instrumented build at nice 10 on a busy 2-core host needs ~60-120
#        for whole run documents; the replay through the release CLI keeps its own 20 s bound)
# Prints the inputs executed and, of those, the new mutations (less each process's first pass over the corpus).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-1000000}
OUT=${OUT:-.build/fuzz}
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(expect rundoc rundoc-struct capture capture-struct mailbox)
REPLAY=${REPLAY:-300}
# Allocation stacks 8 frames deep instead of ASan's 30: Swift's stacks are deep and every allocation records one.
export ASAN_OPTIONS=${ASAN_OPTIONS:-malloc_context_size=8}
TIMEOUT=${TIMEOUT:-10}   # wall seconds per input (libFuzzer's alarm): raise it on a loaded machine
LBRPROBE=${LBRPROBE:-}
if [ -z "$LBRPROBE" ]; then
    for b in .build/release/lbrprobe .build/debug/lbrprobe; do [ -x "$b" ] && { LBRPROBE=$b; break; }; done
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)   # absolute: the multi-process runs work in a folder of their own

# Third-party modules LbrReport imports (Histogram, and swift-numerics under it), from SwiftPM's checkouts
# (run `swift build` once): compiled once, without instrumentation (they are not what is fuzzed).
CHK=.build/checkouts
SHIMS=$CHK/swift-numerics/Sources/_NumericsShims/include
dep() { # name sources...
    local m=$1; shift
    [ -f "$OUT/mods/$m.swiftmodule" ] && [ -f "$OUT/lib$m.a" ] && return 0
    mkdir -p "$OUT/mods"
    echo "compiling $m (dependency)"
    swiftc -O -parse-as-library -module-name "$m" -emit-library -static -emit-module \
        -emit-module-path "$OUT/mods/$m.swiftmodule" -I "$OUT/mods" -I "$SHIMS" "$@" -o "$OUT/lib$m.a" \
        2> "$OUT/build-$m.log" || { cat "$OUT/build-$m.log"; exit 1; }
}
histogram() {
    [ -d "$CHK/hdrhistogram-swift" ] || { echo "fuzz.sh: run 'swift build' first (package checkouts)" >&2; exit 2; }
    dep RealModule "$CHK"/swift-numerics/Sources/RealModule/*.swift
    dep ComplexModule "$CHK"/swift-numerics/Sources/ComplexModule/*.swift
    dep Numerics "$CHK"/swift-numerics/Sources/Numerics/*.swift
    dep Histogram "$CHK"/hdrhistogram-swift/Sources/Histogram/*.swift
}

# Each module is compiled once with coverage + ASan instrumentation into a static library and its swiftmodule
# (in dependency order), then a target links the ones it imports; the fuzzer runtime provides main.
module() { # name deps...
    local m=$1; shift
    # Up to date when no source of the module is newer than its library (an edited file leaves its
    # directory's mtime alone, so the directory is not the test), nor the library of a module it is built
    # against (a changed struct layout there must not meet code compiled for the old one).
    local stale=""
    for d in "$@"; do [ "$OUT/lib$d.a" -nt "$OUT/lib$m.a" ] && stale=1; done
    [ -z "$stale" ] && [ -f "$OUT/mods/$m.swiftmodule" ] && [ -f "$OUT/lib$m.a" ] \
        && [ -z "$(find "Sources/$m" -newer "$OUT/lib$m.a" -print -quit)" ] && return 0
    mkdir -p "$OUT/mods"
    echo "compiling $m"
    swiftc -O -g -parse-as-library -sanitize=fuzzer,address -module-name "$m" -emit-library -static \
        -emit-module -emit-module-path "$OUT/mods/$m.swiftmodule" -I "$OUT/mods" -I "$SHIMS" \
        Sources/"$m"/*.swift -o "$OUT/lib$m.a" 2> "$OUT/build-$m.log" || { cat "$OUT/build-$m.log"; exit 1; }
}

# The structure-aware mutator (libFuzzer's LLVMFuzzerCustomMutator and the JSON tree it works on) is compiled
# without coverage or ASan instrumentation into one object file linked whole (a weak symbol would not pull it
# out of an archive): it is the fuzzer's tool, not what is fuzzed, so its branches must not count as new
# coverage, and uninstrumented it costs a fraction of the instrumented version.
mutator() { # -> $OUT/mutator.o
    local o="$OUT/mutator.o" srcs=(Fuzz/RunDocumentMutator.swift Tests/LbrTestSupport/JsonValueMutator.swift)
    if [ ! -f "$o" ] || [ "$OUT/libLbrCore.a" -nt "$o" ] || [ -n "$(find "${srcs[@]}" -newer "$o" -print -quit)" ]; then
        echo "compiling the structure-aware mutator (uninstrumented)"
        swiftc -O -wmo -parse-as-library -module-name FuzzMutator -c -I "$OUT/mods" "${srcs[@]}" -o "$o" \
            2> "$OUT/build-mutator.log" || { cat "$OUT/build-mutator.log"; exit 1; }
    fi
}

build() { # name "main files" modules...
    local name=$1 main=$2; shift 2
    local bin="$OUT/fuzz-$name"
    local before=()
    for m in "$@"; do module "$m" "${before[@]}"; before+=("$m"); done
    case $name in *-struct) mutator; main="$main $OUT/mutator.o" ;; esac
    echo "building $bin ($*)"
    local libs=(); for m in "$@"; do libs=("$OUT/lib$m.a" "${libs[@]}"); done  # dependents first
    case " $* " in *" LbrReport "*)
        for m in RealModule ComplexModule Numerics Histogram; do libs=("${libs[@]}" "$OUT/lib$m.a"); done ;; esac
    swiftc -O -g -parse-as-library -sanitize=fuzzer,address -module-name "Fuzz${name//-/_}" -I "$OUT/mods" -I "$SHIMS" \
        $main "${libs[@]}" -o "$bin" 2> "$OUT/build-$name.log" || { cat "$OUT/build-$name.log"; exit 1; }
}

seed() { # name -> corpus dir
    local c="$OUT/corpus-$1"
    mkdir -p "$c"
    case $1 in
        expect) cp expectations/*.expect "$c/" 2>/dev/null || true
                printf 'guest-baseline vlbr-active|recovered(*)+*\n# c\nhost-first@mainline *\n' > "$c/seed-1"
                printf 'guest-baseline vlbr-active\r\nhost-first *\r\n' > "$c/seed-crlf"
                printf 'guest-baseline vlbr-active\rhost-first *\r' > "$c/seed-cr"
                printf '\xef\xbb\xbfguest-baseline vlbr-active\n' > "$c/seed-bom" ;;
        rundoc|rundoc-struct)
                if [ -n "$LBRPROBE" ]; then
                    "$LBRPROBE" run guest-baseline host-first --backend sim --format json > "$c/run.json" || true
                    "$LBRPROBE" run guest-baseline --backend sim --repeat 3 --json "$c/run-compact.json" > /dev/null || true
                fi
                printf '{"schema":"lbrprobe.run/3"}' > "$c/seed-min"
                head -c 64 /dev/zero > "$c/seed-zero"
                head -c 4096 /dev/zero > "$c/seed-zero-max"   # /dev/zero up to the input cap
                printf '\xef\xbb\xbf{"schema":"lbrprobe.run/3"}\r\n' > "$c/seed-bom-crlf"
                if [ -s "$c/run.json" ]; then python3 - "$c" <<'PY'
import json, sys
c = sys.argv[1]; doc = json.load(open(f"{c}/run.json"))
def variant(name, f):
    d = json.loads(json.dumps(doc)); f(d); json.dump(d, open(f"{c}/crafted-{name}.json", "w"))
variant("duration-1e19", lambda d: d.__setitem__("duration_ms", 1e19))
variant("duration-1e300", lambda d: d.__setitem__("duration_ms", 1e300))
variant("result-duration-1e300", lambda d: d["results"][0].__setitem__("duration_ms", 1e300))
variant("phase-duration-neg-1e300", lambda d: d["results"][0]["phases"][0].__setitem__("duration_ms", -1e300) if d["results"][0].get("phases") else None)
def tl(field, v):
    def f(d):
        for r in d["results"]:
            if r.get("timeline"): r["timeline"][0][field] = v; return
    return f
variant("dur-ns-2-62", tl("dur_ns", 2**62))
variant("t-ns-1e15", tl("t_ns", 10**15))
variant("hostname-esc", lambda d: d["host"].__setitem__("hostname", "a\u001b[2J\u0007"))
variant("repeat-max", lambda d: d["results"][0].__setitem__("repeat", 2**63 - 1))
PY
                fi ;;
        capture|capture-struct)
                cp Tests/LbrScenariosTests/Captures/*.capture.json "$c/" 2>/dev/null || true
                if [ -n "$LBRPROBE" ]; then
                    "$LBRPROBE" run guest-baseline host-first recovery-paths --backend sim --capture "$c/sim.capture.json" -q > /dev/null || true
                fi
                printf '{"schema":"lbrprobe.capture/1"}' > "$c/seed-min"
                head -c 4096 /dev/zero > "$c/seed-zero-max"
                if [ -s "$c/sim.capture.json" ]; then python3 - "$c" <<'PY'
import json, sys
c = sys.argv[1]; cap = json.load(open(f"{c}/sim.capture.json"))
def variant(name, f):
    d = json.loads(json.dumps(cap)); f(d); json.dump(d, open(f"{c}/crafted-{name}.json", "w"))
variant("duration-max", lambda d: d["runs"][0].__setitem__("durationNs", 2**64 - 1))
variant("start-max", lambda d: d["runs"][0].__setitem__("startUnixNs", 2**64 - 1))
variant("repeats-2-62", lambda d: d["runs"][0].update(repeats=2**62, repeatIndex=2**62 - 1))
def rec(f):
    def g(d):
        for r in d["runs"]:
            if r["records"]: f(r["records"][0]); return
    return g
variant("phase-backwards", rec(lambda p: p.update(startNs=2**63, endNs=1)))
variant("observation-time-2-63", rec(lambda p: [o.__setitem__("timeNs", 2**63) for o in p["observations"]]))
variant("scenario-escape", lambda d: d["runs"][0].__setitem__("scenario", "host-first\n\u001b[2J"))
PY
                fi ;;
        mailbox) # request header + a plausible page: seq, status ok, value count, values.
                python3 - "$c" <<'PY'
import struct, sys, os
d = sys.argv[1]
for op, n in [(1, 1), (5, 33), (2, 1), (0, 0)]:
    hdr = struct.pack('<IIII', op, 0, 16, 7)
    page = struct.pack('<IIQ', 7, 1, n) + b''.join(struct.pack('<Q', i) for i in range(n))
    open(os.path.join(d, f'seed-{op}'), 'wb').write(hdr + page)
PY
                ;;
    esac
    echo "$c"
}

# What the fuzzing processes (one log each) executed: every process first runs the whole corpus once (up to
# libFuzzer's INITED line), so new mutations are the executed inputs less those passes.
executed() { # logs...
    awk '/stat::number_of_executed_units/ { n += $2; j++ }
         /INITED/ && !seen[FILENAME]++ { sub(/^#/, "", $1); i += $1 }
         END { printf "executed %d inputs in %d process(es): %d in the initial corpus pass, %d new mutations\n", n, j, i, n - i }' "$@"
    grep -h "cov:" "$@" | tail -n 1
}

# The corpus through the real command line: exit 0/1 or 65 and a one-line message, within 20 s and 2 GiB.
replay() { # target corpus
    [ -n "$LBRPROBE" ] && [ "$REPLAY" -gt 0 ] || return 0
    [ "$1" = mailbox ] && return 0
    local t=$1 corpus=$2 n=0 bad=0 f code lines
    local err="$OUT/replay-$t.err"
    for f in $(ls "$corpus" | shuf -n "$REPLAY" --random-source=<(yes)); do
        f="$corpus/$f"; n=$((n + 1))
        case $t in
            expect) cmd=("$LBRPROBE" run guest-baseline --backend sim --expect "$f" --format tap) ;;
            capture*) cmd=("$LBRPROBE" judge "$f" --format tap) ;;
            *) case $((n % 3)) in
                   0) cmd=("$LBRPROBE" timeline "$f" -o /dev/null) ;;
                   1) cmd=("$LBRPROBE" compare "$f" "$f") ;;
                   *) cmd=("$LBRPROBE" contract --from "$f") ;;
               esac ;;
        esac
        set +e
        (ulimit -v 2097152; timeout 20 "${cmd[@]}" > /dev/null 2> "$err")
        code=$?
        set -e
        lines=$(grep -c '' "$err" || true)
        case $code in
            # judge: 4 when no captured run could be judged (every one skipped or none), as run's "nothing ran".
            0|1|4|65) [ "$code" = 4 ] && [ "${t#capture}" = "$t" ] && { echo "replay $t: ${cmd[*]}: exit 4"; bad=$((bad + 1)); }
                    [ "$code" = 65 ] && [ "$lines" != 1 ] && { echo "replay $t: ${cmd[*]}: exit 65 with $lines lines on stderr"; bad=$((bad + 1)); } ;;
            *) echo "replay $t: ${cmd[*]}: exit $code"; head -3 "$err"; bad=$((bad + 1)) ;;
        esac
    done
    echo "replayed $n corpus inputs of $t through $LBRPROBE: $bad bad"
    [ "$bad" = 0 ]
}

status=0
for t in "${targets[@]}"; do
    case $t in
        expect)  build expect Fuzz/FuzzExpect.swift LbrCore LbrScenarios ;;
        rundoc)  histogram; build rundoc Fuzz/FuzzRunDocument.swift LbrCore LbrScenarios LbrDocument LbrReport ;;
        rundoc-struct) histogram; build rundoc-struct Fuzz/FuzzRunDocument.swift LbrCore LbrScenarios LbrDocument LbrReport ;;
        capture) histogram; build capture Fuzz/FuzzCapture.swift LbrCore LbrScenarios LbrDocument LbrReport ;;
        capture-struct) histogram; build capture-struct Fuzz/FuzzCapture.swift LbrCore LbrScenarios LbrDocument LbrReport ;;
        mailbox) build mailbox Fuzz/FuzzMailbox.swift LbrCore ;;
        *) echo "unknown target $t (expect, rundoc, rundoc-struct, capture, capture-struct, mailbox)" >&2; exit 64 ;;
    esac
    corpus=$(seed "$t")
    echo "fuzzing $t: $RUNS inputs${JOBS:+ in $JOBS processes}"
    maxlen=4096; case $t in *-struct) maxlen=262144 ;; esac
    flags=(${MAX_TIME:+-max_total_time=$MAX_TIME} -max_len=$maxlen -timeout="$TIMEOUT" -rss_limit_mb=2048
           -artifact_prefix="$OUT/crash-$t-" -print_final_stats=1)
    if [ "${JOBS:-1}" -gt 1 ]; then
        # JOBS processes on one shared corpus (libFuzzer -jobs/-workers; each runs RUNS/JOBS inputs and picks up
        # what the others add); each writes fuzz-N.log in its own folder. The executed inputs are their sum.
        jobdir="$OUT/jobs-$t"; rm -rf "$jobdir"; mkdir -p "$jobdir"
        if ! (cd "$jobdir" && "$OUT/fuzz-$t" -jobs="$JOBS" -workers="$JOBS" -runs=$(( (RUNS + JOBS - 1) / JOBS )) \
                "${flags[@]}" "$corpus") > "$OUT/fuzz-$t.log" 2>&1; then   # non-zero when any process failed
            echo "FAIL: $t (see $jobdir/fuzz-*.log)"; tail -n 30 "$jobdir"/fuzz-*.log; status=1; continue
        fi
        executed "$jobdir"/fuzz-*.log   # the parent's log repeats these
    else
        if ! "$OUT/fuzz-$t" -runs="$RUNS" "${flags[@]}" "$corpus" > "$OUT/fuzz-$t.log" 2>&1; then
            echo "FAIL: $t (see $OUT/fuzz-$t.log)"; tail -30 "$OUT/fuzz-$t.log"; status=1; continue
        fi
        executed "$OUT/fuzz-$t.log"
    fi
    replay "$t" "$corpus" || status=1
done
exit $status
