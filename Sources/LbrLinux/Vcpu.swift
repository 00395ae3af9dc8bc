import CLbrShim
import LbrCore
#if canImport(Glibc)
import Glibc
#endif
import Logging
import SystemPackage

/// A KVM vCPU: its fd and its `struct kvm_run` mapping (third layer of Kvm → Vm → Vcpu).
///
/// Not `Sendable`: a `Vcpu` is created, used and released on its `VcpuThread` only, so every
/// vCPU ioctl (KVM_RUN, KVM_GET/SET_REGS/SREGS/MSRS/CPUID2) comes from the thread that runs it
/// (Documentation/virt/kvm/api.rst; reference §1.2: an LBR MSR ioctl from another thread would
/// attach KVM's vLBR perf event to that thread).
public final class Vcpu {
    public let fd: Int32
    /// The shared `struct kvm_run` page(s).
    public let run: UnsafeMutablePointer<kvm_run>
    /// Size of the `run` mapping (KVM_GET_VCPU_MMAP_SIZE).
    public let runSize: Int

    /// KVM_CREATE_VCPU on `vm` and mmap of its run structure. On failure nothing is left open.
    public init(vm: Vm, id: Int32, runSize: Int) throws(LinuxError) {
        let fd = try vm.createVcpuFd(id: id)
        let p = mmap(nil, runSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        if p == MAP_FAILED || p == nil {
            let err = LinuxError.current("mmap(kvm_run, \(runSize))")
            _ = Glibc.close(fd)
            throw err
        }
        self.fd = fd
        self.runSize = runSize
        self.run = p!.bindMemory(to: kvm_run.self, capacity: 1)
    }

    deinit {
        _ = munmap(UnsafeMutableRawPointer(run), runSize)
        _ = Glibc.close(fd)
    }

    /// One KVM_RUN. Returns 0, or the errno (EINTR when kicked / immediate_exit).
    @inline(__always)
    public func runOnce() -> Int32 {
        if ioctl(fd, lbr_kvm_run(), 0) == -1 {
            let e = Glibc.errno
            SysTrace.logger.trace("KVM_RUN(vcpu fd \(fd)) = -1 \(Errno(rawValue: e)) (errno \(e))")
            return e
        }
        SysTrace.logger.trace("KVM_RUN(vcpu fd \(fd)) = 0, exit_reason \(lbr_kvm_run_exit_reason(run))")
        return 0
    }

    /// `kvm_run.exit_reason` of the last KVM_RUN.
    @inline(__always)
    public var exitReason: UInt32 { lbr_kvm_run_exit_reason(run) }

    public func getRegs() throws(LinuxError) -> kvm_regs {
        var r = kvm_regs()
        try sysCheck(ioctl(fd, lbr_kvm_get_regs(), &r), "KVM_GET_REGS")
        return r
    }

    public func setRegs(_ regs: kvm_regs) throws(LinuxError) {
        var r = regs
        try sysCheck(ioctl(fd, lbr_kvm_set_regs(), &r), "KVM_SET_REGS")
    }

    public func getSregs() throws(LinuxError) -> kvm_sregs {
        var s = kvm_sregs()
        try sysCheck(ioctl(fd, lbr_kvm_get_sregs(), &s), "KVM_GET_SREGS")
        return s
    }

    public func setSregs(_ sregs: kvm_sregs) throws(LinuxError) {
        var s = sregs
        try sysCheck(ioctl(fd, lbr_kvm_set_sregs(), &s), "KVM_SET_SREGS")
    }

    /// KVM_SET_CPUID2 with `entries`.
    public func setCpuid2(_ entries: [CpuidEntry]) throws(LinuxError) {
        let size = MemoryLayout<kvm_cpuid2>.size + entries.count * MemoryLayout<kvm_cpuid_entry2>.stride
        let buf = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        defer { buf.deallocate() }
        buf.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        buf.assumingMemoryBound(to: kvm_cpuid2.self).pointee.nent = UInt32(entries.count)
        let out = (buf + MemoryLayout<kvm_cpuid2>.size).bindMemory(to: kvm_cpuid_entry2.self, capacity: entries.count)
        for (i, e) in entries.enumerated() {
            out[i].function = e.leaf; out[i].index = e.subleaf; out[i].flags = e.flags
            out[i].eax = e.eax; out[i].ebx = e.ebx; out[i].ecx = e.ecx; out[i].edx = e.edx
        }
        try sysCheck(ioctl(fd, lbr_kvm_set_cpuid2(), buf), "KVM_SET_CPUID2(\(entries.count) entries)")
    }

    /// KVM_GET_CPUID2: the CPUID set the vCPU currently has.
    public func getCpuid2() throws(LinuxError) -> [CpuidEntry] {
        try readKvmCpuid2(fd: fd, request: lbr_kvm_get_cpuid2(), name: "KVM_GET_CPUID2")
    }

    /// Host-initiated KVM_SET_MSRS. Returns how many leading entries KVM accepted
    /// (KVM stops at the first MSR it refuses; `entries.count` means all were set).
    public func setMsrs(_ entries: [(UInt32, UInt64)]) throws(LinuxError) -> Int {
        let n = try withKvmMsrs(entries) { (buf) throws(LinuxError) -> Int32 in
            try sysCheck(ioctl(fd, lbr_kvm_set_msrs(), buf), "KVM_SET_MSRS(\(entries.map { String($0.0, radix: 16) }))")
        }
        return Int(n)
    }

    /// Host-initiated KVM_GET_MSRS. Returns the values of the leading MSRs KVM could read
    /// (shorter than `indices` when KVM refused one).
    public func getMsrs(_ indices: [UInt32]) throws(LinuxError) -> [UInt64] {
        try withKvmMsrs(indices.map { ($0, 0) }) { (buf) throws(LinuxError) -> [UInt64] in
            let n = try sysCheck(ioctl(fd, lbr_kvm_get_msrs(), buf), "KVM_GET_MSRS(\(indices.map { String($0, radix: 16) }))")
            return (0..<Int(n)).map { kvmMsrsEntryData(buf, $0) }
        }
    }

    /// KVM_SET_GUEST_DEBUG: `singleStep` true sets KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP (every guest
    /// instruction then ends in KVM_EXIT_DEBUG with its RIP in debug.arch.pc); false clears guest debugging.
    public func setGuestDebug(singleStep: Bool) throws(LinuxError) {
        var dbg = kvm_guest_debug()
        dbg.control = singleStep ? (lbr_kvm_guestdbg_enable() | lbr_kvm_guestdbg_singlestep()) : 0
        try sysCheck(ioctl(fd, lbr_kvm_set_guest_debug(), &dbg), "KVM_SET_GUEST_DEBUG")
    }

    /// KVM_GET_STATS_FD on the vCPU: the binary stats fd (caller owns it).
    public func statsFd() throws(LinuxError) -> Int32 {
        try sysCheck(ioctl(fd, lbr_kvm_get_stats_fd(), 0), "KVM_GET_STATS_FD(vcpu)")
    }
}
