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
    /// The `/dev/kvm` file descriptor; closed on deinit.
    public let fd: Int32
    public let path: String

    /// KVM_CAP_* numbers (defined once, in LbrCore).
    public typealias Cap = KvmCap

    /// Opens `/dev/kvm` read-write with O_CLOEXEC.
    public init(path: String = "/dev/kvm") throws(LinuxError) {
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        if fd < 0 { throw LinuxError.current("open(\(path))") }
        self.fd = fd
        self.path = path
    }

    deinit { _ = Glibc.close(fd) }

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

    private func msrList(request: UInt, name: String) throws(LinuxError) -> [UInt32] {
        var capacity = 256
        while true {
            let size = MemoryLayout<UInt32>.size * (1 + capacity)
            let buf = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4)
            defer { buf.deallocate() }
            buf.storeBytes(of: UInt32(capacity), as: UInt32.self)
            let rc = ioctl(fd, request, buf)
            if rc == -1 {
                let err = LinuxError.current(name)
                if err.errno == .argListTooLong, capacity < 65536 {
                    capacity = max(capacity * 2, Int(buf.load(as: UInt32.self))); continue
                }
                throw err
            }
            let n = min(Int(buf.load(as: UInt32.self)), capacity)
            return (0..<n).map { buf.load(fromByteOffset: 4 * (1 + $0), as: UInt32.self) }
        }
    }

    /// System KVM_GET_MSRS of one feature MSR (e.g. PERF_CAPABILITIES 0x345: what KVM supports for guests, §2).
    public func featureMsr(_ index: UInt32) throws(LinuxError) -> UInt64 {
        var value: UInt64 = 0
        let n = try withKvmMsrs([(index, 0)]) { (buf) throws(LinuxError) -> Int32 in
            let rc = ioctl(fd, lbr_kvm_get_msrs(), buf)
            if rc == -1 { throw LinuxError.current("KVM_GET_MSRS(system, 0x\(String(index, radix: 16)))") }
            value = kvmMsrsEntryData(buf, 0)
            return rc
        }
        if n != 1 { throw LinuxError(.ioError, "KVM_GET_MSRS(system, 0x\(String(index, radix: 16))) returned \(n) of 1") }
        return value
    }

    /// KVM_CREATE_VM (type 0): returns the raw VM fd; `Vm` owns it.
    public func createVMFd(type: Int32 = 0) throws(LinuxError) -> Int32 {
        try sysCheck(ioctl(fd, lbr_kvm_create_vm(), type), "KVM_CREATE_VM")
    }
}

/// Reads a `struct kvm_cpuid2` through `request` (KVM_GET_SUPPORTED_CPUID on /dev/kvm, KVM_GET_CPUID2 on a
/// vCPU), doubling the buffer on E2BIG.
func readKvmCpuid2(fd: Int32, request: UInt, name: String) throws(LinuxError) -> [CpuidEntry] {
    var capacity = 128
    while true {
        let size = MemoryLayout<kvm_cpuid2>.size + capacity * MemoryLayout<kvm_cpuid_entry2>.stride
        let buf = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        defer { buf.deallocate() }
        buf.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        buf.assumingMemoryBound(to: kvm_cpuid2.self).pointee.nent = UInt32(capacity)
        if ioctl(fd, request, buf) == -1 {
            let err = LinuxError.current(name)
            if err.errno == .argListTooLong, capacity < 4096 { capacity *= 2; continue }
            throw err
        }
        let n = min(Int(buf.assumingMemoryBound(to: kvm_cpuid2.self).pointee.nent), capacity)
        let e = (buf + MemoryLayout<kvm_cpuid2>.size).bindMemory(to: kvm_cpuid_entry2.self, capacity: n)
        return (0..<n).map {
            CpuidEntry(leaf: e[$0].function, subleaf: e[$0].index, flags: e[$0].flags,
                       eax: e[$0].eax, ebx: e[$0].ebx, ecx: e[$0].ecx, edx: e[$0].edx)
        }
    }
}

/// Builds a `struct kvm_msrs` with `entries`, calls `body` with it, and frees it.
/// Shared by the system and vCPU KVM_GET/SET_MSRS wrappers.
func withKvmMsrs<R>(_ entries: [(UInt32, UInt64)],
                    _ body: (UnsafeMutableRawPointer) throws(LinuxError) -> R) throws(LinuxError) -> R {
    let header = MemoryLayout<kvm_msrs>.size
    let stride = MemoryLayout<kvm_msr_entry>.stride
    let size = header + stride * max(entries.count, 1)
    let buf = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
    defer { buf.deallocate() }
    buf.initializeMemory(as: UInt8.self, repeating: 0, count: size)
    buf.assumingMemoryBound(to: kvm_msrs.self).pointee.nmsrs = UInt32(entries.count)
    let e = (buf + header).bindMemory(to: kvm_msr_entry.self, capacity: entries.count)
    for (i, (index, data)) in entries.enumerated() {
        e[i].index = index
        e[i].data = data
    }
    return try body(buf)
}

/// Reads `entries[i].data` from a `struct kvm_msrs` buffer.
func kvmMsrsEntryData(_ buf: UnsafeMutableRawPointer, _ i: Int) -> UInt64 {
    let e = (buf + MemoryLayout<kvm_msrs>.size).assumingMemoryBound(to: kvm_msr_entry.self)
    return e[i].data
}
