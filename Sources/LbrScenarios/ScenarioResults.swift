// The results of a run, folded so that memory stays flat in `--repeat N`.
//
// One element per reported test, as before: a completed run, or ONE entry standing for a block of runs of one
// scenario that were not started (signal), or skipped alike (backend unavailable, scenario unsupported) —
// `ScenarioResult.runsCovered` says how many runs that entry stands for.
//
// Storage: results with their evidence ("kept": the first run of each status + outcome code per scenario, every
// run when nothing repeats, and the grouped entries) are stored whole; every other completed run is a 32-byte
// entry (its repeat index, start and duration) pointing at a shared evidence-free template of its class (same
// scenario, status, outcome, reason, expectation). Reading such an element materialises a `ScenarioResult` with
// no phases, records or notes and `evidenceFoldedInto` naming the kept run whose evidence stands for it. The
// memory is therefore ~32 bytes per completed run plus one template per distinct result, and nothing per run
// not started.

/// The results of a run (a random-access collection of `ScenarioResult`; see the file comment).
public struct ScenarioResults: RandomAccessCollection, MutableCollection, Hashable, Sendable, Codable,
    ExpressibleByArrayLiteral {
    struct Entry: Hashable, Sendable {
        /// Index into `kept`, or -1 when folded into `templates[template]`.
        var kept: Int32
        var template: Int32
        var repeatIndex: Int32
        var durationNs: UInt64
        /// Unix ns + 1 (0: none).
        var startUnixNsPlusOne: UInt64
    }
    var kept: [ScenarioResult] = []
    var templates: [ScenarioResult] = []
    var templateIndex: [ScenarioResult: Int32] = [:]
    var entries: [Entry] = []

    public init() {}
    public init(_ results: some Sequence<ScenarioResult>) { for r in results { append(r) } }
    public init(arrayLiteral elements: ScenarioResult...) { self.init(elements) }

    public var startIndex: Int { 0 }
    public var endIndex: Int { entries.count }

    public subscript(i: Int) -> ScenarioResult {
        get {
            let e = entries[i]
            if e.kept >= 0 { return kept[Int(e.kept)] }
            var r = templates[Int(e.template)]
            r.repeatIndex = Int(e.repeatIndex)
            r.durationNs = e.durationNs
            r.startUnixNs = e.startUnixNsPlusOne == 0 ? nil : e.startUnixNsPlusOne &- 1
            return r
        }
        set {
            kept.append(newValue)
            entries[i] = Entry(kept: Int32(kept.count - 1), template: -1, repeatIndex: Int32(clamping: newValue.repeatIndex),
                               durationNs: newValue.durationNs, startUnixNsPlusOne: 0)
        }
    }

    /// Appends a result whole (with its evidence).
    public mutating func append(_ r: ScenarioResult) {
        kept.append(r)
        entries.append(Entry(kept: Int32(kept.count - 1), template: -1, repeatIndex: Int32(clamping: r.repeatIndex),
                             durationNs: r.durationNs, startUnixNsPlusOne: 0))
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
        entries.append(Entry(kept: -1, template: idx, repeatIndex: Int32(clamping: r.repeatIndex), durationNs: r.durationNs,
                             startUnixNsPlusOne: r.startUnixNs.map { $0 &+ 1 } ?? 0))
    }

    /// Results stored whole and evidence-free templates (for memory accounting in tests and benchmarks).
    public var storedCounts: (kept: Int, templates: Int, entries: Int) { (kept.count, templates.count, entries.count) }

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
