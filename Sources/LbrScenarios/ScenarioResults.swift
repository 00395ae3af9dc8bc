// The results of a run, folded so that memory stays flat in `--repeat N`.
//
// One element per reported test, as before: a completed run, or ONE entry standing for a block of runs of one
// scenario that were not started (signal), or skipped alike (backend unavailable, scenario unsupported) —
// `ScenarioResult.runsCovered` says how many runs that entry stands for.
//
// Storage: results with their evidence ("kept": the first run of each status + outcome code per scenario, every
// run when nothing repeats, and the grouped entries) are stored whole; every other completed run is a coded
// entry (its repeat index, start and duration) pointing at a shared evidence-free template of its class (same
// scenario, status, outcome, reason, expectation). Reading such an element materialises a `ScenarioResult` with
// no phases, records or notes and `evidenceFoldedInto` naming the kept run whose evidence stands for it. The
// memory is therefore ~6 bytes per completed run (delta- and LEB128-coded, `bytes`) plus one template per
// distinct result, and nothing per run not started.

/// The results of a run (a random-access collection of `ScenarioResult`; see the file comment).
public struct ScenarioResults: RandomAccessCollection, MutableCollection, Hashable, Sendable, Codable,
    ExpressibleByArrayLiteral {
    /// One element as stored: a kept result, or a folded run of a template.
    struct Entry: Hashable, Sendable {
        /// Index into `kept`, or -1 when folded into `templates[template]`.
        var kept: Int32
        var template: Int32
        var repeatIndex: Int32
        var durationNs: UInt64
        /// Unix ns + 1 (0: none).
        var startUnixNsPlusOne: UInt64
    }
    /// The delta-coding state before an entry (repeat index, and the end — start + 1 + duration — of the
    /// previous folded run).
    struct Cursor: Hashable, Sendable {
        var offset = 0
        var repeatIndex: Int32 = 0
        var start: UInt64 = 0
    }
    var kept: [ScenarioResult] = []
    var templates: [ScenarioResult] = []
    var templateIndex: [ScenarioResult: Int32] = [:]
    /// The entries, LEB128-coded: kind (kept index << 1; or template << 2 | 1, with bit 1 set when the repeat
    /// index is the previous one + 1), the repeat index as a zigzag delta (kept runs, and folded ones not + 1);
    /// folded runs add the duration and the start as a zigzag delta from the previous folded run's end. A
    /// typical folded run takes ~6 bytes instead of a 32-byte struct, so a `--repeat 200000` run of the default
    /// set (2 M runs) holds ~14 MB, in 64 KiB chunks (`ChunkedBytes`).
    var bytes = ChunkedBytes()
    /// The cursor before entry k * `stride`, for random access.
    var checkpoints: [Cursor] = []
    var end = Cursor()
    var entryCount = 0
    /// Entries replaced through the subscript setter (index -> kept index).
    var replaced: [Int: Int32] = [:]
    static let stride = 32

    public init() {}
    public init(_ results: some Sequence<ScenarioResult>) { for r in results { append(r) } }
    public init(arrayLiteral elements: ScenarioResult...) { self.init(elements) }

    public var startIndex: Int { 0 }
    public var endIndex: Int { entryCount }

    mutating func appendEntry(_ e: Entry) {
        if entryCount % Self.stride == 0 { checkpoints.append(end) }
        func varint(_ v: UInt64) {
            var v = v
            while v >= 0x80 { bytes.append(UInt8(truncatingIfNeeded: v) | 0x80); v >>= 7 }
            bytes.append(UInt8(v))
        }
        func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
        let folded = e.kept < 0
        let delta = Int64(e.repeatIndex) - Int64(end.repeatIndex)
        if folded {
            // The common case — the next repeat of the same scenario — costs no repeat-index byte.
            varint(UInt64(e.template) << 2 | (delta == 1 ? 2 : 0) | 1)
            if delta != 1 { varint(zigzag(delta)) }
        } else {
            varint(UInt64(e.kept) << 1)
            varint(zigzag(delta))
        }
        end.repeatIndex = e.repeatIndex
        if folded {
            varint(e.durationNs)
            // The start as the gap after the previous folded run's end (runs follow each other: a few µs).
            varint(zigzag(Int64(bitPattern: e.startUnixNsPlusOne &- end.start)))
            end.start = e.startUnixNsPlusOne &+ e.durationNs
        }
        end.offset = bytes.count
        entryCount += 1
    }

    /// Decodes the entry at `c` and advances `c` past it.
    func decode(_ c: inout Cursor) -> Entry {
        func varint() -> UInt64 {
            var v: UInt64 = 0, shift: UInt64 = 0
            while true {
                let b = bytes[c.offset]; c.offset += 1
                v |= UInt64(b & 0x7f) << shift
                if b < 0x80 { return v }
                shift += 7
            }
        }
        func unzigzag(_ u: UInt64) -> Int64 { Int64(bitPattern: u >> 1) ^ -Int64(bitPattern: u & 1) }
        let kind = varint()
        if kind & 1 == 0 {
            c.repeatIndex = Int32(truncatingIfNeeded: Int64(c.repeatIndex) + unzigzag(varint()))
            return Entry(kept: Int32(kind >> 1), template: -1, repeatIndex: c.repeatIndex, durationNs: 0, startUnixNsPlusOne: 0)
        }
        let delta = kind & 2 != 0 ? 1 : unzigzag(varint())
        c.repeatIndex = Int32(truncatingIfNeeded: Int64(c.repeatIndex) + delta)
        let duration = varint()
        let start = c.start &+ UInt64(bitPattern: unzigzag(varint()))
        c.start = start &+ duration
        return Entry(kept: -1, template: Int32(kind >> 2), repeatIndex: c.repeatIndex, durationNs: duration,
                     startUnixNsPlusOne: start)
    }

    func entry(_ i: Int) -> Entry {
        precondition(i >= 0 && i < entryCount, "ScenarioResults index \(i) out of range")
        var c = checkpoints[i / Self.stride]
        var e = decode(&c)
        for _ in 0..<(i % Self.stride) { e = decode(&c) }
        return e
    }

    func element(_ e: Entry, at i: Int) -> ScenarioResult {
        if !replaced.isEmpty, let k = replaced[i] { return kept[Int(k)] }
        if e.kept >= 0 { return kept[Int(e.kept)] }
        var r = templates[Int(e.template)]
        r.repeatIndex = Int(e.repeatIndex)
        r.durationNs = e.durationNs
        r.startUnixNs = e.startUnixNsPlusOne == 0 ? nil : e.startUnixNsPlusOne &- 1
        return r
    }

    public subscript(i: Int) -> ScenarioResult {
        get { element(entry(i), at: i) }
        set {
            kept.append(newValue)
            replaced[i] = Int32(kept.count - 1)
        }
    }

    /// Sequential decoding (no checkpoint walk per element).
    public struct Iterator: IteratorProtocol {
        let results: ScenarioResults
        var cursor = Cursor()
        var index = 0
        public mutating func next() -> ScenarioResult? {
            guard index < results.entryCount else { return nil }
            let e = results.decode(&cursor)
            defer { index += 1 }
            return results.element(e, at: index)
        }
    }
    public func makeIterator() -> Iterator { Iterator(results: self) }

    /// Appends a result whole (with its evidence).
    public mutating func append(_ r: ScenarioResult) {
        kept.append(r)
        appendEntry(Entry(kept: Int32(kept.count - 1), template: -1, repeatIndex: Int32(clamping: r.repeatIndex),
                          durationNs: 0, startUnixNsPlusOne: 0))
    }

    /// Appends a completed run without its evidence: `exemplar` is the test name of the kept run with the same
    /// status and outcome whose evidence stands for it.
    public mutating func appendFolded(_ r: ScenarioResult, exemplar: String) {
        var t = r
        t.phases = []; t.records = []; t.sessionNotes = []
        t.evidenceFoldedInto = exemplar
        t.repeatIndex = 0; t.durationNs = 0; t.startUnixNs = nil
        let idx: Int32
        if let i = templateIndex[t] { idx = i } else {
            idx = Int32(templates.count); templates.append(t); templateIndex[t] = idx
        }
        appendEntry(Entry(kept: -1, template: idx, repeatIndex: Int32(clamping: r.repeatIndex), durationNs: r.durationNs,
                          startUnixNsPlusOne: r.startUnixNs.map { $0 &+ 1 } ?? 0))
    }

    /// Results stored whole and evidence-free templates (for memory accounting in tests and benchmarks).
    public var storedCounts: (kept: Int, templates: Int, entries: Int) { (kept.count, templates.count, entryCount) }
    /// Bytes the coded entries take (benchmarks).
    public var entryBytes: Int { bytes.count + checkpoints.count * MemoryLayout<Cursor>.stride }

    /// Bytes stored in fixed 64 KiB chunks: appending never moves what is stored. (One growing array doubles and
    /// copies, and the freed smaller buffers stay resident in the heap: at `--repeat 200000`, ~19 MB of entries
    /// cost ~35 MB of RSS that way.)
    struct ChunkedBytes: Sendable {
        static let shift = 16
        static let chunkSize = 1 << shift
        var chunks: [[UInt8]] = []
        private(set) var count = 0

        mutating func append(_ b: UInt8) {
            if count & (Self.chunkSize - 1) == 0 {
                var chunk: [UInt8] = []
                chunk.reserveCapacity(Self.chunkSize)
                chunks.append(chunk)
            }
            chunks[chunks.count - 1].append(b)
            count += 1
        }

        subscript(i: Int) -> UInt8 { chunks[i >> Self.shift][i & (Self.chunkSize - 1)] }
    }

    public static func == (a: ScenarioResults, b: ScenarioResults) -> Bool { a.elementsEqual(b) }
    public func hash(into h: inout Hasher) {
        h.combine(count)
        for r in self { h.combine(r) }
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.unkeyedContainer()
        for r in self { try c.encode(r) }
    }
    public init(from decoder: any Decoder) throws {
        var c = try decoder.unkeyedContainer()
        while !c.isAtEnd { append(try c.decode(ScenarioResult.self)) }
    }
}
