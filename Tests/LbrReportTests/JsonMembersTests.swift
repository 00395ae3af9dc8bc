// The reader's batched pass (JsonMembers + RunDocumentReader.parts) against Foundation's whole-document decode:
// the same documents accepted, the same values read, and what it refuses left to the whole decode.

import Foundation
import LbrCore
@testable import LbrDocument
import LbrReport
import LbrScenarios
import LbrTestSupport
import Testing

@Suite struct JsonMembersTests {
    func filter(_ text: String, _ keep: JsonKeep) -> String? {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { b in (try? JsonMembers.filter(b, keep: keep)).map { String(decoding: $0, as: UTF8.self) } }
    }

    @Test func keepsOnlyTheNamedMembersAtEveryLevel() {
        let keep = JsonKeep.members([("a", .all), ("r", .members([("x", .all)]))])
        #expect(filter(#" { "a" : [1, {"z": "\u00e9"}], "b": {"deep": [true, false, null]}, "r": [{"x": -1.5e3, "y": "s"}, {"y": 2}] } "#, keep)
                == #"{"a":[1, {"z": "\u00e9"}],"r":[{"x":-1.5e3},{}]}"#)
        #expect(filter(#"{"a": "x"}"#, .all) == #"{"a": "x"}"#)
    }

    @Test func refusesWhatIsNotJson() {
        let bad = [#"{"a": tru}"#, #"{"a": 01}"#, #"{"a": 1.}"#, #"{"a": -}"#, #"{"a": "\x"}"#, #"{"a": "\u12g4"}"#,
                   "{\"a\": \"tab\there\"}", #"{"a": 1,}"#, #"{"a" 1}"#, #"{"a": 1} x"#, #"{"a": [1, 2}"#, #"{"a": "open}"#,
                   "", "   ", #"{"a": 1e}"#, #"{"a": +1}"#]
        for bytes: [UInt8] in [[0xc3], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0x80], [0xff]] {
            let text = Array(#"{"a": 1, "b": "x"#.utf8) + bytes + Array(#""}"#.utf8)
            #expect(text.withUnsafeBytes { try? JsonMembers.filter($0, keep: .members([("a", .all)])) } == nil, "\(bytes)")
        }
        #expect(filter("{\"b\": \"\u{e9}\u{20ac}\u{1f600}\", \"a\": 1}", .members([("a", .all)])) == #"{"a":1}"#)
        for text in bad {
            #expect(filter(text, .members([("a", .all)])) == nil, "\(text)")
            #expect(filter(text, .members([])) == nil, "\(text)")
        }
        // Too deep for the pass (and for JSONDecoder): refused, never a stack overflow.
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(filter(#"{"a": \#(deep)}"#, .members([])) == nil)
        // An escaped member name is left to the whole decode.
        #expect(filter(#"{"\u0061": 1}"#, .members([("a", .all)])) == nil)
    }

    @Test func splitHandsOverEveryElementInBatchesAndSaysWhatIsConsumed() throws {
        let elements = (0..<500).map { #"{"n": \#($0), "skip": "\#(String(repeating: "x", count: $0 % 50))"}"# }
        let text = #"{"head": 1, "items": [\#(elements.joined(separator: ", "))], "tail": {"t": [1]}}"#
        var seen: [Int] = [], batches = 0, consumed: [Int] = []
        struct N: Decodable { var n: Int }
        let head = try Array(text.utf8).withUnsafeBytes { b in
            try JsonMembers.split(b, arrayName: "items", top: .members([("tail", .all)]), element: .members([("n", .all)]),
                                  batchBytes: 256, batch: { (items: inout [UInt8]) throws(JsonMembers.Refused) in
                                      batches += 1
                                      guard let ns = try? JSONDecoder().decode([N].self, from: Data(items)) else { throw JsonMembers.Refused() }
                                      seen += ns.map(\.n)
                                  }, consumed: { consumed.append($0) })
        }
        #expect(String(decoding: head, as: UTF8.self) == #"{"items":[],"tail":{"t": [1]}}"#)
        #expect(seen == Array(0..<500))
        #expect(batches > 10)
        #expect(consumed == consumed.sorted() && consumed.last.map { $0 <= text.utf8.count } == true)
        #expect(Array(text.utf8).withUnsafeBytes { JsonMembers.count($0, arrayName: "items", consumed: { _ in }) } == 500)
    }

    /// Mutated documents: whatever the batched pass accepts, Foundation's whole decode accepts too, with the
    /// same results; the reader's answer (document or one-line error) is the whole decode's.
    @Test func batchedReadingAgreesWithTheWholeDecodeUnderMutations() throws {
        let seed = Array(try JsonReport.render(Fixtures.mixedReport(), compact: true).utf8)
        let dict = ["{", "}", "[", "]", "\"", ":", ",", "null", "1e999", "-0", "\"results\"", "\\u0041", "\\\"", " ", "0.5e-3"]
            .map { Array($0.utf8) }
        var rng = SplitMix64(state: 21)
        var accepted = 0
        let sorted = JSONEncoder()
        sorted.outputFormatting = .sortedKeys
        for _ in 0..<FuzzSeededTests.iterations / 3 {
            let input = rng.mutate(seed, dictionary: dict)
            let data = Data(input)
            let whole = try? JSONDecoder().decode(RunDocument.self, from: data)
            let wholeCompare = try? JSONDecoder().decode(Compare.Document.self, from: data)
            switch Result(catching: { () throws(RunDocumentError) in try RunDocumentReader.decode(data, source: "f") }) {
            case let .success(doc):
                accepted += 1
                #expect(whole != nil, "accepted what JSONDecoder refuses")
                #expect(doc.results.count == whole?.results.count)
                #expect(doc.results.map(\.test_name) == whole?.results.map(\.test_name))
                #expect(try sorted.encode(doc) == sorted.encode(whole))
            case let .failure(e):
                #expect(!e.message.contains("\n"))
                #expect(whole == nil || whole.map { RunDocumentLimits.check($0) != nil || $0.schema != RunDocumentReader.schema } == true)
            }
            if let input = try? Compare.decode(data, source: "f", detail: true) {
                #expect(wholeCompare != nil, "compare accepted what JSONDecoder refuses")
                #expect(input.document.results.map(\.scenario) == wholeCompare?.results.map(\.scenario))
                #expect(input.document.results.map(\.outcome) == wholeCompare?.results.map(\.outcome))
                #expect(input.findings.map { $0.map(\.kind) } == wholeCompare?.results.map { $0.findings.map(\.kind) })
            }
        }
        #expect(accepted > 0)
    }

    /// A big document (results counted first, decoded in several batches, values shared, pages released)
    /// reads back equal; the sizes are scaled down so a small document takes every path.
    @Test func bigDocumentReadsBackEqual() throws {
        var doc = try RunDocumentReader.decode(Data(try JsonReport.render(Fixtures.mixedReport(), compact: true).utf8), source: "f")
        let one = doc.results
        doc.results = (0..<8).flatMap { _ in one }
        let sorted = JSONEncoder()
        sorted.outputFormatting = .sortedKeys
        let data = try sorted.encode(doc)
        let path = NSTemporaryDirectory() + "lbrprobe-big-\(UUID().uuidString).json"
        defer { unlink(path) }
        try data.write(to: URL(fileURLWithPath: path))
        let sizes = RunDocumentReader.PassSizes(batchBytes: 4096, bigDocument: 0)
        let back = try RunDocumentReader.read(RunDocument.self, path: path, userInfo: [:], sizes: sizes)
        #expect(try sorted.encode(back) == data)
        let input = try RunDocumentReader.read(Compare.Document.self, path: path, userInfo: [:], sizes: sizes)
        #expect(input.results.map(\.scenario) == doc.results.map(\.scenario))
        #expect(try Compare.load(path: path).document.results.map(\.outcome) == doc.results.map(\.outcome))
    }
}
