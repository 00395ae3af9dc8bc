// A whole run (what `lbrprobe run` reports) and its per-scenario summaries.

import LbrCore

/// Distribution of outcomes over repeats of one scenario.
public struct OutcomeDistribution: Hashable, Sendable, Codable {
    public var scenario: String
    /// Outcome code → count, sorted by descending count then code.
    public var counts: [OutcomeCount]
    public var runs: Int
}

public struct OutcomeCount: Hashable, Sendable, Codable {
    public var outcome: String
    public var count: Int
}

/// Counts of statuses (kselftest totals vocabulary).
public struct StatusTotals: Hashable, Sendable, Codable {
    public var pass = 0, fail = 0, skip = 0, error = 0, timeout = 0
    public init() {}
    public var total: Int { pass + fail + skip + error + timeout }
}

/// A whole run: what `lbrprobe run` reports.
public struct RunReport: Hashable, Sendable, Codable {
    /// Schema identifier of the JSON form (docs/run.schema.json).
    public static let schema = "lbrprobe.run/3"
    public var backend: BackendKind
    public var model: String?
    public var availability: BackendAvailability
    /// What `--backend auto` chose and passed over, if the caller says.
    public var selection: AutoSelection?
    /// Why this backend was chosen, one line (`--backend auto chose hybrid: ... (hw unavailable: ...)`).
    public var selectionReason: String? { selection.map { "--backend auto chose " + $0.text } }
    public var cpu: Int
    public var kernelRelease: String
    public var repeats: Int
    public var timeoutNs: UInt64
    public var expectFile: String?
    /// One element per reported test (folded storage, `ScenarioResults`).
    public var results: ScenarioResults
    public var startUnixNs: UInt64?
    public var durationNs: UInt64
    /// The signal that stopped the run early, if one did.
    public var interruption: Interruption?
    /// `--backend auto` fell back from what the user probably wanted (hw), and why; shown on stderr and in every
    /// report.
    public var fallback: String? {
        guard let s = selection, s.chosen != .hw else { return nil }
        // The chosen backend named once: "fell back to hybrid: hw unavailable: ...", never "hybrid: hybrid:".
        let why = s.passedOver.map { "\($0.backend.rawValue) unavailable: " + $0.reasons.map(\.description).joined(separator: "; ") }
        return "--backend auto fell back to \(s.chosen.rawValue)" + (why.isEmpty ? "" : ": " + why.joined(separator: "; "))
    }

    /// Runs the results stand for (`runsCovered` summed).
    public var runsReported: Int { results.reduce(0) { $0 + $1.runsCovered } }
    /// Runs never started because a signal stopped the run.
    public var runsNotStarted: Int {
        interruption == nil ? 0 : results.reduce(0) { $0 + ($1.notRun == .interrupted ? $1.runsCovered : 0) }
    }
    // Regression workflow: run id and host identity, for grouping and comparing runs; KCIDB ids
    // are built from the run id.
    /// RFC 9562 UUIDv7 of this run (`RunId`); `RunId.unset` when the caller gave none.
    public var runId: String
    /// The host the run ran on (nil when the caller did not say).
    public var host: HostIdentity?

    public init(backend: BackendKind, model: String?, availability: BackendAvailability, selection: AutoSelection?,
                cpu: Int, kernelRelease: String, repeats: Int, timeoutNs: UInt64, expectFile: String?,
                results: ScenarioResults, startUnixNs: UInt64?, durationNs: UInt64, interruption: Interruption? = nil,
                runId: String = RunId.unset, host: HostIdentity? = nil) {
        self.backend = backend; self.model = model; self.availability = availability
        self.selection = selection; self.cpu = cpu; self.kernelRelease = kernelRelease
        self.repeats = repeats; self.timeoutNs = timeoutNs; self.expectFile = expectFile; self.results = results
        self.startUnixNs = startUnixNs; self.durationNs = durationNs; self.interruption = interruption
        self.runId = runId; self.host = host
    }

    public var totals: StatusTotals {
        var t = StatusTotals()
        for r in results {
            switch r.status {
            case .pass: t.pass += 1
            case .fail: t.fail += 1
            case .skip: t.skip += 1
            case .error: t.error += 1
            case .timeout: t.timeout += 1
            }
        }
        return t
    }

    /// Outcome distributions per scenario, in first-run order.
    public var distributions: [OutcomeDistribution] {
        var order: [String] = []
        var counts: [String: [String: Int]] = [:]
        for r in results {
            if counts[r.scenario] == nil { order.append(r.scenario); counts[r.scenario] = [:] }
            counts[r.scenario]![r.outcome.code, default: 0] += r.runsCovered
        }
        return order.map { s in
            let c = counts[s]!.map { OutcomeCount(outcome: $0.key, count: $0.value) }
                .sorted { $0.count != $1.count ? $0.count > $1.count : $0.outcome < $1.outcome }
            return OutcomeDistribution(scenario: s, counts: c, runs: c.reduce(0) { $0 + $1.count })
        }
    }

    /// Whether nothing could run (backend unavailable, or every result skipped).
    public var nothingRan: Bool { !availability.isAvailable || results.allSatisfy { $0.status == .skip } }

    /// The process exit code: 130/143 when a signal stopped the run, 4 when nothing could run on the
    /// requested backend, 1 when anything failed, errored, timed out or missed its expectation, else 0.
    /// The numbers live in `LbrExitCode` only.
    public var exitCode: LbrExitCode {
        if let interruption { return interruption.exitCode }
        if nothingRan { return .skip }
        let t = totals
        if t.fail + t.error + t.timeout > 0 { return .failure }
        return .success
    }
}
