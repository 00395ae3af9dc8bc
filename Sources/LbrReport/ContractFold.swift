// Repeated runs in the contract: a document of `lbrprobe run --repeat N` holds N runs of every scenario, and a
// contract listing each of them would grow with N (170 000 runs made a 54 MB Markdown file). The contract
// folds them instead: per scenario the outcome distribution with counts and the run-time range
// (`RepeatStatistics`), per phase the vLBR states and phase durations of the runs that kept their evidence,
// and the evidence of a bounded number of example runs (the first run of each distinct status and outcome).
// Everything is aggregated in one pass over the document's results; nothing per run is kept but the timing
// values `RepeatStatistics` takes percentiles of. A scenario that ran once is its own example, so a single-run
// document renders as it always did.

import LbrDocument
import LbrScenarios

/// The primary document's runs as the contract shows them.
struct FoldedRuns {
    /// At most this many example runs per scenario (distinct status and outcome pairs beyond it are counted).
    static let maxExamples = 8

    /// One phase of a scenario over the runs that kept their evidence.
    struct Phase {
        var name: String
        var runs = 0
        /// vLBR state → count, in first-seen order.
        var states: [(state: String, count: Int)] = []
        var durationsNs: [UInt64] = []
    }

    /// One scenario's runs.
    struct Scenario {
        /// Runs its entries stand for (an entry's `runs`, 1 when absent).
        var runs = 0
        /// Distinct status and outcome pairs.
        var classes = 0
        /// The first run of each distinct status and outcome, at most `maxExamples`, in document order.
        var examples: [Contract.Result] = []
        /// Per phase, in first-seen order.
        var phases: [Phase] = []
    }

    private(set) var scenarios: [String: Scenario] = [:]
    /// Every scenario's example runs, in document order.
    private(set) var examples: [Contract.Result] = []
    private(set) var statistics: [String: RepeatStatistics.ScenarioStatistics] = [:]

    init(_ d: JsonReport.RunDocument) {
        var seen: [String: Set<String>] = [:]
        var acc = RepeatStatistics.Accumulator()
        for r in d.results {
            acc.add(RepeatStatistics.sample(r))
            var s = scenarios.removeValue(forKey: r.scenario) ?? Scenario()
            s.runs += max(1, r.runs ?? 1)
            if seen[r.scenario, default: []].insert(r.status.rawValue + " " + r.outcome.code).inserted {
                s.classes += 1
                if s.examples.count < Self.maxExamples { s.examples.append(r); examples.append(r) }
            }
            for p in r.phases {
                var i = s.phases.count
                if let k = s.phases.firstIndex(where: { $0.name == p.name }) { i = k } else { s.phases.append(Phase(name: p.name)) }
                s.phases[i].runs += 1
                let state = p.inferred.rawValue
                if let k = s.phases[i].states.firstIndex(where: { $0.state == state }) { s.phases[i].states[k].count += 1 }
                else { s.phases[i].states.append((state, 1)) }
                s.phases[i].durationsNs.append(RepeatStatistics.nanoseconds(ms: p.duration_ms))
            }
            scenarios[r.scenario] = s
        }
        for st in acc.finish() { statistics[st.scenario] = st }
    }

    /// The example runs of `scenario` (every run when it ran once).
    func examples(_ scenario: String) -> [Contract.Result] { scenarios[scenario]?.examples ?? [] }

    /// Whether `scenario` ran more than once.
    func isRepeated(_ scenario: String) -> Bool { (scenarios[scenario]?.runs ?? 0) > 1 }

    /// The header's note on folding, nil when no scenario ran more than once.
    var note: String? {
        let r = repeatedRuns
        guard r.scenarios > 0 else { return nil }
        return "\(r.runs) runs of \(r.scenarios) repeated scenario(s) are folded: each evidence table gives per scenario the outcome distribution and time ranges of all its runs, and the evidence of the first run of each distinct status and outcome (at most \(Self.maxExamples) per scenario)"
    }

    /// Runs of the repeated scenarios, and how many scenarios were repeated.
    var repeatedRuns: (runs: Int, scenarios: Int) {
        scenarios.values.filter { $0.runs > 1 }.reduce((0, 0)) { ($0.0 + $1.runs, $0.1 + 1) }
    }
}

extension Builder {
    /// "1.2 / 1.3 / 1.9": min, median and max of percentiles.
    func range(_ p: RepeatStatistics.Percentiles?) -> String {
        guard let p else { return "-" }
        return "\(RepeatStatistics.num(p.min)) / \(RepeatStatistics.num(p.p50)) / \(RepeatStatistics.num(p.max))"
    }

    /// The fold of the repeated scenarios among `picks`: per scenario its runs, outcome distribution, run time and
    /// the example runs whose evidence the tables after it show; per picked phase the vLBR states and durations of the runs that kept their
    /// evidence. Nil when no picked scenario was repeated.
    func foldTable(_ caption: String, _ picks: [(String, [String]?)]) -> ContractTable? {
        var rows: [[String]] = []
        for (scenario, phases) in picks where folded.isRepeated(scenario) {
            guard let s = folded.scenarios[scenario] else { continue }
            let stats = folded.statistics[scenario]
            let outcomes = (stats?.outcomes ?? []).map { "`\($0.outcome)` \($0.count) (\(RepeatStatistics.pct($0.share)))" }
            let names = s.examples.map { "`\($0.test_name)`" }.joined(separator: ", ")
            let shown = s.classes > s.examples.count
                ? "first run of each of the first \(s.examples.count) of \(s.classes) status and outcome pairs: \(names)"
                : "first run of each of \(s.classes) status and outcome pair(s): \(names)"
            rows.append(["`\(scenario)`", "all", "\(s.runs) (\(s.runs - s.examples.count) folded)",
                         outcomes.isEmpty ? "-" : outcomes.joined(separator: ", "), range(stats?.runTime), shown])
            for p in s.phases where phases?.contains(p.name) ?? true {
                let states = p.states.map { "`\($0.state)` \($0.count)" }.joined(separator: ", ")
                rows.append(["`\(scenario)`", "`\(p.name)`", "\(p.runs) with evidence", states,
                             range(RepeatStatistics.percentiles(p.durationsNs, unit: "ms", scale: 1e-6)), "-"])
            }
        }
        guard !rows.isEmpty else { return nil }
        return ContractTable(caption: caption + ": repeated runs folded",
                             header: ["Scenario", "Phase", "Runs", "Outcomes or vLBR states (count)", "Time ms (min / p50 / max)", "Example runs (evidence below)"],
                             rows: rows)
    }
}
