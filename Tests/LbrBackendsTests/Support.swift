// Copied from Tests/LbrReportTests/SchemaValidator.swift (test targets cannot share helpers): the same
// JSON-Schema subset validator and KTAP parser, so the CLI's output is held to the same checks.
import Foundation

/// A JSON-Schema subset validator (type, required, properties, additionalProperties:false, enum, const,
/// items, minItems, minimum, pattern). Returns every violation with its JSON pointer.
struct SchemaValidator {
    let schema: [String: Any]

    func validate(_ value: Any) -> [String] {
        var errors: [String] = []
        check(value, schema, "", &errors)
        return errors
    }

    private func typeName(_ v: Any) -> String {
        if v is NSNull { return "null" }
        if let n = v as? NSNumber {
            let t = String(cString: n.objCType)
            if t == "c" || String(describing: type(of: n)).contains("Boolean") { return "boolean" }
            return (t == "d" || t == "f") ? "number" : "integer"
        }
        if v is String { return "string" }
        if v is [Any] { return "array" }
        if v is [String: Any] { return "object" }
        return "unknown"
    }

    private func isType(_ v: Any, _ t: String) -> Bool {
        let actual = typeName(v)
        if t == "number" { return actual == "number" || actual == "integer" }
        return actual == t
    }

    private func equal(_ a: Any, _ b: Any) -> Bool {
        if let x = a as? String, let y = b as? String { return x == y }
        if let x = a as? NSNumber, let y = b as? NSNumber { return x == y }
        return false
    }

    private func check(_ v: Any, _ s: [String: Any], _ path: String, _ errors: inout [String]) {
        let at = path.isEmpty ? "/" : path
        if let t = s["type"] as? String, !isType(v, t) {
            errors.append("\(at): expected \(t), got \(typeName(v))"); return
        }
        if let c = s["const"], !equal(v, c) { errors.append("\(at): expected const \(c)") }
        if let e = s["enum"] as? [Any], !e.contains(where: { equal(v, $0) }) { errors.append("\(at): \(v) not in enum") }
        if let m = s["minimum"] as? NSNumber, let n = v as? NSNumber, n.doubleValue < m.doubleValue {
            errors.append("\(at): \(n) < minimum \(m)")
        }
        if let p = s["pattern"] as? String, let str = v as? String {
            if str.firstMatch(of: try! Regex(p)) == nil {
                errors.append("\(at): '\(str)' does not match \(p)")
            }
        }
        if let obj = v as? [String: Any] {
            for r in (s["required"] as? [String]) ?? [] where obj[r] == nil { errors.append("\(at): missing required '\(r)'") }
            let props = (s["properties"] as? [String: Any]) ?? [:]
            for (k, sub) in obj {
                if let ps = props[k] as? [String: Any] {
                    check(sub, ps, path + "/" + k, &errors)
                } else if (s["additionalProperties"] as? Bool) == false {
                    errors.append("\(at): unexpected property '\(k)'")
                }
            }
        }
        if let arr = v as? [Any] {
            if let mi = s["minItems"] as? Int, arr.count < mi { errors.append("\(at): fewer than \(mi) items") }
            if let items = s["items"] as? [String: Any] {
                for (i, x) in arr.enumerated() { check(x, items, "\(path)/\(i)", &errors) }
            }
        }
    }
}

/// A small KTAP / TAP 13 parser following tools/testing/kunit/kunit_parser.py conventions: a version line,
/// a plan `1..N`, result lines `ok|not ok <n> [- ]<description>[ # <directive> ...]` numbered 1..N in order,
/// `# ` diagnostic lines. Returns a parse or the list of violations.
struct KtapParse {
    struct Result { var ok: Bool; var number: Int; var name: String; var directive: String?; var directiveText: String }
    var version = ""
    var plan: Int?
    var planSkipReason: String?
    var results: [Result] = []
    var diagnostics: [String] = []
    var errors: [String] = []

    init(_ text: String) {
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

/// The repository root (this file is Tests/LbrBackendsTests/Support.swift).
func repoRoot(filePath: String = #filePath) -> URL {
    URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

func repoFile(_ relative: String) throws -> String {
    try String(contentsOf: repoRoot().appendingPathComponent(relative), encoding: .utf8)
}
