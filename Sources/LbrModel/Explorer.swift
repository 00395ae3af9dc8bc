// Randomised exploration: seeded host/guest interleavings driven through the public model API, with
// the model invariants checked after every step.
import LbrCore

/// An invariant the explorer checks after every step.
public enum ModelInvariant: String, Sendable, Hashable, CaseIterable {
    /// No CPU has more ACTIVE events than its counters allow (GP + fixed + fake 58, max_count, LBR_SELECT
    /// sharing, §3.4), and no task event is ACTIVE while its task is not running.
    case countersNotExceeded = "counters-not-exceeded"
    /// An ERROR event changes state only through an explicit enable, close or release (§3.2).
    case errorLeftOnlyExplicitly = "error-left-only-explicitly"
    /// A CPU-pinned event never goes to ERROR while a task event holds a counter on its CPU (§3.1).
    case cpuPinnedNotStarvedByTask = "cpu-pinned-not-starved-by-task"
    /// Guest LBR reads never return host branch data that no predicted leak path exposed (§1.4: IRQs off
    /// around state check + access; §3.4: LBR wiped or restored on context switch). The predicted path — a
    /// vLBR joining an existing LBR user without reset (§9.2) — is counted as the host→guest leak.
    case guestNeverReadsHostData = "guest-never-reads-host-data"
    /// Every host→guest exposure happens exactly where the model predicts it (`predictsLeakOnVlbrAdd`: a vLBR
    /// add that does not reset while the hardware holds host records), and nowhere else.
    case leakExactlyAsPredicted = "leak-exactly-as-predicted"
    /// The guest→host direction: a real host LBR read sees guest records only where a predicted path exposed them
    /// (§9.7, `LbrProvenance.guestLeak`): recorded while the vLBR was not ACTIVE, or left by an ACTIVE vLBR to a host
    /// LBR user that joined without `intel_pmu_lbr_reset()` or stayed while the vLBR left without a switch of its
    /// thread. Everywhere else `vlbr_exclude_host()` starves the host, and `intel_pmu_lbr_sched_task()` saves the
    /// vCPU thread's stack and resets or restores it for the incoming task (the idle loop included).
    case hostReadsGuestDataOnlyAsPredicted = "host-reads-guest-data-only-as-predicted"
    /// No PMU reset releases the vLBR after the first KVM_RUN (§9.4: kvm_pmu_refresh is refused then).
    case noResetAfterRun = "no-reset-after-run"
    /// The LBR MSRs are passed through only while the vLBR is ACTIVE (§1.5).
    case passthroughOnlyWhenActive = "passthrough-only-when-active"
    /// perf-request: no deferred handover survives a VM-entry's request processing.
    case handoverServicedAtEntry = "handover-serviced-at-entry"
}

/// One step of an exploration.
public enum ExplorerAction: Hashable, Sendable, CustomStringConvertible {
    case open(Contender)
    case installWhileRunning(Contender)
    case close(slot: Int)
    case enable(slot: Int)
    case disable(slot: Int)
    case read(slot: Int)
    case guestLbrOn
    case guestLbrOff
    case guestRead(UInt32)
    case guestWrite(UInt32, UInt64)
    case guestBranches(Int)
    case pvLbrActive(Bool)
    case enter
    case exit
    case put
    case preempt(ns: UInt64)
    case runHostTask(ns: UInt64)
    case switchToHostTask
    case switchToVcpuThread
    case advance(ns: UInt64)
    case resetPmu

    public var description: String {
        switch self {
        case let .open(c): return "open(\(c.name))"
        case let .installWhileRunning(c): return "install-while-running(\(c.name))"
        case let .close(s): return "close(#\(s))"
        case let .enable(s): return "enable(#\(s))"
        case let .disable(s): return "disable(#\(s))"
        case let .read(s): return "read(#\(s))"
        case .guestLbrOn: return "guest DEBUGCTL.LBR=1"
        case .guestLbrOff: return "guest DEBUGCTL.LBR=0"
        case let .guestRead(i): return "guest rdmsr 0x\(String(i, radix: 16))"
        case let .guestWrite(i, v): return "guest wrmsr 0x\(String(i, radix: 16))=0x\(String(v, radix: 16))"
        case let .guestBranches(n): return "guest branches(\(n))"
        case let .pvLbrActive(b): return "guest PV LBR active=\(b)"
        case .enter: return "vm-entry"
        case .exit: return "vm-exit"
        case .put: return "vcpu_put"
        case let .preempt(ns): return "preempt vCPU \(ns) ns"
        case let .runHostTask(ns): return "run host task \(ns) ns"
        case .switchToHostTask: return "switch to host task"
        case .switchToVcpuThread: return "switch to vCPU thread"
        case let .advance(ns): return "advance \(ns) ns"
        case .resetPmu: return "kvm_pmu_reset"
        }
    }
}

/// The first invariant violation found.
public struct InvariantViolation: Hashable, Sendable, CustomStringConvertible {
    public var invariant: ModelInvariant
    /// 0-based index of the step after which the invariant failed.
    public var step: Int
    public var detail: String
    /// The last steps up to and including the failing one (the whole run is reproducible from the seed).
    public var trace: [ExplorerAction]
    public var description: String {
        "\(invariant.rawValue) violated after step \(step): \(detail)\n  trace (last \(trace.count)):\n"
            + trace.map { "    \($0)" }.joined(separator: "\n")
    }
}

/// Outcome of an exploration run.
public struct ExplorationResult: Hashable, Sendable {
    public var variant: KernelVariant
    public var seed: UInt64
    public var stepsRun: Int
    public var violation: InvariantViolation?
    /// Guest reads of host records exposed by the predicted leak path (the host→guest leak, §9.2; a finding,
    /// not an invariant violation).
    public var hostLeakReads: UInt64
    /// First step at which a leak read happened, with its trace.
    public var firstLeak: InvariantViolation?
    public var stats: ModelStats
}

/// A seeded generator of host/guest interleavings with invariants checked after every step.
public struct ModelExplorer: Sendable {
    public let variant: KernelVariant
    public let seed: UInt64
    public internal(set) var model: KernelModel
    var rng: SplitMix64
    var slots: [ModelEventID] = []
    var ring: [ExplorerAction?]
    var ringHead = 0
    var errorSnapshot: [(Int, UInt32)] = []

    static let contenders: [Contender] = [
        .pinnedLbr, .flexibleLbr, .pinnedLbrIncludingGuest, .vlbrSlot, .lbrCallStackTask,
        .lbrEvent(pinned: true, mode: .callStack, excludeGuest: true, base: .instructions),
        .lbrEvent(pinned: false, mode: .callStack, excludeGuest: false, base: .cycles),
        .counterExhaustion(gp: 2, fixed: 1), .vlbrSlotExcludingHost,
    ]

    public init(variant: KernelVariant, seed: UInt64, pmu: ModelPMU = .skylake, traceDepth: Int = 64) {
        self.variant = variant
        self.seed = seed
        self.model = KernelModel(variant: variant, pmu: pmu, logging: false)
        self.rng = SplitMix64(state: seed)
        self.ring = Array(repeating: nil, count: max(1, traceDepth))
    }

    /// Generate the next action (deterministic in the seed and the model's history).
    mutating func nextAction() -> ExplorerAction {
        let L = model.pmu.lbrLayout
        let r = rng.below(100)
        switch r {
        case 0..<6:
            if slots.count >= 8 { return .close(slot: rng.below(slots.count)) }
            return .open(Self.contenders[rng.below(Self.contenders.count)])
        case 6..<8:
            if slots.count >= 8 { return .close(slot: rng.below(slots.count)) }
            return .installWhileRunning(Self.contenders[rng.below(4)])
        case 8..<13: return slots.isEmpty ? .advance(ns: 1_000) : .close(slot: rng.below(slots.count))
        case 13..<16: return slots.isEmpty ? .advance(ns: 1_000) : .enable(slot: rng.below(slots.count))
        case 16..<18: return slots.isEmpty ? .advance(ns: 1_000) : .disable(slot: rng.below(slots.count))
        case 18..<20: return slots.isEmpty ? .advance(ns: 1_000) : .read(slot: rng.below(slots.count))
        case 20..<26: return .guestLbrOn
        case 26..<30: return .guestLbrOff
        case 30..<44:
            let k = rng.below(4)
            let idx: UInt32 = k == 0 ? L.tos : k == 1 ? L.select : k == 2 ? L.from + UInt32(rng.below(L.depth))
                : L.to + UInt32(rng.below(L.depth))
            return .guestRead(idx)
        case 44..<52:
            let idx: UInt32 = rng.below(2) == 0 ? L.tos : L.from + UInt32(rng.below(L.depth))
            return .guestWrite(idx, rng.next() & 0xffff)
        case 52..<60: return .guestBranches(1 + rng.below(8))
        case 60..<62: return .pvLbrActive(rng.below(2) == 0)
        case 62..<68: return .enter
        case 68..<74: return .exit
        case 74..<76: return .put
        case 76..<81: return .preempt(ns: UInt64(1_000 + rng.below(50_000)))
        case 81..<84: return .runHostTask(ns: UInt64(1_000 + rng.below(50_000)))
        case 84..<86: return .switchToHostTask
        case 86..<88: return .switchToVcpuThread
        case 88..<99: return .advance(ns: UInt64(rng.below(2_000_000)))
        default: return .resetPmu
        }
    }

    mutating func apply(_ a: ExplorerAction) {
        switch a {
        case let .open(c): slots.append(contentsOf: model.openHost(c, cpu: 0))
        case let .installWhileRunning(c): slots.append(contentsOf: model.installWhileRunning(c))
        case let .close(s): model.close(slots.remove(at: s))
        case let .enable(s): model.enable(slots[s])
        case let .disable(s): model.disable(slots[s])
        case let .read(s): _ = model.read(slots[s])
        case .guestLbrOn: _ = model.guestWrmsr(MSR.debugctl, DebugCtl.lbr)
        case .guestLbrOff: _ = model.guestWrmsr(MSR.debugctl, 0)
        case let .guestRead(i): _ = model.guestRdmsr(i)
        case let .guestWrite(i, v): _ = model.guestWrmsr(i, v)
        case let .guestBranches(n):
            var sites: [(from: UInt64, to: UInt64)] = []
            sites.reserveCapacity(n)
            for k in 0..<n { sites.append((from: 0x1000 + UInt64(k) * 16, to: 0x2000 + UInt64(k) * 16)) }
            model.guestBranches(sites)
        case let .pvLbrActive(b): model.guestSetPvLbrActive(b)
        case .enter: model.vcpuEnter()
        case .exit: model.vcpuExit()
        case .put: model.vcpuPut()
        case let .preempt(ns): model.preemptVcpu(durationNs: ns)
        case let .runHostTask(ns): model.runHostTask(durationNs: ns)
        case .switchToHostTask: model.contextSwitch(to: .hostTask)
        case .switchToVcpuThread: model.contextSwitch(to: .vcpuThread)
        case let .advance(ns): model.advance(ns: ns)
        case .resetPmu: model.resetPmu()
        }
    }

    func lastTrace() -> [ExplorerAction] {
        var out: [ExplorerAction] = []
        for k in 0..<ring.count {
            if let a = ring[(ringHead + k) % ring.count] { out.append(a) }
        }
        return out
    }

    /// Run `steps` steps (continuing a previous run) and stop at the first invariant violation.
    public mutating func run(steps: Int) -> ExplorationResult {
        var firstLeak: InvariantViolation? = nil
        var ran = 0
        for step in 0..<steps {
            let a = nextAction()
            ring[ringHead] = a
            ringHead = (ringHead + 1) % ring.count
            snapshotErrors()
            let leakBefore = model.stats.hostLeakReads
            let vlbrBefore = model.vlbrEvent
            let hadRun = model.hasRun
            apply(a)
            ran = step + 1
            if firstLeak == nil && model.stats.hostLeakReads > leakBefore {
                firstLeak = InvariantViolation(invariant: .guestNeverReadsHostData, step: step,
                                               detail: "guest read host LBR records (host->guest leak; finding, not a violation)",
                                               trace: lastTrace())
            }
            if case .resetPmu = a, hadRun, let v = vlbrBefore, model.vlbrEvent != v {
                return ExplorationResult(variant: variant, seed: seed, stepsRun: ran,
                                         violation: InvariantViolation(invariant: .noResetAfterRun, step: step,
                                             detail: "kvm_pmu_reset released the vLBR after the first KVM_RUN", trace: lastTrace()),
                                         hostLeakReads: model.stats.hostLeakReads, firstLeak: firstLeak, stats: model.stats)
            }
            if let (inv, detail) = check() {
                return ExplorationResult(variant: variant, seed: seed, stepsRun: ran,
                                         violation: InvariantViolation(invariant: inv, step: step, detail: detail,
                                                                       trace: lastTrace()),
                                         hostLeakReads: model.stats.hostLeakReads, firstLeak: firstLeak,
                                         stats: model.stats)
            }
        }
        return ExplorationResult(variant: variant, seed: seed, stepsRun: ran, violation: nil,
                                 hostLeakReads: model.stats.hostLeakReads, firstLeak: firstLeak, stats: model.stats)
    }

    mutating func snapshotErrors() {
        model.snapshotErrors(into: &errorSnapshot)
    }

    /// Check every invariant; returns the first failing one.
    mutating func check() -> (ModelInvariant, String)? { model.checkInvariants(errorSnapshot: errorSnapshot) }
}

extension KernelModel {
    func snapshotErrors(into errorSnapshot: inout [(Int, UInt32)]) {
        errorSnapshot.removeAll(keepingCapacity: true)
        for c in 0..<cpus {
            for i in cpuPinned[c] where events[i].state == .error {
                errorSnapshot.append((i, events[i].explicitOps))
            }
        }
        for t in tasks.indices {
            for i in tasks[t].pinned where events[i].state == .error {
                errorSnapshot.append((i, events[i].explicitOps))
            }
        }
    }

    /// Adds the ACTIVE events of `list` to `u`; returns false if two of them disagree on LBR_SELECT.
    mutating func addActive(_ list: [Int], _ u: inout Usage, _ sel: inout UInt64?) -> Bool {
        for i in list where events[i].state == .active {
            let e = events[i]
            u.bump(e.need, 1)
            if e.arbitratesSelect {
                if let s = sel, s != e.selectValue { return false }
                sel = e.selectValue
            }
        }
        return true
    }

    /// Check every invariant; returns the first failing one.
    /// `mutating` only so debug builds borrow instead of copying the model; it changes nothing.
    mutating func checkInvariants(errorSnapshot: [(Int, UInt32)]) -> (ModelInvariant, String)? {
        // countersNotExceeded
        for c in 0..<cpus {
            var u = Usage()
            var sel: UInt64? = nil
            let cur = cpuCurrent[c]
            var ok = addActive(cpuPinned[c], &u, &sel) && addActive(cpuFlexible[c], &u, &sel)
            if cur >= 0 { ok = ok && addActive(tasks[cur].pinned, &u, &sel) && addActive(tasks[cur].flexible, &u, &sel) }
            if !ok { return (.countersNotExceeded, "cpu\(c): two ACTIVE LBR events with different LBR_SELECT") }
            if !u.feasible(gp: pmu.gpCounters, fixed: pmu.fixedCounters) {
                return (.countersNotExceeded, "cpu\(c): \(u.total) active events exceed \(pmu.gpCounters) GP + \(pmu.fixedCounters) fixed (+ counter 58)")
            }
        }
        for t in tasks.indices where cpuCurrent[tasks[t].cpu] != t {
            for i in tasks[t].pinned where events[i].state == .active {
                return (.countersNotExceeded, "task \(t) not running but its event #\(i) is ACTIVE")
            }
            for i in tasks[t].flexible where events[i].state == .active {
                return (.countersNotExceeded, "task \(t) not running but its event #\(i) is ACTIVE")
            }
        }
        // errorLeftOnlyExplicitly
        for (i, ops) in errorSnapshot where events[i].state != .error && events[i].explicitOps == ops {
            return (.errorLeftOnlyExplicitly, "event #\(i) (\(eventNames[events[i].nameIndex])) left ERROR without enable/close/release")
        }
        let m = stats
        if m.cpuPinnedStarvedByTask > 0 {
            return (.cpuPinnedNotStarvedByTask, "a CPU-pinned event went to ERROR while a task event was ACTIVE")
        }
        if m.hostDataLeaks > 0 {
            return (.guestNeverReadsHostData, "guest read a host LBR entry no predicted path exposed")
        }
        if m.unpredictedExposures > 0 {
            return (.leakExactlyAsPredicted, "a host->guest exposure differed from the model's prediction")
        }
        if m.guestDataHostReads > 0 {
            return (.hostReadsGuestDataOnlyAsPredicted, "a host LBR read saw guest records no predicted path exposed")
        }
        if m.passthroughWithoutActiveVlbr > 0 || (inGuest && passthrough && (vlbr == nil || events[vlbr!].state != .active)) {
            return (.passthroughOnlyWhenActive, "LBR MSRs passed through with vLBR \(vlbrState)")
        }
        if m.deferredAcrossEntry > 0 {
            return (.handoverServicedAtEntry, "a deferred LBR handover survived a VM-entry")
        }
        return nil
    }
}
