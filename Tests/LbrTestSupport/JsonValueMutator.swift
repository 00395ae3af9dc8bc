// Value-level JSON mutations of real documents (run documents, captures), shared by the coverage-guided
// structure-aware fuzz targets (Fuzz/RunDocumentMutator.swift: scripts/fuzz.sh rundoc-struct, capture-struct,
// which compile this file in) and the seeded runs of the unit suite (FuzzSeededTests). One mutation:
//   - a number set to an extreme (0, -1, 2^31, 2^53+1, 2^62, 2^63-1, 2^64-1, 1e15, 1e19, 1e300, -1e300, 1e308,
//     0.5, -0.0, 5e-324) or, as a raw token, to something no JSON encoder writes (1e999, -1e999, NaN, Infinity,
//     20-digit integers, 1e-400, -9223372036854775809, a lone surrogate escape);
//   - a string set to one with control characters, 64 KiB, an unknown enum word, a neighbouring schema id;
//   - a value replaced by one of another type (string <-> number, bool, null, [], {}, [v], {"_0": v});
//   - a value nested 100 levels deep, or 600 as a raw token (the readers refuse more than 512);
//   - a key removed or an unknown one added, an array element duplicated, an array emptied or grown;
//   - then, on the bytes: a UTF-8 BOM in front, the pretty-printed form with CRLF or CR line ends, a NUL or
//     garbage after the document, a second "schema" key.
// Self-contained (Foundation + LbrCore's SplitMix64): the fuzz build compiles it without SwiftPM.

import Foundation
import LbrCore

public enum JsonValueMutator {
    /// One to three value-level mutations of the JSON in `bytes` (a leading BOM is looked through), encoded;
    /// nil when `bytes` is not JSON.
    public static func mutate(_ bytes: [UInt8], _ rng: inout SplitMix64) -> [UInt8]? {
        var b = bytes
        if b.starts(with: [0xef, 0xbb, 0xbf]) { b.removeFirst(3) }
        guard let top = try? JSONSerialization.jsonObject(with: Data(b), options: [.fragmentsAllowed]) else { return nil }
        var v = top
        for _ in 0...rng.below(3) { v = mutateJSON(v, &rng, depth: 0) }
        return finish(v, &rng)
    }

    static var extremeNumbers: [Any] { [0, -1, 2_147_483_648, 9_007_199_254_740_993 as Int64, 4_611_686_018_427_387_904 as Int64,
                                 Int64.max, UInt64.max, 1e15, 1e19, 1e300, -1e300, 1e308, -1e308, 0.5, -0.0, 5e-324] }
    /// Tokens spliced into the encoded text in place of a marker string (no JSON encoder writes them).
    static let rawTokens: [String] = ["1e999", "-1e999", "NaN", "Infinity", "-Infinity", "184467440737095516160", "1e-400",
                               "-9223372036854775809", "\"\\ud800\"", "\"\\u0000\"", "01", "1.", "-",
                                      String(repeating: "[", count: 600) + "0" + String(repeating: "]", count: 600)]
    static let hostileStrings: [String] = ["", "\u{1b}]0;x\u{07}\u{1b}[2J", "a\nb\r\nc", "\u{0}", String(repeating: "x", count: 65_536),
                                    "lbrprobe.run/1", "lbrprobe.run/4", "lbrprobe.capture/2", "SIGQUIT", "<&>\"'", "|*`_::",
                                    "\u{202e}evil", "\u{feff}", "bogus", "ACTIVE", "pass ", "model:", "model:\u{0}",
                                    "hardware\r", "vlbr-active\n"]
    static let rawMarker = "\u{1}raw:"

    static func marker(_ rng: inout SplitMix64) -> String { rawMarker + String(rng.below(rawTokens.count)) }

    static func anotherType(_ v: Any, _ rng: inout SplitMix64) -> Any {
        switch rng.below(8) {
        case 0: return "0"
        case 1: return 1
        case 2: return true
        case 3: return NSNull()
        case 4: return [Any]()
        case 5: return [String: Any]()
        case 6: return [v]
        default: return ["_0": v]
        }
    }

    static func nested(_ v: Any, depth: Int) -> Any {
        var out = v
        for _ in 0..<depth { out = [out] }
        return out
    }

    static func mutateJSON(_ v: Any, _ rng: inout SplitMix64, depth: Int) -> Any {
        // Now and then, whatever the value: another type, deep nesting, a raw token.
        switch rng.below(24) {
        case 0: return anotherType(v, &rng)
        case 1 where depth > 0: return nested(v, depth: 100)   // 600 levels: a raw token
        case 2: return marker(&rng)
        default: break
        }
        if var d = v as? [String: Any], !d.isEmpty {
            let keys = Array(d.keys).sorted()
            let k = keys[rng.below(keys.count)]
            switch rng.below(16) {
            case 0: d.removeValue(forKey: k); return d
            case 1: d["unknown_\(rng.below(4))"] = hostileStrings[rng.below(hostileStrings.count)]; return d
            default: d[k] = mutateJSON(d[k]!, &rng, depth: depth + 1); return d
            }
        }
        if var a = v as? [Any], !a.isEmpty {
            let i = rng.below(a.count)
            switch rng.below(14) {
            case 0: a.insert(a[i], at: i); return a
            case 1: return [Any]()
            case 2: return a + Array(repeating: a[i], count: 1 + rng.below(64))
            default: a[i] = mutateJSON(a[i], &rng, depth: depth + 1); return a
            }
        }
        if v is NSNumber, !(v is Bool) || rng.below(2) == 0 {
            return rng.below(4) == 0 ? marker(&rng) : extremeNumbers[rng.below(extremeNumbers.count)]
        }
        if let s = v as? String {
            switch rng.below(4) {
            case 0: return s.uppercased()
            case 1: return s + hostileStrings[rng.below(hostileStrings.count)]
            default: return hostileStrings[rng.below(hostileStrings.count)]
            }
        }
        return rng.below(2) == 0 ? NSNull() : extremeNumbers[rng.below(extremeNumbers.count)]
    }

    /// The encoded document with the markers replaced by their raw tokens, then byte-level line-end / BOM damage.
    static func finish(_ v: Any, _ rng: inout SplitMix64) -> [UInt8]? {
        let pretty = rng.below(6) == 0
        guard let data = try? JSONSerialization.data(withJSONObject: v, options: pretty ? [.fragmentsAllowed, .prettyPrinted] : [.fragmentsAllowed])
        else { return nil }
        var text = String(decoding: data, as: UTF8.self)
        if text.contains("\\u0001raw:") {
            for (i, t) in rawTokens.enumerated().reversed() { text = text.replacingOccurrences(of: "\"\\u0001raw:\(i)\"", with: t) }
        }
        switch rng.below(12) {
        case 0: text = text.replacingOccurrences(of: "\n", with: "\r\n")
        case 1: text = text.replacingOccurrences(of: "\n", with: "\r")
        case 2: text = "\u{feff}" + text
        case 3: text += rng.below(2) == 0 ? "\u{0}" : "}garbage"
        case 4: if let i = text.firstIndex(of: "{") { text.insert(contentsOf: "\"schema\":\"lbrprobe.run/2\",", at: text.index(after: i)) }
        default: break
        }
        return Array(text.utf8)
    }
}
