// The kernel model: perf event scheduling (kernel/events/core.c, arch/x86/events/intel/{core,lbr}.c)
// and KVM's perf-based guest LBR (arch/x86/kvm/vmx/{pmu_intel,vmx}.c, arch/x86/kvm/{pmu,x86}.c),
// as a deterministic discrete-event simulation of one or more host CPUs and one vCPU.
//
// Every rule carries a citation: "§n" is a section of docs/reference.md; variant
// rules cite the LKML message (see Variants.swift). Rules checked directly in upstream source beyond
// the reference say "upstream:" and name the function.
import LbrCore

// MARK: - Internal state

/// perf_event_state values that matter here (include/linux/perf_event.h, §3.2).
enum PerfState: Int8 { case error = -2, off = -1, inactive = 0, active = 1 }

/// Which counter an event needs (§3.4 (a)/(b)). Fixed counter k: 0 instructions, 1 cycles,
/// 2 ref-cycles, 3 TOPDOWN.SLOTS.
enum CounterNeed: Equatable { case none, gp, fixedOnly(Int), fixedOrGp(Int), slot58 }

struct EventRecord {
    /// Index into `KernelModel.eventNames` (keeps this record trivially copyable).
    var nameIndex: Int
    var isVlbr: Bool
    /// CPU scope: the CPU; task scope: -1.
    var cpu: Int
    /// Task scope: the task; CPU scope: -1.
    var task: Int
    var pinned: Bool
    var state: PerfState
    var closed = false
    var need: CounterNeed
    /// needs_branch_stack(): an LBR user (`intel_pmu_lbr_add`, §3.4).
    var usesLbr: Bool
    /// CALL_STACK branch mode: perf saves/restores the task's LBR stack (§3.4 last bullet).
    var callStack: Bool
    /// Goes through the LBR_SELECT shared-register constraint (§3.4).
    var arbitratesSelect: Bool
    var selectValue: UInt64
    var excludeGuest: Bool
    var excludeHost: Bool
    /// Sample period in ns of running time (0: counting event).
    var periodNs: UInt64
    /// The attribute's sample period in counts (0: counting event).
    var samplePeriod: UInt64 = 0
    var enabledNs: UInt64 = 0
    var runningNs: UInt64 = 0
    var sampleAccNs: UInt64 = 0
    var samples = 0, withBranches = 0, emptyBranches = 0, guestAddresses = 0
    /// Samples taken while another task than the vCPU thread ran on the CPU (a CPU-pinned event samples every
    /// task): real reads that set `cpuc->lbr_stack`, dropped by the vCPU-thread TID filter (§9.1), as on hw.
    var filteredOut = 0
    /// Samples whose (hw_idx, entries) equal the previous sample's since the last drain (§9.1), one example.
    var staleRepeats = 0
    var staleExample: String? = nil
    /// (hw_idx, register version) of the previous sample since the last drain.
    var prevSample: (hwIdx: UInt64, version: UInt64)? = nil
    /// Explicit operations (enable, disable, close, release) applied: the only legal way out of ERROR.
    var explicitOps: UInt32 = 0
    /// perf-request: installed but waiting for KVM to hand over at a safe point.
    var pendingInstall = false
    /// branch_sample_type (for `cpuc->br_sel`, §9.2).
    var branchSampleType: UInt64 = 0
}

/// Counter occupancy of one CPU (x86_schedule_events feasibility, §3.4 (b)).
struct Usage: Equatable {
    var gpOnly = 0
    var fixedOnly = (0, 0, 0, 0)
    var either = (0, 0, 0, 0)
    var slot58 = 0
    var selectRefs = 0
    var selectValue: UInt64 = 0

    static func == (a: Usage, b: Usage) -> Bool {
        a.gpOnly == b.gpOnly && a.fixedOnly == b.fixedOnly && a.either == b.either && a.slot58 == b.slot58
            && a.selectRefs == b.selectRefs && a.selectValue == b.selectValue
    }

    func fixedOnlyCount(_ k: Int) -> Int {
        switch k { case 0: return fixedOnly.0; case 1: return fixedOnly.1; case 2: return fixedOnly.2; default: return fixedOnly.3 }
    }
    func eitherCount(_ k: Int) -> Int {
        switch k { case 0: return either.0; case 1: return either.1; case 2: return either.2; default: return either.3 }
    }
    mutating func bump(_ need: CounterNeed, _ d: Int) {
        switch need {
        case .none: break
        case .gp: gpOnly += d
        case .slot58: slot58 += d
        case let .fixedOnly(k):
            switch k { case 0: fixedOnly.0 += d; case 1: fixedOnly.1 += d; case 2: fixedOnly.2 += d; default: fixedOnly.3 += d }
        case let .fixedOrGp(k):
            switch k { case 0: either.0 += d; case 1: either.1 += d; case 2: either.2 += d; default: either.3 += d }
        }
    }
    /// Feasible assignment exists: each fixed counter holds at most one event of its kind, every
    /// other event needs a GP counter; the fake counter 58 holds one event (§3.4).
    func feasible(gp: Int, fixed: Int) -> Bool {
        if slot58 > 1 { return false }
        // collect_events(): n_events >= max_count (GP + fixed) → -EINVAL; the vLBR counts too (§3.4 (b)).
        if total > gp + fixed { return false }
        var demand = gpOnly
        for k in 0..<4 {
            let fo = fixedOnlyCount(k), ei = eitherCount(k)
            let exists = k < fixed
            if fo > (exists ? 1 : 0) { return false }
            let fixedFree = exists && fo == 0
            demand += fixedFree && ei > 0 ? ei - 1 : ei
        }
        return demand <= gp
    }
    /// Total counters in use (for the invariant report).
    var total: Int {
        gpOnly + slot58 + fixedOnly.0 + fixedOnly.1 + fixedOnly.2 + fixedOnly.3
            + either.0 + either.1 + either.2 + either.3
    }
}

struct TaskState {
    var cpu: Int
    var pinned: [Int] = []
    var flexible: [Int] = []
    /// Task-context LBR save area (LBR_VALID when non-nil, §3.4 intel_pmu_lbr_sched_task).
    var saved: LbrStack? = nil
}

/// Counters the model keeps for benchmarks and invariant checks.
public struct ModelStats: Hashable, Sendable {
    /// Public operations processed ("model events").
    public var operations: UInt64 = 0
    public var contextSwitches: UInt64 = 0
    public var vmEntries: UInt64 = 0
    public var vmExits: UInt64 = 0
    public var kmsgLines: UInt64 = 0
    public var kmsgSuppressed: UInt64 = 0
    /// Guest reads that returned a host LBR entry that no predicted leak path exposed (must stay 0).
    public var hostDataLeaks: UInt64 = 0
    /// Real host LBR reads that saw guest records a predicted path exposed (`LbrProvenance.guestLeak`: taken while
    /// the vLBR was not ACTIVE, or left by an ACTIVE vLBR to a host LBR user without a reset): the guest→host leak
    /// (§9.7; a finding, not a violation).
    public var guestLeakReads: UInt64 = 0
    /// Times an ACTIVE vLBR's records became readable by a host LBR user (a host event's `intel_pmu_lbr_add()`
    /// without reset, or the vLBR leaving the CPU without a switch of its thread while another LBR user stays),
    /// and how many records that exposed in total (§9.7).
    public var guestLeakExposures: UInt64 = 0
    public var guestLeakEntriesExposed: UInt64 = 0
    /// Real host LBR reads that saw guest records no predicted path exposed (must stay 0: explorer invariant
    /// `host-reads-guest-data-only-as-predicted`).
    public var guestDataHostReads: UInt64 = 0
    /// Guest reads of host LBR entries exposed by a predicted path: the host→guest branch leak (§9.2).
    public var hostLeakReads: UInt64 = 0
    /// Times a vLBR joined an existing LBR user without a reset while the hardware held host entries
    /// (`intel_pmu_lbr_add`, §9.2), and how many host entries that exposed in total.
    public var hostLeakExposures: UInt64 = 0
    public var hostLeakEntriesExposed: UInt64 = 0
    /// Host entries streamed into the guest-visible stack by a stale host DEBUGCTL.LBR=1 (era option).
    public var hostLeakStreamed: UInt64 = 0
    /// An exposure the model's prediction (`predictsLeakOnVlbrAdd`) did not announce, or vice versa (must stay 0).
    public var unpredictedExposures: UInt64 = 0
    /// PMU resets refused because the vCPU had already run (kvm_pmu_refresh after KVM_RUN, §9.4).
    public var refusedPmuResets: UInt64 = 0
    /// A CPU-pinned event went to ERROR while a task event held a counter on its CPU (must stay 0).
    public var cpuPinnedStarvedByTask: UInt64 = 0
    /// perf-request: a deferred install was still pending after a VM-entry's request processing (must stay 0).
    public var deferredAcrossEntry: UInt64 = 0
    /// Passthrough was enabled with the vLBR not ACTIVE (must stay 0).
    public var passthroughWithoutActiveVlbr: UInt64 = 0
}

// MARK: - The model

/// A deterministic model of perf scheduling and KVM's guest LBR on Intel (see docs/model.md).
///
/// The clock (`nowNs`) advances only through ``advance(ns:)`` and the fixed ``ModelCosts`` of operations.
/// One vCPU exists; its thread is ``ModelTask/vcpuThread`` and it runs on `vcpuCpu`.
public struct KernelModel: Sendable {
    public let variant: KernelVariant
    public let pmu: ModelPMU
    public let cpus: Int
    public let vcpuCpu: Int
    public var costs: ModelCosts
    /// When false, no observation is recorded (exploration and benchmarks); state and stats still evolve.
    public var logging: Bool

    public internal(set) var nowNs: UInt64 = 0
    public internal(set) var stats = ModelStats()
    public internal(set) var observations: [TimedObservation] = []

    var events: [EventRecord] = []
    /// Contender names (interned; EventRecord.nameIndex points here).
    var eventNames: [String] = ["vlbr"]
    // Per-CPU state, kept in parallel arrays (cheap element access in debug builds).
    /// Task running on each CPU (-1: idle, no task context).
    var cpuCurrent: [Int] = []
    /// CPU-context pinned / flexible events (flexible in rotation order).
    var cpuPinned: [[Int]] = []
    var cpuFlexible: [[Int]] = []
    /// Counter occupancy.
    var cpuUsage: [Usage] = []
    /// cpuc->lbr_users (§3.4).
    var cpuLbrUsers: [Int] = []
    /// The LBR hardware.
    var cpuLbr: [LbrStack] = []
    /// ctx->rotate_necessary (CPU and task context of that CPU).
    var cpuRotate: [Bool] = []
    var tasks: [TaskState] = []
    var nextRotationNs: UInt64

    // KVM vCPU state
    var loaded = false
    var inGuest = false
    /// vcpu->scheduled_out (kvm_sched_out/kvm_sched_in, §1.6).
    var scheduledOut = false
    /// pmu->need_cleanup and KVM_REQ_PMU (§1.6).
    var needCleanup = false
    var reqPmu = false
    /// lbr_desc->event (§1.1).
    var vlbr: Int? = nil
    /// pmc_in_use bit INTEL_PMC_IDX_FIXED_VLBR (§1.1).
    var vlbrInUse = false
    public internal(set) var passthrough = false
    /// GUEST_IA32_DEBUGCTL in the VMCS (§1.9).
    public internal(set) var guestDebugctl: UInt64 = 0
    /// pv-lbr-ctrl: the guest's PV "LBR active" declaration.
    public internal(set) var pvLbrActive = false
    /// lazy-restore: LBR MSRs intercepted since the last vCPU sched-in, stack not yet restored.
    var lazyPending = false
    /// perf-request: perf asked KVM to hand over the LBRs.
    var perfRequestPending = false
    /// perf-request: perf told KVM the LBRs are free again.
    var perfNotifyFree = false
    /// BTS or PT active on the host (nil: neither); LBR event creation fails where it excludes LBR
    /// (`x86_add_exclusive`, §3.4 (c)).
    public internal(set) var hostBranchTracer: ExclusiveBranchTracer? = nil
    var hostBranchSeq: UInt64 = 0
    var lastLoggedVlbr: VlbrState = .none
    /// Kernel-era options (named, cited model parameters; `.current` is today's mainline).
    public let era: ModelEra
    /// Whether the VM has an in-kernel irqchip (KVM_CREATE_IRQCHIP). lbrprobe's has not; it decides whether
    /// enable_mediated_pmu=Y gives the VM a mediated vPMU or no PMU at all (§2.4).
    public let vmHasInKernelIrqchip: Bool
    /// The system-wide kmsg ratelimit state of `pr_warn_ratelimited` in vmx_passthrough_lbr_msrs (§9.4), shared
    /// by every model that uses the same instance; `ratelimitBaseNs` maps this model's clock onto its clock.
    public let ratelimit: KmsgRatelimit
    public internal(set) var ratelimitBaseNs: UInt64 = 0
    /// `cpuc->lbr_stack` per CPU: the last real `intel_pmu_lbr_read()` (§9.1); nil while the CPU never read.
    var cpuLastRead: [LastLbrRead?] = []
    /// Every host sample as a perf record (nil, the default: not recorded); see `recordSamples()`.
    var sampleLog: ModelSampleLog? = nil
    /// Per CPU: ACTIVE exclude_host events on the fake counter 58 — bit 58 of `cpuc->intel_ctrl_guest_mask`, set by
    /// `intel_set_masks()` for the vLBR and for an exclude_host 0x1b00 impostor alike; `vlbr_exclude_host()` tests it.
    var cpuGuestMaskBit58: [Int] = []
    /// `cpuc->br_sel` per CPU: the branch filter of the last `intel_pmu_lbr_add()`; `_del` leaves it (§9.2).
    var cpuBrSel: [UInt64] = []
    /// The vCPU has entered the guest at least once (kvm_pmu_refresh is refused from then on, §9.4).
    public internal(set) var hasRun = false
    /// The vLBR's state when the vCPU thread last blocked (`vcpuThreadBlocks`), reported while it sleeps.
    var vlbrStateWhileThreadBlocked: VlbrState? = nil
    /// pre-2025 era: host DEBUGCTL as snapshotted by vmx_vcpu_load (LBR bit).
    var hostDebugctlSnapshotLbr = false

    /// Create a model. `cpus` host CPUs; the vCPU thread runs on `vcpuCpu`; the default host task on
    /// the same CPU.
    public init(variant: KernelVariant, pmu: ModelPMU, cpus: Int = 1, vcpuCpu: Int = 0,
                costs: ModelCosts = ModelCosts(), logging: Bool = true, era: ModelEra = .current,
                ratelimit: KmsgRatelimit? = nil, vmHasInKernelIrqchip: Bool = false) {
        precondition(cpus >= 1 && vcpuCpu >= 0 && vcpuCpu < cpus)
        precondition(pmu.lbrLayout.depth > 0 && pmu.lbrLayout.depth & (pmu.lbrLayout.depth - 1) == 0)
        self.variant = variant; self.pmu = pmu; self.cpus = cpus; self.vcpuCpu = vcpuCpu
        self.costs = costs; self.logging = logging; self.era = era; self.vmHasInKernelIrqchip = vmHasInKernelIrqchip
        self.ratelimit = ratelimit ?? KmsgRatelimit(intervalNs: costs.ratelimitIntervalNs, burst: costs.ratelimitBurst)
        self.ratelimitBaseNs = self.ratelimit.clockNs
        cpuLastRead = Array(repeating: nil, count: cpus)
        cpuBrSel = Array(repeating: 0, count: cpus)
        cpuGuestMaskBit58 = Array(repeating: 0, count: cpus)
        self.nextRotationNs = costs.rotationIntervalNs
        for c in 0..<cpus {
            // The vCPU thread is current on its CPU; other CPUs run an idle host task (task -1 has no ctx).
            cpuCurrent.append(c == vcpuCpu ? 0 : -1)
            cpuPinned.append([]); cpuFlexible.append([]); cpuUsage.append(Usage()); cpuLbrUsers.append(0)
            cpuLbr.append(LbrStack(depth: pmu.lbrLayout.depth)); cpuRotate.append(false)
        }
        tasks = [TaskState(cpu: vcpuCpu), TaskState(cpu: vcpuCpu)]
    }

    // MARK: Public state

    /// KVM's vLBR event state (none when no event exists, §1.1).
    public var vlbrState: VlbrState {
        guard let v = vlbr else { return .none }
        // A task event is INACTIVE while its task sleeps: report the vLBR as of the thread's last run instead.
        if let s = vlbrStateWhileThreadBlocked, cpuCurrent[vcpuCpu] != 0, events[v].state == .inactive { return s }
        switch events[v].state { case .active: return .active; case .inactive: return .inactive
                                 case .error: return .error; case .off: return .off }
    }
    /// The vLBR's event id, if one exists (for tests and the sim backend).
    public var vlbrEvent: ModelEventID? { vlbr.map { ModelEventID(raw: $0) } }
    /// Whether the vCPU is in guest mode.
    public var isInGuest: Bool { inGuest }
    /// Whether the vCPU is loaded (inside KVM_RUN).
    public var isLoaded: Bool { loaded }
    /// The task currently running on `cpu` (nil for the idle task).
    public func currentTask(cpu: Int) -> ModelTask? {
        let t = cpuCurrent[cpu]
        return t < 0 ? nil : ModelTask(t)
    }
    /// The hardware LBR stack of `cpu` as the registers hold it (TOS, FROM, TO, INFO).
    public func hardwareLbr(cpu: Int = 0) -> LbrStackSnapshot {
        let s = cpuLbr[cpu]
        return LbrStackSnapshot(tos: s.tos, from: s.entries.map(\.from), to: s.entries.map(\.to),
                                info: pmu.lbrLayout.info == nil ? [] : s.entries.map(\.info))
    }
    /// Provenance of each hardware LBR entry of `cpu` (model ground truth).
    public func hardwareLbrProvenance(cpu: Int = 0) -> [LbrProvenance] { cpuLbr[cpu].entries.map(\.tag) }
    /// Active counters on `cpu` (GP + fixed + fake counter 58).
    public func countersInUse(cpu: Int) -> Int { cpuUsage[cpu].total }
    /// All events ever created (ids are never reused).
    public var allEvents: [ModelEventID] { (0..<events.count).map { ModelEventID(raw: $0) } }

    /// Return and clear the observation log.
    public mutating func drainObservations() -> [TimedObservation] {
        defer { observations.removeAll(keepingCapacity: true) }
        return observations
    }

    /// Clear the observation log, keeping its storage (after reading `observations`: a drain without a copy).
    public mutating func clearObservations() {
        observations.removeAll(keepingCapacity: true)
    }

    // MARK: Clock

    /// Advance the clock by `ns`: running events accrue time, samples are taken, host code records
    /// host branches, and perf rotates flexible events every `rotationIntervalNs` (§3.2).
    public mutating func advance(ns: UInt64) {
        stats.operations &+= 1
        advanceClock(ns)
    }

    mutating func advanceClock(_ ns: UInt64) {
        var remaining = ns
        while remaining > 0 {
            let toTick = nextRotationNs > nowNs ? nextRotationNs - nowNs : 0
            let step = min(remaining, toTick)
            if step > 0 { accrue(step); nowNs += step; remaining -= step }
            if nowNs >= nextRotationNs {
                for c in 0..<cpus { rotate(cpu: c) }
                nextRotationNs += costs.rotationIntervalNs
            }
        }
    }

    // MARK: Host side

    /// Open the events of `contender` (its `attributes`) on `cpu`. CPU-scoped contenders are
    /// `pid = -1, cpu = N` events (§4); task-scoped ones attach to `task` (default: the host task).
    /// Returns the ids of the events created; an event whose creation fails (mediated include-guest
    /// conflict, §6.3) is not returned and a note is logged.
    @discardableResult
    public mutating func openHost(_ contender: Contender, cpu: Int, task: ModelTask = .hostTask) -> [ModelEventID] {
        stats.operations &+= 1
        // An install on the CPU where the vCPU is in guest mode needs the IPI (§3.5).
        if inGuest && cpu == vcpuCpu && contender.isCpuScoped {
            return installWhileRunningInternal(contender, cpu: cpu)
        }
        advanceClock(costs.perfSyscallNs)
        return createAndInstall(contender, cpu: cpu, task: task.raw)
    }

    /// A perf operation on an event of the vCPU's CPU while the vCPU is in guest mode is an IPI
    /// (event_function_call / cpu_function_call), which exits the guest (§3.5). perf-request keeps the
    /// IPI but defers any LBR takeover (see `shouldDefer`). Returns whether an exit happened.
    mutating func ipiExitIfNeeded(_ i: Int) -> Bool {
        guard inGuest else { return false }
        let e = events[i]
        let c = e.cpu >= 0 ? e.cpu : tasks[e.task].cpu
        guard c == vcpuCpu, e.cpu >= 0 || cpuCurrent[c] == e.task else { return false }
        exitInternal()
        advanceClock(costs.ipiNs)
        return true
    }

    /// Install `contender` on the vCPU's CPU while the vCPU is in guest mode (entering first if needed):
    /// the install IPI causes a VM-exit, perf runs `ctx_resched()` with the vCPU still loaded, and KVM
    /// re-evaluates the vLBR at the next VM-entry (§3.5). On `perf-request` the handover is deferred to
    /// KVM's next safe point instead.
    @discardableResult
    public mutating func installWhileRunning(_ contender: Contender) -> [ModelEventID] {
        stats.operations &+= 1
        if !inGuest { enterInternal() }
        return installWhileRunningInternal(contender, cpu: vcpuCpu)
    }

    mutating func installWhileRunningInternal(_ contender: Contender, cpu: Int) -> [ModelEventID] {
        if variant.defersLbrHandover {
            // perf-request: no IPI-driven takeover; perf sets the request (installed as pending).
            advanceClock(costs.perfSyscallNs)
            return createAndInstall(contender, cpu: cpu, task: ModelTask.hostTask.raw)
        }
        // §3.5: the IPI cannot be taken in the IRQ-disabled entry window; it exits the guest.
        exitInternal()
        advanceClock(costs.ipiNs)
        let ids = createAndInstall(contender, cpu: cpu, task: ModelTask.hostTask.raw)
        enterInternal()
        return ids
    }

    mutating func createAndInstall(_ contender: Contender, cpu: Int, task: Int) -> [ModelEventID] {
        var ids: [ModelEventID] = []
        for attr in contender.attributes {
            // §6.3: include_guest core-PMU events fail with -EOPNOTSUPP while a mediated VM exists.
            if variant.includeGuestEventsConflict(vmHasInKernelIrqchip: vmHasInKernelIrqchip) && !attr.excludeGuest
                && counterNeed(attr) != .none {
                emit(.note("perf_event_open(\(contender.name)): EOPNOTSUPP: include_guest event while a mediated vPMU VM exists (§6.3)"))
                continue
            }
            let scopeCpu = contender.isCpuScoped ? cpu : -1
            let scopeTask = contender.isCpuScoped ? -1 : task
            if scopeTask >= 0 { ensureTask(scopeTask, cpu: cpu) }
            let lbrUser = attr.hasBranchStack
            let nameIndex = internName(contender.name)
            let rec = EventRecord(
                nameIndex: nameIndex, isVlbr: false, cpu: scopeCpu, task: scopeTask, pinned: attr.pinned,
                state: attr.disabled ? .off : .inactive, need: counterNeed(attr), usesLbr: lbrUser,
                callStack: lbrUser && attr.branchSampleType & PerfBranch.callStack != 0,
                arbitratesSelect: lbrUser, selectValue: lbrSelectValue(attr.branchSampleType),
                excludeGuest: attr.excludeGuest, excludeHost: attr.excludeHost,
                periodNs: (attr.samplePeriod + max(1, costs.countsPerNs) - 1) / max(1, costs.countsPerNs),
                samplePeriod: attr.samplePeriod, branchSampleType: attr.branchSampleType)
            let idx = events.count
            events.append(rec)
            install(idx)
            ids.append(ModelEventID(raw: idx))
        }
        noteVlbrState()
        return ids
    }

    mutating func internName(_ n: String) -> Int {
        if let i = eventNames.firstIndex(of: n) { return i }
        eventNames.append(n)
        return eventNames.count - 1
    }

    /// Close a host event (`close(fd)` → perf_remove_from_context: scheduled out, no reschedule of others).
    public mutating func close(_ id: ModelEventID) {
        hostEventSyscall(id) { m, i in m.closeInternal(i) }
    }

    /// PERF_EVENT_IOC_ENABLE: OFF/ERROR → INACTIVE, then `ctx_resched()` if its context is running (§3.2).
    public mutating func enable(_ id: ModelEventID) {
        hostEventSyscall(id) { m, i in m.enableInternal(i) }
    }

    /// PERF_EVENT_IOC_DISABLE: scheduled out, OFF; nothing else is rescheduled (upstream: __perf_event_disable).
    public mutating func disable(_ id: ModelEventID) {
        hostEventSyscall(id) { m, i in
            m.events[i].explicitOps &+= 1
            if m.events[i].state == .active { m.deactivate(i, to: .off) } else { m.events[i].state = .off }
            if m.events[i].usesLbr && !m.events[i].isVlbr { m.lbrFreedByHost() }
        }
    }

    /// A host syscall on an open event: the syscall's cost, the IPI exit when the event's CPU is running the
    /// vCPU (the IPI forces a VM-exit, §3.5), the operation, re-entry, and the vLBR state note.
    private mutating func hostEventSyscall(_ id: ModelEventID, _ op: (inout KernelModel, Int) -> Void) {
        stats.operations &+= 1
        advanceClock(costs.perfSyscallNs)
        guard events.indices.contains(id.raw), !events[id.raw].closed else { return }
        let ipi = ipiExitIfNeeded(id.raw)
        op(&self, id.raw)
        if ipi { enterInternal() }
        noteVlbrState()
    }

    /// State of an event as userspace sees it.
    public func state(_ id: ModelEventID) -> HostEventState {
        guard events.indices.contains(id.raw) else { return .closed }
        let e = events[id.raw]
        if e.closed { return .closed }
        switch e.state { case .active: return .active; case .inactive: return .inactive
                         case .error: return .error; case .off: return .off }
    }

    /// `read()` with TOTAL_TIME_ENABLED|RUNNING: nil for an ERROR event (0 bytes, §3.3) or a closed one.
    public mutating func read(_ id: ModelEventID) -> HostRead? {
        stats.operations &+= 1
        guard events.indices.contains(id.raw), !events[id.raw].closed else { return nil }
        let e = events[id.raw]
        if logging {
            let st = state(id)
            let name = eventNames[e.nameIndex]
            emit(.hostEvent(contender: name, state: st, enabledNs: e.enabledNs, runningNs: e.runningNs))
        }
        if e.state == .error { return nil }
        // §9.4: the counter-58 impostor (raw 0x1b00) counts nothing: the fake counter has no hardware behind it.
        let value = e.need == .slot58 ? 0 : e.runningNs &* costs.countsPerNs
        return HostRead(value: value, enabledNs: e.enabledNs, runningNs: e.runningNs)
    }

    /// Samples accumulated since the last drain. Samples are produced every `sample_period / countsPerNs`
    /// ns of running time while the event is ACTIVE and its CPU/task runs (none in guest mode for
    /// exclude_guest events). A host LBR sample has an empty branch stack while starved by
    /// vlbr_exclude_host (§3.4); it carries guest addresses when the event includes the guest and the
    /// guest runs with DEBUGCTL.LBR=1 (§1.9 VM_ENTRY_LOAD_DEBUG_CONTROLS; Sean's question 2 in the seed).
    public mutating func drainSamples(_ id: ModelEventID) -> HostSampleSummary {
        stats.operations &+= 1
        guard events.indices.contains(id.raw) else {
            return HostSampleSummary(contender: "?", samples: 0, withBranches: 0, emptyBranches: 0, guestAddresses: 0)
        }
        let e = events[id.raw]
        let s = HostSampleSummary(contender: eventNames[e.nameIndex], samples: e.samples, withBranches: e.withBranches,
                                  emptyBranches: e.emptyBranches, guestAddresses: e.guestAddresses,
                                  staleRepeats: e.staleRepeats, withHwIndex: e.usesLbr ? e.samples : 0,
                                  filteredOut: e.filteredOut,
                                  samplePeriod: e.periodNs > 0 ? e.samplePeriod : nil,
                                  staleExample: e.staleExample)
        events[id.raw].samples = 0; events[id.raw].withBranches = 0; events[id.raw].filteredOut = 0
        events[id.raw].emptyBranches = 0; events[id.raw].guestAddresses = 0
        // `prevSample` is kept: like the hw drain (SampleAnalysis `previous`), the first sample of the next drain is
        // compared with the last sample before it on that CPU.
        events[id.raw].staleRepeats = 0; events[id.raw].staleExample = nil
        if logging { emit(.hostSamples(s)) }
        return s
    }

    /// From now on, every host LBR sample is also kept as a perf record (TID, time, CPU, hw_idx, entries), handed
    /// out per event by `drainSampleBatch` (for a capture; off by default: it allocates per sample).
    public mutating func recordSamples() {
        if sampleLog == nil { sampleLog = ModelSampleLog(cpus: cpus) }
    }

    /// The samples of event `id` since its last batch, as one drain of its ring (nil when samples are not
    /// recorded). Every sample is of the CPU it was taken on; the vCPU thread's carry
    /// `ModelSampleLog.vcpuThreadTid` and are the ones kept (`SampleKeepRule.thread`).
    public mutating func drainSampleBatch(_ id: ModelEventID) -> HostSampleBatch? {
        guard var log = sampleLog else { return nil }
        sampleLog = nil
        defer { sampleLog = log }
        var ring = log.rings[id.raw] ?? ModelSampleLog.Ring()
        let batch = HostSampleBatch(cpu: nil, keep: .thread(tid: ModelSampleLog.vcpuThreadTid), before: ring.before,
                                    records: ring.records)
        ring.before = ring.last
        ring.records = []
        log.rings[id.raw] = ring
        return batch
    }

    /// BTS or PT in use on the host (nil: neither). Where it excludes LBR (BTS always, PT unless the PMU has
    /// `lbr_pt_coexist`), LBR event creation fails with -EBUSY (x86_add_exclusive, §3.4 (c)), so a vLBR
    /// creation attempt takes the "dummy" path with no event (§1.4).
    public mutating func setHostBranchTracer(_ tracer: ExclusiveBranchTracer?) {
        stats.operations &+= 1
        hostBranchTracer = tracer
    }

    // MARK: Tasks

    /// Switch `task`'s CPU to `task` (perf task sched-out/in, LBR save/restore, kvm_sched_out/in).
    public mutating func contextSwitch(to task: ModelTask) {
        stats.operations &+= 1
        ensureTask(task.raw, cpu: task.raw == 0 ? vcpuCpu : tasks.indices.contains(task.raw) ? tasks[task.raw].cpu : vcpuCpu)
        let c = tasks[task.raw].cpu
        if c == vcpuCpu && inGuest && task.raw != 0 { exitInternal() }
        switchTask(cpu: c, to: task.raw)
        if logging { emit(.contextSwitches(1)) }
        noteVlbrState()
    }

    /// Run host `task` for `durationNs` on `cpu`, then switch back to whatever ran before. If the vCPU
    /// thread was current and loaded this is a preemption of a loaded vCPU (§1.6, §8.4).
    public mutating func runHostTask(_ task: ModelTask = .hostTask, cpu: Int? = nil, durationNs: UInt64) {
        stats.operations &+= 1
        let c = cpu ?? vcpuCpu
        ensureTask(task.raw, cpu: c)
        tasks[task.raw].cpu = c
        let prev = cpuCurrent[c]
        let wasInGuest = inGuest && c == vcpuCpu
        if wasInGuest { exitInternal() }
        switchTask(cpu: c, to: task.raw)
        advanceClock(durationNs)
        if prev >= 0 { switchTask(cpu: c, to: prev) }
        if logging { emit(.contextSwitches(prev >= 0 ? 2 : 1)) }
        if wasInGuest { enterInternal() }
        noteVlbrState()
    }

    /// Preempt the vCPU thread with `byHostTask` for `durationNs`: VM-exit (if in guest), sched-out while
    /// loaded (kvm_sched_out sets scheduled_out), the host task runs, sched-in (kvm_arch_vcpu_load raises
    /// KVM_REQ_PMU when a vLBR exists), and, if the vCPU was in guest mode, KVM_RUN re-enters: the request
    /// is processed before that entry (`intel_pmu_cleanup` releases the vLBR iff guest DEBUGCTL.LBR == 0, §1.6).
    public mutating func preemptVcpu(byHostTask task: ModelTask = .hostTask, durationNs: UInt64) {
        stats.operations &+= 1
        let wasInGuest = inGuest
        if !loaded { enterLoadOnly() }
        if inGuest { exitInternal() }
        ensureTask(task.raw, cpu: vcpuCpu)
        tasks[task.raw].cpu = vcpuCpu
        if cpuCurrent[vcpuCpu] != 0 { switchTask(cpu: vcpuCpu, to: 0) }
        switchTask(cpu: vcpuCpu, to: task.raw)
        advanceClock(durationNs)
        switchTask(cpu: vcpuCpu, to: 0)
        if logging { emit(.contextSwitches(2)) }
        if wasInGuest { enterInternal() }
        noteVlbrState()
    }

    // MARK: vCPU side

    /// VM-entry: KVM requests are processed (KVM_REQ_PMU cleanup §1.6; perf-request handover), then
    /// `vmx_passthrough_lbr_msrs()` decides passthrough and prints "fail to passthrough LBR" when the vLBR
    /// is not ACTIVE (§1.5). Loads the vCPU (vcpu_load) and switches to its thread if needed.
    public mutating func vcpuEnter() {
        stats.operations &+= 1
        enterInternal()
        noteVlbrState()
    }

    /// VM-exit (the vCPU stays loaded inside KVM_RUN). Runs the variant's exit hooks.
    public mutating func vcpuExit() {
        stats.operations &+= 1
        exitInternal()
        noteVlbrState()
    }

    /// Return from KVM_RUN to userspace (vcpu_put): exits first if in guest mode. A later preemption of
    /// the thread is then not a "scheduled out while loaded" (§8.4).
    public mutating func vcpuPut() {
        stats.operations &+= 1
        if inGuest { exitInternal() }
        if variant.defersLbrHandover { servicePerfRequest() }
        loaded = false
        noteVlbrState()
    }

    /// The vCPU thread, back in user space, blocks until its next job for `durationNs`: the scheduler switches its
    /// CPU to the idle loop (the vCPU is not loaded: vcpu_put ran, so this arms no KVM_REQ_PMU cleanup, §1.6). The
    /// vLBR, a task event of that thread, is scheduled out with it, so `vlbr_exclude_host()` is false and a host
    /// LBR event on the CPU reads its LBRs at every PMI in that time (`intel_pmu_handle_irq` →
    /// `intel_pmu_lbr_read`, §9.1): that sets `cpuc->lbr_stack`, which the starved samples of the thread's next
    /// KVM_RUN re-attach. The next `vcpuEnter` switches the thread back in (vcpu_load).
    public mutating func vcpuThreadBlocks(durationNs: UInt64) {
        stats.operations &+= 1
        if loaded { vcpuPut() }
        if cpuCurrent[vcpuCpu] == 0 {
            vlbrStateWhileThreadBlocked = vlbrState
            switchTask(cpu: vcpuCpu, to: -1)
        }
        advanceClock(durationNs)
        noteVlbrState()
    }

    /// Guest RDMSR. Passed-through LBR MSRs read the hardware (trapped = false); everything else is an
    /// exit emulated by KVM. Enters the guest first if the vCPU is not in guest mode.
    public mutating func guestRdmsr(_ index: UInt32) -> MsrOutcome {
        stats.operations &+= 1
        let out = guestAccess(index, write: false, value: 0)
        noteVlbrState()
        return out
    }

    /// Guest WRMSR (see ``guestRdmsr(_:)``).
    public mutating func guestWrmsr(_ index: UInt32, _ value: UInt64) -> MsrOutcome {
        stats.operations &+= 1
        let out = guestAccess(index, write: true, value: value)
        noteVlbrState()
        return out
    }

    /// The guest executed these taken branches. The hardware records them iff guest DEBUGCTL.LBR=1:
    /// VM-entry loads the guest's DEBUGCTL unconditionally (§1.9; Sean's question 2 in the seed), whoever
    /// perf thinks owns the LBR. Whether the guest can read them back depends on the vLBR (§1.4/§1.5).
    public mutating func guestBranches(_ sites: [(from: UInt64, to: UInt64)]) {
        stats.operations &+= 1
        if !inGuest { enterInternal() }
        recordGuest(sites.map { GuestBranch(from: $0.from, to: $0.to, kind: .relJmp) })
        advanceClock(UInt64(sites.count) &* costs.guestBranchNs)
    }

    /// The guest executed these taken branches (its whole control flow: command loop, helper call/ret,
    /// loops, the branch pattern; §9.3). Recorded iff guest DEBUGCTL.LBR=1 and the current
    /// LBR_SELECT does not suppress them (the guest runs at CPL0: bit 0 suppresses all; bits 2..8 by kind).
    /// No clock: the command's guest time is charged by the caller (PayloadProgram.guestTimeNs).
    public mutating func guestTakenBranches(_ branches: [GuestBranch]) {
        stats.operations &+= 1
        if !inGuest { enterInternal() }
        recordGuest(branches)
    }

    mutating func recordGuest(_ branches: [GuestBranch]) {
        let c = vcpuCpu
        guard guestModeRecordingOn(cpu: c) else { return }
        // vmx_set_msr() loaded DEBUGCTL.LBR=1 whatever the vLBR state (or, arch-lbr-host, the host's LBR_CTL records):
        // without an ACTIVE vLBR the records land in a stack the host owns (§9.7).
        let vlbrActive = vlbr.map { events[$0].state == .active } ?? false
        let tag: LbrProvenance = vlbrActive ? .guest : .guestLeak
        let sel = guestModeSelect(cpu: c, vlbrActive: vlbrActive) // constant: guest branches do not write MSRs
        if sel & LbrSelect.suppressKernel != 0 { return }
        // Only the last `depth` recorded branches stay in the stack; earlier ones only move TOS.
        let depth = UInt64(cpuLbr[c].depth)
        var keptTimes: UInt64 = 0
        var i = branches.count
        while i > 0 && keptTimes < depth {
            i -= 1
            if sel & branches[i].kind.suppressBit == 0 { keptTimes &+= branches[i].times }
        }
        var skipped: UInt64 = 0
        if sel & GuestBranchKind.everySuppressBit == 0 {
            for b in branches[..<i] { skipped &+= b.times } // no kind is suppressed: the same sum, without the filter
        } else {
            for b in branches[..<i] where sel & b.kind.suppressBit == 0 { skipped &+= b.times }
        }
        if skipped > 0 { cpuLbr[c].tos = (cpuLbr[c].tos &+ skipped) & cpuLbr[c].mask }
        cpuLbr[c].record(branches[i...], select: sel, tag)
    }

    /// Whether the LBRs record in guest mode on `c`: the guest's DEBUGCTL.LBR, loaded at every VM-entry whatever the
    /// vLBR state (§1.9), or — arch-lbr-host — a host LBR user's MSR_ARCH_LBR_CTL, which no VM transition switches
    /// (§9.9).
    func guestModeRecordingOn(cpu c: Int) -> Bool {
        guestDebugctl & DebugCtl.lbr != 0 || (variant.hostLbrRecordsInGuestMode && cpuLbrUsers[c] > 0)
    }

    /// The branch filter in force in guest mode on `c` (§9.9). While the vLBR is ACTIVE the LBR MSRs are the guest's:
    /// its passed-through LBR_SELECT writes, or what a reset or restore left. Otherwise, with a host LBR user, the
    /// hardware holds the host's filter: `__intel_pmu_lbr_enable()` writes LBR_SELECT (arch LBR: LBR_CTL) =
    /// `cpuc->lbr_sel->config`, the shared register's value (`Usage.selectValue`), and the guest's LBR_SELECT writes
    /// are dummies (§1.4). With no LBR user nobody programs it.
    func guestModeSelect(cpu c: Int, vlbrActive: Bool) -> UInt64 {
        if !vlbrActive && cpuLbrUsers[c] > 0 && cpuUsage[c].selectRefs > 0 { return cpuUsage[c].selectValue }
        return cpuLbr[c].select
    }

    /// pv-lbr-ctrl only: the guest writes its PV LBR-control MSR (ACTIVE bit). Modelled as a knob, not an
    /// MSR index: the MSR's name and number are UNVERIFIED (§6.2). An intercepted write (a VM-exit).
    public mutating func guestSetPvLbrActive(_ active: Bool) {
        stats.operations &+= 1
        if variant.saveRestore == .whilePvActive { pvLbrActive = active }
        if inGuest { exitInternal(); advanceClock(costs.msrEmulationNs); enterInternal() }
    }

    /// `kvm_pmu_reset()` → `intel_pmu_reset()`: releases the vLBR (§1.6). Reached only through
    /// `kvm_pmu_refresh()` (KVM_SET_CPUID2 before the first KVM_RUN; once the vCPU has run, `kvm_set_cpuid`
    /// only accepts an identical CPUID, without refresh, and `kvm_pmu_refresh` has KVM_BUG_ON(kvm_vcpu_has_run))
    /// and vCPU destroy (§9.4): after the first entry this releases nothing.
    public mutating func resetPmu() {
        stats.operations &+= 1
        if hasRun {
            stats.refusedPmuResets &+= 1
            emit(.note("no PMU reset: the vCPU has run (kvm_set_cpuid accepts only an identical CPUID without refresh; kvm_pmu_refresh KVM_BUG_ON(kvm_vcpu_has_run))"))
            return
        }
        // Reset paths run in the vCPU's host context (ioctl or request processing), then KVM re-enters.
        let wasInGuest = inGuest
        if wasInGuest { exitInternal() }
        if let v = vlbr { releaseVlbr(v, reason: "intel_pmu_reset") }
        vlbrInUse = false
        needCleanup = false
        if wasInGuest { enterInternal() }
        noteVlbrState()
    }

    /// vCPU RESET/INIT (`kvm_vcpu_reset`): guest DEBUGCTL = 0; no PMU reset (§9.4: kvm_pmu_reset is reached
    /// only from kvm_pmu_refresh and vCPU destroy), so the vLBR is not released here; the next KVM_REQ_PMU
    /// cleanup after a sched-in releases it (guest DEBUGCTL.LBR is now 0).
    public mutating func resetVcpu() {
        stats.operations &+= 1
        if inGuest { exitInternal() }
        guestDebugctl = 0
        pvLbrActive = false
        noteVlbrState()
    }
}
