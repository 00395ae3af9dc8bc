import Testing
@testable import LbrCore

@Suite struct SampleAnalysisTests {
    func sample(cpu: UInt32, _ entries: [(UInt64, UInt64)]?) -> PerfRecord {
        var s = PerfSampleRecord()
        s.cpu = cpu
        if let entries { s.branchStack = PerfBranchStack(entries: entries.map { PerfBranchEntry(from: $0.0, to: $0.1) }) }
        return .sample(s)
    }

    @Test func countsBranchStacksEmptyStacksGuestEntriesAndLost() {
        let guest: Range<UInt64> = 0x1000..<0x2000
        let records: [PerfRecord] = [
            sample(cpu: 1, [(0x1010, 0x1020), (0xffff_8000_0000_0000, 0x1500), (0x5000, 0x6000)]), // 2 guest entries
            sample(cpu: 1, []),                     // empty stack: host starved
            sample(cpu: 1, nil),                    // no stack at all
            sample(cpu: 0, [(0x1000, 0x1001)]),     // other CPU
            .lost(id: 1, lost: 7),
            .other(type: 3, size: 32),
        ]
        let all = SampleAnalysis.summarize(contender: "pinned", records: records, guestRange: guest)
        #expect(all == HostSampleSummary(contender: "pinned", samples: 4, withBranches: 2, emptyBranches: 2,
                                         guestAddresses: 3, lost: 7))
        let cpu1 = SampleAnalysis.summarize(contender: "pinned", records: records, guestRange: guest, cpu: 1)
        #expect(cpu1.samples == 3 && cpu1.withBranches == 1 && cpu1.emptyBranches == 2 && cpu1.guestAddresses == 2)
        // The range end is exclusive.
        let edge = SampleAnalysis.summarize(contender: "x", records: [sample(cpu: 0, [(0x2000, 0x3000)])], guestRange: guest)
        #expect(edge.guestAddresses == 0)
        #expect(SampleAnalysis.summarize(contender: "x", records: records, guestRange: nil).guestAddresses == 0)
        let m = SampleAnalysis.merge(all, cpu1)
        #expect(m.samples == 7 && m.lost == 14 && m.guestAddresses == 5)  // LOST is per event, not per CPU
    }
}
