// The one place both model-backed backends (sim and hybrid) use the kernel model: it plays the host's
// perf events (open/close/read of contenders, samples), KVM's vLBR (guest MSR accesses, VM entries and
// exits, preemption of the loaded vCPU) and the kernel log, and turns the model's log into the runner's
// observation stream. The guest side is the only difference between the two backends: sim executes
// `PayloadProgram` against `guestMsr`, hybrid's real guest reaches `guestMsr` through its MSR exits.
//
// Model time is deterministic and independent of the machine: every guest command costs
// `Timing.nsPerGuestInstruction` per payload instruction (PayloadProgram.instructionEstimate) plus, for a
// `spinFor`, its requested duration (PayloadProgram.guestTimeNs), each return
// to user space costs `Timing.vmmTurnaroundNs` of host time on the vCPU thread, after which the thread blocks for
// `Timing.vcpuThreadWaitNs` until its next command (vLBR scheduled out; host LBR events read, §9.1), and a preemption lasts
// `Timing.preemptionNs`. So sim and hybrid drive the model through the same operations for the same
// scenario and agree (LbrBackendsTests checks it); what only hybrid has (real exits, real context switches)
// is reported next to it, never fed back into the model.

import LbrCore
import LbrLinux
import LbrModel
import LbrScenarios
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The kernel model as the host side of a scenario (shared by `SimBackend` and `HybridBackend`).
///
/// Thread safety: every method takes the state's `Mutex`, so the hybrid backend's MSR-exit handler (on the
/// vCPU thread) and host actions taken while the guest runs (on the runner's thread) are serialized.
public final class ModelHost: Sendable {
    /// Model constants of the driver (not measurements; the same for sim and hybrid).
    public struct Timing: Hashable, Sendable {
        /// Guest time per payload instruction (≈1 instruction/ns on VMX hardware).
        public var nsPerGuestInstruction: UInt64 = 1
        /// Host time on the vCPU thread between two KVM_RUNs (the VMM handling the DONE doorbell and
        /// encoding the next command).
        public var vmmTurnaroundNs: UInt64 = 5_000
        /// Host time on the vCPU's CPU while the vCPU thread is blocked waiting for its next command (the runner
        /// drains rings, judges and encodes the next command; the model charges host work to this one CPU, as it
        /// charges every host syscall). The vLBR is scheduled out with the thread, so a host LBR event reads
        /// the LBRs at its PMIs then (§9.1): two model sample periods, so each wait holds real reads.
        public var vcpuThreadWaitNs: UInt64 = 20_000
        /// How long a preempting host task runs (about one CFS slice).
        public var preemptionNs: UInt64 = 1_000_000
        /// Host-mode time on the vCPU thread of one port-I/O exit of the payload's exit loop (VM-exit, the
        /// VMM's KVM_EXIT_IO dispatch, VM-entry): 2.5 µs, the order hw calibration measures on VMX hosts (§9.6).
        /// The vLBR stays scheduled (the thread keeps running), so host LBR samples in this time are starved.
        public var hostNsPerExit: UInt64 = HostSampling.typicalHostNsPerExit
        public init() {}
    }

    public let variant: KernelVariant
    public let pmu: ModelPMU
    /// The CPU reported for the vCPU thread (the model's CPU 0 stands for it).
    public let cpu: Int
    public let timing: Timing
    /// Whether every model host sample is reported (`.hostSampleRecords` before each summary, which is then
    /// derived from them by `HostSampleRecords.summary`, as `judge` derives it from a capture).
    public let recordsSamples: Bool
    /// When true (hybrid), the model's own `.contextSwitches` become notes, because the backend reports
    /// the vCPU thread's real context switches as `.contextSwitches`.
    public let realContextSwitches: Bool

    /// Everything the model side mutates, behind one lock.
    private struct State {
        var model: KernelModel
        /// Open contenders in open order with their model events.
        var open: [(spec: ContenderSpec, contender: Contender, ids: [ModelEventID])] = []
        /// Kernel log lines not yet drained by a `readKmsg` (the model logs them when KVM prints them).
        var kmsg: [TimedObservation] = []
        var pending: [TimedObservation] = []
        var exitsAtCommandStart: UInt64 = 0
        var trappedInCommand: UInt64 = 0
        var nextHostTask = 2
        var commandsBegun = 0
        /// An LBR sampling contender was opened and its seed read is still due.
        var seedPending = false
    }
    private let state: Mutex<State>

    /// - Parameters:
    ///   - variant: the kernel variant the model follows.
    ///   - pmu: the PMU the model simulates (default Skylake-like: 4 GP, 3 fixed, 32-deep LBR with INFO).
    ///   - cpu: the CPU the vCPU thread is pinned to (reported; the model has one CPU).
    ///   - era: kernel-era options of the model (default: today's mainline).
    ///   - ratelimit: the kmsg ratelimit state to share (§9.4: one system-wide state per call site); nil: a fresh one.
    public init(variant: KernelVariant, pmu: ModelPMU = .skylake, cpu: Int, timing: Timing = Timing(),
                realContextSwitches: Bool = false, era: ModelEra = .current, ratelimit: KmsgRatelimit? = nil,
                recordSamples: Bool = false) {
        self.variant = variant; self.pmu = pmu; self.cpu = cpu; self.timing = timing
        self.realContextSwitches = realContextSwitches
        self.recordsSamples = recordSamples
        var model = KernelModel(variant: variant, pmu: pmu, cpus: 1, vcpuCpu: 0, era: era, ratelimit: ratelimit)
        if recordSamples { model.recordSamples() }
        // The vCPU thread starts blocked, waiting for its first command (VcpuThread).
        model.vcpuThreadBlocks(durationNs: 0)
        state = Mutex(State(model: model))
    }

    /// Whether the guest command about to run is the payload's first (no `jmp g_cmd_loop` before it).
    public var nextCommandIsFirst: Bool { state.withLock { s in s.commandsBegun == 0 } }

    /// The guest's LBR layout, nil when the variant gives the guest no LBR (mediated §6.3, arch-LBR host §1.10).
    public var guestLayout: LbrLayout? { variant.guestHasLbr ? pmu.lbrLayout : nil }

    /// Ground truth (for tests and notes).
    public var vlbrState: VlbrState { state.withLock { s in s.model.vlbrState } }
    public var nowNs: UInt64 { state.withLock { s in s.model.nowNs } }

    // MARK: guest side

    /// Start of a guest command: KVM_RUN enters the guest (requests, passthrough decision, §1.5).
    public func beginGuestCommand() {
        state.withLock { s in
            s.commandsBegun += 1
            s.exitsAtCommandStart = s.model.stats.vmExits
            s.trappedInCommand = 0
            s.model.vcpuEnter()
            collect(&s)
        }
    }

    /// One guest RDMSR/WRMSR (the payload's, or a real guest's MSR exit): KVM's handling in the model.
    public func guestMsr(_ op: GuestMsrOp, after branches: [GuestBranch] = []) -> MsrOutcome {
        state.withLock { s in
            // The taken branches the guest executed before this MSR instruction (§9.3), under the same lock.
            if !branches.isEmpty { s.model.guestTakenBranches(branches) }
            let o: MsrOutcome
            switch op {
            case let .read(i): o = s.model.guestRdmsr(i)
            case let .write(i, v): o = s.model.guestWrmsr(i, v)
            }
            if o.trapped { s.trappedInCommand &+= 1 }
            collect(&s)
            return o
        }
    }

    /// The guest executed these taken branches (from the payload's derived trace, `PayloadProgram.trace`):
    /// the model records them iff guest DEBUGCTL.LBR=1 and LBR_SELECT lets them through (§9.3).
    public func guestTakenBranches(_ branches: [GuestBranch]) {
        guard !branches.isEmpty else { return }
        state.withLock { s in
            s.model.guestTakenBranches(branches)
            collect(&s)
        }
    }

    /// Guest TSC as the model sees it (1 GHz: the model clock in ns).
    public func guestTsc() -> UInt64 { state.withLock { s in s.model.nowNs } }

    /// End of a guest command: the rest of its guest time (and, for an exit loop, each port-I/O exit: return
    /// to user space, `hostNsPerExit` of host-mode time on the vCPU thread, re-entry), the DONE exit and return
    /// to user space (vcpu_put), then the VMM's turnaround on the vCPU thread. Returns the model's exit counters.
    @discardableResult
    public func endGuestCommand(_ request: GuestMailbox.Request?) -> ExitCounters {
        state.withLock { s in
            var pings: UInt64 = 0
            if let request {
                let ns = PayloadProgram.guestTimeNs(for: request, nsPerInstruction: timing.nsPerGuestInstruction)
                if ns > 0 { s.model.advance(ns: ns) }
                if request.opcode == .exitLoop {
                    pings = request.arg0
                    s.model.vcpuRoundTrips(pings, hostNs: timing.hostNsPerExit)
                }
            }
            s.model.vcpuPut()
            let exits = s.model.stats.vmExits &- s.exitsAtCommandStart
            s.model.advance(ns: timing.vmmTurnaroundNs)
            s.model.vcpuThreadBlocks(durationNs: timing.vcpuThreadWaitNs)
            if s.seedPending { Self.seedRead(&s) }
            collect(&s)
            return ExitCounters(exits: exits, ioExits: 1 &+ pings, msrExits: s.trappedInCommand)
        }
    }

    /// Host-mode time the runner spends on the vCPU's CPU right after opening an LBR sampling contender, in
    /// sample periods: enough for one real `intel_pmu_lbr_read()` with the vCPU thread (and its vLBR) off the
    /// CPU, which seeds the stale-repeat comparison of the first kept sample (§9.6).
    public static let seedPeriods: UInt64 = 2

    /// The seed read (lock held): the vCPU thread stays blocked while the runner's host work runs.
    private static func seedRead(_ s: inout State) {
        s.seedPending = false
        s.model.vcpuThreadBlocks(durationNs: seedPeriods &* samplePeriodNs(s.model))
    }

    /// The model's sample period in nanoseconds (`Contender.modelSamplePeriod` counts at the model's clock).
    public var samplePeriodNs: UInt64 { state.withLock { s in Self.samplePeriodNs(s.model) } }

    private static func samplePeriodNs(_ model: KernelModel) -> UInt64 {
        let c = max(1, model.costs.countsPerNs)
        return (Contender.modelSamplePeriod + c - 1) / c
    }

    /// The command that runs for `command`: `hostSampleTime(periods:)` sized into `exitLoop(exits:)` from the
    /// model's sample period and `Timing.hostNsPerExit` (the same arithmetic the hw backend uses with its
    /// measured figures, `HostSampling.exits(forPeriods:periodNs:hostNsPerExit:)`); every other command as is.
    /// `tracedPattern(periods:)` is sized into `branchPattern(count:)` from the same period and the guest time the
    /// model charges per branch (`PayloadProgram.psPerPatternBranch`, from `guestTimeNs`), as the hw backend
    /// sizes it from its measured time per branch.
    public func sized(_ command: GuestCommand) -> GuestCommand {
        switch command {
        case let .hostSampleTime(p):
            return .exitLoop(exits: HostSampling.exits(forPeriods: p, periodNs: samplePeriodNs, hostNsPerExit: timing.hostNsPerExit))
        case let .tracedPattern(p):
            return .branchPattern(count: HostSampling.branches(forPeriods: p, periodNs: samplePeriodNs,
                psPerBranch: PayloadProgram.psPerPatternBranch(nsPerInstruction: timing.nsPerGuestInstruction)))
        default:
            return command
        }
    }

    // MARK: host side

    /// A host action between exits (`TimingMode.betweenExits`) or, when the guest is inside KVM_RUN,
    /// while it runs (`TimingMode.whileVcpuRuns`: an open becomes `installWhileRunning`, §3.5).
    public func host(_ action: HostAction, whileGuestRuns: Bool = false) {
        state.withLock { s in
            switch action {
            case let .open(spec):
                let c = resolve(spec, &s)
                let ids = whileGuestRuns ? s.model.installWhileRunning(c) : s.model.openHost(c, cpu: 0)
                s.open.append((spec, c, ids))
                // The seed read (§9.6): the runner keeps the CPU busy in host mode for `seedPeriods` sample
                // periods right after opening (after the command it opened during), so the ring holds one real
                // read that the first kept sample is compared with.
                if c.usesLbr { s.seedPending = true }
                if s.seedPending && !whileGuestRuns { Self.seedRead(&s) }
            case let .close(spec):
                if let i = s.open.firstIndex(where: { $0.spec == spec }) {
                    for id in s.open[i].ids { s.model.close(id) }
                    s.open.remove(at: i)
                } else {
                    emitNote(&s, "close(\(spec)): not open")
                }
            case .readContenders:
                for o in s.open {
                    for id in o.ids { _ = s.model.read(id) }
                    if o.contender.usesLbr {
                        // One summary per contender: sum the events' samples.
                        var total = HostSampleSummary(contender: o.contender.name, samples: 0, withBranches: 0,
                                                      emptyBranches: 0, guestAddresses: 0)
                        let saved = s.model.logging
                        s.model.logging = false
                        for id in o.ids {
                            var samples = s.model.drainSamples(id)
                            samples.contender = total.contender
                            total = SampleAnalysis.merge(total, samples)
                        }
                        s.model.logging = saved
                        if recordsSamples {
                            let batches = o.ids.compactMap { s.model.drainSampleBatch($0) }
                            let records = HostSampleRecords(contender: total.contender, samplePeriod: total.samplePeriod,
                                                            guestRange: GuestPayload.range, exactEdges: true,
                                                            batches: batches)
                            total = records.summary(guestEdges: GuestPayload.edgeSet)
                            s.pending.append(TimedObservation(timeNs: s.model.nowNs, .hostSampleRecords(records),
                                                              basis: modelBasis))
                        }
                        s.pending.append(TimedObservation(timeNs: s.model.nowNs, .hostSamples(total), basis: modelBasis))
                    }
                }
            case .readKmsg:
                break
            }
            collect(&s)
            if case .readKmsg = action {
                s.pending += s.kmsg
                s.kmsg.removeAll()
            }
        }
    }

    /// A host task pinned to the vCPU's CPU preempts the loaded vCPU thread (`TimingMode.preemption`,
    /// §1.6, §8.4). `.lbrCallStackTask` runs with a task-scoped LBR call-stack event (2018 seed, §3.4).
    public func preempt(by task: PreemptingTask) {
        state.withLock { s in
            switch task {
            case .cpuHog:
                s.model.preemptVcpu(byHostTask: .hostTask, durationNs: timing.preemptionNs)
            case .lbrCallStackTask:
                let t = ModelTask(s.nextHostTask)
                s.nextHostTask += 1
                let ids = s.model.openHost(.lbrCallStackTask, cpu: 0, task: t)
                s.model.preemptVcpu(byHostTask: t, durationNs: timing.preemptionNs)
                for id in ids { s.model.close(id) }
            }
            collect(&s)
        }
    }

    /// The contender a spec stands for on the model's PMU (`.everyCounter` → one event per GP and fixed counter).
    private func resolve(_ spec: ContenderSpec, _ s: inout State) -> Contender {
        switch spec {
        case let .contender(c): return c
        case .everyCounter:
            let c = Contender.counterExhaustion(gp: pmu.gpCounters, fixed: pmu.fixedCounters)
            emitNote(&s, "\(spec) resolved to \(c.name) (model PMU: \(pmu.gpCounters) GP + \(pmu.fixedCounters) fixed counters)")
            return c
        }
    }

    /// Observations since the last drain, in time order.
    public func drain() -> [TimedObservation] {
        state.withLock { s in
            collect(&s)
            defer { s.pending.removeAll() }
            return s.pending
        }
    }

    /// Closes whatever is still open and returns the remaining observations, including undrained kmsg lines.
    public func finish() -> [TimedObservation] {
        state.withLock { s in
            for o in s.open { for id in o.ids { s.model.close(id) } }
            s.open.removeAll()
            if s.model.isLoaded { s.model.vcpuPut() }
            s.model.syncRatelimitClock()
            collect(&s)
            s.pending += s.kmsg
            s.kmsg.removeAll()
            defer { s.pending.removeAll() }
            return s.pending
        }
    }

    /// Appends an observation from the backend itself (e.g. a real measurement: `basis` `.kvm`) at the model's time.
    public func append(basis: Basis, _ o: Observation) {
        state.withLock { s in s.pending.append(TimedObservation(timeNs: s.model.nowNs, o, basis: basis)) }
    }

    /// The basis of everything the model plays: `model NAME`.
    var modelBasis: Basis { .model(variant.name) }

    // MARK: private (on the locked state)

    private func emitNote(_ s: inout State, _ text: String) {
        s.pending.append(TimedObservation(timeNs: s.model.nowNs, .note(text), basis: modelBasis))
    }

    /// Moves the model's log into `pending`, holding kmsg lines back for the next `readKmsg`.
    private func collect(_ s: inout State) {
        guard !s.model.observations.isEmpty else { return }
        defer { s.model.clearObservations() }
        if s.pending.capacity == 0 { s.pending.reserveCapacity(16) } // one allocation per drained step, not one per doubling
        for t in s.model.observations {
            switch t.observation {
            case .kmsg: s.kmsg.append(t)
            case let .contextSwitches(n) where realContextSwitches:
                s.pending.append(TimedObservation(timeNs: t.timeNs, .modelContextSwitches(n), basis: t.basis))
            default: s.pending.append(t)
            }
        }
    }
}
