// Perf takes the LBRs from an ACTIVE vLBR in IRQ context without an ERROR (reference §9.8): the install IPI's
// ctx_resched() schedules the vLBR out, the new host event's intel_pmu_lbr_add() resets as the first LBR user.
import Testing
import LbrCore
@testable import LbrModel

@Suite struct IpiWipeRules {
    /// The guest records two branches with an ACTIVE vLBR and freezes its stack (LBR_SELECT suppressing everything).
    func frozenGuestStack(_ variant: KernelVariant) -> KernelModel {
        var m = KernelModel(variant: variant, pmu: pmu)
        guestStartsLbr(&m)
        m.guestBranches([(from: 0x1000, to: 0x2000), (from: 0x1010, to: 0x2010)])
        _ = m.guestWrmsr(MSR.lbrSelect, LbrSelect.suppressKernel | LbrSelect.suppressUser)
        return m
    }

    @Test func installIpiWipesTheActiveVlbrsStackWithoutError() {
        var m = frozenGuestStack(.mainline)
        let before = m.hardwareLbr()
        #expect(before.nonZeroEntries == 2 && m.passthrough)
        _ = m.installWhileRunning(.pinnedLbr)
        // No ERROR, still passed through at the re-entry (§1.5), no kmsg — but the records are gone and
        // LBR_SELECT is 0 again (intel_pmu_lbr_reset()).
        #expect(m.vlbrState == .active && m.passthrough)
        #expect(kmsgLines(m.drainObservations()).isEmpty)
        #expect(m.hardwareLbr().nonZeroEntries == 0)
        #expect(m.guestRdmsr(MSR.lbrSelect).value == 0)
    }

    @Test func betweenExitsTheSwitchSavesAndRestoresIt() {
        // The same install with the vCPU thread off the CPU: intel_pmu_lbr_sched_task() saved its call stack at the
        // switch, the thread's sched-in restores it (__intel_pmu_lbr_restore).
        var m = frozenGuestStack(.mainline)
        let before = m.hardwareLbr()
        m.vcpuThreadBlocks(durationNs: 20_000)
        _ = m.openHost(.pinnedLbr, cpu: 0)
        m.vcpuThreadBlocks(durationNs: 20_000)
        #expect(m.guestRdmsr(tos).value == before.tos)
        #expect(m.vlbrState == .active)
        #expect(m.hardwareLbr() == before)
    }

    @Test func arbitratingVariantsLoseTheVlbrInstead() {
        // seed-2023 (Xiong PATCH 1/4): the vLBR arbitrates LBR_SELECT and loses to the CPU-pinned host event: ERROR,
        // dummy reads — the stack is unreadable rather than wiped under an ACTIVE vLBR.
        var m = frozenGuestStack(.seed2023)
        _ = m.installWhileRunning(.pinnedLbr)
        #expect(m.vlbrState == .error && !m.passthrough)
        #expect(m.guestRdmsr(from0).value == 0)
    }
}
