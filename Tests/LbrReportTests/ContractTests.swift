import Foundation
import LbrDocument
import LbrCore
@testable import LbrReport
@testable import LbrScenarios
import LbrTestSupport
import Testing

/// docutils with warnings fatal through the project's script (installs docutils when missing); nil when it
/// could not be found or installed (exit 2).
func docutilsCheck(_ rst: String) throws -> (ok: Bool, output: String)? {
    let dir = NSTemporaryDirectory() + "lbrprobe-rst-\(getpid())-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/c.rst"
    try rst.write(toFile: path, atomically: true, encoding: .utf8)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: repoRoot().appendingPathComponent("scripts/rst-check.sh").path)
    p.arguments = [path]
    let pipe = Pipe()
    p.standardError = pipe; p.standardOutput = pipe
    try p.run()
    let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    if p.terminationStatus == 2 { return nil }
    return (p.terminationStatus == 0, out)
}

@Suite struct ContractTests {
    static func document(_ report: RunReport) throws -> JsonReport.RunDocument {
        try RunDocumentReader.decode(Data(try JsonReport.render(report).utf8), source: "test")
    }

    static let models = [ContractModelInfo(name: "mainline", summary: "mainline *summary* with_underscore", citation: "§1"),
                         ContractModelInfo(name: "seed-2023", summary: "seed | pipe", citation: "[PATCH 1/4] `x`")]

    @Test func inlineSegments() {
        #expect(ContractRenderer.segments("a `b()` **c** d*e `") ==
                [.text("a "), .code("b()"), .text(" "), .bold("c"), .text(" d*e `")])
        #expect(ContractRenderer.rstInline("x`f()`s") == "x\\ ``f()``\\ s")
        #expect(ContractRenderer.rstInline("(`f()`).") == "(``f()``).")
        #expect(ContractRenderer.rstInline("1. not a list") == "\\1. not a list")
        #expect(ContractRenderer.rstInline("6.18.44 kernel") == "6.18.44 kernel")
        #expect(ContractRenderer.mdCell("a | b") == "a \\| b")
        #expect(ContractRenderer.rstEscape("pmu_intel.c foo_ [1]_ a|b *x") == "pmu_intel.c foo\\_ [1]\\_ a\\|b \\*x")
    }

    /// Every status (pass, fail, skip, error, timeout) and hostile free text (RST/Markdown syntax in reasons,
    /// findings, notes): both formats render, deterministically, and the RST passes docutils with warnings fatal.
    @Test func hostileDocumentsRenderAndPassDocutils() throws {
        var report = Fixtures.mixedReport()
        let evil = "- dash 1. enum foo_ bar `tick` **bold *star a | b [1]_ <http://x> trailing:: .. comment |sub| \\ back"
        report.results[0].findings.append(Finding(kind: .hostBranchLeak, phase: report.results[0].phases.first?.phase,
                                                  count: 3, summary: evil, example: "1) " + evil))
        report.results[1].reason = evil
        let doc = try Self.document(report)
        for format in ContractFormat.allCases {
            let a = try Contract.render([doc], models: Self.models, format: format)
            let b = try Contract.render([doc], models: Self.models, format: format)
            #expect(a == b, "\(format) output is not deterministic")
            #expect(a.contains("host-branch-leak findings"))
            #expect(a.contains("Q1. When exactly may perf take control of the LBR MSRs?"))
        }
        let rst = try Contract.render([doc], models: Self.models, format: .rst)
        guard let check = try docutilsCheck(rst) else {
            withKnownIssue("docutils could not be installed here (scripts/rst-check.sh exit 2)") { Issue.record("skipped") }
            return
        }
        #expect(check.ok, "docutils: \(check.output)")
    }

    /// Documents are put in a canonical order: the same set in any order gives the same bytes; several models
    /// give the design-space section naming each.
    @Test func orderIndependentAndDesignSpace() throws {
        var a = try Self.document(Fixtures.mixedReport())
        var b = a
        a.model = "mainline"; b.model = "seed-2023"
        let x = try Contract.render([a, b], models: Self.models, format: .markdown)
        let y = try Contract.render([b, a], models: Self.models, format: .markdown)
        #expect(x == y)
        #expect(x.contains("## Design space: every model on the same scenarios"))
        #expect(x.contains("| Scenario | `mainline` | `seed-2023` |"))
        #expect(x.contains("Consequences per design"))
        let rst = try Contract.render([a, b], models: Self.models, format: .rst)
        if let check = try docutilsCheck(rst) { #expect(check.ok, "docutils: \(check.output)") }
        #expect(throws: ContractError.self) { try Contract.render([], models: Self.models, format: .rst) }
    }
}
