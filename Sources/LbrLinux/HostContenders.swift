import CLbrShim
import LbrCore
import Synchronization
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Counter counts of the host's architectural PMU from CPUID.0xA (reference §5 "CPUID basics":
/// EAX[7:0] version, EAX[15:8] #GP counters; EDX[4:0] #fixed counters).
public struct ArchPerfmonCounters: Hashable, Sendable, Codable {
    public var version: Int
    public var generalPurpose: Int
    public var fixed: Int

    public init(version: Int, generalPurpose: Int, fixed: Int) {
        self.version = version; self.generalPurpose = generalPurpose; self.fixed = fixed
    }

    /// Decodes CPUID.0xA EAX/EDX. Fixed counters are only architecturally reported for version ≥ 2
    /// (SDM: EDX is reserved for version 1).
    public init(cpuid0xA eax: UInt32, edx: UInt32) {
        version = Int(eax & 0xff)
        generalPurpose = Int((eax >> 8) & 0xff)
        fixed = version >= 2 ? Int(edx & 0x1f) : 0
    }

    /// CPUID.0xA of the calling CPU (0 counters on AMD or when the leaf is not reported).
    public static func host() -> ArchPerfmonCounters {
        let max = lbr_cpuid(0, 0).eax
        if max < 0xa { return ArchPerfmonCounters(version: 0, generalPurpose: 0, fixed: 0) }
        let r = lbr_cpuid(0xa, 0)
        return ArchPerfmonCounters(cpuid0xA: r.eax, edx: r.edx)
    }

    /// The counter-exhaustion contender for these counts (§3.4 (b)), every counter assumed free.
    public var exhaustionContender: Contender { .counterExhaustion(gp: generalPurpose, fixed: fixed) }

    /// The counter-exhaustion contender sized from the counters that are free when `/proc/sys/kernel/nmi_watchdog`
    /// is `nmiWatchdog` (`Eligibility.exhaustionContender`, §3.4 (b), §9.4), with the note that says so.
    public func exhaustionContender(nmiWatchdog: Int?) -> (contender: Contender, note: String) {
        Eligibility.exhaustionContender(gp: generalPurpose, fixed: fixed, nmiWatchdog: nmiWatchdog)
    }
}

/// A set of open host contender events on one CPU (or one task).
public final class HostContenderSet: Sendable {
    public let contender: Contender
    /// CPU the events are bound to (-1 for a task contender).
    public let cpu: Int32
    /// Task the events follow (-1 for CPU-scoped contenders).
    public let pid: Int32
    /// The events in `contender.attributes` order.
    public let events: [PerfEvent]
    /// Rings of the sampling events (same order as the sampling events in `events`), if mapped.
    public let rings: [PerfRing]

    /// Per ring: the branch stack of the last sample drained so far (stale-repeat detection across drains).
    private let lastStacks: Mutex<[PerfBranchStack?]>

    init(contender: Contender, cpu: Int32, pid: Int32, events: [PerfEvent], rings: [PerfRing]) {
        self.contender = contender; self.cpu = cpu; self.pid = pid; self.events = events; self.rings = rings
        self.lastStacks = Mutex(Array(repeating: nil, count: rings.count))
    }

    /// The sample period of the sampling events (nil when none samples).
    public var samplePeriod: UInt64? { events.first { $0.attr.isSampling }?.attr.samplePeriod }

    deinit { close() }

    /// Unmaps rings and closes every event. Idempotent.
    public func close() {
        for r in rings { r.close() }
        for e in events { e.close() }
    }

    /// Observes every event since `previous` (same order as `events`; pass [] the first time).
    public func observe(since previous: [PerfReading?]) throws(LinuxError) -> [PerfEventObservation] {
        var out: [PerfEventObservation] = []
        for (i, e) in events.enumerated() {
            out.append(try e.observe(since: i < previous.count ? previous[i] : nil))
        }
        return out
    }

    /// Drains every ring and summarizes the samples (§8.1: empty branch stacks = host starved;
    /// entries inside `guestRange` = guest traced by the host).
    public func drainSummary(guestRange: Range<UInt64>?, cpu: UInt32? = nil) throws(PerfRingError) -> HostSampleSummary {
        try drain(windows: nil, guestRange: guestRange, cpu: cpu)
    }

    /// Drains every ring and summarizes the samples (`HostSampleRecords.summary`): with `windows`, only samples of
    /// the vCPU thread inside one of the guest commands' windows are kept (the rest count as `filteredOut`);
    /// without, every sample on `cpu` is kept. Stale repeats are judged against the last sample of the previous
    /// drain too (§9.1).
    public func drain(windows: [GuestCommandWindow]?, guestRange: Range<UInt64>?, guestEdges: GuestEdgeSet? = nil,
                      cpu: UInt32? = nil) throws(PerfRingError) -> HostSampleSummary {
        records(try drainBatches(keep: windows.map { .windows($0) } ?? .every, cpu: cpu), guestRange: guestRange,
                exactEdges: guestEdges != nil).summary(guestEdges: guestEdges)
    }

    /// One batch per ring: the records drained, the rule that keeps samples, and the last stack on `cpu` the
    /// ring held before (carried across drains, §9.1).
    public func drainBatches(keep: SampleKeepRule, cpu: UInt32?) throws(PerfRingError) -> [HostSampleBatch] {
        var out: [HostSampleBatch] = []
        for (i, r) in rings.enumerated() {
            let records = try r.drain()
            out.append(lastStacks.withLock { last in
                let b = HostSampleBatch(cpu: cpu, keep: keep, before: last[i], records: records)
                last[i] = b.after
                return b
            })
        }
        return out
    }

    /// `batches` of this contender as the records behind one summary (`HostSampleRecords.summary`).
    public func records(_ batches: [HostSampleBatch], guestRange: Range<UInt64>?, exactEdges: Bool) -> HostSampleRecords {
        HostSampleRecords(contender: contender.name, samplePeriod: samplePeriod, guestRange: guestRange,
                          exactEdges: exactEdges, batches: batches)
    }

    /// The contender's overall state: the worst state among its events (error > inactive > off > active),
    /// closed if all are closed.
    public static func aggregate(_ obs: [PerfEventObservation]) -> HostEventState {
        if obs.isEmpty || obs.allSatisfy({ $0.state == .closed }) { return .closed }
        for s in [HostEventState.error, .inactive, .off] where obs.contains(where: { $0.state == s }) { return s }
        return .active
    }
}

/// What opening a contender produced.
public enum HostContenderOutcome: Sendable {
    case opened(HostContenderSet)
    /// The host cannot run this contender; `reason` is precise and `attr` is the attribute tried.
    case skipped(reason: String, attr: PerfAttr?)

    public var set: HostContenderSet? { if case let .opened(s) = self { return s } else { return nil } }
}

/// Opens the host contenders of `LbrCore.Contender` — from `Contender.attributes` only (§4, §3.4).
public enum HostContenders {
    /// sysfs directories of the x86 core PMU ("cpu", or "cpu_core"/"cpu_atom" on hybrid parts).
    public static let corePmuPaths = ["/sys/bus/event_source/devices/cpu",
                                      "/sys/bus/event_source/devices/cpu_core",
                                      "/sys/bus/event_source/devices/cpu_atom"]

    /// Whether a core PMU is registered.
    public static func hasCorePmu() -> Bool {
        corePmuPaths.contains { access($0, F_OK) == 0 }
    }

    /// Whether perf advertises LBR (`caps/branches`, what `perf test` checks).
    public static func corePmuHasBranches() -> Bool {
        corePmuPaths.contains { access($0 + "/caps/branches", F_OK) == 0 }
    }

    /// Opens every event of `contender`.
    ///
    /// CPU-scoped contenders open with pid = -1, cpu = `cpu` (CPU-pinned when `pinned`, §3.1);
    /// `lbrCallStackTask` opens on `task` (0 = the calling thread) with cpu = -1.
    /// If an event fails, every event already opened is closed. ENOENT / EOPNOTSUPP / ENODEV on a
    /// hardware or raw event becomes `.skipped` ("no core PMU" when none is registered, otherwise
    /// the PMU's refusal) with the attribute that was tried — never a crash. Other errors throw.
    ///
    /// - Parameters:
    ///   - mapRings: map a `PerfRing` for every sampling event.
    ///   - ringPages: data pages per ring; nil sizes each ring from sample size × worst-case rate
    ///     (`HostSampling.ringPages` for `lbrDepth` entries), halving down to 8 pages when the kernel refuses
    ///     the lock (EPERM/ENOMEM, perf_event_mlock_kb) — `PerfRing.dataPages` says what was mapped.
    ///   - samplePeriod: the period of LBR sampling events (nil: `Contender.lbrSamplePeriod`).
    ///   - lbrDepth: LBR entries per sample, for ring sizing.
    public static func open(_ contender: Contender, cpu: Int32, task: Int32 = 0, mapRings: Bool = false,
                            ringPages: Int? = 8, samplePeriod: UInt64? = nil,
                            lbrDepth: Int = 32) throws(PerfOpenError) -> HostContenderOutcome {
        let attrs = contender.attributes(samplePeriod: samplePeriod ?? Contender.lbrSamplePeriod)
        if attrs.isEmpty {
            return .skipped(reason: "\(contender.name): no events to open (CPUID.0xA reports no counters)", attr: nil)
        }
        let pid: Int32 = contender.isCpuScoped ? -1 : task
        let eventCpu: Int32 = contender.isCpuScoped ? cpu : -1
        var events: [PerfEvent] = []
        var rings: [PerfRing] = []
        func closeAll() {
            for r in rings { r.close() }
            for e in events { e.close() }
        }
        for a in attrs {
            do throws(PerfOpenError) {
                // A sampling event whose ring is mapped is opened disabled, mapped, then enabled
                // (PERF_EVENT_IOC_ENABLE): samples taken before the ring exists would vanish without a
                // PERF_RECORD_LOST (docs/reference.md §9.6). The enable's IPI still lands inside the phase.
                let ringed = mapRings && a.isSampling
                var opened = a
                if ringed { opened.disabled = true }
                let e = try PerfEvent.open(attr: opened, pid: pid, cpu: eventCpu)
                events.append(e)
                if ringed {
                    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
                    var pages = ringPages ?? HostSampling.ringPages(sampleBytes: HostSampling.sampleBytes(a, depth: lbrDepth),
                                                                    period: a.samplePeriod, pageSize: page)
                    while true {
                        do throws(LinuxError) {
                            rings.append(try PerfRing(event: e, dataPages: pages))
                            break
                        } catch {
                            let refused = error.errno == .notPermitted || error.errno == .noMemory
                            if ringPages == nil && refused && pages > 8 { pages /= 2; continue }
                            closeAll()
                            throw PerfOpenError(error: error, attr: a, pid: pid, cpu: eventCpu)
                        }
                    }
                    if !a.disabled {
                        do throws(LinuxError) { try e.enable() } catch {
                            closeAll()
                            throw PerfOpenError(error: error, attr: a, pid: pid, cpu: eventCpu)
                        }
                    }
                }
            } catch {
                closeAll()
                if let reason = skipReason(error) { return .skipped(reason: reason, attr: error.attr) }
                throw error
            }
        }
        return .opened(HostContenderSet(contender: contender, cpu: eventCpu, pid: pid, events: events, rings: rings))
    }

    /// The SKIP reason for a failed open, or nil if the failure is a real error.
    ///
    /// Without a core PMU the kernel has no PMU for PERF_TYPE_HARDWARE/RAW and `perf_event_open`
    /// returns ENOENT (perf_init_event finds none); a core PMU without LBR rejects branch stacks with
    /// EOPNOTSUPP.
    public static func skipReason(_ e: PerfOpenError, corePmu: Bool = hasCorePmu()) -> String? {
        let hwLike = e.attr.type == .hardware || e.attr.type == .raw || e.attr.type == .hwCache
        guard hwLike else { return nil }
        let errno = e.errno
        guard errno == .noSuchFileOrDirectory || errno == .notSupported || errno == .operationNotSupportedByDevice
                || errno.rawValue == EOPNOTSUPP else { return nil }
        if !corePmu {
            return "no core PMU: perf_event_open(\(e.attr)) failed with \(errno) (errno \(errno.rawValue)); /sys/bus/event_source/devices has no cpu PMU"
        }
        if e.attr.hasBranchStack {
            return "core PMU refused branch stack (no LBR?): perf_event_open(\(e.attr)) failed with \(errno) (errno \(errno.rawValue))"
        }
        return "core PMU refused event: perf_event_open(\(e.attr)) failed with \(errno) (errno \(errno.rawValue))"
    }
}
