// Which filter and which enable decide what the LBRs record in guest mode when the vLBR is not ACTIVE (reference
// §9.9): the host's LBR_SELECT (`__intel_pmu_lbr_enable()` writes `cpuc->lbr_sel->config`), and on arch-LBR hosts
// the host's MSR_ARCH_LBR_CTL, which no VM transition switches.
import Testing
import LbrCore
@testable import LbrModel

@Suite struct HostFilterRules {
    let guestSites: [(from: UInt64, to: UInt64)] = [(from: 0x1000, to: 0x2000), (from: 0x1010, to: 0x2010)]

    func guestRecords(_ m: KernelModel) -> Int {
        m.hardwareLbrProvenance().filter { $0 == .guest || $0 == .guestLeak }.count
    }

    @Test func archLbrHostRecordsTheGuestWithoutGuestLbr() {
        // arch-lbr-host: no VM_ENTRY_LOAD_IA32_LBR_CTL / VM_EXIT_CLEAR_IA32_LBR_CTL, intel_guest_get_msrs() switches
        // no LBR MSR: the host event's LBR_CTL (LBREn | OS | USR) records the guest's CPL0 branches.
        var m = KernelModel(variant: .archLbrHost, pmu: pmu)
        #expect(m.guestRdmsr(tos).faulted) // still no guest LBR (§1.10)
        m.guestBranches(guestSites)
        #expect(guestRecords(m) == 0) // no host LBR user: LBREn is 0
        let host = m.openHost(.pinnedLbrIncludingGuest, cpu: 0)
        _ = m.drainSamples(host[0])
        m.guestBranches(guestSites)
        #expect(guestRecords(m) == 2)
        #expect(m.hardwareLbrProvenance().contains(.guestLeak)) // no vLBR owns them
        // exclude_guest=0: PMIs in guest mode read them (no vLBR, so vlbr_exclude_host() is false).
        m.guestBranches(guestSites)
        m.advance(ns: 100_000)
        #expect(m.drainSamples(host[0]).guestAddresses > 0)
        #expect(m.stats.guestDataHostReads == 0)
    }

    @Test func legacyHostStopsRecordingAtVmEntry() {
        // Legacy LBR: VM-entry loads the guest's DEBUGCTL (LBR=0 here), so a host LBR event records nothing of it.
        var m = KernelModel(variant: .mainline, pmu: pmu)
        _ = m.openHost(.pinnedLbrIncludingGuest, cpu: 0)
        m.guestBranches(guestSites)
        #expect(guestRecords(m) == 0)
    }

    /// Counter 58 taken, so the guest's DEBUGCTL.LBR=1 leaves the vLBR in ERROR (§9.7); the host LBR event `host`
    /// samples on the CPU. The guest tries to record everything with LBR_SELECT = 0 (a dummy write, §1.4).
    func errorVlbrWithHostEvent(_ host: Contender) -> KernelModel {
        var m = KernelModel(variant: .mainline, pmu: pmu)
        _ = m.openHost(.vlbrSlot, cpu: 0)
        _ = m.openHost(host, cpu: 0)
        _ = m.guestWrmsr(MSR.debugctl, DebugCtl.lbr)
        #expect(m.vlbrState == .error)
        _ = m.guestWrmsr(MSR.lbrSelect, 0)
        m.guestBranches(guestSites)
        return m
    }

    @Test func theHostsFilterDecidesWhileTheVlbrIsNotActive() {
        // __intel_pmu_lbr_enable() wrote the host event's LBR_SELECT: `perf record -b` (ANY | USER | KERNEL) keeps
        // the guest's CPL0 branches; a user-only call-stack event (`--call-graph lbr`) suppresses CPL0 and drops them.
        #expect(guestRecords(errorVlbrWithHostEvent(.pinnedLbrIncludingGuest)) == 2)
        let callStack = Contender.lbrEvent(pinned: true, mode: .callStack, excludeGuest: false, base: .cycles)
        #expect(guestRecords(errorVlbrWithHostEvent(callStack)) == 0)
    }

    @Test func theGuestsFilterDecidesWhileTheVlbrIsActive() {
        // Passed through (§1.5): the guest's LBR_SELECT write reaches the hardware and filters its own branches.
        var m = KernelModel(variant: .mainline, pmu: pmu)
        guestStartsLbr(&m)
        _ = m.guestWrmsr(MSR.lbrSelect, LbrSelect.suppressKernel)
        m.guestBranches(guestSites)
        #expect(guestRecords(m) == 0)
        _ = m.guestWrmsr(MSR.lbrSelect, 0)
        m.guestBranches(guestSites)
        #expect(guestRecords(m) == 2)
    }
}

@Suite struct SharedLbrSelectRules {
    @Test(arguments: [LbrFilterMode.any, .callStack])
    func arbitratingVlbrSharesAnEqualFilterAndThenJoinsWithoutReset(_ mode: LbrFilterMode) {
        // seed-2023 (Xiong PATCH 1/4): the vLBR goes through __intel_shared_reg_get_constraints(), which admits an
        // equal config (`era->config == reg->config`). A CPU-pinned call-stack host event (CALL_STACK|USER, the
        // vLBR's own filter) shares LBR_SELECT: the vLBR is ACTIVE and joins without intel_pmu_lbr_reset() —
        // the host→guest leak; a `-b` host event (ANY) conflicts and the vLBR goes to ERROR.
        let host = Contender.lbrEvent(pinned: true, mode: mode, excludeGuest: true, base: .cycles)
        var m = KernelModel(variant: .seed2023, pmu: pmu)
        _ = m.openHost(host, cpu: 0)
        m.vcpuEnter(); m.vcpuExit(); m.advance(ns: 10_000) // host-mode exit handling records host branches
        _ = m.guestRdmsr(tos)
        let predicted = KernelVariant.seed2023.vlbrJoinsHostLbrUserWithoutReset(
            hostBranchSampleType: host.attributes[0].branchSampleType)
        #expect(predicted == (mode == .callStack))
        #expect(m.vlbrState == (predicted ? .active : .error))
        #expect((m.stats.hostLeakExposures > 0) == predicted && m.stats.unpredictedExposures == 0)
        // Mainline never arbitrates: it joins whatever the host's filter.
        #expect(KernelVariant.mainline.vlbrJoinsHostLbrUserWithoutReset(hostBranchSampleType: host.attributes[0].branchSampleType))
    }
}

@Suite struct LbrReadRules {
    @Test func nonCallStackReadReportsEveryEntryUnlessBrSelFilters() {
        // intel_pmu_lbr_read_64(): without call-stack mode in cpuc->lbr_sel it reads all lbr_nr entries, zeros
        // included, and intel_pmu_lbr_filter() returns at once for a `-b` br_sel (X86_BR_ALL): nr == lbr_nr.
        var m = KernelModel(variant: .mainline, pmu: pmu)
        _ = m.openHost(.pinnedLbr, cpu: 0)
        m.cpuLbr[0].reset()
        m.cpuLbr[0].record(from: 0xffff_ffff_8100_0010, to: 0xffff_ffff_8100_0018, .host)
        #expect(m.realLbrRead(cpu: 0, distinctFromPrevious: true).nr == pmu.lbrLayout.depth)
        // The vLBR's add leaves br_sel = CALL_STACK|USER (§9.2): the filter drops kernel entries and the zeros.
        guestStartsLbr(&m)
        m.vcpuThreadBlocks(durationNs: 0)
        m.cpuLbr[0].reset()
        m.cpuLbr[0].record(from: 0xffff_ffff_8100_0010, to: 0xffff_ffff_8100_0018, .host)
        m.cpuLbr[0].record(from: KernelModel.hostUserBase, to: KernelModel.hostUserBase + 8, .host)
        #expect(m.realLbrRead(cpu: 0, distinctFromPrevious: true).nr == 1)
    }

    @Test func callStackReadStopsAtTheFirstZero() {
        // A call-stack lbr_sel (the shared register of a `--call-graph lbr` event with user and kernel) stops the
        // read at the first zero FROM; with such a br_sel the filter runs (not X86_BR_ALL) and keeps what it selects.
        var m = KernelModel(variant: .mainline, pmu: pmu)
        _ = m.openHost(.lbrEvent(pinned: true, mode: .callStack, excludeGuest: true, base: .cycles), cpu: 0)
        m.cpuLbr[0].reset()
        m.cpuLbr[0].record(from: KernelModel.hostUserBase, to: KernelModel.hostUserBase + 8, .host)
        m.cpuLbr[0].record(from: KernelModel.hostUserBase + 16, to: KernelModel.hostUserBase + 24, .host)
        #expect(m.realLbrRead(cpu: 0, distinctFromPrevious: true).nr == 2)
    }
}

@Suite struct GuestMaskBit58Rules {
    @Test func excludeHostImpostorStarvesHostLbrWithoutAVlbr() {
        // intel_pmu_enable_event() → intel_set_masks(): an exclude_host event on counter 58 sets bit 58 of
        // intel_ctrl_guest_mask, which is all vlbr_exclude_host() tests: host LBR reads stop with no vLBR at all.
        for impostor in [Contender.vlbrSlot, .vlbrSlotExcludingHost] {
            var m = KernelModel(variant: .mainline, pmu: pmu)
            let host = m.openHost(.pinnedLbr, cpu: 0)
            m.vcpuEnter(); m.vcpuExit() // the vCPU thread in host mode: its samples are kept
            m.advance(ns: 200_000)
            _ = m.drainSamples(host[0])
            _ = m.openHost(impostor, cpu: 0)
            m.advance(ns: 400_000)
            let s = m.drainSamples(host[0])
            #expect(m.vlbrState == .none && s.samples > 8)
            if impostor == .vlbrSlotExcludingHost {
                #expect(s.staleRepeats == s.samples, "\(s)")
            } else {
                #expect(s.staleRepeats == 0, "\(s)") // exclude_guest only: bit 58 of the host mask, nothing starves
            }
        }
    }
}
