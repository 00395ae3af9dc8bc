// One hw scenario run: the real guest, the observers on its vCPU thread, the open host contenders.

import CLbrShim
import LbrCore
import LbrLinux
import LbrScenarios
import Logging
import Synchronization
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// How a guest command is timed against the host.
enum HwDuring {
    case none
    /// `TimingMode.whileVcpuRuns`.
    case host(HostAction)
    /// `TimingMode.preemption`.
    case preempt(PreemptingTask)
}

/// A value handed out of the synchronous `whileRunning` / hog-prepare closures (GuestVM.run returns after
/// `whileRunning`; CpuHog.init returns after `prepare`; the hybrid backend hands the hog report out of
/// `whileRunning` in one).
final class HwSlot<T: Sendable>: Sendable {
    private let slot = Mutex<T?>(nil)
    init() {}
    var value: T? {
        get { slot.withLock { $0 } }
        set { slot.withLock { $0 = newValue } }
    }
}

/// `@unchecked Sendable` wrapper for the run inside `whileRunning` (called synchronously, on the caller's thread).
struct HwUnchecked<T>: @unchecked Sendable { let value: T }

/// What the hw backend keeps across scenario runs of one process: the view of the kernel's one system-wide
/// ratelimit state of "fail to passthrough LBR" (§9.4). Used from the runner's thread only.
final class HwProcessState {
    var kmsgView = KmsgRatelimitView()
    /// The last scan for other KVM VMs and when it ran (CLOCK_MONOTONIC ns).
    private var vmScan: (atNs: UInt64, owners: [KvmVmOwner])?
    /// How long a scan is reused: the ratelimit interval, so one full set (< 10 s) scans about twice, not once per
    /// scenario (a /proc scan costs tens of ms on a busy host).
    static let vmScanMaxAgeNs: UInt64 = 5_000_000_000
    /// Whether the kernel log's recent history was read into `kmsgView`.
    private var primed = false
    init() {}

    /// Once per process: feeds the "fail to passthrough" / "callbacks suppressed" lines of the last ratelimit
    /// interval that the kernel log still holds into `kmsgView` (printk's clock and CLOCK_MONOTONIC both run
    /// from boot without suspend; close enough for a 5 s window). Returns a note, nil if already primed.
    func primeKmsgView(now: UInt64 = monotonicNs()) -> String? {
        if primed { return nil }
        primed = true
        let records: [KmsgRecord]
        do { records = try KmsgWatcher.history() } catch {
            return "kmsg history unreadable (\(error)): lines printed before lbrprobe watched are unknown (§9.4)"
        }
        let nowUs = now / 1000
        let since = nowUs > KvmLbrKmsg.ratelimitIntervalUs ? nowUs - KvmLbrKmsg.ratelimitIntervalUs : 0
        var n = 0
        for r in records where r.timestampUs >= since {
            let e = KmsgEntry(isKernel: r.isKernel, timestampUs: r.timestampUs, message: r.message)
            if KvmLbrKmsg.classify(e.message) != .unrelated && e.isKernel { n += 1; kmsgView.account(e) }
        }
        return "kmsg history: \(n) \(KvmLbrKmsg.callSite) line(s) in the last 5 s before lbrprobe watched (the ratelimit allows \(KvmLbrKmsg.ratelimitBurst) per 5 s system-wide, §9.4)"
    }

    /// Other processes holding KVM VM fds (descriptions), rescanned when the last scan is older than `vmScanMaxAgeNs`.
    func otherVms(now: UInt64 = monotonicNs()) -> [String] {
        scan(now).filter { $0.vms > 0 || $0.vcpus > 0 }.map(\.description)
    }

    /// Other processes holding perf event fds: they may hold host LBR events of their own on the probed CPU
    /// (the kernel does not show their attributes) and so share the LBRs with lbrprobe's contenders.
    func otherPerfHolders(now: UInt64 = monotonicNs()) -> [String] {
        scan(now).filter { $0.perfEvents > 0 }.map { "pid \($0.pid)\($0.command.map { " (\($0))" } ?? ""): \($0.perfEvents) perf event fd(s)" }
    }

    /// One /proc fd walk (`KvmVmScan.scan`) reused for `vmScanMaxAgeNs`.
    private func scan(_ now: UInt64) -> [KvmVmOwner] {
        if let s = vmScan, now &- s.atNs < Self.vmScanMaxAgeNs { return s.owners }
        let owners = KvmVmScan.scan()
        vmScan = (now, owners)
        return owners
    }
}

/// How the hw backend samples with host LBR events on this host (§4.1, §9.1): read once per run.
struct HwSamplingPlan: Sendable {
    /// /proc/sys/kernel/perf_event_max_sample_rate (nil when unreadable).
    var maxSampleRate: Int?
    /// /proc/sys/kernel/perf_cpu_time_max_percent (nil when unreadable).
    var cpuTimeMaxPercent: Int?
    /// The period LBR sampling events use (`HostSampling.period(maxSampleRate:)`).
    var period: UInt64
    /// /proc/sys/kernel/nmi_watchdog (nil when unreadable), for counter-exhaustion sizing.
    var nmiWatchdog: Int?

    static func probe(sysfs: Sysfs = Sysfs()) -> HwSamplingPlan {
        let rate = sysfs.int("/proc/sys/kernel/perf_event_max_sample_rate").value
        return HwSamplingPlan(maxSampleRate: rate,
                              cpuTimeMaxPercent: sysfs.int("/proc/sys/kernel/perf_cpu_time_max_percent").value,
                              period: HostSampling.period(maxSampleRate: rate),
                              nmiWatchdog: sysfs.int("/proc/sys/kernel/nmi_watchdog").value)
    }

    /// The evidence line describing the plan for a `depth`-entry LBR.
    func note(depth: Int) -> String {
        let attr = Contender.pinnedLbr.attributes(samplePeriod: period)[0]
        let bytes = HostSampling.sampleBytes(attr, depth: depth)
        let pages = HostSampling.ringPages(sampleBytes: bytes, period: period)
        let cover = HostSampling.ringCoverNs(pages: pages, sampleBytes: bytes, period: period)
        return "host LBR sampling: sample_period \(period) cycles (perf_event_max_sample_rate "
            + "\(maxSampleRate.map(String.init) ?? "unreadable"), perf_cpu_time_max_percent "
            + "\(cpuTimeMaxPercent.map(String.init) ?? "unreadable"); worst case \(HostSampling.worstCaseRate(period: period)) "
            + "samples/s at 5 GHz, at most half the limit, so perf does not throttle), \(bytes)-byte samples with hw_idx, "
            + "rings of up to \(pages) pages (\(cover / 1_000_000) ms at the worst-case rate), drained after every guest command; "
            + "kept: samples of the vCPU thread inside each command's CLOCK_MONOTONIC window (use_clockid) (§4.1, §9.1)"
    }
}

/// Host-mode time of one port-I/O exit on this host and the clock that turns a period in cycles into time
/// (§9.6): what `GuestCommand.hostSampleTime` is sized from.
struct HwExitCalibration: Hashable, Sendable {
    /// Exits the calibration loop runs.
    static let exits = 2_000
    /// Used when the calibration loop fails: the order VMX hosts show (§9.6), said in the note.
    static let fallbackNs = HostSampling.typicalHostNsPerExit
    /// Taken branches the pattern calibration runs (5–20 µs natively; the TSC resolves it to a few ps per branch).
    static let patternBranches = 16_384
    /// Assumed when the pattern calibration fails: 250 ps, a branch per cycle at 4 GHz — the fastest a core
    /// retires the pattern, so the sized pattern lasts at least its periods wherever it runs slower.
    static let fallbackPsPerBranch: UInt64 = 250
    var hostNsPerExit: UInt64
    var measured: Bool
    /// Guest time of one taken branch of the payload's pattern, in picoseconds (`GuestCommand.tracedPattern`).
    var psPerBranch: UInt64 = HwExitCalibration.fallbackPsPerBranch
    var branchesMeasured = false
    /// The TSC rate standing in for the core clock of the cycles event (0: unknown → 1 GHz). A core running
    /// above its TSC rate makes periods shorter in time, so a phase keeps more samples, never fewer.
    var coreHz: UInt64

    /// The period in nanoseconds at `coreHz`.
    func periodNs(_ period: UInt64) -> UInt64 {
        let hz = coreHz > 0 ? coreHz : 1_000_000_000
        return (period &* 1_000_000_000 + hz - 1) / hz
    }

    func note(plan: HwSamplingPlan) -> String {
        let exits = HostSampling.exits(forPeriods: HostSampling.calibratedPeriods, periodNs: periodNs(plan.period),
                                       hostNsPerExit: hostNsPerExit)
        let branches = HostSampling.branches(forPeriods: HostSampling.tracedPatternPeriods,
                                             periodNs: periodNs(plan.period), psPerBranch: psPerBranch)
        return "host-mode time per port-I/O exit: \(hostNsPerExit) ns (\(measured ? "measured over \(Self.exits) exits" : "not measured: the calibration loop failed; assumed")); sample_period \(plan.period) cycles = \(periodNs(plan.period)) ns at \(coreHz / 1_000_000) MHz; host-sample-time(\(HostSampling.calibratedPeriods) periods) = \(exits) exits (§9.6); guest time per pattern branch \(psPerBranch) ps (\(branchesMeasured ? "measured over \(Self.patternBranches) branches" : "not measured: assumed")), traced-pattern(\(HostSampling.tracedPatternPeriods) periods) = \(branches) branches\(branches == GuestMailbox.maxBranches ? " (the payload's cap)" : "") (§9.7)"
    }
}

/// Per-run resources of the hw backend. Not thread-safe: used from the runner's thread only.
final class HwRun {
    struct OpenContender {
        let spec: ContenderSpec
        let set: HostContenderSet
        var previous: [PerfReading?]
        /// Ring drains after guest commands since the last report (`readContenders` / close).
        var pending: [HostSampleBatch] = []
    }

    let cpu: Int
    let layout: LbrLayout
    let vm: GuestVM
    let logger: Logger?
    private(set) var kmsg: KmsgWatcher?
    private(set) var tracer: KvmMsrTracer?
    private(set) var switches: ContextSwitchObserver?
    private var contenders: [OpenContender] = []
    /// Guest TSC − host TSC, measured at begin (nil when unmeasured), and its uncertainty in cycles.
    private(set) var tscOffset: Int64?
    private(set) var tscOffsetError: UInt64 = 0
    private(set) var notes: [String] = []
    private var closed = false
    /// Host LBR sampling on this host (period, limits).
    let plan: HwSamplingPlan
    /// Process-wide state shared by every run of the backend.
    let shared: HwProcessState
    /// Other KVM VMs running when the run began (descriptions), whose kernel lines look like ours (§9.4).
    private(set) var otherVms: [String] = []
    /// An LBR sampling contender was opened and its ring has not been seeded yet (§9.6).
    private var seedPending = false
    /// Whether a guest command is running (a host action now is `whileVcpuRuns`).
    private var insideGuestCommand = false
    /// Whether raw records are reported next to what is derived from them, for a capture: `.hostSampleRecords`
    /// (every sample behind a summary) and `.kvmMsrTrace` (the trace lines behind the `.msrAccess` observations).
    var recordSamples = false

    /// The seed read (§9.6): the runner busy-waits `ModelHost.seedPeriods`-like two sample periods pinned to the
    /// vCPU's CPU while the vCPU thread is off it (between commands, so the vLBR is not scheduled), so one real
    /// `intel_pmu_lbr_read()` lands in the contender's ring (filtered out: not the vCPU thread's) and the first
    /// kept sample is compared with it. Returns a note.
    func seedRead() -> String {
        seedPending = false
        let allowed = CpuAffinity.allowed()
        guard CpuAffinity.pin(to: cpu) == 0 else {
            return "seed read skipped: cannot pin the runner to CPU \(cpu) (the first kept sample has no predecessor)"
        }
        defer { CpuAffinity.set(allowed) }
        let ns = 2 &* exitCalibration.periodNs(plan.period)
        let end = monotonicNs() &+ ns
        var spins: UInt64 = 0
        while monotonicNs() < end { spins &+= 1 }
        return "seed read: the runner ran \(ns / 1000) us (two sample periods) on CPU \(cpu) with the vCPU thread off it, so the ring holds one real LBR read before the first kept sample (§9.6)"
    }

    /// Host-mode time per port-I/O exit and the core clock, measured at open (§9.6).
    private(set) var exitCalibration = HwExitCalibration(hostNsPerExit: HwExitCalibration.fallbackNs, measured: false,
                                                         coreHz: 0)

    private init(cpu: Int, layout: LbrLayout, vm: GuestVM, logger: Logger?, plan: HwSamplingPlan, shared: HwProcessState) {
        self.cpu = cpu; self.layout = layout; self.vm = vm; self.logger = logger; self.plan = plan; self.shared = shared
    }

    // MARK: open

    /// Builds the guest (§2 order, on `cpu`), checks that KVM gave it LBR, then opens the observers.
    /// Everything opened is closed again when it throws.
    /// - Parameter requireGuestLbr: tests only (`HwBackend.testingWithoutGuestLbr`): exercise the real guest,
    ///   observers and steps on a host whose KVM gives no guest LBR. Never set by the CLI.
    static func open(cpu: Int, layout: LbrLayout, logger: Logger?, requireGuestLbr: Bool = true,
                     shared: HwProcessState = HwProcessState(),
                     plan: HwSamplingPlan = .probe()) throws(BackendError) -> HwRun {
        let vm: GuestVM
        do {
            vm = try GuestVM(options: GuestVMOptions(cpu: cpu, layout: layout, configureGuestLbr: true))
        } catch {
            throw guestVMFailure(error, cpu: cpu)
        }
        if requireGuestLbr, let refusal = lbrRefusal(vm.setup) {
            let pmu = corePmuBlocker(cpu: cpu)
            vm.close()
            throw .unsupported(joined([refusal, pmu]))
        }
        if requireGuestLbr, let pmu = corePmuBlocker(cpu: cpu) {
            vm.close()
            throw .unsupported(pmu)
        }
        let r = HwRun(cpu: cpu, layout: layout, vm: vm, logger: logger, plan: plan, shared: shared)
        let s = vm.setup
        r.notes.append("guest: vCPU thread \(vm.vcpuThreadID) pinned to CPU \(cpu), CPUID model 0x\(String(s.guestModel, radix: 16)) (host 0x\(String(s.hostModel, radix: 16))), PMU version \(s.guestLeafAEax & 0xff), PERF_CAPABILITIES 0x\(String(s.perfCapabilitiesWritten ?? 0, radix: 16)) written after CPUID (§2), guest RAM \(vm.memoryPlacement)")
        r.notes.append(plan.note(depth: layout.depth))
        do { r.kmsg = try KmsgWatcher() } catch {
            r.notes.append("no kmsg signal: \(error)")
        }
        if r.kmsg != nil, let n = shared.primeKmsgView() { r.notes.append(n) }
        r.otherVms = shared.otherVms()
        r.notes.append(r.otherVms.isEmpty
            ? "other KVM VMs: none (/proc/*/fd anon_inode:kvm-vm, debugfs kvm/<pid>-<fd>): a \"vcpu-\(GuestVM.vcpuId): fail to passthrough LBR.\" line is ours (§9.4)"
            : "other KVM VMs running (\(r.otherVms.joined(separator: "; "))): their vCPUs print the same kernel line, so kmsg lines are notes, not votes (§9.4)")
        let perfHolders = shared.otherPerfHolders()
        if !perfHolders.isEmpty {
            r.notes.append("other perf event holders (\(perfHolders.joined(separator: "; "))): their events may use the LBRs of CPU \(cpu) too (attributes not visible), so host samples and the vLBR state can include their contention (§3.4)")
        }
        do {
            let fs = try Tracefs.locate(mountIfAbsent: true)
            r.tracer = try KvmMsrTracer(tracefs: fs, pid: vm.vcpuThreadID, cpu: -1, sampling: true, ringPages: 32)
            r.notes.append("kvm:kvm_msr traced on the vCPU thread: an LBR MSR access without an event was passed through (§1.5)")
        } catch let e as LinuxError {
            r.notes.append("no passthrough detector (tracefs: \(e)): LBR MSR accesses are not reported")
        } catch let e as TracepointError {
            r.notes.append("no passthrough detector (kvm:kvm_msr: \(e)): LBR MSR accesses are not reported")
        } catch {
            r.notes.append("no passthrough detector: \(error)")
        }
        do { r.switches = try ContextSwitchObserver(tid: vm.vcpuThreadID) } catch {
            r.notes.append("no context-switch counter on the vCPU thread: \(error)")
        }
        if let m = measureTscOffset(vm) { r.tscOffset = m.offset; r.tscOffsetError = m.error }
        r.exitCalibration = calibrateExits(vm)
        r.notes.append(r.exitCalibration.note(plan: plan))
        return r
    }

    /// Host-mode time per port-I/O exit, measured once per run (§9.6): `HwExitCalibration.exits` exits of the
    /// payload's exit loop timed from the first KVM_RUN to the DONE exit (the guest's own instructions between
    /// two exits are a few cycles, so the time is the exits'). Falls back to `HwExitCalibration.fallbackNs`
    /// when the loop fails, and says so. Then the guest time per branch of the payload's pattern
    /// (`calibratePattern`, falling back to `HwExitCalibration.fallbackPsPerBranch`).
    static func calibrateExits(_ vm: GuestVM) -> HwExitCalibration {
        let n = HwExitCalibration.exits
        let r = vm.runExitLoop(count: n, timeout: .seconds(2))
        let ok = r.status == .ok && r.exits == UInt64(n) && r.elapsedNs > 0
        var c = HwExitCalibration(hostNsPerExit: ok ? max(1, r.elapsedNs / UInt64(n)) : HwExitCalibration.fallbackNs,
                                  measured: ok, coreHz: TscClock.ticksPerMicrosecond &* 1_000_000)
        if let ps = calibratePattern(vm) { c.psPerBranch = ps; c.branchesMeasured = true }
        return c
    }

    /// Guest time per taken branch of the payload's pattern, in picoseconds: `HwExitCalibration.patternBranches`
    /// branches timed by the guest's own TSC reads around them (the guest TSC runs at the host's rate; the
    /// offset cancels). nil when the command fails or the TSC rate is unknown.
    static func calibratePattern(_ vm: GuestVM) -> UInt64? {
        let n = HwExitCalibration.patternBranches
        let r = vm.run(.branchPattern(count: n), timeout: .seconds(2))
        let tpus = TscClock.ticksPerMicrosecond
        guard r.status == .ok, r.tscEnd > r.tscBegin, tpus > 0 else { return nil }
        let (ps, o) = (r.tscEnd - r.tscBegin).multipliedReportingOverflow(by: 1_000_000)
        guard !o else { return nil }
        return max(1, ps / tpus / UInt64(n))
    }

    /// `GuestCommand.hostSampleTime(periods:)` sized into `exitLoop(exits:)` from the period in force and the
    /// calibration (`HostSampling.exits(forPeriods:periodNs:hostNsPerExit:)`), `tracedPattern(periods:)` into
    /// `branchPattern(count:)` from the period and the measured time per branch
    /// (`HostSampling.branches(forPeriods:periodNs:psPerBranch:)`); every other command as is.
    func sized(_ cmd: GuestCommand) -> GuestCommand {
        switch cmd {
        case let .hostSampleTime(p):
            return .exitLoop(exits: HostSampling.exits(forPeriods: p, periodNs: exitCalibration.periodNs(plan.period),
                                                       hostNsPerExit: exitCalibration.hostNsPerExit))
        case let .tracedPattern(p):
            return .branchPattern(count: HostSampling.branches(forPeriods: p, periodNs: exitCalibration.periodNs(plan.period),
                                                               psPerBranch: exitCalibration.psPerBranch))
        default:
            return cmd
        }
    }

    private static func joined(_ parts: [String?]) -> String { parts.compactMap { $0 }.joined(separator: "; ") }

    /// What a guest VM that could not be built means for the scenario: KVM refusing the guest LBR format, or a
    /// missing device or permission, is "not here" (SKIP); anything else is a failure (ERROR).
    static func guestVMFailure(_ error: GuestVMError, cpu: Int) -> BackendError {
        switch error {
        case .perfCapabilitiesRefused:
            return .unsupported(joined(["KVM refuses the guest LBR format: \(error)", corePmuBlocker(cpu: cpu)]))
        case let .system(e) where [ENOENT, EACCES, EPERM, ENOTSUP, ENXIO, ENODEV].contains(e.errno.rawValue):
            return .unsupported("guest VM: \(error)")
        case .system:
            return .failed("guest VM: \(error)")
        }
    }

    /// Why the vCPU has no LBR after set-up, or nil when KVM accepted the LBR format (§2, §1.7).
    static func lbrRefusal(_ s: VcpuSetupReport) -> String? {
        if s.kvmLbrFormat == 0 || s.perfCapabilitiesWritten == nil {
            return "KVM refuses a guest LBR format: \(s.perfCapabilitiesSkipReason ?? "PERF_CAPABILITIES 0x\(String(s.kvmPerfCapabilities ?? 0, radix: 16)) not written") (§2)"
        }
        if (s.perfCapabilitiesWritten ?? 0) & PerfCapabilities.lbrFormatMask != UInt64(s.kvmLbrFormat) {
            return "PERF_CAPABILITIES written with LBR format \(PerfCapabilities.lbrFormat(s.perfCapabilitiesWritten ?? 0)), KVM supports \(LbrFormat(code: s.kvmLbrFormat)) (§2)"
        }
        if !s.guestPdcm { return "guest CPUID lacks PDCM: vcpu_get_perf_capabilities() is 0 (§1.7)" }
        if s.guestLeafAEax & 0xff == 0 { return "guest CPUID.0xA PMU version 0: intel_pmu_refresh() leaves LBR off (§1.7)" }
        if s.guestModel != s.hostModel || s.guestFamily != s.hostFamily {
            return "guest CPUID family/model \(s.guestFamily)/0x\(String(s.guestModel, radix: 16)) differs from the host's \(s.hostFamily)/0x\(String(s.hostModel, radix: 16)): intel_pmu_lbr_is_compatible() fails (§1.7)"
        }
        return nil
    }

    /// "no core PMU: perf_event_open(<attr>) failed with ENOENT …" when hardware events cannot be opened.
    /// Only probes (by opening the default LBR contender) when no core PMU is registered, so an eligible
    /// host's LBR state is not touched before the scenario.
    static func corePmuBlocker(cpu: Int) -> String? {
        if HostContenders.hasCorePmu() { return nil }
        do {
            switch try HostContenders.open(.pinnedLbr, cpu: Int32(cpu)) {
            case let .skipped(reason, _): return reason
            case let .opened(set):
                set.close()
                return nil
            }
        } catch {
            return "no core PMU: \(error)"
        }
    }

    /// Guest TSC − host TSC: a host-initiated KVM_GET_MSRS(IA32_TSC) on the vCPU thread between two host
    /// RDTSCs; the tightest of 5 tries (error ≤ half its window, a few µs unless the machine is loaded).
    static func measureTscOffset(_ vm: GuestVM) -> (offset: Int64, error: UInt64)? {
        var best: (window: UInt64, offset: Int64)?
        for _ in 0..<5 {
            let h0 = hostTimestampCounter()
            guard let g = try? vm.getMsrs([MSR.tsc]).first else { return nil }
            let h1 = hostTimestampCounter()
            let w = h1 &- h0
            if best == nil || w < best!.window { best = (w, Int64(bitPattern: g &- (h0 &+ w / 2))) }
        }
        return best.map { ($0.offset, $0.window / 2 + 1) }
    }

    // MARK: close

    /// Releases everything; returns late kmsg lines. Idempotent.
    func close() -> [TimedObservation] {
        if closed { return [] }
        closed = true
        var late: [TimedObservation] = []
        for c in contenders { c.set.close() }
        contenders = []
        late += kmsgObservations()
        kmsg?.close(); kmsg = nil
        tracer?.close(); tracer = nil
        switches?.close(); switches = nil
        vm.close()
        return late
    }

    // MARK: observations

    private func at(_ o: Observation) -> TimedObservation { TimedObservation(timeNs: monotonicNs(), o, basis: .hardware) }

    /// Kernel lines about guest LBR passthrough since the last poll, through `HwEvidence.kmsgObservations`
    /// (§1.5, §9.4): our vCPU's "fail to passthrough LBR" lines as `.kmsg` unless other VMs could have printed
    /// them, "callbacks suppressed" counts, user-space forgeries as notes; with `reportSilence`, a note that
    /// silence is not evidence.
    func kmsgObservations(reportSilence: Bool = false) -> [TimedObservation] {
        guard let kmsg else { return [] }
        do {
            let entries = try kmsg.poll().map {
                KmsgEntry(isKernel: $0.isKernel, timestampUs: $0.timestampUs, message: $0.message)
            }
            return HwEvidence.kmsgObservations(entries, ourVcpuIds: [Int(GuestVM.vcpuId)], otherVms: otherVms,
                                               view: &shared.kmsgView, reportSilence: reportSilence,
                                               nowUs: monotonicNs() / 1000).map(at)
        } catch {
            return [at(.note("kmsg poll failed: \(error)"))]
        }
    }

    // MARK: host samples

    /// Drains every open contender's rings after a guest command: samples of the vCPU thread inside `window`
    /// are kept, the rest filtered out; the drains wait in `pending` until the contenders are read (§9.1).
    func drainSamples(after window: GuestCommandWindow) -> [TimedObservation] {
        var out: [TimedObservation] = []
        for i in contenders.indices where !contenders[i].set.rings.isEmpty {
            let set = contenders[i].set
            do {
                contenders[i].pending += try set.drainBatches(keep: .windows([window]), cpu: UInt32(cpu))
            } catch {
                out.append(at(.note("drain \(set.contender.name) after the guest command failed: \(error)")))
            }
        }
        return out
    }

    /// The pending drains of contender `i` plus whatever its rings still hold (outside any command window:
    /// filtered out), summarized as `.hostSamples` with the sampling notes — preceded by the raw records when
    /// the run keeps them (`recordSamples`); nothing when the contender has no rings.
    private func reportSamples(_ i: Int) throws(BackendError) -> [TimedObservation] {
        let set = contenders[i].set
        guard !set.rings.isEmpty else { return [] }
        let rest: [HostSampleBatch]
        do { rest = try set.drainBatches(keep: .windows([]), cpu: UInt32(cpu)) } catch {
            throw .failed("drain \(set.contender.name): \(error)")
        }
        let records = set.records(contenders[i].pending + rest, guestRange: vm.payloadRange, exactEdges: true)
        contenders[i].pending = []
        let total = records.summary(guestEdges: GuestPayload.edgeSet)
        var out = recordSamples ? [at(.hostSampleRecords(records))] : []
        out.append(at(.hostSamples(total)))
        out += HwEvidence.samplingNotes(total, maxSampleRate: plan.maxSampleRate).map { at(.note($0)) }
        return out
    }

    // MARK: guest commands

    func guest(_ unsized: GuestCommand, deadlineNs: UInt64, during: HwDuring) throws(BackendError) -> [TimedObservation] {
        let cmd = sized(unsized)
        let now = monotonicNs()
        guard deadlineNs > now else { throw .timeout("deadline passed before guest \(cmd)") }
        let timeout = Duration.nanoseconds(Int64(clamping: deadlineNs - now))
        var out: [TimedObservation] = []
        // Events from before this command (none expected: nothing else runs on the vCPU thread).
        let stale = drainTrace()
        if case let .success(s) = stale, !s.isEmpty {
            out.append(at(.note("\(s.count) kvm_msr event(s) outside any command")))
        }

        let result: GuestResult
        let t0 = monotonicNs()
        insideGuestCommand = true
        defer { insideGuestCommand = false }
        switch during {
        case .none:
            result = vm.run(cmd, timeout: timeout)
        case let .host(action):
            let slot = HwSlot<Result<[TimedObservation], BackendError>>()
            let window = HwSlot<(UInt64, UInt64)>()
            let me = HwUnchecked(value: self)
            result = vm.run(cmd, timeout: timeout, whileRunning: {
                let t0 = hostTimestampCounter()
                do throws(BackendError) { slot.value = .success(try me.value.host(action)) } catch { slot.value = .failure(error) }
                window.value = (t0, hostTimestampCounter())
            })
            switch slot.value {
            case let .success(obs)?: out += obs
            case let .failure(e)?: throw e
            case nil: throw .failed("host action \(action) did not run while the guest ran \(cmd)")
            }
            out.append(at(.hostActionWindow(hostActionWindow(action: action, window: window.value, result: result))))
        case let .preempt(task):
            let p = try preempted(cmd, by: task, timeout: timeout)
            out += p.observations
            result = p.result
        }
        let window = GuestCommandWindow(tid: UInt32(bitPattern: vm.vcpuThreadID), startNs: t0, endNs: monotonicNs())
        out += guestObservations(cmd, result: result)
        out += drainSamples(after: window)
        if seedPending { out.append(at(.note(seedRead()))) }
        return out
    }

    /// `TimingMode.preemption` (§1.6, §8.4): a `CpuHog` pinned to the vCPU's CPU is created parked before the
    /// command (SCHED_FIFO priority 1 when permitted, else with the vCPU thread's scheduling) and woken inside
    /// `whileRunning`, i.e. while the vCPU thread is inside KVM_RUN; reports the vCPU thread's involuntary
    /// context switches and which scheduling the hog got.
    private func preempted(_ cmd: GuestCommand, by task: PreemptingTask,
                           timeout: Duration) throws(BackendError) -> (observations: [TimedObservation], result: GuestResult) {
        let tid = vm.vcpuThreadID
        let taskSlot = HwSlot<Result<HostContenderSet, BackendError>>()
        let prepare: (@Sendable () -> Void)?
        if task == .lbrCallStackTask {
            // §3.4 last bullet / 2018 seed: a host task using LBR call-stack mode, opened on the hog itself.
            prepare = {
                do {
                    switch try HostContenders.open(.lbrCallStackTask, cpu: -1, task: 0) {
                    case let .opened(set): taskSlot.value = .success(set)
                    case let .skipped(reason, _): taskSlot.value = .failure(.unsupported(reason))
                    }
                } catch {
                    taskSlot.value = .failure(.failed("open \(Contender.lbrCallStackTask.name) on the hog: \(error)"))
                }
            }
        } else {
            prepare = nil
        }
        let hog: CpuHog
        do {
            hog = try CpuHog(cpu: cpu, policy: .fifoWhenPermitted(otherwiseLike: tid), busy: .preemption,
                             maxDuration: timeout, prepare: prepare,
                             name: task == .lbrCallStackTask ? "lbrprobe-cstask" : "lbrprobe-hog")
        } catch {
            throw .failed("cpu hog on CPU \(cpu): \(error)")
        }
        var out: [TimedObservation] = []
        var taskSet: HostContenderSet?
        if task == .lbrCallStackTask {
            switch taskSlot.value {
            case let .success(set)?: taskSet = set
            case let .failure(e)?: hog.stop(); throw e
            case nil: hog.stop(); throw .failed("hog did not open \(Contender.lbrCallStackTask.name)")
            }
        }
        let before = try? ThreadContextSwitches.read(tid: tid)
        let total0 = try? switches?.count()
        let result = vm.run(cmd, timeout: timeout, whileRunning: {
            hog.trigger(preempting: tid)
            hog.finish()
        })
        let report = hog.stop()
        let after = try? ThreadContextSwitches.read(tid: tid)
        let total1 = try? switches?.count()
        // The task event's state over its life (the hog thread has exited; the event stays readable), then close it.
        if let taskSet {
            if let obs = try? taskSet.observe(since: []) {
                for (i, o) in obs.enumerated() {
                    out.append(at(o.observation(contender: obs.count > 1 ? "\(taskSet.contender.name).\(i)" : taskSet.contender.name)))
                }
            }
            taskSet.close()
        }
        if let before, let after {
            let d = after - before
            // §8.4: only a sched-out with the vCPU loaded (preemption inside KVM_RUN) flags the PMU cleanup.
            out.append(at(.contextSwitches(Int(clamping: d.nonvoluntary))))
            var n = "vCPU thread \(tid): \(d.nonvoluntary) involuntary, \(d.voluntary) voluntary context switches during guest \(cmd)"
            if let t0 = total0 ?? nil, let t1 = total1 ?? nil { n += " (perf context-switches: \(t1 &- t0))" }
            n += "; \(task) \(report)"
            out.append(at(.note(n)))
        } else {
            out.append(at(.note("vCPU thread context switches unreadable (/proc/self/task/\(tid)/status); \(task) \(report)")))
        }
        return (out, result)
    }

    /// Where the host action fell against the guest command: the action's host-TSC window placed on the guest
    /// TSC line (offset measured at begin) next to the command's guest TSC [begin, end].
    func hostActionWindow(action: HostAction, window: (UInt64, UInt64)?, result: GuestResult) -> HostActionWindow {
        var w = HostActionWindow(action: action, guestTscStart: nil, guestTscEnd: nil,
                                 commandTscBegin: result.tscBegin, commandTscEnd: result.tscEnd, errorTicks: tscOffsetError)
        if let window, let off = tscOffset, result.tscEnd != 0 {
            w.guestTscStart = UInt64(bitPattern: Int64(bitPattern: window.0) &+ off)
            w.guestTscEnd = UInt64(bitPattern: Int64(bitPattern: window.1) &+ off)
        }
        return w
    }

    /// `.msrAccess` (LBR-relevant accesses, trapped from kvm_msr), `.guest`, `.exits`, `.kmsg` for one command.
    func guestObservations(_ cmd: GuestCommand, result: GuestResult) -> [TimedObservation] {
        var out: [TimedObservation] = []
        if tracer != nil, case .success = GuestMailbox.request(for: cmd, layout: layout) {
            switch drainTrace() {
            case let .success(events):
                var lines = KvmMsrTraceLines(events: events,
                                             rdmsrSites: [GuestPayload.rdmsrSite, GuestPayload.probeRdmsrSite],
                                             wrmsrSites: [GuestPayload.wrmsrSite, GuestPayload.probeWrmsrSite])
                let derived = lines.observations(result: result, layout: layout)
                if recordSamples {
                    lines.derived = derived.count
                    out.append(at(.kvmMsrTrace(lines)))
                }
                out += derived.map(at)
            case let .failure(e):
                out.append(at(.note("kvm_msr drain failed: \(e)")))
            }
        }
        out.append(at(.guest(result)))
        if let e = result.exits { out.append(at(.exits(e))) }
        out += kmsgObservations()
        return out
    }

    /// Decoded kvm_msr events since the last drain (a lost-record count is a failure: the detector is blind).
    private func drainTrace() -> Result<[KvmMsrEvent], TracepointError> {
        guard let tracer else { return .success([]) }
        do {
            let d = try tracer.drain()
            if d.lost > 0 {
                return .failure(.tracefs(LinuxError(.noBufferSpace, "kvm_msr ring lost \(d.lost) record(s)")))
            }
            return .success(d.accesses)
        } catch {
            return .failure(error)
        }
    }

    // MARK: host actions

    func host(_ action: HostAction) throws(BackendError) -> [TimedObservation] {
        switch action {
        case let .open(spec):
            guard !contenders.contains(where: { $0.spec == spec }) else { throw .failed("\(spec) is already open") }
            var out: [TimedObservation] = []
            let contender: Contender
            var measured: HostContenderSet?
            switch spec {
            case let .contender(c):
                contender = c
            case .everyCounter:
                // §3.4 (b), measured: the largest set of CPU-pinned counting events that all run (none ERROR, none
                // INACTIVE), starting from CPUID.0xA's counts; whatever else holds counters on this CPU (the
                // hard-lockup detector, the buddy detector's absence, other perf users) is found, not guessed.
                let counters = ArchPerfmonCounters.host()
                let m = try measureExhaustion(gp: counters.generalPurpose, fixed: counters.fixed)
                contender = m.contender
                measured = m.set
                out.append(at(.note("counter-exhaustion-all measured on CPU \(cpu) from CPUID.0xA (PMU version \(counters.version), \(counters.generalPurpose) GP + \(counters.fixed) fixed): \(m.note)")))
            }
            let outcome: HostContenderOutcome
            if let measured {
                outcome = .opened(measured)
            } else {
                do {
                    outcome = try HostContenders.open(contender, cpu: Int32(cpu), task: 0, mapRings: true, ringPages: nil,
                                                      samplePeriod: plan.period, lbrDepth: layout.depth)
                } catch {
                    throw .failed("open \(contender.name): \(error)")
                }
            }
            switch outcome {
            case let .skipped(reason, _):
                throw .unsupported(reason)
            case let .opened(set):
                contenders.append(OpenContender(spec: spec, set: set, previous: []))
                if contender.usesLbr && !set.rings.isEmpty { seedPending = true }
                let rings = set.rings.isEmpty ? "" : ", ring \(set.rings.map { String($0.dataPages) }.joined(separator: "/")) data pages, sample_period \(set.samplePeriod.map(String.init) ?? "?")"
                out.append(at(.note("opened \(contender.name): \(set.events.count) event(s) on \(set.cpu >= 0 ? "CPU \(set.cpu)" : "task \(set.pid)")\(rings)")))
            }
            if seedPending && !insideGuestCommand { out.append(at(.note(seedRead()))) }
            return out
        case let .close(spec):
            guard let i = contenders.firstIndex(where: { $0.spec == spec }) else { throw .failed("\(spec) is not open") }
            var out: [TimedObservation] = []
            if !contenders[i].pending.isEmpty { out += (try? reportSamples(i)) ?? [] }
            let c = contenders.remove(at: i)
            let obs = (try? c.set.observe(since: c.previous)) ?? []
            c.set.close()
            for (k, o) in obs.enumerated() {
                out.append(at(.hostEvent(contender: eventName(c.set, k), state: .closed,
                                         enabledNs: o.reading?.timeEnabled ?? 0, runningNs: o.reading?.timeRunning ?? 0)))
            }
            return out
        case .readContenders:
            var out: [TimedObservation] = []
            for i in contenders.indices {
                let set = contenders[i].set
                let obs: [PerfEventObservation]
                do { obs = try set.observe(since: contenders[i].previous) } catch {
                    throw .failed("read \(set.contender.name): \(error)")
                }
                contenders[i].previous = obs.map(\.reading)
                for (k, o) in obs.enumerated() {
                    out.append(at(o.observation(contender: eventName(set, k))))
                }
                out += try reportSamples(i)
            }
            return out
        case .readKmsg:
            if kmsg == nil { return [at(.note("kmsg not watched"))] }
            return kmsgObservations(reportSilence: true)
        }
    }

    /// The largest counter-exhaustion set that fits on this CPU: opens `gp` GP + `fixed` fixed CPU-pinned counting
    /// events, reads them after a millisecond, and while any is ERROR (read returns 0 bytes) or INACTIVE
    /// (running < enabled) closes the set and tries one GP counter fewer, then one fixed counter fewer. The set
    /// that fits stays open; the note says how many tries it took and what did not fit.
    func measureExhaustion(gp: Int, fixed: Int) throws(BackendError) -> (contender: Contender, set: HostContenderSet, note: String) {
        var g = gp, f = fixed
        var refused: [String] = []
        while g + f > 0 {
            let c = Contender.counterExhaustion(gp: g, fixed: f)
            let outcome: HostContenderOutcome
            do { outcome = try HostContenders.open(c, cpu: Int32(cpu)) } catch { throw .failed("open \(c.name): \(error)") }
            guard case let .opened(set) = outcome else {
                if case let .skipped(reason, _) = outcome { throw .unsupported(reason) }
                throw .failed("open \(c.name)")
            }
            let end = monotonicNs() &+ 1_000_000
            while monotonicNs() < end {}
            let obs = (try? set.observe(since: [])) ?? []
            let bad = obs.filter { $0.state == .error || $0.state == .inactive }.count
            if bad == 0 && obs.count == set.events.count {
                let why = refused.isEmpty ? "all \(gp) GP + \(fixed) fixed counters fit (nothing else holds a counter on this CPU)"
                    : "\(refused.joined(separator: "; ")); \(g) GP + \(f) fixed fit"
                return (c, set, "\(refused.count + 1) tr\(refused.isEmpty ? "y" : "ies"): \(why) → \(c.name): with it the vLBR's event is the one collect_events() refuses at n >= max_count (§3.4)")
            }
            refused.append("\(g) GP + \(f) fixed: \(bad) of \(obs.count) event(s) ERROR or INACTIVE (another counter user on this CPU)")
            set.close()
            if g > 0 { g -= 1 } else { f -= 1 }
        }
        throw .unsupported("counter exhaustion: not even one counting event runs on CPU \(cpu) (\(refused.joined(separator: "; ")))")
    }

    /// The contender's name for a single-event contender, "<name>.<k>" for event k of a multi-event one.
    private func eventName(_ set: HostContenderSet, _ k: Int) -> String {
        set.events.count > 1 ? "\(set.contender.name).\(k)" : set.contender.name
    }
}
