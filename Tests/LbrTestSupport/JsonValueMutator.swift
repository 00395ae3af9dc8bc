// Value-level JSON mutations of real documents (run documents, captures), shared by the coverage-guided
// structure-aware fuzz targets (Fuzz/RunDocumentMutator.swift: scripts/fuzz.sh rundoc-struct, capture-struct,
// which compile this file in) and the seeded runs of the unit suite (FuzzSeededTests). One mutation:
//   - a number set to an extreme (0, -1, 2^31, 2^53+1, 2^62, 2^63-1, 2^64-1, 1e15, 1e19, 1e300, -1e300, 1e308,
//     0.5, -0.0, 5e-324) or to something no JSON encoder writes (1e999, -1e999, NaN, Infinity, 20-digit
//     integers, 1e-400, -9223372036854775809, a lone surrogate escape, 01, "1.", "-");
//   - a string set to one with control characters, 64 KiB, an unknown enum word, a neighbouring schema id;
//   - a value replaced by one of another type (string <-> number, bool, null, [], {}, [v], {"_0": v});
//   - a value nested 100 levels deep, or 600 as a raw token (the readers refuse more than 512);
//   - a key removed or an unknown one added, an array element duplicated, an array emptied or grown;
//   - then, on the bytes: a UTF-8 BOM in front, the pretty-printed form with CRLF or CR line ends, a NUL or
//     garbage after the document, a second "schema" key.
// The document is parsed into its own tree (`Json`), which keeps member order and every number's spelling, so
// what is not mutated is written back as it was read (2^64-1 stays 2^64-1, not a Double); parsing and writing
// are single passes over bytes, so documents of a few hundred KiB are mutated hundreds of times a second.
// Self-contained (the standard library + LbrCore's SplitMix64): the fuzz build compiles it without SwiftPM.

import LbrCore

public enum JsonValueMutator {
    /// A JSON value as read: members in document order, numbers as spelled, and `raw` text written as it is
    /// (the tokens no encoder writes, and strings that do not decode, such as a lone surrogate escape).
    public indirect enum Json: Equatable {
        case object([(key: String, value: Json)])
        case array([Json])
        case string(String)
        case number(String)
        case bool(Bool)
        case null
        case raw(String)

        public static func == (a: Json, b: Json) -> Bool {
            switch (a, b) {
            case let (.object(x), .object(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
            case let (.array(x), .array(y)): return x == y
            case let (.string(x), .string(y)), let (.number(x), .number(y)), let (.raw(x), .raw(y)): return x == y
            case let (.bool(x), .bool(y)): return x == y
            case (.null, .null): return true
            default: return false
            }
        }
    }

    /// One to three value-level mutations of the JSON in `bytes` (a leading BOM is looked through), encoded;
    /// nil when `bytes` is not JSON or the mutation's encoding would pass `limit` bytes (grown arrays share
    /// their elements in the tree, so only the encoding can be large, and it stops there).
    public static func mutate(_ bytes: [UInt8], _ rng: inout SplitMix64, limit: Int = 1 << 20) -> [UInt8]? {
        guard var v = parse(bytes) else { return nil }
        for _ in 0...rng.below(3) { v = mutateJSON(v, &rng, depth: 0) }
        return finish(v, &rng, limit: limit)
    }

    static let extremeNumbers: [String] = ["0", "-1", "2147483648", "9007199254740993", "4611686018427387904",
                                           "9223372036854775807", "18446744073709551615", "1e15", "1e19", "1e300",
                                           "-1e300", "1e308", "-1e308", "0.5", "-0.0", "5e-324"]
    /// Tokens no JSON encoder writes, written in place of a value as they are.
    static let rawTokens: [String] = ["1e999", "-1e999", "NaN", "Infinity", "-Infinity", "184467440737095516160", "1e-400",
                                      "-9223372036854775809", "\"\\ud800\"", "\"\\u0000\"", "01", "1.", "-",
                                      String(repeating: "[", count: 600) + "0" + String(repeating: "]", count: 600)]
    static let hostileStrings: [String] = ["", "\u{1b}]0;x\u{07}\u{1b}[2J", "a\nb\r\nc", "\u{0}", String(repeating: "x", count: 65_536),
                                           "lbrprobe.run/1", "lbrprobe.run/4", "lbrprobe.capture/2", "SIGQUIT", "<&>\"'", "|*`_::",
                                           "\u{202e}evil", "\u{feff}", "bogus", "ACTIVE", "pass ", "model:", "model:\u{0}",
                                           "hardware\r", "vlbr-active\n"]

    static func rawToken(_ rng: inout SplitMix64) -> Json { .raw(rawTokens[rng.below(rawTokens.count)]) }

    static func extremeNumber(_ rng: inout SplitMix64) -> Json {
        rng.below(4) == 0 ? rawToken(&rng) : .number(extremeNumbers[rng.below(extremeNumbers.count)])
    }

    static func anotherType(_ v: Json, _ rng: inout SplitMix64) -> Json {
        switch rng.below(8) {
        case 0: return .string("0")
        case 1: return .number("1")
        case 2: return .bool(true)
        case 3: return .null
        case 4: return .array([])
        case 5: return .object([])
        case 6: return .array([v])
        default: return .object([(key: "_0", value: v)])
        }
    }

    static func nested(_ v: Json, depth: Int) -> Json {
        var out = v
        for _ in 0..<depth { out = .array([out]) }
        return out
    }

    static func mutateJSON(_ v: Json, _ rng: inout SplitMix64, depth: Int) -> Json {
        // Now and then, whatever the value: another type, deep nesting, a raw token.
        switch rng.below(24) {
        case 0: return anotherType(v, &rng)
        case 1 where depth > 0: return nested(v, depth: 100)   // 600 levels: a raw token
        case 2: return rawToken(&rng)
        default: break
        }
        switch v {
        case .object(var members) where !members.isEmpty:
            let i = rng.below(members.count)
            switch rng.below(16) {
            case 0: members.remove(at: i)
            case 1:
                let key = "unknown_\(rng.below(4))"
                let value = Json.string(hostileStrings[rng.below(hostileStrings.count)])
                if let k = members.firstIndex(where: { $0.key == key }) { members[k].value = value } else { members.append((key: key, value: value)) }
            default: members[i].value = mutateJSON(members[i].value, &rng, depth: depth + 1)
            }
            return .object(members)
        case .array(var a) where !a.isEmpty:
            let i = rng.below(a.count)
            switch rng.below(14) {
            case 0: a.insert(a[i], at: i)
            case 1: a = []
            case 2: a += Array(repeating: a[i], count: 1 + rng.below(64))
            default: a[i] = mutateJSON(a[i], &rng, depth: depth + 1)
            }
            return .array(a)
        case .number:
            return extremeNumber(&rng)
        case .bool where rng.below(2) == 0:
            return extremeNumber(&rng)
        case .string(let s):
            switch rng.below(4) {
            case 0: return .string(s.uppercased())
            case 1: return .string(s + hostileStrings[rng.below(hostileStrings.count)])
            default: return .string(hostileStrings[rng.below(hostileStrings.count)])
            }
        default:
            return rng.below(2) == 0 ? .null : .number(extremeNumbers[rng.below(extremeNumbers.count)])
        }
    }

    /// The encoded document, then byte-level line-end / BOM damage.
    static func finish(_ v: Json, _ rng: inout SplitMix64, limit: Int) -> [UInt8]? {
        guard var out = encode(v, pretty: rng.below(6) == 0, limit: limit) else { return nil }
        switch rng.below(12) {
        case 0: out = replacingNewlines(out, with: [0x0d, 0x0a])
        case 1: out = replacingNewlines(out, with: [0x0d])
        case 2: out.insert(contentsOf: [0xef, 0xbb, 0xbf], at: 0)
        case 3: out += rng.below(2) == 0 ? [0] : Array("}garbage".utf8)
        case 4: if let i = out.firstIndex(of: UInt8(ascii: "{")) { out.insert(contentsOf: Array("\"schema\":\"lbrprobe.run/2\",".utf8), at: i + 1) }
        default: break
        }
        return out.count <= limit ? out : nil
    }

    static func replacingNewlines(_ bytes: [UInt8], with ending: [UInt8]) -> [UInt8] {
        var out = [UInt8](); out.reserveCapacity(bytes.count + bytes.count / 8)
        for b in bytes { if b == 0x0a { out += ending } else { out.append(b) } }
        return out
    }
}

// MARK: - Reading and writing the tree

extension JsonValueMutator {
    /// The JSON text in `bytes` (RFC 8259, after an optional UTF-8 BOM and surrounded by whitespace) as a tree;
    /// nil when it is not JSON or nests deeper than 2,000 levels.
    public static func parse(_ bytes: [UInt8]) -> Json? {
        var p = Parser(bytes: bytes, at: bytes.starts(with: [0xef, 0xbb, 0xbf]) ? 3 : 0)
        p.skipSpace()
        guard let v = p.value(depth: 0) else { return nil }
        p.skipSpace()
        return p.at == bytes.count ? v : nil
    }

    /// The tree as JSON text: compact, or indented by two spaces with one member or element per line; nil once
    /// it passes `limit` bytes.
    public static func encode(_ v: Json, pretty: Bool, limit: Int = .max) -> [UInt8]? {
        var out = [UInt8](); out.reserveCapacity(4096)
        return write(v, pretty: pretty, indent: 0, limit: limit, into: &out) ? out : nil
    }

    /// False once `out` passes `limit` bytes.
    static func write(_ v: Json, pretty: Bool, indent: Int, limit: Int, into out: inout [UInt8]) -> Bool {
        guard out.count <= limit else { return false }
        func newline(_ level: Int) {
            guard pretty else { return }
            out.append(0x0a)
            out += repeatElement(UInt8(ascii: " "), count: 2 * level)
        }
        switch v {
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, m) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(indent + 1)
                writeString(m.key, into: &out)
                out += pretty ? Array(" : ".utf8) : [UInt8(ascii: ":")]
                guard write(m.value, pretty: pretty, indent: indent + 1, limit: limit, into: &out) else { return false }
            }
            if !members.isEmpty { newline(indent) }
            out.append(UInt8(ascii: "}"))
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (i, e) in elements.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(indent + 1)
                guard write(e, pretty: pretty, indent: indent + 1, limit: limit, into: &out) else { return false }
            }
            if !elements.isEmpty { newline(indent) }
            out.append(UInt8(ascii: "]"))
        case .string(let s): writeString(s, into: &out)
        case .number(let n), .raw(let n): out += n.utf8
        case .bool(let b): out += (b ? "true" : "false").utf8
        case .null: out += "null".utf8
        }
        return out.count <= limit
    }

    static func writeString(_ s: String, into out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), b]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), b]
            case 0x0a: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0d: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case ..<0x20: out += Array("\\u00".utf8) + [hex[Int(b >> 4)], hex[Int(b & 0xf)]]
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Recursive descent over the bytes; every failure is nil.
    struct Parser {
        let bytes: [UInt8]
        var at: Int

        var next: UInt8? { at < bytes.count ? bytes[at] : nil }

        mutating func skipSpace() {
            while let b = next, b == 0x20 || b == 0x0a || b == 0x0d || b == 0x09 { at += 1 }
        }

        mutating func literal(_ word: String) -> Bool {
            let w = Array(word.utf8)
            guard at + w.count <= bytes.count, bytes[at..<(at + w.count)].elementsEqual(w) else { return false }
            at += w.count
            return true
        }

        mutating func value(depth: Int) -> Json? {
            guard depth <= 2_000, let b = next else { return nil }
            switch b {
            case UInt8(ascii: "{"): return object(depth: depth)
            case UInt8(ascii: "["): return array(depth: depth)
            case UInt8(ascii: "\""):
                let start = at
                guard let s = string() else { return nil }
                return s.map(Json.string) ?? .raw(String(decoding: bytes[start..<at], as: UTF8.self))
            case UInt8(ascii: "t"): return literal("true") ? .bool(true) : nil
            case UInt8(ascii: "f"): return literal("false") ? .bool(false) : nil
            case UInt8(ascii: "n"): return literal("null") ? .null : nil
            default: return number()
            }
        }

        mutating func object(depth: Int) -> Json? {
            at += 1
            var members: [(key: String, value: Json)] = []
            skipSpace()
            if next == UInt8(ascii: "}") { at += 1; return .object(members) }
            while true {
                skipSpace()
                guard next == UInt8(ascii: "\""), let decoded = string(), let key = decoded else { return nil }
                skipSpace()
                guard next == UInt8(ascii: ":") else { return nil }
                at += 1
                skipSpace()
                guard let v = value(depth: depth + 1) else { return nil }
                members.append((key: key, value: v))
                skipSpace()
                switch next {
                case UInt8(ascii: ","): at += 1
                case UInt8(ascii: "}"): at += 1; return .object(members)
                default: return nil
                }
            }
        }

        mutating func array(depth: Int) -> Json? {
            at += 1
            var elements: [Json] = []
            skipSpace()
            if next == UInt8(ascii: "]") { at += 1; return .array(elements) }
            while true {
                skipSpace()
                guard let v = value(depth: depth + 1) else { return nil }
                elements.append(v)
                skipSpace()
                switch next {
                case UInt8(ascii: ","): at += 1
                case UInt8(ascii: "]"): at += 1; return .array(elements)
                default: return nil
                }
            }
        }

        /// A string token: nil when it is not one, .some(nil) when it is well-formed JSON but does not decode
        /// to Unicode (a lone surrogate escape) — the caller keeps such a token as raw text.
        mutating func string() -> String?? {
            at += 1
            let start = at
            // Fast path: no escapes.
            while let b = next, b != UInt8(ascii: "\""), b != UInt8(ascii: "\\"), b >= 0x20 { at += 1 }
            if next == UInt8(ascii: "\"") {
                defer { at += 1 }
                return .some(String(validating: bytes[start..<at], as: UTF8.self))
            }
            // An escape or a control byte: decode scalar by scalar from here on.
            var scalars = String.UnicodeScalarView(), valid = true
            if let head = String(validating: bytes[start..<at], as: UTF8.self) { scalars.append(contentsOf: head.unicodeScalars) } else { valid = false }
            while true {
                guard let b = next, b >= 0x20 else { return nil }
                at += 1
                if b == UInt8(ascii: "\"") { return .some(valid ? String(scalars) : nil) }
                if b != UInt8(ascii: "\\") {
                    // Copy a run of unescaped bytes.
                    let runStart = at - 1
                    while let c = next, c != UInt8(ascii: "\""), c != UInt8(ascii: "\\"), c >= 0x20 { at += 1 }
                    if valid, let run = String(validating: bytes[runStart..<at], as: UTF8.self) { scalars.append(contentsOf: run.unicodeScalars) } else { valid = false }
                    continue
                }
                guard let e = next else { return nil }
                at += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(Unicode.Scalar(e))
                case UInt8(ascii: "b"): scalars.append("\u{8}")
                case UInt8(ascii: "f"): scalars.append("\u{c}")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "u"):
                    guard let u = hex4() else { return nil }
                    if (0xd800..<0xdc00).contains(u), bytes[at...].starts(with: Array("\\u".utf8)) {
                        at += 2
                        guard let low = hex4() else { return nil }
                        if (0xdc00..<0xe000).contains(low), let s = Unicode.Scalar(0x10000 + ((u - 0xd800) << 10) + (low - 0xdc00)) {
                            scalars.append(s)
                        } else { valid = false }
                    } else if let s = Unicode.Scalar(u) { scalars.append(s) } else { valid = false }
                default: return nil
                }
            }
        }

        mutating func hex4() -> UInt32? {
            guard at + 4 <= bytes.count else { return nil }
            var u: UInt32 = 0
            for b in bytes[at..<(at + 4)] {
                switch b {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): u = u << 4 | UInt32(b - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): u = u << 4 | UInt32(b - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): u = u << 4 | UInt32(b - UInt8(ascii: "A") + 10)
                default: return nil
                }
            }
            at += 4
            return u
        }

        /// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, kept as spelled.
        mutating func number() -> Json? {
            let start = at
            func digits() -> Int { let s = at; while let b = next, b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") { at += 1 }; return at - s }
            if next == UInt8(ascii: "-") { at += 1 }
            if next == UInt8(ascii: "0") { at += 1 } else if digits() == 0 { return nil }
            if next == UInt8(ascii: ".") { at += 1; guard digits() > 0 else { return nil } }
            if next == UInt8(ascii: "e") || next == UInt8(ascii: "E") {
                at += 1
                if next == UInt8(ascii: "+") || next == UInt8(ascii: "-") { at += 1 }
                guard digits() > 0 else { return nil }
            }
            return .number(String(decoding: bytes[start..<at], as: UTF8.self))
        }
    }
}
