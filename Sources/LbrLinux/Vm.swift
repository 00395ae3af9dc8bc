import CLbrShim
import LbrCore
#if canImport(Glibc)
import Glibc
#endif

/// A KVM virtual machine fd (second layer of Kvm → Vm → Vcpu). Closed on deinit.
///
/// VM ioctls (memory regions, capabilities, MSR filter, vCPU creation) may be issued from any
/// thread; lbrprobe creates the vCPU on its vCPU thread anyway (see `VcpuThread`).
public final class Vm: Sendable {
    /// The VM fd.
    public let fd: Int32

    /// KVM_CREATE_VM on `kvm`.
    public init(kvm: Kvm) throws(LinuxError) {
        fd = try kvm.createVMFd()
    }

    deinit { _ = Glibc.close(fd) }

    /// KVM_SET_USER_MEMORY_REGION: maps `size` bytes at `host` to guest-physical `guestPhysical`.
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
        withUnsafeMutableBytes(of: &c.args) { raw in
            for (i, a) in args.prefix(4).enumerated() { raw.storeBytes(of: a, toByteOffset: 8 * i, as: UInt64.self) }
        }
        try sysCheck(ioctl(fd, lbr_kvm_enable_cap(), &c), "KVM_ENABLE_CAP(\(cap.name), \(args))")
    }

    /// KVM_CREATE_VCPU: returns the raw vCPU fd; `Vcpu` owns it.
    func createVcpuFd(id: Int32) throws(LinuxError) -> Int32 {
        try sysCheck(ioctl(fd, lbr_kvm_create_vcpu(), id), "KVM_CREATE_VCPU(\(id))")
    }
}
