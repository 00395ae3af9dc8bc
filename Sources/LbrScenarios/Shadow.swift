// The shadow model: a run on hw (or hybrid) also drives a kernel model through the SAME steps, and the
// runner compares, per phase, what the model predicted with what was observed. One mechanism for hw and
// hybrid: the backend decorator in LbrBackends (ShadowedBackend) implements `ShadowModelSource`; the runner
// groups the shadow's observations per phase exactly as it groups the real ones, judges them with the same
// verdict engine, and `ShadowComparison` turns a disagreement into a `.modelDeparture` finding
// ("kernel departs from model <name>"). A departure never changes the outcome or the status by itself;
// `--expect` with a `model-departure fail` line makes it a failure (Expectations.swift).

import LbrCore

/// A backend that also drives a shadow kernel model with every step it performs.
public protocol ShadowModelSource: AnyObject {
    /// The shadow model's name (LbrModel variant name, opaque here).
    var shadowModel: String { get }
    /// The shadow's session for the current scenario (after `begin`), nil when the shadow could not start.
    var shadowSession: SessionInfo? { get }
    /// Observations the shadow made since the last call. The runner drains after every step and after `end()`.
    func drainShadow() -> [TimedObservation]
}

/// Predicted (shadow model) versus observed, for one phase.
public struct ShadowPhase: Hashable, Sendable, Codable {
    /// The shadow model.
    public var model: String
    /// The model's vLBR state at the end of the phase (carried from earlier phases when the phase changed nothing).
    public var predictedVlbr: VlbrState?
    /// The model's passthrough decision at the last VM-entry of the phase (carried like `predictedVlbr`).
    public var predictedPassthrough: Bool?
    /// The verdict engine's inference from the model's own signals (what the model predicts a probe would see).
    public var predictedInferred: InferredVlbr
    /// Whether the model predicts the host contender(s) starved.
    public var predictedHostStarved: Bool?
    /// The verdict engine's inference from the observed signals.
    public var observedInferred: InferredVlbr
    /// Observed passthrough: the msr-passthrough signal (last LBR MSR access passed through or trapped).
    public var observedPassthrough: Bool?
    public var observedHostStarved: Bool?
    /// One line per disagreement ("vLBR predicted active, observed not-active"); empty when they agree.
    public var departures: [String]

    public var agrees: Bool { departures.isEmpty }

    public init(model: String, predictedVlbr: VlbrState?, predictedPassthrough: Bool?, predictedInferred: InferredVlbr,
                predictedHostStarved: Bool?, observedInferred: InferredVlbr, observedPassthrough: Bool?,
                observedHostStarved: Bool?, departures: [String]) {
        self.model = model; self.predictedVlbr = predictedVlbr; self.predictedPassthrough = predictedPassthrough
        self.predictedInferred = predictedInferred; self.predictedHostStarved = predictedHostStarved
        self.observedInferred = observedInferred; self.observedPassthrough = observedPassthrough
        self.observedHostStarved = observedHostStarved; self.departures = departures
    }

    /// "shadow model mainline: predicted vlbr=active passthrough=true; observed active passthrough=true (agrees)".
    public var line: String {
        var s = "shadow model \(model): predicted vlbr=\(predictedVlbr?.rawValue ?? "?")"
        if let p = predictedPassthrough { s += " passthrough=\(p)" }
        s += "; observed \(observedInferred.rawValue)"
        if let p = observedPassthrough { s += " passthrough=\(p)" }
        s += agrees ? " (agrees)" : " (DEPARTS: \(departures.joined(separator: "; ")))"
        return s
    }
}

/// Predicted versus observed for a whole scenario run.
public struct ShadowSummary: Hashable, Sendable, Codable {
    public var model: String
    /// The outcome the verdict engine derives from the shadow's observations; nil when the shadow model did not
    /// start (written `unknown`, `unknownPrediction`).
    public var predictedOutcome: ScenarioOutcome?
    public var observedOutcome: ScenarioOutcome
    /// Why the shadow could not follow the run, when it could not (then nothing is compared).
    public var unavailable: String?
    /// Phases whose comparison departs.
    public var departingPhases: [String]

    /// How text and documents spell a prediction the shadow model could not make.
    public static let unknownPrediction = "unknown"

    /// The predicted outcome's code, `unknownPrediction` without one.
    public var predictedCode: String { predictedOutcome?.code ?? Self.unknownPrediction }

    public var outcomeAgrees: Bool { predictedOutcome?.sameTerms(as: observedOutcome) ?? false }
    public var agrees: Bool { unavailable == nil && outcomeAgrees && departingPhases.isEmpty }

    public init(model: String, predictedOutcome: ScenarioOutcome?, observedOutcome: ScenarioOutcome, unavailable: String? = nil,
                departingPhases: [String]) {
        self.model = model; self.predictedOutcome = predictedOutcome; self.observedOutcome = observedOutcome
        self.unavailable = unavailable; self.departingPhases = departingPhases
    }
}

/// The comparison. Pure.
public enum ShadowComparison {
    /// Compares the shadow's run with the observed one.
    /// - Parameters:
    ///   - observed: the observed phase verdicts (from the real backend's records).
    ///   - observedOutcome / observedStatus: the observed run's outcome and status; the outcome is compared only
    ///     when the run passed (a skipped or errored run has nothing to compare).
    ///   - shadowSession / shadowRecords: what the shadow model did for the same steps, grouped per phase.
    ///   - ownModel: the run itself was played by this model (hybrid): nothing was observed of a kernel, so the
    ///     texts say "this run" where they would say "observed", and a departure is the run's, not a kernel's.
    /// - Returns: per-phase comparisons (aligned with `observed` by phase name), the summary and the finding.
    public static func compare(scenario: Scenario, model: String, observed: [PhaseVerdict],
                               observedOutcome: ScenarioOutcome, observedStatus: ResultStatus,
                               shadowSession: SessionInfo?, shadowRecords: [PhaseRecord], ownModel: Bool = false)
        -> (phases: [String: ShadowPhase], summary: ShadowSummary, finding: Finding?) {
        let seen = ownModel ? "this run" : "observed"
        guard let shadowSession else {
            let s = ShadowSummary(model: model, predictedOutcome: nil, observedOutcome: observedOutcome,
                                  unavailable: "the shadow model did not start", departingPhases: [])
            return ([:], s, nil)
        }
        let predicted = VerdictEngine.evaluate(scenario: scenario, session: shadowSession, records: shadowRecords)
        var out: [String: ShadowPhase] = [:]
        var departing: [String] = []
        var items: [String] = []
        var vlbr: VlbrState? = nil
        var passthrough: Bool? = nil
        for rec in shadowRecords {
            // Model state at the end of the phase: the last report in it, else the state carried from before.
            for t in rec.observations {
                switch t.observation {
                case let .vlbr(s): vlbr = s
                case let .passthrough(p): passthrough = p
                default: break
                }
            }
            guard let ov = observed.first(where: { $0.phase == rec.phase }),
                  let pv = predicted.phases.first(where: { $0.phase == rec.phase }) else { continue }
            let observedPt: Bool? = ov.signals.first { $0.kind == .msrPassthrough }.map { $0.vote == .active }
            var d: [String] = []
            if let v = vlbr, ov.inferred != .unknown, !agree(model: v, inferred: ov.inferred) {
                d.append("vLBR predicted \(v.rawValue), \(seen) \(ov.inferred.rawValue)")
            }
            // Like with like: what the shadow's own LBR MSR accesses showed (its msr-passthrough signal) against
            // the observed signal; the decision at the phase's last VM-entry only when the shadow has no such
            // signal (VM-entries after the last LBR access, e.g. an exit loop, re-decide passthrough without an
            // access that could show it).
            let predictedPt = pv.signals.first { $0.kind == .msrPassthrough }.map { $0.vote == .active } ?? passthrough
            if let p = predictedPt, let o = observedPt, p != o {
                d.append("passthrough predicted \(p), \(seen) \(o)")
            }
            if let p = pv.hostStarved, let o = ov.hostStarved, p != o {
                d.append("host starved predicted \(p ? "yes" : "no"), \(seen) \(o ? "yes" : "no")")
            }
            out[rec.phase] = ShadowPhase(model: model, predictedVlbr: vlbr, predictedPassthrough: passthrough,
                                         predictedInferred: pv.inferred, predictedHostStarved: pv.hostStarved,
                                         observedInferred: ov.inferred, observedPassthrough: observedPt,
                                         observedHostStarved: ov.hostStarved, departures: d)
            if !d.isEmpty {
                departing.append(rec.phase)
                items.append("phase \(rec.phase): " + d.joined(separator: ", "))
            }
        }
        let judged = observedStatus == .pass || observedStatus == .fail
        let summary = ShadowSummary(model: model, predictedOutcome: predicted.outcome,
                                    observedOutcome: observedOutcome, departingPhases: departing)
        if judged && !summary.outcomeAgrees {
            items.append("outcome predicted \(summary.predictedCode), \(seen) \(summary.observedOutcome.code)")
        }
        guard !items.isEmpty else { return (out, summary, nil) }
        let finding = Finding(kind: .modelDeparture, phase: departing.first,
                              count: departing.count + (judged && !summary.outcomeAgrees ? 1 : 0),
                              summary: asciiReason((ownModel ? "this run (real guest) departs from its own model \(model) run without it: "
                                                   : "kernel departs from model \(model): ") + items.joined(separator: "; ")))
        return (out, summary, finding)
    }

    /// The same mapping the verdict engine uses for model ground truth (`GroundTruth.agreesWithInference`).
    public static func agree(model v: VlbrState, inferred: InferredVlbr) -> Bool {
        switch inferred {
        case .active: return v == .active
        case .notActive: return v != .active
        case .noLbr: return v == .none
        case .unknown: return true
        }
    }
}
