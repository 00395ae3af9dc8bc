import CLbrShim

/// The calling thread's CPU affinity (`pthread_getaffinity_np` / `pthread_setaffinity_np`): what a cpuset, taskset
/// or a parent's sched_setaffinity left this process, and the narrowing lbrprobe does around a guest command.
public enum CpuAffinity {
    /// glibc's CPU_SETSIZE: the shim's fixed-size cpu_set_t holds CPUs 0..<1024.
    static let setSize = 1024

    /// CPUs the calling thread may run on, ascending (empty only if the mask cannot be read): one
    /// pthread_getaffinity_np.
    public static func allowed() -> [Int] {
        var cpus = [Int32](repeating: 0, count: setSize)
        // SAFETY: the shim writes at most `max` (= the array's count) CPU numbers into the array's own storage.
        let n = cpus.withUnsafeMutableBufferPointer { lbr_self_affinity($0.baseAddress, Int32($0.count)) }
        return cpus.prefix(Int(min(max(n, 0), Int32(setSize)))).map(Int.init)
    }

    /// Restricts the calling thread to `cpus`; returns 0 or an errno value.
    @discardableResult
    public static func set(_ cpus: [Int]) -> Int32 {
        let list = cpus.map { Int32(clamping: $0) }
        // SAFETY: the shim reads `count` CPU numbers from the array's own contiguous storage, only during the call.
        return list.withUnsafeBufferPointer { lbr_set_self_affinity($0.baseAddress, Int32($0.count)) }
    }

    /// Pins the calling thread to `cpu`; returns 0 or an errno value.
    @discardableResult
    public static func pin(to cpu: Int) -> Int32 { lbr_pin_self_to_cpu(Int32(clamping: cpu)) }
}
