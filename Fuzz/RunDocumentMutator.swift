// Structure-aware mutator for the JSON targets (scripts/fuzz.sh rundoc-struct, capture-struct): libFuzzer's
// custom-mutator entry point over JsonValueMutator (Tests/LbrTestSupport/JsonValueMutator.swift, compiled in:
// value-level mutations of real documents — extreme and NaN-like numbers, wrong types, unknown enum strings,
// deep nesting, control characters, CRLF / CR / BOM). One input in eight, and every input that is not JSON,
// gets libFuzzer's byte mutations instead.

import LbrCore

@_silgen_name("LLVMFuzzerMutate")
func LLVMFuzzerMutate(_ data: UnsafeMutablePointer<UInt8>, _ size: Int, _ maxSize: Int) -> Int

@_cdecl("LLVMFuzzerCustomMutator")
public func lbrMutateRunDocument(_ data: UnsafeMutablePointer<UInt8>, _ size: Int, _ maxSize: Int, _ seed: UInt32) -> Int {
    var rng = SplitMix64(state: UInt64(seed) | 1 << 40)
    // SAFETY: libFuzzer passes `size` initialised bytes at `data` (room for `maxSize`), valid for this call.
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard rng.below(8) != 0, let out = JsonValueMutator.mutate(bytes, &rng, limit: maxSize), out.count <= maxSize else {
        return LLVMFuzzerMutate(data, size, maxSize)
    }
    // SAFETY: `out.count <= maxSize` was checked above; `out` is alive for the duration of the copy.
    out.withUnsafeBufferPointer { src in
        if let base = src.baseAddress { data.update(from: base, count: out.count) }
    }
    return out.count
}
