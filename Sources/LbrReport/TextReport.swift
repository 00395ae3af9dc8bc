// Human-readable run report: a summary table, then the evidence per scenario and phase.

import Foundation
import LbrCore
import LbrScenarios

/// Renders a `RunReport` as a readable table with the evidence per phase.
public enum TextReport {
    /// - Parameters:
    ///   - evidence: include per-phase signals and evidence lines (`--evidence`).
    ///   - summary: one row per scenario (runs, statuses, outcome distribution) and its plain answer only
    ///     (`--summary`, for long `--repeat` runs); evidence is never printed in this form.
    public static func render(_ report: RunReport, evidence: Bool = false, summary: Bool = false) -> String {
        var text = ""
        render(report, evidence: evidence, summary: summary) { text += $0 }
        return text
    }

    /// Streams the same text to `sink`, line by line.
    public static func render(_ report: RunReport, evidence: Bool = false, summary: Bool = false, to sink: (String) -> Void) {
        withoutActuallyEscaping(sink) { render(report, evidence: evidence, summary: summary, out: LineSink($0)) }
    }

    static func render(_ report: RunReport, evidence: Bool, summary: Bool, out: LineSink) {
        var head = "lbrprobe run: backend \(report.backend.rawValue)"
        if let m = report.model { head += " (model \(m))" }
        head += ", cpu \(report.cpu), kernel \(report.kernelRelease), \(report.runsReported) run(s)"
        if report.repeats > 1 { head += " (\(report.distributions.count) scenario(s) x \(report.repeats) repeats)" }
        out.append(head)
        out += headerLines(report)
        out.append("")
        if summary && report.repeats == 1 {
            out += oneLineTable(report)
        } else if summary {
            out += summaryTable(report)
        } else {
            runTable(report, out)
        }
        if evidence && !summary {
            for r in report.results {
                out.append("")
                let detail = r.notRun == .backendUnavailable ? r.outcome.code : r.outcome.detail
                out.append("== \(r.testName): \(detail)  [\(ReportSupport.statusWord(r.status)), \(ReportSupport.ms(r.durationNs)) ms]")
                out.append("   \(PlainAnswer.statusMeaning(r))")
                out.append("   answer: \(PlainAnswer.sentence(for: r))")
                if let s = Catalog.named(r.scenario) { out.append("   Q: \(s.question)") }
                if let reason = r.reason { out.append("   reason: \(shortReason(reason, r))") }
                if let ex = r.evidenceFoldedInto { out.append("   evidence: not kept for this run (same status and outcome as \(ex), shown above)") }
                if let e = r.expectation.expected { out.append("   expected: \(e) -> \(r.expectation.code)") }
                for f in r.findings { out.append("   FINDING \(f.line)") }
                if let sh = r.shadow { out.append("   " + BasisText.shadowSummary(sh, backend: r.backend)) }
                for n in r.sessionNotes { out.append("   note: \(n)") }
                for p in r.phases {
                    out.append("   phase \(p.phase) (\(p.role.rawValue), \(ReportSupport.ms(p.durationNs)) ms): vLBR \(p.inferred.rawValue)")
                    out.append("     agree: \(ReportSupport.list(p.agreeing.map(\.rawValue)));  disagree: \(ReportSupport.list(p.disagreeing.map(\.rawValue)))"
                               + (p.hostStarved.map { ";  host starved: \($0 ? "yes" : "no")" } ?? ""))
                    let gt = ReportSupport.groundTruthText(p)
                    if !gt.isEmpty { out.append("     " + gt.dropFirst(2)) }
                    if let b = BasisText.phaseLine(p) { out.append("     " + b) }
                    if let sh = p.shadow { out.append("     " + BasisText.shadowPhase(sh, backend: r.backend)) }
                    for s in p.signals { out.append("     " + BasisText.signalLine(s)) }
                    for e in p.evidence { out.append("       \(e)") }
                }
            }
        }

        if report.repeats > 1 && !summary {
            out.append("")
            out.append(RepeatStatistics.heading(repeats: report.repeats))
            out += RepeatStatistics.renderText(RepeatStatistics.compute(report))
        }
        let t = report.totals
        out.append("")
        out.append("totals: pass \(t.pass), fail \(t.fail), skip \(t.skip), error \(t.error), timeout \(t.timeout)"
                   + " in \(ReportSupport.ms(report.durationNs)) ms; exit code \(report.exitCode.rawValue)")
    }
    /// Backend, selection and expectation lines; every unavailable backend's blockers once, one per line.
    static func headerLines(_ report: RunReport) -> [String] {
        var out: [String] = []
        if report.availability.isAvailable {
            out.append("backend: \(report.backend.rawValue) available: \(report.availability.text)")
        } else {
            let b = report.availability.blockers
            out.append("backend: \(report.backend.rawValue) UNAVAILABLE (\(b.count) blocker\(b.count == 1 ? "" : "s"); every scenario is skipped):")
            out += ReportSupport.blockerLines(b)
        }
        if let s = report.selection {
            // Why, not what again: the chosen backend's own detail is on the `backend:` line above.
            out.append("selected because: --backend auto takes the first eligible of hw, hybrid, sim"
                       + (s.passedOver.isEmpty ? "" : "; passed over:"))
            for p in s.passedOver {
                out.append("\(p.backend.rawValue) unavailable (\(p.reasons.count) blocker\(p.reasons.count == 1 ? "" : "s")):")
                out += ReportSupport.blockerLines(p.reasons)
            }
            if s.chosen != .hw {
                // The fallback's reason is the blockers listed just above: name the fallback only.
                out.append("FALLBACK: --backend auto fell back to \(s.chosen.rawValue) (why: the blockers above)")
            }
        }
        if let basis = basisLine(report) { out.append(basis) }
        if let f = report.expectFile {
            out.append("expectations: \(f) (PASS = a verdict was reached and matched its entry; FAIL = it did not)")
        } else {
            out.append("expectations: none given (PASS = a verdict was reached; it was not compared with an expected outcome)")
        }
        return out
    }

    /// For a model backend: that no verdict below is a hardware measurement, and what is real on this host.
    static func basisLine(_ report: RunReport) -> String? {
        guard report.backend.usesModel else { return nil }
        let m = report.model ?? "unnamed"
        switch report.backend {
        case .hybrid:
            return "basis: every verdict below is the prediction of model \(m): the KVM guest, its exits and the vCPU's "
                + "context switches are real on this host; host perf, the vLBR and kmsg are played by the model"
        default:
            return "basis: every verdict below is the prediction of model \(m); nothing was run on this host's kernel"
        }
    }

    static func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }

    /// The expectation column: whether anything was checked.
    static func expectationText(_ e: ExpectationCheck) -> String {
        switch e {
        case .none: return "not checked (no --expect)"
        case .notListed: return "not listed (not checked)"
        case let .met(x, _): return "met (\(x))"
        case let .unmet(x, _): return "unmet (\(x))"
        case let .notChecked(x, _): return "not checked (\(x))"
        }
    }

    /// One row per run, the plain answer under the first run of each (scenario, outcome).
    /// Streamed row by row: nothing grows with the number of runs (the widths are one pass over the results).
    static func runTable(_ report: RunReport, _ out: LineSink) {
        var nameW = 8, outW = 7
        for r in report.results { nameW = max(nameW, r.testName.count); outW = max(outW, min(60, r.outcome.code.count)) }
        out.append("\(pad("SCENARIO", nameW))  \(pad("STATUS", 7))  \(pad("OUTCOME", outW))  EXPECTATION")
        var answered = Set<ScenarioOutcomeKey>()
        var unavailableSaid = false
        for r in report.results {
            out.append("\(pad(r.testName, nameW))  \(pad(ReportSupport.statusWord(r.status), 7))  \(pad(r.outcome.code, outW))  \(expectationText(r.expectation))")
            if r.notRun == .backendUnavailable {
                // The same for every run: said once, under the first.
                if !unavailableSaid {
                    unavailableSaid = true
                    out.append("\(pad("", nameW))  -> \(PlainAnswer.backendUnavailableClause(r.backend)); so is every run below.")
                }
            } else if answered.insert(ScenarioOutcomeKey(r)).inserted {
                out.append("\(pad("", nameW))  -> \(PlainAnswer.sentence(for: r))")
            }
            for f in r.findings { out.append("\(pad("", nameW))  FINDING \(f.line)") }
        }
    }

    /// `--summary` of a run without repeats: one line per result (status, outcome, the kinds of its findings),
    /// nothing under it.
    static func oneLineTable(_ report: RunReport) -> [String] {
        let nameW = max(8, report.results.map(\.testName.count).max() ?? 0)
        let outW = max(7, min(60, report.results.map(\.outcome.code.count).max() ?? 0))
        var out = ["\(pad("SCENARIO", nameW))  \(pad("STATUS", 7))  \(pad("OUTCOME", outW))  FINDINGS"]
        for r in report.results {
            let kinds = r.findings.map(\.kind.rawValue)
            out.append("\(pad(r.testName, nameW))  \(pad(ReportSupport.statusWord(r.status), 7))  \(pad(r.outcome.code, outW))  "
                       + (kinds.isEmpty ? "-" : kinds.joined(separator: ", ")))
        }
        out.append("(--summary: the plain answers, findings and evidence are in the default text)")
        return out
    }

    /// One row per scenario: runs, status counts, run time p50, outcome distribution (with 95% Wilson intervals
    /// when repeated, `RepeatStatistics`); the plain answer of its most frequent outcome under it, and findings.
    static func summaryTable(_ report: RunReport) -> [String] {
        var out: [String] = []
        let dists = report.distributions
        let stats = Dictionary(RepeatStatistics.compute(report).map { ($0.scenario, $0) }, uniquingKeysWith: { a, _ in a })
        let nameW = max(8, dists.map(\.scenario.count).max() ?? 0)
        func pct(_ v: Double) -> String { String(Int((v * 100).rounded())) }
        out.append("\(pad("SCENARIO", nameW))  RUNS  PASS  FAIL  SKIP  ERR  TMO  P50 MS    OUTCOMES (count\(report.repeats > 1 ? ", 95% CI" : ""))")
        let per = ScenarioDigest.of(report)
        for d in dists {
            let digest = per[d.scenario] ?? ScenarioDigest()
            func count(_ s: ResultStatus) -> Int { digest.statusRuns[s, default: 0] }
            func n(_ s: ResultStatus) -> String { pad(String(count(s)), 4) }
            let st = stats[d.scenario]
            let outcomes: String
            if report.repeats > 1, let st, !st.outcomes.isEmpty {
                outcomes = st.outcomes.map { "\($0.outcome) x\($0.count) [\(pct($0.low))-\(pct($0.high))%]" }.joined(separator: ", ")
            } else {
                outcomes = d.counts.map { "\($0.outcome) x\($0.count)" }.joined(separator: ", ")
            }
            let p50 = st?.runTime.map { String(Int($0.p50.rounded())) } ?? "-"
            out.append("\(pad(d.scenario, nameW))  \(pad(String(d.runs), 4))  \(n(.pass))  \(n(.fail))  \(n(.skip))  \(pad(String(count(.error)), 3))  \(pad(String(count(.timeout)), 3))  \(pad(p50, 8))  \(outcomes)")
            if let top = d.counts.first, let r = digest.firstByOutcome[top.outcome] {
                out.append("\(pad("", nameW))  -> \(PlainAnswer.sentence(for: r))")
            }
            for line in digest.findingLines { out.append("\(pad("", nameW))  FINDING \(line)") }
        }
        if report.repeats > 1 {
            out.append("(--summary: the full distributions, with run-time and recovery percentiles, are in the default text and in JSON)")
        }
        return out
    }

    /// What the summary row of one scenario needs from its results, gathered in one pass (nothing per run).
    struct ScenarioDigest {
        /// Runs per status (`runsCovered` summed).
        var statusRuns: [ResultStatus: Int] = [:]
        /// The first result of each outcome code.
        var firstByOutcome: [String: ScenarioResult] = [:]
        /// The distinct finding lines, in the order they first appear.
        var findingLines: [String] = []
        var seenLines: Set<String> = []

        static func of(_ report: RunReport) -> [String: ScenarioDigest] {
            var per: [String: ScenarioDigest] = [:]
            for r in report.results {
                per[r.scenario, default: ScenarioDigest()].add(r)
            }
            return per
        }

        mutating func add(_ r: ScenarioResult) {
            statusRuns[r.status, default: 0] += r.runsCovered
            if firstByOutcome[r.outcome.code] == nil { firstByOutcome[r.outcome.code] = r }
            for f in r.findings where seenLines.insert(f.line).inserted { findingLines.append(f.line) }
        }
    }

    /// A skip reason without the backend's blockers again (they are printed once at the top).
    static func shortReason(_ reason: String, _ r: ScenarioResult) -> String {
        if r.notRun == .backendUnavailable { return "backend \(r.backend.rawValue) unavailable (blockers listed at the top)" }
        return reason
    }
}
