// Bounded memory: repeated runs are folded (evidence kept for the first run of each status + outcome
// per scenario), runs not started are counted (one entry per scenario), and every writer stays consistent.

import Foundation
import LbrDocument
import LbrCore
import LbrReport
@testable import LbrScenarios
import LbrTestSupport
import Testing

@Suite("Folded results for --repeat")
struct FoldedResultsTests {
    @Test func repeatsAreFoldedAndEveryWriterStaysConsistent() throws {
        let b = ReportFixtureBackend()
        b.inactive = ["slot-contention"]
        let n = 200
        let report = Runner(backend: b, options: RunOptions(repeats: n, kernelRelease: "6.x",
                                                                 selection: AutoSelection(chosen: .sim, detail: "test", passedOver: [])))
            .run(Catalog.defaultSet)
        #expect(report.results.count == Catalog.defaultSet.count * n)
        let stored = report.results.storedCounts
        // One kept run per scenario and outcome, one template per distinct folded result: nothing grows with n.
        #expect(stored.kept == Catalog.defaultSet.count, "\(stored)")
        #expect(stored.templates == Catalog.defaultSet.count, "\(stored)")
        let r2 = report.results[1]
        #expect(r2.testName == "\(Catalog.defaultSet[0].name).r2")
        #expect(r2.evidenceFoldedInto == "\(Catalog.defaultSet[0].name).r1" && r2.phases.isEmpty && r2.records.isEmpty)
        #expect(!report.results[0].phases.isEmpty && report.results[0].evidenceFoldedInto == nil)
        #expect(report.results[1].outcome == report.results[0].outcome && report.results[1].repeatIndex == 1)
        #expect(report.distributions.allSatisfy { $0.runs == n })
        // TAP: plan = lines, folded runs say where their evidence is.
        let tap = KtapParse(TapReport.render(report))
        #expect(tap.errors.isEmpty && tap.plan == report.results.count && tap.results.count == tap.plan)
        // The fallback named once (never "sim: sim:").
        #expect(TapReport.render(report).contains("# fallback: --backend auto fell back to sim\n"))
        #expect(!TapReport.render(report).contains("sim: sim:"))
        #expect(TapReport.render(report).contains("# evidence: not kept for this run (same status and outcome as guest-baseline.r1"))
        // Streaming equals rendering whole.
        var streamed = ""
        TextReport.render(report) { streamed += $0 }
        #expect(streamed == TextReport.render(report))
        // JSON validates, carries the folding and the fallback; JUnit/KCIDB one test per entry.
        let obj = try JSONSerialization.jsonObject(with: Data(try JsonReport.render(report).utf8)) as! [String: Any]
        let v = SchemaValidator(schema: try JSONSerialization.jsonObject(with: Data(try repoFile("docs/run.schema.json").utf8)) as! [String: Any])
        let errors = try v.validate(obj)
        #expect(errors.isEmpty, "\(errors.prefix(5))")
        #expect(obj["fallback"] as? String == "--backend auto fell back to sim")
        let results = obj["results"] as! [[String: Any]]
        #expect(results[1]["evidence_folded_into"] as? String == "guest-baseline.r1")
        #expect(JUnitReport.render(report).components(separatedBy: "<testcase ").count - 1 == report.results.count)
        #expect(JUnitReport.render(report).contains("<property name=\"fallback\""))
        #expect(try KcidbReport.document(report, buildId: "b").tests.count == report.results.count)
        // The streamed JSON is byte-identical to encoding the whole document at once.
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        #expect(try JsonReport.render(report) == String(decoding: try enc.encode(JsonReport.document(report)), as: UTF8.self) + "\n")
        let small = Fixtures.mixedReport()
        #expect(try JsonReport.render(small) == String(decoding: try enc.encode(JsonReport.document(small)), as: UTF8.self) + "\n")
        let none = Fixtures.unavailableReport()
        #expect(try JsonReport.render(none) == String(decoding: try enc.encode(JsonReport.document(none)), as: UTF8.self) + "\n")
        // The compact form (`--json FILE`) likewise, and it reads back as the same document.
        let compact = JSONEncoder()
        compact.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for r in [report, small, none] {
            let text = try JsonReport.render(r, compact: true)
            #expect(text == String(decoding: try compact.encode(JsonReport.document(r)), as: UTF8.self) + "\n")
            #expect(text.utf8.count < (try JsonReport.render(r)).utf8.count)
            let doc = try RunDocumentReader.decode(Data(text.utf8), source: "compact")
            #expect(doc.results.map(\.test_name) == r.results.map(\.testName))
        }
        // Codable round trip keeps every element.
        let back = try JSONDecoder().decode(RunReport.self, from: JSONEncoder().encode(report))
        #expect(back.results == report.results)
    }

    /// The writers that read the report in one pass (memory flat in --repeat) say what the document-based or
    /// whole-document forms say.
    @Test func onePassWritersEqualTheWholeDocumentForms() throws {
        let b = ReportFixtureBackend()
        b.inactive = ["slot-contention"]
        let repeated = Runner(backend: b, options: RunOptions(repeats: 40, kernelRelease: "6.x")).run(Catalog.defaultSet)
        for r in [repeated, Fixtures.mixedReport(), Fixtures.unavailableReport()] {
            #expect(TimelineSvg.render(r) == TimelineSvg.render(JsonReport.document(r)))
            var streamed = ""
            try KcidbReport.render(r, buildId: "lbrprobe:6.1") { streamed += $0 }
            #expect(streamed == (try KcidbReport.render(r, buildId: "lbrprobe:6.1")))
        }
        #expect(ReportSupport.testNamesUnique(repeated.results))
        // Test names that repeat (one scenario twice in a row, not repeated; a block seen again) keep KCIDB ids unique.
        var twice = Fixtures.mixedReport()
        let first = twice.results[0]
        twice.results = ScenarioResults([first, first] + Array(Fixtures.mixedReport().results) + [first])
        #expect(!ReportSupport.testNamesUnique(twice.results))
        var streamed = ""
        try KcidbReport.render(twice, buildId: "lbrprobe:6.1") { streamed += $0 }
        let tests = try #require((try JSONSerialization.jsonObject(with: Data(streamed.utf8)) as? [String: Any])?["tests"] as? [[String: Any]])
        let ids = tests.compactMap { $0["id"] as? String }
        #expect(ids.count == twice.results.count && Set(ids).count == ids.count)
    }

    @Test func runsNotStartedAreCountedOnePerScenario() throws {
        final class Flag: @unchecked Sendable {
            var value: Interruption?
            let backend: ReportFixtureBackend
            init(_ b: ReportFixtureBackend) { backend = b }
        }
        let b = ReportFixtureBackend()
        let flag = Flag(b)
        let n = 1_000_000
        // The signal arrives once 5 scenario runs have ended (the runner polls after every step and run).
        let report = Runner(backend: b, options: RunOptions(repeats: n, kernelRelease: "6.x"), interruption: {
            if flag.value == nil, flag.backend.ends >= 5 { flag.value = .sigint }
            return flag.value
        }).run(Catalog.defaultSet)
        #expect(report.interruption == .sigint)
        #expect(report.runsReported == Catalog.defaultSet.count * n)
        #expect(report.runsNotStarted == Catalog.defaultSet.count * n - 5)
        // 5 runs + one entry for the rest of the first scenario + one per other scenario.
        #expect(report.results.count == 5 + 1 + (Catalog.defaultSet.count - 1))
        let rest = report.results[5]
        #expect(rest.testName == "\(Catalog.defaultSet[0].name).r6-r\(n)" && rest.runsCovered == n - 5)
        #expect(rest.reason == "not run: interrupted by SIGINT (\(n - 5) runs not started)")
        let tap = KtapParse(TapReport.render(report))
        #expect(tap.errors.isEmpty && tap.plan == report.results.count)
        let obj = try JSONSerialization.jsonObject(with: Data(try JsonReport.render(report).utf8)) as! [String: Any]
        #expect(obj["runs_not_started"] as? Int == Catalog.defaultSet.count * n - 5)
        #expect((obj["results"] as! [[String: Any]])[5]["runs"] as? Int == n - 5)
    }
}
