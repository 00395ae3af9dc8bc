import CLbrShim
import LbrCore
#if canImport(Glibc)
import Glibc
#endif
import Logging
import SystemPackage

/// Why KVM_RUN returned to user space: `struct kvm_run`'s exit reason and its union member, decoded once
/// (`Vcpu.run()`), so no caller reads the shared page itself.
public enum VcpuExit: Hashable, Sendable {
    /// Guest `OUT` (KVM_EXIT_IO, direction out). `value` is the written datum when the access is one item of
    /// 1, 2 or 4 bytes (a `rep outs` of several items has none here).
    case ioOut(port: UInt16, size: UInt8, count: UInt32, value: UInt32?)
    /// Guest `IN` (KVM_EXIT_IO, direction in); lbrprobe's guest never reads a port, so no reply path exists.
    case ioIn(port: UInt16, size: UInt8, count: UInt32)
    /// Access to guest-physical memory no memory slot backs (KVM_EXIT_MMIO).
    case mmio(address: UInt64, length: UInt32, isWrite: Bool)
    /// Guest RDMSR of an MSR the filter sends to user space (KVM_EXIT_X86_RDMSR); answer with `Vcpu.answerMsr`.
    case msrRead(index: UInt32, reason: UInt32)
    /// Guest WRMSR of an MSR the filter sends to user space (KVM_EXIT_X86_WRMSR); answer with `Vcpu.answerMsr`.
    case msrWrite(index: UInt32, value: UInt64, reason: UInt32)
    /// Guest HLT with no interrupt to wake it (KVM_EXIT_HLT).
    case hlt
    /// Triple fault (KVM_EXIT_SHUTDOWN).
    case shutdown
    /// VM entry failed (KVM_EXIT_FAIL_ENTRY): the hardware's reason and the CPU it happened on.
    case failEntry(hardwareReason: UInt64, cpu: UInt32)
    /// KVM could not handle an exit (KVM_EXIT_INTERNAL_ERROR): suberror and up to 16 data words.
    case internalError(suberror: UInt32, data: [UInt64])
    /// Guest debug exit (KVM_EXIT_DEBUG, e.g. a single step): the guest RIP and the exception vector.
    case debug(pc: UInt64, exception: UInt32)
    /// A signal interrupted the guest (KVM_EXIT_INTR).
    case intr
    /// KVM_EXIT_SYSTEM_EVENT (shutdown, reset, crash … requested through the platform).
    case systemEvent(type: UInt32)
    /// Any other exit reason, raw.
    case unknown(reason: UInt32)
}

/// A KVM vCPU: its fd and its `struct kvm_run` mapping (third layer of Kvm → Vm → Vcpu).
///
/// Not `Sendable`: a `Vcpu` is created, used and released on its `VcpuThread` only, so every
/// vCPU ioctl (KVM_RUN, KVM_GET/SET_REGS/SREGS/MSRS/CPUID2) comes from the thread that runs it
/// (Documentation/virt/kvm/api.rst; reference §1.2: an LBR MSR ioctl from another thread would
/// attach KVM's vLBR perf event to that thread). The one exception is `exitRequester`, made for
/// other threads.
public final class Vcpu {
    private let handle: OwnedFileDescriptor
    /// The shared `struct kvm_run` page(s); private: read through `run()`, written through the typed setters.
    private let runPage: UnsafeMutablePointer<kvm_run>
    /// Size of the `runPage` mapping (KVM_GET_VCPU_MMAP_SIZE).
    private let runSize: Int

    /// KVM_CREATE_VCPU on `vm` and mmap of its run structure. On failure nothing is left open.
    public init(vm: Vm, id: Int32, runSize: Int) throws(LinuxError) {
        let handle = try vm.createVcpuFd(id: id)
        let p = mmap(nil, runSize, PROT_READ | PROT_WRITE, MAP_SHARED, handle.rawValue, 0)
        guard let p, p != MAP_FAILED else { throw LinuxError.current("mmap(kvm_run, \(runSize))") } // fd closed by its owner
        self.handle = handle
        self.runSize = runSize
        // SAFETY: KVM maps `runSize` >= sizeof(struct kvm_run) bytes of the vCPU's run structure at `p`, page
        // aligned, initialised by the kernel, mapped until `deinit` unmaps it.
        runPage = p.bindMemory(to: kvm_run.self, capacity: 1)
    }

    deinit {
        // SAFETY: unmaps exactly the mapping made in init; nothing reads `runPage` after deinit (the exit
        // requester is only used while the vCPU runs a command, see `VcpuExitRequester`).
        _ = munmap(UnsafeMutableRawPointer(runPage), runSize)
    }

    /// The vCPU fd number (owned by this `Vcpu`).
    var fd: Int32 { handle.rawValue }

    /// One KVM_RUN, decoded. Throws the errno when the ioctl fails: EINTR when a signal (the kick) arrived
    /// before or during guest entry, or when `immediate_exit` was set.
    public func run() throws(LinuxError) -> VcpuExit {
        if ioctl(fd, lbr_kvm_run(), 0) == -1 {
            let e = LinuxError.current("KVM_RUN")
            SysTrace.logger.trace("KVM_RUN(vcpu fd \(fd)) = -1 \(e.errno) (errno \(e.errno.rawValue))")
            throw e
        }
        let exit = decodeExit()
        // SAFETY: as in `decodeExit`: the live run page, KVM_RUN has returned on this thread.
        SysTrace.logger.trace("KVM_RUN(vcpu fd \(fd)) = 0, exit_reason \(lbr_kvm_run_exit_reason(runPage)): \(exit)")
        return exit
    }

    /// Reads the exit reason and its union member from the run page, once, right after KVM_RUN returned.
    private func decodeExit() -> VcpuExit {
        // SAFETY (every read below): `runPage` is the live kvm_run mapping of this vCPU; KVM_RUN has returned on
        // this thread, so the kernel is not writing it; the shim reads the union member the exit reason selects.
        let reason = lbr_kvm_run_exit_reason(runPage)
        switch reason {
        case UInt32(KVM_EXIT_IO):
            let io = lbr_kvm_run_io(runPage)
            if io.direction == UInt8(KVM_EXIT_IO_IN) { return .ioIn(port: io.port, size: io.size, count: io.count) }
            var value: UInt32?
            let bytes = Int(io.size)
            // SAFETY: KVM puts the data inside the run mapping at `data_offset`; the bound check keeps the read
            // inside `runSize` even for a corrupt offset.
            if io.count == 1, bytes == 1 || bytes == 2 || bytes == 4, io.data_offset <= UInt64(runSize - bytes) {
                let at = UnsafeRawPointer(runPage) + Int(io.data_offset)
                switch bytes {
                case 1: value = UInt32(at.loadUnaligned(as: UInt8.self))
                case 2: value = UInt32(UInt16(littleEndian: at.loadUnaligned(as: UInt16.self)))
                default: value = UInt32(littleEndian: at.loadUnaligned(as: UInt32.self))
                }
            }
            return .ioOut(port: io.port, size: io.size, count: io.count, value: value)
        case UInt32(KVM_EXIT_X86_RDMSR), UInt32(KVM_EXIT_X86_WRMSR):
            let m = lbr_kvm_run_msr(runPage)
            // SAFETY: the shim's pointers point into the `msr` member of the live run page.
            let index = m.index.pointee, why = m.reason.pointee
            return reason == UInt32(KVM_EXIT_X86_RDMSR) ? .msrRead(index: index, reason: why)
                : .msrWrite(index: index, value: m.data.pointee, reason: why)
        case UInt32(KVM_EXIT_MMIO):
            return .mmio(address: lbr_kvm_run_mmio_addr(runPage), length: lbr_kvm_run_mmio_len(runPage),
                         isWrite: lbr_kvm_run_mmio_is_write(runPage) != 0)
        case UInt32(KVM_EXIT_HLT): return .hlt
        case UInt32(KVM_EXIT_SHUTDOWN): return .shutdown
        case UInt32(KVM_EXIT_FAIL_ENTRY):
            return .failEntry(hardwareReason: lbr_kvm_run_fail_entry_reason(runPage), cpu: lbr_kvm_run_fail_entry_cpu(runPage))
        case UInt32(KVM_EXIT_INTERNAL_ERROR):
            let n = min(lbr_kvm_run_internal_ndata(runPage), 16)
            return .internalError(suberror: lbr_kvm_run_internal_suberror(runPage),
                                  data: (0..<n).map { lbr_kvm_run_internal_data(runPage, $0) })
        case UInt32(KVM_EXIT_DEBUG):
            return .debug(pc: lbr_kvm_run_debug_pc(runPage), exception: lbr_kvm_run_debug_exception(runPage))
        case UInt32(KVM_EXIT_INTR): return .intr
        case UInt32(KVM_EXIT_SYSTEM_EVENT): return .systemEvent(type: lbr_kvm_run_system_event_type(runPage))
        default: return .unknown(reason: reason)
        }
    }

    /// Completes the last `.msrRead` / `.msrWrite` exit before the next `run()`: the value the guest's RDMSR
    /// reads (`.value`; `.ok` reads 0), or #GP in the guest (`.gp`). A write ignores the value.
    public func answerMsr(_ reply: MsrReply) {
        // SAFETY: called on the vCPU thread between KVM_RUN calls, after an MSR exit, so the `msr` member is
        // the live union member and the kernel reads it back only at the next KVM_RUN.
        let m = lbr_kvm_run_msr(runPage)
        let isRead = lbr_kvm_run_exit_reason(runPage) == UInt32(KVM_EXIT_X86_RDMSR)
        switch reply {
        case let .value(v):
            if isRead { m.data.pointee = v }
            m.error.pointee = 0
        case .ok:
            if isRead { m.data.pointee = 0 }
            m.error.pointee = 0
        case .gp:
            m.error.pointee = 1
        }
    }

    /// Sets `kvm_run.immediate_exit`: the next KVM_RUN returns EINTR at once instead of entering the guest.
    public func requestImmediateExit() {
        // SAFETY: a one-byte store into the live run page; the kernel only reads it at KVM_RUN entry.
        lbr_kvm_run_set_immediate_exit(runPage, 1)
    }

    /// Clears `kvm_run.immediate_exit` (after a kick), so the next KVM_RUN enters the guest.
    public func clearImmediateExit() {
        // SAFETY: as `requestImmediateExit`.
        lbr_kvm_run_set_immediate_exit(runPage, 0)
    }

    /// A handle another thread may use to stop this vCPU's KVM_RUN (with a kick signal); see its rules.
    public var exitRequester: VcpuExitRequester { VcpuExitRequester(runPage) }

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
        let cpuid = kvmCpuid2(entries)
        try sysCheck(ioctl(fd, lbr_kvm_set_cpuid2(), cpuid.argument), "KVM_SET_CPUID2(\(entries.count) entries)")
    }

    /// KVM_GET_CPUID2: the CPUID set the vCPU currently has.
    public func getCpuid2() throws(LinuxError) -> [CpuidEntry] {
        try readKvmCpuid2(fd: fd, request: lbr_kvm_get_cpuid2(), name: "KVM_GET_CPUID2")
    }

    /// Host-initiated KVM_SET_MSRS. Returns how many leading entries KVM accepted
    /// (KVM stops at the first MSR it refuses; `entries.count` means all were set).
    public func setMsrs(_ entries: [(UInt32, UInt64)]) throws(LinuxError) -> Int {
        let msrs = kvmMsrs(entries)
        return Int(try sysCheck(ioctl(fd, lbr_kvm_set_msrs(), msrs.argument),
                                "KVM_SET_MSRS(\(entries.map { String($0.0, radix: 16) }))"))
    }

    /// Host-initiated KVM_GET_MSRS. Returns the values of the leading MSRs KVM could read
    /// (shorter than `indices` when KVM refused one).
    public func getMsrs(_ indices: [UInt32]) throws(LinuxError) -> [UInt64] {
        let msrs = kvmMsrs(indices.map { ($0, 0) })
        let n = try sysCheck(ioctl(fd, lbr_kvm_get_msrs(), msrs.argument), "KVM_GET_MSRS(\(indices.map { String($0, radix: 16) }))")
        return msrs.entries.prefix(min(Int(n), indices.count)).map(\.data)
    }

    /// KVM_SET_GUEST_DEBUG: `singleStep` true sets KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP (every guest
    /// instruction then ends in KVM_EXIT_DEBUG with its RIP in debug.arch.pc); false clears guest debugging.
    public func setGuestDebug(singleStep: Bool) throws(LinuxError) {
        var dbg = kvm_guest_debug()
        dbg.control = singleStep ? (lbr_kvm_guestdbg_enable() | lbr_kvm_guestdbg_singlestep()) : 0
        try sysCheck(ioctl(fd, lbr_kvm_set_guest_debug(), &dbg), "KVM_SET_GUEST_DEBUG")
    }

    /// KVM_GET_STATS_FD on the vCPU: the binary stats fd, for a `KvmStats` to own.
    public func statsFd() throws(LinuxError) -> OwnedFileDescriptor {
        OwnedFileDescriptor(taking: try sysCheck(ioctl(fd, lbr_kvm_get_stats_fd(), 0), "KVM_GET_STATS_FD(vcpu)"))
    }
}

/// Lets another thread stop a vCPU's KVM_RUN: set `immediate_exit`, then send the vCPU thread the kick
/// signal (the signal makes a running KVM_RUN return; the flag makes a KVM_RUN about to start return at once).
///
/// Rule: use it only while the `Vcpu` it came from is alive. `GuestVM` publishes one, under its state lock,
/// only for the duration of a command the vCPU thread is running, and withdraws it before the command ends.
public struct VcpuExitRequester: @unchecked Sendable {
    private let runPage: UnsafeMutablePointer<kvm_run>
    fileprivate init(_ runPage: UnsafeMutablePointer<kvm_run>) { self.runPage = runPage }

    /// Sets `kvm_run.immediate_exit` of the vCPU.
    public func requestImmediateExit() {
        // SAFETY: the run page is mapped while the `Vcpu` lives (the rule above); a one-byte store the kernel
        // reads at KVM_RUN entry, racing benignly with a KVM_RUN in progress (which the kick signal ends).
        lbr_kvm_run_set_immediate_exit(runPage, 1)
    }
}
