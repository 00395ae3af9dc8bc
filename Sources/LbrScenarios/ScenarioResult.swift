// The result of one run of one scenario.

import LbrCore

/// The result of one run of one scenario.
public struct ScenarioResult: Hashable, Sendable, Codable {
    public var scenario: String
    public var backend: BackendKind
    public var model: String?
    public var cpu: Int
    public var kernelRelease: String
    /// 0-based repeat index and the number of repeats requested.
    public var repeatIndex: Int
    public var repeats: Int
    public var phases: [PhaseVerdict]
    /// Raw observations per phase (kept for tools; reports show the evidence lines).
    public var records: [PhaseRecord]
    public var outcome: ScenarioOutcome
    public var status: ResultStatus
    /// Why the run was skipped / errored / timed out, if it was.
    public var reason: String?
    public var expectation: ExpectationCheck
    /// Wall-clock start (Unix ns) when the caller supplied a wall clock.
    public var startUnixNs: UInt64?
    public var durationNs: UInt64
    public var sessionNotes: [String]
    public var lbrDepth: Int?
    /// Findings of this run (host-branch leak, model departure), in every report format.
    public var findings: [Finding] = []
    // Bounded memory, ScenarioResults.swift:
    /// How many runs this entry stands for: 1 for a run; N for a block of runs of this scenario that were not
    /// started (signal) or skipped alike (backend unavailable, scenario unsupported), from `repeatIndex` on.
    public var runsCovered: Int = 1
    /// Set on a repeated run whose evidence was not kept: the test name of the kept run with the same status
    /// and outcome, whose evidence stands for it (its phases, records and notes are empty).
    public var evidenceFoldedInto: String?
    /// What the backend said when the run began (layout, guest code ranges, notes): with `records`, everything
    /// the verdict engine consumes (`RunCapture`); nil for runs that did not begin.
    public var session: SessionInfo? = nil
    /// Why the runner stopped the run's steps early (timeout, error, skip, signal), when it did: the status
    /// and reason that win over the verdict. Kept so a capture can be judged again exactly (`RunCapture`).
    public var stoppedEarly: RunFailure? = nil
    /// Shadow model: predicted versus observed outcome (hw/hybrid runs with a shadow model; Shadow.swift).
    public var shadow: ShadowSummary? = nil
    /// The guest's code (the session's), for telling the guest's own LBR records from foreign ones in reports.
    public var guestCodeRanges: [Range<UInt64>]? = nil
    /// Set when the runner skipped this entry without starting it: why (the backend was unavailable, or a
    /// signal stopped the run first). Nil for runs, and for skips the backend decided (scenario unsupported).
    public var notRun: NotRunCause? = nil

    /// Test name for TAP/JUnit/KCIDB: the scenario name, with `.rN` (1-based) when repeated, `.rA-rB` for an
    /// entry standing for runs A..B.
    public var testName: String {
        guard repeats > 1 else { return scenario }
        return runsCovered > 1 ? "\(scenario).r\(repeatIndex + 1)-r\(repeatIndex + runsCovered)" : "\(scenario).r\(repeatIndex + 1)"
    }
}

/// Why a run's steps stopped early: the status it gets and the reason.
public struct RunFailure: Hashable, Sendable, Codable {
    public var status: ResultStatus
    public var reason: String
    public init(status: ResultStatus, reason: String) { self.status = status; self.reason = reason }
}
