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
                    #expect(s.vote == .active && s.evidence.contains("stale repeats of the same hw_idx") && s.evidence.contains("0 empty"),
                            "\(s.evidence)")
                    // The real reads in the vCPU thread's waits are written to the ring but not kept.
                    #expect(p.evidence.contains { $0.contains("filtered out") }, "\(p.evidence)")
                }
            }
        }
    }
}
