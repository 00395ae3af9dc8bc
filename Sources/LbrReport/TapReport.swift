// TAP version 13, kselftest-compatible (reference conventions.md): plan, sequential numbering, ASCII names,
// SKIP/TIMEOUT/ERROR directives, `# ` diagnostics with the evidence, `1..0 # SKIP reason` when nothing can
// run, and the kselftest totals line.

import LbrScenarios

/// Renders a `RunReport` as TAP version 13.
public enum TapReport {
    /// - Parameter evidence: emit the per-phase evidence as `# ` diagnostics before each result line;
    ///   otherwise one `# name: outcome` line per result.
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
        out.append("TAP version 13")
        var head = "# lbrprobe run: backend \(report.backend.rawValue)"
        if let m = report.model { head += " model \(m)" }
        head += " cpu \(report.cpu) kernel \(ReportSupport.oneLine(report.kernelRelease))"
        out.append(head)
        if let why = report.selectionReason { out.append("# selected: \(ReportSupport.oneLine(why))") }
        if let f = report.fallback { out.append("# fallback: \(ReportSupport.oneLine(f))") }

        if !report.availability.isAvailable || report.results.isEmpty {
            let reason = report.availability.isAvailable ? "no scenario selected" : report.availability.text
            out.append("1..0 # SKIP \(ReportSupport.oneLine(reason))")
            out.append("# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:\(report.results.count) error:0")
            return
        }

        out.append("1..\(report.results.count)")
        var used: Set<String> = []
        let dedupe = ReportSupport.namesMayRepeat(report.results)
        let timeoutS = max(1, report.timeoutNs / 1_000_000_000)
        for (i, r) in report.results.enumerated() {
            let n = i + 1
            var name = ReportSupport.testName(r.testName)
            if dedupe, !used.insert(name).inserted { name += ".\(n)"; used.insert(name) }
            if evidence {
                for l in ReportSupport.evidenceLines(r) { out.append("# " + ReportSupport.oneLine(l)) }
            } else {
                out.append("# \(name): \(ReportSupport.oneLine(r.outcome.detail))")
            }
            let reason = ReportSupport.oneLine(r.reason ?? r.outcome.detail)
            switch r.status {
            case .pass: out.append("ok \(n) \(name)")
            case .skip: out.append("ok \(n) \(name) # SKIP \(reason)")
            case .fail:
                let why = r.expectation.expected.map { "expected \($0), got \(r.outcome.code)" } ?? reason
                out.append("# FAIL: \(ReportSupport.oneLine(why))")
                out.append("not ok \(n) \(name)")
            case .error: out.append("not ok \(n) \(name) # ERROR \(reason)")
            case .timeout: out.append("not ok \(n) \(name) # TIMEOUT \(timeoutS) seconds")
            }
        }
        if report.repeats > 1 {
            for d in report.distributions {
                out.append("# distribution \(d.scenario): " + d.counts.map { "\($0.outcome)=\($0.count)" }.joined(separator: " "))
            }
        }
        let t = report.totals
        // kselftest has no timeout bucket: its runner reports a timeout as a failing test.
        out.append("# Totals: pass:\(t.pass) fail:\(t.fail + t.timeout) xfail:0 xpass:0 skip:\(t.skip) error:\(t.error)")
    }
}
