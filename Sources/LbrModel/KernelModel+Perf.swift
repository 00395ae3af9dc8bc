// perf core + x86 LBR rules of the model (reference §3, §3.4, §4).
import LbrCore

extension KernelModel {
    /// Base of the model's host user-space branch addresses (the runner's code between guest commands).
    static let hostUserBase: UInt64 = 0x0000_5555_5550_0000

    // MARK: Attribute → constraint mapping

    /// Counter constraint of an event (§3.4): config 0x1b00 gets only the fake counter 58
    /// (`intel_vlbr_constraints()` matches the config alone, §3.4 (a)); fixed-capable architectural events
    /// may use their fixed counter or a GP counter; ref-cycles and TOPDOWN.SLOTS (raw 0x0400, the config
    /// Contenders.swift uses for the 4th fixed counter) only their fixed counter (UNVERIFIED per model).
    func counterNeed(_ a: PerfAttr) -> CounterNeed {
        if a.type == .raw && a.config == intelFixedVlbrEvent { return .slot58 }
        switch a.type {
        case .hardware:
            switch a.config {
            case PerfHwConfig.instructions: return .fixedOrGp(0)
            case PerfHwConfig.cpuCycles: return .fixedOrGp(1)
            case PerfHwConfig.refCpuCycles: return .fixedOnly(2)
            default: return .gp
            }
        // §9.4: raw 0x00c0 (INST_RETIRED.ANY_P) may use fixed counter 0 like the architectural instructions event.
        case .raw: return a.config == 0x0400 ? .fixedOnly(3) : a.config == 0x00c0 ? .fixedOrGp(0) : .gp
        case .hwCache: return .gp
        case .software, .tracepoint, .breakpoint: return .none
        }
    }

    /// The LBR_SELECT value perf programs for a branch_sample_type (lbr.c `intel_pmu_setup_hw_lbr_filter`,
    /// "do not capture" bits, §5). Approximate: only equality matters for the shared-register arbitration.
    func lbrSelectValue(_ bst: UInt64) -> UInt64 { Self.lbrSelectValue(bst) }

    /// `lbrSelectValue(_:)` without a model (it depends on the branch_sample_type alone).
    static func lbrSelectValue(_ bst: UInt64) -> UInt64 {
        var v: UInt64 = 0
        if bst & PerfBranch.user == 0 { v |= LbrSelect.suppressUser }
        if bst & PerfBranch.kernel == 0 { v |= LbrSelect.suppressKernel }
        if bst & PerfBranch.callStack != 0 {
            v |= LbrSelect.callStack | LbrSelect.suppressJcc | LbrSelect.suppressIndJmp
                | LbrSelect.suppressRelJmp | LbrSelect.suppressFar
        } else if bst & PerfBranch.any == 0 {
            v |= LbrSelect.suppressJcc | LbrSelect.suppressIndJmp | LbrSelect.suppressRelJmp
        }
        return v
    }

    mutating func ensureTask(_ t: Int, cpu: Int) {
        while tasks.count <= t { tasks.append(TaskState(cpu: cpu)) }
    }

    // MARK: Install / enable / close

    /// perf-request: an install/enable on the vCPU's CPU while the vCPU is loaded and owns a vLBR is not
    /// processed in IRQ context; perf sets a request KVM services at its next safe point (seed, Sean).
    func shouldDefer(_ i: Int) -> Bool {
        guard variant.defersLbrHandover, loaded, vlbr != nil else { return false }
        let e = events[i]
        return !e.isVlbr && e.cpu == vcpuCpu && cpuCurrent[vcpuCpu] == 0
    }

    /// perf_install_in_context → ctx_resched when the target context is running (§3.5).
    mutating func install(_ i: Int) {
        let e = events[i]
        if e.cpu >= 0 {
            if e.pinned { cpuPinned[e.cpu].append(i) } else { cpuFlexible[e.cpu].append(i) }
        } else {
            if e.pinned { tasks[e.task].pinned.append(i) } else { tasks[e.task].flexible.append(i) }
        }
        guard e.state == .inactive else { return }
        if shouldDefer(i) { events[i].pendingInstall = true; perfRequestPending = true; return }
        reschedFor(i)
    }

    /// `_perf_event_enable()`: ERROR → OFF → INACTIVE, then `ctx_resched()` (§3.2). No-op when already
    /// INACTIVE or ACTIVE.
    mutating func enableInternal(_ i: Int) {
        events[i].explicitOps &+= 1
        guard events[i].state == .error || events[i].state == .off else { return }
        events[i].state = .inactive
        if shouldDefer(i) { events[i].pendingInstall = true; perfRequestPending = true; return }
        reschedFor(i)
    }

    /// perf_remove_from_context: scheduled out and unlinked; other events are NOT rescheduled (an ERROR
    /// pinned event stays ERROR; flexible ones wait for rotation or the next context switch, §3.2).
    mutating func closeInternal(_ i: Int) {
        events[i].explicitOps &+= 1
        if events[i].state == .active { deactivate(i, to: .off) } else { events[i].state = .off }
        events[i].closed = true
        events[i].pendingInstall = false
        let e = events[i]
        if e.cpu >= 0 {
            cpuPinned[e.cpu].removeAll { $0 == i }; cpuFlexible[e.cpu].removeAll { $0 == i }
        } else {
            tasks[e.task].pinned.removeAll { $0 == i }; tasks[e.task].flexible.removeAll { $0 == i }
        }
        if e.usesLbr && !e.isVlbr { lbrFreedByHost() }
    }

    /// perf-request: perf tells KVM the LBRs may be free again (Sean: "why can't there be a notification").
    mutating func lbrFreedByHost() {
        if variant.defersLbrHandover && vlbr != nil { perfNotifyFree = true }
    }

    // MARK: Scheduling

    /// `ctx_resched()` for the event `i` (§3.1, upstream ctx_resched): a CPU-pinned event schedules out
    /// everything; a CPU-flexible one the flexible groups; a task-pinned one the task context and the CPU
    /// flexible groups; a task-flexible one the task flexible groups. Then `perf_event_sched_in()`
    /// re-adds, in order CPU-pinned, task-pinned, CPU-flexible, task-flexible, what was scheduled out.
    mutating func reschedFor(_ i: Int) {
        let e = events[i]
        if e.cpu >= 0 {
            if e.pinned { ctxResched(cpu: e.cpu, taskPinned: true, taskFlex: true, cpuPinned: true, cpuFlex: true) }
            else { ctxResched(cpu: e.cpu, taskPinned: false, taskFlex: true, cpuPinned: false, cpuFlex: true) }
        } else {
            let c = tasks[e.task].cpu
            guard cpuCurrent[c] == e.task else { return } // context not running: nothing to do
            if e.pinned { ctxResched(cpu: c, taskPinned: true, taskFlex: true, cpuPinned: false, cpuFlex: true) }
            else { ctxResched(cpu: c, taskPinned: false, taskFlex: true, cpuPinned: false, cpuFlex: false) }
        }
    }

    mutating func ctxResched(cpu c: Int, taskPinned: Bool, taskFlex: Bool, cpuPinned outCpuPinned: Bool, cpuFlex outCpuFlex: Bool) {
        let cur = cpuCurrent[c]
        if cur >= 0 {
            if taskFlex { schedOut(tasks[cur].flexible) }
            if taskPinned { schedOut(tasks[cur].pinned) }
        }
        if outCpuFlex { schedOut(cpuFlexible[c]) }
        if outCpuPinned { schedOut(cpuPinned[c]) }
        if outCpuPinned { schedIn(cpuPinned[c], cpu: c) }
        if cur >= 0 && taskPinned { schedIn(tasks[cur].pinned, cpu: c) }
        if outCpuFlex { schedIn(cpuFlexible[c], cpu: c) }
        if cur >= 0 && taskFlex { schedIn(tasks[cur].flexible, cpu: c) }
    }

    mutating func schedOut(_ list: [Int]) {
        for i in list where events[i].state == .active { deactivate(i, to: .inactive) }
    }

    /// One `visit_groups_merge()` pass with `merge_sched_in()` (§3.2; upstream: can_add_hw is cleared
    /// after the first group that stays INACTIVE, so every later group of the pass fails too): pinned
    /// failures → ERROR, flexible failures → INACTIVE + rotate_necessary.
    mutating func schedIn(_ list: [Int], cpu c: Int) {
        var canAdd = true
        for i in list {
            if events[i].state != .inactive || events[i].pendingInstall { continue }
            if canAdd && fits(i, cpu: c) {
                activate(i, cpu: c)
            } else {
                canAdd = false
                if events[i].pinned { setError(i, cpu: c) } else { cpuRotate[c] = true }
            }
        }
    }

    /// x86 constraints (§3.4): counters (GP + fixed + fake 58) must stay feasible; LBR events that go
    /// through the LBR_SELECT shared register need an equal LBR_SELECT value (intel_shared_regs_constraints).
    /// On mainline the vLBR does not arbitrate: its constraint is returned before shared regs (§3.4).
    func fits(_ i: Int, cpu c: Int) -> Bool {
        let e = events[i]
        var u = cpuUsage[c]
        u.bump(e.need, 1)
        guard u.feasible(gp: pmu.gpCounters, fixed: pmu.fixedCounters) else { return false }
        if e.arbitratesSelect && u.selectRefs > 0 && u.selectValue != e.selectValue { return false }
        return true
    }

    mutating func activate(_ i: Int, cpu c: Int) {
        let e = events[i]
        cpuUsage[c].bump(e.need, 1)
        if e.arbitratesSelect {
            if cpuUsage[c].selectRefs == 0 { cpuUsage[c].selectValue = e.selectValue }
            cpuUsage[c].selectRefs += 1
        }
        events[i].state = .active
        if e.need == .slot58 && e.excludeHost { cpuGuestMaskBit58[c] += 1 } // intel_pmu_enable_event → intel_set_masks
        if e.usesLbr { lbrAdd(i, cpu: c) }
    }

    mutating func deactivate(_ i: Int, to s: PerfState) {
        let e = events[i]
        let c = e.cpu >= 0 ? e.cpu : tasks[e.task].cpu
        cpuUsage[c].bump(e.need, -1)
        if e.arbitratesSelect { cpuUsage[c].selectRefs -= 1 }
        if e.usesLbr { cpuLbrUsers[c] -= 1 }
        if e.need == .slot58 && e.excludeHost { cpuGuestMaskBit58[c] -= 1 } // intel_clear_masks
        events[i].state = s
        // `intel_pmu_lbr_del()` resets nothing: a vLBR that leaves while another LBR user stays (ctx_resched to
        // ERROR, release) leaves its records to that user. A switch of the vCPU thread saved them first and its
        // sched-in resets or restores (`switchTask`), so the exposure lasts only until then (§9.7).
        if e.isVlbr && cpuLbrUsers[c] > 0 { exposeToHost(cpu: c) }
    }

    /// The model's prediction of a host→guest leak at a vLBR's `intel_pmu_lbr_add()` on `c` (§9.2): the vLBR
    /// joins an existing LBR user (no reset: only the first user with total_time_running == 0 resets) — or,
    /// in the zero-period era, is no LBR user at all — while the hardware holds host records.
    func predictsLeakOnVlbrAdd(cpu c: Int, runningNs: UInt64) -> Bool {
        let resets = !era.zeroPeriodVlbr && cpuLbrUsers[c] == 0 && runningNs == 0
        return !resets && cpuLbr[c].hostEntries > 0 && cpuLbr[c].entries.contains { $0.tag == .host }
    }

    /// `intel_pmu_lbr_add()` (upstream lbr.c; §1.6, §3.4, §9.2): `cpuc->br_sel` = the joining event's filter
    /// (never restored by `_del`); `if (!cpuc->lbr_users++ && !event->total_time_running) intel_pmu_lbr_reset()`.
    /// A vLBR that joins without that reset exposes the host's records to the guest: a host→guest leak.
    mutating func lbrAdd(_ i: Int, cpu c: Int) {
        let predicted = events[i].isVlbr && predictsLeakOnVlbrAdd(cpu: c, runningNs: events[i].runningNs)
        var didReset = false
        if cpuLbrUsers[c] == 0 && events[i].runningNs == 0 {
            cpuLbr[c].reset(); didReset = true
        }
        cpuLbrUsers[c] += 1
        cpuBrSel[c] = events[i].branchSampleType
        if events[i].isVlbr && !didReset { exposeToGuest(cpu: c, predicted: predicted) }
        else if predicted { stats.unpredictedExposures &+= 1 }
        // The mirror image (§9.7): a host LBR user that joins without the reset (not the first user, or an event
        // that has run before: the total_time_running heuristic) reads whatever an ACTIVE vLBR left in the LBRs.
        if !events[i].isVlbr && !didReset { exposeToHost(cpu: c) }
    }

    /// Guest records an ACTIVE vLBR left in `c`'s LBRs become readable by host LBR users (§9.7).
    mutating func exposeToHost(cpu c: Int) {
        let n = cpuLbr[c].exposeGuestEntries()
        guard n > 0 else { return }
        stats.guestLeakExposures &+= 1
        stats.guestLeakEntriesExposed &+= UInt64(n)
    }

    /// Host entries in `c`'s LBRs become guest-readable (vLBR joined without reset); checks the prediction.
    mutating func exposeToGuest(cpu c: Int, predicted: Bool) {
        let n = cpuLbr[c].exposeHostEntries()
        if (n > 0) != predicted { stats.unpredictedExposures &+= 1 }
        guard n > 0 else { return }
        stats.hostLeakExposures &+= 1
        stats.hostLeakEntriesExposed &+= UInt64(n)
    }

    /// merge_sched_in(): a pinned event that cannot go on → ERROR (§3.2).
    mutating func setError(_ i: Int, cpu c: Int) {
        events[i].state = .error
        let e = events[i]
        if e.cpu >= 0 {
            // Invariant witness: CPU-pinned events are scheduled before task events (§3.1), so no task
            // event may hold a counter when a CPU-pinned one fails.
            let cur = cpuCurrent[c]
            if cur >= 0 {
                for j in tasks[cur].pinned where events[j].state == .active { stats.cpuPinnedStarvedByTask &+= 1 }
                for j in tasks[cur].flexible where events[j].state == .active { stats.cpuPinnedStarvedByTask &+= 1 }
            }
        }
        if logging && !e.isVlbr {
            let name = eventNames[e.nameIndex]
            emit(.hostEvent(contender: name, state: .error, enabledNs: e.enabledNs, runningNs: e.runningNs))
        }
    }

    /// perf_rotate_context() (§3.2): flexible groups are scheduled out, the first active one moves to the
    /// tail, flexible groups are scheduled in again. Model: one rotate_necessary flag per CPU covers its
    /// CPU and task contexts.
    mutating func rotate(cpu c: Int) {
        guard cpuRotate[c] else { return }
        cpuRotate[c] = false
        let cur = cpuCurrent[c]
        if cur >= 0 {
            let firstActive = tasks[cur].flexible.firstIndex { events[$0].state == .active }
            schedOut(tasks[cur].flexible)
            rotateList(&tasks[cur].flexible, firstActive)
        }
        let firstActive = cpuFlexible[c].firstIndex { events[$0].state == .active }
        schedOut(cpuFlexible[c])
        rotateList(&cpuFlexible[c], firstActive)
        schedIn(cpuFlexible[c], cpu: c)
        if cur >= 0 { schedIn(tasks[cur].flexible, cpu: c) }
    }

    func rotateList(_ l: inout [Int], _ at: Int?) {
        guard l.count > 1 else { return }
        let k = at ?? 0
        let x = l.remove(at: k)
        l.append(x)
    }

    // MARK: Context switch

    func taskHasActiveCallStack(_ t: Int) -> Bool {
        guard t >= 0 else { return false }
        for i in tasks[t].pinned where events[i].state == .active && events[i].callStack {
            if !events[i].isVlbr || variant.saveRestore != .whilePvActive || pvLbrActive { return true }
        }
        for i in tasks[t].flexible where events[i].state == .active && events[i].callStack { return true }
        return false
    }

    /// pv-lbr-ctrl (Wei Wang, v2, Sep 2018: "The KVM hypervisor will add the lbr stack save/restore support on vCPU
    /// switching after the ACTIVE bit is set"): before the guest sets ACTIVE no host perf machinery acts on the
    /// guest's LBR at vCPU switches, so with no other LBR user on the CPU the sched-in leaves the stack alone.
    func pvVlbrIsOnlyLbrUser(cpu c: Int) -> Bool {
        guard variant.saveRestore == .whilePvActive, !pvLbrActive, let v = vlbr, events[v].state == .active else { return false }
        return cpuLbrUsers[c] == 1
    }

    /// A context switch on `c`: `intel_pmu_lbr_sched_task()` saves the outgoing task's stack if it has
    /// call-stack users, perf schedules its task context out, the incoming context in (CPU flexible
    /// groups are rescheduled if it has pinned events), then the LBR stack is restored for a call-stack
    /// task or wiped otherwise — only while the CPU has LBR users (§3.4). For the vCPU thread,
    /// kvm_sched_out sets scheduled_out when loaded and kvm_arch_vcpu_load raises KVM_REQ_PMU (§1.6).
    mutating func switchTask(cpu c: Int, to next: Int) {
        let prev = cpuCurrent[c]
        guard prev != next else { return }
        if prev >= 0 {
            if cpuLbrUsers[c] > 0 && taskHasActiveCallStack(prev) {
                // lazy-restore: a stack never restored/passed through since sched-in is not saved.
                if !(prev == 0 && variant.saveRestore == .lazy && lazyPending) {
                    tasks[prev].saved = cpuLbr[c]
                }
            }
            if prev == 0 && loaded {
                scheduledOut = true
                if variant.defersLbrHandover { servicePerfRequest() }
            }
            schedOut(tasks[prev].flexible)
            schedOut(tasks[prev].pinned)
        }
        cpuCurrent[c] = next
        stats.contextSwitches &+= 1
        // `perf_pmu_sched_task()` → `intel_pmu_lbr_sched_task(NULL, sched_in)` for a CPU LBR user (every LBR event
        // registers with `perf_sched_cb_inc()`): an incoming task without task-context LBR data — here the idle
        // loop — gets `intel_pmu_lbr_reset()` while the CPU has LBR users ("a context switch can flip the address
        // space ... we need to wipe the LBR, even for per-cpu events"). With no LBR user left nothing is reset.
        if next < 0 && cpuLbrUsers[c] > 0 { cpuLbr[c].reset() }
        if next >= 0 {
            tasks[next].cpu = c
            let hasPinned = tasks[next].pinned.contains { events[$0].state.rawValue >= 0 }
            ctxResched(cpu: c, taskPinned: true, taskFlex: true, cpuPinned: false, cpuFlex: hasPinned)
            if cpuLbrUsers[c] > 0 {
                if taskHasActiveCallStack(next) {
                    if next == 0 && variant.saveRestore == .lazy {
                        lazyPending = true // Andi Kleen: don't restore at sched-in; intercept instead
                    } else if let s = tasks[next].saved {
                        cpuLbr[c] = s; tasks[next].saved = nil
                    } else {
                        cpuLbr[c].reset() // LBR_NONE → intel_pmu_lbr_reset()
                    }
                } else if !(next == 0 && pvVlbrIsOnlyLbrUser(cpu: c)) {
                    cpuLbr[c].reset()
                }
            }
            if next == 0 && loaded && scheduledOut {
                scheduledOut = false
                // kvm_arch_vcpu_load: scheduled_out && pmu->version && pmu->event_count (§1.6).
                if vlbr != nil { needCleanup = true; reqPmu = true }
            }
        }
        advanceClock(costs.contextSwitchNs)
    }

    // MARK: Time

    /// Accrue `ns` on every CPU: time_enabled for INACTIVE/ACTIVE events of running contexts,
    /// time_running for ACTIVE ones (§3.3), samples for sampling events, and host branch recording.
    mutating func accrue(_ ns: UInt64) {
        for c in 0..<cpus {
            let guestMode = inGuest && c == vcpuCpu
            let cur = cpuCurrent[c]
            var vlbrOnHere = false
            if let v = vlbr, events[v].state == .active, cur == 0, tasks[0].cpu == c { vlbrOnHere = true }
            // vlbr_exclude_host(): host LBR handling is skipped while the vLBR is ACTIVE on this CPU (§3.4).
            // Bit 58 of intel_ctrl_guest_mask: the vLBR's, or an exclude_host 0x1b00 impostor's with no vLBR (§9.4).
            let starved = vlbrOnHere || cpuGuestMaskBit58[c] > 0
            let hostLbrUsers = cpuLbrUsers[c] - (vlbrOnHere && events[vlbr!].usesLbr ? 1 : 0)
            // pre-2025 era: the stale host DEBUGCTL.LBR=1 snapshot is restored after every VM-exit, so host code
            // of the loaded vCPU's CPU records into the guest-visible stack (§9.2).
            if era.hostDebugctlSnapshot && starved && loaded && !guestMode && c == vcpuCpu && hostDebugctlSnapshotLbr {
                let n = Int(min(UInt64(cpuLbr[c].depth), max(1, ns / 50)))
                cpuLbr[c].recordRun(n, seq: &hostBranchSeq, .hostLeak) { q in 0xffff_ffff_8100_0000 &+ (q & 0xffff) &* 16 }
                stats.hostLeakStreamed &+= UInt64(n)
            }
            // Guest mode with guest DEBUGCTL.LBR=1 (and LBR_SELECT recording CPL0): the guest's code branches
            // between any two samples (the model records a command's branches at once, then charges its time).
            var recorded = guestMode && guestModeRecordingOn(cpu: c)
                && guestModeSelect(cpu: c, vlbrActive: vlbrOnHere) & LbrSelect.suppressKernel == 0
            if !guestMode && !starved && hostLbrUsers > 0 {
                recorded = true
                // Host code runs with a host LBR event enabled: the hardware records host branches
                // (one every 50 ns of host time, model constant).
                // While the vCPU thread is blocked between commands (idle in the model), the host work charged
                // here is the runner's: its user-space code's calls/returns alternate with kernel branches.
                let n = Int(min(UInt64(cpuLbr[c].depth), max(1, ns / 50)))
                let idle = cur < 0
                cpuLbr[c].recordRun(n, seq: &hostBranchSeq, .host) { q in
                    let user = idle && q & 1 == 1
                    return (user ? KernelModel.hostUserBase : 0xffff_ffff_8100_0000) &+ (q & 0xffff) &* 16
                }
            }
            // The detector keeps only samples of the vCPU thread's TID (§9.1, as the hw backend filters them):
            // samples taken while another task (or the idle loop) runs here are real reads, then filtered out.
            let kept = cur == 0
            accrueList(cpuPinned[c], c, ns, guestMode, starved, recorded, kept)
            accrueList(cpuFlexible[c], c, ns, guestMode, starved, recorded, kept)
            if cur >= 0 {
                accrueList(tasks[cur].pinned, c, ns, guestMode, starved, recorded, kept)
                accrueList(tasks[cur].flexible, c, ns, guestMode, starved, recorded, kept)
            }
        }
    }

    /// A real `intel_pmu_lbr_read()` on `c` (§9.1): `cpuc->lbr_stack` = the hardware stack as filtered by
    /// `intel_pmu_lbr_filter()` with `cpuc->br_sel` (a user-only filter left by a vLBR's `_del` drops the
    /// host's kernel records: model host branches are kernel addresses; UNVERIFIED on hardware, §9.2).
    mutating func realLbrRead(cpu c: Int, distinctFromPrevious: Bool) -> LastLbrRead {
        let l = cpuLbr[c]
        let userOnly = cpuBrSel[c] & PerfBranch.kernel == 0 && cpuBrSel[c] & PerfBranch.user != 0
        func isUser(_ e: LbrEntry) -> Bool { e.from < 0x8000_0000_0000_0000 }
        var hostVisible = l.hostEntries
        if userOnly && l.hostEntries > 0 {
            hostVisible = 0
            for e in l.entries where (e.tag == .host || e.tag == .hostLeak) && isUser(e) { hostVisible += 1 }
        }
        // The newest entry the filter keeps (from TOS backwards).
        var top: (UInt64, UInt64) = (0, 0)
        for k in 0..<l.depth {
            let e = l.entries[(Int(l.tos) - k + l.depth) % l.depth]
            if e.tag != .empty && (e.tag == .guest || e.tag == .guestLeak || !userOnly || isUser(e)) { top = (e.from, e.to); break }
        }
        if distinctFromPrevious { cpuLbr[c].version &+= 1 }
        if l.guestEntries > 0 {
            // Guest records in a host read: a predicted path exposed them (`.guestLeak`), or none did.
            if l.ownedGuestEntries > 0 { stats.guestDataHostReads &+= 1 } else { stats.guestLeakReads &+= 1 }
        }
        // `intel_pmu_lbr_read_64()` reads all lbr_nr entries, zero ones included, unless `cpuc->lbr_sel` (the shared
        // register, `Usage.selectValue`) is in call-stack mode, where it stops at the first zero FROM; then
        // `intel_pmu_lbr_filter()` drops what `cpuc->br_sel` does not select — entries with no branch type (zeros)
        // among them — and compacts, unless br_sel selects every branch (X86_BR_ALL: `-b` with user and kernel).
        let b = cpuBrSel[c]
        let noSoftwareFilter = b & PerfBranch.any != 0 && b & PerfBranch.user != 0 && b & PerfBranch.kernel != 0
        var nr = l.guestEntries + hostVisible
        if noSoftwareFilter {
            if cpuUsage[c].selectValue & LbrSelect.callStack == 0 {
                nr = l.depth
            } else {
                nr = 0
                while nr < l.depth && l.entries[(Int(l.tos) - nr + l.depth) % l.depth].tag != .empty { nr += 1 }
            }
        }
        let r = LastLbrRead(hwIdx: l.tos, version: cpuLbr[c].version, nr: nr,
                            guestEntries: l.guestEntries, top: top)
        cpuLastRead[c] = r
        if sampleLog != nil {
            // The entries the filter keeps, newest first (perf's order), each tagged with the register version.
            var entries: [PerfBranchEntry] = []
            entries.reserveCapacity(r.nr)
            for k in 0..<l.depth {
                let e = l.entries[(Int(l.tos) - k + l.depth) % l.depth]
                if e.tag != .empty && (e.tag == .guest || !userOnly || isUser(e)) {
                    entries.append(PerfBranchEntry(from: e.from, to: e.to, flags: cpuLbr[c].version))
                }
            }
            sampleLog!.cpuLastRead[c] = PerfBranchStack(hwIndex: l.tos, entries: entries)
        }
        return r
    }

    /// Counts one host LBR sample of event `i` showing `r` (hw_idx, entries): stale when equal to the previous.
    mutating func countSample(_ i: Int, _ r: LastLbrRead, times n: Int, kept: Bool = true) {
        guard n > 0 else { return }
        if !kept {
            // Written to the ring and compared against by the next sample, but not the vCPU thread's (§9.1).
            events[i].prevSample = (r.hwIdx, r.version)
            return
        }
        // An exact repeat of the previous sample (same hw_idx and entries, nr == 0 included) is stale; an
        // empty stack that does not repeat its predecessor is only empty (br_sel filtering, §9.6).
        if r.nr == 0 { events[i].emptyBranches += n } else { events[i].withBranches += n }
        events[i].guestAddresses += n * r.guestEntries
        var stale = n - 1
        if let p = events[i].prevSample, p.hwIdx == r.hwIdx, p.version == r.version { stale = n }
        if stale > 0 {
            events[i].staleRepeats += stale
            if events[i].staleExample == nil {
                func h(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
                events[i].staleExample = "hw_idx \(h(r.hwIdx)), \(r.nr) entries, \(h(r.top.from))->\(h(r.top.to)) ... (model)"
            }
        }
        events[i].prevSample = (r.hwIdx, r.version)
    }

    /// Records `n` samples of event `i` showing `cpuc->lbr_stack` of CPU `c` at the end of an `ns` interval,
    /// when samples are recorded (`recordSamples`).
    @inline(__always)
    mutating func logSamples(_ i: Int, _ c: Int, _ ns: UInt64, _ n: Int) {
        guard sampleLog != nil else { return }
        let stack = sampleLog!.cpuLastRead[c] ?? PerfBranchStack(hwIndex: 0, entries: [])
        sampleLog!.append(event: i, cpu: c, task: cpuCurrent[c], timeNs: nowNs &+ ns, stack: stack, times: n)
    }

    mutating func accrueList(_ list: [Int], _ c: Int, _ ns: UInt64, _ guestMode: Bool, _ starved: Bool, _ recorded: Bool,
                             _ kept: Bool = true) {
        for i in list {
            let st = events[i].state
            if st.rawValue < 0 || events[i].pendingInstall { continue }
            events[i].enabledNs &+= ns
            guard st == .active else { continue }
            events[i].runningNs &+= ns
            let period = events[i].periodNs
            guard period > 0 else { continue }
            // exclude_guest events are disabled on VM-entry (PERF_GLOBAL_CTRL host mask, §4).
            if guestMode ? events[i].excludeGuest : events[i].excludeHost { continue }
            let acc = events[i].sampleAccNs &+ ns
            guard acc >= period else { events[i].sampleAccNs = acc; continue }
            let n = Int(acc / period)
            events[i].sampleAccNs = acc % period
            if kept { events[i].samples += n } else { events[i].filteredOut += n }
            guard events[i].usesLbr else { continue }
            if starved {
                // §9.1: intel_pmu_lbr_read() returns early; the sample carries cpuc->lbr_stack of the last real
                // read on this CPU (empty only if the CPU never read its LBRs).
                let r = cpuLastRead[c] ?? LastLbrRead(hwIdx: 0, version: 0, nr: 0, guestEntries: 0, top: (0, 0))
                countSample(i, r, times: n, kept: kept)
                logSamples(i, c, ns, n)
            } else if recorded {
                // Host code ran between these samples: each is a distinct real read.
                for _ in 0..<n {
                    countSample(i, realLbrRead(cpu: c, distinctFromPrevious: true), times: 1, kept: kept)
                    logSamples(i, c, ns, 1)
                }
            } else {
                countSample(i, realLbrRead(cpu: c, distinctFromPrevious: false), times: n, kept: kept)
                logSamples(i, c, ns, n)
            }
        }
    }
}
