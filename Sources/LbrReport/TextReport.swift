// Human-readable run report: a summary table, then the evidence per scenario and phase.

import LbrScenarios

/// Renders a `RunReport` as a readable table with the evidence per phase.
public enum TextReport {
    /// - Parameter evidence: include per-phase signals and evidence lines (default true).
    public static func render(_ report: RunReport, evidence: Bool = true) -> String {
        var text = ""
        render(report, evidence: evidence) { text += $0 }
        return text
    }

    /// Streams the same text to `sink`, line by line.
    public static func render(_ report: RunReport, evidence: Bool = true, to sink: (String) -> Void) {
        withoutActuallyEscaping(sink) { render(report, evidence: evidence, out: LineSink($0)) }
    }

    static func render(_ report: RunReport, evidence: Bool, out: LineSink) {
        var head = "lbrprobe run: backend \(report.backend.rawValue)"
        if let m = report.model { head += " (model \(m))" }
        head += ", cpu \(report.cpu), kernel \(report.kernelRelease), \(report.results.count) run(s)"
        out.append(head)
        out.append("backend: \(report.availability.isAvailable ? "available" : "UNAVAILABLE"): \(report.availability.text)")
        if let why = report.selectionReason { out.append("selected because: \(why)") }
        if let f = report.fallback { out.append("FALLBACK: \(f)") }
        if let f = report.expectFile { out.append("expectations: \(f)") }
        out.append("")

        let nameW = max(8, report.results.map(\.testName.count).max() ?? 0)
        let outW = max(7, min(60, report.results.map(\.outcome.code.count).max() ?? 0))
        func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
        out.append("\(pad("SCENARIO", nameW))  \(pad("STATUS", 7))  \(pad("OUTCOME", outW))  EXPECTATION")
        for r in report.results {
            var exp = r.expectation.code
            if let e = r.expectation.expected, r.expectation != .none { exp += " (\(e))" }
            out.append("\(pad(r.testName, nameW))  \(pad(ReportSupport.statusWord(r.status), 7))  \(pad(r.outcome.code, outW))  \(exp)")
        }

        if evidence {
            for r in report.results {
                out.append("")
                out.append("== \(r.testName): \(r.outcome.detail)  [\(ReportSupport.statusWord(r.status)), \(ReportSupport.ms(r.durationNs)) ms]")
                if let s = Catalog.named(r.scenario) { out.append("   Q: \(s.question)") }
                if let reason = r.reason { out.append("   reason: \(reason)") }
                if let ex = r.evidenceFoldedInto { out.append("   evidence: not kept for this run (same status and outcome as \(ex), shown above)") }
                if let e = r.expectation.expected { out.append("   expected: \(e) -> \(r.expectation.code)") }
                for f in r.findings { out.append("   FINDING \(f.line)") }
                if let sh = r.shadow { out.append("   " + ReportSupport.shadowText(sh)) }
                for n in r.sessionNotes { out.append("   note: \(n)") }
                for p in r.phases {
                    out.append("   phase \(p.phase) (\(p.role.rawValue), \(ReportSupport.ms(p.durationNs)) ms): vLBR \(p.inferred.rawValue)")
                    out.append("     agree: \(ReportSupport.list(p.agreeing.map(\.rawValue)));  disagree: \(ReportSupport.list(p.disagreeing.map(\.rawValue)))"
                               + (p.hostStarved.map { ";  host starved: \($0 ? "yes" : "no")" } ?? ""))
                    let gt = ReportSupport.groundTruthText(p)
                    if !gt.isEmpty { out.append("     " + gt.dropFirst(2)) }
                    if let sh = p.shadow { out.append("     " + sh.line) }
                    for s in p.signals { out.append("     [\(s.kind.rawValue) => \(s.vote.rawValue)] \(s.evidence)") }
                    for e in p.evidence { out.append("       \(e)") }
                }
            }
        }

        if report.repeats > 1 {
            out.append("")
            out.append(RepeatStatistics.heading(repeats: report.repeats))
            out += RepeatStatistics.renderText(RepeatStatistics.compute(report))
        }
        let t = report.totals
        out.append("")
        out.append("totals: pass \(t.pass), fail \(t.fail), skip \(t.skip), error \(t.error), timeout \(t.timeout)"
                   + " in \(ReportSupport.ms(report.durationNs)) ms; exit code \(report.exitCode.rawValue)")
    }
}
