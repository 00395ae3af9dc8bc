import Foundation

/// A small KTAP / TAP 13 parser following tools/testing/kunit/kunit_parser.py conventions: a version line,
/// a plan `1..N`, result lines `ok|not ok <n> [- ]<description>[ # <directive> ...]` numbered 1..N in order,
/// `# ` diagnostic lines. Returns a parse or the list of violations.
public struct KtapParse {
    public struct Result { public var ok: Bool; public var number: Int; public var name: String; public var directive: String?; public var directiveText: String }
    public var version = ""
    public var plan: Int?
    public var planSkipReason: String?
    public var results: [Result] = []
    public var diagnostics: [String] = []
    public var errors: [String] = []

    public init(_ text: String) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let first = lines.first, first == "TAP version 13" || first == "KTAP version 1" else {
            errors.append("missing version line"); return
        }
        version = first
        let resultRe = #/^(ok|not ok) ([0-9]+) (?:- )?([^#]*?)(?: # (.*))?$/#
        let planRe = #/^1\.\.([0-9]+)(?: # (.*))?$/#
        for (i, l) in lines.dropFirst().enumerated() where !l.isEmpty {
            if let m = l.wholeMatch(of: planRe) {
                if plan != nil { errors.append("line \(i + 2): second plan") }
                plan = Int(m.1)
                if let d = m.2 {
                    if d.hasPrefix("SKIP") { planSkipReason = String(d.dropFirst(4)).trimmingCharacters(in: .whitespaces) }
                    else { errors.append("line \(i + 2): unknown plan directive") }
                }
            } else if let m = l.wholeMatch(of: resultRe) {
                let n = Int(m.2)!
                if n != results.count + 1 { errors.append("line \(i + 2): expected test \(results.count + 1), got \(n)") }
                var dir: String?
                var text = ""
                if let d = m.4 {
                    let word = d.split(separator: " ").first.map(String.init) ?? ""
                    guard ["SKIP", "TODO", "XFAIL", "TIMEOUT", "ERROR"].contains(word.uppercased()) else {
                        errors.append("line \(i + 2): unknown directive '\(word)'"); continue
                    }
                    dir = word.uppercased(); text = String(d.dropFirst(word.count)).trimmingCharacters(in: .whitespaces)
                }
                results.append(Result(ok: m.1 == "ok", number: n, name: String(m.3), directive: dir, directiveText: text))
            } else if l.hasPrefix("# ") || l == "#" {
                diagnostics.append(String(l.dropFirst(2)))
            } else {
                errors.append("line \(i + 2): unparseable '\(l)'")
            }
        }
        guard let plan else { errors.append("no plan"); return }
        if plan != results.count { errors.append("plan 1..\(plan) but \(results.count) results") }
    }
}
