import CLbrShim
import LbrCore
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// `/dev/kvm`: the system-level KVM handle (first layer of Kvm → Vm → Vcpu).
///
/// Mirrors rust-vmm's `Kvm`: capability checks and system ioctls. VMs are created from it.
public final class Kvm: Sendable {
    /// The `/dev/kvm` file descriptor; closed when the `Kvm` goes away.
    private let handle: OwnedFileDescriptor
    public let path: String

    /// KVM_CAP_* numbers (defined once, in LbrCore).
    public typealias Cap = KvmCap

    /// Opens `/dev/kvm` read-write with O_CLOEXEC.
    public init(path: String = "/dev/kvm") throws(LinuxError) {
        handle = try OwnedFileDescriptor.open(path, O_RDWR)
        self.path = path
    }

    /// The `/dev/kvm` fd number (owned by this `Kvm`).
    var fd: Int32 { handle.rawValue }

    /// KVM_GET_API_VERSION (12 on every kernel since 2.6.22).
    public func apiVersion() throws(LinuxError) -> Int32 {
        try sysCheck(ioctl(fd, lbr_kvm_get_api_version(), 0), "KVM_GET_API_VERSION")
    }

    /// KVM_CHECK_EXTENSION: the capability's value (0 = absent).
    public func checkExtension(_ cap: Cap) throws(LinuxError) -> Int32 {
        try checkExtension(raw: cap.rawValue)
    }

    /// KVM_CHECK_EXTENSION for a raw capability number.
    public func checkExtension(raw cap: Int32) throws(LinuxError) -> Int32 {
        try sysCheck(ioctl(fd, lbr_kvm_check_extension(), cap), "KVM_CHECK_EXTENSION(\(cap))")
    }

    /// KVM_GET_VCPU_MMAP_SIZE: size of the `struct kvm_run` mapping.
    public func vcpuMmapSize() throws(LinuxError) -> Int {
        Int(try sysCheck(ioctl(fd, lbr_kvm_get_vcpu_mmap_size(), 0), "KVM_GET_VCPU_MMAP_SIZE"))
    }

    /// KVM_GET_SUPPORTED_CPUID, growing the buffer on E2BIG.
    public func supportedCPUID() throws(LinuxError) -> [CpuidEntry] {
        try readKvmCpuid2(fd: fd, request: lbr_kvm_get_supported_cpuid(), name: "KVM_GET_SUPPORTED_CPUID")
    }

    /// KVM_GET_MSR_INDEX_LIST: MSRs KVM saves/restores for guests.
    public func msrIndexList() throws(LinuxError) -> [UInt32] {
        try msrList(request: lbr_kvm_get_msr_index_list(), name: "KVM_GET_MSR_INDEX_LIST")
    }

    /// KVM_GET_MSR_FEATURE_INDEX_LIST: feature MSRs readable with the system KVM_GET_MSRS.
    public func featureMsrIndexList() throws(LinuxError) -> [UInt32] {
        try msrList(request: lbr_kvm_get_msr_feature_index_list(), name: "KVM_GET_MSR_FEATURE_INDEX_LIST")
    }

    /// A `struct kvm_msr_list` read, growing the buffer on E2BIG (KVM then writes the count it needs).
    private func msrList(request: UInt, name: String) throws(LinuxError) -> [UInt32] {
        var capacity = 256
        while true {
            // SAFETY (header/entries): KvmBuffer owns a zeroed, bound allocation of the header and `capacity`
            // entries; KVM writes at most `nmsrs` (as set) entries, or on E2BIG only the count it needs.
            let list = KvmBuffer<UInt32, UInt32>(capacity: capacity) // header: __u32 nmsrs
            list.header.pointee = UInt32(capacity)
            if ioctl(fd, request, list.argument) == -1 {
                let err = LinuxError.current(name)
                if err.errno == .argListTooLong, capacity < 65536 {
                    capacity = max(capacity * 2, Int(list.header.pointee)); continue
                }
                throw err
            }
            return Array(list.entries.prefix(min(Int(list.header.pointee), capacity)))
        }
    }

    /// System KVM_GET_MSRS of one feature MSR (e.g. PERF_CAPABILITIES 0x345: what KVM supports for guests, §2).
    public func featureMsr(_ index: UInt32) throws(LinuxError) -> UInt64 {
        let msrs = kvmMsrs([(index, 0)])
        let n = ioctl(fd, lbr_kvm_get_msrs(), msrs.argument)
        if n == -1 { throw LinuxError.current("KVM_GET_MSRS(system, 0x\(String(index, radix: 16)))") }
        if n != 1 { throw LinuxError(.ioError, "KVM_GET_MSRS(system, 0x\(String(index, radix: 16))) returned \(n) of 1") }
        return msrs.entries[0].data
    }

    /// KVM_CREATE_VM (type 0): the VM fd, owned by the `Vm` made from it.
    func createVMFd(type: Int32 = 0) throws(LinuxError) -> OwnedFileDescriptor {
        OwnedFileDescriptor(taking: try sysCheck(ioctl(fd, lbr_kvm_create_vm(), type), "KVM_CREATE_VM"))
    }
}

/// Reads a `struct kvm_cpuid2` through `request` (KVM_GET_SUPPORTED_CPUID on /dev/kvm, KVM_GET_CPUID2 on a
/// vCPU), doubling the buffer on E2BIG.
func readKvmCpuid2(fd: Int32, request: UInt, name: String) throws(LinuxError) -> [CpuidEntry] {
    var capacity = 128
    while true {
        // SAFETY: KvmBuffer owns room for `capacity` entries and `nent` says so; KVM writes at most that many.
        let cpuid = KvmBuffer<kvm_cpuid2, kvm_cpuid_entry2>(capacity: capacity)
        cpuid.header.pointee.nent = UInt32(capacity)
        if ioctl(fd, request, cpuid.argument) == -1 {
            let err = LinuxError.current(name)
            if err.errno == .argListTooLong, capacity < 4096 { capacity *= 2; continue }
            throw err
        }
        return cpuid.entries.prefix(min(Int(cpuid.header.pointee.nent), capacity)).map {
            CpuidEntry(leaf: $0.function, subleaf: $0.index, flags: $0.flags,
                       eax: $0.eax, ebx: $0.ebx, ecx: $0.ecx, edx: $0.edx)
        }
    }
}

/// A `struct kvm_cpuid2` holding `entries` (KVM_SET_CPUID2).
func kvmCpuid2(_ entries: [CpuidEntry]) -> KvmBuffer<kvm_cpuid2, kvm_cpuid_entry2> {
    // SAFETY: `nent` equals the entries KvmBuffer holds; every one is written below.
    let cpuid = KvmBuffer<kvm_cpuid2, kvm_cpuid_entry2>(capacity: entries.count)
    cpuid.header.pointee.nent = UInt32(entries.count)
    let out = cpuid.entries
    for (i, e) in entries.enumerated() {
        out[i].function = e.leaf; out[i].index = e.subleaf; out[i].flags = e.flags
        out[i].eax = e.eax; out[i].ebx = e.ebx; out[i].ecx = e.ecx; out[i].edx = e.edx
    }
    return cpuid
}

/// A `struct kvm_msrs` holding `entries` (index, data), for the system and vCPU KVM_GET/SET_MSRS.
func kvmMsrs(_ entries: [(UInt32, UInt64)]) -> KvmBuffer<kvm_msrs, kvm_msr_entry> {
    // SAFETY: `nmsrs` equals the entries KvmBuffer holds; every one is written below.
    let msrs = KvmBuffer<kvm_msrs, kvm_msr_entry>(capacity: entries.count)
    msrs.header.pointee.nmsrs = UInt32(entries.count)
    let out = msrs.entries
    for (i, (index, data)) in entries.enumerated() {
        out[i].index = index
        out[i].data = data
    }
    return msrs
}
