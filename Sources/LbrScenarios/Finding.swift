// Findings: facts a run establishes besides its outcome, reported in every output format (text, TAP
// diagnostics, JSON, JUnit, KCIDB). Producers: the verdict engine (host->guest and guest->host branch leaks,
// reference §9.2, §9.7)
// and the shadow-model comparison (the kernel departs from a named model). A finding never changes the
// outcome or the status by itself; `--expect` decides what fails.

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

    public init(kind: FindingKind, phase: String? = nil, count: Int, summary: String, example: String? = nil) {
        self.kind = kind; self.phase = phase; self.count = count; self.summary = summary; self.example = example
    }

    /// "host-branch-leak (security-relevant) in phase contended: <summary>; e.g. <example>".
    public var line: String {
        kind.rawValue + (kind.securityRelevant ? " (security-relevant)" : "") + (phase.map { " in phase \($0)" } ?? "")
            + ": " + summary + (example.map { "; e.g. \($0)" } ?? "")
    }
}
