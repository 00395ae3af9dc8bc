// §9.1 on the model-backed backends (docs/model.md "Host reads before the vLBR is scheduled in"): the vCPU thread
// blocks between commands, so the CPU-pinned host LBR event reads its LBRs in host mode, and every host sample the
// detector keeps in a contended phase (the vCPU thread's, while the vLBR is active) re-attaches that last real read:
// a stale repeat of (hw_idx, entries), never an empty stack. Sim always, hybrid where KVM is usable.
import LbrTestSupport
import LbrBackends
import LbrCore
import LbrScenarios
import Testing

@Suite(.serialized) struct StaleRepeatTests {
    @Test func mainlineStarvationIsStaleRepeats() throws {
        var kinds: [BackendKind] = [.sim]
        if ThisHost.hybridAvailable { kinds.append(.hybrid) }
        let scenarios = ["host-first", "host-preempts", "irq-takeover"].compactMap(Catalog.named)
        #expect(scenarios.count == 3)
        for k in kinds {
            let r = ThisHost.run(try Backends.make(kind: k, model: "mainline", profile: ThisHost.profile), scenarios)
            for x in r.results {
                let contended = x.phases.filter { $0.role == .contended }
                #expect(!contended.isEmpty)
                for p in contended {
                    let lbr = p.host.filter { $0.samples > 0 }
                    #expect(!lbr.isEmpty, "\(k) \(x.scenario) \(p.phase): no host samples")
                    for h in lbr {
                        #expect((h.staleRepeats ?? 0) == h.samples && h.emptyBranches == 0,
                                "\(k) \(x.scenario) \(p.phase): \(h)")
                        #expect(h.staleExample?.contains("hw_idx") == true)
                    }
                    #expect(p.hostStarved == true)
                    let s = try #require(p.signals.first { $0.kind == .hostStarvation }, "\(k) \(x.scenario) \(p.phase)")
                    #expect(s.vote == .active && s.evidence.contains("stale repeats of the same hw_idx") && !s.evidence.contains("empty"),
                            "\(s.evidence)")
                    // Calibrated host-mode time: the vote stands on at least 32 samples, and says so.
                    let n = try #require(s.sampleVote?.samples)
                    #expect(n >= HostSampling.minimumCalibratedSamples && s.evidence.contains("N = \(n)"), "\(s.evidence)")
                    // The real reads in the vCPU thread's waits are written to the ring but not kept.
                    #expect(p.evidence.contains { $0.contains("filtered out") }, "\(p.evidence)")
                }
            }
        }
    }
}

/// The sample-evidence rule on the model-backed backends: host samples come from the hw period (100,000 counts)
/// and the calibrated host-mode time, so every host-starvation vote of the default set, on every kernel model,
/// stands on at least 32 samples and carries its N and share.
@Suite struct SampleEvidenceTests {
    @Test(arguments: Backends.modelNames)
    func everyStarvationVoteStandsOnThirtyTwoSamples(model: String) throws {
        let r = ThisHost.run(try Backends.make(kind: .sim, model: model, profile: ThisHost.profile), Catalog.defaultSet)
        var votes = 0
        for x in r.results {
            for p in x.phases {
                for s in p.signals where s.kind == .hostStarvation {
                    votes += 1
                    let v = try #require(s.sampleVote, "\(model) \(x.scenario) \(p.phase)")
                    #expect(v.samples >= HostSampling.minimumCalibratedSamples, "\(model) \(x.scenario) \(p.phase): \(s.evidence)")
                    #expect(s.evidence.contains("N = \(v.samples)") && s.evidence.contains("\(v.matching)/\(v.samples)"))
                }
                // A phase whose host side rests on samples never decides on fewer than the minimum.
                if let n = p.hostLbrSamples, n < VerdictEngine.minimumHostSamples {
                    #expect(!p.signals.contains { $0.kind == .hostStarvation })
                }
            }
            #expect(!x.outcome.code.contains("inconclusive"), "\(model) \(x.scenario): \(x.outcome.code)")
        }
        if r.results.contains(where: { $0.outcome.code != "no-guest-lbr" }) {
            #expect(votes >= 4, "\(model): \(votes) host-starvation votes")
        }
    }
}
