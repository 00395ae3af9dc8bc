// Repeat statistics: per scenario, the outcome distribution with 95% Wilson score intervals and
// latency percentiles (run time, recovery latency, takeover bound) over `--repeat N` runs. Percentiles come
// from HdrHistogram (hdrhistogram-swift, 3 significant digits), not hand-rolled.
//
// Computed from compact per-run data only — outcome code, status, durations and recovery latencies (and the
// role/state/duration of each phase) — never from raw observations, so it works on reports whose repeated
// runs' evidence was folded, and on saved `lbrprobe.run/3` documents (compare, --summary).

import Histogram
import LbrDocument
import LbrScenarios

/// Statistics over the repeated runs of each scenario.
public enum RepeatStatistics {
    /// z for a two-sided 95% interval.
    public static let z95 = 1.959963984540054

    /// What one run contributes.
    public struct RunSample: Hashable, Sendable {
        public var scenario: String
        public var outcome: String
        public var status: String
        public var durationNs: UInt64
        /// Recovery latency of a `recovered(...)` term, when measured.
        public var recoveryTscTicks: UInt64?
        public var recoveryExits: UInt64?
        /// Durations of contended phases that ended with the vLBR not active (the host took the LBRs). Empty for a
        /// run whose evidence was folded into another's: only kept runs contribute.
        public var takeoverBoundNs: [UInt64]
        /// Runs this entry stands for (`ScenarioResult.runsCovered`: a block of runs skipped or not started alike);
        /// it counts that many times in the distribution and not at all in the timings.
        public var runs: Int
        public init(scenario: String, outcome: String, status: String, durationNs: UInt64, recoveryTscTicks: UInt64? = nil,
                    recoveryExits: UInt64? = nil, takeoverBoundNs: [UInt64] = [], runs: Int = 1) {
            self.scenario = scenario; self.outcome = outcome; self.status = status; self.durationNs = durationNs
            self.recoveryTscTicks = recoveryTscTicks; self.recoveryExits = recoveryExits; self.takeoverBoundNs = takeoverBoundNs
            self.runs = max(1, runs)
        }
    }

    /// One outcome's share of the runs with its 95% Wilson score interval.
    public struct OutcomeShare: Hashable, Sendable, Codable {
        public var outcome: String
        public var count: Int
        public var share: Double
        public var low: Double
        public var high: Double
    }

    /// Percentiles of one measured quantity (values in `unit`).
    public struct Percentiles: Hashable, Sendable, Codable {
        public var count: Int
        public var unit: String
        public var min: Double
        public var p50: Double
        public var p90: Double
        public var p99: Double
        public var max: Double
        public var mean: Double
    }

    /// Everything measured for one scenario.
    public struct ScenarioStatistics: Hashable, Sendable {
        public var scenario: String
        public var runs: Int
        /// By descending count, then outcome code.
        public var outcomes: [OutcomeShare]
        /// Status → count (pass, fail, skip, error, timeout), only the non-zero ones, in that order.
        public var statuses: [(status: String, count: Int)]
        /// Wall time of each run (ms).
        public var runTime: Percentiles?
        /// Recovery latency of `recovered(...)` terms: guest TSC ticks, VM-exits.
        public var recoveryTscTicks: Percentiles?
        public var recoveryExits: Percentiles?
        /// Upper bound of the host's LBR takeover (ms): duration of the contended phase in which the vLBR was
        /// found not active. lbrprobe observes the takeover once per phase, so this bounds it from above.
        public var takeoverBound: Percentiles?

        public static func == (a: Self, b: Self) -> Bool {
            a.scenario == b.scenario && a.runs == b.runs && a.outcomes == b.outcomes
                && a.statuses.map(\.status) == b.statuses.map(\.status) && a.statuses.map(\.count) == b.statuses.map(\.count)
                && a.runTime == b.runTime && a.recoveryTscTicks == b.recoveryTscTicks
                && a.recoveryExits == b.recoveryExits && a.takeoverBound == b.takeoverBound
        }
        public func hash(into h: inout Hasher) { h.combine(scenario); h.combine(runs); h.combine(outcomes) }

        /// The most frequent outcome (ties: the first in code order).
        public var majority: OutcomeShare? { outcomes.first }
    }

    // MARK: Wilson score interval

    /// 95% Wilson score interval for `successes` of `n` (both bounds in [0, 1]); (0, 1) when n is 0.
    public static func wilson(successes: Int, of n: Int, z: Double = z95) -> (low: Double, high: Double) {
        guard n > 0 else { return (0, 1) }
        let nn = Double(n), p = Double(successes) / nn, z2 = z * z
        let centre = p + z2 / (2 * nn)
        let spread = z * (p * (1 - p) / nn + z2 / (4 * nn * nn)).squareRoot()
        let denom = 1 + z2 / nn
        var low = (centre - spread) / denom, high = (centre + spread) / denom
        if successes == 0 { low = 0 }
        if successes == n { high = 1 }
        return (Swift.max(0, low), Swift.min(1, high))
    }

    // MARK: Samples

    /// The samples of a report (one per result).
    public static func samples(_ report: RunReport) -> [RunSample] { report.results.map(sample) }

    static func sample(_ r: ScenarioResult) -> RunSample {
        var s = RunSample(scenario: r.scenario, outcome: r.outcome.code, status: r.status.rawValue, durationNs: r.durationNs,
                          runs: r.runsCovered)
        for case let .recovered(_, l?) in r.outcome.terms {
            s.recoveryTscTicks = l.guestTscTicks; s.recoveryExits = l.exits
        }
        s.takeoverBoundNs = r.phases.filter { $0.role == .contended && $0.inferred == .notActive }.map(\.durationNs)
        return s
    }

    /// The samples of a saved run document.
    public static func samples(_ doc: JsonReport.RunDocument) -> [RunSample] { doc.results.map(sample) }

    /// What one result of a saved run document contributes.
    static func sample(_ r: JsonReport.ResultDTO) -> RunSample {
        var s = RunSample(scenario: r.scenario, outcome: r.outcome.code, status: r.status.rawValue,
                          durationNs: nanoseconds(ms: r.duration_ms), runs: r.runs ?? 1)
        for t in r.terms { if let l = t.latency { s.recoveryTscTicks = l.guest_tsc_ticks; s.recoveryExits = l.exits } }
        s.takeoverBoundNs = r.phases.filter { $0.role == .contended && $0.inferred == .notActive }
            .map { nanoseconds(ms: $0.duration_ms) }
        return s
    }

    /// A document's milliseconds as ns: 0 for non-finite or negative, saturated at `maxRecordable` (compare reads
    /// documents through a projection, so a crafted duration must not trap here, nor in a histogram).
    static func nanoseconds(ms: Double) -> UInt64 {
        guard ms.isFinite && ms > 0 else { return 0 }
        let ns = (ms * 1e6).rounded()
        return ns < Double(maxRecordable) ? UInt64(ns) : maxRecordable
    }

    /// The largest value a timing histogram records (2^62; larger ones are recorded as this): an auto-resizing
    /// HdrHistogram tracks up to UInt64.max / 2 and traps above it.
    public static let maxRecordable: UInt64 = 1 << 62

    // MARK: Computation

    /// Streams over the (folded) results: one small accumulator per scenario, never one sample object per run
    /// (memory stays flat in `--repeat`: the timings go into histograms as they arrive).
    public static func compute(_ report: RunReport) -> [ScenarioStatistics] {
        var acc = Accumulator()
        for r in report.results { acc.add(sample(r)) }
        return acc.finish()
    }
    /// Streams over the document's results like `compute(_ report:)`: no sample array.
    public static func compute(_ doc: JsonReport.RunDocument) -> [ScenarioStatistics] {
        var acc = Accumulator()
        for r in doc.results { acc.add(sample(r)) }
        return acc.finish()
    }

    /// Per scenario, in first-run order. Skipped runs count in the outcome distribution (as `unsupported`)
    /// but not in the timings.
    public static func compute(_ samples: [RunSample]) -> [ScenarioStatistics] {
        var acc = Accumulator()
        for s in samples { acc.add(s) }
        return acc.finish()
    }

    /// What `compute` keeps per scenario: counts and one histogram per timing (flat in the number of runs).
    struct Accumulator {
        struct One {
            var runs = 0
            var counts: [String: Int] = [:]
            var statusCounts: [String: Int] = [:]
            var durations = Timings()
            var recoveryTsc = Timings()
            var recoveryExits = Timings()
            var takeover = Timings()
        }
        var order: [String] = []
        var by: [String: One] = [:]

        mutating func add(_ s: RunSample) {
            if by[s.scenario] == nil { order.append(s.scenario); by[s.scenario] = One() }
            // An entry standing for a block of runs (skipped or not started alike) counts that many times in the
            // distribution and not at all in the timings.
            by[s.scenario]!.runs += s.runs
            by[s.scenario]!.counts[s.outcome, default: 0] += s.runs
            by[s.scenario]!.statusCounts[s.status, default: 0] += s.runs
            if s.status != ResultStatus.skip.rawValue && s.runs == 1 { by[s.scenario]!.durations.record(s.durationNs) }
            if let v = s.recoveryTscTicks { by[s.scenario]!.recoveryTsc.record(v) }
            if let v = s.recoveryExits { by[s.scenario]!.recoveryExits.record(v) }
            for v in s.takeoverBoundNs { by[s.scenario]!.takeover.record(v) }
        }

        func finish() -> [ScenarioStatistics] {
            order.map { name in
                let a = by[name]!
                let outcomes = a.counts.map { (o, c) -> OutcomeShare in
                    let w = wilson(successes: c, of: a.runs)
                    return OutcomeShare(outcome: o, count: c, share: Double(c) / Double(a.runs), low: w.low, high: w.high)
                }.sorted { $0.count != $1.count ? $0.count > $1.count : $0.outcome < $1.outcome }
                let statuses = ResultStatus.allCases.compactMap { st in a.statusCounts[st.rawValue].map { (st.rawValue, $0) } }
                return ScenarioStatistics(
                    scenario: name, runs: a.runs, outcomes: outcomes, statuses: statuses,
                    runTime: a.durations.percentiles(unit: "ms", scale: 1e-6),
                    recoveryTscTicks: a.recoveryTsc.percentiles(unit: "guest-tsc-ticks", scale: 1),
                    recoveryExits: a.recoveryExits.percentiles(unit: "vm-exits", scale: 1),
                    takeoverBound: a.takeover.percentiles(unit: "ms", scale: 1e-6))
            }
        }
    }

    /// The values of one measured quantity, recorded into an auto-resizing HdrHistogram (3 significant digits)
    /// as they arrive: its size depends on the values' range, never on how many there are.
    struct Timings {
        var histogram: Histogram<UInt64>?
        var count = 0

        mutating func record(_ v: UInt64) {
            if histogram == nil {
                var h = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
                h.autoResize = true
                histogram = h
            }
            _ = histogram!.record(min(v, RepeatStatistics.maxRecordable))
            count += 1
        }

        /// Nil when nothing was recorded.
        func percentiles(unit: String, scale: Double) -> Percentiles? {
            guard let h = histogram, count > 0 else { return nil }
            func at(_ p: Double) -> Double { Double(h.valueAtPercentile(p)) * scale }
            return Percentiles(count: count, unit: unit, min: Double(h.min) * scale, p50: at(50), p90: at(90),
                               p99: at(99), max: Double(h.max) * scale, mean: h.mean * scale)
        }
    }

    /// Percentiles of `values` through an auto-resizing HdrHistogram (3 significant digits); nil when empty.
    public static func percentiles(_ values: [UInt64], unit: String, scale: Double) -> Percentiles? {
        var t = Timings()
        for v in values { t.record(v) }
        return t.percentiles(unit: unit, scale: scale)
    }

    // MARK: Text

    /// The heading line of the text block.
    public static func heading(repeats: Int) -> String {
        "outcome distribution over \(repeats) repeats (95% Wilson score intervals; percentiles from HdrHistogram):"
    }

    /// Text lines: one block per scenario, e.g.
    /// `  host-first: 50 runs (pass 50)` / `    guest-wins-host-starved  50/50  100.0%  95% CI [92.9%, 100.0%]` /
    /// `    run time ms  p50 1.23  p90 …`.
    public static func renderText(_ stats: [ScenarioStatistics]) -> [String] {
        var out: [String] = []
        let w = Swift.max(24, stats.flatMap(\.outcomes).map(\.outcome.count).max() ?? 0)
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
        for s in stats {
            out.append("  \(s.scenario): \(s.runs) run(s) (" + s.statuses.map { "\($0.status) \($0.count)" }.joined(separator: ", ") + ")")
            for o in s.outcomes {
                out.append("    \(pad(o.outcome, w))  \(lpad("\(o.count)/\(s.runs)", 7))  \(lpad(pct(o.share), 6))  95% CI [\(pct(o.low)), \(pct(o.high))]")
            }
            for (label, p) in [("run time", s.runTime), ("recovery latency", s.recoveryTscTicks),
                               ("recovery exits", s.recoveryExits), ("takeover bound", s.takeoverBound)] {
                if let p { out.append("    \(pad(label + " (" + p.unit + ")", w))  " + percentileText(p)) }
            }
        }
        return out
    }

    /// `p50 1.234  p90 …  p99 …  min …  max …  (n=50)`.
    public static func percentileText(_ p: Percentiles) -> String {
        "p50 \(num(p.p50))  p90 \(num(p.p90))  p99 \(num(p.p99))  min \(num(p.min))  max \(num(p.max))  (n=\(p.count))"
    }

    /// A percentage with one decimal, e.g. "92.9%".
    public static func pct(_ v: Double) -> String {
        let t = Int((v * 1000).rounded())
        return "\(t / 10).\(t % 10)%"
    }

    /// A value with at most 3 decimals, integers without.
    public static func num(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        let t = Int64((v * 1000).rounded())
        let frac = String(abs(t) % 1000)
        return "\(t / 1000).\(String(repeating: "0", count: 3 - frac.count))\(frac)"
    }

    // MARK: JSON (`repeat_statistics` of lbrprobe.run/3)

    public typealias ScenarioDTO = RepeatStatisticsDTO

    public static func dto(_ stats: [ScenarioStatistics]) -> [ScenarioDTO] {
        func lat(_ p: Percentiles?) -> ScenarioDTO.Latency? {
            p.map { .init(count: $0.count, unit: $0.unit, min: round3($0.min), p50: round3($0.p50), p90: round3($0.p90),
                          p99: round3($0.p99), max: round3($0.max), mean: round3($0.mean)) }
        }
        return stats.map { s in
            ScenarioDTO(scenario: s.scenario, runs: s.runs,
                        outcomes: s.outcomes.map { .init(outcome: $0.outcome, count: $0.count, share: round4($0.share),
                                                          wilson95_low: round4($0.low), wilson95_high: round4($0.high)) },
                        statuses: s.statuses.map { .init(status: $0.status, count: $0.count) },
                        run_time: lat(s.runTime), recovery_tsc_ticks: lat(s.recoveryTscTicks),
                        recovery_exits: lat(s.recoveryExits), takeover_bound: lat(s.takeoverBound))
        }
    }

    static func round3(_ v: Double) -> Double { (v * 1000).rounded() / 1000 }
    static func round4(_ v: Double) -> Double { (v * 10000).rounded() / 10000 }
}
