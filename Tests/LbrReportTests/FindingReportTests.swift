import Foundation
import LbrDocument
import LbrCore
import LbrScenarios
import LbrTestSupport
@testable import LbrReport
import Testing

/// A finding attached to a result reaches every output format.
@Suite struct FindingReportTests {
    func reportWithFinding() -> RunReport {
        var r = Fixtures.mixedReport()
        let i = r.results.firstIndex { $0.scenario == "host-first" }!
        r.results[i].findings = [Finding(kind: .hostBranchLeak, phase: "contended", count: 7,
                                         summary: "guest read 7 LBR entries outside its code",
                                         example: "FROM 0xffffffff81000010 -> TO 0xffffffff81000020")]
        return r
    }

    @Test func everyFormatCarriesTheFinding() throws {
        let r = reportWithFinding()
        let needle = "host-branch-leak (security-relevant) in phase contended"
        #expect(TextReport.render(r).contains("FINDING " + needle))
        let tap = TapReport.render(r)
        #expect(tap.contains("# finding: " + needle))
        #expect(tap.unicodeScalars.allSatisfy { $0.isASCII })
        #expect(JUnitReport.render(r).contains("finding: " + needle))
        let kcidb = try KcidbReport.render(r, buildId: "b")
        #expect(kcidb.contains("\"security_relevant\" : true") || kcidb.contains("\"security_relevant\":true"))
        #expect(kcidb.contains("finding: " + needle))
        let json = try JsonReport.render(r)
        let obj = try JSONSerialization.jsonObject(with: Data(json.utf8))
        let v = SchemaValidator(schema: try JSONSerialization.jsonObject(
            with: Data(try repoFile("docs/run.schema.json").utf8)) as! [String: Any])
        #expect(try v.validate(obj).isEmpty)
        let doc = try RunDocumentReader.decode(Data(json.utf8), source: "mem")
        let f = doc.results.first { $0.scenario == "host-first" }!.findings
        #expect(f.count == 1 && f[0].kind == .hostBranchLeak && f[0].count == 7 && f[0].security_relevant)
        #expect(doc.results.filter { $0.scenario != "host-first" }.allSatisfy { $0.findings.isEmpty })
    }
}
