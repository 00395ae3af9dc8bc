// Findings: facts a run establishes besides its outcome, reported in every output format (text, TAP
// diagnostics, JSON, JUnit, KCIDB). Producers: the verdict engine (host->guest and guest->host branch leaks,
// reference §9.2, §9.7)
// and the shadow-model comparison (the kernel departs from a named model). A finding never changes the
// outcome or the status by itself; `--expect` decides what fails.

import LbrCore

/// What kind of finding.
public enum FindingKind: String, Hashable, Sendable, Codable, CaseIterable {
    /// The guest read LBR entries whose addresses lie outside the guest's own code: host branch records
    /// exposed to the guest (`intel_pmu_lbr_add()` resets only for the first LBR user; reference §9).
    /// Security-relevant (e.g. host KASLR).
    case hostBranchLeak = "host-branch-leak"
    /// Host LBR samples carried the guest's branch records (entries that exactly match edges of the guest
    /// payload's exported edge table): the host profile contains the guest's control flow. Upstream path: the
    /// vLBR is not ACTIVE (ERROR: counter 58 taken or counters exhausted) while the guest runs with
    /// DEBUGCTL.LBR=1 — `vmx_set_msr()` writes GUEST_IA32_DEBUGCTL whatever the vLBR state, and
    /// `vlbr_exclude_host()` is false, so host PMIs read the guest's records (docs/reference.md §9.7).
    /// Security-relevant.
    case guestBranchLeak = "guest-branch-leak"
    /// The guest froze its LBR stack (LBR_SELECT suppressing every branch, DEBUGCTL.LBR kept on) and read it back
    /// changed across a host action although its vLBR stayed ACTIVE: perf took the LBRs and handed them back
    /// without the guest's records. Upstream path: the install IPI's `ctx_resched()` schedules the task-pinned vLBR
    /// out (`cpuc->lbr_users` drops to 0), the new CPU-pinned host event's `intel_pmu_lbr_add()` runs as the CPU's
    /// first LBR user and calls `intel_pmu_lbr_reset()`, and the vLBR's own add resets nothing (reference §9.8).
    case guestLbrWiped = "guest-lbr-wiped"
    /// What the kernel did (observed) differs from what the shadow kernel model predicted for the same steps.
    case modelDeparture = "model-departure"

    /// Whether the finding is security-relevant (reports say so).
    public var securityRelevant: Bool { self == .hostBranchLeak || self == .guestBranchLeak }
}

/// One finding of one scenario run.
public struct Finding: Hashable, Sendable, Codable {
    public var kind: FindingKind
    /// The phase it was seen in, when it belongs to one.
    public var phase: String?
    /// How many items (leaked LBR entries, departing phases, ...).
    public var count: Int
    /// One line, ASCII, e.g. "guest read 12 LBR entries outside its code (host kernel addresses)".
    public var summary: String
    /// One example item, ASCII, e.g. "FROM 0xffffffff81234567 -> TO 0xffffffff81234600".
    public var example: String?
    /// What the finding rests on (`FactBasis.stamp`): a model's finding is a prediction, not a measurement.
    public var basis: Basis?

    public init(kind: FindingKind, phase: String? = nil, count: Int, summary: String, example: String? = nil,
                basis: Basis? = nil) {
        self.kind = kind; self.phase = phase; self.count = count; self.summary = summary; self.example = example
        self.basis = basis
    }

    /// "host-branch-leak (security-relevant) in phase contended: <summary>; e.g. <example>", led by
    /// "(model mainline) " when a model made it.
    public var line: String {
        (basis.flatMap { $0.isMeasured ? nil : "(\($0)) " } ?? "")
            + kind.rawValue + (kind.securityRelevant ? " (security-relevant)" : "") + (phase.map { " in phase \($0)" } ?? "")
            + ": " + summary + (example.map { "; e.g. \($0)" } ?? "")
    }
}
