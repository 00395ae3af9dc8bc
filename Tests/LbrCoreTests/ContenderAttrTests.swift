import LbrTestSupport
import Testing
@testable import LbrCore

/// The Swift-side attributes of every contender against the values the reference names (§4, §3.4, §1.1).
/// (The C struct bytes these turn into are checked in LbrLinuxTests/PerfAttrBytesTests.)
@Suite struct ContenderAttrTests {
    @Test func pinnedLbrEventFollowsSection4() {
        let a = Contender.pinnedLbr.attributes
        #expect(a.count == 1)
        #expect(a[0].type == .hardware && a[0].config == PerfHwConfig.cpuCycles)
        #expect(a[0].sampleType & 0x800 != 0)             // PERF_SAMPLE_BRANCH_STACK
        #expect(a[0].branchSampleType == 0x8 | 0x1 | 0x2 | (1 << 17))   // ANY | USER | KERNEL | HW_INDEX (§9.1)
        #expect(a[0].pinned && a[0].excludeGuest && a[0].samplePeriod == Contender.modelSamplePeriod)
        #expect(Contender.pinnedLbr.attributes(samplePeriod: Contender.lbrSamplePeriod)[0].samplePeriod == 100_000)
        #expect(a[0].clockid == PerfClockId.monotonic)       // sample times comparable with monotonicNs() (§4.2)
        #expect(Contender.pinnedLbr.isCpuScoped)
    }

    @Test func flexibleAndIncludingGuestVariants() {
        let f = Contender.flexibleLbr.attributes[0]
        #expect(!f.pinned && f.excludeGuest && f.sampleType & 0x800 != 0)
        let g = Contender.pinnedLbrIncludingGuest.attributes[0]
        #expect(g.pinned && !g.excludeGuest)
        let cs = Contender.lbrEvent(pinned: true, mode: .callStack, excludeGuest: true, base: .instructions).attributes[0]
        #expect(cs.branchSampleType == (1 << 11) | 1 | (1 << 17))  // CALL_STACK | USER | HW_INDEX
        #expect(cs.config == PerfHwConfig.instructions)
    }

    @Test func vlbrSlotIsRawConfig0x1b00Pinned() {
        let a = Contender.vlbrSlot.attributes
        #expect(a.count == 1)
        #expect(a[0].type == .raw && a[0].config == 0x1b00 && a[0].pinned)
        #expect(a[0].sampleType == 0 && a[0].samplePeriod == 0)  // counting; no precise_ip field exists to set
    }

    @Test func counterExhaustionOpensOnePinnedEventPerCounter() {
        let a = Contender.counterExhaustion(gp: 8, fixed: 4).attributes
        #expect(a.count == 12)
        #expect(a.allSatisfy { $0.pinned && $0.excludeGuest && !$0.isSampling })
        #expect(a.prefix(8).allSatisfy { $0.type == .raw && $0.config == 0x00c0 })
        #expect(a[8].config == PerfHwConfig.instructions && a[9].config == PerfHwConfig.cpuCycles
                && a[10].config == PerfHwConfig.refCpuCycles && a[11].type == .raw && a[11].config == 0x0400)
        #expect(Contender.counterExhaustion(gp: 0, fixed: 0).attributes.isEmpty)
    }

    @Test func taskCallStackContenderIsTaskScoped() {
        let c = Contender.lbrCallStackTask
        #expect(!c.isCpuScoped)
        let a = c.attributes[0]
        #expect(!a.pinned && a.sampleType & 0x800 != 0 && a.branchSampleType == (1 << 11) | 1 | (1 << 17))
        #expect(a.clockid == PerfClockId.monotonic)
    }

    @Test func samplePeriodIsAParameterOfEveryLbrSamplingEvent() {
        for c in [Contender.pinnedLbr, .flexibleLbr, .pinnedLbrIncludingGuest, .lbrCallStackTask] {
            #expect(c.attributes(samplePeriod: 400_000).allSatisfy { $0.samplePeriod == 400_000 })
            #expect(c.attributes == c.attributes(samplePeriod: Contender.modelSamplePeriod))
        }
        // Counting contenders have no period whatever is asked.
        #expect(Contender.vlbrSlot.attributes(samplePeriod: 400_000)[0].samplePeriod == 0)
        #expect(Contender.counterExhaustion(gp: 2, fixed: 1).attributes(samplePeriod: 400_000).allSatisfy { !$0.isSampling })
    }
}

/// The sampling plan (§4.1, §9.1): a period that keeps perf from throttling, sample size, ring size.
@Suite struct HostSamplingTests {
    @Test func periodKeepsTheWorstCaseRateAtHalfTheLimit() {
        // Default max_sample_rate 100,000: 5 GHz / 100,000 = 50,000 samples/s = half the limit.
        #expect(HostSampling.period(maxSampleRate: 100_000) == 100_000)
        #expect(HostSampling.period(maxSampleRate: nil) == HostSampling.defaultPeriod)
        #expect(HostSampling.worstCaseRate(period: 100_000) == 50_000)
        // A kernel that lowered the limit after "interrupt took too long" gets a longer period.
        #expect(HostSampling.period(maxSampleRate: 25_000) == 400_000)
        #expect(HostSampling.period(maxSampleRate: 1_000) == 10_000_000)
        // A raised limit never shortens the period below the default.
        #expect(HostSampling.period(maxSampleRate: 1_000_000) == 100_000)
        for rate in [1, 999, 12_345, 25_000, 50_000, 100_000, 500_000] {
            let p = HostSampling.period(maxSampleRate: rate)
            #expect(HostSampling.worstCaseRate(period: p) * HostSampling.rateHeadroom <= UInt64(max(rate, 100_000)))
        }
        // The old 10,000-cycle period would have asked for 500,000 samples/s: 5x perf's default limit.
        #expect(HostSampling.worstCaseRate(period: 10_000) > UInt64(HostSampling.defaultMaxSampleRate))
    }

    @Test func sampleBytesMatchTheParserAndH1() throws {
        let attr = Contender.pinnedLbr.attributes[0]
        // 8 header + ip, tid, time, cpu (4 x 8) + nr + hw_idx + 32 x 24.
        #expect(HostSampling.sampleBytes(attr, depth: 32) == 824)
        #expect(HostSampling.sampleBytes(attr, depth: 16) == 824 - 16 * 24)
        var w = PerfRecordWriter(attr)
        w.sample(ip: 1, pid: 2, tid: 3, time: 4, cpu: 5, hwIndex: 6,
                 entries: (0..<32).map { PerfBranchEntry(from: UInt64($0), to: UInt64($0) + 1) })
        #expect(w.bytes.count == 824)
        let r = try PerfRecordParser.parse(w.bytes, layout: PerfSampleLayout(attr))
        guard case let .sample(s) = r.records.first else { Issue.record("no sample"); return }
        #expect(s.tid == 3 && s.pid == 2 && s.time == 4 && s.cpu == 5 && s.branchStack?.hwIndex == 6)
        #expect(s.branchStack?.entries.count == 32)
    }

    @Test func ringHoldsOneDrainIntervalAtTheWorstCaseRate() {
        let bytes = 824
        let pages = HostSampling.ringPages(sampleBytes: bytes, period: 100_000)
        #expect(pages & (pages - 1) == 0 && pages >= 8 && pages <= HostSampling.maxRingPages)
        // 50,000/s x 50 ms = 2,500 samples x 824 B x 1.25 = 2.6 MB -> 1024 pages of 4 KiB.
        #expect(pages == 1024)
        #expect(HostSampling.ringCoverNs(pages: pages, sampleBytes: bytes, period: 100_000) >= HostSampling.drainIntervalNs)
        // A long period needs far less; never below 8 pages.
        #expect(HostSampling.ringPages(sampleBytes: bytes, period: 1_000_000) == 64)
        #expect(HostSampling.ringPages(sampleBytes: bytes, period: 10_000_000) == 8)
        #expect(HostSampling.ringPages(sampleBytes: 64, period: 1_000_000_000) == 8)
        // The old fixed 8 pages held ~40 samples: under a millisecond at the worst-case rate.
        #expect(HostSampling.ringCoverNs(pages: 8, sampleBytes: bytes, period: 100_000) < 1_000_000)
    }
}
