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
        let byName = Dictionary(uniqueKeysWithValues: r.results.map { ($0.scenario, $0) })
        #expect(byName["host-first"]?.outcome.detail == "inconclusive(too few samples: 3)")
        #expect(byName["host-preempts"]?.outcome.detail == "inconclusive(too few samples: 1)")
        #expect(byName["irq-takeover"]?.outcome.detail == "inconclusive(too few samples: 5)+inconclusive(too few samples: 2)")
        #expect(r.results.allSatisfy { $0.status == .error })
        // The share rule before the minimum N, on the same phases: a verdict by chance.
        var old: [String] = []
        for run in c.runs {
            for p in run.records {
                for case let .hostSamples(s) in p.observations.map(\.observation) {
                    old.append(s.staleRepeats * 2 > s.samples ? "guest-wins-host-starved" : "coexist")
                }
            }
        }
        #expect(old == ["guest-wins-host-starved", "coexist", "guest-wins-host-starved", "coexist"])
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
    }

    @Test func loweredSampleRateWithCalibratedTimeDecides() throws {
        let r = try Self.load("hw-lowered-rate.capture.json").rejudge(source: "hw-lowered-rate")
        let x = try #require(r.results.first)
        #expect(x.outcome.code == "guest-wins-host-starved" && x.status == .pass)
        let s = try #require(x.phases[0].signals.first { $0.kind == .hostStarvation })
        #expect(s.sampleVote == SampleVote(samples: 38, matching: 37))
        #expect(x.phases[0].evidence.contains { $0.contains("period 200000") && $0.contains("2 throttled") })
    }
}
