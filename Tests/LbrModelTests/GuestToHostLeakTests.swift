// The guest→host direction of the leak invariant (§9.7): where host LBR reads may see guest records, and the
// `intel_pmu_lbr_sched_task()` reset that bounds it to the vCPU thread's time on the CPU.
import Testing
import LbrCore
@testable import LbrModel

@Suite struct GuestToHostLeakRules {
    /// The guest runs with an ACTIVE vLBR and records its branches.
    func guestRecords(_ m: inout KernelModel) {
        guestStartsLbr(&m)
        m.guestBranches([(from: 0x1000, to: 0x2000), (from: 0x1010, to: 0x2010)])
        #expect(m.vlbrState == .active)
        #expect(m.hardwareLbrProvenance().contains(.guest))
    }

    @Test func switchToIdleResetsWhileTheCpuHasLbrUsers() {
        // lbr.c intel_pmu_lbr_sched_task(): an incoming task without task-context LBR data (the idle loop, through
        // perf_pmu_sched_task() for the CPU LBR user) gets intel_pmu_lbr_reset() while cpuc->lbr_users > 0.
        var m = KernelModel(variant: .mainline, pmu: pmu)
        let host = m.openHost(.pinnedLbr, cpu: 0)
        guestRecords(&m)
        m.vcpuThreadBlocks(durationNs: 0)
        #expect(m.currentTask(cpu: 0) == nil)
        #expect(!m.hardwareLbrProvenance().contains { $0 == .guest || $0 == .guestLeak })
        m.vcpuThreadBlocks(durationNs: 200_000) // the host event's PMIs read real stacks meanwhile
        #expect(m.drainSamples(host[0]).filteredOut > 0)
        #expect(m.stats.guestDataHostReads == 0 && m.stats.guestLeakReads == 0)
    }

    @Test func withoutLbrUsersTheGuestRecordsStayInTheHardware() {
        // Same switch with the vLBR as the only LBR user: after its _del, lbr_users == 0 and
        // intel_pmu_lbr_sched_task() returns at once, so nothing wipes the guest's records.
        var m = KernelModel(variant: .mainline, pmu: pmu)
        guestRecords(&m)
        m.vcpuThreadBlocks(durationNs: 0)
        #expect(m.hardwareLbrProvenance().contains(.guest))
    }

    @Test func hostEventThatRanBeforeJoinsWithoutResetAndMayReadThem() {
        // intel_pmu_lbr_add(): `if (!cpuc->lbr_users++ && !event->total_time_running)` — a host event that has run
        // before joins an idle CPU without the reset, so the records the vLBR left become host-readable: a
        // predicted path (`.guestLeak`), not a violation.
        var m = KernelModel(variant: .mainline, pmu: pmu)
        let host = m.openHost(.pinnedLbr, cpu: 0)
        m.runHostTask(durationNs: 10_000)
        m.disable(host[0])
        guestRecords(&m)
        m.vcpuThreadBlocks(durationNs: 0)
        #expect(m.hardwareLbrProvenance().contains(.guest))
        m.enable(host[0])
        #expect(m.stats.guestLeakExposures == 1 && m.stats.guestLeakEntriesExposed > 0)
        #expect(m.hardwareLbrProvenance().contains(.guestLeak) && !m.hardwareLbrProvenance().contains(.guest))
    }

    @Test func vlbrReleasedWhileAHostLbrUserStaysLeavesItsRecords() {
        // intel_pmu_lbr_del() resets nothing: a vLBR released at KVM_REQ_PMU (guest DEBUGCTL.LBR=0 after a
        // sched-in, §1.6) right after its stack was restored leaves the guest's records to the host LBR user.
        var m = KernelModel(variant: .mainline, pmu: pmu)
        _ = m.openHost(.pinnedLbr, cpu: 0)
        guestRecords(&m)
        _ = m.guestWrmsr(MSR.debugctl, 0)
        m.preemptVcpu(durationNs: 50_000)
        #expect(m.vlbrState == .none)
        // The switch-out exposed the records for the moment (the host task's sched-in then reset them); the
        // restored stack is exposed again by the release.
        #expect(m.stats.guestLeakExposures == 2)
        #expect(m.hardwareLbrProvenance().contains(.guestLeak) && !m.hardwareLbrProvenance().contains(.guest))
    }

    @Test func checkerFiresOnAnUnpredictedHostRead() {
        // Not vacuous: guest records no predicted path exposed, read by a host LBR user, are caught.
        var e = ModelExplorer(variant: .mainline, seed: 3)
        var m = e.model
        _ = m.openHost(.pinnedLbr, cpu: 0)
        m.cpuLbr[0].record(from: 0x1000, to: 0x2000, .guest)
        _ = m.realLbrRead(cpu: 0, distinctFromPrevious: true)
        e.model = m
        #expect(e.check()?.0 == .hostReadsGuestDataOnlyAsPredicted)
    }
}
