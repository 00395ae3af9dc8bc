#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer through `swiftc -sanitize=fuzzer,address`) of the parsers that read
# untrusted bytes:
#   expect        the --expect parser          (Fuzz/FuzzExpect.swift: LbrCore + LbrScenarios)
#   rundoc        the three run-document readers: timeline, contract --from, compare
#                                              (Fuzz/FuzzRunDocument.swift: LbrCore + LbrScenarios + LbrDocument + LbrReport)
#   rundoc-struct the same target with a structure-aware mutator over real run documents
#                 (Fuzz/RunDocumentMutator.swift: one JSON leaf set to an extreme number or a hostile string)
#   mailbox       the guest mailbox decoder    (Fuzz/FuzzMailbox.swift: LbrCore)
# Seeds include the crafted documents of scripts/adversarial.sh (huge durations, 2^62 timeline spans,
# control characters, /dev/zero bytes) and CRLF / CR / BOM expectation files.
# Each target links its modules built with coverage instrumentation (no SwiftPM: the fuzzer runtime provides
# main), seeded from real inputs (expectations/*.expect, a rendered run document, encoded mailbox
# pages) and run for RUNS inputs (default 1,000,000). A crash or a violated invariant stops the run with
# libFuzzer's report and the crashing input in $OUT; the script then exits non-zero.
# Usage: scripts/fuzz.sh [expect|rundoc|rundoc-struct|mailbox ...]
#   env: RUNS=1000000 OUT=.build/fuzz MAX_TIME=seconds per target (libFuzzer -max_total_time; stops earlier)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-1000000}
OUT=${OUT:-.build/fuzz}
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(expect rundoc rundoc-struct mailbox)
mkdir -p "$OUT"

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
    local m=$1
    # Up to date when no source of the module is newer than its library (an edited file leaves its
    # directory's mtime alone, so the directory is not the test).
    [ -f "$OUT/mods/$m.swiftmodule" ] && [ -f "$OUT/lib$m.a" ] \
        && [ -z "$(find "Sources/$m" -newer "$OUT/lib$m.a" -print -quit)" ] && return 0
    mkdir -p "$OUT/mods"
    echo "compiling $m"
    swiftc -O -g -parse-as-library -sanitize=fuzzer,address -module-name "$m" -emit-library -static \
        -emit-module -emit-module-path "$OUT/mods/$m.swiftmodule" -I "$OUT/mods" -I "$SHIMS" \
        Sources/"$m"/*.swift -o "$OUT/lib$m.a" 2> "$OUT/build-$m.log" || { cat "$OUT/build-$m.log"; exit 1; }
}

build() { # name "main files" modules...
    local name=$1 main=$2; shift 2
    local bin="$OUT/fuzz-$name"
    for m in "$@"; do module "$m"; done
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
                if [ -x .build/debug/lbrprobe ]; then
                    .build/debug/lbrprobe run guest-baseline host-first --backend sim --format json > "$c/run.json" || true
                    .build/debug/lbrprobe run guest-baseline --backend sim --repeat 3 --json "$c/run-compact.json" > /dev/null || true
                fi
                printf '{"schema":"lbrprobe.run/3"}' > "$c/seed-min"
                head -c 64 /dev/zero > "$c/seed-zero"
                if [ -s "$c/run.json" ]; then python3 - "$c" <<'PY'
import json, sys
c = sys.argv[1]; doc = json.load(open(f"{c}/run.json"))
def variant(name, f):
    d = json.loads(json.dumps(doc)); f(d); json.dump(d, open(f"{c}/crafted-{name}.json", "w"))
variant("duration-1e19", lambda d: d.__setitem__("duration_ms", 1e19))
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

status=0
for t in "${targets[@]}"; do
    case $t in
        expect)  build expect Fuzz/FuzzExpect.swift LbrCore LbrScenarios ;;
        rundoc)  histogram; build rundoc Fuzz/FuzzRunDocument.swift LbrCore LbrScenarios LbrDocument LbrReport ;;
        rundoc-struct) histogram; build rundoc-struct "Fuzz/FuzzRunDocument.swift Fuzz/RunDocumentMutator.swift" LbrCore LbrScenarios LbrDocument LbrReport ;;
        mailbox) build mailbox Fuzz/FuzzMailbox.swift LbrCore ;;
        *) echo "unknown target $t (expect, rundoc, rundoc-struct, mailbox)" >&2; exit 64 ;;
    esac
    corpus=$(seed "$t")
    echo "fuzzing $t: $RUNS inputs"
    maxlen=4096; [ "$t" = rundoc-struct ] && maxlen=262144
    if ! "$OUT/fuzz-$t" -runs="$RUNS" ${MAX_TIME:+-max_total_time=$MAX_TIME} -max_len=$maxlen -timeout=10 -rss_limit_mb=2048 \
            -artifact_prefix="$OUT/crash-$t-" -print_final_stats=1 "$corpus" > "$OUT/fuzz-$t.log" 2>&1; then
        echo "FAIL: $t (see $OUT/fuzz-$t.log)"; tail -30 "$OUT/fuzz-$t.log"; status=1; continue
    fi
    grep -E "Done [0-9]+ runs|stat::number_of_executed_units|cov:" "$OUT/fuzz-$t.log" | tail -2
done
exit $status
