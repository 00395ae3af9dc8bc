// One scenario run: begin (support check, the backend's session), the phases (every step with the deadline,
// observations grouped per phase, the shadow model's alongside), finish (end, verdict, findings, shadow
// comparison, expectation).

import LbrCore

extension Runner {
    /// What the phases of one run recorded, and why they stopped early if they did.
    struct PhaseRun {
        var records: [PhaseRecord] = []
        var shadowRecords: [PhaseRecord] = []
        var failure: (ResultStatus, String)?
        var interrupted = false
    }

    /// Runs one scenario once: support check, begin, every step with the deadline, end, verdict, expectation.
    /// - Parameter onPhase: told the name of each phase as it starts.
    public func runOnce(_ scenario: Scenario, repeatIndex: Int = 0, onPhase: (String) -> Void = { _ in }) -> ScenarioResult {
        if case let .unsupported(reason) = backend.support(for: scenario) {
            return skipped(scenario, repeatIndex: repeatIndex, reason: reason)
        }
        let start = monotonicNs()
        let startUnixNs = wallClockUnixNs()
        let session: SessionInfo
        switch begin(scenario, repeatIndex: repeatIndex, start: start) {
        case let .failure(stopped): return stopped.result
        case let .success(s): session = s
        }
        let run = phases(scenario, deadline: start &+ options.timeoutNs, onPhase: onPhase)
        var result = finish(scenario, repeatIndex: repeatIndex, start: start, session: session, run: run)
        result.startUnixNs = startUnixNs
        return result
    }

    /// A run that ended in `begin` (skip, timeout or error), as its result.
    struct StoppedAtBegin: Error { var result: ScenarioResult }

    /// The backend's `begin`: the session, or the finished result when it failed.
    func begin(_ scenario: Scenario, repeatIndex: Int, start: UInt64) -> Result<SessionInfo, StoppedAtBegin> {
        do {
            var session = try backend.begin(scenario, cpu: options.cpu)
            if session.guestCodeRanges == nil { session.guestCodeRanges = backend.guestCodeRanges }
            return .success(session)
        } catch {
            // begin failed: nothing to release by contract, but end() is harmless and guards sloppy backends.
            _ = backend.end()
            var result = base(scenario, repeatIndex: repeatIndex)
            switch error {
            case let .unsupported(m): return .failure(StoppedAtBegin(result: skipped(scenario, repeatIndex: repeatIndex, reason: m)))
            case let .timeout(m):
                result.status = .timeout; result.reason = "begin: \(m)"
                result.outcome = ScenarioOutcome(.error("timeout: begin: \(m)"))
            case let .failed(m):
                result.status = .error; result.reason = "begin: \(m)"
                result.outcome = ScenarioOutcome(.error("begin: \(m)"))
            }
            result.durationNs = monotonicNs() &- start
            result.expectation = check(result)
            return .failure(StoppedAtBegin(result: result))
        }
    }

    /// Every phase's steps in order until one fails, times out or a signal arrives; then the backend's `end()`,
    /// whose late observations join the last phase.
    func phases(_ scenario: Scenario, deadline: UInt64, onPhase: (String) -> Void) -> PhaseRun {
        var run = PhaseRun()
        // Shadow model (Shadow.swift): its observations are grouped per phase like the real ones.
        let shadow = backend as? ShadowModelSource
        phaseLoop: for phase in scenario.phases {
            onPhase(phase.name)
            var rec = PhaseRecord(phase: phase.name, observations: [], stepsCompleted: 0,
                                  startNs: monotonicNs(), endNs: 0, stepEnds: [])
            var shadowRec = PhaseRecord(phase: phase.name, observations: [], stepsCompleted: 0, startNs: 0, endNs: 0)
            defer {
                rec.endNs = monotonicNs(); run.records.append(rec)
                if shadow != nil { run.shadowRecords.append(shadowRec) }
            }
            for (i, step) in phase.steps.enumerated() {
                // Spelled only when a failure needs it (a step's description is text work every step would pay).
                var at: String { "phase \(phase.name) step \(i + 1) (\(step))" }
                do {
                    let obs = try backend.perform(step, deadlineNs: deadline)
                    rec.observations += obs
                    rec.stepsCompleted += 1
                    rec.stepEnds?.append(rec.observations.count)
                    if let shadow {
                        shadowRec.observations += shadow.drainShadow()
                        shadowRec.stepsCompleted += 1
                    }
                    if let f = Self.guestFailure(obs, at: at) { run.failure = f; break phaseLoop }
                } catch {
                    switch error {
                    case let .timeout(m): run.failure = (.timeout, "\(at): \(m)")
                    case let .failed(m): run.failure = (.error, "\(at): \(m)")
                    case let .unsupported(m): run.failure = (.skip, m)
                    }
                    break phaseLoop
                }
                if let sig = interruption() {
                    run.interrupted = true
                    run.failure = (.error, "\(sig.reason) after \(at)")
                    break phaseLoop
                }
                if monotonicNs() > deadline {
                    run.failure = (.timeout, "\(at): scenario exceeded \(options.timeoutNs / 1_000_000) ms")
                    break phaseLoop
                }
            }
        }
        let late = backend.end()
        if !late.isEmpty {
            if run.records.isEmpty {
                run.records.append(PhaseRecord(phase: "teardown", observations: late, stepsCompleted: 0,
                                               startNs: monotonicNs(), endNs: monotonicNs()))
            } else {
                run.records[run.records.count - 1].observations += late
            }
        }
        if let shadow {
            let lateShadow = shadow.drainShadow()
            if !lateShadow.isEmpty, !run.shadowRecords.isEmpty {
                run.shadowRecords[run.shadowRecords.count - 1].observations += lateShadow
            }
        }
        return run
    }

    /// A guest command that timed out or errored inside a step stops the run.
    static func guestFailure(_ obs: [TimedObservation], at: @autoclosure () -> String) -> (ResultStatus, String)? {
        for t in obs {
            if case let .guest(g) = t.observation, g.status == .timeout { return (.timeout, "\(at()): guest command timed out") }
        }
        for t in obs {
            if case let .guest(g) = t.observation, case let .error(m) = g.status { return (.error, "\(at()): guest: \(m)") }
        }
        return nil
    }

    /// The verdict engine's part of a finished run, shared with `lbrprobe judge` (`RunCapture.rejudge`): session
    /// facts, records, phase verdicts, findings, outcome and status (a recorded failure wins over the verdict).
    static func judge(_ result: inout ScenarioResult, scenario: Scenario, session: SessionInfo, records: [PhaseRecord],
                      failure: (ResultStatus, String)?) {
        result.session = session
        result.sessionNotes = session.notes
        result.guestCodeRanges = session.guestCodeRanges
        result.lbrDepth = session.lbrLayout?.depth
        result.records = records
        let verdict = VerdictEngine.evaluate(scenario: scenario, session: session, records: records)
        result.phases = verdict.phases
        result.findings += VerdictEngine.findings(scenario: scenario, session: session, records: records, verdicts: verdict.phases)
        if let (status, reason) = failure {
            result.stoppedEarly = RunFailure(status: status, reason: reason)
            result.status = status; result.reason = reason
            result.outcome = ScenarioOutcome(status == .skip ? .unsupported(reason)
                                             : .error(status == .timeout ? "timeout: \(reason)" : reason))
        } else {
            result.outcome = verdict.outcome
            result.status = .pass
            if let ab = verdict.outcome.abnormal {
                switch ab {
                case let .unsupported(r): result.status = .skip; result.reason = r
                case let .inconclusive(r), let .error(r): result.status = .error; result.reason = r
                default: break
                }
            }
        }
    }

    /// The verdict, findings, shadow comparison and expectation of a run whose phases have been recorded.
    func finish(_ scenario: Scenario, repeatIndex: Int, start: UInt64, session: SessionInfo, run: PhaseRun) -> ScenarioResult {
        var result = base(scenario, repeatIndex: repeatIndex)
        result.durationNs = monotonicNs() &- start
        Self.judge(&result, scenario: scenario, session: session, records: run.records, failure: run.failure)
        if let shadow = backend as? ShadowModelSource {
            let c = ShadowComparison.compare(scenario: scenario, model: shadow.shadowModel, observed: result.phases,
                                             observedOutcome: result.outcome, observedStatus: result.status,
                                             shadowSession: shadow.shadowSession, shadowRecords: run.shadowRecords,
                                             ownModel: result.backend.usesModel)
            for i in result.phases.indices { result.phases[i].shadow = c.phases[result.phases[i].phase] }
            result.shadow = c.summary
            if let f = c.finding { result.findings.append(f) }
        }
        FactBasis.stamp(&result)
        result.expectation = check(result, judged: !run.interrupted)
        if case .unmet = result.expectation { result.status = .fail }
        if result.status == .pass, expectations?.failOnModelDeparture == true,
           let f = result.findings.first(where: { $0.kind == .modelDeparture }) {
            result.status = .fail
            result.reason = "model-departure fail (--expect): " + f.summary
        }
        return result
    }
}
