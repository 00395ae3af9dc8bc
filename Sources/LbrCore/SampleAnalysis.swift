// Host-side analysis of host LBR samples: "is the guest traced by the host?" and "is the host
// starved?" (reference §8.1: with an active vLBR, host LBR samples on the vCPU's CPU lose their
// branch stacks). Pure: records in, summary out.

/// Pure analysis of parsed perf records.
public enum SampleAnalysis {
    /// Summarizes `records` of one host event.
    ///
    /// - `samples`: PERF_RECORD_SAMPLE count of the samples kept by `keep` (default: all; optionally only those
    ///   on `cpu`); the others count as `filteredOut`.
    /// - `withBranches` / `emptyBranches`: kept samples whose branch stack has ≥ 1 entry / nr == 0 (or none at all
    ///   although one was expected).
    /// - `staleRepeats`: kept samples whose branch stack (hw_idx and every entry) equals the stack of the sample
    ///   written just before it on the same CPU — kept or not: `intel_pmu_lbr_read()` skipped, `cpuc->lbr_stack`
    ///   (the last real read on that CPU, whichever sample carried it) re-attached (§9.1).
    ///   Two samples of a sampling event are a full period of executed cycles apart, so branches certainly ran
    ///   between them. An empty stack (nr == 0) counts as empty, and as a stale repeat only when it repeats
    ///   the previous sample exactly, hw_idx included (a lone empty stack is br_sel filtering, §9.6).
    /// - `guestAddresses`: branch entries that are the guest's: with `guestEdges`, entries whose FROM -> TO exactly
    ///   matches an edge of the payload's exported edge table (§9.7); otherwise entries whose `from` or `to` lies in
    ///   `guestRange` (each entry counted once).
    /// - `lost`: sum of PERF_RECORD_LOST counts; `throttled`: PERF_RECORD_THROTTLE records.
    public static func summarize(contender: String, records: [PerfRecord], guestRange: Range<UInt64>?,
                                 guestEdges: GuestEdgeSet? = nil, cpu: UInt32? = nil, samplePeriod: UInt64? = nil,
                                 keep: (PerfSampleRecord) -> Bool = { _ in true }) -> HostSampleSummary {
        var previous: PerfBranchStack?
        return summarize(contender: contender, records: records, guestRange: guestRange, guestEdges: guestEdges,
                         cpu: cpu, samplePeriod: samplePeriod, previous: &previous, keep: keep)
    }

    /// `summarize` over successive drains of one ring: `previous` is the branch stack of the last sample on
    /// `cpu` seen so far (nil at the start) and is updated, so the first sample of a drain is compared with the
    /// last sample of the drain before it.
    public static func summarize(contender: String, records: [PerfRecord], guestRange: Range<UInt64>?,
                                 guestEdges: GuestEdgeSet? = nil, cpu: UInt32? = nil, samplePeriod: UInt64? = nil,
                                 previous: inout PerfBranchStack?,
                                 keep: (PerfSampleRecord) -> Bool = { _ in true }) -> HostSampleSummary {
        var out = HostSampleSummary(contender: contender, samples: 0, withBranches: 0, emptyBranches: 0,
                                    guestAddresses: 0, samplePeriod: samplePeriod)
        for r in records {
            switch r {
            case let .sample(s):
                if let cpu, let sc = s.cpu, sc != cpu { out.filteredOut += 1; continue }
                let stack = s.branchStack
                let before = previous
                previous = stack
                if !keep(s) { out.filteredOut += 1; continue }
                out.samples += 1
                let entries = stack?.entries ?? []
                if stack?.hwIndex != nil { out.withHwIndex += 1 }
                if entries.isEmpty { out.emptyBranches += 1 } else { out.withBranches += 1 }
                // An exact repeat (hw_idx and every entry, nr == 0 included) is stale. Without hw_idx two empty
                // stacks cannot be told apart from two genuine empty reads, so they are not counted.
                if let p = before, let stack, p.entries == entries, p.hwIndex == stack.hwIndex,
                   !entries.isEmpty || stack.hwIndex != nil {
                    out.staleRepeats += 1
                    if out.staleExample == nil { out.staleExample = describeStack(stack) }
                }
                if let guestEdges {
                    for e in entries where guestEdges.contains(from: e.from, to: e.to) { out.guestAddresses += 1 }
                } else if let guestRange {
                    for e in entries where guestRange.contains(e.from) || guestRange.contains(e.to) { out.guestAddresses += 1 }
                }
            case let .lost(_, n):
                out.lost = saturatingSum(out.lost, Int(clamping: n))
            case .throttle:
                out.throttled += 1
            case .other:
                continue
            }
        }
        return out
    }

    /// One-line ASCII description of a branch stack (hw_idx, depth, first two entries).
    public static func describeStack(_ s: PerfBranchStack) -> String {
        func h(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
        let head = s.entries.prefix(2).map { "\(h($0.from))->\(h($0.to))" }.joined(separator: " ")
        return (s.hwIndex.map { "hw_idx \(h($0)), " } ?? "") + "\(s.entries.count) entries, \(head)"
            + (s.entries.count > 2 ? " ..." : "")
    }

    /// `a + b`, Int.max when it would overflow (PERF_RECORD_LOST counts are u64; a capture's may be hostile).
    static func saturatingSum(_ a: Int, _ b: Int) -> Int {
        let (s, o) = a.addingReportingOverflow(b)
        return o ? (b > 0 ? .max : .min) : s
    }

    /// Merges summaries of the same contender (e.g. successive ring drains).
    public static func merge(_ a: HostSampleSummary, _ b: HostSampleSummary) -> HostSampleSummary {
        HostSampleSummary(contender: a.contender, samples: a.samples + b.samples,
                          withBranches: a.withBranches + b.withBranches,
                          emptyBranches: a.emptyBranches + b.emptyBranches,
                          guestAddresses: a.guestAddresses + b.guestAddresses, lost: saturatingSum(a.lost, b.lost),
                          staleRepeats: a.staleRepeats + b.staleRepeats, withHwIndex: a.withHwIndex + b.withHwIndex,
                          filteredOut: a.filteredOut + b.filteredOut, throttled: a.throttled + b.throttled,
                          samplePeriod: a.samplePeriod ?? b.samplePeriod, staleExample: a.staleExample ?? b.staleExample)
    }
}
