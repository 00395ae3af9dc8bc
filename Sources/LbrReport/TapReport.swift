// TAP version 13, kselftest-compatible (reference conventions.md): version line (omitted when KSFT_TAP_LEVEL is
// set, as kselftest.h's ksft_print_header does for nested runs), the plan right after it (tap.py accepts a plan
// only on the first line, the line after the version, or the last line), `# ` diagnostics, sequential
// numbering, ASCII names, SKIP/TIMEOUT/ERROR directives, and the kselftest totals line. When nothing can run,
// `1..0 # SKIP reason` and no totals (kselftest's ksft_exit_skip prints none when no test ran). Every line is
// printable ASCII and at most `ReportSupport.maxLineBytes` long.

import LbrCore
import LbrScenarios

/// Renders a `RunReport` as TAP version 13.
public enum TapReport {
    /// - Parameters:
    ///   - evidence: emit the per-phase evidence as `# ` diagnostics before each result line; otherwise one
    ///     `# name: outcome` line per result.
    ///   - versionLine: print `TAP version 13` first; false when the output is nested in a kselftest runner's
    ///     stream (the CLI passes false when the `KSFT_TAP_LEVEL` environment variable is set).
    public static func render(_ report: RunReport, evidence: Bool = true, versionLine: Bool = true) -> String {
        var text = ""
        render(report, evidence: evidence, versionLine: versionLine) { text += $0 }
        return text
    }

    /// Streams the same text to `sink`, line by line (no whole-report string for long runs).
    public static func render(_ report: RunReport, evidence: Bool = true, versionLine: Bool = true,
                              to sink: (String) -> Void) {
        withoutActuallyEscaping(sink) { render(report, evidence: evidence, versionLine: versionLine, out: LineSink($0)) }
    }

    static func render(_ report: RunReport, evidence: Bool, versionLine: Bool, out: LineSink) {
        if versionLine { out.append("TAP version 13") }
        let max = ReportSupport.maxLineBytes
        var head = "lbrprobe run: backend \(report.backend.rawValue)"
        if let m = report.model { head += " model \(m)" }
        head += " cpu \(report.cpu) kernel \(report.kernelRelease)"
        var header = ReportSupport.diagnostics(head)
        if let why = report.selectionReason { header += ReportSupport.diagnostics("selected: " + why) }
        if let f = report.fallback { header += ReportSupport.diagnostics("fallback: " + f) }

        if !report.availability.isAvailable || report.results.isEmpty {
            let reason = ReportSupport.oneLine(report.availability.isAvailable ? "no scenario selected" : report.availability.text)
            let plan = "1..0 # SKIP "
            out.append(plan + ReportSupport.truncated(reason, max: max - plan.utf8.count))
            out += header
            if plan.utf8.count + reason.utf8.count > max { out += ReportSupport.diagnostics("skip reason: " + reason) }
            return
        }

        out.append("1..\(report.results.count)")
        out += header
        var used: Set<String> = []
        let dedupe = ReportSupport.namesMayRepeat(report.results)
        let timeout = ReportSupport.secondsText(report.timeoutNs)
        for (i, r) in report.results.enumerated() {
            let n = i + 1
            var name = ReportSupport.testName(r.testName)
            if dedupe, !used.insert(name).inserted { name += ".\(n)"; used.insert(name) }
            if evidence {
                for l in ReportSupport.evidenceLines(r) { out += ReportSupport.diagnostics(l) }
            } else {
                out += ReportSupport.diagnostics("\(name): \(r.outcome.detail)")
                for f in r.findings { out += ReportSupport.diagnostics("finding: " + f.line) }
            }
            let reason = ReportSupport.oneLine(r.reason ?? r.outcome.detail)
            /// `line # DIRECTIVE reason`, the reason shortened to fit (the evidence above carries it whole).
            func directive(_ line: String, _ word: String, _ text: String) -> String {
                let start = "\(line) # \(word) "
                if !evidence && start.utf8.count + text.utf8.count > max { out += ReportSupport.diagnostics("reason: " + text) }
                return start + ReportSupport.truncated(text, max: max - start.utf8.count)
            }
            switch r.status {
            case .pass: out.append("ok \(n) \(name)")
            case .skip: out.append(directive("ok \(n) \(name)", "SKIP", reason))
            case .fail:
                let why = r.expectation.expected.map { "expected \($0), got \(r.outcome.code)" } ?? reason
                out += ReportSupport.diagnostics("FAIL: " + why)
                out.append("not ok \(n) \(name)")
            case .error: out.append(directive("not ok \(n) \(name)", "ERROR", reason))
            // kselftest's runner spells the limit it applied: `# TIMEOUT 45 seconds`.
            case .timeout: out.append("not ok \(n) \(name) # TIMEOUT \(timeout) seconds")
            }
        }
        if report.repeats > 1 {
            for d in report.distributions {
                out += ReportSupport.diagnostics("distribution \(d.scenario): " + d.counts.map { "\($0.outcome)=\($0.count)" }.joined(separator: " "))
            }
        }
        let t = report.totals
        // kselftest has no timeout bucket: its runner reports a timeout as a failing test.
        out.append("# Totals: pass:\(t.pass) fail:\(t.fail + t.timeout) xfail:0 xpass:0 skip:\(t.skip) error:\(t.error)")
    }
}
