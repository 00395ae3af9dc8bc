// Structure-aware mutator for the run-document target (scripts/fuzz.sh rundoc-struct): parses the input as
// JSON and changes one leaf of a real document — a number to an extreme (0, -1, 2^31, 2^53, 2^62, 2^63-1,
// 2^64-1, 1e19, 1e308, -1e308, 0.5), a string to one with control characters or 64 KiB, a key removed, an
// array element duplicated — so the fuzzer spends its inputs on documents that decode and reach the
// renderers. Inputs that are not JSON get libFuzzer's byte mutations.

import Foundation
import LbrCore

@_silgen_name("LLVMFuzzerMutate")
func LLVMFuzzerMutate(_ data: UnsafeMutablePointer<UInt8>, _ size: Int, _ maxSize: Int) -> Int

let extremeNumbers: [Any] = [0, -1, 2_147_483_648, 9_007_199_254_740_993 as Int64, 4_611_686_018_427_387_904 as Int64,
                             Int64.max, UInt64.max, 1e19, 1e308, -1e308, 0.5, -0.0]
let hostileStrings: [String] = ["", "\u{1b}]0;x\u{07}\u{1b}[2J", "a\nb\r\nc", "\u{0}", String(repeating: "x", count: 65_536),
                                "lbrprobe.run/1", "SIGQUIT", "<&>\"'", "|*`_::", "\u{202e}evil"]

func mutateJSON(_ v: Any, _ rng: inout SplitMix64, depth: Int) -> Any {
    if var d = v as? [String: Any], !d.isEmpty {
        let keys = Array(d.keys).sorted()
        let k = keys[rng.below(keys.count)]
        if rng.below(12) == 0 { d.removeValue(forKey: k); return d }
        d[k] = mutateJSON(d[k]!, &rng, depth: depth + 1)
        return d
    }
    if var a = v as? [Any], !a.isEmpty {
        let i = rng.below(a.count)
        if rng.below(10) == 0 { a.insert(a[i], at: i); return a }
        a[i] = mutateJSON(a[i], &rng, depth: depth + 1)
        return a
    }
    if v is NSNumber, !(v is Bool) || rng.below(2) == 0 { return extremeNumbers[rng.below(extremeNumbers.count)] }
    if v is String { return hostileStrings[rng.below(hostileStrings.count)] }
    return rng.below(2) == 0 ? NSNull() : extremeNumbers[rng.below(extremeNumbers.count)]
}

@_cdecl("LLVMFuzzerCustomMutator")
public func lbrMutateRunDocument(_ data: UnsafeMutablePointer<UInt8>, _ size: Int, _ maxSize: Int, _ seed: UInt32) -> Int {
    var rng = SplitMix64(state: UInt64(seed) | 1 << 40)
    let bytes = Data(bytes: data, count: size)
    guard rng.below(8) != 0, let top = try? JSONSerialization.jsonObject(with: bytes, options: [.fragmentsAllowed]) else {
        return LLVMFuzzerMutate(data, size, maxSize)
    }
    var v = top
    for _ in 0...rng.below(3) { v = mutateJSON(v, &rng, depth: 0) }
    guard let out = try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed]), out.count <= maxSize else {
        return LLVMFuzzerMutate(data, size, maxSize)
    }
    out.copyBytes(to: data, count: out.count)
    return out.count
}
