// The sim and hybrid backends. Both run every step through one `ModelHost`; they differ only in who
// executes the guest's commands: sim interprets the payload (`PayloadProgram`) against the model,
// hybrid runs the real payload in a real KVM guest whose DEBUGCTL and LBR MSR accesses exit to user space
// (KVM_X86_SET_MSR_FILTER + KVM_CAP_X86_USER_SPACE_MSR) and are answered by the model.

import LbrCore
import LbrLinux
import LbrModel
import LbrScenarios
import Logging

/// Which guest-side extra a command runs with (the host part of a timed step).
public enum DuringGuest: Sendable {
    case host(HostAction)
    case preempt(PreemptingTask)

    /// The model side of this extra, taken while the guest is inside KVM_RUN.
    func apply(to h: ModelHost) {
        switch self {
        case let .host(a): h.host(a, whileGuestRuns: true)
        case let .preempt(t): h.preempt(by: t)
        }
    }
}

/// Who executes the guest's commands in a model-backed backend: the payload interpreter (sim) or the real
/// KVM guest (hybrid). Everything else — the model, step dispatch, session notes — is `ModelBackedBackend`.
public protocol ModelGuest: AnyObject {
    /// sim or hybrid.
    static var kind: BackendKind { get }
    /// Whether this guest side can run here.
    func availability(variant: KernelVariant, pmu: ModelPMU, profile: HostProfile?) -> BackendAvailability
    /// Prepares a fresh guest for a scenario on `cpu`, answered by `h`; returns extra session notes.
    func start(host h: ModelHost, cpu: Int, layout: LbrLayout) throws(BackendError) -> [String]
    /// Runs one guest command; `during` is applied to the model (and, on hybrid, for real) while it runs.
    func run(_ cmd: GuestCommand, during: DuringGuest?, host h: ModelHost, layout: LbrLayout,
             deadlineNs: UInt64) throws(BackendError) -> GuestResult
    /// Releases whatever `start` created. Idempotent.
    func stop()
}

/// `sim` and `hybrid`: one kernel model (`ModelHost`) driven through every step; `Guest` runs the guest side.
public final class ModelBackedBackend<Guest: ModelGuest>: ScenarioBackend {
    public var kind: BackendKind { Guest.kind }
    /// The kernel variant the model follows.
    public let variant: KernelVariant
    /// The PMU the model simulates.
    public let pmu: ModelPMU
    public let timing: ModelHost.Timing
    /// Kernel-era options of the model (default: today's mainline).
    public var era: ModelEra = .current
    /// The kmsg ratelimit state every scenario of this backend shares (§9.4: one system-wide state per call
    /// site; a process runs one backend, so this is the process's view of it).
    public let ratelimit = KmsgRatelimit()
    /// Whether runs report every model host sample (`.hostSampleRecords`), for a capture.
    public var recordSamples = false
    /// The guest side (payload interpreter or real KVM guest).
    public let guest: Guest
    let profile: HostProfile?
    let logger: Logger
    /// The model of the running scenario (nil outside begin…end).
    public private(set) var host: ModelHost?

    init(guest: Guest, variant: KernelVariant, pmu: ModelPMU, timing: ModelHost.Timing,
         profile: HostProfile?, logger: Logger?) {
        self.guest = guest; self.variant = variant; self.pmu = pmu; self.timing = timing; self.profile = profile
        self.logger = logger ?? Logger(label: "lbrprobe.\(Guest.kind.rawValue)")
    }

    public var modelName: String? { variant.name }

    /// The payload's code range: guest-physical = guest-virtual (identity map) for the real guest, and the same
    /// layout for the interpreter (sim feeds the model the payload's real addresses).
    public var guestCodeRanges: [Range<UInt64>]? { [GuestPayload.range] }

    public func availability() -> BackendAvailability {
        guest.availability(variant: variant, pmu: pmu, profile: profile)
    }

    /// Every catalog scenario runs on every model: a variant without guest LBR (mediated §6.3, arch-LBR
    /// host §1.10) still runs, the guest's LBR MSR accesses #GP, and the verdict engine reports
    /// `no-guest-lbr`. Scenarios with a contender the model cannot play are unsupported.
    public func support(for scenario: Scenario) -> ScenarioSupport {
        .supported
    }

    /// The LBR layout guest commands use (the CPU model's, also when KVM gives the guest no LBR).
    var commandLayout: LbrLayout { pmu.lbrLayout }

    func sessionNotes(_ h: ModelHost) -> [String] {
        let L = pmu.lbrLayout
        var notes = [
            "model \(variant.name): \(variant.summary)",
            "model era: \(era)",
            "model PMU: \(pmu.gpCounters) GP + \(pmu.fixedCounters) fixed counters, LBR \(L.depth) deep (\(L.source)), format \(pmu.lbrFormat.code)",
        ]
        if !variant.guestHasLbr { notes.append("model \(variant.name): KVM gives the guest no LBR; LBR MSR accesses #GP") }
        let sites = PayloadProgram.branches(count: 16)
        if let f = sites.first, let l = sites.last {
            notes.append("payload branch sites: \(GuestPayload.branchSites.count), first jmp 0x\(String(f.from, radix: 16)) -> 0x\(String(f.to, radix: 16)), last 0x\(String(l.from, radix: 16)) -> 0x\(String(l.to, radix: 16))")
        }
        return notes
    }

    public func begin(_ scenario: Scenario, cpu: Int) throws(BackendError) -> SessionInfo {
        if case let a = availability(), !a.isAvailable { throw .unsupported("\(Guest.kind.rawValue) unavailable: \(a.text)") }
        let h = ModelHost(variant: variant, pmu: pmu, cpu: cpu, timing: timing,
                          realContextSwitches: Guest.kind == .hybrid, era: era, ratelimit: ratelimit,
                          recordSamples: recordSamples)
        host = h
        let extra: [String]
        do { extra = try guest.start(host: h, cpu: cpu, layout: commandLayout) } catch {
            _ = end()
            throw error
        }
        var session = SessionInfo(backend: Guest.kind, model: variant.name, cpu: cpu, lbrLayout: h.guestLayout,
                                  notes: sessionNotes(h) + extra)
        session.sampling = SamplingInForce(period: Contender.modelSamplePeriod, maxSampleRate: nil,
                                           cpuTimeMaxPercent: nil, periodNs: h.samplePeriodNs)
        if recordSamples { session.guestEdges = GuestPayload.edgeSet }
        return session
    }

    public func perform(_ step: Step, deadlineNs: UInt64) throws(BackendError) -> [TimedObservation] {
        guard let h = host else { throw .failed("perform before begin") }
        var result: GuestResult?
        switch step.action {
        case let .guest(c):
            result = try guest.run(h.sized(c), during: nil, host: h, layout: commandLayout, deadlineNs: deadlineNs)
        case let .host(a):
            h.host(a)
        case let .hostWhileGuestRuns(a, g):
            result = try guest.run(h.sized(g), during: .host(a), host: h, layout: commandLayout, deadlineNs: deadlineNs)
        case let .preemptGuest(t, g):
            result = try guest.run(h.sized(g), during: .preempt(t), host: h, layout: commandLayout, deadlineNs: deadlineNs)
        }
        var obs = h.drain()
        if let result {
            // The guest really ran (hybrid), but what it read from the LBR MSRs the model answered.
            obs.append(TimedObservation(timeNs: h.nowNs, .guest(result), basis: .model(variant.name)))
        }
        return obs
    }

    public func end() -> [TimedObservation] {
        guest.stop()
        defer { host = nil }
        return host?.finish() ?? []
    }
}

/// `sim`: the kernel model only. The guest side executes each command as the payload would
/// (`PayloadProgram`: the same MSR instructions in the same order, the branch pattern at the payload's
/// real branch-site addresses), so no KVM is needed. Always available.
public typealias SimBackend = ModelBackedBackend<PayloadInterpreterGuest>

extension ModelBackedBackend where Guest == PayloadInterpreterGuest {
    /// - Parameters:
    ///   - variant: the kernel variant (`--model`).
    ///   - pmu: the simulated PMU (default Skylake-like).
    public convenience init(variant: KernelVariant, pmu: ModelPMU = .skylake, timing: ModelHost.Timing = .init(),
                            profile: HostProfile? = nil, logger: Logger? = nil) {
        self.init(guest: PayloadInterpreterGuest(), variant: variant, pmu: pmu, timing: timing, profile: profile,
                  logger: logger)
    }
}

/// The sim guest side: `PayloadProgram` against the model.
public final class PayloadInterpreterGuest: ModelGuest {
    public static var kind: BackendKind { .sim }

    private let plans = PayloadPlans()

    public func availability(variant: KernelVariant, pmu: ModelPMU, profile: HostProfile?) -> BackendAvailability {
        // Eligibility.sim has no blockers by definition; keep the decision in LbrCore anyway.
        let e = profile.map(Eligibility.sim)
        if let e, !e.eligible { return .unavailable(e.blockers) }
        return .available(detail: "kernel model \(variant.name) only (no KVM, no perf): \(pmu.lbrLayout.depth)-deep LBR, \(pmu.gpCounters) GP + \(pmu.fixedCounters) fixed counters")
    }

    public func start(host h: ModelHost, cpu: Int, layout: LbrLayout) throws(BackendError) -> [String] { [] }

    public func run(_ cmd: GuestCommand, during: DuringGuest?, host h: ModelHost, layout: LbrLayout,
                    deadlineNs: UInt64) throws(BackendError) -> GuestResult {
        let request: GuestMailbox.Request
        switch GuestMailbox.request(for: cmd, layout: layout,
                                    tscTicksPerMicrosecond: PayloadProgram.modelTscTicksPerMicrosecond) {
        case let .success(r): request = r
        case let .failure(e): return GuestResult(command: cmd, status: .error("command refused: \(e)"))
        }
        let first = h.nextCommandIsFirst
        h.beginGuestCommand()
        during?.apply(to: h)
        var pending: [GuestBranch] = []
        let reply = PayloadProgram.execute(request, plan: plans.plan(request, first: first),
                                           msr: { op in defer { pending = [] }; return h.guestMsr(op, after: pending) },
                                           tsc: { h.guestTsc() }, branches: { pending = $0 })
        h.guestTakenBranches(pending) // after the last MSR instruction (no-op when empty)
        let exits = h.endGuestCommand(request)
        return GuestMailbox.result(for: cmd, request: request, reply: reply, exits: exits)
    }

    public func stop() {}
}
