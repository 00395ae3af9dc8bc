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
    /// The same impostor with exclude_host=1: on counter 58 `intel_set_masks()` sets bit 58 of
    /// `intel_ctrl_guest_mask`, so `vlbr_exclude_host()` starves every host LBR user on the CPU with no vLBR at all
    /// (reference §9.4). Not in the catalog; the model's explorer opens it.
    case vlbrSlotExcludingHost
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

    /// Sample period of the host LBR events the hw backend opens when nothing is known about this host's perf
    /// limits: `HostSampling.defaultPeriod` (see there for why 100,000 and not 10,000). On a real host the hw
    /// backend uses `HostSampling.period(maxSampleRate:)` and reports it (§4.1).
    public static let lbrSamplePeriod: UInt64 = HostSampling.defaultPeriod

    /// Sample period of `attributes` (no argument), which the kernel model (LbrModel) samples with: the same
    /// 100,000 counts as the hw backend's default (`lbrSamplePeriod`), so sim and hybrid keep as few samples
    /// as hardware would unless a phase adds calibrated host-mode time (`GuestCommand.hostSampleTime`, §9.6).
    public static let modelSamplePeriod: UInt64 = lbrSamplePeriod

    /// Whether the events are CPU-scoped (pid = -1, cpu = N) rather than task-scoped.
    public var isCpuScoped: Bool {
        if case .lbrCallStackTask = self { return false }
        return true
    }

    /// Whether this contender uses the LBR hardware.
    public var usesLbr: Bool {
        switch self {
        case .lbrEvent, .lbrCallStackTask: return true
        case .vlbrSlot, .vlbrSlotExcludingHost, .counterExhaustion: return false
        }
    }

    /// Short stable name for reports.
    public var name: String {
        switch self {
        case let .lbrEvent(pinned, mode, excludeGuest, base):
            return "\(pinned ? "pinned" : "flexible")-lbr-\(mode.rawValue)-\(base.rawValue)\(excludeGuest ? "" : "-incl-guest")"
        case .vlbrSlot: return "vlbr-slot-0x1b00"
        case .vlbrSlotExcludingHost: return "vlbr-slot-0x1b00-excl-host"
        case let .counterExhaustion(gp, fixed): return "counter-exhaustion-\(gp)gp-\(fixed)fixed"
        case .lbrCallStackTask: return "task-lbr-call-stack"
        }
    }

    /// The contender spelled `name` (its `name`), nil for anything else.
    public init?(name: String) {
        if name == Contender.vlbrSlot.name { self = .vlbrSlot; return }
        if name == Contender.lbrCallStackTask.name { self = .lbrCallStackTask; return }
        let prefix = "counter-exhaustion-"
        if name.hasPrefix(prefix), name.hasSuffix("fixed") {
            let counts = name.dropFirst(prefix.count).dropLast("fixed".count).split(separator: "-")
            guard counts.count == 2, counts[0].hasSuffix("gp"), let gp = Int(counts[0].dropLast(2)),
                  let fixed = Int(counts[1]) else { return nil }
            self = .counterExhaustion(gp: gp, fixed: fixed)
        } else {
            let events = [true, false].flatMap { pinned in LbrFilterMode.allCases.flatMap { mode in
                [true, false].flatMap { excl in [LbrSamplingEvent.cycles, .instructions].map { base in
                    Contender.lbrEvent(pinned: pinned, mode: mode, excludeGuest: excl, base: base) } } } }
            guard let c = events.first(where: { $0.name == name }) else { return nil }
            self = c
        }
        guard self.name == name else { return nil }   // one spelling per contender
    }

    /// The perf_event_attr of every event this contender opens, in open order, with the kernel model's sample
    /// period (`modelSamplePeriod`); the hw backend calls `attributes(samplePeriod:)` with its own period.
    public var attributes: [PerfAttr] { attributes(samplePeriod: Contender.modelSamplePeriod) }

    /// The perf_event_attr of every event this contender opens, in open order; LBR sampling events use
    /// `samplePeriod` (the hw backend passes `HostSampling.period(maxSampleRate:)` of this host).
    public func attributes(samplePeriod: UInt64) -> [PerfAttr] {
        switch self {
        case let .lbrEvent(pinned, mode, excludeGuest, base):
            // §4: a sampling event with PERF_SAMPLE_BRANCH_STACK (0x800); pinned for CPU-pinned priority.
            // §9.1: HW_INDEX so stale (re-attached) stacks are recognisable by hw_idx; sample times on
            // CLOCK_MONOTONIC (§4.2) so samples can be placed inside each guest command's window.
            var a = PerfAttr(type: .hardware, config: base.config)
            a.samplePeriod = samplePeriod
            a.sampleType = PerfSample.ip | PerfSample.tid | PerfSample.time | PerfSample.cpu | PerfSample.branchStack
            a.branchSampleType = mode.branchSampleType | PerfBranch.hwIndex
            a.clockid = PerfClockId.monotonic
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
        case .vlbrSlotExcludingHost:
            var a = PerfAttr(type: .raw, config: intelFixedVlbrEvent)
            a.pinned = true
            a.excludeHost = true
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
            a.samplePeriod = samplePeriod
            a.sampleType = PerfSample.ip | PerfSample.tid | PerfSample.time | PerfSample.branchStack
            a.branchSampleType = LbrFilterMode.callStack.branchSampleType | PerfBranch.hwIndex
            a.clockid = PerfClockId.monotonic
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

/// How lbrprobe samples with host LBR events: the period, the size of one sample and the ring that holds
/// the samples of one guest command (docs/reference.md §4.1, §9.1). Pure arithmetic; the hw backend feeds it
/// this host's `/proc/sys/kernel/perf_event_max_sample_rate` and the LBR depth.
public enum HostSampling {
    /// Default sample period in cycles: 100,000. With a core clock of at most `assumedMaxCoreHz` (5 GHz) a
    /// CPU-wide event on a fully busy CPU then samples at most 50,000 times a second — half of perf's default
    /// `perf_event_max_sample_rate` (100,000, `DEFAULT_MAX_SAMPLE_RATE`), so `__perf_event_account_interrupt()`
    /// never reaches `max_samples_per_tick` (= max_sample_rate / HZ) and throttles the event (§4.1). The
    /// earlier 10,000 (500,000 samples/s at 5 GHz, each an NMI that reads 32 LBR entries, §9.1) tripped that
    /// limit and invited "perf: interrupt took too long … lowering kernel.perf_event_max_sample_rate".
    public static let defaultPeriod: UInt64 = 100_000
    /// The fastest core clock lbrprobe plans for (turbo of current Intel parts stays below it).
    public static let assumedMaxCoreHz: UInt64 = 5_000_000_000
    /// lbrprobe keeps its worst-case rate at or below max_sample_rate / `rateHeadroom`.
    public static let rateHeadroom: UInt64 = 2
    /// perf's default `perf_event_max_sample_rate` (`DEFAULT_MAX_SAMPLE_RATE`, kernel/events/core.c).
    public static let defaultMaxSampleRate = 100_000
    /// Host-mode time on the vCPU thread of one port-I/O exit of the payload's exit loop (VM-exit, the VMM's
    /// KVM_EXIT_IO dispatch, VM-entry) on VMX hosts: about 2.5 µs (§9.6). What the model charges per exit, and
    /// what the hw backend assumes (and says so) when its calibration loop fails.
    public static let typicalHostNsPerExit: UInt64 = 2_500

    /// The period to use on a host whose `perf_event_max_sample_rate` is `maxSampleRate` (nil: unknown →
    /// the default): the smallest period ≥ `defaultPeriod` whose worst-case rate at `assumedMaxCoreHz` stays
    /// at or below `maxSampleRate / rateHeadroom`. A kernel that already lowered the rate (after "interrupt
    /// took too long") gets a proportionally longer period.
    public static func period(maxSampleRate: Int?) -> UInt64 {
        guard let r = maxSampleRate, r > 0 else { return defaultPeriod }
        let budget = max(1, UInt64(r) / rateHeadroom)
        let needed = (assumedMaxCoreHz + budget - 1) / budget
        return max(defaultPeriod, needed)
    }

    /// Host sample periods a calibrated phase plans for (`GuestCommand.hostSampleTime`): 40, so that a phase
    /// keeps at least `minimumCalibratedSamples` even when the first few periods fall before the vLBR is
    /// scheduled or the rate is lowered between calibration and the phase (§9.6).
    public static let calibratedPeriods = 40
    /// The fewest kept samples a calibrated phase must show (docs/reference.md §9.6).
    public static let minimumCalibratedSamples = 32

    /// Port-I/O exits that give a host sampling event `periods` periods of host-mode time on the vCPU thread:
    /// ceil(periods × periodNs / hostNsPerExit). `periodNs` is the period in force in nanoseconds (hw: the
    /// period in cycles over the measured core clock; model: period × ns per count), `hostNsPerExit` the
    /// calibrated host-mode time of one exit (hw: measured by an exit loop at begin; model: its constant).
    public static func exits(forPeriods periods: Int, periodNs: UInt64, hostNsPerExit: UInt64) -> Int {
        let total = UInt64(max(0, periods)) &* periodNs
        let per = max(1, hostNsPerExit)
        return Int(clamping: (total + per - 1) / per)
    }

    /// Host sample periods of guest execution a tracing phase's branch pattern lasts (`GuestCommand.tracedPattern`):
    /// 20, so that host samples land while the guest runs it instead of with probability period/pattern (§9.7).
    public static let tracedPatternPeriods = 20

    /// Taken branches of the payload's pattern that last `periods` periods of guest execution:
    /// ceil(periods × periodNs × 1000 / psPerBranch), capped at `GuestMailbox.maxBranches`. `psPerBranch` is the
    /// guest time of one branch in picoseconds (hw: measured at begin; model: from `PayloadProgram.guestTimeNs`).
    public static func branches(forPeriods periods: Int, periodNs: UInt64, psPerBranch: UInt64) -> Int {
        let (ns, o1) = UInt64(max(0, periods)).multipliedReportingOverflow(by: periodNs)
        let (ps, o2) = ns.multipliedReportingOverflow(by: 1000)
        if o1 || o2 { return GuestMailbox.maxBranches }
        let per = max(1, psPerBranch)
        let n = ps / per + (ps % per == 0 ? 0 : 1)
        return Int(min(n, UInt64(GuestMailbox.maxBranches)))
    }

    /// Worst-case samples per second of one CPU-wide event with `period` (a fully busy CPU at `assumedMaxCoreHz`).
    public static func worstCaseRate(period: UInt64) -> UInt64 { assumedMaxCoreHz / max(1, period) }

    /// Bytes of one PERF_RECORD_SAMPLE written by an event with `attr` when the branch stack holds `depth`
    /// entries (header, the fixed fields of `sample_type`, branch `nr`, `hw_idx` when requested, 24 bytes per
    /// entry). For the host LBR events on a 32-deep LBR: 8 + 4·8 + 8 + 8 + 32·24 = 824 bytes (§9.1).
    public static func sampleBytes(_ attr: PerfAttr, depth: Int) -> Int {
        var n = PerfEventHeader.byteCount
        for bit in [PerfSample.identifier, PerfSample.ip, PerfSample.tid, PerfSample.time, PerfSample.addr,
                    PerfSample.id, PerfSample.streamId, PerfSample.cpu, PerfSample.period]
            where attr.sampleType & bit != 0 { n += 8 }
        if attr.sampleType & PerfSample.branchStack != 0 {
            n += 8 + (attr.branchSampleType & PerfBranch.hwIndex != 0 ? 8 : 0) + 24 * max(0, depth)
        }
        return n
    }

    /// The longest a ring must hold samples: lbrprobe drains after every guest command and every host
    /// action, and a step (a guest command with a host action or a preemption during it) is planned to take
    /// well under this.
    public static let drainIntervalNs: UInt64 = 50_000_000
    /// Largest ring lbrprobe maps per event (data pages); 1024 × 4 KiB = 4 MiB.
    public static let maxRingPages = 1024

    /// Data pages (a power of two, at least 8, at most `maxRingPages`) for a ring that holds every sample of
    /// one drain interval at the worst-case rate, plus a quarter for PERF_RECORD_LOST/THROTTLE records.
    public static func ringPages(sampleBytes: Int, period: UInt64, pageSize: Int = 4096,
                                 drainIntervalNs: UInt64 = drainIntervalNs) -> Int {
        let samples = (worstCaseRate(period: period) * drainIntervalNs + 999_999_999) / 1_000_000_000
        let bytes = Int(clamping: samples) * max(1, sampleBytes) * 5 / 4
        var pages = 8
        while pages < maxRingPages && pages * max(1, pageSize) < bytes { pages *= 2 }
        return pages
    }

    /// How long a ring of `pages` data pages lasts at the worst-case rate, in nanoseconds.
    public static func ringCoverNs(pages: Int, sampleBytes: Int, period: UInt64, pageSize: Int = 4096) -> UInt64 {
        let rate = max(1, worstCaseRate(period: period))
        let samples = UInt64(pages * pageSize / max(1, sampleBytes))
        return samples * 1_000_000_000 / rate
    }
}
