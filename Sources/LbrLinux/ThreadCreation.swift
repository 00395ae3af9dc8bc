import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Whether this process can create threads now.
///
/// A thread creation that fails (`pthread_create` EAGAIN: RLIMIT_NPROC reached, or no address space for
/// another stack under RLIMIT_AS) is an error lbrprobe reports; but libdispatch, which runs
/// `DispatchQueue.concurrentPerform`, retries a failed worker-thread creation forever. Commands that need
/// threads check first, with as many threads alive at once as they will use, and stop with a message instead.
public enum ThreadCreation {
    /// Creates `count` threads (default attributes, as the vCPU thread, CPU hogs and libdispatch workers
    /// use), all alive at the same time, then lets them exit and joins them. Throws the first failure.
    public static func check(count: Int) throws(LinuxError) {
        var threads: [pthread_t] = []
        var failure: LinuxError?
        // Each thread blocks on the pipe until every thread exists, so all `count` stacks are mapped at once.
        var gate: [Int32] = [-1, -1]
        if pipe(&gate) != 0 { throw LinuxError.current("pipe2(thread check)") }
        defer { _ = close(gate[0]) }
        for _ in 0..<max(count, 1) {
            var t = pthread_t()
            // SAFETY: the pointer only carries the fd number (fd + 1, never null) to the thread; it is never dereferenced.
            let readEnd = UnsafeMutableRawPointer(bitPattern: Int(gate[0]) + 1) // fd + 1: never a null pointer
            let rc = pthread_create(&t, nil, { raw in
                var byte: UInt8 = 0
                _ = read(Int32(Int(bitPattern: raw) - 1), &byte, 1) // returns at EOF, when the write end closes
                return nil
            }, readEnd)
            if rc != 0 {
                failure = LinuxError(Errno(rawValue: rc), "pthread_create (thread \(threads.count + 1) of \(count))")
                break
            }
            threads.append(t)
        }
        _ = close(gate[1])
        for t in threads { pthread_join(t, nil) }
        if let failure { throw failure }
    }
}
