import CLbrGuest
import CLbrShim
import LbrCore
import Synchronization
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// How to build a `GuestVM`.
public struct GuestVMOptions: Sendable {
    /// CPU the vCPU thread is pinned to (before its first KVM_RUN) and whose NUMA node holds guest RAM.
    public var cpu: Int
    /// LBR MSR bases/depth for `readLbrStack`, `writeTos` and the MSR filter. nil: the host's layout
    /// from the per-model table (`LbrLayout.forIntel`) when known, else `LbrLayout.skylake`.
    public var layout: LbrLayout?
    /// User-space MSR mode: when set, KVM_CAP_X86_USER_SPACE_MSR (reason FILTER) and an MSR filter
    /// denying DEBUGCTL and the layout's LBR MSRs send every guest access of them to this handler.
    public var userSpaceMsr: UserSpaceMsrHandler?
    /// Do the reference §2 PERF_CAPABILITIES step when KVM supports an LBR format (CPUID is always set).
    public var configureGuestLbr: Bool
    /// Guest RAM size (multiple of 2 MiB, at least 2 MiB).
    public var memoryBytes: Int
    /// Fetch the guest RIP (KVM_GET_REGS, ≈6 µs here) for each `MsrExit`.
    public var msrExitRip: Bool
    /// Deadline for the payload to reach its command loop.
    public var bootTimeout: Duration
    /// Test aid: single-step every command (KVM_SET_GUEST_DEBUG with KVM_GUESTDBG_SINGLESTEP) and record the
    /// guest RIP of each KVM_EXIT_DEBUG in `GuestVM.lastStepTrace` (the payload-branch derivation check).
    public var singleStep: Bool = false

    public init(cpu: Int = 0, layout: LbrLayout? = nil, userSpaceMsr: UserSpaceMsrHandler? = nil,
                configureGuestLbr: Bool = true, memoryBytes: Int = 2 << 20, msrExitRip: Bool = true,
                bootTimeout: Duration = .seconds(2)) {
        self.cpu = cpu; self.layout = layout; self.userSpaceMsr = userSpaceMsr
        self.configureGuestLbr = configureGuestLbr; self.memoryBytes = memoryBytes
        self.msrExitRip = msrExitRip; self.bootTimeout = bootTimeout
    }
}

/// The outcome of the exit-loop benchmark command.
public struct ExitLoopResult: Hashable, Sendable {
    public var status: GuestStatus
    /// PING doorbell exits handled.
    public var exits: UInt64
    /// From the first KVM_RUN to the DONE exit, measured on the vCPU thread.
    public var elapsedNs: UInt64
}

/// lbrprobe's own guest: a one-vCPU KVM VM running the long-mode payload, driven by commands.
///
/// Layers: `Kvm` → `Vm` → `Vcpu` (on a `VcpuThread`), `GuestMemory`, `LongMode`, `VcpuSetup`,
/// `MsrFilter`, `KvmStats`. Commands are serialized; each one is encoded into the mailbox, the
/// vCPU runs until the DONE doorbell, a fault, a fatal exit, or its deadline (then it is kicked
/// with SIGUSR1 + `immediate_exit`, reported `.timeout`, and the guest is reset to its command
/// loop so the VM stays usable). Shutdown (triple fault), KVM_EXIT_FAIL_ENTRY and
/// KVM_EXIT_INTERNAL_ERROR end as `.error` with their reasons and make the VM unusable.
///
/// `@unchecked Sendable`: mutable state (`resources`, `seq`, the kick/active flags, counters) is
/// guarded by `state` (a `Monitor`: its condition variable wakes `drive` when the vCPU thread starts a
/// command); commands and `close()` are serialized by `commandLock` (a `Mutex`); the `Vcpu` is only
/// touched by jobs on the vCPU thread.
public final class GuestVM: @unchecked Sendable {
    /// Everything that must be released on close, in this order: vCPU (on its thread), thread,
    /// stats fd, VM fd, /dev/kvm fd, guest memory.
    private final class Resources: @unchecked Sendable {
        var kvm: Kvm?
        var vm: Vm?
        var memory: GuestMemory?
        let thread: VcpuThread
        /// vCPU-thread confined.
        var vcpu: Vcpu?
        var stats: KvmStats?
        init(kvm: Kvm, vm: Vm, memory: GuestMemory, thread: VcpuThread) {
            self.kvm = kvm; self.vm = vm; self.memory = memory; self.thread = thread
        }
    }

    public let cpu: Int
    /// The LBR layout the commands use.
    public let layout: LbrLayout
    /// Where guest RAM was placed.
    public let memoryPlacement: GuestMemory.Placement
    /// What the §2 set-up did.
    public let setup: VcpuSetupReport
    /// The MSR filter installed in user-space MSR mode (nil otherwise).
    public let msrFilter: MsrFilter?
    /// Kernel thread id of the vCPU thread (for perf task events / context-switch observers).
    public let vcpuThreadID: pid_t
    /// The vCPU id lbrprobe's guest uses (KVM_CREATE_VCPU argument; KVM prints it as "vcpu-N" in kernel lines).
    public static let vcpuId: Int32 = 0
    private let handler: UserSpaceMsrHandler?
    private let msrExitRip: Bool
    private let singleStep: Bool
    private var singleStepArmed = false

    /// Serializes commands, host-initiated vCPU ioctls and `close()` (held for a whole command).
    private let commandLock = Mutex<Void>(())
    /// Guards the fields below; its condition variable wakes `drive` when the vCPU thread starts a command.
    private let state = Monitor()
    // Guarded by `state`:
    private var resources: Resources?
    private var seq: UInt32 = 0
    private var commandActive = false
    private var startedSeq: UInt32 = 0
    /// Published by the vCPU thread only while it runs a command (the `VcpuExitRequester` rule).
    private var exitRequester: VcpuExitRequester?
    private var kickRequested = false
    private var deadReason: String?
    private var msrExitsTotal: UInt64 = 0
    private var stepTrace: [UInt64] = []
    private var stepError: String?

    /// With `GuestVMOptions.singleStep`: the guest RIP after each single step of the last command, in order
    /// (the RIP of the next instruction to execute), or the KVM_SET_GUEST_DEBUG error.
    public var lastStepTrace: Result<[UInt64], LinuxError> {
        state.withLock {
            if let e = stepError { return .failure(LinuxError(.notSupported, e)) }
            return .success(stepTrace)
        }
    }
    private var abandonedReasonStorage: String?

    /// Guest-virtual addresses of the branch pattern's taken branches (FROM = jmp, TO = target).
    public var branchSites: [(from: UInt64, to: UInt64)] { GuestPayload.branchSites }
    /// Guest addresses of the payload code.
    public var payloadRange: Range<UInt64> { GuestPayload.range }

    /// Creates the VM, its memory and the vCPU thread, applies the §2 set-up, enters long mode and
    /// runs the payload to its command loop. Everything created is released if any step fails.
    public init(options: GuestVMOptions) throws(GuestVMError) {
        guard options.memoryBytes >= Int(LBR_GUEST_MIN_MEMORY), options.memoryBytes % (2 << 20) == 0 else {
            throw .system(LinuxError(.invalidArgument, "guest memory \(options.memoryBytes) bytes: need a multiple of 2 MiB"))
        }
        cpu = options.cpu
        handler = options.userSpaceMsr
        msrExitRip = options.msrExitRip
        singleStep = options.singleStep
        layout = options.layout ?? GuestVM.hostLayout() ?? .skylake

        let kvm: Kvm, runSize: Int, vm: Vm, memory: GuestMemory, thread: VcpuThread
        do throws(LinuxError) {
            kvm = try Kvm()
            let api = try kvm.apiVersion()
            guard api == 12 else { throw LinuxError(.notSupported, "KVM API version \(api), need 12") }
            guard try kvm.checkExtension(.immediateExit) > 0 else {
                throw LinuxError(.notSupported, "KVM_CAP_IMMEDIATE_EXIT missing (needed to stop a run past its deadline)")
            }
            runSize = try kvm.vcpuMmapSize()
            vm = try Vm(kvm: kvm)
            memory = try GuestMemory(size: options.memoryBytes, nearCpu: options.cpu)
            GuestVM.writeImage(into: memory.all)
            try vm.setUserMemoryRegion(slot: 0, guestPhysical: 0, size: memory.size, host: memory.base)
            if handler != nil {
                guard try kvm.checkExtension(.x86UserSpaceMsr) > 0, try kvm.checkExtension(.x86MsrFilter) > 0 else {
                    throw LinuxError(.notSupported, "KVM_CAP_X86_USER_SPACE_MSR / KVM_CAP_X86_MSR_FILTER missing")
                }
                let filter = MsrFilter.lbr(layout: layout)
                try vm.enableCap(.x86UserSpaceMsr, args: [UInt64(KVM_MSR_EXIT_REASON_FILTER)])
                try vm.setMsrFilter(filter)
                msrFilter = filter
            } else {
                msrFilter = nil
            }
            thread = try VcpuThread(cpu: options.cpu)
        } catch {
            throw .system(error)
        }
        memoryPlacement = memory.placement
        let res = Resources(kvm: kvm, vm: vm, memory: memory, thread: thread)
        vcpuThreadID = thread.tid

        // vCPU creation and set-up on the vCPU thread (after it pinned itself).
        let configureLbr = options.configureGuestLbr
        let made = thread.perform { () -> Result<VcpuSetupReport, GuestVMError> in
            do throws(GuestVMError) {
                let vcpu = try GuestVMError.system { () throws(LinuxError) in try Vcpu(vm: vm, id: GuestVM.vcpuId, runSize: runSize) }
                res.vcpu = vcpu
                let report = try VcpuSetup.apply(vcpu: vcpu, kvm: kvm, configureGuestLbr: configureLbr)
                try GuestVMError.system { () throws(LinuxError) in
                    var sregs = try vcpu.getSregs()
                    LongMode.configure(&sregs)
                    try vcpu.setSregs(sregs)
                    try vcpu.setRegs(LongMode.initialRegs(rip: GuestPayload.entry))
                    if try kvm.checkExtension(.binaryStatsFd) > 0 {
                        res.stats = try KvmStats(fd: try vcpu.statsFd())
                    }
                }
                return .success(report)
            } catch {
                return .failure(error)
            }
        } ?? .failure(.system(LinuxError(.ioError, "vCPU thread stopped")))
        switch made {
        case let .success(report):
            setup = report
        case let .failure(error):
            GuestVM.release(res)
            throw error
        }
        resources = res
        // Run to the READY doorbell.
        let boot = drive(res, request: nil, deadline: options.bootTimeout, host: nil)
        if boot.status != .ok {
            let abandoned = state.withLock { resources = nil; return abandonedReasonStorage != nil }
            if !abandoned { GuestVM.release(res) } // an abandoned thread keeps its resources (watchdog)
            throw .system(LinuxError(.ioError, "guest did not reach its command loop: \(boot.status)"))
        }
    }

    deinit { close() }

    /// Releases everything. Idempotent; waits for a running command to finish.
    public func close() {
        commandLock.withLock { _ in
            let res: Resources? = state.withLock {
                defer { resources = nil }
                return resources
            }
            if let res { GuestVM.release(res) }
        }
    }

    private static func release(_ res: Resources) {
        _ = res.thread.perform { res.vcpu = nil } // munmap kvm_run + close the vCPU fd on its thread
        res.thread.stop()
        res.vcpu = nil
        res.stats = nil
        res.vm = nil     // VM fd closed before its memory is freed
        res.kvm = nil
        res.memory = nil
    }

    /// The host's LBR layout from the per-model table, when the host is an Intel CPU lbrprobe knows.
    public static func hostLayout() -> LbrLayout? {
        let v = lbr_cpuid(0, 0)
        guard v.ebx == 0x756E_6547, v.edx == 0x4965_6E69, v.ecx == 0x6C65_746E else { return nil } // GenuineIntel
        let fm = VcpuSetup.familyModel(lbr_cpuid(1, 0).eax)
        return LbrLayout.forIntel(family: fm.family, model: fm.model)
    }

    /// Writes page tables, GDT, IDT and the payload into a guest RAM image.
    public static func writeImage(into mem: UnsafeMutableRawBufferPointer) {
        LongMode.writeTables(into: mem, vectorTargets: GuestPayload.vectorHandlers)
        let code = GuestPayload.code
        // SAFETY: rebasing a slice traps if the payload does not fit in `mem`; copyMemory copies `code.count` bytes.
        let dst = UnsafeMutableRawBufferPointer(rebasing: mem[Int(GuestPayload.loadAddress)..<(Int(GuestPayload.loadAddress) + code.count)])
        dst.copyMemory(from: code)
    }

    /// For reference VMMs and benchmarks: the initial guest RAM image (tables, payload and
    /// `request` encoded with sequence `seq` in the mailbox; only the used prefix of RAM), and the
    /// `struct kvm_sregs` / `struct kvm_regs` bytes for direct long-mode entry at the payload.
    public static func bootImage(request: GuestMailbox.Request, seq: UInt32 = 1)
        -> (image: [UInt8], memoryBytes: Int, sregs: [UInt8], regs: [UInt8]) {
        let memoryBytes = Int(LBR_GUEST_MIN_MEMORY)
        var ram = [UInt8](repeating: 0, count: memoryBytes)
        // SAFETY: `mem` is the array's own storage for the closure; the mailbox slice is bounds-checked by rebasing.
        ram.withUnsafeMutableBytes { mem in
            writeImage(into: mem)
            GuestMailbox.encode(request, seq: seq,
                                into: UnsafeMutableRawBufferPointer(rebasing: mem[Int(GuestPayload.mailboxAddress)..<(Int(GuestPayload.mailboxAddress) + GuestMailbox.pageSize)]))
        }
        let used = Int(GuestPayload.range.upperBound + 4095) & ~4095
        var sregs = kvm_sregs()
        LongMode.configure(&sregs)
        let regs = LongMode.initialRegs(rip: GuestPayload.entry)
        return (Array(ram.prefix(used)), memoryBytes,
                withUnsafeBytes(of: sregs) { Array($0) }, withUnsafeBytes(of: regs) { Array($0) })
    }

    // MARK: commands

    /// Runs `cmd` in the guest with a deadline. Never throws: failures are in `status`.
    public func run(_ cmd: GuestCommand, timeout: Duration) -> GuestResult {
        run(cmd, timeout: timeout, host: nil)
    }

    /// Runs `cmd`; `host` runs on the caller's thread once the guest has started executing `cmd`
    /// inside KVM_RUN (it wrote the command's sequence number into the result header; use a command
    /// that stays in the guest long enough to be sure it has not finished yet: `.spinFor(microseconds:)`,
    /// whose length is wall-clock time on any host, unlike `.spin(iterations:)`).
    /// The deadline covers `host` too. For the command, the calling thread's affinity excludes the vCPU's CPU
    /// (when it allows another), so `host` runs concurrently with the guest rather than after its time slice.
    public func run(_ cmd: GuestCommand, timeout: Duration, whileRunning host: @Sendable () -> Void) -> GuestResult {
        withoutActuallyEscaping(host) { h in run(cmd, timeout: timeout, host: h) }
    }

    private func run(_ cmd: GuestCommand, timeout: Duration, host: (() -> Void)?) -> GuestResult {
        // SPIN_FOR carries the TSC rate in arg1: the host's, calibrated once per process (TscClock). The guest
        // TSC runs at that rate because this VMM never sets a guest TSC frequency (no KVM_SET_TSC_KHZ, so no
        // TSC scaling; guest TSC = host TSC + offset). Other commands do not need it (no calibration cost).
        let rate: UInt64
        if case .spinFor = cmd { rate = TscClock.ticksPerMicrosecond } else { rate = 0 }
        switch GuestMailbox.request(for: cmd, layout: layout, tscTicksPerMicrosecond: rate) {
        case let .failure(e):
            return GuestResult(command: cmd, status: .error("command refused: \(e)"))
        case let .success(request):
            let out = execute(request, timeout: timeout, host: host)
            guard let reply = out.reply else {
                return GuestResult(command: cmd, status: out.status, exits: out.exits)
            }
            return GuestMailbox.result(for: cmd, request: request, reply: reply, exits: out.exits)
        }
    }

    /// Benchmark: the guest rings the doorbell `count` times (one userspace exit each), then DONE.
    public func runExitLoop(count: Int, timeout: Duration) -> ExitLoopResult {
        let out = execute(GuestMailbox.Request(opcode: .exitLoop, arg0: UInt64(max(count, 0))), timeout: timeout, host: nil)
        return ExitLoopResult(status: out.status, exits: out.pings, elapsedNs: out.elapsedNs)
    }

    /// Cumulative exit counters of the vCPU from its binary stats fd (nil without stats / after close).
    public func exitCounters() -> ExitCounters? {
        let (stats, msr) = state.withLock { (resources?.stats, msrExitsTotal) }
        return try? stats?.exitCounters(userspaceMsrExits: msr)
    }

    /// Host-initiated KVM_SET_MSRS, issued on the vCPU thread. Returns how many entries KVM accepted.
    public func setMsrs(_ entries: [(UInt32, UInt64)]) throws(LinuxError) -> Int {
        try onVcpu { (v) throws(LinuxError) in try v.setMsrs(entries) }
    }

    /// Host-initiated KVM_GET_MSRS, issued on the vCPU thread (values of the leading readable MSRs).
    public func getMsrs(_ indices: [UInt32]) throws(LinuxError) -> [UInt64] {
        try onVcpu { (v) throws(LinuxError) in try v.getMsrs(indices) }
    }

    /// KVM_GET_CPUID2 of the vCPU, issued on the vCPU thread.
    public func guestCpuid() throws(LinuxError) -> [CpuidEntry] {
        try onVcpu { (v) throws(LinuxError) in try v.getCpuid2() }
    }

    /// Runs `body` with the vCPU on its thread (serialized with commands).
    private func onVcpu<R: Sendable>(_ body: (Vcpu) throws(LinuxError) -> R) throws(LinuxError) -> R {
        let r: Result<R, LinuxError> = commandLock.withLock { _ in
            guard let res = state.withLock({ resources }) else { return .failure(LinuxError(.badFileDescriptor, "guest VM closed")) }
            return res.thread.perform { () -> Result<R, LinuxError> in
                guard let v = res.vcpu else { return .failure(LinuxError(.badFileDescriptor, "vCPU closed")) }
                do throws(LinuxError) { return .success(try body(v)) } catch { return .failure(error) }
            } ?? .failure(LinuxError(.ioError, "vCPU thread stopped"))
        }
        return try r.get()
    }

    /// Internal: one raw mailbox request (tests use the test-only opcodes through this).
    struct Outcome {
        var status: GuestStatus
        var reply: GuestMailbox.Reply?
        var exits: ExitCounters?
        var pings: UInt64 = 0
        var elapsedNs: UInt64 = 0
    }

    func execute(_ request: GuestMailbox.Request, timeout: Duration, host: (() -> Void)?) -> Outcome {
        commandLock.withLock { _ in
            let (res, dead) = state.withLock { (resources, deadReason) }
            guard let res else { return Outcome(status: .error("guest VM closed")) }
            if let dead { return Outcome(status: .error("VM unusable after \(dead)")) }
            return drive(res, request: request, deadline: timeout, host: host)
        }
    }

    /// Runs the vCPU for one command (or, with `request == nil`, to the boot READY doorbell),
    /// enforcing the deadline from the caller's thread. Caller holds `commandLock` (or is init).
    private func drive(_ res: Resources, request: GuestMailbox.Request?, deadline: Duration,
                       host: (() -> Void)?) -> Outcome {
        guard let memory = res.memory else { return Outcome(status: .error("guest memory released")) }
        let seq: UInt32 = state.withLock { self.seq &+= 1; return self.seq }
        if let request {
            GuestMailbox.encode(request, seq: seq,
                                into: memory.bytes(at: Int(GuestPayload.mailboxAddress), count: GuestMailbox.pageSize))
        }
        // A host action "while the guest runs" must run on another CPU: on the vCPU's own CPU it could only run
        // once the vCPU thread was preempted, i.e. outside guest mode (and perf would install a CPU-pinned event
        // locally, without the IPI of §3.5). The scheduler's wake-affine placement puts the caller there readily
        // (the vCPU thread wakes it), so keep the caller off that CPU for the command, when it has another.
        let savedAffinity = host != nil ? GuestVM.leaveCpu(cpu) : nil
        defer { if let savedAffinity { CpuAffinity.set(savedAffinity) } }
        var outcome = Outcome(status: .error("vCPU thread stopped"))
        let start = monotonicNs()
        let limit = start &+ GuestVM.nanoseconds(deadline)
        // `outcome` is written by the job and read here only after the job completed.
        guard let ticket = res.thread.submit({ [self] in
            outcome = self.vcpuLoop(res, memory: memory, request: request, seq: seq)
        }) else { return outcome }
        if let host {
            // Wait until the job is about to enter KVM_RUN for this command (or the deadline).
            state.withLock { while startedSeq != seq { if !state.wait(untilNs: limit) { break } } }
            // Then until the guest itself has started the command: the payload's first acts are to read the
            // command's begin TSC and then copy the command's seq into the result header (guest.S g_cmd_loop),
            // so seeing it means the vCPU thread is inside KVM_RUN executing this command's guest code (or has
            // already finished it), and the host action starts after the command's begin TSC.
            if request != nil {
                let page = memory.bytes(at: Int(GuestPayload.mailboxAddress), count: GuestMailbox.pageSize)
                // Busy-poll first: the guest writes the seq within microseconds of entering KVM_RUN, while on a
                // loaded host each sched_yield() can hand the CPU to another task for a whole slice (ms) — longer
                // than a `spinFor` meant to overlap the host action, which would then run after the command.
                // Past 1 ms (the vCPU thread itself was not scheduled yet), yield between polls.
                let busyUntil = monotonicNs() &+ 1_000_000
                var polls = 0
                while true {
                    let now = monotonicNs()
                    if now >= limit { break }
                    // SAFETY: `page` is the mailbox page inside guest memory (bounds checked by `bytes(at:count:)`);
                    // the guest may write it concurrently: a torn read only delays the match by one poll.
                    let started = UInt32(littleEndian: page.loadUnaligned(fromByteOffset: GuestMailbox.resSeqOffset, as: UInt32.self))
                    if started == seq { break }
                    polls += 1
                    if polls % 64 == 0, res.thread.wait(for: ticket, deadlineNs: 0) { break }
                    if now >= busyUntil { sched_yield() }
                }
            }
            host()
        }
        if !res.thread.wait(for: ticket, deadlineNs: limit) {
            // Past the deadline: kick until the job has left KVM_RUN — for at most `GuestVM.kickGraceNs`. A vCPU
            // thread that cannot be kicked out of the kernel (frozen cgroup, stuck in D state) is ABANDONED
            // (the watchdog): the command is a timeout, the VM is marked unusable, and its resources (vCPU
            // thread, fds, guest memory) are deliberately leaked to `GuestVM.abandoned` because the thread may
            // still touch them when it wakes; they go when the process exits.
            let giveUp = monotonicNs() &+ GuestVM.kickGraceNs
            repeat {
                state.withLock {
                    if commandActive, let exitRequester {
                        kickRequested = true
                        exitRequester.requestImmediateExit()
                    }
                }
                res.thread.kick()
                if monotonicNs() >= giveUp {
                    let why = "vCPU thread \(vcpuThreadID) stuck in the kernel: still not out of KVM_RUN \(GuestVM.kickGraceNs / 1_000_000) ms after the deadline despite kicks; thread abandoned"
                    state.withLock {
                        if deadReason == nil { deadReason = why }
                        abandonedReasonStorage = why
                        resources = nil
                    }
                    GuestVM.abandon(res)
                    return Outcome(status: .timeout)
                }
            } while !res.thread.wait(for: ticket, deadlineNs: monotonicNs() + 20_000_000)
        }
        return outcome
    }

    /// How long past a command's deadline the vCPU thread is kicked before it is abandoned (watchdog).
    public static let kickGraceNs: UInt64 = 500_000_000

    /// Why the vCPU thread was abandoned (it could not be kicked out of the kernel), if it was.
    public var abandonedReason: String? { state.withLock { abandonedReasonStorage } }

    /// Resources of abandoned VMs: never released (their vCPU thread may still use them).
    private static let abandoned = Mutex<[AnyObject]>([])
    private static func abandon(_ res: Resources) { abandoned.withLock { $0.append(res) } }
    /// Number of VMs abandoned by the watchdog in this process.
    public static var abandonedCount: Int { abandoned.withLock { $0.count } }

    /// Removes `cpu` from the calling thread's affinity when the thread may run elsewhere too; returns the
    /// previous CPU list to restore, or nil when nothing changed.
    static func leaveCpu(_ cpu: Int) -> [Int]? {
        let allowed = CpuAffinity.allowed()
        let others = allowed.filter { $0 != cpu }
        guard others.count < allowed.count, !others.isEmpty else { return nil }
        return CpuAffinity.set(others) == 0 ? allowed : nil
    }

    static func nanoseconds(_ d: Duration) -> UInt64 {
        let c = d.components
        if c.seconds < 0 { return 0 }
        let s = UInt64(c.seconds)
        if s > 1_000_000_000 { return UInt64.max / 2 }
        return s * 1_000_000_000 + UInt64(c.attoseconds / 1_000_000_000)
    }

    // MARK: vCPU thread side

    /// On the vCPU thread: KVM_RUN until the doorbell, handling user-space MSR exits.
    private func vcpuLoop(_ res: Resources, memory: GuestMemory, request: GuestMailbox.Request?,
                          seq: UInt32) -> Outcome {
        guard let vcpu = res.vcpu else { return Outcome(status: .error("vCPU closed")) }
        let before = try? res.stats?.exitCounters(userspaceMsrExits: state.withLock { msrExitsTotal })
        state.withLock { commandActive = true; exitRequester = vcpu.exitRequester; startedSeq = seq; stepTrace.removeAll(); state.broadcast() }
        if singleStep && request != nil && !singleStepArmed {
            do { try vcpu.setGuestDebug(singleStep: true); singleStepArmed = true }
            catch { state.withLock { stepError = "\(error)" } }
        }
        var msrExits: UInt64 = 0
        var pings: UInt64 = 0
        let t0 = monotonicNs()
        var status: GuestStatus = .ok
        var fatal: String?
        let expected = request == nil ? GuestMailbox.doorbellReady : GuestMailbox.doorbellDone
        run: while true {
            let exit: VcpuExit
            do { exit = try vcpu.run() } catch {
                if error.errno == .interrupted || error.errno == .resourceTemporarilyUnavailable {
                    if state.withLock({ kickRequested }) { status = .timeout; break run }
                    continue
                }
                status = .error("KVM_RUN failed: \(error)")
                fatal = "KVM_RUN errno \(error.errno.rawValue)"
                break run
            }
            switch step(after: exit, vcpu, expected: expected) {
            case .resume: continue
            case .ping: pings &+= 1
            case .msrExit: msrExits &+= 1
            case .done: break run
            case let .stop(why, fatalReason): status = why; fatal = fatalReason; break run
            }
        }
        let elapsed = monotonicNs() &- t0
        if status == .timeout, let failed = backToCommandLoop(vcpu) { fatal = failed }
        let total: UInt64 = state.withLock {
            msrExitsTotal &+= msrExits
            commandActive = false; exitRequester = nil; kickRequested = false
            vcpu.clearImmediateExit()
            if let fatal, deadReason == nil { deadReason = fatal }
            return msrExitsTotal
        }
        var exits: ExitCounters?
        if let before, let after = try? res.stats?.exitCounters(userspaceMsrExits: total) { exits = after - before }
        var outcome = Outcome(status: status, reply: nil, exits: exits, pings: pings, elapsedNs: elapsed)
        if status == .ok, let request {
            // SAFETY: the guest is stopped (KVM_RUN returned on this thread); the page is inside guest memory.
            let page = Array(UnsafeRawBufferPointer(memory.bytes(at: Int(GuestPayload.mailboxAddress), count: GuestMailbox.pageSize)))
            let reply = GuestMailbox.decode(page, seq: seq, request: request)
            outcome.status = reply.status
            outcome.reply = reply
        }
        return outcome
    }

    /// What one KVM exit means for the running command.
    private enum ExitStep {
        /// Run the vCPU again.
        case resume
        /// A PING doorbell (an exit-loop exit), then run again.
        case ping
        /// A user-space MSR exit, answered, then run again.
        case msrExit
        /// The expected doorbell: the command is done.
        case done
        /// The command ends with `status`; `fatal` says why the VM is unusable afterwards, if it is.
        case stop(GuestStatus, fatal: String?)
    }

    /// What `exit` means for the running command (user-space MSR exits are answered here).
    private func step(after exit: VcpuExit, _ vcpu: Vcpu, expected: UInt32) -> ExitStep {
        switch exit {
        case let .ioOut(port, size, count, value):
            guard port == GuestMailbox.doorbellPort, size == 4, count == 1, let value else {
                return .stop(.error("unexpected port I/O: port 0x\(String(port, radix: 16)) dir \(KVM_EXIT_IO_OUT) size \(size) count \(count)"), fatal: nil)
            }
            if value == expected { return .done }
            if value == GuestMailbox.doorbellPing { return .ping }
            return .stop(.error("unexpected doorbell 0x\(String(value, radix: 16)), expected 0x\(String(expected, radix: 16))"), fatal: nil)
        case let .ioIn(port, size, count):
            return .stop(.error("unexpected port I/O: port 0x\(String(port, radix: 16)) dir \(KVM_EXIT_IO_IN) size \(size) count \(count)"), fatal: nil)
        case let .msrRead(index, reason):
            answerMsrExit(vcpu, MsrExit(index: index, isWrite: false, value: 0, rip: nil, reason: reason))
            return .msrExit
        case let .msrWrite(index, value, reason):
            answerMsrExit(vcpu, MsrExit(index: index, isWrite: true, value: value, rip: nil, reason: reason))
            return .msrExit
        case .shutdown:
            return .stop(.error("guest shutdown: KVM_EXIT_SHUTDOWN (triple fault)"), fatal: "KVM_EXIT_SHUTDOWN (triple fault)")
        case let .failEntry(hardwareReason, hostCpu):
            let why = "KVM_EXIT_FAIL_ENTRY hardware_entry_failure_reason 0x\(String(hardwareReason, radix: 16)) cpu \(hostCpu)"
            return .stop(.error(why), fatal: why)
        case let .internalError(suberror, data):
            let why = "KVM_EXIT_INTERNAL_ERROR suberror \(suberror) data [\(data.map { "0x" + String($0, radix: 16) }.joined(separator: ", "))]"
            return .stop(.error(why), fatal: why)
        case let .systemEvent(type):
            let why = "KVM_EXIT_SYSTEM_EVENT type \(type)"
            return .stop(.error(why), fatal: why)
        case .hlt:
            return .stop(.error("guest halted (KVM_EXIT_HLT)"), fatal: "KVM_EXIT_HLT")
        case let .mmio(address, length, isWrite):
            let why = "KVM_EXIT_MMIO at 0x\(String(address, radix: 16)) len \(length) write \(isWrite ? 1 : 0)"
            return .stop(.error("guest accessed unbacked memory: \(why)"), fatal: why)
        case .intr:
            return state.withLock({ kickRequested }) ? .stop(.timeout, fatal: nil) : .resume
        case let .debug(pc, _) where singleStep:
            state.withLock { stepTrace.append(pc) }
            return .resume
        case .debug:
            return .stop(.error("unexpected KVM exit reason \(KVM_EXIT_DEBUG)"), fatal: "exit reason \(KVM_EXIT_DEBUG)")
        case let .unknown(reason):
            return .stop(.error("unexpected KVM exit reason \(reason)"), fatal: "exit reason \(reason)")
        }
    }

    /// After a timeout: the vCPU back at the command loop, so the next command finds a working guest; why the VM
    /// is unusable when that failed.
    private func backToCommandLoop(_ vcpu: Vcpu) -> String? {
        vcpu.clearImmediateExit()
        guard var regs = try? vcpu.getRegs() else { return "KVM_GET_REGS failed after a timeout" }
        regs.rip = GuestPayload.commandLoop; regs.rsp = GuestPayload.stackTop; regs.rflags = 0x2
        return (try? vcpu.setRegs(regs)) == nil ? "KVM_SET_REGS failed after a timeout" : nil
    }

    /// Asks the handler (no handler: #GP) and completes the exit in the run page.
    private func answerMsrExit(_ vcpu: Vcpu, _ exit: MsrExit) {
        var exit = exit
        if msrExitRip { exit.rip = (try? vcpu.getRegs())?.rip }
        vcpu.answerMsr(handler?(exit) ?? .gp)
    }
}
