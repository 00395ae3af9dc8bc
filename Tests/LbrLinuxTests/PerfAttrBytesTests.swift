import CLbrShim
import LbrCore
import Testing
@testable import LbrLinux

/// The bytes of `struct perf_event_attr` that PerfEvent.cAttr produces for every contender, read at
/// the UAPI offsets (include/uapi/linux/perf_event.h), against the values the reference names (§4, §3.4).
@Suite struct PerfAttrBytesTests {
    static func u64(_ b: [UInt8], _ off: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[off + $1]) << (8 * UInt64($1)) } }
    static func u32(_ b: [UInt8], _ off: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[off + $1]) << (8 * UInt32($1)) } }

    // UAPI offsets.
    static let offType = 0, offSize = 4, offConfig = 8, offSamplePeriod = 16, offSampleType = 24, offReadFormat = 32
    static let offFlags = 40, offWakeup = 48, offConfig1 = 56, offBranchSampleType = 72
    // Flag bits at offset 40.
    static let bitDisabled: UInt64 = 1 << 0, bitInherit: UInt64 = 1 << 1, bitPinned: UInt64 = 1 << 2
    static let bitExclusive: UInt64 = 1 << 3, bitPreciseIp: UInt64 = 3 << 15, bitExcludeHost: UInt64 = 1 << 19
    static let bitExcludeGuest: UInt64 = 1 << 20, bitUseClockid: UInt64 = 1 << 25
    static let offClockid = 92   // __s32 clockid after sample_regs_user (80) and sample_stack_user (88)

    @Test func sizeIsTheUapiSize() {
        let b = PerfEvent.cAttrBytes(Contender.pinnedLbr.attributes[0])
        #expect(b.count == Int(lbr_perf_attr_size()))
        #expect(Self.u32(b, Self.offSize) == lbr_perf_attr_size())
        #expect(lbr_perf_attr_size() >= 120) // PERF_ATTR_SIZE_VER7+ carries branch_sample_type at 72
    }

    @Test func pinnedLbrBytes() {
        let b = PerfEvent.cAttrBytes(Contender.pinnedLbr.attributes[0])
        #expect(Self.u32(b, Self.offType) == 0)                       // PERF_TYPE_HARDWARE
        #expect(Self.u64(b, Self.offConfig) == 0)                     // PERF_COUNT_HW_CPU_CYCLES
        #expect(Self.u64(b, Self.offSamplePeriod) == Contender.modelSamplePeriod)
        let hw = PerfEvent.cAttrBytes(Contender.pinnedLbr.attributes(samplePeriod: Contender.lbrSamplePeriod)[0])
        #expect(Self.u64(hw, Self.offSamplePeriod) == 100_000)        // what the hw backend opens by default (§4.1)
        #expect(Self.u64(b, Self.offSampleType) & 0x800 == 0x800)      // PERF_SAMPLE_BRANCH_STACK
        #expect(Self.u64(b, Self.offBranchSampleType) == 0x8 | 0x1 | 0x2 | 0x20000) // ANY|USER|KERNEL|HW_INDEX (§9.1)
        let flags = Self.u64(b, Self.offFlags)
        #expect(flags & Self.bitPinned != 0)
        #expect(flags & Self.bitExcludeGuest != 0)
        #expect(flags & Self.bitUseClockid != 0)                     // use_clockid
        #expect(Self.u32(b, Self.offClockid) == 1)                   // CLOCK_MONOTONIC (§4.2)
        #expect(flags & (Self.bitDisabled | Self.bitInherit | Self.bitExclusive | Self.bitPreciseIp | Self.bitExcludeHost) == 0)
        #expect(Self.u64(b, Self.offReadFormat) == 0x7)               // TOTAL_TIME_ENABLED|RUNNING|ID
    }

    @Test func flexibleLbrBytesDifferOnlyInPinned() {
        let p = PerfEvent.cAttrBytes(Contender.pinnedLbr.attributes[0])
        let f = PerfEvent.cAttrBytes(Contender.flexibleLbr.attributes[0])
        #expect(Self.u64(f, Self.offFlags) & Self.bitPinned == 0)
        let diff = (0..<p.count).filter { p[$0] != f[$0] }
        #expect(diff == [Self.offFlags])   // the byte holding bit 2
        let g = PerfEvent.cAttrBytes(Contender.pinnedLbrIncludingGuest.attributes[0])
        #expect(Self.u64(g, Self.offFlags) & Self.bitExcludeGuest == 0)
        let cs = PerfEvent.cAttrBytes(Contender.lbrEvent(pinned: true, mode: .callStack, excludeGuest: true, base: .instructions).attributes[0])
        #expect(Self.u64(cs, Self.offBranchSampleType) == 0x800 | 0x1 | 0x20000)  // CALL_STACK|USER|HW_INDEX
        #expect(Self.u64(cs, Self.offConfig) == 1)                       // PERF_COUNT_HW_INSTRUCTIONS
    }

    @Test func vlbrSlotBytes() {
        let b = PerfEvent.cAttrBytes(Contender.vlbrSlot.attributes[0])
        #expect(Self.u32(b, Self.offType) == 4)                       // PERF_TYPE_RAW
        #expect(Self.u64(b, Self.offConfig) == 0x1b00)                // INTEL_FIXED_VLBR_EVENT
        let flags = Self.u64(b, Self.offFlags)
        #expect(flags & Self.bitPinned != 0)
        #expect(flags & Self.bitPreciseIp == 0)                       // precise_ip with 0x1b00 → EINVAL (§3.4)
        #expect(Self.u64(b, Self.offSamplePeriod) == 0 && Self.u64(b, Self.offSampleType) == 0)
        #expect(Self.u64(b, Self.offConfig1) == 0 && Self.u64(b, Self.offBranchSampleType) == 0)
    }

    @Test func counterExhaustionBytesFromCpuid0xA() {
        // Skylake server CPUID.0xA: EAX 0x07300804 (v4, 8 GP), EDX 0x00008603 (3 fixed).
        let skl = ArchPerfmonCounters(cpuid0xA: 0x0730_0804, edx: 0x0000_8603)
        #expect(skl == ArchPerfmonCounters(version: 4, generalPurpose: 8, fixed: 3))
        #expect(ArchPerfmonCounters(cpuid0xA: 0x0730_0401, edx: 0x7).fixed == 0) // v1: EDX reserved
        let attrs = skl.exhaustionContender.attributes
        #expect(attrs.count == 11)
        for a in attrs {
            let b = PerfEvent.cAttrBytes(a)
            #expect(Self.u64(b, Self.offFlags) & Self.bitPinned != 0)
            #expect(Self.u64(b, Self.offSamplePeriod) == 0)
        }
        #expect(attrs.prefix(8).allSatisfy { Self.u64(PerfEvent.cAttrBytes($0), Self.offConfig) == 0xc0 })
        // This host (AMD VM) reports no leaf 0xA counters.
        let host = ArchPerfmonCounters.host()
        #expect(host.version >= 0)
    }

    @Test func wakeupAndDisabledAreCarried() {
        var a = PerfAttr(type: .tracepoint, config: 99)
        a.disabled = true; a.wakeupEvents = 3; a.samplePeriod = 1; a.sampleType = PerfSample.raw
        let b = PerfEvent.cAttrBytes(a)
        #expect(Self.u32(b, Self.offType) == 2 && Self.u64(b, Self.offConfig) == 99)
        #expect(Self.u64(b, Self.offFlags) & Self.bitDisabled != 0)
        #expect(Self.u32(b, Self.offWakeup) == 3)
        #expect(Self.u64(b, Self.offSampleType) == 1 << 10)
    }
}
