// The host->guest branch leak (§9.2) across every model variant: the finding appears
// exactly where the model predicts it (`KernelVariant.vlbrJoinsHostLbrUserWithoutReset(hostBranchSampleType:)`: host-first's vLBR
// joins the host's CPU-pinned LBR user) and nowhere else; guest-baseline never leaks. Sim for every variant,
// hybrid (the real guest's reads) where KVM is usable.
import Foundation
import LbrBackends
import LbrReport
import LbrTestSupport
import LbrDocument
import LbrCore
import LbrModel
import LbrScenarios
import Testing

@Suite(.serialized) struct HostLeakTests {
    @Test(arguments: KernelVariant.allCases)
    func leakFindingExactlyWherePredicted(variant: KernelVariant) throws {
        var kinds: [BackendKind] = [.sim]
        if ThisHost.hybridAvailable && (variant == .mainline || variant == .seed2023) { kinds.append(.hybrid) }
        for k in kinds {
            let r = ThisHost.run(try Backends.make(kind: k, model: variant.name, profile: ThisHost.profile))
            for x in r.results {
                let leaks = x.findings.filter { $0.kind == .hostBranchLeak }
                let host = Contender.pinnedLbr.attributes[0].branchSampleType // host-first's contender
                let predicted = x.scenario == "host-first" && variant.vlbrJoinsHostLbrUserWithoutReset(hostBranchSampleType: host)
                #expect(!leaks.isEmpty == predicted, "\(k) \(variant) \(x.scenario): leak findings \(leaks.map(\.line)), predicted \(predicted)")
                if let f = leaks.first {
                    #expect(f.count > 0 && f.phase == "contended")
                    #expect(f.example?.contains("0xffffffff81") == true, "\(f.line)")
                    // The same fact as a signal in the phase that read the stack.
                    let p = try #require(x.phases.first { $0.phase == "contended" })
                    #expect(p.signals.contains { $0.kind == .hostBranchLeak })
                }
            }
            let baseline = try #require(r.results.first { $0.scenario == "guest-baseline" })
            #expect(baseline.findings.isEmpty)
            if k == .sim && variant == .mainline {
                // The real run document (leak signal, finding, stale-repeat fields) validates against the schema.
                let json = try JsonReport.render(r)
                #expect(json.contains("\"host-branch-leak\""))
                let v = SchemaValidator(schema: try JSONSerialization.jsonObject(
                    with: Data(try repoFile("docs/run.schema.json").utf8)) as! [String: Any])
                let errors = try v.validate(try JSONSerialization.jsonObject(with: Data(json.utf8)))
                #expect(errors.isEmpty, "\(errors.prefix(3))")
            }
        }
    }

    /// The timeline marks the guest's stack read that returned host records (leak) on the guest lane, and only there.
    @Test func timelineMarksTheLeakingStackRead() throws {
        let r = ThisHost.run(try Backends.make(kind: .sim, model: "mainline", profile: ThisHost.profile))
        for x in r.results where x.scenario == "host-first" || x.scenario == "guest-baseline" {
            let events = try #require(Timeline.events(x)).events
            let leaking = events.filter { $0.lane == .guest && $0.state == .leak }
            if x.scenario == "host-first" {
                #expect(leaking.count >= 1 && leaking.allSatisfy { $0.label.contains("host->guest leak") }, "\(leaking)")
            } else {
                #expect(leaking.isEmpty)
            }
        }
    }
}
