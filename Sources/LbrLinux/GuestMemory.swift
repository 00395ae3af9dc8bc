import LbrCore
#if canImport(Glibc)
import Glibc
#endif

/// Guest RAM: one anonymous region, placed with libnuma on the node of the probed CPU.
///
/// Falls back to a plain `mmap` when NUMA is unavailable (or the node is unknown / allocation
/// failed), and says so in `placement`. Freed on deinit.
///
/// `@unchecked Sendable`: the pointer is immutable; the bytes behind it are shared with the
/// guest and only written by the VMM while the vCPU is stopped (set-up, between commands).
public final class GuestMemory: @unchecked Sendable {
    /// Where the memory came from.
    public enum Placement: Hashable, Sendable, CustomStringConvertible {
        /// `numa_alloc_onnode` on this node (the node of the probed CPU).
        case numaNode(Int)
        /// Plain `mmap`, with the reason NUMA placement was not used.
        case mmapFallback(reason: String)
        public var description: String {
            switch self {
            case let .numaNode(n): return "numa node \(n)"
            case let .mmapFallback(r): return "mmap (\(r))"
            }
        }
    }

    public let base: UnsafeMutableRawPointer
    public let size: Int
    public let placement: Placement

    /// Allocates `size` bytes (a multiple of 2 MiB is expected by `LongMode`) near `cpu`.
    public init(size: Int, nearCpu cpu: Int) throws(LinuxError) {
        precondition(size > 0 && size % 4096 == 0, "guest memory size must be a positive multiple of 4 KiB")
        self.size = size
        var reason: String
        if !Numa.isAvailable {
            reason = "NUMA unavailable (numa_available() < 0)"
        } else if let node = Numa.node(ofCpu: cpu) {
            if let p = Numa.allocate(bytes: size, onNode: node) {
                base = p
                placement = .numaNode(node)
                // SAFETY: numa_alloc_onnode returned `size` writable bytes owned by this object until deinit.
                base.initializeMemory(as: UInt8.self, repeating: 0, count: size)
                return
            }
            reason = "numa_alloc_onnode(\(size), node \(node)) failed"
        } else {
            reason = "node of CPU \(cpu) unknown"
        }
        // SAFETY: a fresh private anonymous mapping (zero-filled), owned by this object and unmapped only in deinit.
        let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        if p == MAP_FAILED || p == nil { throw LinuxError.current("mmap(guest memory, \(size))") }
        base = p!
        placement = .mmapFallback(reason: reason)
    }

    deinit {
        // SAFETY: frees exactly the allocation made in init, once; KVM no longer uses it (GuestVM closes the VM fd
        // before it releases guest memory) and `bytes`/`all` views must not outlive this object (their contract).
        switch placement {
        case .numaNode: Numa.free(base, bytes: size)
        case .mmapFallback: _ = munmap(base, size)
        }
    }

    /// The bytes `[offset, offset + count)`; traps on a range outside the memory (a VMM bug,
    /// never guest-controlled: guest-supplied offsets are validated before use).
    public func bytes(at offset: Int, count: Int) -> UnsafeMutableRawBufferPointer {
        precondition(offset >= 0 && count >= 0 && offset <= size && count <= size - offset, "guest memory range")
        // SAFETY: the precondition keeps `[offset, offset + count)` inside the `size` bytes allocated at init.
        return UnsafeMutableRawBufferPointer(start: base + offset, count: count)
    }

    /// All of guest memory.
    // SAFETY: exactly the `size` bytes allocated at init; valid while this object lives.
    public var all: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: base, count: size) }
}
