// The raw host samples behind one `HostSampleSummary`: every drain of a host LBR event's ring as the detector
// consumed it (each sample's TID, time, CPU, hw_idx and entries, lost and throttle records, the filter that kept
// or dropped it, the stack it was compared with first). The summary is derived from these by
// `SampleAnalysis.summarize`, so a capture holding them can be summarized again by a later detector
// (docs/capture-format.md).

/// Which samples of a drain the detector keeps; the others count as filtered out (§9.1).
public enum SampleKeepRule: Hashable, Sendable, Codable {
    /// Every sample (on the batch's CPU).
    case every
    /// Samples of one thread (the model's vCPU thread, whatever the time).
    case thread(tid: UInt32)
    /// Samples of the vCPU thread inside one of the guest commands' CLOCK_MONOTONIC windows (hw).
    case windows([GuestCommandWindow])

    public func keeps(_ s: PerfSampleRecord) -> Bool {
        switch self {
        case .every: return true
        case let .thread(tid): return s.tid == tid
        case let .windows(w): return GuestCommandWindow.keep(s, in: w)
        }
    }
}

/// One drain of one ring: its records in ring order.
public struct HostSampleBatch: Hashable, Sendable, Codable {
    /// Samples on another CPU are filtered out; nil: no CPU filter.
    public var cpu: UInt32?
    public var keep: SampleKeepRule
    /// The branch stack of the last sample on the CPU before this drain (kept or not), which the first sample is
    /// compared with for a stale repeat; nil when the ring had none.
    public var before: PerfBranchStack?
    /// Samples (only what the detector reads: TID, time, CPU, hw_idx and entries), lost and throttle records.
    public var records: [PerfRecord]

    public init(cpu: UInt32?, keep: SampleKeepRule, before: PerfBranchStack?, records: [PerfRecord]) {
        self.cpu = cpu; self.keep = keep; self.before = before
        self.records = records.compactMap(Self.essential)
    }

    /// What the detector reads of a record (other record types and sample fields are dropped).
    static func essential(_ r: PerfRecord) -> PerfRecord? {
        switch r {
        case let .sample(s):
            var t = PerfSampleRecord()
            t.tid = s.tid; t.time = s.time; t.cpu = s.cpu
            t.branchStack = s.branchStack.map { PerfBranchStack(hwIndex: $0.hwIndex, entries: $0.entries) }
            return .sample(t)
        case .lost, .throttle: return r
        case .other: return nil
        }
    }

    /// The branch stack of the last sample on `cpu` in this batch, or `before` when it holds none.
    public var after: PerfBranchStack? {
        var last = before
        for case let .sample(s) in records {
            if let cpu, let sc = s.cpu, sc != cpu { continue }
            last = s.branchStack
        }
        return last
    }
}

/// Every drain behind one `hostSamples` summary of one contender.
public struct HostSampleRecords: Hashable, Sendable, Codable {
    public var contender: String
    /// The sample period of the contender's sampling events (nil when not known).
    public var samplePeriod: UInt64?
    /// Entries whose FROM or TO lies here count as the guest's when no edge set is given (§9.7).
    public var guestRange: Range<UInt64>?
    /// Whether the guest's entries are matched against the payload's exact edge table (`guestEdges` of the
    /// session) rather than `guestRange`.
    public var exactEdges: Bool
    public var batches: [HostSampleBatch]

    public init(contender: String, samplePeriod: UInt64?, guestRange: Range<UInt64>?, exactEdges: Bool,
                batches: [HostSampleBatch]) {
        self.contender = contender; self.samplePeriod = samplePeriod; self.guestRange = guestRange
        self.exactEdges = exactEdges; self.batches = batches
    }

    /// Kept and filtered samples in all batches.
    public var sampleCount: Int {
        batches.reduce(0) { n, b in n + b.records.reduce(0) { if case .sample = $1 { return $0 + 1 }; return $0 } }
    }

    /// The summary the detector derives (`SampleAnalysis.summarize` per batch, merged in drain order);
    /// `guestEdges` is the payload's edge table, used when `exactEdges`.
    public func summary(guestEdges: GuestEdgeSet?) -> HostSampleSummary {
        var total = HostSampleSummary(contender: contender, samples: 0, withBranches: 0, emptyBranches: 0,
                                      guestAddresses: 0, samplePeriod: samplePeriod)
        for b in batches {
            var previous = b.before
            let keep = b.keep
            let s = SampleAnalysis.summarize(contender: contender, records: b.records, guestRange: guestRange,
                                             guestEdges: exactEdges ? guestEdges : nil, cpu: b.cpu,
                                             samplePeriod: samplePeriod, previous: &previous,
                                             keep: { keep.keeps($0) })
            total = SampleAnalysis.merge(total, s)
        }
        return total
    }
}

// MARK: compact file form

extension HostSampleBatch {
    private enum CodingKeys: String, CodingKey { case cpu, keep, before, stacks, records }
    private enum RecordKeys: String, CodingKey { case lost, throttle, id }

    /// Bounds a decoded batch must respect (it may come from an untrusted file).
    public enum Limits {
        /// Records of one drain (a ring of 1024 pages holds ~400k minimal samples).
        public static let maxRecords = 1 << 22
        /// Entries of one branch stack (`PerfRecordParser.maxBranchEntries`).
        public static let maxEntries = Int(PerfRecordParser.maxBranchEntries)
        /// A PERF_RECORD_LOST count, and any count of a host-sample summary (2^40: far above any run's).
        public static let maxCount = 1 << 40
    }

    /// Compact form (docs/capture-format.md): `stacks` lists each distinct branch stack once as
    /// `[hw_idx or null, from, to, flags, from, to, flags, …]` (entries newest first); `before` is an index into
    /// `stacks` or null; `records` holds, in ring order, a sample as `[timeNs, tid, cpu, stack]` (null where the
    /// sample lacks the field) or `{"lost": n, "id": id}` / `{"throttle": timeNs, "id": id}`.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        var index: [PerfBranchStack: Int] = [:]
        var stacks: [[UInt64?]] = []
        func ref(_ s: PerfBranchStack?) -> Int? {
            guard let s else { return nil }
            if let i = index[s] { return i }
            var row: [UInt64?] = [s.hwIndex]
            row.reserveCapacity(1 + 3 * s.entries.count)
            for e in s.entries { row.append(e.from); row.append(e.to); row.append(e.flags) }
            index[s] = stacks.count
            stacks.append(row)
            return stacks.count - 1
        }
        let before = ref(self.before)
        var rows: [CompactRecord] = []
        rows.reserveCapacity(records.count)
        for r in records {
            switch r {
            case let .sample(s):
                rows.append(.sample([s.time, s.tid.map(UInt64.init), s.cpu.map(UInt64.init), ref(s.branchStack).map(UInt64.init)]))
            case let .lost(id, n): rows.append(.lost(id: id, count: n))
            case let .throttle(time, id): rows.append(.throttle(time: time, id: id))
            case .other: break
            }
        }
        try c.encodeIfPresent(cpu, forKey: .cpu)
        try c.encode(keep, forKey: .keep)
        try c.encodeIfPresent(before, forKey: .before)
        try c.encode(stacks, forKey: .stacks)
        try c.encode(rows, forKey: .records)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        cpu = try c.decodeIfPresent(UInt32.self, forKey: .cpu)
        keep = try c.decode(SampleKeepRule.self, forKey: .keep)
        let rows = try c.decode([[UInt64?]].self, forKey: .stacks)
        func bad(_ why: String) -> DecodingError {
            DecodingError.dataCorruptedError(forKey: .stacks, in: c, debugDescription: why)
        }
        var stacks: [PerfBranchStack] = []
        stacks.reserveCapacity(rows.count)
        for row in rows {
            guard let first = row.first else { throw bad("a branch stack is empty (it starts with hw_idx or null)") }
            let n = row.count - 1
            guard n % 3 == 0 else { throw bad("a branch stack is not hw_idx followed by from, to, flags triples") }
            guard n / 3 <= Limits.maxEntries else { throw bad("a branch stack has more than \(Limits.maxEntries) entries") }
            var entries: [PerfBranchEntry] = []
            entries.reserveCapacity(n / 3)
            var k = 1
            while k < row.count {
                guard let f = row[k], let t = row[k + 1], let fl = row[k + 2] else { throw bad("a branch entry holds null") }
                entries.append(PerfBranchEntry(from: f, to: t, flags: fl))
                k += 3
            }
            stacks.append(PerfBranchStack(hwIndex: first, entries: entries))
        }
        func stack(_ i: UInt64?) throws -> PerfBranchStack? {
            guard let i else { return nil }
            guard i < UInt64(stacks.count) else { throw bad("stack index \(i) is not below the \(stacks.count) stacks") }
            return stacks[Int(i)]
        }
        before = try stack(try c.decodeIfPresent(UInt64.self, forKey: .before))
        let compact = try c.decode([CompactRecord].self, forKey: .records)
        guard compact.count <= Limits.maxRecords else { throw bad("more than \(Limits.maxRecords) records in one drain") }
        var out: [PerfRecord] = []
        out.reserveCapacity(compact.count)
        for r in compact {
            switch r {
            case let .sample(f):
                guard f.count == 4 else { throw bad("a sample is not [timeNs, tid, cpu, stack]") }
                var s = PerfSampleRecord()
                s.time = f[0]
                if let tid = f[1] {
                    guard let v = UInt32(exactly: tid) else { throw bad("tid \(tid) is out of range") }
                    s.tid = v
                }
                if let cpu = f[2] {
                    guard let v = UInt32(exactly: cpu) else { throw bad("cpu \(cpu) is out of range") }
                    s.cpu = v
                }
                s.branchStack = try stack(f[3])
                out.append(.sample(s))
            case let .lost(id, n): out.append(.lost(id: id, lost: n))
            case let .throttle(time, id): out.append(.throttle(time: time, id: id))
            }
        }
        records = out
    }

    /// One record in the compact form.
    private enum CompactRecord: Codable {
        case sample([UInt64?])
        case lost(id: UInt64, count: UInt64)
        case throttle(time: UInt64, id: UInt64)

        func encode(to encoder: any Encoder) throws {
            switch self {
            case let .sample(f):
                var c = encoder.singleValueContainer()
                try c.encode(f)
            case let .lost(id, n):
                var c = encoder.container(keyedBy: RecordKeys.self)
                try c.encode(n, forKey: .lost); try c.encode(id, forKey: .id)
            case let .throttle(time, id):
                var c = encoder.container(keyedBy: RecordKeys.self)
                try c.encode(time, forKey: .throttle); try c.encode(id, forKey: .id)
            }
        }

        init(from decoder: any Decoder) throws {
            if let f = try? decoder.singleValueContainer().decode([UInt64?].self) { self = .sample(f); return }
            let c = try decoder.container(keyedBy: RecordKeys.self)
            let id = try c.decodeIfPresent(UInt64.self, forKey: .id) ?? 0
            if let n = try c.decodeIfPresent(UInt64.self, forKey: .lost) {
                guard n <= UInt64(Limits.maxCount) else {
                    throw DecodingError.dataCorruptedError(forKey: .lost, in: c, debugDescription: "lost count \(n) above \(Limits.maxCount)")
                }
                self = .lost(id: id, count: n); return
            }
            if let t = try c.decodeIfPresent(UInt64.self, forKey: .throttle) { self = .throttle(time: t, id: id); return }
            throw DecodingError.dataCorruptedError(forKey: .lost, in: c,
                                                   debugDescription: "a record is neither a sample, lost nor throttle")
        }
    }
}
