import CLbrShim
import Foundation
import Glibc
import Synchronization
import LbrLinux

/// A joinable pthread running `body` (tests only; KVM-style code runs on real threads, never Tasks).
final class PerfTestThread: @unchecked Sendable {
    private var thread: pthread_t = 0
    private final class Box { let body: () -> Void; init(_ b: @escaping () -> Void) { body = b } }

    init(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let rc = pthread_create(&thread, nil, { arg in
            let b = Unmanaged<AnyObject>.fromOpaque(arg!).takeRetainedValue() as! PerfTestThread.Box
            b.body()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    func join() { pthread_join(thread, nil) }
}

/// Busy-spins the calling thread for about `ns` nanoseconds of CLOCK_MONOTONIC time.
func perfSpin(ns: UInt64) {
    let start = monotonicNs()
    var x: UInt64 = 0
    while monotonicNs() - start < ns { x = x &+ 1 }
    _ = x
}

/// Busy-spins until the calling thread has run for `ns` nanoseconds of its own CPU time
/// (CLOCK_THREAD_CPUTIME_ID) — what a task-clock sampler counts — or `capNs` of wall time passed, so a
/// loaded machine delays the test instead of starving it of samples.
func perfSpinCpu(ns: UInt64, capNs: UInt64 = 3_000_000_000) {
    func cpuNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
    let c0 = cpuNs(), w0 = monotonicNs()
    var x: UInt64 = 0
    while cpuNs() - c0 < ns && monotonicNs() - w0 < capNs { x = x &+ 1 }
    _ = x
}

/// Whether this process may open what the live perf tests open: CPU-wide events (pid -1) and events that count
/// kernel mode. Root may; any other user only with kernel.perf_event_paranoid ≤ 0 (perf_event_open(2)).
enum PerfAccess {
    static let paranoid: Int? = {
        guard let f = fopen("/proc/sys/kernel/perf_event_paranoid", "r") else { return nil }
        defer { fclose(f) }
        var buf = [CChar](repeating: 0, count: 32)
        guard fgets(&buf, 32, f) != nil else { return nil }
        return Int(String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }()
    static let full: Bool = geteuid() == 0 || (paranoid.map { $0 <= 0 } ?? false)
}
