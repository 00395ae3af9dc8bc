// hybrid: lbrprobe's real KVM guest (LbrLinux.GuestVM) with user-space MSR exits answered by the kernel
// model. The MSR filter covers DEBUGCTL and every LBR MSR of the layout (MsrFilter.lbr), so each guest
// RDMSR/WRMSR of those reaches `ModelHost.guestMsr` on the vCPU thread: the model decides the value,
// whether KVM would have trapped it, and whether the guest gets #GP. The model also plays the host's
// perf events. The branch pattern runs for real in the guest; its real branch-site addresses are fed to
// the model, so LBR records hold the addresses the payload's branches really have. A pattern sized by time
// (`tracedPattern`) runs at most `KvmGuest.realPatternBranches` branches in the real guest, whose code may be
// emulated (µs per branch): the model's guest time carries the sized pattern, and a note says so.
//
// Timing modes are real too: a host action "while the vCPU runs" is taken while the vCPU thread is
// inside KVM_RUN (GuestVM.run(_:timeout:whileRunning:)); a preemption is a real thread pinned to the
// vCPU's CPU (SCHED_FIFO when permitted) that runs while the guest spins, and the vCPU thread's real
// context switches are reported as `.contextSwitches` next to the model's view (a note).

import LbrCore
import LbrLinux
import LbrModel
import LbrScenarios
import Logging
import Synchronization

/// `hybrid`: the real KVM guest, the model as host perf + KVM vLBR.
public typealias HybridBackend = ModelBackedBackend<KvmGuest>

extension ModelBackedBackend where Guest == KvmGuest {
    /// - Parameters:
    ///   - variant: the kernel variant (`--model`).
    ///   - profile: this host's profile; availability comes from `Eligibility.hybrid(profile)`.
    public convenience init(variant: KernelVariant, profile: HostProfile, pmu: ModelPMU = .skylake,
                            timing: ModelHost.Timing = .init(), logger: Logger? = nil) {
        self.init(guest: KvmGuest(), variant: variant, pmu: pmu, timing: timing, profile: profile, logger: logger)
    }

    /// Every MSR exit of the current (or last) scenario, in order: what the real guest executed.
    public var msrExitLog: [GuestMsrOp] { guest.msrExitLog }

    /// The reports of the real CPU hogs of this backend's preemption steps, in order (each step's note renders
    /// its report for people).
    public var hogReports: [CpuHog.Report] { guest.hogReports }
}

/// The hybrid guest side: lbrprobe's real KVM guest with the model answering its LBR MSR exits.
public final class KvmGuest: ModelGuest {
    public static var kind: BackendKind { .hybrid }
    /// How long the real CPU hog of a preemption step spins once triggered: as SCHED_FIFO, and without
    /// FIFO permission (then it runs like the vCPU thread).
    public var hogBusy: CpuHog.Busy = .preemption
    /// The reports of the real CPU hogs of the preemption steps run so far, in order.
    public private(set) var hogReports: [CpuHog.Report] = []
    private var vm: GuestVM?
    private let exitLog = OpLog()
    private let cursor = TraceCursor()
    private let plans = PayloadPlans()
    /// Every MSR exit of the current (or last) scenario, in order.
    public var msrExitLog: [GuestMsrOp] { exitLog.ops }
    /// The most pattern branches the real guest runs for one command (4,096: 256 rounds of the ring). A longer
    /// pattern is charged to the model as sized (`PayloadProgram.guestTimeNs`, its derived trace) while the real
    /// guest runs this many: where guest code is emulated (µs per branch) the sized pattern would cost seconds
    /// and show the model nothing more (hybrid's host perf is the model's).
    public static let realPatternBranches = 4_096

    public func availability(variant: KernelVariant, pmu: ModelPMU, profile: HostProfile?) -> BackendAvailability {
        guard let profile else {
            return .unavailable([.init(.noHostProfile, "no host profile: the caller probed no host, so KVM cannot be judged", ref: "api.rst")])
        }
        let e = Eligibility.hybrid(profile)
        guard e.eligible else {
            return .unavailable(e.blockers)
        }
        return .available(detail: "real KVM guest (/dev/kvm, user-space MSR exits through an MSR filter on DEBUGCTL and \(pmu.lbrLayout.allMsrs.count) LBR MSRs); host perf and KVM's vLBR played by kernel model \(variant.name)")
    }

    public func start(host h: ModelHost, cpu: Int, layout: LbrLayout) throws(BackendError) -> [String] {
        exitLog.clear()
        let handler: UserSpaceMsrHandler = { [exitLog, cursor] exit in
            let op: GuestMsrOp = exit.isWrite ? .write(exit.index, exit.value) : .read(exit.index)
            exitLog.append(op)
            // The taken branches the real guest executed before this MSR instruction (derived trace, §9.3).
            let o = h.guestMsr(op, after: cursor.nextSegment())
            if o.faulted { return .gp }
            return exit.isWrite ? .ok : .value(o.value)
        }
        let options = GuestVMOptions(cpu: cpu, layout: layout, userSpaceMsr: handler,
                                     configureGuestLbr: false, msrExitRip: false)
        let vm: GuestVM
        do { vm = try GuestVM(options: options) } catch { throw .failed("guest VM: \(error)") }
        self.vm = vm
        let ranges = vm.msrFilter?.ranges.map { "0x\(String($0.base, radix: 16))+\($0.count)" }.joined(separator: ",") ?? "none"
        return ["real KVM guest: vCPU thread \(vm.vcpuThreadID) pinned to CPU \(cpu), MSR filter \(ranges), guest RAM \(vm.memoryPlacement)"]
    }

    public func run(_ cmd: GuestCommand, during: DuringGuest?, host h: ModelHost, layout: LbrLayout,
                    deadlineNs: UInt64) throws(BackendError) -> GuestResult {
        guard let vm else { throw .failed("no guest VM") }
        let now = monotonicNs()
        guard deadlineNs > now else { throw .timeout("deadline passed before guest \(cmd)") }
        let timeout = Duration.nanoseconds(Int64(min(deadlineNs - now, UInt64(Int64.max))))
        let request: GuestMailbox.Request?
        if case let .success(r) = GuestMailbox.request(for: cmd, layout: layout) { request = r } else { request = nil }

        cursor.load(request.map { plans.plan($0, first: h.nextCommandIsFirst) })
        var real = cmd
        if case let .branchPattern(n) = cmd, n > Self.realPatternBranches { real = .branchPattern(count: Self.realPatternBranches) }
        h.beginGuestCommand()
        var result: GuestResult
        switch during {
        case nil:
            result = vm.run(real, timeout: timeout)
        case let .host(a)?:
            result = vm.run(real, timeout: timeout, whileRunning: { h.host(a, whileGuestRuns: true) })
        case let .preempt(t)?:
            result = preempted(real, by: t, vm: vm, host: h, timeout: timeout)
        }
        if real != cmd, result.status == .ok {
            // The model ran the sized pattern; the result is the model's command with the real guest's TSC span.
            h.append(basis: .kvm, .note("real guest ran \(real) of the model's \(cmd) (guest code may be emulated here; the model's guest time carries the pattern)"))
            result.command = cmd
            result.values = [UInt64(Self.branchCount(cmd))]
        }
        if result.status == .ok {
            // The branches after the last MSR instruction (the branch pattern, loops, the way back to g_ok).
            h.guestTakenBranches(cursor.rest())
        }
        h.endGuestCommand(request)
        if result.status == .timeout {
            if let stuck = vm.abandonedReason { throw .timeout("guest \(cmd) did not finish before the deadline: \(stuck)") }
            throw .timeout("guest \(cmd) did not finish before the deadline (vCPU kicked)")
        }
        return result
    }

    static func branchCount(_ cmd: GuestCommand) -> Int {
        if case let .branchPattern(n) = cmd { return n }
        return 0
    }

    /// A real preemption inside KVM_RUN (§1.6, §8.4): a `CpuHog` created parked on the vCPU's CPU before the
    /// command (SCHED_FIFO when permitted, else like the vCPU thread), woken while the vCPU thread is inside
    /// KVM_RUN; the vCPU thread's real context switches are reported next to the model's view.
    private func preempted(_ cmd: GuestCommand, by t: PreemptingTask, vm: GuestVM, host h: ModelHost,
                           timeout: Duration) -> GuestResult {
        let tid = vm.vcpuThreadID
        let cpu = h.cpu
        let hog: CpuHog?
        do {
            hog = try CpuHog(cpu: cpu, policy: .fifoWhenPermitted(otherwiseLike: tid), busy: hogBusy,
                             maxDuration: timeout, name: t == .lbrCallStackTask ? "lbrprobe-cstask" : "lbrprobe-hog")
        } catch {
            hog = nil
            h.append(basis: .kvm, .note("real \(t) on CPU \(cpu) not started: \(error)"))
        }
        let before = try? ThreadContextSwitches.read(tid: tid)
        let slot = HwSlot<CpuHog.Report>()
        let result = vm.run(cmd, timeout: timeout, whileRunning: {
            h.preempt(by: t)
            if let hog {
                hog.trigger(preempting: tid)
                slot.value = hog.finish()
            }
        })
        hog?.stop()
        guard let hog else { return result }
        let r = slot.value ?? hog.stop()
        hogReports.append(r)
        if let before, let after = try? ThreadContextSwitches.read(tid: tid) {
            let d = after - before
            h.append(basis: .kvm, .contextSwitches(Int(clamping: d.nonvoluntary)))
            h.append(basis: .kvm, .note("real \(t) on CPU \(cpu) (\(r)): vCPU thread \(tid) nonvoluntary_ctxt_switches +\(d.nonvoluntary), voluntary +\(d.voluntary)\(d.nonvoluntary == 0 ? " — the real preemption did not happen" : "")"))
        } else {
            h.append(basis: .kvm, .note("vCPU thread \(tid) context switches unreadable (/proc/self/task/\(tid)/status)"))
        }
        return result
    }

    public func stop() {
        vm?.close()
        vm = nil
    }
}

/// The derived trace of the running command, split at its MSR instructions (read on the vCPU thread).
final class TraceCursor: Sendable {
    private struct State {
        var segments: [[GuestBranch]] = []
        var next = 0
    }
    private let state = Mutex(State())
    /// Loads a command's `plan` (nil: no branches): segment k = the branches before MSR instruction k; the last =
    /// after the last one.
    func load(_ plan: PayloadProgram.Plan?) {
        var segs: [[GuestBranch]] = []
        if let plan {
            segs.reserveCapacity(plan.steps.count + 1)
            for step in plan.steps { segs.append(step.branches) }
            segs.append(plan.tail)
        } else {
            segs = [[]]
        }
        state.withLock { [segs] in $0 = State(segments: segs, next: 0) }
    }
    /// The branches before the next MSR instruction.
    func nextSegment() -> [GuestBranch] {
        state.withLock { s in
            guard s.next < s.segments.count - 1 else { return [] }
            defer { s.next += 1 }
            return s.segments[s.next]
        }
    }
    /// Every branch not handed out yet.
    func rest() -> [GuestBranch] {
        state.withLock { s in
            guard s.next < s.segments.count else { return [] }
            defer { s.next = s.segments.count }
            return s.segments[s.next...].flatMap { $0 }
        }
    }
}

/// The MSR exits a real guest made (appended on the vCPU thread).
final class OpLog: Sendable {
    private let list = Mutex<[GuestMsrOp]>([])
    func append(_ op: GuestMsrOp) { list.withLock { $0.append(op) } }
    func clear() { list.withLock { $0.removeAll() } }
    var ops: [GuestMsrOp] { list.withLock { $0 } }
}
