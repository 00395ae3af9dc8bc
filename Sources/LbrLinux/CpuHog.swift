// The preemption primitive of the `preemption` timing mode: a host thread pinned to the vCPU's CPU that
// busy-loops at the vCPU thread's own scheduling policy, priority and nice value while the guest runs a
// command, so the scheduler switches the vCPU thread out while it is inside KVM_RUN with the vCPU loaded.
// That sched-out is what sets `vcpu->scheduled_out` (kvm_sched_out()) and, at the next sched-in,
// makes `kvm_arch_vcpu_load()` request a PMU cleanup that releases an idle vLBR (reference §1.6, §8.4).
// Plus the per-thread context-switch counters the kernel keeps (proc(5) status), to say whether the
// preemption really happened.

import CLbrShim
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

    /// Reads the counters of thread `tid` of this process.
    public static func read(tid: pid_t) throws(LinuxError) -> ThreadContextSwitches {
        let path = "/proc/self/task/\(tid)/status"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw LinuxError.current("open(\(path))") }
        defer { _ = Glibc.close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 20 {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw LinuxError.current("read(\(path))")
            }
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        guard let s = parse(String(decoding: bytes, as: UTF8.self)) else {
            throw LinuxError(.invalidArgument, "\(path): no voluntary/nonvoluntary_ctxt_switches lines")
        }
        return s
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
/// `init` creates the thread and returns once it is pinned, has taken the scheduling of `schedulingLike`
/// (the vCPU thread: same policy, priority and nice, so neither side is favoured), has run `prepare` on
/// itself, and is spinning. `stop()` ends the loop and joins; the loop also ends by itself after
/// `maxDuration`, so a forgotten hog cannot spin forever. Nothing is left behind: `deinit` stops too.
///
/// `@unchecked Sendable`: the shared state is the `Atomic` stop flag and the `Monitor`-guarded start
/// hand-shake; the report is written by the thread before it exits and read only after `pthread_join`.
public final class CpuHog: @unchecked Sendable {
    /// What the hog did.
    public struct Report: Hashable, Sendable {
        /// The CPU it was pinned to, and the CPU it last ran on (`sched_getcpu`).
        public var cpu: Int
        public var ranOn: Int32
        /// Its kernel thread id.
        public var tid: pid_t
        /// The scheduling it ran with.
        public var scheduling: ThreadScheduling?
        /// Loop iterations and wall time spinning (CLOCK_MONOTONIC).
        public var spins: UInt64
        public var busyNs: UInt64
        /// Whether it stopped because `maxDuration` passed rather than `stop()`.
        public var hitMaxDuration: Bool
    }

    private final class Shared: @unchecked Sendable {
        let cpu: Int
        let like: pid_t?
        let maxNs: UInt64
        let prepare: (@Sendable () -> Void)?
        let stop = Atomic<Bool>(false)
        let monitor = Monitor()
        // Guarded by `monitor` until `started`; then owned by the thread until it exits.
        var started = false
        var startError: LinuxError?
        var report: Report
        init(cpu: Int, like: pid_t?, maxNs: UInt64, prepare: (@Sendable () -> Void)?) {
            self.cpu = cpu; self.like = like; self.maxNs = maxNs; self.prepare = prepare
            report = Report(cpu: cpu, ranOn: -1, tid: 0, scheduling: nil, spins: 0, busyNs: 0, hitMaxDuration: false)
        }
    }

    public let cpu: Int
    /// Kernel thread id of the hog.
    public let tid: pid_t
    /// The scheduling the hog runs with.
    public let scheduling: ThreadScheduling
    private let shared: Shared
    private var thread = pthread_t()
    private let joinLock = Monitor()
    private var joined = false
    private var finalReport: Report?

    /// Starts the hog.
    ///
    /// - Parameters:
    ///   - cpu: the CPU to pin to (the vCPU's CPU).
    ///   - schedulingLike: copy this thread's policy/priority/nice (nil: keep the inherited ones, which
    ///     are the creating thread's).
    ///   - maxDuration: the loop ends by itself after this long.
    ///   - prepare: runs on the hog thread after pinning, before spinning (e.g. open a task perf event on
    ///     the hog itself); capture its results in your own box.
    /// - Throws: `LinuxError` if the thread cannot be created, pinned or given the scheduling (then it
    ///   has already been joined).
    public init(cpu: Int, schedulingLike: pid_t? = nil, maxDuration: Duration = .seconds(30),
                prepare: (@Sendable () -> Void)? = nil) throws(LinuxError) {
        let c = maxDuration.components
        let maxNs = c.seconds < 0 ? 0 : UInt64(min(c.seconds, 1_000_000)) * 1_000_000_000 + UInt64(c.attoseconds / 1_000_000_000)
        let s = Shared(cpu: cpu, like: schedulingLike, maxNs: maxNs, prepare: prepare)
        self.cpu = cpu
        self.shared = s
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
        thread = t
        let (err, tid, sched): (LinuxError?, pid_t, ThreadScheduling?) = s.monitor.withLock {
            while !s.started { s.monitor.wait() }
            return (s.startError, s.report.tid, s.report.scheduling)
        }
        self.tid = tid
        self.scheduling = sched ?? ThreadScheduling(policy: 0, priority: 0, nice: 0)
        if let err {
            pthread_join(thread, nil)
            joined = true
            throw err
        }
    }

    deinit { _ = stop() }

    private static func main(_ s: Shared) {
        let tid = lbr_gettid()
        var err: LinuxError?
        let pin = lbr_pin_self_to_cpu(Int32(s.cpu))
        if pin != 0 { err = LinuxError(.init(rawValue: pin), "pin cpu hog to CPU \(s.cpu)") }
        var sched: ThreadScheduling?
        if err == nil {
            do throws(LinuxError) {
                if let like = s.like { try ThreadScheduling.of(tid: like).applyToCallingThread() }
                sched = try ThreadScheduling.of(tid: tid)
            } catch { err = error }
        }
        if err == nil { s.prepare?() }
        s.monitor.withLock {
            s.report.tid = tid
            s.report.scheduling = sched
            s.startError = err
            s.started = true
            s.monitor.broadcast()
        }
        if err != nil { return }
        let t0 = hogNowNs()
        var spins: UInt64 = 0
        var hitMax = false
        while !s.stop.load(ordering: .relaxed) {
            spins &+= 1
            if spins & 0x3ff == 0, hogNowNs() &- t0 >= s.maxNs { hitMax = true; break }
        }
        s.report.spins = spins
        s.report.busyNs = hogNowNs() &- t0
        s.report.hitMaxDuration = hitMax
        s.report.ranOn = lbr_current_cpu()
    }

    /// Ends the loop and joins the thread. Idempotent; returns the report.
    @discardableResult
    public func stop() -> Report {
        joinLock.withLock {
            if let r = finalReport { return r }
            shared.stop.store(true, ordering: .relaxed)
            if !joined { pthread_join(thread, nil); joined = true }
            let r = shared.report
            finalReport = r
            return r
        }
    }
}

@inline(__always)
private func hogNowNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// The host's time-stamp counter on the calling CPU (RDTSC), to place host actions on the guest's TSC
/// time line (guest TSC = host TSC + KVM's TSC offset when TSC scaling is off).
public func hostTimestampCounter() -> UInt64 { lbr_rdtsc() }
