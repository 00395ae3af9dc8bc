// A capture: every observation the verdict engine consumed in a run, per scenario run and phase, with the
// session facts it judged them against — so the verdicts can be derived again, by today's detectors, from a run
// taken once (`lbrprobe run --capture FILE`, `lbrprobe judge FILE…`; docs/capture-format.md).

import LbrCore

/// One scenario run as captured.
public struct CapturedRun: Hashable, Sendable, Codable {
    public var scenario: String
    /// 0-based repeat index and the number of repeats requested.
    public var repeatIndex: Int
    public var repeats: Int
    /// Layout, guest code ranges and notes the backend reported at begin.
    public var session: SessionInfo
    /// The observations per phase, in time order, as the runner grouped them.
    public var records: [PhaseRecord]
    /// Set when the runner stopped the steps early (its status and reason win over the verdict).
    public var stoppedEarly: RunFailure?
    public var durationNs: UInt64
    public var startUnixNs: UInt64?
}

/// A versioned capture file's content.
public struct RunCapture: Hashable, Sendable, Codable {
    /// The format identifier written (docs/capture-format.md).
    public static let currentSchema = "lbrprobe.capture/2"
    /// The format identifiers read: /1 captures hold host-sample summaries only, judged as recorded.
    public static let readableSchemas = ["lbrprobe.capture/1", currentSchema]
    public var schema: String
    public var backend: BackendKind
    public var model: String?
    public var cpu: Int
    public var kernelRelease: String
    public var runId: String
    public var host: HostIdentity?
    public var runs: [CapturedRun]

    public init(backend: BackendKind, model: String?, cpu: Int, kernelRelease: String, runId: String,
                host: HostIdentity?, runs: [CapturedRun]) {
        self.schema = Self.currentSchema; self.backend = backend; self.model = model; self.cpu = cpu
        self.kernelRelease = kernelRelease; self.runId = runId; self.host = host; self.runs = runs
    }

    /// The capture of `report`: every run that began and kept its evidence (a repeated run folded into an
    /// identical one is represented by that one; skipped and not-started runs have nothing to judge).
    public init(report: RunReport) {
        var runs: [CapturedRun] = []
        for r in report.results {
            guard let session = r.session, r.evidenceFoldedInto == nil else { continue }
            runs.append(CapturedRun(scenario: r.scenario, repeatIndex: r.repeatIndex, repeats: r.repeats,
                                    session: session, records: r.records, stoppedEarly: r.stoppedEarly,
                                    durationNs: r.durationNs, startUnixNs: r.startUnixNs))
        }
        self.init(backend: report.backend, model: report.model, cpu: report.cpu, kernelRelease: report.kernelRelease,
                  runId: report.runId, host: report.host, runs: runs)
    }

    /// Why a capture cannot be judged (unknown schema or scenario, a count out of range), nil when it can.
    public var problem: String? {
        if !Self.readableSchemas.contains(schema) {
            return "schema '\(schema)' is not one this lbrprobe reads (\(Self.readableSchemas.joined(separator: ", ")))"
        }
        if let r = runs.first(where: { Catalog.named($0.scenario) == nil }) {
            return "scenario '\(r.scenario)' is not in this lbrprobe's catalog (\(Catalog.names.joined(separator: ", ")))"
        }
        let limit = HostSampleBatch.Limits.maxCount
        for r in runs {
            if r.repeats < 1 || r.repeats > limit || r.repeatIndex < 0 || r.repeatIndex >= r.repeats {
                return "\(r.scenario): repeat \(r.repeatIndex) of \(r.repeats) out of range"
            }
            for p in r.records {
                if p.stepsCompleted < 0 || p.stepsCompleted > limit { return "\(r.scenario) \(p.phase): steps completed \(p.stepsCompleted) out of range" }
                for case let .hostSamples(s) in p.observations.map(\.observation) {
                    let counts = [s.samples, s.withBranches, s.emptyBranches, s.guestAddresses, s.lost, s.staleRepeats,
                                  s.withHwIndex, s.filteredOut, s.throttled]
                    if counts.contains(where: { $0 < 0 || $0 > limit }) {
                        return "\(r.scenario) \(p.phase): a host-sample count of \(s.contender) is outside 0...\(limit)"
                    }
                }
                for case let .kvmMsrTrace(l) in p.observations.map(\.observation) where l.events.count > KvmMsrTraceLines.maxEvents || l.derived < 0 {
                    return "\(r.scenario) \(p.phase): a kvm_msr trace record holds \(l.events.count) lines (at most \(KvmMsrTraceLines.maxEvents)) or a negative derived count"
                }
                if case let .contextSwitches(n)? = p.observations.lazy.map(\.observation).first(where: {
                    if case let .contextSwitches(n) = $0 { return n < 0 || n > limit }; return false }) {
                    return "\(r.scenario) \(p.phase): context switches \(n) out of range"
                }
            }
        }
        return nil
    }

    /// The verdicts of every captured run derived again with today's verdict engine, as a run report (shadow
    /// comparisons are not part of a capture). `expectations` are checked like `run --expect` does.
    public func rejudge(expectations: ExpectationSet? = nil, expectFile: String? = nil, source: String) -> RunReport {
        var results = ScenarioResults()
        var total: UInt64 = 0
        for c in runs {
            guard let scenario = Catalog.named(c.scenario) else { continue }
            var r = ScenarioResult(scenario: c.scenario, backend: backend, model: model, cpu: cpu,
                                   kernelRelease: kernelRelease, repeatIndex: c.repeatIndex, repeats: c.repeats,
                                   phases: [], records: [], outcome: ScenarioOutcome(.error("not judged")), status: .error,
                                   reason: nil, expectation: .none, startUnixNs: c.startUnixNs, durationNs: c.durationNs,
                                   sessionNotes: [], lbrDepth: nil)
            Runner.judge(&r, scenario: scenario, session: c.session, records: Self.rederived(c.records, session: c.session),
                         failure: c.stoppedEarly.map { ($0.status, $0.reason) })
            FactBasis.stamp(&r)
            r.expectation = Self.check(r, expectations)
            if case .unmet = r.expectation { r.status = .fail }
            total &+= c.durationNs
            results.append(r)
        }
        let detail = schema == Self.currentSchema ? "capture \(source)"
            : "capture \(source) (\(schema): host samples judged from the summaries it recorded)"
        return RunReport(backend: backend, model: model, availability: .available(detail: detail),
                         selection: nil, cpu: cpu, kernelRelease: kernelRelease, repeats: runs.map(\.repeats).max() ?? 1,
                         timeoutNs: 0, expectFile: expectFile, results: results, startUnixNs: runs.first?.startUnixNs,
                         durationNs: total, runId: runId, host: host)
    }

    /// `records` with every observation derived from raw records derived again by today's detectors: a
    /// host-sample summary from its `.hostSampleRecords` (`HostSampleRecords.summary`, matched against the
    /// session's edge table) — a `.hostSamples` of the same contender right after it is replaced, and inserted
    /// when the capture holds none — and the `.msrAccess` observations (and notes) a `.kvmMsrTrace` says it
    /// derived, attributed again (`KvmMsrTraceLines.observations`, the command's result and the session's layout).
    /// A derived observation keeps the time and basis of the one it replaces.
    public static func rederived(_ records: [PhaseRecord], session: SessionInfo) -> [PhaseRecord] {
        records.map { p in
            let obs = p.observations
            guard obs.contains(where: {
                switch $0.observation { case .hostSampleRecords, .kvmMsrTrace: return true; default: return false }
            }) else { return p }
            var out: [TimedObservation] = []
            out.reserveCapacity(obs.count + 4)
            // oldToNew[k]: observations in `out` once the first k originals are placed (for stepEnds).
            var oldToNew: [Int] = [0]
            var skip = 0
            for (i, t) in obs.enumerated() {
                if skip > 0 { skip -= 1; oldToNew.append(out.count); continue }
                out.append(t)
                var replaced = 0
                var fresh: [Observation] = []
                switch t.observation {
                case let .hostSampleRecords(rec):
                    if i + 1 < obs.count, case let .hostSamples(s) = obs[i + 1].observation, s.contender == rec.contender {
                        replaced = 1
                    }
                    fresh = [.hostSamples(rec.summary(guestEdges: session.guestEdges))]
                case let .kvmMsrTrace(lines):
                    let k = lines.derived
                    guard k >= 0, k <= obs.count - i - 1, let layout = session.lbrLayout, i + 1 + k < obs.count,
                          case let .guest(result) = obs[i + 1 + k].observation else { break }
                    replaced = k
                    fresh = lines.observations(result: result, layout: layout)
                default:
                    break
                }
                for (j, o) in fresh.enumerated() {
                    let like = j < replaced ? obs[i + 1 + j] : t
                    out.append(TimedObservation(timeNs: like.timeNs, o, basis: like.basis))
                }
                skip = replaced
                oldToNew.append(out.count)
            }
            var q = p
            q.observations = out
            q.stepEnds = p.stepEnds?.map { $0 >= 0 && $0 < oldToNew.count ? oldToNew[$0] : $0 }
            return q
        }
    }

    static func check(_ r: ScenarioResult, _ expectations: ExpectationSet?) -> ExpectationCheck {
        guard let expectations else { return .none }
        guard let e = expectations.entry(scenario: r.scenario, model: r.model) else { return .notListed }
        if r.status == .skip || r.status == .timeout { return .notChecked(expected: e.text, line: e.line) }
        return e.matches(r.outcome) ? .met(expected: e.text, line: e.line) : .unmet(expected: e.text, line: e.line)
    }
}
