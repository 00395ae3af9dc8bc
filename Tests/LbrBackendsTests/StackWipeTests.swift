// The guest-lbr-wiped finding (reference §9.8) across every model variant on sim, and on hybrid for mainline:
// exactly in the stack watches whose host action took the LBRs from a vLBR that stayed ACTIVE.
import LbrBackends
import LbrTestSupport
import LbrCore
import LbrModel
import LbrScenarios
import Testing

@Suite(.serialized) struct StackWipeTests {
    /// The phases where each variant wipes an ACTIVE vLBR's frozen stack, derived from the model's rules:
    /// - the install IPI (host-preempts `contended`, irq-takeover `while-running`) wipes wherever the vLBR does not
    ///   arbitrate LBR_SELECT (it stays ACTIVE, §3.4) — except lazy-restore, whose first access after the vCPU's
    ///   sched-in restores the stack saved before the IPI (Andi Kleen's lazy restore hides the wipe);
    /// - between exits (irq-takeover `between-exits`) the switch saves and restores the stack — except pv-lbr-ctrl,
    ///   whose guest never sets the PV "LBR active" bit, so nothing saves it (Wei Wang 2018);
    /// - arbitrating variants put the vLBR in ERROR (no finding: the outcome says so); mediated and arch-lbr-host
    ///   give the guest no LBR.
    static func expectedWipes(_ v: KernelVariant) -> Set<String> {
        guard v.guestHasLbr, !v.vlbrArbitratesLbrSelect else { return [] }
        var p: Set<String> = []
        if v.saveRestore != .lazy { p.formUnion(["host-preempts/contended", "irq-takeover/while-running"]) }
        if v.saveRestore == .whilePvActive { p.insert("irq-takeover/between-exits") }
        return p
    }

    @Test(arguments: KernelVariant.allCases)
    func wipeFindingExactlyWhereTheRulesPredictIt(variant: KernelVariant) throws {
        var kinds: [BackendKind] = [.sim]
        if ThisHost.hybridAvailable && variant == .mainline { kinds.append(.hybrid) }
        for k in kinds {
            let r = ThisHost.run(try Backends.make(kind: k, model: variant.name, profile: ThisHost.profile),
                                 ["host-preempts", "irq-takeover"].compactMap(Catalog.named))
            var seen: Set<String> = []
            for x in r.results {
                for f in x.findings where f.kind == .guestLbrWiped {
                    seen.insert("\(x.scenario)/\(f.phase ?? "-")")
                    #expect(f.count > 0 && f.summary.contains("vLBR ACTIVE") && f.example != nil, "\(f.line)")
                    #expect(f.basis != nil && f.basis?.isMeasured == false, "a model's finding is a prediction")
                }
            }
            #expect(seen == Self.expectedWipes(variant), "\(k) \(variant)")
        }
    }
}
