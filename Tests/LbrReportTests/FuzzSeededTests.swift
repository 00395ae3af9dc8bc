// The short seeded run of the fuzz targets (the coverage-guided runs are scripts/fuzz.sh): the same
// parsers and invariants as Fuzz/*.swift — the --expect parser, the run-document readers, the capture reader,
// the guest mailbox — on deterministic mutations of real inputs: bytes (bit flips, insertions and deletions,
// splices, truncations) and, for the JSON readers, values (JsonValueMutator, the structure-aware targets').

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
        let seeds = ["mainline.expect", "seed-2023.expect"].compactMap {
            try? Array(Data(contentsOf: repoRoot().appendingPathComponent("expectations/" + $0)))
        } + [Array("guest-baseline vlbr-active|recovered(*)+*\nhost-first@mainline *\n".utf8),
             // CRLF, CR and BOM files (docs/robustness.md).
             Array("guest-baseline vlbr-active\r\nhost-first *\r\n".utf8), Array("guest-baseline vlbr-active\rhost-first *\r".utf8),
             [0xef, 0xbb, 0xbf] + Array("guest-baseline vlbr-active\n".utf8)]
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

    /// Value-level mutations (JsonValueMutator, the coverage-guided rundoc-struct target's mutator) of real run
    /// documents and the crafted ones of docs/robustness.md: every input reads or fails with one line, and what
    /// reads goes through the timeline, contract and compare renderers.
    @Test func runDocumentReadersSurviveValueMutations() throws {
        let report = Fixtures.mixedReport()
        var seeds = [Array(try JsonReport.render(report, compact: true).utf8)]
        for crafted in Self.craftedRunDocuments(report) { seeds.append(crafted) }
        var rng = SplitMix64(state: 14)
        var decoded = 0, refused = 0
        // Whole documents through four renderers: fewer inputs than the byte-level runs (a few seconds).
        for i in 0..<Self.iterations / 5 {
            let seed = seeds[i % seeds.count]
            let input = JsonValueMutator.mutate(seed, &rng) ?? rng.mutate(seed, dictionary: [])
            do {
                let doc = try RunDocumentReader.decode(Data(input), source: "f")
                _ = try JSONEncoder().encode(doc)
                #expect(TimelineSvg.render(doc).utf8.count < 64 << 20)
                do throws(ContractError) { _ = try Contract.render([doc], models: [], format: .markdown) } catch {
                    let message = error.message
                    #expect(!message.contains("\n"), "\(message.prefix(200))")
                }
                decoded += 1
            } catch let e as RunDocumentError {
                #expect(!e.message.contains("\n") && e.message.utf8.count < 4_000, "\(e.message.prefix(200))")
                #expect(e.exitCode == .dataError)
                refused += 1
            }
            do {
                let input = try Compare.decode(Data(input), source: "f")
                _ = try Compare.render(try Compare.run([input, input]), format: .text)
            } catch let e as RunDocumentError {
                #expect(!e.message.contains("\n"), "\(e.message.prefix(200))")
            } catch let e as Compare.Failure {
                #expect(!e.message.contains("\n"), "\(e.message.prefix(200))")
            }
        }
        #expect(decoded > 0 && refused > 0, "decoded \(decoded), refused \(refused)")
    }

    /// The crafted run documents of docs/robustness.md: duration_ms = 1e19 and 1e300, a timeline event with
    /// dur_ns = 2^62 and one at t_ns = 1e15, a BOM in front, CRLF line ends.
    static func craftedRunDocuments(_ report: RunReport) -> [[UInt8]] {
        guard let text = try? JsonReport.render(report),
              let doc = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { return [] }
        func variant(_ f: (inout [String: Any]) -> Void) -> [UInt8] {
            var d = doc
            f(&d)
            return (try? JSONSerialization.data(withJSONObject: d)).map { Array($0) } ?? []
        }
        func timeline(_ key: String, _ value: Any) -> (inout [String: Any]) -> Void {
            { d in
                guard var results = d["results"] as? [[String: Any]],
                      let i = results.firstIndex(where: { !(($0["timeline"] as? [Any]) ?? []).isEmpty }),
                      var events = results[i]["timeline"] as? [[String: Any]] else { return }
                events[0][key] = value
                results[i]["timeline"] = events
                d["results"] = results
            }
        }
        return [
            variant { $0["duration_ms"] = 1e19 },
            variant { $0["duration_ms"] = 1e300 },
            variant(timeline("dur_ns", Int64(1) << 62)),
            variant(timeline("t_ns", Int64(1_000_000_000_000_000))),
            [0xef, 0xbb, 0xbf] + Array(text.utf8),
            Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8),
        ]
    }

    /// The capture reader of `judge` (CaptureReader, as the capture / capture-struct fuzz targets): byte and
    /// value-level mutations of the shipped captures and one of a simulated run; every input reads or fails with
    /// one bounded line, and what reads is judged again and rendered.
    @Test func captureReaderSurvivesMutations() throws {
        let dir = repoRoot().appendingPathComponent("Tests/LbrScenariosTests/Captures")
        let seeds = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
            .filter { $0.hasSuffix(".capture.json") }
            .map { Array(try Data(contentsOf: dir.appendingPathComponent($0))) }
        #expect(!seeds.isEmpty)
        let dict = ["{", "}", "[", "]", "\"", ":", ",", "null", "1e999", "-1", "\"runs\"", "\"_0\"", "18446744073709551615"]
            .map { Array($0.utf8) }
        var rng = SplitMix64(state: 15)
        var judged = 0, refused = 0
        for i in 0..<Self.iterations {
            let seed = seeds[i % seeds.count]
            let input = rng.below(2) == 0 ? (JsonValueMutator.mutate(seed, &rng) ?? seed) : rng.mutate(seed, dictionary: dict)
            let capture: RunCapture
            do throws(CaptureReader.Failure) { capture = try CaptureReader.decode(input) } catch {
                let message = error.message
                #expect(!message.contains("\n") && message.utf8.count <= 2_000, "\(message.prefix(200))")
                refused += 1
                continue
            }
            let report = capture.rejudge(source: "f")
            #expect(report.results.count == capture.runs.count)
            var bytes = 0
            TextReport.render(report, evidence: true) { bytes += $0.utf8.count }
            TapReport.render(report) { bytes += $0.utf8.count }
            try JsonReport.render(report, compact: true) { bytes += $0.utf8.count }
            #expect(bytes > 0)
            judged += 1
        }
        #expect(judged > 0 && refused > 0, "judged \(judged), refused \(refused)")
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

/// The capture reader's range checks (CaptureLimits) and the timeline builder on what they refuse.
@Suite struct CaptureReaderTests {
    static func shipped(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: repoRoot().appendingPathComponent("Tests/LbrScenariosTests/Captures/\(name)"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// `capture` with `f` applied to its first run's first record.
    static func withFirstRecord(_ capture: [String: Any], _ f: (inout [String: Any]) -> Void) throws -> [UInt8] {
        var c = capture
        var runs = try #require(c["runs"] as? [[String: Any]])
        var records = try #require(runs[0]["records"] as? [[String: Any]])
        f(&records[0])
        runs[0]["records"] = records
        c["runs"] = runs
        return Array(try JSONSerialization.data(withJSONObject: c))
    }

    /// Step boundaries that go back (the capture fuzz target's crash: `judge --format json` trapped on a Range
    /// in the timeline builder) are refused in one line naming the field, exit 65 in judge.
    @Test func backwardStepBoundariesAreRefused() throws {
        let capture = try Self.shipped("hw-lowered-rate.capture.json")
        #expect(throws: Never.self) { _ = try CaptureReader.decode(Self.withFirstRecord(capture) { _ in }) }
        let bytes = try Self.withFirstRecord(capture) { $0["stepEnds"] = [1, 2, 3, 1, 5, 6, 7, 8] }
        do throws(CaptureReader.Failure) {
            _ = try CaptureReader.decode(bytes)
            Issue.record("accepted backward step boundaries")
        } catch {
            #expect(error.message == "runs[0].records[0].stepEnds[3] = 1 is outside [3, 8] (step boundaries ascend within the phase's observations)")
        }
    }

    /// Counts, times and command sizes out of range are refused, each naming its field.
    @Test func numbersOutOfRangeAreRefused() throws {
        let capture = try Self.shipped("hw-lowered-rate.capture.json")
        let cases: [((inout [String: Any]) -> Void, String)] = [
            ({ $0["startNs"] = UInt64(1) << 63 }, "runs[0].records[0].startNs = 9223372036854775808 is outside [0, 2^62] ns"),
            ({ r in
                var obs = r["observations"] as! [[String: Any]]
                obs[0]["timeNs"] = UInt64.max
                r["observations"] = obs
            }, "runs[0].records[0].observations[0].timeNs = 18446744073709551615 is outside [0, 2^62] ns"),
        ]
        for (f, message) in cases {
            let bytes = try Self.withFirstRecord(capture, f)
            do throws(CaptureReader.Failure) {
                _ = try CaptureReader.decode(bytes)
                Issue.record("accepted: \(message)")
            } catch {
                #expect(error.message == message)
            }
        }
    }

    /// The timeline builder never traps on records it is handed (a report built in memory is not range-checked):
    /// step boundaries that go back are skipped, MSR accesses out of time order and a running time beyond the
    /// enabled time are drawn.
    @Test func timelineToleratesDisorderedRecords() throws {
        let capture = try CaptureReader.decode(Array(try JSONSerialization.data(withJSONObject: Self.shipped("hw-lowered-rate.capture.json"))))
        var r = try #require(capture.rejudge(source: "t").results.first)
        r.records[0].stepEnds = [2, 1, 3, 8]
        let obs = r.records[0].observations
        r.records[0].observations.append(contentsOf: obs.map { o in
            var o = o
            o.timeNs = 0   // before everything else
            if case let .hostEvent(c, s, _, _) = o.observation { o.observation = .hostEvent(contender: c, state: s, enabledNs: 1, runningNs: UInt64.max) }
            return o
        })
        r.records[0].observations.append(contentsOf: obs)   // the same MSR state again, now later
        let t = try #require(Timeline.events(r))
        #expect(!t.events.isEmpty)
    }
}
