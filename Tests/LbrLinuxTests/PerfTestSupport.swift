import CLbrShim
import Glibc
import Synchronization

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
    let start = perfNowNs()
    var x: UInt64 = 0
    while perfNowNs() - start < ns { x = x &+ 1 }
    _ = x
}

func perfNowNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// CPUs the calling thread may run on.
func perfAllowedCpus() -> [Int32] {
    (0..<Int32(1024)).filter { lbr_self_affinity_has($0) == 1 }
}
