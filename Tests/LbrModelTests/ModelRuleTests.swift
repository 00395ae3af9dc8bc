// One test per model rule. Each expectation cites the docs/reference.md section (§n) or the
// LKML message of the variant it checks.
import Testing
import LbrCore
@testable import LbrModel

let pmu = ModelPMU.skylake
let tos = MSR.lbrTos
let from0 = LbrLayout.skylake.from

func kmsgLines(_ obs: [TimedObservation]) -> [String] {
    obs.compactMap { if case let .kmsg(s) = $0.observation { return s } else { return nil } }
}

/// Guest enables LBR and touches LBR_TOS (creates the vLBR, §1.2).
func guestStartsLbr(_ m: inout KernelModel) {
    _ = m.guestWrmsr(MSR.debugctl, DebugCtl.lbr)
    _ = m.guestRdmsr(tos)
}

@Suite struct MainlineRules {
    @Test func pinnedHostLbrEventDoesNotErrorTheVlbrButIsStarved() {
        // §3.4 / §8.1: vLBR constraint is checked before LBR_SELECT arbitration → both ACTIVE; while the
        // vCPU (with an ACTIVE vLBR) runs, vlbr_exclude_host() starves the host event: empty branch stacks.
        var m = KernelModel(variant: .mainline, pmu: pmu)
        let host = m.openHost(.pinnedLbr, cpu: 0)
        #expect(host.count == 1)
        m.runHostTask(durationNs: 100_000)
        let before = m.drainSamples(host[0])
        // The host task runs, no vLBR: its PMIs are real reads (intel_pmu_lbr_read), written to the ring but not the
        // vCPU thread's TID, so the detector's filter drops them (§9.1).
        #expect(before.samples == 0 && before.filteredOut > 0)
        guestStartsLbr(&m)
        #expect(m.vlbrState == .active)
        #expect(m.state(host[0]) == .active)
        _ = m.guestRdmsr(tos) // next entry passes the MSRs through (§1.5)
        #expect(m.passthrough)
        m.advance(ns: 200_000)
        // exclude_guest=1: no samples in guest mode (§4 intel_ctrl_host_mask).
        #expect(m.drainSamples(host[0]).samples == 0)
        m.vcpuExit() // the vCPU thread handles exits on the CPU: host mode, vLBR still ACTIVE
        m.advance(ns: 200_000)
        let during = m.drainSamples(host[0])
        #expect(during.samples > 0)
        // §9.1: starved samples replay the CPU's last real read (stale repeats) or are empty if it never read.
        // The host task's last real read precedes the window, so every sample repeats it (hw_idx, entries).
        #expect(during.emptyBranches == 0 && during.staleRepeats == during.samples)
        #expect(during.staleExample?.contains("hw_idx") == true)
    }

    @Test func hostLeakWhenVlbrJoinsExistingLbrUser() {
        // §9.2 (docs/model.md): intel_pmu_lbr_add() resets only for the first LBR user with
        // total_time_running == 0; a host LBR event records host branches while the vCPU thread handles exits;
        // the emulated first access of a new vLBR then reads the hardware (§1.4): a host->guest leak,
        // predicted by the model (exposure counted, prediction checked).
        var m = KernelModel(variant: .mainline, pmu: pmu)
        _ = m.openHost(.pinnedLbr, cpu: 0)
        m.vcpuEnter(); m.vcpuExit(); m.advance(ns: 10_000) // host-mode exit handling recorded host branches
        #expect(m.hardwareLbrProvenance().contains(.host))
        _ = m.guestRdmsr(from0 + UInt32(m.hardwareLbr().tos))
        #expect(m.vlbrState == .active)
        #expect(m.stats.hostLeakReads == 1 && m.stats.hostDataLeaks == 0)
        #expect(m.stats.hostLeakExposures == 1 && m.stats.unpredictedExposures == 0)
    }

    @Test func includeGuestHostEventIsStarvedInGuestModeToo() {
        // §3.4: vlbr_exclude_host() skips intel_pmu_lbr_read() whenever the vLBR is ACTIVE on the CPU.
        var m = KernelModel(variant: .mainline, pmu: pmu)
        let host = m.openHost(.pinnedLbrIncludingGuest, cpu: 0)
        guestStartsLbr(&m)
        _ = m.drainSamples(host[0])
        m.guestBranches([(from: 0x1000, to: 0x2000)])
        m.advance(ns: 200_000)
        let s = m.drainSamples(host[0])
        #expect(s.samples > 0 && s.emptyBranches == s.samples && s.guestAddresses == 0)
    }

    @Test func passthroughAccessesDoNotTrapAndRoundTrip() {
        // §1.5: with the vLBR ACTIVE at entry the LBR MSRs are passed through: KVM sees no access.
        var m = KernelModel(variant: .mainline, pmu: pmu)
        let first = m.guestWrmsr(tos, 3)
        #expect(first.trapped && !first.faulted) // the access that creates the event is emulated (§1.4)
        let r = m.guestRdmsr(tos)
        #expect(!r.trapped && r.value == 3)
        let w = m.guestWrmsr(from0 + 1, 0x1234)
        #expect(!w.trapped)
        #expect(m.guestRdmsr(from0 + 1).value == 0x1234)
    }

    @Test func counter58ContenderErrorsTheVlbrWithDummyAccessesAndKmsg() {
        // §3.4 (a), §8.2: a CPU-pinned raw 0x1b00 event occupies fake counter 58 with higher priority →
        // vLBR ERROR. §1.4: reads 0, writes dropped, no #GP. §1.5: "fail to passthrough LBR" at entry.
        var m = KernelModel(variant: .mainline, pmu: pmu)
        let slot = m.openHost(.vlbrSlot, cpu: 0)
        #expect(m.state(slot[0]) == .active)
        let w = m.guestWrmsr(tos, 5)
        #expect(m.vlbrState == .error)
        #expect(w.trapped && !w.faulted)
        let r = m.guestRdmsr(tos)
        #expect(r.value == 0 && r.trapped && !r.faulted)
        #expect(!m.passthrough)
        let lines = kmsgLines(m.observations)
        #expect(lines.contains("kvm_intel: vcpu-0: fail to passthrough LBR."))
    }

    @Test func mainlineNeverLeavesErrorWithoutReleaseAndRecreation() {
        // §1.4 / §3.2: nobody calls perf_event_enable() on the vLBR; ERROR is never rescheduled.
        var m = KernelModel(variant: .mainline, pmu: pmu)
        let slot = m.openHost(.vlbrSlot, cpu: 0)
        guestStartsLbr(&m)
        let errored = m.vlbrEvent
        #expect(m.vlbrState == .error)
        m.close(slot[0])
        for _ in 0..<20 { _ = m.guestRdmsr(tos); m.vcpuExit(); m.advance(ns: 5_000_000); m.vcpuEnter() }
        _ = m.guestWrmsr(MSR.debugctl, DebugCtl.lbr)
        m.runHostTask(durationNs: 1_000) // preemption with DEBUGCTL.LBR=1 keeps the event (§1.6)
        _ = m.guestRdmsr(tos)
        #expect(m.vlbrState == .error && m.vlbrEvent == errored)
        // Release: guest clears DEBUGCTL.LBR, vCPU preempted while loaded, KVM_REQ_PMU → intel_pmu_cleanup (§1.6).
        _ = m.guestWrmsr(MSR.debugctl, 0)
        m.preemptVcpu(durationNs: 10_000)
        #expect(m.vlbrState == .none)
        // Re-creation by the next LBR access: a fresh event goes through scheduling again (§1.6).
        let r = m.guestWrmsr(tos, 2)
        #expect(r.trapped && m.vlbrState == .active && m.vlbrEvent != errored)
        #expect(m.guestRdmsr(tos).value == 2)
    }

    @Test func returningToUserspaceIsNotASchedOutWhileLoaded() {
        // §1.6 / §8.4: only a sched-out while the vCPU is loaded sets scheduled_out.
        var m = KernelModel(variant: .mainline, pmu: pmu)
        _ = m.guestRdmsr(tos)
        m.vcpuPut()
        m.runHostTask(durationNs: 10_000)
        m.vcpuEnter()
        #expect(m.vlbrState == .active)
        m.preemptVcpu(durationNs: 10_000)
        #expect(m.vlbrState == .none) // DEBUGCTL.LBR=0 → released at the first KVM_REQ_PMU
    }

    @Test func creationFailureTakesTheDummyPathAndWarnsWhenDebugctlLbrIsSet() {
        // §3.4 (c): BTS/PT exclusivity fails creation; §1.4: dummy, no #GP; §1.5: no event but guest
        // DEBUGCTL.LBR=1 → the same "fail to passthrough" warning.
        var m = KernelModel(variant: .mainline, pmu: pmu)
        m.setHostBranchTracer(.bts)
        let w = m.guestWrmsr(MSR.debugctl, DebugCtl.lbr)
        #expect(!w.faulted && m.vlbrState == .none)
        let r = m.guestRdmsr(from0)
        #expect(r.value == 0 && !r.faulted && r.trapped)
        #expect(kmsgLines(m.observations).contains { $0.contains(failToPassthroughMessage) })
    }

    @Test(arguments: [(ExclusiveBranchTracer.bts, false), (.bts, true), (.pt, false), (.pt, true)])
    func branchTracerExcludesTheVlbrUnlessPtCoexists(tracer: ExclusiveBranchTracer, coexist: Bool) {
        // §3.4 (c): x86_add_exclusive() skips PT's exclusivity where lbr_pt_coexist; BTS stays exclusive.
        var shape = pmu
        shape.lbrPtCoexist = coexist
        var m = KernelModel(variant: .mainline, pmu: shape)
        m.setHostBranchTracer(tracer)
        _ = m.guestWrmsr(MSR.debugctl, DebugCtl.lbr)
        let created = tracer == .pt && coexist
        #expect(m.vlbrState == (created ? .active : .none))
        #expect(kmsgLines(m.observations).contains { $0.contains(failToPassthroughMessage) } == !created)
    }

    @Test func counterExhaustionErrorsTheVlbr() {
        // §3.4 (b): collect_events() n_events >= GP + fixed → the task-pinned vLBR cannot go on → ERROR.
        var m = KernelModel(variant: .mainline, pmu: pmu)
        let ids = m.openHost(.counterExhaustion(gp: pmu.gpCounters, fixed: pmu.fixedCounters), cpu: 0)
        #expect(ids.allSatisfy { m.state($0) == .active })
        _ = m.guestRdmsr(tos)
        #expect(m.vlbrState == .error)
    }

    @Test func lbrResetOnFirstUserWipesGuestStackOnRecreation() {
        // §1.6 side effect: intel_pmu_lbr_add() resets the LBRs for the first user with total_time_running == 0.
        var m = KernelModel(variant: .mainline, pmu: pmu)
        _ = m.guestWrmsr(MSR.debugctl, DebugCtl.lbr)
        m.guestBranches([(from: 0x1000, to: 0x2000), (from: 0x1010, to: 0x2010)])
        #expect(m.hardwareLbr().nonZeroEntries == 2)
        _ = m.guestWrmsr(MSR.debugctl, 0)
        m.preemptVcpu(durationNs: 1_000)
        #expect(m.vlbrState == .none)
        #expect(m.hardwareLbr().nonZeroEntries == 2) // no LBR user: nothing touches the stack
        _ = m.guestRdmsr(tos) // fresh vLBR, first LBR user → reset
        #expect(m.hardwareLbr().nonZeroEntries == 0)
    }

    @Test func guestStackSurvivesPreemptionThroughCallStackSaveRestore() {
        // §1.2 / §3.4: the vLBR is CALL_STACK|USER, so perf saves/restores the vCPU thread's stack; a host
        // LBR user on the CPU (which wipes/records on switches) does not leak into it.
        var m = KernelModel(variant: .mainline, pmu: pmu)
        _ = m.openHost(.pinnedLbr, cpu: 0)
        guestStartsLbr(&m)
        m.guestBranches([(from: 0x1000, to: 0x2000)])
        let before = m.hardwareLbr()
        m.preemptVcpu(durationNs: 50_000)
        #expect(m.vlbrState == .active) // DEBUGCTL.LBR=1 → kept (§1.6)
        #expect(m.hardwareLbr() == before)
        #expect(!m.hardwareLbrProvenance().contains(.host))
    }

    @Test func errorEventReadsReturnNothing() {
        // §3.3: __perf_read() returns 0 bytes for an ERROR event.
        var m = KernelModel(variant: .mainline, pmu: pmu)
        _ = m.openHost(.vlbrSlot, cpu: 0)
        let second = m.openHost(.vlbrSlot, cpu: 0) // a second CPU-pinned 0x1b00 event: counter 58 taken
        #expect(m.state(second[0]) == .error)
        #expect(m.read(second[0]) == nil)
        m.enable(second[0]) // explicit enable: re-scheduled, still no room → ERROR again (§3.2)
        #expect(m.state(second[0]) == .error)
    }

    @Test func flexibleConflictingLbrEventsMultiplex() {
        // §3.2 / §3.4: conflicting LBR_SELECT → the later flexible event stays INACTIVE and rotates.
        var m = KernelModel(variant: .mainline, pmu: pmu)
        let a = m.openHost(.lbrEvent(pinned: false, mode: .any, excludeGuest: true, base: .cycles), cpu: 0)
        let b = m.openHost(.lbrEvent(pinned: false, mode: .callStack, excludeGuest: true, base: .cycles), cpu: 0)
        #expect(m.state(a[0]) == .active && m.state(b[0]) == .inactive)
        m.runHostTask(durationNs: 40_000_000)
        let ra = m.read(a[0])!, rb = m.read(b[0])!
        #expect(ra.runningNs > 0 && rb.runningNs > 0)
        #expect(ra.runningNs < ra.enabledNs && rb.runningNs < rb.enabledNs)
    }

    @Test func cpuPinnedBeatsTaskPinnedOnTheSameResource() {
        // §3.1: CPU-pinned > task-pinned. A CPU-pinned 0x1b00 installed after the vLBR took counter 58
        // gets it; the vLBR goes to ERROR (the contract in the §1.2 code comment).
        var m = KernelModel(variant: .mainline, pmu: pmu)
        _ = m.guestRdmsr(tos)
        #expect(m.vlbrState == .active)
        let slot = m.installWhileRunning(.vlbrSlot)
        #expect(m.state(slot[0]) == .active && m.vlbrState == .error)
        #expect(!m.passthrough) // re-evaluated at the next entry (§3.5)
        #expect(m.stats.cpuPinnedStarvedByTask == 0)
    }

    @Test func kmsgIsRatelimited() {
        // §1.5 pr_warn_ratelimited: burst 10 per 5 s, then "callbacks suppressed".
        var m = KernelModel(variant: .mainline, pmu: pmu)
        _ = m.openHost(.vlbrSlot, cpu: 0)
        for _ in 0..<15 { _ = m.guestRdmsr(tos) }
        #expect(m.stats.kmsgLines == 10 && m.stats.kmsgSuppressed > 0)
        m.advance(ns: 6_000_000_000)
        _ = m.guestRdmsr(tos)
        #expect(kmsgLines(m.observations).contains { $0.contains("callbacks suppressed") })
        #expect(m.stats.kmsgLines == 11)
    }

    @Test func msrEmulationOutsideLbr() {
        // §1.9: BTF silently dropped; unknown bits #GP. §1.3: arch-LBR MSRs are not LBR MSRs → #GP.
        // §2: PERF_CAPABILITIES guest write #GP; read shows LBR_FMT. x86.c: 0x1db reads 0.
        var m = KernelModel(variant: .mainline, pmu: pmu)
        #expect(!m.guestWrmsr(MSR.debugctl, DebugCtl.btf).faulted)
        #expect(m.guestRdmsr(MSR.debugctl).value == 0)
        #expect(m.guestWrmsr(MSR.debugctl, DebugCtl.bts).faulted)
        #expect(m.guestRdmsr(MSR.archLbrCtl).faulted)
        #expect(m.guestWrmsr(MSR.perfCapabilities, 0).faulted)
        #expect(m.guestRdmsr(MSR.perfCapabilities).value == 5)
        #expect(m.guestRdmsr(MSR.lastBranchFromIP).value == 0)
        #expect(m.vlbrState == .none)
    }

    @Test func includeGuestHostEventSeesGuestBranchesWhenVlbrIsNotActive() {
        // Sean's question 2 (seed) + §1.9: DEBUGCTL is loaded from the guest at VM-entry, so with the vLBR
        // not ACTIVE (here: ERROR behind counter 58) guest branches land in a host include-guest sample.
        var m = KernelModel(variant: .mainline, pmu: pmu)
        _ = m.openHost(.vlbrSlot, cpu: 0)
        let host = m.openHost(.pinnedLbrIncludingGuest, cpu: 0)
        guestStartsLbr(&m)
        #expect(m.vlbrState == .error)
        _ = m.drainSamples(host[0])
        m.guestBranches([(from: 0x1000, to: 0x2000), (from: 0x1100, to: 0x2100)])
        m.advance(ns: 100_000)
        let s = m.drainSamples(host[0])
        #expect(s.samples > 0 && s.guestAddresses > 0)
    }
}

@Suite struct VariantRules {
    @Test func seed2023HostWinsAndRecoversOnNextLbrAccess() {
        // Xiong PATCH 1/4 (§6.1): vLBR arbitrates LBR_SELECT → the CPU-pinned host event wins → ERROR.
        // PATCH 3/4: an ERROR vLBR is re-enabled on the next guest LBR MSR access.
        var m = KernelModel(variant: .seed2023, pmu: pmu)
        let host = m.openHost(.pinnedLbr, cpu: 0)
        guestStartsLbr(&m)
        #expect(m.vlbrState == .error && m.state(host[0]) == .active)
        #expect(m.guestRdmsr(tos).value == 0)
        m.close(host[0])
        #expect(m.vlbrState == .error) // close does not reschedule (§3.2)
        let w = m.guestWrmsr(tos, 6)
        #expect(m.vlbrState == .active && w.trapped)
        #expect(m.guestRdmsr(tos).value == 6)
    }

    @Test func seed2023HostInstalledWhileRunningTakesTheLbr() {
        // Xiong's case b (seed): vLBR preempted by a host CPU-pinned LBR event during VM-exit handling.
        var m = KernelModel(variant: .seed2023, pmu: pmu)
        guestStartsLbr(&m)
        #expect(m.vlbrState == .active)
        let host = m.installWhileRunning(.pinnedLbr)
        #expect(m.state(host[0]) == .active && m.vlbrState == .error && !m.passthrough)
    }

    @Test func seed2023CompatibleCallStackFilterShares() {
        // §3.4: equal LBR_SELECT values share the extra register; the vLBR is CALL_STACK|USER.
        var m = KernelModel(variant: .seed2023, pmu: pmu)
        let host = m.openHost(.lbrEvent(pinned: true, mode: .callStack, excludeGuest: true, base: .cycles), cpu: 0)
        guestStartsLbr(&m)
        #expect(m.vlbrState == .active && m.state(host[0]) == .active)
    }

    @Test func reenableOnExitRecoversWithoutGuestAccess() {
        // Sean (seed): "try to re-enable vLBRs on every VM-Exit".
        var m = KernelModel(variant: .reenableOnExit, pmu: pmu)
        let host = m.openHost(.pinnedLbr, cpu: 0)
        guestStartsLbr(&m)
        #expect(m.vlbrState == .error)
        m.close(host[0])
        m.vcpuExit()
        #expect(m.vlbrState == .active)
    }

    @Test func reenableOnDebugctlRecoversOnDebugctlWrite() {
        // Sean (seed): "shouldn't writes to DEBUG_CTL that set DEBUGCTLMSR_LBR also try to re-enable".
        for (variant, expected) in [(KernelVariant.reenableOnDebugctl, VlbrState.active), (.seed2023, .error)] {
            var m = KernelModel(variant: variant, pmu: pmu)
            let host = m.openHost(.pinnedLbr, cpu: 0)
            guestStartsLbr(&m)
            m.close(host[0])
            _ = m.guestWrmsr(MSR.debugctl, DebugCtl.lbr)
            #expect(m.vlbrState == expected, "\(variant)")
        }
    }

    @Test func perfRequestDefersHandoverToTheNextSafePointAndNotifiesFree() {
        // Sean (seed): perf sets a request, KVM hands the LBRs over at a safe point; notification when free.
        var m = KernelModel(variant: .perfRequest, pmu: pmu)
        guestStartsLbr(&m)
        let host = m.installWhileRunning(.pinnedLbr)
        #expect(m.vlbrState == .active && m.state(host[0]) == .inactive) // not taken in IRQ context
        #expect(m.passthrough)
        m.vcpuExit()
        m.vcpuEnter() // request serviced before entry
        #expect(m.state(host[0]) == .active && m.vlbrState == .error && !m.passthrough)
        m.close(host[0])
        m.vcpuExit()
        m.vcpuEnter() // "LBRs free" notification serviced: KVM re-enables, no guest action needed
        #expect(m.vlbrState == .active && m.passthrough)
        #expect(m.stats.deferredAcrossEntry == 0)
    }

    @Test(arguments: [KernelVariant.mediated, .archLbrHost])
    func noGuestLbrVariants(_ variant: KernelVariant) {
        // §6.3 / §1.10: LBR_FMT not advertised → records.nr = 0 → LBR MSRs #GP (§1.3); DEBUGCTL.LBR dropped (§1.9).
        var m = KernelModel(variant: variant, pmu: pmu)
        #expect(m.guestRdmsr(MSR.perfCapabilities).value & PerfCapabilities.lbrFormatMask == 0)
        #expect(m.guestRdmsr(tos).faulted)
        #expect(!m.guestWrmsr(MSR.debugctl, DebugCtl.lbr).faulted)
        #expect(m.guestRdmsr(MSR.debugctl).value == 0)
        #expect(m.guestWrmsr(MSR.debugctl, DebugCtl.freezeLbrsOnPmi).faulted) // outside BTF|LBR, unsupported
        #expect(m.vlbrState == .none)
        #expect(kmsgLines(m.observations).isEmpty)
    }

    @Test func mediatedRejectsIncludeGuestEvents() {
        // §6.3: mediated_pmu_account_event() fails include_guest events while a mediated VM exists — one with an
        // in-kernel irqchip (kvm_arch_vcpu_precreate() creates the mediated PMU only then, §2.4).
        var m = KernelModel(variant: .mediated, pmu: pmu, vmHasInKernelIrqchip: true)
        #expect(m.openHost(.pinnedLbrIncludingGuest, cpu: 0).isEmpty)
        #expect(m.openHost(.pinnedLbr, cpu: 0).count == 1)
        // lbrprobe's VM has none: enable_pmu is cleared for it, no mediated PMU exists, nothing is refused — and the
        // guest still has no LBR (no PMU at all).
        var l = KernelModel(variant: .mediated, pmu: pmu)
        #expect(l.openHost(.pinnedLbrIncludingGuest, cpu: 0).count == 1)
        #expect(l.guestRdmsr(MSR.perfCapabilities).value == 0 && l.guestRdmsr(tos).faulted)
        var a = KernelModel(variant: .archLbrHost, pmu: pmu)
        #expect(a.openHost(.pinnedLbrIncludingGuest, cpu: 0).count == 1)
    }

    @Test func pvLbrCtrlPreservesStackOnlyWhileDeclaredActive() {
        // Wei Wang 2018 (seed): save/restore on vCPU switching only after the guest sets the PV ACTIVE bit.
        for active in [true, false] {
            var m = KernelModel(variant: .pvLbrCtrl, pmu: pmu)
            _ = m.openHost(.pinnedLbr, cpu: 0) // keeps lbr_users > 0 so switches save/restore or wipe
            guestStartsLbr(&m)
            m.guestSetPvLbrActive(active)
            m.guestBranches([(from: 0x1000, to: 0x2000)])
            m.preemptVcpu(durationNs: 20_000)
            let kept = m.hardwareLbrProvenance().contains(.guest)
            #expect(kept == active)
            #expect(!m.hardwareLbrProvenance().contains(.host)) // wiped, never host data
        }
    }

    @Test func lazyRestoreInterceptsAfterSchedInAndRestoresOnFirstAccess() {
        // Andi Kleen 2018 (seed): intercept after sched-in; the first access restores and re-enables direct access.
        var m = KernelModel(variant: .lazyRestore, pmu: pmu)
        _ = m.openHost(.pinnedLbr, cpu: 0)
        guestStartsLbr(&m)
        _ = m.guestWrmsr(from0, 0xabc)
        #expect(m.passthrough)
        m.preemptVcpu(durationNs: 20_000)
        #expect(!m.passthrough)
        let r = m.guestRdmsr(from0)
        #expect(r.trapped && r.value == 0xabc)
        #expect(!m.guestRdmsr(from0).trapped)
    }

    @Test func everyVariantIsDocumented() {
        for v in KernelVariant.allCases {
            #expect(!v.summary.isEmpty && !v.citation.isEmpty && KernelVariant(name: v.name) == v)
        }
    }
}
