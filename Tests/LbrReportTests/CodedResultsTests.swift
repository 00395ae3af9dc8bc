// The coded storage of folded runs: every element reads back exactly (repeat index, duration, start, through
// random access and iteration alike), replaced elements win, and a folded run costs a few bytes.

import Foundation
import LbrCore
@testable import LbrScenarios
import Testing

@Suite struct CodedResultsTests {
    @Test func foldedRunsReadBackExactlyAndStaySmall() throws {
        let b = ReportFixtureBackend()
        let report = Runner(backend: b, options: RunOptions(repeats: 300, kernelRelease: "6.x")).run(Array(Catalog.defaultSet.prefix(2)))
        let template = report.results[1]
        var results = ScenarioResults()
        var expected: [ScenarioResult] = []
        var rng = SplitMix64(state: 99)
        for i in 0..<1000 {
            var r = template
            r.repeatIndex = i % 7 == 0 ? Int(rng.next() % 1_000_000) : i
            r.durationNs = [0, 1, UInt64.max, rng.next() % 100_000][i % 4]
            r.startUnixNs = i % 5 == 0 ? nil : [UInt64.max - 1, 0, rng.next(), 1_700_000_000_000_000_000 + UInt64(i) * 50_000][i % 4]
            if i % 97 == 0 { results.append(report.results[0]); expected.append(report.results[0]); continue }
            results.appendFolded(r, exemplar: "x.r1")
            var e = r
            e.phases = []; e.records = []; e.sessionNotes = []; e.evidenceFoldedInto = "x.r1"
            expected.append(e)
        }
        #expect(results.count == expected.count)
        #expect(Array(results) == expected)
        for i in [0, 1, 31, 32, 33, 500, 999] { #expect(results[i] == expected[i]) }
        results[500] = report.results[0]
        #expect(results[500] == report.results[0] && Array(results)[500] == report.results[0])
        // The real run: 2 scenarios x 300 runs in a few bytes each.
        #expect(report.results.entryBytes < report.results.count * 12, "\(report.results.entryBytes) bytes for \(report.results.count) runs")
    }
}
