// KVM vLBR rules of the model (reference §1, §1.2–§1.9) and the variants' hooks (§6, seeds).
import LbrCore

extension KernelModel {
    // MARK: Observations

    mutating func emit(_ o: @autoclosure () -> Observation) {
        if logging { observations.append(TimedObservation(timeNs: nowNs, o(), basis: .model(variant.name))) }
    }

    mutating func noteVlbrState() {
        guard logging else { return }
        let s = vlbrState
        if s != lastLoggedVlbr { lastLoggedVlbr = s; emit(.vlbr(s)) }
    }

    // MARK: Entry / exit

    mutating func enterLoadOnly() {
        if cpuCurrent[vcpuCpu] != 0 { switchTask(cpu: vcpuCpu, to: 0); vlbrStateWhileThreadBlocked = nil }
        if !loaded && era.hostDebugctlSnapshot {
            // pre-2025 vmx_vcpu_load: host DEBUGCTL snapshotted here; LBR=1 iff a host LBR user records now.
            let c = vcpuCpu
            let vlbrOn = vlbr.map { events[$0].state == .active && events[$0].usesLbr } ?? false
            hostDebugctlSnapshotLbr = cpuLbrUsers[c] - (vlbrOn ? 1 : 0) > 0 && !vlbrOn
        }
        loaded = true
    }

    /// vcpu_enter_guest(): requests, then (IRQs off) vmx_vcpu_run → vmx_passthrough_lbr_msrs (§1.5).
    mutating func enterInternal() {
        guard !inGuest else { return }
        enterLoadOnly()
        kvmCheckRequests()
        if variant.guestHasLbr { passthroughDecision() }
        advanceClock(costs.vmEntryNs)
        inGuest = true
        hasRun = true
        stats.vmEntries &+= 1
        if variant.defersLbrHandover && perfRequestPending { stats.deferredAcrossEntry &+= 1 }
    }

    /// VM-exit; then the variant's exit hook (reenable-on-exit: Sean's "re-enable vLBRs on every VM-Exit").
    mutating func exitInternal() {
        guard inGuest else { return }
        inGuest = false
        stats.vmExits &+= 1
        advanceClock(costs.vmExitNs)
        if variant.reenablesOnEveryExit, let v = vlbr, events[v].state == .error { enableInternal(v) }
    }

    /// KVM requests processed before entry: KVM_REQ_PMU → kvm_pmu_handle_event → kvm_pmu_cleanup (§1.6);
    /// perf-request: the LBR handover request and the "LBRs free" notification.
    mutating func kvmCheckRequests() {
        if reqPmu {
            reqPmu = false
            if needCleanup { kvmPmuCleanup() }
        }
        if variant.defersLbrHandover { servicePerfRequest() }
    }

    /// kvm_pmu_cleanup → intel_pmu_cleanup: release the vLBR iff guest DEBUGCTL.LBR == 0 (pmc_in_use bit 58
    /// is not consulted), then zero pmc_in_use (§1.6).
    mutating func kvmPmuCleanup() {
        needCleanup = false
        if let v = vlbr, guestDebugctl & DebugCtl.lbr == 0 {
            releaseVlbr(v, reason: "intel_pmu_cleanup: guest DEBUGCTL.LBR=0 after sched-in")
        }
        vlbrInUse = false
    }

    /// perf-request (interpretation of Sean's suggestion): KVM hands the LBRs over at a safe point by
    /// letting perf reschedule the deferred events now; when perf has signalled the LBRs are free, KVM
    /// re-enables an ERROR vLBR.
    mutating func servicePerfRequest() {
        if perfRequestPending {
            perfRequestPending = false
            for i in events.indices where events[i].pendingInstall {
                events[i].pendingInstall = false
                reschedFor(i)
            }
        }
        if perfNotifyFree {
            perfNotifyFree = false
            if let v = vlbr, events[v].state == .error { enableInternal(v) }
        }
    }

    /// vmx_passthrough_lbr_msrs() (§1.5).
    mutating func passthroughDecision() {
        guard let v = vlbr else {
            setPassthrough(false)
            if guestDebugctl & DebugCtl.lbr != 0 || vlbrInUse { warnFailToPassthrough() }
            return
        }
        if events[v].state != .active {
            setPassthrough(false)
            vlbrInUse = false
            warnFailToPassthrough()
            return
        }
        // lazy-restore: intercepted until the first access after sched-in restores the stack.
        if variant.saveRestore == .lazy && lazyPending { setPassthrough(false); return }
        setPassthrough(true)
    }

    mutating func setPassthrough(_ on: Bool) {
        if on, let v = vlbr, events[v].state != .active { stats.passthroughWithoutActiveVlbr &+= 1 }
        if on && vlbr == nil { stats.passthroughWithoutActiveVlbr &+= 1 }
        if on != passthrough {
            passthrough = on
            emit(.passthrough(on))
        }
    }

    /// pr_warn_ratelimited("vcpu-%d: fail to passthrough LBR.\n") with the "kvm_intel: " prefix (§1.5);
    /// DEFAULT_RATELIMIT_INTERVAL/BURST; the "callbacks suppressed" line follows ___ratelimit()
    /// (function name in that line UNVERIFIED).
    /// The ratelimit state is `ratelimit`, shared system-wide (§9.4): other runs' lines count against the burst.
    mutating func warnFailToPassthrough() {
        let r = ratelimit.check(at: ratelimitBaseNs &+ nowNs)
        if r.suppressedBefore > 0 { emit(.kmsg("vmx_passthrough_lbr_msrs: \(r.suppressedBefore) callbacks suppressed")) }
        if r.prints {
            stats.kmsgLines &+= 1
            emit(.kmsg("kvm_intel: vcpu-0: \(failToPassthroughMessage)."))
        } else {
            stats.kmsgSuppressed &+= 1
        }
    }

    /// Hands this model's elapsed time to the shared ratelimit clock (call when the model's run ends).
    public func syncRatelimitClock() { ratelimit.advance(to: ratelimitBaseNs &+ nowNs) }

    // MARK: vLBR create / release

    /// intel_pmu_create_guest_lbr_event() (§1.2): task-pinned exclude_host raw 0x1b00 event with
    /// CALL_STACK|USER on the current thread (the vCPU thread). Fails only when BTS, or PT without
    /// `lbr_pt_coexist`, holds the LBR exclusively (§3.4 (c)) → caller takes the dummy path.
    mutating func createVlbr() -> Bool {
        if let tracer = hostBranchTracer, tracer.excludesLbr(on: pmu) {
            emit(.note("vLBR creation failed (-EBUSY: \(tracer == .bts ? "BTS" : "PT") active, x86_add_exclusive); pr_debug only"))
            return false
        }
        let a = Contender.vlbrAttributes
        // zero-period era (6.8-6.11): no NEEDS_BRANCH_STACK → not an LBR user, no call-stack save/restore.
        let lbrUser = !era.zeroPeriodVlbr
        let rec = EventRecord(
            nameIndex: 0, isVlbr: true, cpu: -1, task: 0, pinned: a.pinned, state: .inactive,
            need: counterNeed(a), usesLbr: lbrUser, callStack: lbrUser && a.branchSampleType & PerfBranch.callStack != 0,
            arbitratesSelect: variant.vlbrArbitratesLbrSelect, selectValue: lbrSelectValue(a.branchSampleType),
            excludeGuest: a.excludeGuest, excludeHost: a.excludeHost, periodNs: 0,
            branchSampleType: a.branchSampleType)
        let idx = events.count
        events.append(rec)
        vlbr = idx
        tasks[0].pinned.append(idx)
        reschedFor(idx)
        if era.zeroPeriodVlbr && events[idx].state == .active {
            // No intel_pmu_lbr_add(): no reset ever; whatever the hardware holds is guest-readable.
            exposeToGuest(cpu: vcpuCpu, predicted: predictsLeakOnVlbrAdd(cpu: vcpuCpu, runningNs: 0))
        }
        vlbrInUse = true // __set_bit(INTEL_PMC_IDX_FIXED_VLBR, pmc_in_use) on success (§1.2)
        emit(.note("vLBR created (task-pinned, config 0x1b00, exclude_host)"))
        return true
    }

    /// intel_pmu_release_guest_lbr_event() (§1.6).
    mutating func releaseVlbr(_ v: Int, reason: String) {
        closeInternal(v)
        vlbr = nil
        lazyPending = false
        emit(.note("vLBR released (\(reason))"))
    }

    // MARK: Guest MSR access

    mutating func guestAccess(_ index: UInt32, write: Bool, value: UInt64) -> MsrOutcome {
        if !inGuest { enterInternal() }
        let isLbr = variant.guestHasLbr && pmu.lbrLayout.isLbrMsr(index)
        var out: MsrOutcome
        if isLbr && passthrough {
            // Passed through (§1.5): the guest touches the hardware; KVM sees nothing.
            advanceClock(costs.passthroughMsrNs)
            if write { hwWrite(index, value); out = MsrOutcome(value: value, trapped: false, faulted: false) }
            else { out = MsrOutcome(value: hwRead(index), trapped: false, faulted: false) }
        } else {
            exitInternal()
            advanceClock(costs.msrEmulationNs)
            out = isLbr ? handleLbrMsr(index, write: write, value: value)
                        : emulateOther(index, write: write, value: value)
            enterInternal()
        }
        emit(.msrAccess(MsrAccess(index: index, isWrite: write, value: out.value, trapped: out.trapped,
                                     faulted: out.faulted)))
        return out
    }

    /// intel_pmu_handle_lbr_msrs_access() (§1.4), with seed-2023's PATCH 3/4 re-enable where the variant has it.
    mutating func handleLbrMsr(_ index: UInt32, write: Bool, value: UInt64) -> MsrOutcome {
        let dummy = MsrOutcome(value: write ? value : 0, trapped: true, faulted: false)
        if vlbr == nil && !createVlbr() { return dummy } // creation failed: dummy, no #GP (§1.4)
        guard let v = vlbr else { return dummy }
        if variant.reenablesOnLbrMsrAccess && events[v].state == .error {
            enableInternal(v) // Xiong PATCH 3/4: perf_event_enable() on an ERROR vLBR (§6.1)
        }
        guard events[v].state == .active else {
            vlbrInUse = false // clear_bit(INTEL_PMC_IDX_FIXED_VLBR), then dummy: reads 0, writes dropped (§1.4)
            return dummy
        }
        if variant.saveRestore == .lazy && lazyPending {
            // Andi Kleen: "on the first access restore the LBRs and allow direct access to the MSRs again".
            if let s = tasks[0].saved { cpuLbr[vcpuCpu] = s; tasks[0].saved = nil }
            else { cpuLbr[vcpuCpu].reset() }
            lazyPending = false
        }
        vlbrInUse = true
        if write { hwWrite(index, value); return MsrOutcome(value: value, trapped: true, faulted: false) }
        return MsrOutcome(value: hwRead(index), trapped: true, faulted: false)
    }

    /// Non-LBR MSRs the model knows; everything else #GPs (§1.3: "Accesses to those go to the generic path").
    mutating func emulateOther(_ index: UInt32, write: Bool, value: UInt64) -> MsrOutcome {
        let gp = MsrOutcome(value: write ? value : 0, trapped: true, faulted: true)
        switch index {
        case MSR.debugctl:
            if !write { return MsrOutcome(value: guestDebugctl, trapped: true, faulted: false) }
            // vmx_get_supported_debugctl / vmx_is_valid_debugctl (§1.9): LBR|FREEZE_LBRS_ON_PMI only with
            // guest LBR; BTF never; unsupported bits outside BTF|LBR → #GP; unsupported BTF/LBR dropped.
            // (BUS_LOCK_DETECT and RTM_DEBUG: the model's guest CPUID has neither.)
            let supported: UInt64 = variant.guestHasLbr ? (DebugCtl.lbr | DebugCtl.freezeLbrsOnPmi) : 0
            if value & ~(supported | DebugCtl.btf | DebugCtl.lbr) != 0 { return gp }
            let effective = value & supported
            guestDebugctl = effective
            if effective & DebugCtl.lbr != 0 {
                if vlbr == nil { _ = createVlbr() } // §1.2 creation path 2
                else if variant.reenablesOnDebugctlWrite, let v = vlbr, events[v].state == .error {
                    enableInternal(v) // Sean: re-enable on DEBUG_CTL writes that set LBR (seed)
                }
            }
            return MsrOutcome(value: value, trapped: true, faulted: false)
        case MSR.perfCapabilities:
            // Guest writes #GP (host_initiated only, §2); reads: LBR_FMT iff KVM advertises LBR (§1.7, §1.10, §6.3).
            if write { return gp }
            return MsrOutcome(value: variant.guestHasLbr ? UInt64(pmu.lbrFormat.code) : 0, trapped: true, faulted: false)
        case MSR.lastBranchFromIP, MSR.lastBranchToIP, MSR.lastIntFromIP, MSR.lastIntToIP:
            // upstream: kvm_get_msr_common() (x86.c) returns 0 for these on VMX; writes unhandled → #GP (UNVERIFIED).
            return write ? gp : MsrOutcome(value: 0, trapped: true, faulted: false)
        default:
            return gp
        }
    }

    // MARK: Hardware LBR registers

    mutating func hwRead(_ index: UInt32) -> UInt64 {
        let L = pmu.lbrLayout
        let n = UInt32(L.depth)
        let c = vcpuCpu
        if index == L.tos { return cpuLbr[c].tos }
        if index == L.select { return cpuLbr[c].select }
        var i = -1
        var v: UInt64 = 0
        if index >= L.from && index < L.from + n { i = Int(index - L.from); v = cpuLbr[c].entries[i].from }
        else if index >= L.to && index < L.to + n { i = Int(index - L.to); v = cpuLbr[c].entries[i].to }
        else if let info = L.info, index >= info && index < info + n { i = Int(index - info); v = cpuLbr[c].entries[i].info }
        if i >= 0 {
            switch cpuLbr[c].entries[i].tag {
            case .host: stats.hostDataLeaks &+= 1
            case .hostLeak: stats.hostLeakReads &+= 1
            default: break
            }
        }
        return v
    }

    mutating func hwWrite(_ index: UInt32, _ value: UInt64) {
        let L = pmu.lbrLayout
        let n = UInt32(L.depth)
        let c = vcpuCpu
        cpuLbr[c].version &+= 1
        if index == L.tos { cpuLbr[c].tos = value & cpuLbr[c].mask; return }
        if index == L.select { cpuLbr[c].select = value & LbrSelect.mask; return }
        if index >= L.from && index < L.from + n {
            let i = Int(index - L.from); cpuLbr[c].entries[i].from = value; cpuLbr[c].setTag(i, .guest)
        } else if index >= L.to && index < L.to + n {
            let i = Int(index - L.to); cpuLbr[c].entries[i].to = value; cpuLbr[c].setTag(i, .guest)
        } else if let info = L.info, index >= info && index < info + n {
            let i = Int(index - info); cpuLbr[c].entries[i].info = value; cpuLbr[c].setTag(i, .guest)
        }
    }
}
