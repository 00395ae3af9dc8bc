// Real preemption of the hybrid backend's vCPU thread: a host thread pinned to the vCPU's CPU that
// busy-loops while the guest spins inside KVM_RUN, and the vCPU thread's context-switch counters from
// /proc/self/task/<tid>/status so the backend can say whether the preemption really happened.
// (Reference §1.6, §8.4: only a sched-out while the vCPU is loaded sets vcpu->scheduled_out.)

import CLbrShim
#if canImport(Glibc)
import Glibc
#endif

/// voluntary/nonvoluntary_ctxt_switches of one thread (proc(5)).
public struct ThreadSwitches: Hashable, Sendable {
    public var voluntary: UInt64
    public var nonvoluntary: UInt64

    /// Reads /proc/self/task/`tid`/status; nil when unreadable or malformed.
    public static func read(tid: Int32) -> ThreadSwitches? {
        guard let text = readSmallFile("/proc/self/task/\(tid)/status") else { return nil }
        return parse(text)
    }

    /// Parses the two counters out of a proc status text.
    public static func parse(_ text: String) -> ThreadSwitches? {
        var v: UInt64?, n: UInt64?
        for line in text.split(separator: "\n") {
            if line.hasPrefix("voluntary_ctxt_switches:") {
                v = UInt64(line.dropFirst("voluntary_ctxt_switches:".count).trimmingCharacters(in: " \t"))
            } else if line.hasPrefix("nonvoluntary_ctxt_switches:") {
                n = UInt64(line.dropFirst("nonvoluntary_ctxt_switches:".count).trimmingCharacters(in: " \t"))
            }
        }
        guard let v, let n else { return nil }
        return ThreadSwitches(voluntary: v, nonvoluntary: n)
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var s = self
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out = [UInt8]()
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n < 0 { if errno == EINTR { continue }; return nil }
        if n == 0 { break }
        out += buf[0..<n]
        if out.count > 1 << 20 { return nil }
    }
    return String(decoding: out, as: UTF8.self)
}

/// CLOCK_MONOTONIC in nanoseconds (the clock `Backends.runner` gives the runner, so backend deadlines compare).
public func backendMonotonicNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// A busy host thread pinned to one CPU.
///
/// `start` creates the thread, which makes itself SCHED_FIFO (priority 1) when permitted, pins itself to
/// the CPU and then sleeps on a pipe; `trigger` wakes it — an RT task waking on the vCPU's CPU preempts
/// the SCHED_OTHER vCPU thread at once — and waits until it has busy-looped for its budget and exited.
/// Creating the thread ahead of time keeps thread creation (slow on a loaded machine) out of the window
/// in which the guest is inside KVM_RUN.
public final class CpuHog: @unchecked Sendable {
    /// What the hog did.
    public struct Report: Hashable, Sendable {
        /// Whether it ran SCHED_FIFO (priority 1), which preempts a SCHED_OTHER vCPU thread at once.
        public var fifo: Bool
        /// Whether pinning to the CPU succeeded.
        public var pinned: Bool
        /// The CPU it last ran on (sched_getcpu), -1 if unknown.
        public var ranOn: Int32
        public var busyNs: UInt64
        public var problem: String?
    }

    final class Box: @unchecked Sendable {
        let cpu: Int
        let durationNs: UInt64
        let fallbackNs: UInt64
        let readFd: Int32
        var report = Report(fifo: false, pinned: false, ranOn: -1, busyNs: 0, problem: nil)
        init(cpu: Int, durationNs: UInt64, fallbackNs: UInt64, readFd: Int32) {
            self.cpu = cpu; self.durationNs = durationNs; self.fallbackNs = fallbackNs; self.readFd = readFd
        }
    }

    private let box: Box?
    private var thread = pthread_t()
    private let writeFd: Int32
    private let readFd: Int32
    private var joined = false
    private let startProblem: String?

    /// Starts a parked hog for `cpu` that will busy-loop `durationNs` (SCHED_FIFO) or `fallbackNs`
    /// (SCHED_OTHER, when FIFO is not permitted) once triggered.
    public init(cpu: Int, durationNs: UInt64, fallbackNs: UInt64) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            box = nil; writeFd = -1; readFd = -1; joined = true
            startProblem = "pipe failed: errno \(errno)"
            return
        }
        readFd = fds[0]; writeFd = fds[1]
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC); _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        let b = Box(cpu: cpu, durationNs: durationNs, fallbackNs: fallbackNs, readFd: fds[0])
        let ctx = Unmanaged.passRetained(b).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            let box = Unmanaged<CpuHog.Box>.fromOpaque(raw!).takeRetainedValue()
            // SCHED_FIFO first, then onto the vCPU's CPU, then park.
            var param = sched_param()
            param.sched_priority = 1
            box.report.fifo = pthread_setschedparam(pthread_self(), Int32(SCHED_FIFO), &param) == 0
            let pin = lbr_pin_self_to_cpu(Int32(box.cpu))
            if pin == 0 { box.report.pinned = true } else {
                box.report.problem = "pinning to CPU \(box.cpu) failed: errno \(pin)"
            }
            var byte: UInt8 = 0
            while true {
                let n = read(box.readFd, &byte, 1)
                if n == 1 || n == 0 { break }
                if errno != EINTR { break }
            }
            if n0(byte) { return nil } // 0 = cancelled
            let budget = box.report.fifo ? box.durationNs : box.fallbackNs
            let t0 = backendMonotonicNs()
            var x: UInt64 = 0
            while backendMonotonicNs() &- t0 < budget { x &+= 1 }
            box.report.busyNs = backendMonotonicNs() &- t0
            box.report.ranOn = lbr_current_cpu()
            _ = x
            return nil
        }, ctx)
        if rc != 0 {
            Unmanaged<Box>.fromOpaque(ctx).release()
            close(fds[0]); close(fds[1])
            box = nil; joined = true
            startProblem = "pthread_create failed: errno \(rc)"
        } else {
            box = b; startProblem = nil
        }
    }

    deinit { cancel() }

    /// Wakes the hog and waits until it finished; returns what it did.
    public func trigger() -> Report {
        guard let box, !joined else {
            return Report(fifo: false, pinned: false, ranOn: -1, busyNs: 0, problem: startProblem ?? "hog already used")
        }
        var one: UInt8 = 1
        _ = write(writeFd, &one, 1)
        pthread_join(thread, nil)
        joined = true
        close(readFd); close(writeFd)
        return box.report
    }

    /// Stops an untriggered hog (nothing is left behind).
    public func cancel() {
        guard !joined else { return }
        var zero: UInt8 = 0
        _ = write(writeFd, &zero, 1)
        pthread_join(thread, nil)
        joined = true
        close(readFd); close(writeFd)
    }
}

@inline(__always) private func n0(_ b: UInt8) -> Bool { b == 0 }
