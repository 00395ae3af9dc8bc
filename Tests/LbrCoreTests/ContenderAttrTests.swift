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
        #expect(a[0].branchSampleType == 0x8 | 0x1 | 0x2)   // ANY | USER | KERNEL
        #expect(a[0].pinned && a[0].excludeGuest && a[0].samplePeriod > 0)
        #expect(Contender.pinnedLbr.isCpuScoped)
    }

    @Test func flexibleAndIncludingGuestVariants() {
        let f = Contender.flexibleLbr.attributes[0]
        #expect(!f.pinned && f.excludeGuest && f.sampleType & 0x800 != 0)
        let g = Contender.pinnedLbrIncludingGuest.attributes[0]
        #expect(g.pinned && !g.excludeGuest)
        let cs = Contender.lbrEvent(pinned: true, mode: .callStack, excludeGuest: true, base: .instructions).attributes[0]
        #expect(cs.branchSampleType == (1 << 11) | 1)       // CALL_STACK | USER
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
        #expect(!a.pinned && a.sampleType & 0x800 != 0 && a.branchSampleType == (1 << 11) | 1)
    }
}
