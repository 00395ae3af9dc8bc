// Helpers shared by the run report writers: timestamps, name sanitising, per-result evidence text.

import LbrScenarios

/// Formatting helpers shared by the run report writers.
public enum ReportSupport {
    /// RFC 3339 UTC timestamp with millisecond precision for Unix nanoseconds (proleptic Gregorian).
    public static func rfc3339(unixNs: UInt64) -> String {
        let secs = Int64(unixNs / 1_000_000_000)
        let ms = Int((unixNs / 1_000_000) % 1000)
        var days = secs / 86_400
        let rem = Int(secs % 86_400)
        // civil_from_days (Howard Hinnant).
        days += 719_468
        let era = days / 146_097
        let doe = days - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        var y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        if m <= 2 { y += 1 }
        func p(_ v: Int64, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        return "\(p(y, 4))-\(p(m, 2))-\(p(d, 2))T\(p(Int64(rem / 3600), 2)):\(p(Int64(rem / 60 % 60), 2)):\(p(Int64(rem % 60), 2)).\(p(Int64(ms), 3))Z"
    }

    /// A test name restricted to `[A-Za-z0-9_.-]` (LAVA / NIPA / KTAP-friendly); anything else becomes `_`.
    public static func testName(_ s: String) -> String {
        let out = String(s.unicodeScalars.map { u -> Character in
            let ok = ("a"..."z").contains(u) || ("A"..."Z").contains(u) || ("0"..."9").contains(u)
                || u == "_" || u == "." || u == "-"
            return ok ? Character(u) : "_"
        })
        return out.isEmpty ? "_" : out
    }

    /// ASCII spellings of the non-ASCII characters lbrprobe's own texts use (reference sections, arrows, units).
    static let asciiSpellings: [Unicode.Scalar: String] = [
        "§": "sec ", "→": "->", "⇒": "=>", "←": "<-", "≈": "~", "≥": ">=", "≤": "<=", "≠": "!=", "—": "-",
        "–": "-", "µ": "u", "×": "x", "…": "...", "‘": "'", "’": "'", "“": "\"", "”": "\"",
        "±": "+-", "·": ".", "°": " deg", "²": "^2", "\u{00A0}": " ", "′": "'", "″": "\"", "∞": "inf",
    ]

    /// The blockers of an availability reason (each `message [§refs]`, joined by "; "), one per element,
    /// ordered for this host: the CPU-vendor blocker first; when it says the CPU is not Intel, the other
    /// vendor-neutral blockers next and the Intel-only ones last, marked "(Intel-only)".
    public static func blockers(_ reason: String) -> [String] {
        var parts: [String] = []
        var cur = ""
        var i = reason.startIndex
        while i < reason.endIndex {
            // split at "]; " (a blocker ends with its reference list)
            if reason[i...].hasPrefix("]; ") {
                cur += "]"; parts.append(cur); cur = ""
                i = reason.index(i, offsetBy: 3); continue
            }
            cur.append(reason[i]); i = reason.index(after: i)
        }
        if !cur.isEmpty { parts.append(cur) }
        guard let vendor = parts.firstIndex(where: { $0.hasPrefix("CPU vendor is ") }) else { return parts }
        let v = parts.remove(at: vendor)
        let intelOnly = ["kvm_intel", "Intel", "LBR layout", "PERF_CAPABILITIES", "PDCM", "arch LBR", "LBR format",
                         "leaf 0xA", "0xA PMU"]
        let (neutral, intel) = parts.reduce(into: ([String](), [String]())) { acc, p in
            if intelOnly.contains(where: { p.contains($0) }) { acc.1.append("(Intel-only) " + p) } else { acc.0.append(p) }
        }
        return [v] + neutral + intel
    }

    /// A `--backend auto` selection reason split into its head ("--backend auto chose hybrid: ...") and the
    /// blockers of each backend passed over (the "(hw unavailable: ...; hybrid unavailable: ...)" tail).
    public static func selection(_ reason: String) -> (head: String, passedOver: [(kind: String, blockers: [String])]) {
        guard let open = reason.range(of: " (hw unavailable: ") ?? reason.range(of: " (hybrid unavailable: "),
              reason.hasSuffix(")") else { return (reason, []) }
        let head = String(reason[..<open.lowerBound])
        var tail = String(reason[reason.index(after: open.lowerBound)...].dropFirst().dropLast())
        var out: [(String, [String])] = []
        // "hw unavailable: R; hybrid unavailable: R2"
        let kinds = ["hw", "hybrid", "sim"]
        while let k = kinds.first(where: { tail.hasPrefix("\($0) unavailable: ") }) {
            tail.removeFirst("\(k) unavailable: ".count)
            var body = tail
            tail = ""
            for other in kinds where other != k {
                if let r = body.range(of: "; \(other) unavailable: ") {
                    tail = String(body[body.index(r.lowerBound, offsetBy: 2)...]); body = String(body[..<r.lowerBound])
                }
            }
            out.append((k, blockers(body)))
        }
        return (head, out)
    }

    /// One line of printable ASCII without `#` (safe in TAP descriptions and directives): known symbols are
    /// spelled out (`§1.5` → `sec 1.5`), anything else non-printable becomes `_`.
    public static func oneLine(_ s: String) -> String { ascii(s, keepHash: false) }

    /// One line of printable ASCII (JUnit, KCIDB): known symbols spelled out as in `oneLine`, newlines and
    /// tabs become spaces, anything else non-printable becomes `_`; `#` is kept unless `keepHash` is false.
    public static func ascii(_ s: String, keepHash: Bool = true) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for u in s.unicodeScalars {
            if u.value >= 0x20 && u.value < 0x7f && (keepHash || u != "#") { out.unicodeScalars.append(u) }
            else if u == "\n" || u == "\t" || u == "\r" { out += " " }
            else if let a = asciiSpellings[u] { out += a }
            else { out += "_" }
        }
        return out
    }

    /// Whether every byte of `s` is printable ASCII (0x20...0x7e).
    public static func isPrintableAscii(_ s: String) -> Bool { s.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7f } }

    /// The longest physical line (in bytes) lbrprobe writes in TAP and JUnit, and the longest line of a KCIDB
    /// `log_excerpt`: longer texts are wrapped onto continuation lines (diagnostics, bodies) or shortened with
    /// `...` where they must stay on one line (directive reasons, XML attributes), the full text then following
    /// as wrapped diagnostics or body lines. Serial consoles and farm log viewers split longer lines.
    public static let maxLineBytes = 1000

    /// `s` (already ASCII) cut to at most `max` bytes, ending in `...` when cut.
    public static func truncated(_ s: String, max: Int) -> String {
        if s.utf8.count <= max { return s }
        return String(decoding: Array(s.utf8.prefix(Swift.max(0, max - 3))), as: UTF8.self) + "..."
    }

    /// `s` split into pieces of at most `width` bytes, preferring to break at a space; the first piece has
    /// `width` bytes available, the others `width - indent.count` and start with `indent`. ASCII input.
    public static func wrapped(_ s: String, width: Int, indent: String = "  ") -> [String] {
        var out: [String] = []
        var rest = Substring(s)
        var avail = width
        while rest.utf8.count > avail {
            let head = rest.prefix(avail)
            var cut = head.lastIndex(of: " ").map { rest.distance(from: rest.startIndex, to: $0) } ?? 0
            if cut < avail / 2 { cut = avail }                  // no useful space: hard break
            let piece = rest.prefix(cut)
            out.append((out.isEmpty ? "" : indent) + piece)
            rest = rest.dropFirst(cut)
            while rest.first == " " { rest = rest.dropFirst() }
            avail = width - indent.utf8.count
        }
        out.append((out.isEmpty ? "" : indent) + rest)
        return out
    }

    /// `oneLine(s)` as TAP diagnostic lines (`# ` + text), each at most `maxLineBytes` long.
    public static func diagnostics(_ s: String, prefix: String = "# ") -> [String] {
        wrapped(oneLine(s), width: maxLineBytes - prefix.utf8.count).map { prefix + $0 }
    }

    /// A timeout in seconds as kselftest's runner spells it (`45`, `0.001`, `1.5`): no trailing zeros.
    public static func secondsText(_ ns: UInt64) -> String {
        let whole = ns / 1_000_000_000, frac = ns % 1_000_000_000
        if frac == 0 { return String(whole) }
        var f = String(frac)
        f = String(repeating: "0", count: 9 - f.count) + f
        while f.hasSuffix("0") { f.removeLast() }
        return "\(whole).\(f)"
    }

    /// Milliseconds with 3 decimals.
    public static func ms(_ ns: UInt64) -> String {
        let whole = ns / 1_000_000, frac = (ns / 1000) % 1000
        let f = String(frac)
        return "\(whole).\(String(repeating: "0", count: 3 - f.count))\(f)"
    }

    /// Seconds as a Double.
    public static func seconds(_ ns: UInt64) -> Double { Double(ns) / 1e9 }

    /// Upper-case status word.
    public static func statusWord(_ s: ResultStatus) -> String { s.rawValue.uppercased() }

    /// The evidence of one result as text lines (used by TAP diagnostics, JUnit bodies and KCIDB excerpts).
    public static func evidenceLines(_ r: ScenarioResult) -> [String] {
        var out: [String] = []
        out.append("\(r.testName): \(r.outcome.detail) [\(r.status.rawValue)] backend=\(r.backend.rawValue)"
                   + (r.model.map { " model=\($0)" } ?? "") + " cpu=\(r.cpu) kernel=\(r.kernelRelease)")
        if let reason = r.reason { out.append("reason: \(reason)") }
        if let ex = r.evidenceFoldedInto {
            out.append("evidence: not kept for this run (same status and outcome as \(ex), whose evidence is shown)")
        }
        if let e = r.expectation.expected { out.append("expected: \(e) (\(r.expectation.code))") }
        for f in r.findings { out.append("finding: \(f.line)") }
        if let sh = r.shadow { out.append(shadowText(sh)) }
        for n in r.sessionNotes { out.append("note: \(n)") }
        for p in r.phases {
            out.append("phase \(p.phase) (\(p.role.rawValue)): vLBR \(p.inferred.rawValue)"
                       + "; agree: \(list(p.agreeing.map(\.rawValue)))"
                       + "; disagree: \(list(p.disagreeing.map(\.rawValue)))"
                       + (p.hostStarved.map { "; host starved: \($0 ? "yes" : "no")" } ?? "")
                       + groundTruthText(p))
            if let sh = p.shadow { out.append("  " + sh.line) }
            for s in p.signals { out.append("  [\(s.kind.rawValue) => \(s.vote.rawValue)] \(s.evidence)") }
            for e in p.evidence { out.append("  \(e)") }
        }
        return out
    }

    /// Whether test names of `results` can repeat (a scenario in two separate blocks, or two names that
    /// sanitise alike); when not, writers skip their per-name uniqueness set, which would grow with
    /// `--repeat`. Within one scenario block `.rN` / `.rA-rB` names are distinct by construction.
    public static func namesMayRepeat(_ results: ScenarioResults) -> Bool {
        var blocks: Set<String> = []
        var last: String?
        for r in results where r.scenario != last {
            last = r.scenario
            if !blocks.insert(testName(r.scenario)).inserted { return true }
        }
        return false
    }

    /// "shadow model mainline: predicted outcome X, observed Y (agrees|DEPARTS)".
    static func shadowText(_ sh: ShadowSummary) -> String {
        if let u = sh.unavailable { return "shadow model \(sh.model): not compared (\(u))" }
        return "shadow model \(sh.model): predicted outcome \(sh.predictedOutcome), observed \(sh.observedOutcome)"
            + (sh.agrees ? " (agrees)" : " (kernel departs from model \(sh.model))")
    }

    static func list(_ a: [String]) -> String { a.isEmpty ? "none" : a.joined(separator: ", ") }

    static func groundTruthText(_ p: PhaseVerdict) -> String {
        guard let g = p.groundTruth else { return "" }
        var s = "; model ground truth:"
        if let v = g.vlbr { s += " vlbr=\(v.rawValue)" }
        if let pt = g.passthrough { s += " passthrough=\(pt)" }
        if let a = g.agreesWithInference { s += a ? " (agrees)" : " (DISAGREES with inference)" }
        return s
    }
}

/// XML 1.0 escaping for text and attribute values, ASCII output (JUnit and the timeline SVG): markup characters
/// as entities; TAB/LF/CR kept (`keepLineBreaks`) or turned into spaces; other C0/C1 controls, surrogates and
/// non-characters (which XML 1.0 forbids or which would break a one-line label) as `?`; anything else
/// non-ASCII as a numeric character reference.
public func xmlEscape(_ s: String, keepLineBreaks: Bool) -> String {
    // Fast path: printable ASCII without markup characters is returned as is.
    if s.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f && $0 != 0x26 && $0 != 0x3c && $0 != 0x3e && $0 != 0x22 && $0 != 0x27 }) {
        return s
    }
    var out = ""
    out.reserveCapacity(s.utf8.count)
    for u in s.unicodeScalars {
        switch u {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        case "\t", "\n", "\r": if keepLineBreaks { out.unicodeScalars.append(u) } else { out += " " }
        default:
            if u.value >= 0x20 && u.value < 0x7f { out.unicodeScalars.append(u) }
            else if u.value < 0x20 || (0x7f...0x9f).contains(u.value) || (0xd800...0xdfff).contains(u.value)
                        || u.value == 0xfffe || u.value == 0xffff { out += "?" }
            else { out += "&#x\(String(u.value, radix: 16));" }
        }
    }
    return out
}

/// Lines handed to a sink as they are produced (each with its "\n"), so a long report (`--repeat`) streams to its
/// destination instead of being held whole. `append` mirrors `[String].append` for the writers.
public struct LineSink {
    let sink: (String) -> Void
    public init(_ sink: @escaping (String) -> Void) { self.sink = sink }
    public func append(_ line: String) { sink(line + "\n") }
    /// Appends lines in order.
    public static func += (out: LineSink, lines: [String]) { for l in lines { out.append(l) } }
}

extension ReportSupport {
    /// `s` with every control character except newline and tab (C0, DEL, C1: ESC, BEL, CR, ...) replaced by
    /// `?`, so text taken from a document (a hostname, a kmsg line) cannot drive the reader's terminal or
    /// rewrite a line. Applied by the CLI to everything it writes as text (text, TAP, Markdown, RST, compare).
    public static func withoutControls(_ s: String) -> String {
        if s.utf8.allSatisfy({ ($0 >= 0x20 && $0 != 0x7f && $0 != 0xc2) || $0 == 0x0a || $0 == 0x09 }) { return s }
        var out = String.UnicodeScalarView()
        for u in s.unicodeScalars {
            let v = u.value
            if (v < 0x20 && v != 0x0a && v != 0x09) || (0x7f...0x9f).contains(v) { out.append("?") } else { out.append(u) }
        }
        return String(out)
    }
}
