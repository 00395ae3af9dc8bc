import CLbrShim
import LbrCore
#if canImport(Glibc)
import Glibc
#endif

/// A KVM virtual machine fd (second layer of Kvm → Vm → Vcpu). Closed when the `Vm` goes away.
///
/// VM ioctls (memory regions, capabilities, MSR filter, vCPU creation) may be issued from any
/// thread; lbrprobe creates the vCPU on its vCPU thread anyway (see `VcpuThread`).
public final class Vm: Sendable {
    private let handle: OwnedFileDescriptor

    /// KVM_CREATE_VM on `kvm`.
    public init(kvm: Kvm) throws(LinuxError) {
        handle = try kvm.createVMFd()
    }

    /// The VM fd number (owned by this `Vm`).
    var fd: Int32 { handle.rawValue }

    /// KVM_SET_USER_MEMORY_REGION: maps `size` bytes at `host` to guest-physical `guestPhysical`.
    /// The caller keeps `host`'s `size` bytes mapped for as long as this VM exists (`GuestVM` frees guest
    /// memory only after the VM fd is closed).
    public func setUserMemoryRegion(slot: UInt32, guestPhysical: UInt64, size: Int,
                                    host: UnsafeMutableRawPointer) throws(LinuxError) {
        var region = kvm_userspace_memory_region(slot: slot, flags: 0, guest_phys_addr: guestPhysical,
                                                 memory_size: UInt64(size),
                                                 userspace_addr: UInt64(UInt(bitPattern: host)))
        try sysCheck(ioctl(fd, lbr_kvm_set_user_memory_region(), &region), "KVM_SET_USER_MEMORY_REGION(slot \(slot))")
    }

    /// KVM_ENABLE_CAP on the VM with up to four arguments.
    public func enableCap(_ cap: Kvm.Cap, args: [UInt64] = []) throws(LinuxError) {
        var c = kvm_enable_cap()
        c.cap = UInt32(cap.rawValue)
        // SAFETY: `args` is `__u64 args[4]`, imported as a 4-tuple of UInt64: 32 bytes, and at most four
        // values are stored, each at an 8-byte offset inside it.
        withUnsafeMutableBytes(of: &c.args) { raw in
            for (i, a) in args.prefix(4).enumerated() { raw.storeBytes(of: a, toByteOffset: 8 * i, as: UInt64.self) }
        }
        try sysCheck(ioctl(fd, lbr_kvm_enable_cap(), &c), "KVM_ENABLE_CAP(\(cap.name), \(args))")
    }

    /// KVM_CREATE_VCPU: the vCPU fd, owned by the `Vcpu` made from it.
    func createVcpuFd(id: Int32) throws(LinuxError) -> OwnedFileDescriptor {
        OwnedFileDescriptor(taking: try sysCheck(ioctl(fd, lbr_kvm_create_vcpu(), id), "KVM_CREATE_VCPU(\(id))"))
    }
}
