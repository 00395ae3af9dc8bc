// Host-side analysis of host LBR samples: "is the guest traced by the host?" and "is the host
// starved?" (reference §8.1: with an active vLBR, host LBR samples on the vCPU's CPU lose their
// branch stacks). Pure: records in, summary out.

/// Pure analysis of parsed perf records.
public enum SampleAnalysis {
    /// Summarizes `records` of one host event.
    ///
    /// - `samples`: PERF_RECORD_SAMPLE count (optionally only those on `cpu`).
    /// - `withBranches`: samples whose branch stack has ≥ 1 entry.
    /// - `emptyBranches`: samples whose branch stack has nr == 0, or that carry no branch stack at all
    ///   although one was expected (an LBR event that lost its LBRs looks like this).
    /// - `guestAddresses`: branch entries whose `from` or `to` lies in `guestRange` (each entry counted once).
    /// - `lost`: sum of PERF_RECORD_LOST counts.
    public static func summarize(contender: String, records: [PerfRecord], guestRange: Range<UInt64>?,
                                 cpu: UInt32? = nil) -> HostSampleSummary {
        var samples = 0, withBranches = 0, empty = 0, guest = 0, lost = 0
        for r in records {
            switch r {
            case let .sample(s):
                if let cpu, let sc = s.cpu, sc != cpu { continue }
                samples += 1
                let entries = s.branchStack?.entries ?? []
                if entries.isEmpty { empty += 1 } else { withBranches += 1 }
                if let guestRange {
                    for e in entries where guestRange.contains(e.from) || guestRange.contains(e.to) { guest += 1 }
                }
            case let .lost(_, n):
                lost += Int(clamping: n)
            case .other:
                continue
            }
        }
        return HostSampleSummary(contender: contender, samples: samples, withBranches: withBranches,
                                 emptyBranches: empty, guestAddresses: guest, lost: lost)
    }

    /// Merges summaries of the same contender (e.g. successive ring drains).
    public static func merge(_ a: HostSampleSummary, _ b: HostSampleSummary) -> HostSampleSummary {
        HostSampleSummary(contender: a.contender, samples: a.samples + b.samples,
                          withBranches: a.withBranches + b.withBranches,
                          emptyBranches: a.emptyBranches + b.emptyBranches,
                          guestAddresses: a.guestAddresses + b.guestAddresses, lost: a.lost + b.lost)
    }
}
