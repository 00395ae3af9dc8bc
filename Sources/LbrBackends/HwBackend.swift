// The `hw` backend: real host perf events, lbrprobe's own real KVM guest with a real vLBR, and kernel
// observers — nothing modelled. Every signal comes from the kernel:
//   - guest readback (LBR_TOS write/read, LBR stack) from the payload's mailbox;
//   - the `kvm:kvm_msr` tracepoint on the vCPU thread: KVM emits it for every MSR access it handles itself,
//     so an LBR MSR access of the payload without a matching event was passed through (§1.5; conventions
//     "kvm_msr": on VMX a passed-through LBR MSR access produces no event);
//   - "fail to passthrough LBR" kernel lines from /dev/kmsg (§1.5);
//   - host contender state from read_format times / 0-byte reads / POLLERR, and their branch-stack samples
//     (§3.2, §3.3, §3.4, §8.1);
//   - KVM's binary stats (exits) and the vCPU thread's context switches (§1.6, §8.4).
// Set-up follows reference §2 (CPUID, then host-initiated PERF_CAPABILITIES = KVM's supported value, on the
// vCPU thread); hosts that cannot do it get `.unsupported` with the reason, never a pretend run.

import LbrCore
import LbrLinux
import LbrScenarios
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// The real-hardware backend (`--backend hw`), for an eligible Intel host (`Eligibility.hw`).
///
/// One scenario run owns: the `GuestVM` (vCPU thread pinned to the run's CPU), a `KmsgWatcher`, a
/// `KvmMsrTracer` and a `ContextSwitchObserver` on the vCPU thread, the open host contenders, and at most
/// one `CpuHog` during a preemption step. `end()` releases all of them; `begin()` releases what it
/// opened when it throws.
public final class HwBackend: ScenarioBackend {
    public let kind: BackendKind = .hw
    public var modelName: String? { nil }
    /// The payload's code range for the host-branch-leak detector: the real guest runs the same payload at the
    /// same identity-mapped addresses as hybrid, so LBR entries it reads outside it are host records (§9.2).
    public var guestCodeRanges: [Range<UInt64>]? { [GuestPayload.range] }
    /// The host profile availability and support are decided on.
    public let profile: HostProfile
    let logger: Logger?

    /// Per-run resources (nil outside begin…end).
    private(set) var run: HwRun?
    /// What outlives one run: the view of the kernel's system-wide kmsg ratelimit (§9.4).
    let processState = HwProcessState()
    /// Tests only: skip the eligibility gate and the guest-LBR/core-PMU checks of `begin`, so the real
    /// guest, observers and step execution can be exercised on a host without LBR. Never set by the CLI.
    var testingWithoutGuestLbr = false
    /// Whether runs report every raw host sample (`.hostSampleRecords`) next to each summary, for a capture.
    public var recordSamples = false

    /// - Parameters:
    ///   - profile: this host's profile (`HostProbe().probe()`); availability comes from `Eligibility.hw` on it.
    ///   - logger: debug logging of each step (optional).
    public init(profile: HostProfile, logger: Logger? = nil) {
        self.profile = profile
        self.logger = logger
    }

    deinit { _ = end() }

    // MARK: availability / support

    /// `Eligibility.hw(profile)`: its blockers, or what the backend will use.
    public var eligibility: BackendEligibility { Eligibility.hw(profile) }

    /// The blockers' messages joined with "; " (each with its reference section), nil when eligible.
    public var unavailableReason: String? {
        let e = eligibility
        return e.eligible ? nil : e.blockers.map(\.description).joined(separator: "; ")
    }

    /// The guest LBR layout: the host's, from the per-model table (KVM gives the guest the host's
    /// `x86_perf_get_lbr()` records, §1.7, §5).
    public var hostLayout: LbrLayout? {
        guard let cpu = profile.cpu else { return nil }
        return LbrLayout.forIntel(family: cpu.family, model: cpu.model)
    }

    public func availability() -> BackendAvailability {
        let e = eligibility
        if !e.eligible { return .unavailable(e.blockers) }
        return .available(detail: availableDetail)
    }

    /// "Intel family 6 model 0x55 (…), guest LBR format 5 (LBR_FORMAT_INFO), 32 LBR entries (…)" + caveats.
    var availableDetail: String {
        var parts: [String] = []
        if let cpu = profile.cpu {
            let name = cpu.family == 6 ? CpuidDecode.intelModelName(cpu.model).map { " (\($0))" } ?? "" : ""
            parts.append("Intel family \(cpu.family) model 0x\(String(cpu.model, radix: 16))\(name)")
        }
        if let caps = profile.kvm.supportedPerfCapabilities.value {
            parts.append("guest LBR format \(PerfCapabilities.lbrFormat(caps))")
        }
        if let l = hostLayout {
            parts.append("\(l.depth) LBR entries (FROM 0x\(String(l.from, radix: 16)), TO 0x\(String(l.to, radix: 16))\(l.info.map { ", INFO 0x\(String($0, radix: 16))" } ?? ""); \(l.source))")
        }
        let caveats = eligibility.caveats
        if !caveats.isEmpty { parts.append("caveats: " + caveats.map(\.message).joined(separator: "; ")) }
        return parts.joined(separator: ", ")
    }

    /// The host's architectural PMU counters (CPUID.0xA) as the profile recorded them.
    var profileCounters: ArchPerfmonCounters? {
        guard let pmu = profile.cpu?.archPmu else { return nil }
        return ArchPerfmonCounters(version: pmu.version, generalPurpose: pmu.gpCounters, fixed: pmu.fixedCounters)
    }

    public func support(for scenario: Scenario) -> ScenarioSupport {
        if let reason = unavailableReason { return .unsupported(reason: reason) }
        if hostLayout == nil { return .unsupported(reason: "no LBR layout known for this CPU (LbrLayout table, §5)") }
        if scenario.contenders.contains(.everyCounter) {
            guard let c = profileCounters else {
                return .unsupported(reason: "\(scenario.name) needs CPUID.0xA counter counts (§3.4 b); this host's CPUID has no leaf 0xA")
            }
            if c.version == 0 || c.generalPurpose + c.fixed == 0 {
                return .unsupported(reason: "\(scenario.name) needs CPUID.0xA counter counts (§3.4 b); this host reports PMU version \(c.version), \(c.generalPurpose) GP and \(c.fixed) fixed counters")
            }
        }
        return .supported
    }

    // MARK: begin / end

    public func begin(_ scenario: Scenario, cpu: Int) throws(BackendError) -> SessionInfo {
        _ = end()   // a run left open by a caller that skipped end()
        if !testingWithoutGuestLbr, let reason = unavailableReason { throw .unsupported(reason) }
        guard let layout = hostLayout ?? (testingWithoutGuestLbr ? .skylake : nil) else {
            throw .unsupported("no LBR layout known for this CPU (LbrLayout table, §5)")
        }
        let r = try HwRun.open(cpu: cpu, layout: layout, logger: logger, requireGuestLbr: !testingWithoutGuestLbr,
                               shared: processState)
        r.recordSamples = recordSamples
        run = r
        var notes = r.notes
        notes.insert("hw: \(availableDetail)", at: 0)
        var session = SessionInfo(backend: .hw, model: nil, cpu: cpu, lbrLayout: layout, notes: notes)
        session.sampling = SamplingInForce(period: r.plan.period, maxSampleRate: r.plan.maxSampleRate,
                                           cpuTimeMaxPercent: r.plan.cpuTimeMaxPercent,
                                           periodNs: r.exitCalibration.periodNs(r.plan.period))
        if recordSamples { session.guestEdges = GuestPayload.edgeSet }
        return session
    }

    public func end() -> [TimedObservation] {
        guard let r = run else { return [] }
        run = nil
        return r.close()
    }

    // MARK: steps

    public func perform(_ step: Step, deadlineNs: UInt64) throws(BackendError) -> [TimedObservation] {
        guard let r = run else { throw .failed("hw backend: perform(\(step)) outside begin…end") }
        logger?.debug("hw step: \(step)")
        switch step.action {
        case let .guest(cmd):
            return try r.guest(cmd, deadlineNs: deadlineNs, during: .none)
        case let .host(action):
            return try r.host(action)
        case let .hostWhileGuestRuns(action, during: cmd):
            return try r.guest(cmd, deadlineNs: deadlineNs, during: .host(action))
        case let .preemptGuest(by: task, during: cmd):
            return try r.guest(cmd, deadlineNs: deadlineNs, during: .preempt(task))
        }
    }
}
