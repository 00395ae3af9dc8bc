import Foundation
import LbrDocument
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
        #expect(doc.results.map(\.outcome.code) == report.results.map(\.outcome.code))
    }

    /// Writing a read document again gives the same bytes: nothing is lost or reshaped by the typed model.
    @Test func writeReadWriteIsLossless() throws {
        let report = Fixtures.mixedReport()
        for compact in [true, false] {
            let text = try JsonReport.render(report, compact: compact)
            let doc = try RunDocumentReader.decode(Data(text.utf8), source: "mem")
            let enc = JSONEncoder()
            enc.outputFormatting = compact ? [.sortedKeys, .withoutEscapingSlashes]
                : [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let again = String(decoding: try enc.encode(doc), as: UTF8.self) + "\n"
            #expect(again == text)
        }
    }

    /// A value outside a closed vocabulary (status, outcome term, phase role, signal kind, vote, vLBR state,
    /// backend) is a one-line data error (exit 65) naming where it is, never a trap.
    @Test func unknownVocabularyValueIsAOneLineDataError() throws {
        let text = try JsonReport.render(Fixtures.mixedReport(), compact: true)
        let replacements: [(String, String)] = [
            ("\"status\":\"pass\"", "\"status\":\"passed\""),
            ("\"backend\":\"sim\"", "\"backend\":\"qemu\""),
            ("\"role\":\"contended\"", "\"role\":\"contention\""),
            ("\"kind\":\"tos-readback\"", "\"kind\":\"tos-read\""),
            ("\"vote\":\"active\"", "\"vote\":\"on\""),
            ("\"inferred\":\"active\"", "\"inferred\":\"maybe\""),
            ("\",\"outcome_detail\"", "+coexists\",\"outcome_detail\""),
            ("\"code\":\"", "\"code\":\"x"),
        ]
        for (from, to) in replacements {
            guard let r = text.range(of: from) else { Issue.record("fixture lacks \(from)"); continue }
            let bad = text.replacingCharacters(in: r, with: to)
            do {
                _ = try RunDocumentReader.decode(Data(bad.utf8), source: "bad.json")
                Issue.record("\(to) decoded")
            } catch {
                #expect(error.kind == .malformed)
                #expect(error.exitCode == .dataError && error.exitCode.rawValue == 65)
                #expect(!error.description.contains("\n"))
                #expect(error.description.hasPrefix("bad.json: not a valid lbrprobe.run/3 document: "))
                #expect(error.description.contains(" at ."), "\(error.description)")
            }
        }
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
            (#"{"schema":"lbrprobe.run/3"}"#, .malformed, "missing field"),
            // A 64 KiB schema id (found by the seeded value-level fuzz run): cut, not echoed whole.
            ("{\"schema\":\"lbrprobe.run/3" + String(repeating: "x", count: 65_536) + "\"}", .wrongSchema, "schema lbrprobe.run/3xxx"),
            ("{\"schema\":\"" + String(repeating: "x", count: 65_536) + "\"}", .wrongSchema, "xxx..."),
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
                #expect(error.description.utf8.count < 400, "\(error.description.prefix(100))")
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
