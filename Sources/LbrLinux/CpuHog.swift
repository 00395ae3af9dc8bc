// The preemption primitive of the `preemption` timing mode, shared by the hw and hybrid backends: a host
// thread pinned to the vCPU's CPU, created ahead of time and parked, that busy-loops once triggered while
// the guest runs a command, so the scheduler switches the vCPU thread out while it is inside KVM_RUN with
// the vCPU loaded. That sched-out is what sets `vcpu->scheduled_out` (kvm_sched_out()) and, at the next
// sched-in, makes `kvm_arch_vcpu_load()` request a PMU cleanup that releases an idle vLBR (reference
// §1.6, §8.4). Plus the per-thread context-switch counters the kernel keeps (proc(5) status), to say
// whether the preemption really happened.
//
// Why parked + SCHED_FIFO: creating the hog inside the guest run missed about 1 preemption in 4 on a
// loaded machine (thread creation is slow there and the guest command may end first); a parked
// SCHED_FIFO priority-1 hog woken inside the run preempts the SCHED_OTHER vCPU thread at once (wake-up
// preemption of an RT task), 24 of 24 in the hybrid backend's measurement.

import CLbrShim
import SystemPackage
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `voluntary_ctxt_switches` / `nonvoluntary_ctxt_switches` of one thread (proc(5), `/proc/<pid>/task/<tid>/status`).
///
/// A non-voluntary switch is a preemption: the thread was runnable (`TASK_RUNNING`) when it was switched
/// out — inside KVM_RUN that is exactly the sched-out KVM's preempt notifier sees with the vCPU loaded.
public struct ThreadContextSwitches: Hashable, Sendable, Codable {
    public var voluntary: UInt64
    public var nonvoluntary: UInt64

    public init(voluntary: UInt64, nonvoluntary: UInt64) { self.voluntary = voluntary; self.nonvoluntary = nonvoluntary }

    /// Reads the counters of thread `tid` of this process (`Sysfs.raw`).
    public static func read(tid: pid_t) throws(LinuxError) -> ThreadContextSwitches {
        let path = "/proc/self/task/\(tid)/status"
        switch Sysfs().raw(path) {
        case let .value(text):
            guard let s = parse(text) else {
                throw LinuxError(.invalidArgument, "\(path): no voluntary/nonvoluntary_ctxt_switches lines")
            }
            return s
        case .absent: throw LinuxError(.noSuchFileOrDirectory, "open(\(path))")
        case let .unreadable(_, e): throw LinuxError(e, "read(\(path))")
        case .malformed: throw LinuxError(.invalidArgument, "\(path): malformed")
        }
    }

    /// Parses the two counters out of a proc status text; nil when either is missing or malformed.
    public static func parse(_ text: String) -> ThreadContextSwitches? {
        var v: UInt64?, n: UInt64?
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let value = UInt64(parts[1].filter { $0 != " " && $0 != "\t" })
            if parts[0] == "voluntary_ctxt_switches" { v = value } else if parts[0] == "nonvoluntary_ctxt_switches" { n = value }
        }
        guard let v, let n else { return nil }
        return ThreadContextSwitches(voluntary: v, nonvoluntary: n)
    }

    public static func - (a: ThreadContextSwitches, b: ThreadContextSwitches) -> ThreadContextSwitches {
        ThreadContextSwitches(voluntary: a.voluntary &- b.voluntary, nonvoluntary: a.nonvoluntary &- b.nonvoluntary)
    }
}

/// The scheduling class of a thread: policy, RT priority and nice value.
public struct ThreadScheduling: Hashable, Sendable, Codable, CustomStringConvertible {
    /// SCHED_OTHER (0), SCHED_FIFO (1), SCHED_RR (2), SCHED_BATCH (3), SCHED_IDLE (5).
    public var policy: Int32
    public var priority: Int32
    public var nice: Int32

    public init(policy: Int32, priority: Int32, nice: Int32) { self.policy = policy; self.priority = priority; self.nice = nice }

    /// The scheduling of thread `tid` (`sched_getscheduler`, `sched_getparam`, `getpriority(PRIO_PROCESS)`,
    /// which on Linux all take a thread id).
    public static func of(tid: pid_t) throws(LinuxError) -> ThreadScheduling {
        let policy = sched_getscheduler(tid)
        if policy < 0 { throw LinuxError.current("sched_getscheduler(\(tid))") }
        var p = sched_param()
        if sched_getparam(tid, &p) != 0 { throw LinuxError.current("sched_getparam(\(tid))") }
        errno = 0
        let nice = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(tid))
        if nice == -1 && errno != 0 { throw LinuxError.current("getpriority(PRIO_PROCESS, \(tid))") }
        return ThreadScheduling(policy: policy & ~Int32(0x4000_0000), priority: p.sched_priority, nice: nice)
    }

    /// Applies this scheduling to the calling thread.
    public func applyToCallingThread() throws(LinuxError) {
        var p = sched_param()
        p.sched_priority = priority
        if sched_setscheduler(0, policy, &p) != 0 { throw LinuxError.current("sched_setscheduler(0, \(policy), \(priority))") }
        if policy != SCHED_FIFO && policy != SCHED_RR {
            if setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(lbr_gettid()), nice) != 0 {
                throw LinuxError.current("setpriority(PRIO_PROCESS, self, \(nice))")
            }
        }
    }

    public var description: String {
        let name: String
        switch policy {
        case 0: name = "SCHED_OTHER"
        case 1: name = "SCHED_FIFO"
        case 2: name = "SCHED_RR"
        case 3: name = "SCHED_BATCH"
        case 5: name = "SCHED_IDLE"
        default: name = "policy \(policy)"
        }
        return policy == 1 || policy == 2 ? "\(name) priority \(priority)" : "\(name) nice \(nice)"
    }
}

/// A busy-looping host thread pinned to one CPU (reference §8.4: "pinning a CPU hog on the vCPU's CPU").
///
/// Life cycle: `init` creates the thread and returns once it is pinned, has taken its scheduling
/// (`Policy`), has run `prepare` on itself, and is parked (blocked, using no CPU). `trigger()` wakes it
/// for one bounded busy phase (`Busy`, never longer than `maxDuration`); `finish()` waits until that phase
/// ends by itself and joins, `stop()` ends it at once and joins. Both are idempotent and return the same
/// report; `deinit` stops. A hog is single-use: one trigger, one busy phase. The hog thread blocks
/// SIGINT/SIGTERM (the process handles them on its main side, conventions "Signals").
///
/// Sendable: the hog thread's state is in `Shared` (see there); the join is guarded by a `Mutex`.
public final class CpuHog: Sendable {
    /// The scheduling the hog takes before parking.
    public enum Policy: Hashable, Sendable {
        /// SCHED_FIFO priority 1 when permitted (CAP_SYS_NICE or RLIMIT_RTPRIO): woken on the vCPU's CPU
        /// it preempts a SCHED_OTHER vCPU thread at once. When refused, the scheduling of thread
        /// `otherwiseLike` (nil: the inherited one), and `Report.problem` says why FIFO was refused.
        case fifoWhenPermitted(otherwiseLike: pid_t?)
        /// The policy, priority and nice value of thread `tid` (neither side favoured: the scheduler
        /// preempts the vCPU thread when its fair share is used up).
        case like(pid_t)
        /// The creating thread's scheduling, unchanged.
        case inherited
    }

    /// How long the busy phase lasts once triggered, by the scheduling the hog got (nil: until `stop()`,
    /// bounded by `maxDuration` — never use nil with a FIFO hog on a CPU other work needs).
    ///
    /// With `rounds` > 1 and a `target` given to `trigger(preempting:)`, the phase is repeated — after a
    /// 200 µs sleep that gives the CPU back — until the target thread's involuntary context switches grew
    /// since the trigger, at most `rounds` times: when another task (another test, another VM) rather than
    /// the target was current on the CPU at the wake-up, the first round preempted that task instead.
    public struct Busy: Hashable, Sendable {
        public var fifo: Duration?
        public var other: Duration?
        public var rounds: Int
        public init(fifo: Duration?, other: Duration?, rounds: Int = 1) {
            self.fifo = fifo; self.other = other; self.rounds = max(1, rounds)
        }
        /// Until `stop()` (or `maxDuration`).
        public static let untilStopped = Busy(fifo: nil, other: nil)
        /// 300 µs as SCHED_FIFO (the wake-up alone preempts), 4 ms otherwise (long enough for the fair
        /// scheduler to switch the vCPU thread out on a shared CPU); up to 4 rounds until the target was
        /// preempted.
        public static let preemption = Busy(fifo: .microseconds(300), other: .milliseconds(4), rounds: 4)
    }

    /// What the hog did.
    public struct Report: Hashable, Sendable, CustomStringConvertible {
        /// The CPU it was pinned to.
        public var cpu: Int
        /// Its kernel thread id.
        public var tid: pid_t
        /// The scheduling it ran with, and whether that is SCHED_FIFO.
        public var scheduling: ThreadScheduling?
        public var fifo: Bool
        /// Whether it ran on `cpu` (the CPU it last ran on, `sched_getcpu`, is `ranOn`; -1 if it never ran).
        public var pinned: Bool
        public var ranOn: Int32
        /// Whether `trigger()` woke it (false: stopped while parked).
        public var triggered: Bool
        /// From `trigger()` to the first spin (CLOCK_MONOTONIC): how quickly it got the CPU.
        public var wakeNs: UInt64
        /// Loop iterations and wall time spinning (CLOCK_MONOTONIC).
        public var spins: UInt64
        public var busyNs: UInt64
        /// Whether it stopped because `maxDuration` passed rather than its `Busy` budget or `stop()`.
        public var hitMaxDuration: Bool
        /// Busy rounds run, and — when triggered with a target — whether the target's involuntary context
        /// switches grew between the trigger and the end of the last round (nil: no target, or unreadable).
        public var rounds: Int
        public var targetPreempted: Bool?
        /// Something worth reporting that did not prevent the hog (FIFO refused, ran off its CPU, never triggered).
        public var problem: String?

        /// One line for evidence notes, e.g. "tid 812 SCHED_FIFO priority 1 on CPU 1: woke 41 µs after the
        /// trigger, spun 300 µs".
        public var description: String {
            var s = "tid \(tid) \(scheduling.map { "\($0)" } ?? "scheduling ?") on CPU \(cpu)"
            if triggered {
                s += ": woke \(wakeNs / 1000) µs after the trigger, spun \(busyNs / 1000) µs"
                if rounds > 1 { s += " in \(rounds) rounds" }
                if let p = targetPreempted { s += p ? ", target preempted" : ", target NOT preempted" }
                if !pinned { s += " (last ran on CPU \(ranOn))" }
                if hitMaxDuration { s += ", stopped by its maximum duration" }
            } else {
                s += ": never triggered"
            }
            if let problem { s += "; \(problem)" }
            return s
        }
    }

    private enum Phase { case starting, parked, triggered, stopping }

    /// `@unchecked Sendable`: the shared state is the `Atomic` stop flag and the `Monitor`-guarded hand-shake
    /// (start, trigger, stop, with its condition variable); the report is written by the thread before it
    /// exits and read only after `pthread_join`.
    private final class Shared: @unchecked Sendable {
        let cpu: Int
        let policy: Policy
        let busy: Busy
        let maxNs: UInt64
        let prepare: (@Sendable () -> Void)?
        /// The thread's name (`/proc/self/task/*/comm`, `top -H`).
        var name = "lbrprobe-hog"
        let stop = Atomic<Bool>(false)
        let monitor = Monitor()
        // Guarded by `monitor`.
        var phase = Phase.starting
        var triggerNs: UInt64 = 0
        var target: (tid: pid_t, base: UInt64)?
        var startError: LinuxError?
        // Written by the thread (tid/scheduling/fifo under `monitor` before `parked`); read after join.
        var report: Report
        init(cpu: Int, policy: Policy, busy: Busy, maxNs: UInt64, prepare: (@Sendable () -> Void)?) {
            self.cpu = cpu; self.policy = policy; self.busy = busy; self.maxNs = maxNs; self.prepare = prepare
            report = Report(cpu: cpu, tid: 0, scheduling: nil, fifo: false, pinned: false, ranOn: -1, triggered: false,
                            wakeNs: 0, spins: 0, busyNs: 0, hitMaxDuration: false, rounds: 0,
                            targetPreempted: nil, problem: nil)
        }
    }

    public let cpu: Int
    /// Kernel thread id of the hog.
    public let tid: pid_t
    /// The scheduling the hog runs with, and whether it is SCHED_FIFO.
    public let scheduling: ThreadScheduling
    public let fifo: Bool
    private let shared: Shared
    /// The thread until joined, then its final report.
    private enum Join { case running(pthread_t), joined(Report) }
    private let join: Mutex<Join>

    /// Creates the hog and returns once it is parked.
    ///
    /// - Parameters:
    ///   - cpu: the CPU to pin to (the vCPU's CPU).
    ///   - policy: its scheduling (`Policy`).
    ///   - busy: how long one busy phase lasts once triggered.
    ///   - maxDuration: the absolute bound of the busy phase, so a forgotten hog cannot spin forever.
    ///   - prepare: runs on the hog thread after pinning and scheduling, before parking (e.g. open a task
    ///     perf event on the hog itself); capture its results in your own box.
    /// - Throws: `LinuxError` if the thread cannot be created, pinned or given its scheduling (then it has
    ///   already been joined). A refused SCHED_FIFO under `.fifoWhenPermitted` is not an error.
    ///   - name: the thread's name (at most 15 bytes), seen in `top -H` and `/proc/self/task/*/comm`.
    public init(cpu: Int, policy: Policy = .inherited, busy: Busy = .untilStopped, maxDuration: Duration = .seconds(30),
                prepare: (@Sendable () -> Void)? = nil, name: String = "lbrprobe-hog") throws(LinuxError) {
        let s = Shared(cpu: cpu, policy: policy, busy: busy, maxNs: GuestVM.nanoseconds(maxDuration), prepare: prepare)
        s.name = name
        self.cpu = cpu
        self.shared = s
        // SAFETY: the +1 reference travels to the thread, which takes it back (`takeRetainedValue`) exactly once;
        // if the thread is not created, it is released here instead.
        let box = Unmanaged.passRetained(s).toOpaque()
        var t = pthread_t()
        let rc = pthread_create(&t, nil, { raw in
            let s = Unmanaged<CpuHog.Shared>.fromOpaque(raw!).takeRetainedValue()
            CpuHog.main(s)
            return nil
        }, box)
        if rc != 0 {
            Unmanaged<Shared>.fromOpaque(box).release()
            throw LinuxError(.init(rawValue: rc), "pthread_create(cpu hog)")
        }
        let (err, report): (LinuxError?, Report) = s.monitor.withLock {
            while s.phase == .starting { s.monitor.wait() }
            return (s.startError, s.report)
        }
        self.tid = report.tid
        self.scheduling = report.scheduling ?? ThreadScheduling(policy: 0, priority: 0, nice: 0)
        self.fifo = report.fifo
        if let err {
            pthread_join(t, nil)
            join = Mutex(.joined(report))
            throw err
        }
        join = Mutex(.running(t))
    }

    deinit { _ = stop() }

    /// The hog thread: pins and schedules itself, parks until triggered or stopped, then spins.
    private static func main(_ s: Shared) {
        var block = sigset_t()
        sigemptyset(&block)
        TerminationSignals.addHandled(to: &block)
        pthread_sigmask(SIG_BLOCK, &block, nil)
        ThreadName.set(s.name)
        let tid = lbr_gettid()
        let start = startThread(s, tid: tid)
        if start.error == nil { s.prepare?() }
        let triggered: Bool = s.monitor.withLock {
            s.report.tid = tid
            s.report.scheduling = start.scheduling
            s.report.fifo = start.fifo
            s.report.problem = start.problem
            s.startError = start.error
            s.phase = start.error == nil ? .parked : .stopping
            s.monitor.broadcast()
            while s.phase == .parked { s.monitor.wait() }
            return s.phase == .triggered
        }
        if start.error != nil { return }
        guard triggered else {
            s.report.problem = [start.problem, "never triggered"].compactMap { $0 }.joined(separator: "; ")
            return
        }
        let t0 = monotonicNs()
        let spun = spin(s, fifo: start.fifo, from: t0)
        let cpuNow = lbr_current_cpu()
        s.report.triggered = true
        s.report.wakeNs = t0 &- s.monitor.withLock { s.triggerNs }
        s.report.spins = spun.spins
        s.report.busyNs = spun.busyNs
        s.report.rounds = spun.rounds
        s.report.targetPreempted = spun.preempted
        s.report.hitMaxDuration = spun.hitMax
        s.report.ranOn = cpuNow
        s.report.pinned = cpuNow == Int32(s.cpu)
        if !s.report.pinned {
            s.report.problem = [start.problem, "ran on CPU \(cpuNow), not \(s.cpu)"].compactMap { $0 }.joined(separator: "; ")
        }
    }

    /// How the hog thread started: its scheduling, whether SCHED_FIFO, what to report, or why it cannot run.
    private struct ThreadStart {
        var scheduling: ThreadScheduling?
        var fifo = false
        var problem: String?
        var error: LinuxError?
    }

    /// Pins the calling (hog) thread to its CPU and gives it the scheduling `s.policy` asks for.
    private static func startThread(_ s: Shared, tid: pid_t) -> ThreadStart {
        var start = ThreadStart()
        let pin = lbr_pin_self_to_cpu(Int32(s.cpu))
        if pin != 0 {
            start.error = LinuxError(.init(rawValue: pin), "pin cpu hog to CPU \(s.cpu)")
            return start
        }
        do throws(LinuxError) {
            var like: pid_t?
            switch s.policy {
            case .inherited: break
            case let .like(t): like = t
            case let .fifoWhenPermitted(otherwise):
                var p = sched_param()
                p.sched_priority = 1
                let rc = pthread_setschedparam(pthread_self(), Int32(SCHED_FIFO), &p)
                if rc == 0 { start.fifo = true } else {
                    like = otherwise
                    start.problem = "SCHED_FIFO refused (\(Errno(rawValue: rc))): ran like \(otherwise.map { "thread \($0)" } ?? "its creator")"
                }
            }
            if let like { try ThreadScheduling.of(tid: like).applyToCallingThread() }
            start.scheduling = try ThreadScheduling.of(tid: tid)
        } catch { start.error = error }
        return start
    }

    /// What the busy phase did.
    private struct Spun {
        var spins: UInt64 = 0
        var hitMax = false
        var rounds = 0
        var preempted: Bool?
        var busyNs: UInt64 = 0
    }

    /// The busy phase from `t0`: rounds of spinning (each up to the `Busy` budget), until the target was
    /// preempted, the rounds run out, `stop()` or `maxDuration`.
    private static func spin(_ s: Shared, fifo: Bool, from t0: UInt64) -> Spun {
        var out = Spun()
        let limit = (fifo ? s.busy.fifo : s.busy.other).map { min(GuestVM.nanoseconds($0), s.maxNs) } ?? s.maxNs
        let target = s.monitor.withLock { s.target }
        while true {
            out.rounds += 1
            // The first round starts at t0 itself, so busy time and the maxDuration check share one origin.
            let r0 = out.rounds == 1 ? t0 : monotonicNs()
            var now = r0
            while !s.stop.load(ordering: .relaxed) {
                out.spins &+= 1
                if out.spins & 0x3f == 0 {
                    now = monotonicNs()
                    if now &- r0 >= limit || now &- t0 >= s.maxNs { break }
                }
            }
            now = monotonicNs()
            out.busyNs &+= now &- r0
            if now &- t0 >= s.maxNs { out.hitMax = true; break }
            guard let target, !s.stop.load(ordering: .relaxed) else { break }
            guard let c = try? ThreadContextSwitches.read(tid: target.tid) else { out.preempted = nil; break }
            out.preempted = c.nonvoluntary > target.base
            if out.preempted == true || out.rounds >= s.busy.rounds { break }
            usleep(200) // the CPU back to the target, then preempt it again
        }
        return out
    }

    /// Wakes the parked hog for its busy phase and returns at once. Returns false (and does nothing) if it
    /// was already triggered or stopped.
    /// - Parameter target: the thread to preempt (the vCPU thread): its involuntary context switches are
    ///   read now, and the busy phase repeats up to `Busy.rounds` times until they grew (`Busy`).
    @discardableResult
    public func trigger(preempting target: pid_t? = nil) -> Bool {
        let base = target.flatMap { try? ThreadContextSwitches.read(tid: $0) }
        return shared.monitor.withLock {
            guard shared.phase == .parked else { return false }
            if let target, let base { shared.target = (target, base.nonvoluntary) }
            shared.triggerNs = monotonicNs()
            shared.phase = .triggered
            shared.monitor.broadcast()
            return true
        }
    }

    /// Waits until the busy phase ended by itself (its `Busy` budget or `maxDuration`) and joins; a hog
    /// that was never triggered is stopped instead. Idempotent; returns the report.
    @discardableResult
    public func finish() -> Report { end(stopping: false) }

    /// Ends the busy phase (or the parking) at once and joins. Idempotent; returns the report.
    @discardableResult
    public func stop() -> Report { end(stopping: true) }

    private func end(stopping: Bool) -> Report {
        join.withLock { join in
            switch join {
            case let .joined(r):
                return r
            case let .running(thread):
                shared.monitor.withLock {
                    if shared.phase == .parked || shared.phase == .starting { shared.phase = .stopping }
                    shared.monitor.broadcast()
                }
                if stopping { shared.stop.store(true, ordering: .relaxed) }
                pthread_join(thread, nil)
                let r = shared.report
                join = .joined(r)
                return r
            }
        }
    }
}
