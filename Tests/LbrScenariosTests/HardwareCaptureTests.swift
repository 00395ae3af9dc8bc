// The shipped hardware-shaped captures (Tests/LbrScenariosTests/Captures/, scripts/make-hw-captures.py, built from
// the upstream rules of docs/reference.md §9.6–§9.7) judged by today's detectors: they abstain where the evidence
// is too thin (where the share rule said `coexist` or won by chance) and decide where it is not.
import Foundation
import LbrCore
@testable import LbrScenarios
import Testing

struct HardwareCaptureTests {
    static func load(_ name: String, filePath: String = #filePath) throws -> RunCapture {
        let url = URL(fileURLWithPath: filePath).deletingLastPathComponent().appendingPathComponent("Captures/\(name)")
        let c = try JSONDecoder().decode(RunCapture.self, from: Data(contentsOf: url))
        #expect(c.problem == nil && c.backend == .hw && c.host?.cpuModel == 0x55)
        return c
    }

    @Test func fewSamplesPerPhaseAbstain() throws {
        let c = try Self.load("hw-few-samples.capture.json")
        let r = c.rejudge(source: "hw-few-samples")
        let byName = Dictionary(r.results.map { ($0.scenario, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(r.results.filter { $0.scenario == "host-first" }.map(\.outcome.detail)
                == ["inconclusive(too few samples: 3)", "inconclusive(too few samples: 0)"])
        #expect(byName["host-preempts"]?.outcome.detail == "inconclusive(too few samples: 1)")
        #expect(byName["irq-takeover"]?.outcome.detail == "inconclusive(too few samples: 5)+inconclusive(too few samples: 2)")
        #expect(r.results.allSatisfy { $0.status == .error })
        // The share rule before the minimum N, on the same phases: a verdict by chance.
        var old: [String] = []
        for run in c.runs {
            for p in RunCapture.rederived(run.records, session: run.session) {
                for case let .hostSamples(s) in p.observations.map(\.observation) {
                    old.append(s.staleRepeats * 2 > s.samples ? "guest-wins-host-starved" : "coexist")
                }
            }
        }
        #expect(old == ["guest-wins-host-starved", "coexist", "coexist", "guest-wins-host-starved", "coexist"])
    }

    @Test func errorVlbrWithGuestLbrOnLeaksIntoHostSamples() throws {
        let r = try Self.load("hw-error-leak.capture.json").rejudge(source: "hw-error-leak")
        let x = try #require(r.results.first)
        #expect(x.outcome.code == "guest-traced+guest-traced" && x.status == .pass)
        let f = try #require(x.findings.first { $0.kind == .guestBranchLeak })
        #expect(f.count == 103 && f.phase == "incl-guest" && f.kind.securityRelevant)
        #expect(f.summary.contains("excl-guest: 7 guest branch record(s) in 39 sample(s) of pinned-lbr-any-cycles"))
        // The vLBR was not active (counter 58 held, TOS write dropped): no starvation, fresh samples.
        let p = try #require(x.phases.first { $0.phase == "incl-guest" })
        #expect(p.inferred == .notActive && p.hostLbrSamples == 41)
        // The TOS probe's accesses come from raw kvm_msr lines, attributed by judge: both trapped.
        let msr = try #require(p.signals.first { $0.kind == .msrPassthrough })
        #expect(msr.vote == .notActive && msr.evidence.contains("2 LBR MSR accesses, 2 trapped, last trapped"), "\(msr.evidence)")
    }

    @Test func loweredSampleRateWithCalibratedTimeDecides() throws {
        let r = try Self.load("hw-lowered-rate.capture.json").rejudge(source: "hw-lowered-rate")
        let x = try #require(r.results.first)
        #expect(x.outcome.code == "guest-wins-host-starved" && x.status == .pass)
        let s = try #require(x.phases[0].signals.first { $0.kind == .hostStarvation })
        #expect(s.sampleVote == SampleVote(samples: 38, matching: 37))
        #expect(x.phases[0].evidence.contains { $0.contains("period 200000") && $0.contains("2 throttled") })
    }

    /// The same scenarios as a calibrated run records them (40 kept samples per contended phase): the expected
    /// verdicts of expectations/mainline.expect.
    @Test func calibratedSampleTimeDecides() throws {
        let c = try Self.load("hw-calibrated.capture.json")
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../expectations/mainline.expect").standardized
        let expectations = try ExpectationSet.parse(try String(contentsOf: url, encoding: .utf8), file: url.path)
        let r = c.rejudge(expectations: expectations, source: "hw-calibrated")
        #expect(r.results.map(\.scenario) == ["host-first", "host-preempts", "irq-takeover"])
        for x in r.results {
            #expect(x.status == .pass, "\(x.scenario): \(x.outcome.detail)")
            guard case .met = x.expectation else { Issue.record("\(x.scenario): \(x.expectation)"); continue }
        }
        let votes = r.results.flatMap { $0.phases.compactMap { $0.signals.first { $0.kind == .hostStarvation }?.sampleVote } }
        #expect(votes == Array(repeating: SampleVote(samples: 40, matching: 39), count: 4))
    }

    /// The shipped captures hold raw samples only: every summary is derived by the detector, stale repeats from
    /// exact (hw_idx, entries) equality with the sample before (a filtered seed read included), guest branches
    /// from exact edges (an entry inside the payload's range that is no edge does not count).
    @Test func summariesAreDerivedFromRawSamples() throws {
        for name in ["hw-few-samples.capture.json", "hw-calibrated.capture.json", "hw-error-leak.capture.json",
                     "hw-lowered-rate.capture.json"] {
            let c = try Self.load(name)
            #expect(c.schema == RunCapture.currentSchema)
            for run in c.runs {
                let obs = run.records.flatMap { $0.observations.map(\.observation) }
                #expect(!obs.contains { if case .hostSamples = $0 { return true }; return false }, "\(name)")
                #expect(obs.contains { if case .hostSampleRecords = $0 { return true }; return false }, "\(name)")
                #expect(run.session.guestEdges != nil && run.session.sampling != nil)
            }
        }
        let leak = try Self.load("hw-error-leak.capture.json").runs[0]
        let incl = try #require(leak.records.first { $0.phase == "incl-guest" })
        let records = try #require(incl.observations.compactMap { if case let .hostSampleRecords(r) = $0.observation { return r }; return nil }.first)
        let byRange = records.summary(guestEdges: nil).guestAddresses
        let exact = records.summary(guestEdges: leak.session.guestEdges).guestAddresses
        #expect(exact == 96 && byRange == 128)
        #expect(records.summary(guestEdges: leak.session.guestEdges).filteredOut == 1)
        let low = try Self.load("hw-lowered-rate.capture.json").runs[0]
        #expect(low.session.sampling == SamplingInForce(period: 200_000, maxSampleRate: 25_000, cpuTimeMaxPercent: 25,
                                                        periodNs: 66_667))
    }

    /// Hostile captures: seeded byte mutations of a shipped capture either fail to decode or decode into something
    /// `rejudge` handles — never a trap, never an out-of-range stack index.
    @Test func mutatedCapturesNeverTrap() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Captures/hw-lowered-rate.capture.json")
        let original = Array(try Data(contentsOf: url))
        var rng = SplitMix64(state: 0x6361_7074_7572_6532)
        let alphabet = Array("0123456789-.,:[]{}\"e".utf8)
        var decoded = 0
        for _ in 0..<300 {
            var bytes = original
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let i = Int(rng.next() % UInt64(bytes.count))
                bytes[i] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
            }
            guard let c = try? JSONDecoder().decode(RunCapture.self, from: Data(bytes)) else { continue }
            decoded += 1
            if c.problem == nil { _ = c.rejudge(source: "mutated") }
        }
        #expect(decoded > 0)
    }

    /// `judge` attributes raw kvm_msr lines again and replaces exactly the observations the run derived from them
    /// (step boundaries follow).
    @Test func kvmMsrLinesAreAttributedAgain() {
        let layout = LbrLayout.skylake
        let lines = KvmMsrTraceLines(events: [KvmMsrEvent(isWrite: true, index: layout.tos, data: 3, exception: false)],
                                     rdmsrSites: [1], wrmsrSites: [2], derived: 2)
        let result = GuestResult(command: .probeTos(3), status: .ok, values: [3])
        // What an older detector derived (both accesses passed through), then the command's result.
        let stale = MsrAccess(index: layout.tos, isWrite: true, value: 3, trapped: false)
        let obs: [Observation] = [.note("before"), .kvmMsrTrace(lines), .msrAccess(stale), .msrAccess(stale), .guest(result), .note("after")]
        let record = PhaseRecord(phase: "p", observations: obs.enumerated().map { TimedObservation(timeNs: UInt64($0.offset), $0.element, basis: .hardware) },
                                 stepsCompleted: 2, startNs: 0, endNs: 9, stepEnds: [1, 6])
        var session = SessionInfo(backend: .hw, model: nil, cpu: 0, lbrLayout: layout)
        session.guestEdges = nil
        let out = RunCapture.rederived([record], session: session)[0]
        let accesses = out.observations.compactMap { if case let .msrAccess(a) = $0.observation { return a }; return nil }
        #expect(accesses.count == 2 && accesses[0].trapped && !accesses[1].trapped && accesses[1].value == 3)
        #expect(out.observations.count == obs.count && out.stepEnds == [1, 6])
        #expect(out.observations.map(\.timeNs) == record.observations.map(\.timeNs))
        // A hostile derived count (past the result) leaves the record as it is.
        var bad = record
        bad.observations[1] = TimedObservation(timeNs: 1, .kvmMsrTrace(KvmMsrTraceLines(events: [], rdmsrSites: [], wrmsrSites: [], derived: .max)), basis: .hardware)
        #expect(RunCapture.rederived([bad], session: session)[0] == bad)
    }
}
