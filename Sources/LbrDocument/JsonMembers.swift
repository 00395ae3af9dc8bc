// A validating pass over JSON text (RFC 8259) that copies only the members a reader needs, so Foundation's
// JSONDecoder — which builds a map of every value before decoding any — sees a few kilobytes instead of the whole
// document (compare reads outcomes and findings, not the evidence that makes up most of a run document), and a big
// document's `results` reach the decoder in bounded batches instead of at once.
//
// It builds no values: it checks the grammar (strings, escapes, numbers, literals, nesting) of everything it
// passes over, kept or not, so a document that is not JSON is refused as before; nesting deeper than 512 and a
// member name with an escape end the pass (`JsonMembers.Refused`), and the caller then decodes the whole text
// the ordinary way, which names the problem or reads the unusual but valid document correctly.

/// Which parts of a JSON value a reader keeps.
public indirect enum JsonKeep: Sendable {
    /// The whole value.
    case all
    /// Of an object, only these members (each kept as given); of an array, each element so; any other value whole.
    case members([(name: String, keep: JsonKeep)])
}

public enum JsonMembers {
    /// The pass did not finish: not JSON, too deep, or a member name it does not compare (escaped).
    public struct Refused: Error, Sendable { public init() {} }

    static let maxDepth = 512

    /// `keep` compiled: member names as bytes.
    indirect enum Plan {
        case all
        case members([([UInt8], Plan)])
        init(_ k: JsonKeep) {
            switch k {
            case .all: self = .all
            case let .members(m): self = .members(m.map { (Array($0.name.utf8), Plan($0.keep)) })
            }
        }
    }

    /// The text of a JSON document with only the kept parts (`bytes` must hold exactly one JSON value).
    public static func filter(_ bytes: UnsafeRawBufferPointer, keep: JsonKeep) throws(Refused) -> [UInt8] {
        var c = Cursor(bytes)
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        c.whitespace()
        try c.value(Plan(keep), &out, depth: 0)
        c.whitespace()
        guard c.i == c.end else { throw Refused() }
        return out
    }

    /// Walks a document whose top level is an object with an array member `arrayName` (a run document and its
    /// `results`): returns the object with the other members filtered by `top` and `arrayName` empty, and hands
    /// the array's elements, filtered by `element`, to `batch` as JSON arrays of about `batchBytes` bytes each,
    /// in order. After each batch, `consumed(offset)` says that the bytes before `offset` will not be read again.
    public static func split(_ bytes: UnsafeRawBufferPointer, arrayName: String, top: JsonKeep, element: JsonKeep,
                             batchBytes: Int, batch: (inout [UInt8]) throws(Refused) -> Void,
                             consumed: (Int) -> Void) throws(Refused) -> [UInt8] {
        let name = Array(arrayName.utf8)
        let topPlan = Plan(top), elementPlan = Plan(element)
        var c = Cursor(bytes)
        var out: [UInt8] = [UInt8(ascii: "{")]
        var items: [UInt8] = []
        var seenArray = false
        c.whitespace()
        guard c.take(UInt8(ascii: "{")) else { throw Refused() }
        c.whitespace()
        if !c.take(UInt8(ascii: "}")) {
            var first = true
            repeat {
                c.whitespace()
                let key = try c.memberName()
                c.whitespace()
                guard c.take(UInt8(ascii: ":")) else { throw Refused() }
                c.whitespace()
                if c.equal(key, name) {
                    // A second array member would be read differently by JSONDecoder: leave it to the whole decode.
                    guard !seenArray, c.take(UInt8(ascii: "[")) else { throw Refused() }
                    seenArray = true
                    if !first { out.append(UInt8(ascii: ",")) }
                    first = false
                    out.append(contentsOf: "\"\(arrayName)\":[]".utf8)
                    try c.elements { (c: inout Cursor) throws(Refused) in
                        if items.isEmpty { items.append(UInt8(ascii: "[")) } else { items.append(UInt8(ascii: ",")) }
                        try c.value(elementPlan, &items, depth: 2)
                        if items.count >= batchBytes {
                            items.append(UInt8(ascii: "]"))
                            try batch(&items)
                            items.removeAll(keepingCapacity: true)
                            consumed(c.i)
                        }
                    }
                    if !items.isEmpty {
                        items.append(UInt8(ascii: "]"))
                        try batch(&items)
                        items = []
                    }
                    consumed(c.i)
                } else if let plan = topPlan.member(key, in: c) {
                    if !first { out.append(UInt8(ascii: ",")) }
                    first = false
                    out.append(contentsOf: UnsafeRawBufferPointer(rebasing: c.bytes[key.lowerBound - 1 ..< key.upperBound + 1]))
                    out.append(UInt8(ascii: ":"))
                    try c.value(plan, &out, depth: 1)
                } else {
                    try c.skip(depth: 1)
                }
                c.whitespace()
            } while c.take(UInt8(ascii: ","))
            guard c.take(UInt8(ascii: "}")) else { throw Refused() }
        }
        c.whitespace()
        guard c.i == c.end, seenArray else { throw Refused() }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// How many elements the top-level object's array member `arrayName` has (the first such member), so a
    /// reader can size its storage once; nil when the text is not such an object.
    /// `consumed` as in `split`, after each element.
    public static func count(_ bytes: UnsafeRawBufferPointer, arrayName: String, consumed: (Int) -> Void) -> Int? {
        let name = Array(arrayName.utf8)
        var c = Cursor(bytes)
        do {
            c.whitespace()
            guard c.take(UInt8(ascii: "{")) else { return nil }
            repeat {
                c.whitespace()
                let key = try c.memberName()
                c.whitespace()
                guard c.take(UInt8(ascii: ":")) else { return nil }
                c.whitespace()
                if c.equal(key, name) {
                    guard c.take(UInt8(ascii: "[")) else { return nil }
                    var n = 0
                    try c.elements { (c: inout Cursor) throws(Refused) in
                        try c.skip(depth: 2)
                        n += 1
                        consumed(c.i)
                    }
                    return n
                }
                try c.skip(depth: 1)
                c.whitespace()
            } while c.take(UInt8(ascii: ","))
        } catch { return nil }
        return nil
    }

    /// A position in the text. The buffer outlives the cursor: both live inside one `withUnsafeBytes` call (or
    /// the reader's mapping).
    // SAFETY: every read of `bytes` is at an index below `end` (= bytes.count): `at(i)` only after `i < end` or
    // `end - i >= n` was checked for the bytes read, `loadUnaligned` only when eight bytes remain, and member
    // names are ranges the cursor has already passed over.
    struct Cursor {
        let bytes: UnsafeRawBufferPointer
        var i = 0
        let end: Int
        init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes; end = bytes.count }

        @inline(__always) func at(_ k: Int) -> UInt8 { bytes[k] }

        mutating func whitespace() {
            while i < end {
                let b = at(i)
                guard b <= 0x20, b == 0x20 || b == 0x0a || b == 0x0d || b == 0x09 else { return }
                i += 1
            }
        }

        mutating func take(_ b: UInt8) -> Bool {
            guard i < end, at(i) == b else { return false }
            i += 1
            return true
        }

        /// A member name: the range of its bytes between the quotes; an escape inside refuses.
        mutating func memberName() throws(Refused) -> Range<Int> {
            guard take(UInt8(ascii: "\"")) else { throw Refused() }
            let start = i
            let escaped = try string()
            guard !escaped else { throw Refused() }
            return start ..< i - 1
        }

        func equal(_ r: Range<Int>, _ name: [UInt8]) -> Bool {
            guard r.count == name.count else { return false }
            var k = r.lowerBound
            for b in name {
                if at(k) != b { return false }
                k += 1
            }
            return true
        }

        /// After the opening quote: up to and past the closing one. Whether the string had an escape.
        mutating func string() throws(Refused) -> Bool {
            var escaped = false
            while i < end {
                // Eight bytes at a time past those that are not a quote, a backslash, a control character or
                // non-ASCII (the bulk of a run document is ASCII evidence sentences); the first such byte is
                // handled below.
                while end - i >= 8 {
                    let w = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                    let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
                    let quote = w ^ 0x2222_2222_2222_2222, backslash = w ^ 0x5c5c_5c5c_5c5c_5c5c
                    let special = ((quote &- ones) & ~quote | (backslash &- ones) & ~backslash
                        | (w &- 0x2020_2020_2020_2020) & ~w | w) & highs
                    if special != 0 {
                        i += special.trailingZeroBitCount / 8
                        break
                    }
                    i += 8
                }
                guard i < end else { break }
                let b = at(i)
                i += 1
                if b == UInt8(ascii: "\"") { return escaped }
                if b == UInt8(ascii: "\\") {
                    escaped = true
                    guard i < end else { throw Refused() }
                    let e = at(i)
                    i += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                         UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        continue
                    case UInt8(ascii: "u"):
                        guard end - i >= 4 else { throw Refused() }
                        for _ in 0..<4 {
                            let h = at(i)
                            guard (h >= 0x30 && h <= 0x39) || (h | 0x20 >= 0x61 && h | 0x20 <= 0x66) else { throw Refused() }
                            i += 1
                        }
                    default: throw Refused()
                    }
                } else if b < 0x20 {
                    throw Refused()
                } else if b >= 0x80 {
                    try utf8Continuation(lead: b)
                }
            }
            throw Refused()
        }

        /// After a non-ASCII byte: the rest of a well-formed UTF-8 sequence (no overlong form, no surrogate,
        /// nothing above U+10FFFF), as Swift's own validation.
        mutating func utf8Continuation(lead b: UInt8) throws(Refused) {
            let need: Int
            switch b {
            case 0xc2...0xdf: need = 1
            case 0xe0...0xef: need = 2
            case 0xf0...0xf4: need = 3
            default: throw Refused()
            }
            guard end - i >= need else { throw Refused() }
            var scalar = UInt32(b & (0x3f >> UInt8(need)))
            for k in 0..<need {
                let c = at(i + k)
                guard c & 0xc0 == 0x80 else { throw Refused() }
                scalar = scalar << 6 | UInt32(c & 0x3f)
            }
            switch need {
            case 2: guard scalar >= 0x800, !(0xd800...0xdfff).contains(scalar) else { throw Refused() }
            case 3: guard scalar >= 0x10000, scalar <= 0x10ffff else { throw Refused() }
            default: break
            }
            i += need
        }

        mutating func digits() throws(Refused) {
            let start = i
            while i < end, at(i) >= 0x30, at(i) <= 0x39 { i += 1 }
            guard i > start else { throw Refused() }
        }

        mutating func number() throws(Refused) {
            _ = take(UInt8(ascii: "-"))
            guard i < end else { throw Refused() }
            if at(i) == UInt8(ascii: "0") { i += 1 } else { try digits() }
            if take(UInt8(ascii: ".")) { try digits() }
            if i < end, at(i) | 0x20 == UInt8(ascii: "e") {
                i += 1
                if !take(UInt8(ascii: "+")) { _ = take(UInt8(ascii: "-")) }
                try digits()
            }
        }

        mutating func literal(_ word: StaticString) throws(Refused) {
            let n = word.utf8CodeUnitCount
            guard end - i >= n else { throw Refused() }
            let w = UnsafeRawBufferPointer(start: word.utf8Start, count: n)
            for k in 0..<n where at(i + k) != w[k] { throw Refused() }
            i += n
        }

        /// After `[`: each element through `body` (which reads one value), up to and past `]`.
        mutating func elements(_ body: (inout Cursor) throws(Refused) -> Void) throws(Refused) {
            whitespace()
            if take(UInt8(ascii: "]")) { return }
            repeat {
                whitespace()
                try body(&self)
                whitespace()
            } while take(UInt8(ascii: ","))
            guard take(UInt8(ascii: "]")) else { throw Refused() }
        }

        /// One value, validated only (the bulk of a document a reader does not keep).
        mutating func skip(depth: Int) throws(Refused) {
            guard depth < JsonMembers.maxDepth, i < end else { throw Refused() }
            switch at(i) {
            case UInt8(ascii: "{"):
                i += 1
                whitespace()
                if take(UInt8(ascii: "}")) { return }
                repeat {
                    whitespace()
                    guard take(UInt8(ascii: "\"")) else { throw Refused() }
                    _ = try string()
                    whitespace()
                    guard take(UInt8(ascii: ":")) else { throw Refused() }
                    whitespace()
                    try skip(depth: depth + 1)
                    whitespace()
                } while take(UInt8(ascii: ","))
                guard take(UInt8(ascii: "}")) else { throw Refused() }
            case UInt8(ascii: "["):
                i += 1
                whitespace()
                if take(UInt8(ascii: "]")) { return }
                repeat {
                    whitespace()
                    try skip(depth: depth + 1)
                    whitespace()
                } while take(UInt8(ascii: ","))
                guard take(UInt8(ascii: "]")) else { throw Refused() }
            case UInt8(ascii: "\""):
                i += 1
                _ = try string()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            default: try number()
            }
        }

        /// One value, validated and appended to `out` as `plan` keeps it.
        mutating func value(_ plan: Plan, _ out: inout [UInt8], depth: Int) throws(Refused) {
            guard depth < JsonMembers.maxDepth, i < end else { throw Refused() }
            let start = i
            if case .members = plan {
                if at(i) == UInt8(ascii: "{") {
                    i += 1
                    out.append(UInt8(ascii: "{"))
                    var first = true
                    whitespace()
                    if !take(UInt8(ascii: "}")) {
                        repeat {
                            whitespace()
                            let key = try memberName()
                            whitespace()
                            guard take(UInt8(ascii: ":")) else { throw Refused() }
                            whitespace()
                            if let p = plan.member(key, in: self) {
                                if !first { out.append(UInt8(ascii: ",")) }
                                first = false
                                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[key.lowerBound - 1 ..< key.upperBound + 1]))
                                out.append(UInt8(ascii: ":"))
                                try value(p, &out, depth: depth + 1)
                            } else {
                                try skip(depth: depth + 1)
                            }
                            whitespace()
                        } while take(UInt8(ascii: ","))
                        guard take(UInt8(ascii: "}")) else { throw Refused() }
                    }
                    out.append(UInt8(ascii: "}"))
                    return
                }
                if at(i) == UInt8(ascii: "[") {
                    i += 1
                    out.append(UInt8(ascii: "["))
                    var first = true
                    try elements { (c: inout Cursor) throws(Refused) in
                        if !first { out.append(UInt8(ascii: ",")) }
                        first = false
                        try c.value(plan, &out, depth: depth + 1)
                    }
                    out.append(UInt8(ascii: "]"))
                    return
                }
            }
            try skip(depth: depth)
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start ..< i]))
        }
    }
}

extension JsonMembers.Plan {
    /// The plan of member `key` when kept: `.all` keeps every member.
    func member(_ key: Range<Int>, in c: JsonMembers.Cursor) -> JsonMembers.Plan? {
        switch self {
        case .all: return .all
        case let .members(m):
            for (name, plan) in m where c.equal(key, name) { return plan }
            return nil
        }
    }
}
