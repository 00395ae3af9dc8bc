import CLbrShim
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

/// CPUs the calling thread may run on.
func perfAllowedCpus() -> [Int32] {
    (0..<Int32(1024)).filter { lbr_self_affinity_has($0) == 1 }
}
