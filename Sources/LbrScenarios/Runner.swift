// The runner: drives a backend through a scenario's steps, groups observations per phase, applies a
// timeout, repeats, judges, checks expectations. It never leaks: `end()` follows every successful `begin`.
// One scenario run (begin / phases / finish) lives in Runner+ScenarioRun.swift.

import LbrCore

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
                results.append(skipped(s, repeatIndex: 0, runs: all, reason: notRunReason(i, runs: all), notRun: .interrupted))
                continue
            }
            if !availability.isAvailable {
                results.append(skipped(s, repeatIndex: 0, runs: all, reason: "backend \(backend.kind.rawValue) unavailable: \(availability.text)",
                                       notRun: .backendUnavailable))
                continue
            }
            if case let .unsupported(reason) = backend.support(for: s) {
                progress(p0)
                results.append(skipped(s, repeatIndex: 0, runs: all, reason: reason))
                continue
            }
            /// (status, outcome terms) → test name of the kept run.
            var exemplars: [FoldKey: String] = [:]
            for r in 0..<all {
                if let i = stoppedBy ?? interruption() {
                    stoppedBy = i
                    results.append(skipped(s, repeatIndex: r, runs: all - r, reason: notRunReason(i, runs: all - r),
                                           notRun: .interrupted))
                    break
                }
                var p = p0
                p.repeatIndex = r
                progress(p)
                let one = runOnce(s, repeatIndex: r, onPhase: { [p] in progress(p.with(phase: $0)) })
                let key = FoldKey(status: one.status, outcome: one.outcome.termCodes)
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

    func skipped(_ s: Scenario, repeatIndex: Int, runs: Int = 1, reason: String, notRun: NotRunCause? = nil) -> ScenarioResult {
        var r = base(s, repeatIndex: repeatIndex)
        r.outcome = ScenarioOutcome(.unsupported(reason)); r.status = .skip; r.reason = reason; r.notRun = notRun
        r.runsCovered = max(1, runs)
        r.expectation = check(r)
        return r
    }

    /// - Parameter judged: false when the run was cut short (interrupted): the expectation is not checked.
    func check(_ r: ScenarioResult, judged: Bool = true) -> ExpectationCheck {
        guard let expectations else { return .none }
        guard let e = expectations.entry(scenario: r.scenario, model: r.model) else { return .notListed }
        if !judged || r.status == .skip || r.status == .timeout { return .notChecked(expected: e.text, line: e.line) }
        return e.matches(r.outcome) ? .met(expected: e.text, line: e.line) : .unmet(expected: e.text, line: e.line)
    }
}

/// A repeated run's status and outcome terms: later runs alike in both fold into the first one's evidence.
private struct FoldKey: Hashable {
    var status: ResultStatus
    var outcome: [OutcomeTerm]
}
