import Foundation
import LbrCore
import LbrReport
import LbrScenarios
import Testing

@Suite struct RunDocumentReaderTests {
    @Test func roundTripOfARenderedReport() throws {
        let report = Fixtures.mixedReport()
        let text = try JsonReport.render(report)
        let doc = try RunDocumentReader.decode(Data(text.utf8), source: "mem")
        #expect(doc.schema == RunDocumentReader.schema)
        #expect(doc.results.count == report.results.count)
        #expect(doc.results.map(\.outcome) == report.results.map(\.outcome.code))
    }

    @Test func badInputsGiveOneLineErrors() throws {
        let full = try JsonReport.render(Fixtures.mixedReport())
        let cases: [(String, RunDocumentError.Kind, String)] = [
            ("", .malformed, "empty file"),
            (String(full.prefix(full.count / 2)), .malformed, "not JSON"),
            ("[1,2]", .malformed, "not an object"),
            (#"{"schema":"lbrprobe.caps/1"}"#, .wrongSchema, "caps document"),
            (#"{"schema":"lbrprobe.run/1"}"#, .wrongSchema, "schema lbrprobe.run/1"),
            (#"{"tool":"x"}"#, .wrongSchema, "no \"schema\""),
            (#"{"schema":"lbrprobe.run/2"}"#, .malformed, "missing field"),
        ]
        for (text, kind, fragment) in cases {
            do {
                _ = try RunDocumentReader.decode(Data(text.utf8), source: "in.json")
                Issue.record("accepted \(text.prefix(40))")
            } catch {
                #expect(error.kind == kind, "\(text.prefix(40))")
                #expect(error.description.hasPrefix("in.json: "))
                #expect(error.description.contains(fragment), "\(error.description)")
                #expect(!error.description.contains("\n"))
                #expect(error.exitCode == .dataError)
            }
        }
    }

    @Test func missingFileAndDirectory() {
        #expect(throws: RunDocumentError.self) { try RunDocumentReader.read(path: "/nonexistent/run.json") }
        do { _ = try RunDocumentReader.read(path: "/tmp"); Issue.record("read a directory") } catch {
            #expect(error.kind == .unreadable)
            #expect(error.description.contains("directory"))
        }
    }
}
