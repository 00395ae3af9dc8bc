// JUnit XML (GitLab / Jenkins): one testsuite per run, one testcase per scenario run, with
// <failure>, <error> and <skipped>; names unique (GitLab drops duplicates), text XML-escaped.
// Accepted by junitparser and by the rules of Jenkins xunit's junit-10.xsd: <testsuites> carries only name,
// time, tests, failures and errors (no `skipped`); the skip count is on <testsuite>. All text is printable
// ASCII and no line is longer than `ReportSupport.maxLineBytes` (attribute values are shortened with `...`,
// element text is wrapped).

import LbrCore
import LbrScenarios

/// Renders a `RunReport` as JUnit XML.
public enum JUnitReport {
    public static func render(_ report: RunReport) -> String {
        var text = ""
        render(report) { text += $0 }
        return text
    }

    /// Streams the same text to `sink`, line by line (`--repeat` reports are never held whole).
    public static func render(_ report: RunReport, to sink: (String) -> Void) {
        withoutActuallyEscaping(sink) { render(report, x: LineSink($0)) }
    }

    static func render(_ report: RunReport, x: LineSink) {
        let suite = "lbrprobe." + report.backend.rawValue + (report.model.map { "." + ReportSupport.testName($0) } ?? "")
        let t = report.totals
        let max = ReportSupport.maxLineBytes
        x.append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        let time = String(format3: ReportSupport.seconds(report.durationNs))
        x.append("<testsuites name=\"lbrprobe\" tests=\"\(report.results.count)\" failures=\"\(t.fail)\" errors=\"\(t.error + t.timeout)\" time=\"\(time)\">")
        var attrs = "name=\"\(esc(suite))\" tests=\"\(report.results.count)\" failures=\"\(t.fail)\" errors=\"\(t.error + t.timeout)\" skipped=\"\(t.skip)\" time=\"\(time)\""
        if let s = report.startUnixNs { attrs += " timestamp=\"\(ReportSupport.rfc3339(unixNs: s))\"" }
        x.append("  <testsuite \(attrs)>")
        x.append("    <properties>")
        var props: [(String, String)] = [("backend", report.backend.rawValue), ("cpu", String(report.cpu)),
                                         ("kernel_release", report.kernelRelease),
                                         ("availability", report.availability.text)]
        if let m = report.model { props.append(("model", m)) }
        if let f = report.expectFile { props.append(("expect_file", f)) }
        if let f = report.fallback { props.append(("fallback", f)) }
        if !report.runId.isEmpty { props.append(("run_id", report.runId)) }
        for (k, v) in props {
            let start = "      <property name=\"\(esc(k))\" value=\"", end = "\"/>"
            x.append(start + attr(v, max: max - start.utf8.count - end.utf8.count) + end)
        }
        x.append("    </properties>")
        var used: Set<String> = []
        let dedupe = ReportSupport.namesMayRepeat(report.results)
        for (i, r) in report.results.enumerated() {
            var name = ReportSupport.testName(r.testName)
            if dedupe, !used.insert(name).inserted { name += ".\(i + 1)"; used.insert(name) }
            let ct = String(format3: ReportSupport.seconds(r.durationNs))
            x.append("    <testcase classname=\"\(esc(suite))\" name=\"\(esc(name))\" time=\"\(ct)\">")
            let body = ReportSupport.evidenceLines(r).flatMap { textLines($0, max: max) }.joined(separator: "\n")
            let reason = r.reason ?? r.outcome.detail
            /// `<tag type=... message=...>` with the message shortened to fit the line.
            func open(_ tag: String, _ type: String?, _ message: String, close: String = ">") -> String {
                let start = "      <\(tag)" + (type.map { " type=\"\($0)\"" } ?? "") + " message=\""
                return start + attr(message, max: max - start.utf8.count - 1 - close.utf8.count) + "\"" + close
            }
            switch r.status {
            case .pass: break
            case .fail:
                let msg = r.expectation.expected.map { "expected \($0), got \(r.outcome.code)" } ?? reason
                x.append(open("failure", "unmet-expectation", msg)); x.append(body); x.append("      </failure>")
            case .error: x.append(open("error", "error", reason)); x.append(body); x.append("      </error>")
            case .timeout: x.append(open("error", "timeout", reason)); x.append(body); x.append("      </error>")
            case .skip: x.append(open("skipped", nil, reason, close: "/>"))
            }
            x.append("      <system-out>"); x.append(body); x.append("      </system-out>")
            x.append("    </testcase>")
        }
        x.append("  </testsuite>")
        x.append("</testsuites>")
    }

    /// An attribute value: ASCII, escaped, at most `max` bytes (shortened with `...` before escaping grows it).
    static func attr(_ s: String, max: Int) -> String {
        var w = max
        while true {
            let e = esc(ReportSupport.truncated(ReportSupport.ascii(s), max: w))
            if e.utf8.count <= max || w <= 8 { return e }
            w -= Swift.max(1, (e.utf8.count - max + 1) / 2)
        }
    }

    /// One text line as escaped element-text lines of at most `max` bytes each.
    static func textLines(_ s: String, max: Int) -> [String] {
        let a = ReportSupport.ascii(s)
        var w = max
        while true {
            let lines = ReportSupport.wrapped(a, width: w).map(esc)
            if lines.allSatisfy({ $0.utf8.count <= max }) || w <= 40 { return lines }
            w -= w / 4
        }
    }

    /// XML-escapes text and attribute values (line breaks kept), ASCII output: `xmlEscape`.
    public static func esc(_ s: String) -> String { xmlEscape(s, keepLineBreaks: true) }
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
