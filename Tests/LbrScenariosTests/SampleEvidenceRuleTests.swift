// The minimum-N rule and exact-repeat starvation (docs/reference.md §9.6) on hardware-shaped host samples:
// a contended phase with 1-5 kept samples abstains (`inconclusive(too few samples: N)`), never `coexist`; a lone
// empty stack is noted, not a starvation vote; an empty stack that repeats its predecessor exactly is stale.
import LbrTestSupport
import LbrCore
@testable import LbrScenarios
import Testing

struct SampleEvidenceRuleTests {
    static let session = SessionInfo(backend: .hw, model: nil, cpu: 3, lbrLayout: .skylake)
    static let contender = Contender.pinnedLbr.name

    static func sample(_ i: Int, hwIdx: UInt64?, entries: Int) -> PerfRecord {
        var s = PerfSampleRecord()
        s.tid = 4242; s.cpu = 3; s.time = 1_000_000 + UInt64(i) * 32_000
        s.branchStack = PerfBranchStack(hwIndex: hwIdx, entries: (0..<entries).map {
            PerfBranchEntry(from: 0xffff_ffff_8120_0000 + UInt64($0) * 0x40, to: 0xffff_ffff_8120_0010 + UInt64($0) * 0x40)
        })
        return .sample(s)
    }

    /// host-first with `summary` as the contended phase's host samples and a TOS probe that stuck.
    static func hostFirst(_ summary: HostSampleSummary) -> [PhaseRecord] {
        let obs: [TimedObservation] = [
            TimedObservation(timeNs: 0, .guest(GuestResult(command: .enableLbr(freezeOnPmi: false), status: .ok, values: [DebugCtl.lbr])), basis: .hardware),
            TimedObservation(timeNs: 0, .guest(GuestResult(command: .probeTos(3), status: .ok, values: [3])), basis: .hardware),
            TimedObservation(timeNs: 0, .hostEvent(contender: contender, state: .active, enabledNs: 10, runningNs: 10), basis: .hardware),
            TimedObservation(timeNs: 0, .hostSamples(summary), basis: .hardware),
        ]
        return [PhaseRecord(phase: "contended", observations: obs, stepsCompleted: 4, startNs: 0, endNs: 1)]
    }

    @Test(arguments: 0...5)
    func fewSamplesAbstainInsteadOfCoexist(n: Int) throws {
        // Fresh stacks (no stale repeat): the old share rule would call the host fed, i.e. `coexist`.
        let records = (0..<n).map { Self.sample($0, hwIdx: UInt64($0), entries: 32) }
        let s = SampleAnalysis.summarize(contender: Self.contender, records: records, guestRange: nil, cpu: 3)
        let r = VerdictEngine.evaluate(scenario: Catalog.hostFirst, session: Self.session, records: Self.hostFirst(s))
        #expect(r.outcome.code == "inconclusive")
        #expect(r.outcome.terms.first?.reason == "too few samples: \(n)")
        let c = try #require(r.phases.first)
        #expect(c.hostLbrSamples == n && c.hostStarved == nil)
        #expect(!c.signals.contains { $0.kind == .hostStarvation })
        #expect(c.evidence.contains { $0.contains("too few samples (N = \(n) < 8") })
        #expect(IdealisedRules.hostStarved(samples: n, empty: 0) == false) // the old rule: coexist
    }

    @Test func enoughFreshSamplesSayCoexistWithNAndShare() throws {
        let records = (0..<40).map { Self.sample($0, hwIdx: UInt64($0 % 32), entries: 32) }
        let s = SampleAnalysis.summarize(contender: Self.contender, records: records, guestRange: nil, cpu: 3)
        let r = VerdictEngine.evaluate(scenario: Catalog.hostFirst, session: Self.session, records: Self.hostFirst(s))
        #expect(r.outcome.code == "coexist")
        let v = try #require(r.phases[0].signals.first { $0.kind == .hostStarvation })
        #expect(v.vote == .notActive && v.sampleVote == SampleVote(samples: 40, matching: 0))
        #expect(v.evidence.hasPrefix("N = 40 host LBR samples, 0/40 (0%)"))
    }

    @Test func loneEmptyStacksAreNotedNotStarvation() throws {
        // br_sel left by intel_pmu_lbr_del(): host kernel-mode reads come out nr == 0, hw_idx still moves.
        let records = (0..<20).map { Self.sample($0, hwIdx: UInt64($0), entries: 0) }
        let s = SampleAnalysis.summarize(contender: Self.contender, records: records, guestRange: nil, cpu: 3)
        #expect(s.emptyBranches == 20 && s.staleRepeats == 0)
        let r = VerdictEngine.evaluate(scenario: Catalog.hostFirst, session: Self.session, records: Self.hostFirst(s))
        let c = r.phases[0]
        #expect(c.signals.first { $0.kind == .hostStarvation }?.vote == .notActive)
        #expect(c.evidence.contains { $0.contains("empty stack (nr == 0): 20/20") && $0.contains("not a starvation vote") })
        // The old rule counted them as starved.
        #expect(IdealisedRules.hostStarved(samples: 20, empty: 20))
    }

    @Test func emptyStacksThatRepeatExactlyAreStale() {
        // The same hw_idx and nr == 0 again: cpuc->lbr_stack re-attached (starved) — counted; without hw_idx
        // two empty stacks cannot be told from two genuine empty reads — not counted.
        let same = (0..<10).map { Self.sample($0, hwIdx: 7, entries: 0) }
        #expect(SampleAnalysis.summarize(contender: "c", records: same, guestRange: nil).staleRepeats == 9)
        let noIdx = (0..<10).map { Self.sample($0, hwIdx: nil, entries: 0) }
        #expect(SampleAnalysis.summarize(contender: "c", records: noIdx, guestRange: nil).staleRepeats == 0)
    }

    @Test func tracingNeedsTheMinimumToSayNotTraced() {
        let few = HostSampleSummary(contender: Contender.pinnedLbrIncludingGuest.name, samples: 3, withBranches: 3,
                                    emptyBranches: 0, guestAddresses: 0)
        let many = HostSampleSummary(contender: Contender.pinnedLbrIncludingGuest.name, samples: 40, withBranches: 40,
                                     emptyBranches: 0, guestAddresses: 0)
        let hit = HostSampleSummary(contender: Contender.pinnedLbrIncludingGuest.name, samples: 1, withBranches: 1,
                                    emptyBranches: 0, guestAddresses: 2)
        func rec(_ p: String, _ s: HostSampleSummary) -> PhaseRecord {
            PhaseRecord(phase: p, observations: [TimedObservation(timeNs: 0, .hostSamples(s), basis: .hardware)], stepsCompleted: 1, startNs: 0, endNs: 1)
        }
        let r = VerdictEngine.evaluate(scenario: Catalog.guestTraced, session: Self.session,
                                       records: [rec("lbr-off", few), rec("lbr-on", many)])
        #expect(r.outcome.code == "inconclusive+not-traced")
        let t = VerdictEngine.evaluate(scenario: Catalog.guestTraced, session: Self.session,
                                       records: [rec("lbr-off", hit), rec("lbr-on", many)])
        #expect(t.outcome.code == "guest-traced+not-traced") // an exact hit needs no minimum
    }
}
