import Foundation
import LbrCore
import LbrReport
import LbrTestSupport
import Testing

/// Every "§N" / "§N.M" lbrprobe prints or its sources cite resolves to a heading of the project's own reference,
/// docs/reference.md ("## §N title" / "### §N.M title").
@Suite struct ReferenceSectionTests {
    /// The section numbers docs/reference.md defines, from its "## §N" and "### §N.M" headings.
    static func headings() throws -> Set<String> {
        var out: Set<String> = []
        for line in try repoFile("docs/reference.md").split(separator: "\n") {
            guard line.hasPrefix("## §") || line.hasPrefix("### §") else { continue }
            let afterMark = line.drop { $0 != "§" }.dropFirst()
            let number = afterMark.prefix { $0.isNumber || $0 == "." }
            if !number.isEmpty { out.insert(String(number)) }
        }
        return out
    }

    /// Every "§N" or "§N.M" in `text`.
    static func citations(in text: String) -> Set<String> {
        var out: Set<String> = []
        var rest = Substring(text)
        while let i = rest.firstIndex(of: "§") {
            rest = rest[rest.index(after: i)...]
            var n = String(rest.prefix { $0.isNumber })
            let afterMajor = rest.dropFirst(n.count)
            if afterMajor.first == ".", let d = afterMajor.dropFirst().first, d.isNumber {
                n += "." + afterMajor.dropFirst().prefix { $0.isNumber }
            }
            if !n.isEmpty { out.insert(n) }
        }
        return out
    }

    /// Text files under `dir` (relative to the repository root) with the given extensions.
    static func files(under dir: String, extensions: Set<String>) -> [URL] {
        let root = repoRoot().appendingPathComponent(dir)
        guard let e = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else { return [] }
        return e.compactMap { $0 as? URL }.filter { extensions.contains($0.pathExtension) }
    }

    @Test func headingsAreWellFormedAndCoverOneToNine() throws {
        let h = try Self.headings()
        for major in 1...9 { #expect(h.contains(String(major)), "docs/reference.md lacks a '## §\(major)' heading") }
        // Every subsection's parent exists.
        for s in h where s.contains(".") { #expect(h.contains(String(s.split(separator: ".")[0])), "§\(s) has no parent") }
        // The hardware-artefact sections the model and the verdicts cite.
        for s in ["9.1", "9.2", "9.3", "9.4", "9.5", "4.1", "4.2"] { #expect(h.contains(s), "§\(s) missing") }
    }

    @Test func citationParserReadsSectionsNotProse() {
        #expect(Self.citations(in: "see §3.4 (b) and §1.5, §2; also §8.") == ["3.4", "1.5", "2", "8"])
        #expect(Self.citations(in: "no section sign here") == [])
    }

    @Test func everySectionCitedInSourcesDocsAndReadmeResolves() throws {
        let h = try Self.headings()
        var cited: [String: Set<String>] = [:]
        var texts: [(String, String)] = []
        for url in Self.files(under: "Sources", extensions: ["swift"]) + Self.files(under: "CModules", extensions: ["c", "h", "S"])
            + Self.files(under: "docs", extensions: ["md"]) {
            texts.append((url.path, try String(contentsOf: url, encoding: .utf8)))
        }
        texts.append(("README.md", try repoFile("README.md")))
        for (path, text) in texts { for c in Self.citations(in: text) { cited[c, default: []].insert(path) } }
        #expect(cited.count >= 20, "found only \(cited.count) distinct sections cited")
        for (section, paths) in cited.sorted(by: { $0.key < $1.key }) {
            #expect(h.contains(section), "§\(section) is cited in \(paths.sorted().joined(separator: ", ")) but docs/reference.md has no heading for it")
        }
    }

    @Test func everySectionThePrintedCapsReportCitesResolves() throws {
        let h = try Self.headings()
        for (name, p) in RecordedProfiles.all {
            let text = CapsReport.text(p, eligibility: Eligibility.evaluate(p))
            for c in Self.citations(in: text) { #expect(h.contains(c), "caps report of \(name) prints §\(c)") }
        }
    }
}
