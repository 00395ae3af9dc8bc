// The protocol the runner drives. Three implementations live in LbrBackends:
//   hw     — real perf events + the real KVM guest + kernel observers (kmsg, tracepoints, KVM stats);
//   hybrid — the real KVM guest whose LBR MSR accesses exit to user space and are answered by the kernel
//            model, which also plays the host's perf events;
//   sim    — the kernel model only.
// The verdict engine only sees `TimedObservation`s, so a verdict never depends on which backend ran.

import LbrCore

// `BackendKind` (hw, hybrid, sim) is defined once, in LbrCore/Eligibility.swift.

/// Whether a backend can run at all on this machine.
public enum BackendAvailability: Hashable, Sendable, Codable {
    /// Usable; `detail` says what it will use (e.g. "Intel model 0x55, LBR format 5, 32 entries").
    case available(detail: String)
    /// Not usable, with every blocker (each precise and actionable, with its reference section).
    case unavailable([EligibilityReason])

    public var isAvailable: Bool { if case .available = self { return true }; return false }
    /// The blockers; empty when available.
    public var blockers: [EligibilityReason] { if case let .unavailable(b) = self { return b }; return [] }
    /// One line: the detail, or the blockers joined by "; " (each `message [reference]`).
    public var text: String {
        switch self {
        case let .available(d): return d
        case let .unavailable(r): return r.map(\.description).joined(separator: "; ")
        }
    }
}

/// Whether a backend/model can run a particular scenario.
public enum ScenarioSupport: Hashable, Sendable, Codable {
    case supported
    /// E.g. "counter-exhaustion needs CPUID.0xA counter counts; this host reports none" or
    /// "model mediated: guest LBR is disabled with the mediated vPMU (§6.3)".
    case unsupported(reason: String)
}

/// What a backend tells the runner when a scenario begins.
public struct SessionInfo: Hashable, Sendable, Codable {
    public var backend: BackendKind
    /// Kernel model name (hybrid/sim); nil on hw.
    public var model: String?
    /// The CPU the vCPU thread (and the contenders) are pinned to.
    public var cpu: Int
    /// The guest's LBR layout (depth → TOS mask, which MSRs are LBR MSRs, §1.3); nil when the guest has no LBR.
    public var lbrLayout: LbrLayout?
    /// Free-form facts worth reporting (e.g. resolved counter counts, payload branch-site addresses).
    public var notes: [String]
    // --- host->guest leak detection ---
    /// The guest's own code ranges (guest addresses of the payload): LBR entries the guest reads outside them
    /// are host records (`host-branch-leak`). nil when the backend cannot tell (no leak detection).
    public var guestCodeRanges: [Range<UInt64>]? = nil
    /// The payload's exact edge table that host samples' entries were matched against (§9.7); set when the
    /// backend reports raw host samples (`.hostSampleRecords`), so a capture's samples are matched against the
    /// table of the payload that ran, not of the lbrprobe that judges them.
    public var guestEdges: GuestEdgeSet? = nil
    /// The host LBR sampling in force (period, limits), nil when the backend samples nothing.
    public var sampling: SamplingInForce? = nil

    public init(backend: BackendKind, model: String?, cpu: Int, lbrLayout: LbrLayout?, notes: [String] = []) {
        self.backend = backend; self.model = model; self.cpu = cpu; self.lbrLayout = lbrLayout; self.notes = notes
    }
}

/// The host LBR sampling a run used (§4.1, §9.1).
public struct SamplingInForce: Hashable, Sendable, Codable {
    /// `sample_period` of the host LBR sampling events, in events of the cycles counter (model: its counts).
    public var period: UInt64
    /// `/proc/sys/kernel/perf_event_max_sample_rate` when the run began (nil: unreadable, or a model).
    public var maxSampleRate: Int?
    /// `/proc/sys/kernel/perf_cpu_time_max_percent` when the run began (nil: unreadable, or a model).
    public var cpuTimeMaxPercent: Int?
    /// The period in nanoseconds at the clock the backend assumed (hw: the TSC rate; model: its clock).
    public var periodNs: UInt64?
    public init(period: UInt64, maxSampleRate: Int?, cpuTimeMaxPercent: Int?, periodNs: UInt64?) {
        self.period = period; self.maxSampleRate = maxSampleRate; self.cpuTimeMaxPercent = cpuTimeMaxPercent
        self.periodNs = periodNs
    }
}

/// Errors a backend reports while running a scenario.
public enum BackendError: Error, Hashable, Sendable, Codable {
    /// The scenario cannot run here (reported as SKIP with this reason).
    case unsupported(String)
    /// The step did not finish before the deadline (the backend kicked the vCPU / stopped the hog).
    case timeout(String)
    /// Anything else (syscall failure, VM shutdown, malformed mailbox…), reported as ERROR.
    case failed(String)

    public var message: String {
        switch self {
        case let .unsupported(m), let .timeout(m), let .failed(m): return m
        }
    }
}

/// A backend the runner drives through a scenario.
///
/// Life cycle per scenario run: `support(for:)` → `begin(_:cpu:)` → `perform(_:deadlineNs:)` for every step
/// in order → `end()`. The runner calls `end()` exactly once after every successful `begin`, also after a
/// thrown error or a timeout; `end()` must release everything the run created (perf fds, hog threads, the VM
/// or its vCPU state) and must not throw. A backend is used from one thread at a time.
public protocol ScenarioBackend: AnyObject {
    /// hw, hybrid or sim.
    var kind: BackendKind { get }
    /// The kernel model name for hybrid/sim (opaque here; LbrModel defines the names), nil for hw.
    var modelName: String? { get }
    /// Whether the backend can run on this machine, with a precise reason when it cannot.
    func availability() -> BackendAvailability
    /// Whether this backend (and model) can run `scenario`, with the reason when not.
    func support(for scenario: Scenario) -> ScenarioSupport
    /// Prepares a fresh guest (vLBR state: no event) and the host side on `cpu`.
    func begin(_ scenario: Scenario, cpu: Int) throws(BackendError) -> SessionInfo
    /// Executes one step literally and returns what was observed while doing it, in time order. A guest
    /// command yields exactly one `.guest(GuestResult)` plus, where the backend can see them, one `.msrAccess`
    /// per LBR-relevant MSR access, `.kmsg` lines, `.exits`; model-backed backends may add `.vlbr`/`.passthrough`
    /// ground truth. `deadlineNs` is on the runner's clock; the backend should stop (kick the vCPU) and throw
    /// `.timeout` when it passes.
    func perform(_ step: Step, deadlineNs: UInt64) throws(BackendError) -> [TimedObservation]
    /// Releases everything created since `begin`. Returns final observations (e.g. late kmsg lines).
    func end() -> [TimedObservation]
    /// The guest's own code ranges (payload layout), for the host-branch-leak detector; nil when unknown.
    var guestCodeRanges: [Range<UInt64>]? { get }
}

extension ScenarioBackend {
    public var guestCodeRanges: [Range<UInt64>]? { nil }
}

/// What `--backend auto` chose, and the backends it passed over with their blockers.
public struct AutoSelection: Hashable, Sendable, Codable {
    public struct PassedOver: Hashable, Sendable, Codable {
        public var backend: BackendKind
        public var reasons: [EligibilityReason]
        public init(backend: BackendKind, reasons: [EligibilityReason]) { self.backend = backend; self.reasons = reasons }
    }
    public var chosen: BackendKind
    /// What the chosen backend will use (its availability detail).
    public var detail: String
    /// Better backends that are unavailable here, in the order they were tried.
    public var passedOver: [PassedOver]
    public init(chosen: BackendKind, detail: String, passedOver: [PassedOver]) {
        self.chosen = chosen; self.detail = detail; self.passedOver = passedOver
    }
    /// One line: "hybrid: <detail> (hw unavailable: <blockers>)".
    public var text: String {
        let why = passedOver.map { "\($0.backend.rawValue) unavailable: " + $0.reasons.map(\.description).joined(separator: "; ") }
        return "\(chosen.rawValue): \(detail)" + (why.isEmpty ? "" : " (" + why.joined(separator: "; ") + ")")
    }
}

/// `--backend auto`: hw if available, else hybrid, else sim — with the reason for the choice.
public enum BackendSelection {
    /// Picks the first available kind in the order hw, hybrid, sim.
    /// - Parameter availability: the availability of each kind the caller could construct.
    /// - Returns: the chosen kind with the blockers of each better kind passed over, or nil when none is available.
    public static func auto(_ availability: [BackendKind: BackendAvailability]) -> AutoSelection? {
        var passed: [AutoSelection.PassedOver] = []
        for k in BackendKind.allCases {
            guard let a = availability[k] else { continue }
            switch a {
            case let .available(detail):
                return AutoSelection(chosen: k, detail: detail, passedOver: passed)
            case let .unavailable(reasons):
                passed.append(.init(backend: k, reasons: reasons))
            }
        }
        return nil
    }
}
