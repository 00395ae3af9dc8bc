// `lbrprobe run --write-expect FILE`: an expectation file (Expectations.swift format) from a run, so
// that a known-good run becomes the gate of the next ones: the same run with `--expect FILE` passes, and a
// kernel or model that behaves differently fails.
//
// Per scenario the observed outcome code (with --repeat: the majority outcome, ties broken by code order,
// and a comment with the whole distribution). Entries are plain `scenario outcome` (no `@model`), so the
// file gates any model or kernel it is applied to. Runs that were skipped, errored or timed out give no
// entry (their outcome says nothing about the kernel); they are listed as comments instead.

import LbrCore
import LbrScenarios

public enum ExpectWriter {
    /// The expectation file text for `report`.
    public static func render(_ report: RunReport) -> String {
        var out: [String] = []
        out.append("# lbrprobe expectations written by `lbrprobe run --write-expect` from run \(report.runId)")
        var from = "backend \(report.backend.rawValue)"
        if let m = report.model { from += ", model \(m)" }
        from += ", kernel \(report.kernelRelease)"
        if let h = report.host { from += ", host \(h.hostname) (\(h.cpuLabel))" }
        if let t = report.startUnixNs { from += ", started \(ReportSupport.rfc3339(unixNs: t))" }
        out.append("# " + ReportSupport.oneLine(from))
        out.append("# \(report.repeats) repeat(s) per scenario; with repeats, each entry is the majority outcome.")
        out.append("# Format: scenario[@model] outcome[|outcome...] (docs/run-format.md); '#' starts a comment.")
        out.append("")
        let stats = RepeatStatistics.compute(report)
        let nameW = max(20, stats.map(\.scenario.count).max() ?? 0)
        // One pass over the results (nothing per run is kept): per scenario the judged runs per outcome and the
        // reason of its first result.
        var judgedCounts: [String: [String: Int]] = [:]
        var firstReason: [String: String?] = [:]
        for r in report.results {
            if firstReason[r.scenario] == nil { firstReason[r.scenario] = .some(r.reason) }
            if r.status == .pass || r.status == .fail { judgedCounts[r.scenario, default: [:]][r.outcome.code, default: 0] += r.runsCovered }
        }
        for s in stats {
            let counts = judgedCounts[s.scenario] ?? [:]
            let ranked = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            let pad = String(repeating: " ", count: max(1, nameW + 1 - s.scenario.count))
            guard let top = ranked.first else {
                let why = firstReason[s.scenario].flatMap { $0 } ?? "no judged run"
                let st = s.statuses.map { "\($0.status) \($0.count)" }.joined(separator: ", ")
                out.append("# " + ReportSupport.oneLine("\(s.scenario): no entry: \(st): \(why)"))
                continue
            }
            if s.runs > 1 {
                let dist = s.outcomes.map { "\($0.outcome) \($0.count)/\(s.runs) [95% CI \(RepeatStatistics.pct($0.low))-\(RepeatStatistics.pct($0.high))]" }
                out.append("# " + ReportSupport.oneLine("\(s.scenario): " + dist.joined(separator: ", ")))
            }
            out.append("\(s.scenario)\(pad)\(top.key)")
        }
        return out.joined(separator: "\n") + "\n"
    }
}
