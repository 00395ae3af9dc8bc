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
public enum CpuHog {
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
        var report = Report(fifo: false, pinned: false, ranOn: -1, busyNs: 0, problem: nil)
        init(cpu: Int, durationNs: UInt64, fallbackNs: UInt64) {
            self.cpu = cpu; self.durationNs = durationNs; self.fallbackNs = fallbackNs
        }
    }

    /// Runs a busy loop for `durationNs` on a new thread pinned to `cpu` (SCHED_FIFO 1 when permitted,
    /// else SCHED_OTHER for `fallbackNs`), and waits for it. Nothing is left behind.
    public static func run(cpu: Int, durationNs: UInt64, fallbackNs: UInt64) -> Report {
        let box = Box(cpu: cpu, durationNs: durationNs, fallbackNs: fallbackNs)
        let ctx = Unmanaged.passRetained(box).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            let box = Unmanaged<CpuHog.Box>.fromOpaque(raw!).takeRetainedValue()
            let pin = lbr_pin_self_to_cpu(Int32(box.cpu))
            if pin == 0 {
                box.report.pinned = true
            } else {
                box.report.problem = "pinning to CPU \(box.cpu) failed: errno \(pin)"
            }
            var param = sched_param()
            param.sched_priority = 1
            box.report.fifo = pthread_setschedparam(pthread_self(), Int32(SCHED_FIFO), &param) == 0
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
            return Report(fifo: false, pinned: false, ranOn: -1, busyNs: 0, problem: "pthread_create failed: errno \(rc)")
        }
        pthread_join(tid, nil)
        return box.report
    }
}
