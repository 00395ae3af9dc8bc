#if canImport(Glibc)
import Glibc
#endif

/// A zeroed KVM ioctl argument with a flexible array member: `Header` followed by `capacity` `Entry`s
/// (`struct kvm_cpuid2` + `kvm_cpuid_entry2[]`, `struct kvm_msrs` + `kvm_msr_entry[]`,
/// `struct kvm_msr_list` + `__u32[]`). One owner, freed when it goes away.
struct KvmBuffer<Header, Entry>: ~Copyable {
    let capacity: Int
    /// Where the array starts: the header's size rounded up to the entry's alignment (C's offsetof for a
    /// flexible array member, which Swift does not import).
    private let entriesOffset: Int
    private let byteCount: Int
    private let storage: UnsafeMutableRawPointer

    init(capacity: Int) {
        let align = MemoryLayout<Entry>.alignment
        self.capacity = capacity
        entriesOffset = (MemoryLayout<Header>.size + align - 1) / align * align
        byteCount = entriesOffset + max(capacity, 1) * MemoryLayout<Entry>.stride
        storage = UnsafeMutableRawPointer.allocate(byteCount: byteCount,
                                                   alignment: max(MemoryLayout<Header>.alignment, align, 8))
        // SAFETY: `storage` was just allocated with `byteCount` bytes. Zero bytes are a valid value of every KVM
        // uapi struct, so the zeroed header and array are then bound to their types; the two regions do not
        // overlap (`entriesOffset >= MemoryLayout<Header>.size`) and both lie inside the allocation.
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount)
        storage.bindMemory(to: Header.self, capacity: 1)
        (storage + entriesOffset).bindMemory(to: Entry.self, capacity: max(capacity, 1))
    }

    deinit { storage.deallocate() }

    /// The pointer to pass to `ioctl`.
    var argument: UnsafeMutableRawPointer { storage }

    /// The header (`nent` / `nmsrs` live here).
    var header: UnsafeMutablePointer<Header> {
        // SAFETY: bound to `Header` at init, aligned, initialised, and alive as long as `self`.
        storage.assumingMemoryBound(to: Header.self)
    }

    /// The `capacity` entries after the header.
    var entries: UnsafeMutableBufferPointer<Entry> {
        // SAFETY: bound to `Entry` at init; `entriesOffset + capacity * stride <= byteCount`, the offset is
        // aligned for `Entry`, the bytes are initialised, and they live as long as `self`.
        UnsafeMutableBufferPointer(start: (storage + entriesOffset).assumingMemoryBound(to: Entry.self), count: capacity)
    }
}
