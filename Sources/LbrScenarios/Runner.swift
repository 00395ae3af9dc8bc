// The runner: drives a backend through a scenario's steps, groups observations per phase, applies a
// timeout, repeats, judges, checks expectations. It never leaks: `end()` follows every successful `begin`.

import LbrCore

/// The status of one scenario run.
public enum ResultStatus: String, Hashable, Sendable, Codable, CaseIterable {
    case pass, fail, skip, error, timeout
}

/// How a result compared with an `--expect` file.
public enum ExpectationCheck: Hashable, Sendable, Codable {
    /// No expectation file was given.
    case none
    /// The file has no entry for this scenario (and model).
    case notListed
    /// The outcome matched; `expected` is the entry's text, `line` its line number.
    case met(expected: String, line: Int)
    /// The outcome did not match (a FAIL).
    case unmet(expected: String, line: Int)
    /// The run was skipped or timed out, so the expectation was not checked.
    case notChecked(expected: String, line: Int)

    /// Stable code: none, not-listed, met, unmet, not-checked.
    public var code: String {
        switch self {
        case .none: return "none"
        case .notListed: return "not-listed"
        case .met: return "met"
        case .unmet: return "unmet"
        case .notChecked: return "not-checked"
        }
    }
    public var expected: String? {
        switch self {
        case .none, .notListed: return nil
        case let .met(e, _), let .unmet(e, _), let .notChecked(e, _): return e
        }
    }
}

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
    /// Shadow model: predicted versus observed outcome (hw/hybrid runs with a shadow model; Shadow.swift).
    public var shadow: ShadowSummary? = nil

    /// Test name for TAP/JUnit/KCIDB: the scenario name, with `.rN` (1-based) when repeated, `.rA-rB` for an
    /// entry standing for runs A..B.
    public var testName: String {
        guard repeats > 1 else { return scenario }
        return runsCovered > 1 ? "\(scenario).r\(repeatIndex + 1)-r\(repeatIndex + runsCovered)" : "\(scenario).r\(repeatIndex + 1)"
    }
}

/// A termination signal that stopped a run early (the CLI catches it; this module makes no system calls).
///
/// kselftest convention followed: the scenario run in progress when the signal came is reported as ERROR
/// (it did not complete), the runs not started yet as SKIP ("not run: interrupted by SIGINT") — one entry per
/// scenario standing for all of its runs not started (`ScenarioResult.runsCovered`, "(N runs not started)"),
/// counted, never materialised one by one, so the plan stays consistent with the lines; the process exit status (130 / 143, `LbrExitCode`) says the run was cut short.
public enum Interruption: String, Hashable, Sendable, Codable, CaseIterable {
    case sigint = "SIGINT"
    case sigterm = "SIGTERM"
    case sighup = "SIGHUP"
    case sigquit = "SIGQUIT"

    /// "interrupted by SIGINT".
    public var reason: String { "interrupted by \(rawValue)" }

    /// 128 + signal number (the shell's convention): 129 SIGHUP, 130 SIGINT, 131 SIGQUIT, 143 SIGTERM.
    public var exitCode: LbrExitCode {
        switch self {
        case .sigint: return .interrupted
        case .sigterm: return .terminated
        case .sighup: return .hangup
        case .sigquit: return .quit
        }
    }
}

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
    public static let schema = "lbrprobe.run/2"
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
        return "--backend auto fell back to \(s.chosen.rawValue): \(s.text)"
    }

    /// Runs the results stand for (`runsCovered` summed).
    public var runsReported: Int { results.reduce(0) { $0 + $1.runsCovered } }
    /// Runs never started because a signal stopped the run.
    public var runsNotStarted: Int {
        interruption == nil ? 0 : results.reduce(0) { $0 + ($1.reason?.hasPrefix("not run: ") == true ? $1.runsCovered : 0) }
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

/// Options of a run.
public struct RunOptions: Hashable, Sendable {
    public var cpu: Int
    public var repeats: Int
    /// Per scenario run.
    public var timeoutNs: UInt64
    /// `uname -r` of the host (or whatever the caller wants reported).
    public var kernelRelease: String
    /// `RunReport.selection`.
    public var selection: AutoSelection?
    public var expectFile: String?
    // Copied into the report (the CLI fills them from the clock and the HostProbe profile).
    public var runId: String
    public var host: HostIdentity?

    public init(cpu: Int = 0, repeats: Int = 1, timeoutNs: UInt64 = 45_000_000_000, kernelRelease: String,
                selection: AutoSelection? = nil, expectFile: String? = nil,
                runId: String = RunId.unset, host: HostIdentity? = nil) {
        self.cpu = cpu; self.repeats = max(1, repeats); self.timeoutNs = timeoutNs
        self.kernelRelease = kernelRelease; self.selection = selection; self.expectFile = expectFile
        self.runId = runId; self.host = host
    }
}

/// Drives one backend.
public struct Runner {
    public let backend: any ScenarioBackend
    public let options: RunOptions
    public let expectations: ExpectationSet?
    let monotonicNs: () -> UInt64
    let wallClockUnixNs: () -> UInt64?
    let interruption: @Sendable () -> Interruption?
    /// Told when a scenario run and each of its phases start (progress display).
    let progress: (RunProgress) -> Void

    /// - Parameters:
    ///   - monotonicNs: the runner's clock for durations and timeouts (default: `ContinuousClock`).
    ///   - wallClockUnixNs: wall-clock time for report timestamps; nil-returning by default (this module
    ///     makes no system calls — the CLI passes one).
    ///   - interruption: asked after every step and before every scenario run; once it returns a signal
    ///     the run stops after the current step (the backend's `end()` still runs), that run is an ERROR
    ///     and the runs not started are SKIP (`Interruption`). The CLI passes its signal flag.
    public init(backend: any ScenarioBackend, options: RunOptions, expectations: ExpectationSet? = nil,
                monotonicNs: (() -> UInt64)? = nil, wallClockUnixNs: @escaping () -> UInt64? = { nil },
                interruption: @escaping @Sendable () -> Interruption? = { nil },
                progress: @escaping (RunProgress) -> Void = { _ in }) {
        self.backend = backend; self.options = options; self.expectations = expectations
        if let monotonicNs { self.monotonicNs = monotonicNs } else {
            let origin = ContinuousClock.now
            self.monotonicNs = {
                let d = origin.duration(to: .now).components
                return UInt64(max(0, d.seconds)) &* 1_000_000_000 &+ UInt64(max(0, d.attoseconds / 1_000_000_000))
            }
        }
        self.wallClockUnixNs = wallClockUnixNs
        self.interruption = interruption
        self.progress = progress
    }

    /// Runs every scenario `options.repeats` times (scenario-major order).
    ///
    /// Memory is flat in `repeats` (`ScenarioResults`): the first run of each status + outcome code per scenario
    /// keeps its evidence, later runs alike are folded; runs not started after a signal, and runs skipped alike
    /// (backend unavailable, scenario unsupported), are one entry per scenario with `runsCovered` = their number.
    public func run(_ scenarios: [Scenario]) -> RunReport {
        let t0 = monotonicNs()
        let wall = wallClockUnixNs()
        let availability = backend.availability()
        var results = ScenarioResults()
        var stoppedBy: Interruption?
        for (si, s) in scenarios.enumerated() {
            let all = options.repeats
            let p0 = RunProgress(scenario: s.name, scenarioIndex: si, scenarioCount: scenarios.count, repeatIndex: 0,
                                 repeats: all, phase: nil)
            if let i = stoppedBy ?? interruption() {
                stoppedBy = i
                results.append(skipped(s, repeatIndex: 0, runs: all, reason: notRunReason(i, runs: all)))
                continue
            }
            if !availability.isAvailable {
                results.append(skipped(s, repeatIndex: 0, runs: all, reason: "backend \(backend.kind.rawValue) unavailable: \(availability.text)"))
                continue
            }
            if case let .unsupported(reason) = backend.support(for: s) {
                progress(p0)
                results.append(skipped(s, repeatIndex: 0, runs: all, reason: reason))
                continue
            }
            /// (status, outcome code) → test name of the kept run.
            var exemplars: [String: String] = [:]
            for r in 0..<all {
                if let i = stoppedBy ?? interruption() {
                    stoppedBy = i
                    results.append(skipped(s, repeatIndex: r, runs: all - r, reason: notRunReason(i, runs: all - r)))
                    break
                }
                var p = p0
                p.repeatIndex = r
                progress(p)
                let one = runOnce(s, repeatIndex: r, onPhase: { [p] in progress(p.with(phase: $0)) })
                let key = one.status.rawValue + " " + one.outcome.code
                if let ex = exemplars[key] {
                    results.appendFolded(one, exemplar: ex)
                } else {
                    exemplars[key] = one.testName
                    results.append(one)
                }
                stoppedBy = interruption()
            }
        }
        return RunReport(backend: backend.kind, model: backend.modelName, availability: availability,
                         selection: options.selection, cpu: options.cpu,
                         kernelRelease: options.kernelRelease, repeats: options.repeats, timeoutNs: options.timeoutNs,
                         expectFile: options.expectFile, results: results, startUnixNs: wall,
                         durationNs: monotonicNs() &- t0, interruption: stoppedBy,
                         runId: options.runId, host: options.host)
    }

    /// "not run: interrupted by SIGINT" (+ how many runs the entry stands for, when more than one).
    func notRunReason(_ i: Interruption, runs: Int) -> String {
        "not run: \(i.reason)" + (runs > 1 ? " (\(runs) runs not started)" : "")
    }

    func base(_ s: Scenario, repeatIndex: Int) -> ScenarioResult {
        ScenarioResult(scenario: s.name, backend: backend.kind, model: backend.modelName, cpu: options.cpu,
                       kernelRelease: options.kernelRelease, repeatIndex: repeatIndex, repeats: options.repeats,
                       phases: [], records: [], outcome: ScenarioOutcome(.error("not run")), status: .error,
                       reason: nil, expectation: .none, startUnixNs: wallClockUnixNs(), durationNs: 0,
                       sessionNotes: [], lbrDepth: nil)
    }

    func skipped(_ s: Scenario, repeatIndex: Int, runs: Int = 1, reason: String) -> ScenarioResult {
        var r = base(s, repeatIndex: repeatIndex)
        r.outcome = ScenarioOutcome(.unsupported(reason)); r.status = .skip; r.reason = reason
        r.runsCovered = max(1, runs)
        r.expectation = check(r)
        return r
    }

    /// Runs one scenario once: support check, begin, every step with the deadline, end, verdict, expectation.
    /// - Parameter onPhase: told the name of each phase as it starts.
    public func runOnce(_ scenario: Scenario, repeatIndex: Int = 0, onPhase: (String) -> Void = { _ in }) -> ScenarioResult {
        if case let .unsupported(reason) = backend.support(for: scenario) {
            return skipped(scenario, repeatIndex: repeatIndex, reason: reason)
        }
        var result = base(scenario, repeatIndex: repeatIndex)
        let start = monotonicNs()
        let deadline = start &+ options.timeoutNs
        var session: SessionInfo
        do {
            session = try backend.begin(scenario, cpu: options.cpu)
            if session.guestCodeRanges == nil { session.guestCodeRanges = backend.guestCodeRanges }
        } catch {
            // begin failed: nothing to release by contract, but end() is harmless and guards sloppy backends.
            _ = backend.end()
            switch error {
            case let .unsupported(m): return skipped(scenario, repeatIndex: repeatIndex, reason: m)
            case let .timeout(m):
                result.status = .timeout; result.reason = "begin: \(m)"
                result.outcome = ScenarioOutcome(.error("timeout: begin: \(m)"))
            case let .failed(m):
                result.status = .error; result.reason = "begin: \(m)"
                result.outcome = ScenarioOutcome(.error("begin: \(m)"))
            }
            result.durationNs = monotonicNs() &- start
            result.expectation = check(result)
            return result
        }
        result.sessionNotes = session.notes
        result.lbrDepth = session.lbrLayout?.depth

        var records: [PhaseRecord] = []
        var failure: (ResultStatus, String)?
        var interrupted = false
        // Shadow model (Shadow.swift): its observations are grouped per phase like the real ones.
        let shadow = backend as? ShadowModelSource
        var shadowRecords: [PhaseRecord] = []
        phaseLoop: for phase in scenario.phases {
            onPhase(phase.name)
            var rec = PhaseRecord(phase: phase.name, observations: [], stepsCompleted: 0,
                                  startNs: monotonicNs(), endNs: 0, stepEnds: [])
            var shadowRec = PhaseRecord(phase: phase.name, observations: [], stepsCompleted: 0, startNs: 0, endNs: 0)
            defer {
                rec.endNs = monotonicNs(); records.append(rec)
                if shadow != nil { shadowRecords.append(shadowRec) }
            }
            for (i, step) in phase.steps.enumerated() {
                do {
                    let obs = try backend.perform(step, deadlineNs: deadline)
                    rec.observations += obs
                    rec.stepsCompleted += 1
                    rec.stepEnds?.append(rec.observations.count)
                    if let shadow {
                        shadowRec.observations += shadow.drainShadow()
                        shadowRec.stepsCompleted += 1
                    }
                    if obs.contains(where: { if case let .guest(g) = $0.observation { return g.status == .timeout }; return false }) {
                        failure = (.timeout, "phase \(phase.name) step \(i + 1) (\(step)): guest command timed out")
                        break phaseLoop
                    }
                    for case let .guest(g) in obs.map(\.observation) {
                        if case let .error(m) = g.status {
                            failure = (.error, "phase \(phase.name) step \(i + 1) (\(step)): guest: \(m)")
                            break phaseLoop
                        }
                    }
                } catch {
                    switch error {
                    case let .timeout(m): failure = (.timeout, "phase \(phase.name) step \(i + 1) (\(step)): \(m)")
                    case let .failed(m): failure = (.error, "phase \(phase.name) step \(i + 1) (\(step)): \(m)")
                    case let .unsupported(m): failure = (.skip, m)
                    }
                    break phaseLoop
                }
                if let sig = interruption() {
                    interrupted = true
                    failure = (.error, "\(sig.reason) after phase \(phase.name) step \(i + 1) (\(step))")
                    break phaseLoop
                }
                if monotonicNs() > deadline {
                    failure = (.timeout, "phase \(phase.name) step \(i + 1) (\(step)): scenario exceeded \(options.timeoutNs / 1_000_000) ms")
                    break phaseLoop
                }
            }
        }
        let late = backend.end()
        if !late.isEmpty {
            if records.isEmpty {
                records.append(PhaseRecord(phase: "teardown", observations: late, stepsCompleted: 0,
                                           startNs: monotonicNs(), endNs: monotonicNs()))
            } else {
                records[records.count - 1].observations += late
            }
        }
        if let shadow {
            let lateShadow = shadow.drainShadow()
            if !lateShadow.isEmpty, !shadowRecords.isEmpty {
                shadowRecords[shadowRecords.count - 1].observations += lateShadow
            }
        }
        result.records = records
        result.durationNs = monotonicNs() &- start

        let verdict = VerdictEngine.evaluate(scenario: scenario, session: session, records: records)
        result.phases = verdict.phases
        result.findings += VerdictEngine.findings(session: session, records: records)
        if let (status, reason) = failure {
            result.status = status; result.reason = reason
            result.outcome = ScenarioOutcome(status == .skip ? .unsupported(reason)
                                             : .error(status == .timeout ? "timeout: \(reason)" : reason))
        } else {
            result.outcome = verdict.outcome
            if let ab = verdict.outcome.abnormal {
                switch ab {
                case let .unsupported(r): result.status = .skip; result.reason = r
                case let .inconclusive(r), let .error(r): result.status = .error; result.reason = r
                default: result.status = .pass
                }
            } else {
                result.status = .pass
            }
        }
        if let shadow {
            let c = ShadowComparison.compare(scenario: scenario, model: shadow.shadowModel, observed: result.phases,
                                             observedOutcome: result.outcome, observedStatus: result.status,
                                             shadowSession: shadow.shadowSession, shadowRecords: shadowRecords)
            for i in result.phases.indices { result.phases[i].shadow = c.phases[result.phases[i].phase] }
            result.shadow = c.summary
            if let f = c.finding { result.findings.append(f) }
        }
        result.expectation = check(result, judged: !interrupted)
        if case .unmet = result.expectation { result.status = .fail }
        if result.status == .pass, expectations?.failOnModelDeparture == true,
           let f = result.findings.first(where: { $0.kind == .modelDeparture }) {
            result.status = .fail
            result.reason = "model-departure fail (--expect): " + f.summary
        }
        return result
    }

    /// - Parameter judged: false when the run was cut short (interrupted): the expectation is not checked.
    func check(_ r: ScenarioResult, judged: Bool = true) -> ExpectationCheck {
        guard let expectations else { return .none }
        guard let e = expectations.entry(scenario: r.scenario, model: r.model) else { return .notListed }
        if !judged || r.status == .skip || r.status == .timeout { return .notChecked(expected: e.text, line: e.line) }
        return e.matches(r.outcome) ? .met(expected: e.text, line: e.line) : .unmet(expected: e.text, line: e.line)
    }
}
