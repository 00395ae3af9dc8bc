import Foundation
import LbrDocument
import LbrCore
@testable import LbrReport
@testable import LbrScenarios
import Testing

/// The contract of a document of repeated runs folds them: bounded in N, naming the fold and the distribution.
@Suite struct ContractFoldTests {
    /// A `--repeat n` document of the whole catalog on the fixture backend (slot-contention's vLBR goes inactive),
    /// with a deterministic clock.
    static func repeated(_ n: Int) throws -> JsonReport.RunDocument {
        let b = ReportFixtureBackend()
        b.inactive = ["slot-contention"]
        var t: UInt64 = 0
        let report = Runner(backend: b, options: RunOptions(cpu: 1, repeats: n, kernelRelease: "6.18.0-test"),
                            monotonicNs: { t += 1_000; return t }, wallClockUnixNs: { 1_700_000_000_123_456_789 })
            .run(Catalog.all)
        return try ContractTests.document(report)
    }

    /// The cells of every table of the contract (before wrapping).
    static func cells(_ doc: JsonReport.RunDocument) throws -> [String] {
        let c = try Contract.build([doc], models: ContractTests.models)
        func tables(_ blocks: [ContractBlock]) -> [ContractTable] {
            blocks.flatMap { b -> [ContractTable] in
                switch b {
                case let .table(t): return [t]
                case let .tables(ts): return ts
                default: return []
                }
            }
        }
        func all(_ s: ContractSection) -> [ContractTable] { tables(s.blocks) + s.subsections.flatMap(all) }
        return c.sections.flatMap(all).flatMap { $0.rows.flatMap { $0 } }
    }

    @Test func repeatedDocumentNamesTheFoldAndTheDistribution() throws {
        let doc = try Self.repeated(20)
        let md = try Contract.render([doc], models: ContractTests.models, format: .markdown)
        let scenarios = Set(doc.results.map(\.scenario)).count
        #expect(doc.results.count == 20 * scenarios)
        #expect(md.contains("**Repeated runs:** \(20 * scenarios) runs of \(scenarios) repeated scenario(s) are folded"))
        #expect(md.contains("repeated runs folded"))
        // Per scenario: its runs, how many were folded, the outcome distribution with counts.
        let stats = RepeatStatistics.compute(doc)
        let hostFirst = try #require(stats.first { $0.scenario == "host-first" })
        let majority = try #require(hostFirst.majority)
        #expect(majority.count == 20)
        #expect(md.contains("20 (19 folded)"))
        #expect(md.contains("`\(majority.outcome)` 20 (100.0%)"))
        let cells = try Self.cells(doc)
        #expect(cells.contains("first run of each of 1 status and outcome pair(s): `host-first.r1`"))
        // Only the example run's evidence is listed.
        #expect(md.contains("`host-first.r1`"))
        #expect(!md.contains("`host-first.r2`"))
        let rst = try Contract.render([doc], models: ContractTests.models, format: .rst)
        if let check = try docutilsCheck(rst) { #expect(check.ok, "docutils: \(check.output)") }
    }

    @Test func sizeDoesNotGrowWithTheNumberOfRuns() throws {
        let small = try Self.repeated(20), large = try Self.repeated(200)
        for format in ContractFormat.allCases {
            let a = try Contract.render([small], models: ContractTests.models, format: format)
            let b = try Contract.render([large], models: ContractTests.models, format: format)
            #expect(a.split(separator: "\n", omittingEmptySubsequences: false).count
                    == b.split(separator: "\n", omittingEmptySubsequences: false).count, "\(format)")
            #expect(b.contains("200 (199 folded)"))
        }
    }

    /// A single-run document is its own example: every run is listed with its evidence, nothing is folded.
    @Test func singleRunDocumentIsNotFolded() throws {
        let doc = try Self.repeated(1)
        let folded = FoldedRuns(doc)
        #expect(folded.examples.map(\.test_name) == doc.results.map(\.test_name))
        #expect(folded.note == nil)
        for format in ContractFormat.allCases {
            let text = try Contract.render([doc], models: ContractTests.models, format: format)
            #expect(!text.contains("folded"), "\(format)")
            #expect(!text.contains("Repeated runs"), "\(format)")
        }
    }

    /// Distinct outcomes beyond the bound are counted, not listed.
    @Test func examplesAreBounded() throws {
        var doc = try Self.repeated(12)
        // Every host-first run a different status and outcome: twelve classes, eight examples.
        let codes = ["vlbr-active", "vlbr-inactive", "coexist", "retained", "lost", "guest-traced", "not-traced",
                     "no-guest-lbr", "stays-errored", "guest-wins-host-starved", "host-wins-vlbr-error", "recovered(none)"]
        var k = 0
        for i in doc.results.indices where doc.results[i].scenario == "host-first" {
            doc.results[i].outcome = try #require(OutcomeCode(code: codes[k % codes.count]))
            k += 1
        }
        let folded = FoldedRuns(doc)
        let s = try #require(folded.scenarios["host-first"])
        #expect(s.classes == 12 && s.examples.count == FoldedRuns.maxExamples && s.runs == 12)
        let md = try Contract.render([doc], models: ContractTests.models, format: .markdown)
        #expect(try Self.cells(doc).contains { $0.hasPrefix("first run of each of the first 8 of 12 status and outcome pairs: `host-first.r1`, ") })
        // The Markdown reflows its prose: compare with runs of white space made one space.
        #expect(md.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            .contains("first run of each of the first 8 of 12 status and outcome pairs"))
    }
}
