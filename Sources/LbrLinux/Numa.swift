import CNuma
#if canImport(Glibc)
import Glibc
#endif

/// libnuma access: topology and node-local allocation.
///
/// All functions degrade to "one node, no placement" when `numa_available()` is negative
/// (kernel without NUMA support), which is itself reported by callers.
public enum Numa {
    /// Whether the kernel exposes NUMA (libnuma's `numa_available() >= 0`).
    public static var isAvailable: Bool { numa_available() >= 0 }

    /// The node `cpu` belongs to, or nil when NUMA is unavailable or the CPU is unknown.
    public static func node(ofCpu cpu: Int) -> Int? {
        guard isAvailable else { return nil }
        let n = numa_node_of_cpu(Int32(cpu))
        return n < 0 ? nil : Int(n)
    }

    /// Highest node number (`numa_max_node()`), or nil without NUMA.
    public static var maxNode: Int? { isAvailable ? Int(numa_max_node()) : nil }

    /// CPUs of `node` (`numa_node_to_cpus`).
    public static func cpus(ofNode node: Int) -> [Int] {
        guard isAvailable, let mask = numa_allocate_cpumask() else { return [] }
        defer { numa_free_cpumask(mask) }
        guard numa_node_to_cpus(Int32(node), mask) == 0 else { return [] }
        let bits = Int(numa_bitmask_nbytes(mask)) * 8
        return (0..<bits).filter { numa_bitmask_isbitset(mask, UInt32($0)) != 0 }
    }

    /// Allocates `bytes` of page-aligned memory on `node` (`numa_alloc_onnode`), or nil.
    /// Free with `free(_:bytes:)`.
    public static func allocate(bytes: Int, onNode node: Int) -> UnsafeMutableRawPointer? {
        guard isAvailable else { return nil }
        return numa_alloc_onnode(bytes, Int32(node))
    }

    /// Frees memory from `allocate(bytes:onNode:)`.
    public static func free(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        // SAFETY: the caller passes a pointer and size from `allocate(bytes:onNode:)`, once (GuestMemory.deinit).
        numa_free(pointer, bytes)
    }
}
