// The structure-aware fuzzers' JSON tree: what is not mutated is written back as it was read, and a mutation is
// still JSON (or one of the tokens no encoder writes, on purpose).

import Foundation
import Testing
import LbrCore
import LbrReport
import LbrTestSupport

@Suite struct JsonValueMutatorTests {
    @Test func realDocumentsRoundTripThroughTheTree() throws {
        let dir = repoRoot().appendingPathComponent("Tests/LbrScenariosTests/Captures")
        var docs = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
            .filter { $0.hasSuffix(".capture.json") }
            .map { Array(try Data(contentsOf: dir.appendingPathComponent($0))) }
        docs.append(Array(try JsonReport.render(Fixtures.mixedReport(), compact: false).utf8))
        for doc in docs {
            let tree = try #require(JsonValueMutator.parse(doc))
            for pretty in [false, true] {
                let again = try #require(JsonValueMutator.encode(tree, pretty: pretty))
                #expect(JsonValueMutator.parse(again) == tree)
                // The same document to an independent reader.
                let a = try JSONSerialization.jsonObject(with: Data(doc)) as? NSObject
                let b = try JSONSerialization.jsonObject(with: Data(again)) as? NSObject
                #expect(a == b)
            }
        }
    }

    @Test func spellingsOrderAndUndecodableStringsAreKept() throws {
        let text = #"{"z":18446744073709551615,"a":[1e300,-0.0,0.5],"s":"\ud800","e":"tab\tquote\"\u00e9\ud83d\ude00"}"#
        let tree = try #require(JsonValueMutator.parse(Array(text.utf8)))
        guard case .object(let members) = tree else { Issue.record("not an object"); return }
        #expect(members.map(\.key) == ["z", "a", "s", "e"])
        #expect(members[0].value == .number("18446744073709551615"))
        #expect(members[2].value == .raw(#""\ud800""#))
        #expect(members[3].value == .string("tab\tquote\"é😀"))
        let out = String(decoding: try #require(JsonValueMutator.encode(tree, pretty: false)), as: UTF8.self)
        #expect(out.hasPrefix(#"{"z":18446744073709551615,"a":[1e300,-0.0,0.5],"s":"\ud800","#))
    }

    @Test func nonJsonIsRefused() {
        for text in ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "\"a\nb\"", "nul", "{} x", "\"\\x\""] {
            #expect(JsonValueMutator.parse(Array(text.utf8)) == nil, "\(text)")
        }
        #expect(JsonValueMutator.parse(Array((String(repeating: "[", count: 2_100) + String(repeating: "]", count: 2_100)).utf8)) == nil)
        #expect(JsonValueMutator.parse(Array("\u{feff} [true, null] \r\n".utf8)) == .array([.bool(true), .null]))
    }

    @Test func mutationsChangeDocumentsAndStayMostlyJson() throws {
        let seed = Array(try JsonReport.render(Fixtures.mixedReport(), compact: true).utf8)
        let original = try #require(JsonValueMutator.parse(seed))
        var rng = SplitMix64(state: 3)
        var changed = 0, json = 0, crlf = 0
        for _ in 0..<300 {
            // nil: the encoding passed the 1 MiB default limit (a grown array of 64 KiB strings).
            guard let out = JsonValueMutator.mutate(seed, &rng) else { continue }
            if out != seed { changed += 1 }
            if let t = JsonValueMutator.parse(out), t != original { json += 1 }
            if out.contains(0x0d) { crlf += 1 }
        }
        #expect(changed > 250, "\(changed)")
        #expect(json > 100, "\(json)")
        #expect(crlf > 5, "\(crlf)")
    }

    @Test func encodingStopsAtTheLimit() throws {
        let big = JsonValueMutator.Json.array(Array(repeating: .string(String(repeating: "x", count: 65_536)), count: 64))
        #expect(JsonValueMutator.encode(big, pretty: false, limit: 1 << 20) == nil)
        #expect(JsonValueMutator.encode(big, pretty: false, limit: 5 << 20)?.count == 64 * 65_538 + 65)
        let seed = Array(try JsonReport.render(Fixtures.mixedReport(), compact: true).utf8)
        var rng = SplitMix64(state: 9)
        for _ in 0..<200 { #expect((JsonValueMutator.mutate(seed, &rng, limit: seed.count + 64)?.count ?? 0) <= seed.count + 64) }
    }
}
