// JUnit XML (GitLab / Jenkins): one testsuite per run, one testcase per scenario run, with
// <failure>, <error> and <skipped>; names unique (GitLab drops duplicates), text XML-escaped.

import LbrScenarios

/// Renders a `RunReport` as JUnit XML.
public enum JUnitReport {
    public static func render(_ report: RunReport) -> String {
        var text = ""
        render(report) { text += $0 }
        return text
    }

    /// Streams the same text to `sink`, line by line (issue 11: `--repeat` reports are never held whole).
    public static func render(_ report: RunReport, to sink: (String) -> Void) {
        withoutActuallyEscaping(sink) { render(report, x: LineSink($0)) }
    }

    static func render(_ report: RunReport, x: LineSink) {
        let suite = "lbrprobe." + report.backend.rawValue + (report.model.map { "." + ReportSupport.testName($0) } ?? "")
        let t = report.totals
        x.append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        let time = String(format3: ReportSupport.seconds(report.durationNs))
        x.append("<testsuites name=\"lbrprobe\" tests=\"\(report.results.count)\" failures=\"\(t.fail)\" errors=\"\(t.error + t.timeout)\" skipped=\"\(t.skip)\" time=\"\(time)\">")
        var attrs = "name=\"\(esc(suite))\" tests=\"\(report.results.count)\" failures=\"\(t.fail)\" errors=\"\(t.error + t.timeout)\" skipped=\"\(t.skip)\" time=\"\(time)\""
        if let s = report.startUnixNs { attrs += " timestamp=\"\(ReportSupport.rfc3339(unixNs: s))\"" }
        x.append("  <testsuite \(attrs)>")
        x.append("    <properties>")
        var props: [(String, String)] = [("backend", report.backend.rawValue), ("cpu", String(report.cpu)),
                                         ("kernel_release", report.kernelRelease),
                                         ("availability", report.availability.text)]
        if let m = report.model { props.append(("model", m)) }
        if let f = report.expectFile { props.append(("expect_file", f)) }
        if let f = report.fallback { props.append(("fallback", f)) } // issue 11
        for (k, v) in props { x.append("      <property name=\"\(esc(k))\" value=\"\(esc(v))\"/>") }
        x.append("    </properties>")
        var used: Set<String> = []
        let dedupe = ReportSupport.namesMayRepeat(report.results)
        for (i, r) in report.results.enumerated() {
            var name = ReportSupport.testName(r.testName)
            if dedupe, !used.insert(name).inserted { name += ".\(i + 1)"; used.insert(name) }
            let ct = String(format3: ReportSupport.seconds(r.durationNs))
            x.append("    <testcase classname=\"\(esc(suite))\" name=\"\(esc(name))\" time=\"\(ct)\">")
            let body = esc(ReportSupport.evidenceLines(r).joined(separator: "\n"))
            let reason = r.reason ?? r.outcome.detail
            switch r.status {
            case .pass: break
            case .fail:
                let msg = r.expectation.expected.map { "expected \($0), got \(r.outcome.code)" } ?? reason
                x.append("      <failure type=\"unmet-expectation\" message=\"\(esc(msg))\">\(body)</failure>")
            case .error: x.append("      <error type=\"error\" message=\"\(esc(reason))\">\(body)</error>")
            case .timeout: x.append("      <error type=\"timeout\" message=\"\(esc(reason))\">\(body)</error>")
            case .skip: x.append("      <skipped message=\"\(esc(reason))\"/>")
            }
            x.append("      <system-out>\(body)</system-out>")
            x.append("    </testcase>")
        }
        x.append("  </testsuite>")
        x.append("</testsuites>")
    }

    /// XML-escapes text and attribute values; drops characters XML 1.0 forbids (C0 controls except TAB/LF/CR).
    public static func esc(_ s: String) -> String {
        var o = ""
        o.reserveCapacity(s.utf8.count)
        for u in s.unicodeScalars {
            switch u {
            case "&": o += "&amp;"
            case "<": o += "&lt;"
            case ">": o += "&gt;"
            case "\"": o += "&quot;"
            case "'": o += "&apos;"
            case "\t", "\n", "\r": o.unicodeScalars.append(u)
            default:
                if u.value < 0x20 || u.value == 0xFFFE || u.value == 0xFFFF { o += "?" } else { o.unicodeScalars.append(u) }
            }
        }
        return o
    }
}

extension String {
    /// Fixed 3-decimal formatting without Foundation's locale-dependent formatters.
    init(format3 v: Double) { self = fixed3(v) }
}

func fixed3(_ v: Double) -> String {
    let ms = Int((max(0, v) * 1000).rounded())
    let frac = String(ms % 1000)
    return "\(ms / 1000)." + String(repeating: "0", count: 3 - frac.count) + frac
}
