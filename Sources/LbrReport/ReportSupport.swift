// Helpers shared by the run report writers: timestamps, name sanitising, per-result evidence text.

import LbrCore
import LbrScenarios

/// A scenario and the terms of a run's outcome: the first run of each carries the timeline (JSON) and the plain
/// answer (text), so repeated runs alike are shown once.
struct ScenarioOutcomeKey: Hashable {
    var scenario: String
    var outcome: [OutcomeTerm]
    init(_ r: ScenarioResult) { scenario = r.scenario; outcome = r.outcome.termCodes }
}

/// Formatting helpers shared by the run report writers.
public enum ReportSupport {
    /// A test name restricted to `[A-Za-z0-9_.-]` (LAVA / NIPA / KTAP-friendly); anything else becomes `_`.
    public static func testName(_ s: String) -> String {
        let out = String(s.unicodeScalars.map { u -> Character in
            let ok = ("a"..."z").contains(u) || ("A"..."Z").contains(u) || ("0"..."9").contains(u)
                || u == "_" || u == "." || u == "-"
            return ok ? Character(u) : "_"
        })
        return out.isEmpty ? "_" : out
    }

    /// Blockers as report lines (`  - message [reference]`), ordered for this host
    /// (`EligibilityReason.orderedForHost`): on a non-Intel CPU the Intel-only ones last, marked "(Intel-only)".
    public static func blockerLines(_ blockers: [EligibilityReason]) -> [String] { blockerTexts(blockers).map { "  - " + $0 } }

    /// The blockers' texts in `blockerLines`' order and marking, without the list bullet.
    public static func blockerTexts(_ blockers: [EligibilityReason]) -> [String] {
        EligibilityReason.orderedForHost(blockers).map { ($0.intelOnlyOnThisHost ? "(Intel-only) " : "") + $0.reason.description }
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
        if let sh = r.shadow { out.append(BasisText.shadowSummary(sh, backend: r.backend)) }
        for n in r.sessionNotes { out.append("note: \(n)") }
        for p in r.phases {
            out.append("phase \(p.phase) (\(p.role.rawValue)): vLBR \(p.inferred.rawValue)"
                       + "; agree: \(list(p.agreeing.map(\.rawValue)))"
                       + "; disagree: \(list(p.disagreeing.map(\.rawValue)))"
                       + (p.hostStarved.map { "; host starved: \($0 ? "yes" : "no")" } ?? "")
                       + groundTruthText(p))
            if let b = BasisText.phaseLine(p) { out.append("  " + b) }
            if let sh = p.shadow { out.append("  " + BasisText.shadowPhase(sh, backend: r.backend)) }
            for s in p.signals { out.append("  " + BasisText.signalLine(s)) }
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

    /// Whether the results' test names are certainly distinct (checked in one pass, nothing kept per result):
    /// each scenario's results form one block, and within it the runs covered follow each other (`.rN` /
    /// `.rA-rB` never repeat), or the block is a single result.
    public static func testNamesUnique(_ results: ScenarioResults) -> Bool {
        if namesMayRepeat(results) { return false }
        var last: (scenario: String, repeats: Int, next: Int)?
        for r in results {
            if let l = last, l.scenario == r.scenario {
                guard r.repeats > 1, l.repeats == r.repeats, r.repeatIndex >= l.next else { return false }
            }
            last = (r.scenario, r.repeats, r.repeatIndex + max(1, r.runsCovered))
        }
        return true
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
