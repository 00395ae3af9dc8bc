// The host events that contend with a vLBR: the one place their perf_event_attr fields are
// spelled out. Each case cites the reference section it follows.

/// LBR filter mode of a host LBR event.
public enum LbrFilterMode: String, Sendable, Codable, CaseIterable {
    /// PERF_SAMPLE_BRANCH_ANY | USER | KERNEL (`perf record -b`), §4.
    case any
    /// PERF_SAMPLE_BRANCH_CALL_STACK | USER (`--call-graph lbr`), §4; needs Haswell+.
    case callStack = "call-stack"

    public var branchSampleType: UInt64 {
        switch self {
        case .any: return PerfBranch.any | PerfBranch.user | PerfBranch.kernel
        case .callStack: return PerfBranch.callStack | PerfBranch.user
        }
    }
}

/// Sampling base of a host LBR event.
public enum LbrSamplingEvent: String, Sendable, Codable {
    case cycles, instructions
    var config: UInt64 { self == .cycles ? PerfHwConfig.cpuCycles : PerfHwConfig.instructions }
}

/// The vLBR's fake event code INTEL_FIXED_VLBR_EVENT (event 0x00, umask 0x1b), §1.1.
public let intelFixedVlbrEvent: UInt64 = 0x1b00
/// The fake counter index the vLBR occupies, INTEL_PMC_IDX_FIXED_VLBR, §1.1.
public let intelPmcIdxFixedVlbr = 58

/// A host contender: what lbrprobe opens on the vCPU's CPU to compete with the vLBR.
public enum Contender: Hashable, Sendable, Codable {
    /// CPU-scoped LBR sampling event (pid = -1, cpu = N), §4. `pinned` makes it CPU-pinned, the
    /// highest perf priority (§3.1); `excludeGuest` is always chosen explicitly.
    case lbrEvent(pinned: Bool, mode: LbrFilterMode, excludeGuest: Bool, base: LbrSamplingEvent)
    /// CPU-pinned raw config 0x1b00 event: occupies the vLBR's fake counter 58 (§3.4 (a), §8.2).
    case vlbrSlot
    /// One CPU-pinned counting event per general-purpose and fixed counter (CPUID.0xA), §3.4 (b).
    case counterExhaustion(gp: Int, fixed: Int)
    /// A task-scoped LBR call-stack user (a host task that uses LBR call-stack mode), §3.4 last bullet.
    case lbrCallStackTask

    /// The default LBR contender: CPU-pinned, `-b` filter, exclude_guest=1 (reference §8.5 checklist).
    public static let pinnedLbr = Contender.lbrEvent(pinned: true, mode: .any, excludeGuest: true, base: .cycles)
    /// The same, flexible.
    public static let flexibleLbr = Contender.lbrEvent(pinned: false, mode: .any, excludeGuest: true, base: .cycles)
    /// A CPU-pinned LBR event that includes the guest (exclude_guest=0), for the guest-traced scenario.
    public static let pinnedLbrIncludingGuest = Contender.lbrEvent(pinned: true, mode: .any, excludeGuest: false, base: .cycles)

    /// Sample period of host LBR events.
    public static let lbrSamplePeriod: UInt64 = 10_000

    /// Whether the events are CPU-scoped (pid = -1, cpu = N) rather than task-scoped.
    public var isCpuScoped: Bool {
        if case .lbrCallStackTask = self { return false }
        return true
    }

    /// Whether this contender uses the LBR hardware.
    public var usesLbr: Bool {
        switch self {
        case .lbrEvent, .lbrCallStackTask: return true
        case .vlbrSlot, .counterExhaustion: return false
        }
    }

    /// Short stable name for reports.
    public var name: String {
        switch self {
        case let .lbrEvent(pinned, mode, excludeGuest, base):
            return "\(pinned ? "pinned" : "flexible")-lbr-\(mode.rawValue)-\(base.rawValue)\(excludeGuest ? "" : "-incl-guest")"
        case .vlbrSlot: return "vlbr-slot-0x1b00"
        case let .counterExhaustion(gp, fixed): return "counter-exhaustion-\(gp)gp-\(fixed)fixed"
        case .lbrCallStackTask: return "task-lbr-call-stack"
        }
    }

    /// The perf_event_attr of every event this contender opens, in open order.
    public var attributes: [PerfAttr] {
        switch self {
        case let .lbrEvent(pinned, mode, excludeGuest, base):
            // §4: a sampling event with PERF_SAMPLE_BRANCH_STACK (0x800); pinned for CPU-pinned priority.
            var a = PerfAttr(type: .hardware, config: base.config)
            a.samplePeriod = Contender.lbrSamplePeriod
            a.sampleType = PerfSample.ip | PerfSample.tid | PerfSample.time | PerfSample.cpu | PerfSample.branchStack
            a.branchSampleType = mode.branchSampleType
            a.pinned = pinned
            a.excludeGuest = excludeGuest
            return [a]
        case .vlbrSlot:
            // §3.4 (a): raw config 0x1b00 is matched by intel_vlbr_constraints() on config alone and gets
            // the fake counter 58; precise_ip must stay 0 (Kan Liang's fix rejects it).
            var a = PerfAttr(type: .raw, config: intelFixedVlbrEvent)
            a.pinned = true
            a.excludeGuest = true
            return [a]
        case let .counterExhaustion(gp, fixed):
            // §3.4 (b): fill every counter with a CPU-pinned counting event. GP counters get
            // INST_RETIRED.ANY_P (raw 0x00c0, any GP counter); fixed counters get the architectural
            // fixed events in counter order: instructions, cycles, ref-cycles, then TOPDOWN.SLOTS (raw 0x0400).
            var out: [PerfAttr] = []
            for _ in 0..<max(0, gp) {
                var a = PerfAttr(type: .raw, config: 0x00c0)
                a.pinned = true; a.excludeGuest = true
                out.append(a)
            }
            let fixedEvents: [(PerfType, UInt64)] = [(.hardware, PerfHwConfig.instructions),
                                                     (.hardware, PerfHwConfig.cpuCycles),
                                                     (.hardware, PerfHwConfig.refCpuCycles),
                                                     (.raw, 0x0400)]
            for i in 0..<max(0, fixed) {
                let (t, c) = fixedEvents[min(i, fixedEvents.count - 1)]
                var a = PerfAttr(type: t, config: c)
                a.pinned = true; a.excludeGuest = true
                out.append(a)
            }
            return out
        case .lbrCallStackTask:
            // §3.4: a task-scoped call-stack LBR user makes perf save/restore LBR stacks per task.
            var a = PerfAttr(type: .hardware, config: PerfHwConfig.cpuCycles)
            a.samplePeriod = Contender.lbrSamplePeriod
            a.sampleType = PerfSample.ip | PerfSample.tid | PerfSample.time | PerfSample.branchStack
            a.branchSampleType = LbrFilterMode.callStack.branchSampleType
            a.excludeGuest = true
            return [a]
        }
    }

    /// The attributes KVM itself uses for the vLBR event (`intel_pmu_create_guest_lbr_event()`, §1.2).
    /// Not opened by lbrprobe; used by the model and for documentation.
    public static var vlbrAttributes: PerfAttr {
        var a = PerfAttr(type: .raw, config: intelFixedVlbrEvent)
        a.sampleType = PerfSample.branchStack
        a.branchSampleType = PerfBranch.callStack | PerfBranch.user
        a.pinned = true
        a.excludeHost = true
        a.readFormat = 0
        return a
    }
}
