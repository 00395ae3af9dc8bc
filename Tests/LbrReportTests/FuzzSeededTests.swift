// The short seeded run of the fuzz targets (the coverage-guided runs are scripts/fuzz.sh): the same
// three parsers and invariants as Fuzz/*.swift, on deterministic mutations (bit flips, byte insertions and
// deletions, splices, truncations) of real inputs.

import Foundation
import LbrDocument
import LbrCore
import LbrReport
import LbrScenarios
import LbrTestSupport
import Testing

/// Byte mutations for the seeded fuzz runs (SplitMix64: deterministic, so a failure reproduces).
extension SplitMix64 {
    /// One mutation of `seed`.
    mutating func mutate(_ seed: [UInt8], dictionary: [[UInt8]]) -> [UInt8] {
        var b = seed
        for _ in 0..<(1 + below(4)) {
            switch below(6) {
            case 0 where !b.isEmpty: b[below(b.count)] ^= UInt8(1 << below(8))
            case 1: b.insert(UInt8(truncatingIfNeeded: next()), at: below(b.count + 1))
            case 2 where !b.isEmpty: b.remove(at: below(b.count))
            case 3: b = Array(b.prefix(below(b.count + 1)))
            case 4: let w = dictionary[below(dictionary.count)]; b.insert(contentsOf: w, at: below(b.count + 1))
            default: if !b.isEmpty { let i = below(b.count); b.replaceSubrange(i..<min(b.count, i + 8), with: [0xff, 0xfe, 0x00, 0x0a]) }
            }
        }
        return b
    }
}

@Suite("Seeded fuzz runs")
struct FuzzSeededTests {
    static let iterations = 1500

    @Test func expectParserSurvivesMutations() throws {
        let seeds = try ["mainline.expect", "seed-2023.expect"].compactMap {
            try? Array(Data(contentsOf: repoRoot().appendingPathComponent("expectations/" + $0)))
        } + [Array("guest-baseline vlbr-active|recovered(*)+*\nhost-first@mainline *\n".utf8)]
        #expect(!seeds.isEmpty)
        let dict = ["@", "|", "+", "*", "#", "\n", "recovered(", "guest-baseline", "\t", "\r\n"].map { Array($0.utf8) }
        var rng = SplitMix64(state: 11)
        let scenarios = Set(Catalog.names), models: Set<String> = ["mainline", "seed-2023"]
        for _ in 0..<Self.iterations {
            let input = rng.mutate(seeds[rng.below(seeds.count)], dictionary: dict)
            let text = String(decoding: input, as: UTF8.self)
            let lines = ExpectationSet.lines(text).count
            let parsed: Result<ExpectationSet, ExpectationParseError>
            do { parsed = .success(try ExpectationSet.parse(text, file: "f", knownScenarios: scenarios, knownModels: models)) }
            catch { parsed = .failure(error) }
            switch parsed {
            case let .success(set):
                #expect(set.entries.allSatisfy { (1...lines).contains($0.line) && !$0.scenario.isEmpty })
            case let .failure(error):
                for e in error.errors {
                    #expect(!e.message.contains("\n") && e.message.utf8.count < 2_000 && (1...lines).contains(e.line))
                }
            }
        }
    }

    @Test func runDocumentReaderSurvivesMutations() throws {
        let seed = Array(try JsonReport.render(Fixtures.mixedReport()).utf8)
        let dict = ["{", "}", "[", "]", "\"", ":", ",", "null", "1e999", "-0", "\"schema\"", "\\u0000"].map { Array($0.utf8) }
        var rng = SplitMix64(state: 12)
        var decoded = 0
        for _ in 0..<Self.iterations {
            let input = rng.mutate(seed, dictionary: dict)
            do {
                let doc = try RunDocumentReader.decode(Data(input), source: "f")
                _ = try JSONEncoder().encode(doc)
                decoded += 1
            } catch let e as RunDocumentError {
                #expect(!e.message.contains("\n"), "\(e.message.prefix(200))")
            }
        }
        #expect(decoded > 0, "some mutations stay valid documents")
    }

    @Test func guestMailboxDecoderSurvivesMutations() {
        var rng = SplitMix64(state: 13)
        for _ in 0..<Self.iterations * 4 {
            let ops = GuestMailbox.Opcode.allCases
            let request = GuestMailbox.Request(opcode: ops[rng.below(ops.count)], arg0: rng.next(), depth: UInt32(rng.below(64)),
                                               info: UInt32(rng.below(2)))
            let seq = UInt32(truncatingIfNeeded: rng.next() % 4)
            var page = [UInt8](repeating: 0, count: rng.below(GuestMailbox.pageSize + 1))
            for i in page.indices where rng.below(3) == 0 { page[i] = UInt8(truncatingIfNeeded: rng.next()) }
            // A plausible header half the time: the seq, a known status, a small value count.
            if page.count >= 16, rng.below(2) == 0 {
                withUnsafeBytes(of: seq.littleEndian) { page.replaceSubrange(0..<4, with: $0) }
                withUnsafeBytes(of: UInt32(rng.below(5)).littleEndian) { page.replaceSubrange(4..<8, with: $0) }
                withUnsafeBytes(of: UInt64(rng.below(80)).littleEndian) { page.replaceSubrange(8..<16, with: $0) }
            }
            let reply = GuestMailbox.decode(page, seq: seq, request: request)
            #expect(reply.values.count <= GuestMailbox.maxValues)
        }
    }
}
