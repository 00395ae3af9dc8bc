// Findings: facts a run establishes besides its outcome, reported in every output format (text, TAP
// diagnostics, JSON, JUnit, KCIDB). Producers: the verdict engine (host->guest branch leak, reference §9)
// and the shadow-model comparison (the kernel departs from a named model). A finding never changes the
// outcome or the status by itself; `--expect` decides what fails.

import LbrCore

/// What kind of finding.
public enum FindingKind: String, Hashable, Sendable, Codable, CaseIterable {
    /// The guest read LBR entries whose addresses lie outside the guest's own code: host branch records
    /// exposed to the guest (`intel_pmu_lbr_add()` resets only for the first LBR user; reference §9).
    /// Security-relevant (e.g. host KASLR).
    case hostBranchLeak = "host-branch-leak"
    /// What the kernel did (observed) differs from what the shadow kernel model predicted for the same steps.
    case modelDeparture = "model-departure"

    /// Whether the finding is security-relevant (reports say so).
    public var securityRelevant: Bool { self == .hostBranchLeak }
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
