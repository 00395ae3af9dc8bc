// Backend eligibility: a pure decision from a HostProfile.
// The `hw` rules follow docs/reference.md §2 ("Preconditions for a guest to get LBR"),
// §1.10 (no arch LBR virtualization), §6.3 (mediated PMU has no LBR) and §4 (perf permissions).

/// The three backends of `lbrprobe run`.
public enum BackendKind: String, Hashable, Sendable, Codable, CaseIterable {
    /// Real Intel LBR: real perf events + real KVM vLBR.
    case hw
    /// Real KVM guest whose LBR MSR accesses exit to user space and are answered by the kernel model.
    case hybrid
    /// Kernel model only.
    case sim

    /// Whether results come from a kernel model (a model name is then part of every result).
    public var usesModel: Bool { self != .hw }
}

/// A stable identifier for each eligibility finding (JSON `code`).
public enum EligibilityCode: String, Hashable, Sendable, Codable, CaseIterable {
    // hw blockers
    case cpuidUnavailable = "cpuid-unavailable"
    case notIntel = "not-intel"
    case archLbr = "arch-lbr"
    case unknownLbrLayout = "unknown-lbr-layout"
    case noLbrCallStack = "no-lbr-call-stack"
    case kvmUnavailable = "kvm-unavailable"
    case kvmIntelNotLoaded = "kvm-intel-not-loaded"
    case kvmPmuDisabled = "kvm-pmu-disabled"
    case kvmPmuUnknown = "kvm-pmu-unknown"
    case mediatedPmu = "mediated-pmu"
    case kvmNoLbrFormat = "kvm-no-lbr-format"
    case kvmPerfCapsUnknown = "kvm-perf-caps-unknown"
    case kvmNoPdcm = "kvm-no-pdcm"
    case kvmNoArchPmu = "kvm-no-arch-pmu"
    case lbrFormatMismatch = "lbr-format-mismatch"
    case noCorePmu = "no-core-pmu"
    case noBranchSampling = "no-branch-sampling"
    case noPerfmonPrivilege = "no-perfmon-privilege"
    // hybrid blockers
    case noImmediateExit = "no-immediate-exit"
    case noUserSpaceMsr = "no-user-space-msr"
    case noMsrFilter = "no-msr-filter"
    case noHostProfile = "no-host-profile"
    // caveats (do not block)
    case hostLbrFormatUnknown = "host-lbr-format-unknown"
    case firmwareDebugctlLbr = "firmware-debugctl-lbr"
    case nmiWatchdogCounter = "nmi-watchdog-counter"
    case noKvmMsrTracepoint = "no-kvm-msr-tracepoint"
    case ignoreMsrs = "ignore-msrs"
    case nestedVirtualization = "nested-virtualization"
    case noBinaryStats = "no-binary-stats"
    case mediatedParamAbsent = "mediated-param-absent"
    case modelOnly = "model-only"
}

/// Which CPU vendors a finding concerns: KVM's guest LBR exists only in kvm_intel, so on another vendor's
/// CPU the Intel-only findings are consequences of the vendor, not separate problems.
public enum VendorScope: String, Hashable, Sendable, Codable {
    /// Applies on any x86 CPU (KVM, perf, privileges).
    case any
    /// Concerns Intel's LBR or kvm_intel only.
    case intelOnly = "intel-only"
}

extension EligibilityCode {
    /// The vendors this finding concerns.
    public var vendorScope: VendorScope {
        switch self {
        case .archLbr, .unknownLbrLayout, .noLbrCallStack, .kvmIntelNotLoaded, .mediatedPmu, .kvmNoLbrFormat,
             .kvmPerfCapsUnknown, .kvmNoPdcm, .kvmNoArchPmu, .lbrFormatMismatch, .hostLbrFormatUnknown,
             .firmwareDebugctlLbr, .mediatedParamAbsent:
            return .intelOnly
        case .cpuidUnavailable, .notIntel, .kvmUnavailable, .kvmPmuDisabled, .kvmPmuUnknown, .noCorePmu,
             .noBranchSampling, .noPerfmonPrivilege, .noImmediateExit, .noUserSpaceMsr, .noMsrFilter, .noHostProfile,
             .nmiWatchdogCounter, .noKvmMsrTracepoint, .ignoreMsrs, .nestedVirtualization, .noBinaryStats, .modelOnly:
            return .any
        }
    }
}

/// One finding: a blocker ("no, because …") or a caveat ("yes, but …").
public struct EligibilityReason: Hashable, Sendable, Codable, CustomStringConvertible {
    public var code: EligibilityCode
    /// One line with the probed values that led to it.
    public var message: String
    /// The reference section (docs/reference.md) or source it follows.
    public var reference: String

    public init(_ code: EligibilityCode, _ message: String, ref reference: String) {
        self.code = code; self.message = message; self.reference = reference
    }
    public var description: String { "\(message) [\(reference)]" }
    /// The vendors this finding concerns.
    public var vendorScope: VendorScope { code.vendorScope }

    /// `blockers` ordered for reading on this host: when one says the CPU is not Intel, it comes first, then the
    /// vendor-neutral ones, then the Intel-only ones (each flagged: a consequence of the vendor); otherwise as given.
    public static func orderedForHost(_ blockers: [EligibilityReason]) -> [(reason: EligibilityReason, intelOnlyOnThisHost: Bool)] {
        guard let vendor = blockers.first(where: { $0.code == .notIntel }) else { return blockers.map { ($0, false) } }
        let rest = blockers.filter { $0 != vendor }
        return [(vendor, false)] + rest.filter { $0.vendorScope == .any }.map { ($0, false) }
            + rest.filter { $0.vendorScope == .intelOnly }.map { ($0, true) }
    }
}

/// The decision for one backend.
public struct BackendEligibility: Hashable, Sendable, Codable {
    public var backend: BackendKind
    /// Why the backend cannot run here; empty ⇔ eligible.
    public var blockers: [EligibilityReason]
    /// What limits or weakens the backend's evidence without preventing it.
    public var caveats: [EligibilityReason]
    public var eligible: Bool { blockers.isEmpty }

    public init(backend: BackendKind, blockers: [EligibilityReason], caveats: [EligibilityReason]) {
        self.backend = backend; self.blockers = blockers; self.caveats = caveats
    }

    /// Whether a blocker or caveat with `code` is present.
    public func has(_ code: EligibilityCode) -> Bool {
        blockers.contains { $0.code == code } || caveats.contains { $0.code == code }
    }

    private enum CodingKeys: String, CodingKey { case backend, eligible, blockers, caveats }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        backend = try c.decode(BackendKind.self, forKey: .backend)
        blockers = try c.decode([EligibilityReason].self, forKey: .blockers)
        caveats = try c.decode([EligibilityReason].self, forKey: .caveats)
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(backend, forKey: .backend)
        try c.encode(eligible, forKey: .eligible)
        try c.encode(blockers, forKey: .blockers)
        try c.encode(caveats, forKey: .caveats)
    }
}

/// The eligibility rules.
public enum Eligibility {
    /// KVM_CAP names the decisions use (values probed by LbrLinux.HostProbe).
    public static let capImmediateExit = KvmCap.immediateExit.name
    public static let capUserSpaceMsr = KvmCap.x86UserSpaceMsr.name
    public static let capMsrFilter = KvmCap.x86MsrFilter.name
    public static let capBinaryStats = KvmCap.binaryStatsFd.name

    /// Family-6 models with LBR call-stack support in host perf (`LbrLayout.hasCallStack`). KVM ≥ 6.10 requires
    /// it (§2.2); the probed KVM-supported PERF_CAPABILITIES already says whether this KVM does.
    public static func hasLbrCallStack(model: UInt32) -> Bool {
        LbrLayout.forIntel(family: 6, model: model)?.hasCallStack == true
    }

    /// The counter-exhaustion contender for a PMU with `gp` general-purpose and `fixed` fixed counters
    /// (CPUID.0xA) when `/proc/sys/kernel/nmi_watchdog` is `nmiWatchdog` (§3.4 (b), §9.4).
    ///
    /// The vLBR fails to go on when the CPU's x86 event list is full: `collect_events()` refuses an event once
    /// `n >= max_count` (GP + fixed counters). The hard-lockup detector (nmi_watchdog = 1) keeps one CPU-pinned
    /// cycles event on every CPU, so lbrprobe opens one GP counting event fewer: together with the watchdog's
    /// event the list is exactly full, and none of lbrprobe's own events goes to ERROR instead of the vLBR.
    public static func exhaustionContender(gp: Int, fixed: Int, nmiWatchdog: Int?) -> (contender: Contender, note: String) {
        let held = (nmiWatchdog == 1 && gp + fixed > 0) ? 1 : 0
        let g = max(0, gp - held)
        let c = Contender.counterExhaustion(gp: g, fixed: fixed)
        let why = held == 1
            ? "nmi_watchdog=1 holds one counter with its pinned cycles event, so \(g) GP + \(fixed) fixed are free and opened"
            : "nmi_watchdog=\(nmiWatchdog.map(String.init) ?? "unknown"): all \(gp) GP + \(fixed) fixed counters are opened"
        return (c, "counter exhaustion sized from free counters (collect_events refuses at n >= \(gp + fixed)): \(why) → \(c.name) (§3.4)")
    }

    /// All three decisions, in `BackendKind.allCases` order.
    public static func evaluate(_ p: HostProfile) -> [BackendEligibility] {
        [hw(p), hybrid(p), sim(p)]
    }

    /// The decision for `backend`.
    public static func evaluate(_ p: HostProfile, backend: BackendKind) -> BackendEligibility {
        switch backend {
        case .hw: return hw(p)
        case .hybrid: return hybrid(p)
        case .sim: return sim(p)
        }
    }

    // MARK: hw

    /// Real vLBR contention needs every host precondition of reference §2 plus perf branch sampling.
    public static func hw(_ p: HostProfile) -> BackendEligibility {
        var no: [EligibilityReason] = []
        var but: [EligibilityReason] = []
        hwCpu(p, &no, &but)
        hwKvmModule(p, &no, &but)
        let kvmFormat = hwKvmGuestOffer(p, &no)
        hwHostLbrFormat(p, kvmFormat: kvmFormat, &no, &but)
        hwPerf(p, &no, &but)
        return BackendEligibility(backend: .hw, blockers: no, caveats: but)
    }

    /// CPU: Intel, legacy LBR with call stack, no arch LBR (§2.1, §2.2, §1.10).
    private static func hwCpu(_ p: HostProfile, _ no: inout [EligibilityReason], _ but: inout [EligibilityReason]) {
        if let cpu = p.cpu {
            let fms = "family \(cpu.family) model 0x\(hex(cpu.model))"
            if cpu.vendor != .intel {
                var msg = "CPU vendor is \(cpu.vendorString); KVM's guest LBR (vLBR) exists only in kvm_intel"
                if cpu.vendor == .amd {
                    msg += cpu.amdPerfMon?.lbrExtV2 == true
                        ? " (AMD LbrExtV2 is host-only; KVM's LBRV virtualizes just the 4 legacy MSRs 0x1db-0x1de)"
                        : " (AMD LBRV virtualizes only the 4 legacy MSRs 0x1db-0x1de)"
                }
                no.append(.init(.notIntel, msg, ref: "§1, §6.4"))
            } else {
                if cpu.archLbr {
                    no.append(.init(.archLbr, "CPUID.7.0:EDX[19] arch LBR is set: KVM disallows legacy LBR for guests "
                                    + "on arch-LBR hosts and does not virtualize arch LBR", ref: "§1.10, §2.1"))
                } else if LbrLayout.forIntel(family: cpu.family, model: cpu.model) == nil {
                    let name = cpu.family == 6 ? CpuidDecode.intelModelName(cpu.model).map { " (\($0))" } ?? "" : ""
                    no.append(.init(.unknownLbrLayout, "no legacy LBR layout known for \(fms)\(name); "
                                    + "lbrprobe cannot place the guest's LBR stack (LbrLayout table)", ref: "§5, §1.10"))
                } else if !hasLbrCallStack(model: cpu.model) {
                    // Not a blocker: KVM ≥ 6.10 refuses such hosts itself (vmx_get_perf_capabilities zeroes
                    // vmx_lbr_caps without has_callstack) and the probed PERF_CAPABILITIES then shows format 0;
                    // older KVM offers guest LBR here (§2.2).
                    but.append(.init(.noLbrCallStack, "\(fms) has no LBR call-stack mode in host perf: KVM >= 6.10 "
                                     + "offers no guest LBR here (vmx_get_perf_capabilities: !vmx_lbr_caps.has_callstack), "
                                     + "older KVM does and perf cannot save/restore the guest's LBRs as a call stack; "
                                     + "KVM's supported PERF_CAPABILITIES decides", ref: "§2.2"))
                }
                if cpu.hypervisor {
                    but.append(.init(.nestedVirtualization, "CPUID.1:ECX[31] hypervisor bit set: this host is itself "
                                     + "a guest, so its LBR facilities are whatever the outer hypervisor emulates",
                                     ref: "§2"))
                }
            }
        } else {
            no.append(.init(.cpuidUnavailable, "host CPUID could not be read: \(p.cpuid.unavailable?.description ?? "?")",
                            ref: "§2.1"))
        }
    }

    /// KVM: /dev/kvm, kvm_intel, enable_pmu, no mediated PMU (§2.3, §2.4, §6.3).
    private static func hwKvmModule(_ p: HostProfile, _ no: inout [EligibilityReason], _ but: inout [EligibilityReason]) {
        if let u = p.kvm.apiVersion.unavailable {
            no.append(.init(.kvmUnavailable, kvmDeviceUnusable(p.kvm.device, u), ref: "§2"))
        }
        if let mods = p.kvm.modules.value, !mods.contains("kvm_intel") {
            let loaded = mods.isEmpty ? "none" : mods.joined(separator: ", ")
            no.append(.init(.kvmIntelNotLoaded, "kvm_intel is not loaded (KVM modules: \(loaded)); vLBR lives in "
                            + "kvm_intel (vmx/pmu_intel.c)", ref: "§1"))
        }
        switch p.kvm.parameter("kvm", "enable_pmu")?.boolValue {
        case .some(true): break
        case .some(false):
            no.append(.init(.kvmPmuDisabled, "kvm.enable_pmu=N: KVM exposes no vPMU, clears PDCM and reports no "
                            + "PERF_CAPABILITIES (vmx_get_perf_capabilities)", ref: "§2.3"))
        case .none:
            let why = p.kvm.parameter("kvm", "enable_pmu")?.value.unavailable?.description ?? "not probed"
            no.append(.init(.kvmPmuUnknown, "kvm.enable_pmu could not be read (\(why))", ref: "§2.3"))
        }
        if let mediated = p.kvm.parameter("kvm_intel", "enable_mediated_pmu") {
            switch mediated.boolValue {
            case .some(true):
                no.append(.init(.mediatedPmu, "kvm_intel.enable_mediated_pmu=Y: a VM without an in-kernel irqchip, "
                                + "like lbrprobe's, gets no PMU at all (kvm_arch_vcpu_precreate clears enable_pmu); "
                                + "with one, the mediated vPMU advertises no LBR_FMT: no guest LBR either way",
                                ref: "§2.4, §6.3"))
            case .some(false): break
            case .none:
                if p.kvm.modules.value?.contains("kvm_intel") == true {
                    but.append(.init(.mediatedParamAbsent, "kvm_intel.enable_mediated_pmu not present "
                                     + "(\(mediated.value.unavailable?.detail ?? "?")): kernel predates the mediated "
                                     + "vPMU, so it is off", ref: "§2.4"))
                }
            }
        }
    }

    /// What KVM will give a guest: PERF_CAPABILITIES LBR format, PDCM, leaf 0xA (§2 "Reporting").
    private static func hwKvmGuestOffer(_ p: HostProfile, _ no: inout [EligibilityReason]) -> UInt64? {
        let kvmFormat: UInt64?
        switch p.kvm.supportedPerfCapabilities {
        case .value(let caps):
            kvmFormat = caps & PerfCapabilities.lbrFormatMask
            if kvmFormat == 0 {
                no.append(.init(.kvmNoLbrFormat, "KVM-supported PERF_CAPABILITIES = 0x\(hex(caps)): LBR format "
                                + "(bits 5:0) is 0, KVM offers no guest LBR", ref: "§2"))
            }
        case .unavailable(let u):
            kvmFormat = nil
            no.append(.init(.kvmPerfCapsUnknown, "KVM-supported PERF_CAPABILITIES unknown (\(u.detail))", ref: "§2"))
        }
        if let l1 = p.kvm.supportedLeaf(1), l1.ecx & (1 << CpuidDecode.pdcmBit) == 0 {
            no.append(.init(.kvmNoPdcm, "KVM_GET_SUPPORTED_CPUID leaf 1 lacks PDCM (ECX[15]): a guest cannot have "
                            + "PERF_CAPABILITIES", ref: "§1.7, §2"))
        }
        if p.kvm.supportedCpuid.value != nil {
            let version = p.kvm.supportedLeaf(0xa).map { CpuidDecode.archPmu($0).version } ?? 0
            if version == 0 {
                no.append(.init(.kvmNoArchPmu, "KVM_GET_SUPPORTED_CPUID leaf 0xA PMU version is 0: intel_pmu_refresh "
                                + "leaves the guest PMU (and LBR) disabled", ref: "§1.7"))
            }
        }
        return kvmFormat
    }

    /// Host LBR format equal to KVM's (KVM_SET_MSRS rejects any other value, §2 guest setup step 2).
    private static func hwHostLbrFormat(_ p: HostProfile, kvmFormat: UInt64?, _ no: inout [EligibilityReason], _ but: inout [EligibilityReason]) {
        switch p.msr.perfCapabilities {
        case .value(let host):
            let hostFormat = host & PerfCapabilities.lbrFormatMask
            if let kvmFormat, kvmFormat != 0, hostFormat != kvmFormat {
                no.append(.init(.lbrFormatMismatch, "host LBR format \(LbrFormat(code: UInt8(hostFormat))) differs "
                                + "from KVM's \(LbrFormat(code: UInt8(kvmFormat)))", ref: "§2"))
            }
        case .unavailable(let u):
            but.append(.init(.hostLbrFormatUnknown, "host PERF_CAPABILITIES not readable (\(u.detail)): the host "
                             + "and KVM LBR formats cannot be compared, and a firmware-left DEBUGCTL.LBR bit cannot be "
                             + "seen; a mismatch would only show up as a failed KVM_SET_MSRS at vCPU set-up", ref: "§2, §7.1"))
        }
        if let values = p.msr.debugctl.value {
            let set = values.filter { $0.value & DebugCtl.lbr != 0 }.map(\.cpu)
            if !set.isEmpty {
                but.append(.init(.firmwareDebugctlLbr, "DEBUGCTL.LBR is already set on CPU(s) \(set.map(String.init).joined(separator: ",")) "
                                 + "(firmware-left, or a running LBR user): stale records can confuse readback", ref: "§7.1"))
            }
        }
    }

    /// perf: core PMU with branch sampling, privileges (§4).
    private static func hwPerf(_ p: HostProfile, _ no: inout [EligibilityReason], _ but: inout [EligibilityReason]) {
        if let pmu = p.perf.primaryCorePmu {
            switch pmu.branches {
            case .value(let n) where n > 0: break
            case .value(let n):
                no.append(.init(.noBranchSampling, "\(pmu.name)/caps/branches = \(n): perf has no LBR", ref: "§4"))
            case .unavailable(let u):
                no.append(.init(.noBranchSampling, "\(pmu.name)/caps/branches \(u.kind.rawValue): perf has no branch "
                                + "stack sampling on this PMU", ref: "§4"))
            }
        } else {
            let sources = p.perf.eventSources.value.map { $0.joined(separator: ", ") } ?? "unknown"
            no.append(.init(.noCorePmu, "no core PMU (cpu, cpu_core) under /sys/bus/event_source/devices "
                            + "(present: \(sources)): no hardware perf events, no host LBR events", ref: "§4"))
        }
        if !p.privileges.canOpenCpuWideEvents {
            let paranoid = p.perf.perfEventParanoid.value
            if !(p.privileges.isRoot) && (paranoid ?? 2) > 0 {
                no.append(.init(.noPerfmonPrivilege, "neither root nor CAP_PERFMON/CAP_SYS_ADMIN, and "
                                + "perf_event_paranoid=\(paranoid.map(String.init) ?? "?") > 0: CPU-wide LBR events "
                                + "cannot be opened", ref: "§4"))
            }
        }
        if p.perf.nmiWatchdog.value == 1 {
            but.append(.init(.nmiWatchdogCounter, "nmi_watchdog=1 holds a pinned cycles counter on every CPU: one "
                             + "counter fewer for contenders, counter exhaustion opens one GP event fewer "
                             + "(kvm-unit-tests pmu_lbr wants nmi_watchdog=0)", ref: "§8.5, §7.1, §9.4"))
        }
        if p.kvm.parameter("kvm", "ignore_msrs")?.boolValue == true {
            but.append(.init(.ignoreMsrs, "kvm.ignore_msrs=Y: unhandled guest MSR accesses do not #GP, which hides "
                             + "non-LBR MSRs (kvm-unit-tests pmu_lbr wants N)", ref: "§7.1"))
        }
        if p.perf.kvmMsrTracepointId.value == nil {
            but.append(.init(.noKvmMsrTracepoint, "kvm:kvm_msr tracepoint id unavailable (\(p.perf.kvmMsrTracepointId.unavailable?.detail ?? "?")): "
                             + "no host-side passthrough detector", ref: "conventions: kvm_msr"))
        }
        if let v = p.kvm.capability(capBinaryStats)?.value.value, v == 0 {
            but.append(.init(.noBinaryStats, "KVM_CAP_BINARY_STATS_FD = 0: no per-vCPU exit counters", ref: "api.rst"))
        }
    }

    // MARK: hybrid

    /// A real KVM guest whose LBR MSR accesses are filtered to user space (KVM_X86_SET_MSR_FILTER +
    /// KVM_CAP_X86_USER_SPACE_MSR) and kicked with immediate_exit.
    /// "/dev/kvm unusable (open(/dev/kvm): EACCES ...)", with what to do when this user may not open it
    /// (EACCES/EPERM: the device belongs to group kvm on Debian, Fedora and Ubuntu).
    static func kvmDeviceUnusable(_ device: String, _ u: Unavailable) -> String {
        let fix = u.errno == 13 || u.errno == 1
            ? ": this user may not open it; add the user to the group owning it (usually kvm: `sudo usermod -aG kvm $USER`, "
                + "then log in again) or run as root" : ""
        return "\(device) unusable (\(u.detail))\(fix)"
    }

    public static func hybrid(_ p: HostProfile) -> BackendEligibility {
        var no: [EligibilityReason] = []
        if let u = p.kvm.apiVersion.unavailable {
            no.append(.init(.kvmUnavailable, kvmDeviceUnusable(p.kvm.device, u), ref: "api.rst"))
            return BackendEligibility(backend: .hybrid, blockers: no, caveats: [])
        }
        // KVM_CHECK_EXTENSION returns 1 for all three (x86.c kvm_vm_ioctl_check_extension); the exit-reason
        // mask (INVAL|UNKNOWN|FILTER) is chosen later with KVM_ENABLE_CAP by the hybrid backend.
        func need(_ name: String, _ code: EligibilityCode, _ why: String) {
            switch p.kvm.capability(name)?.value {
            case .value(let v) where v != 0: break
            case .value(let v):
                no.append(.init(code, "\(name) = \(v): \(why)", ref: "api.rst"))
            case .unavailable(let u):
                no.append(.init(code, "\(name) unknown (\(u.detail)): \(why)", ref: "api.rst"))
            case nil:
                no.append(.init(code, "\(name) not probed: \(why)", ref: "api.rst"))
            }
        }
        need(capImmediateExit, .noImmediateExit, "a vCPU past its deadline cannot be kicked out of KVM_RUN")
        need(capUserSpaceMsr, .noUserSpaceMsr, "guest LBR MSR accesses cannot exit to user space")
        need(capMsrFilter, .noMsrFilter, "the LBR MSRs cannot be routed to the model")
        var but: [EligibilityReason] = [
            .init(.modelOnly, "host perf and KVM's vLBR are played by the kernel model; only the guest is real", ref: "§8"),
        ]
        if let v = p.kvm.capability(capBinaryStats)?.value.value, v == 0 {
            but.append(.init(.noBinaryStats, "KVM_CAP_BINARY_STATS_FD = 0: no per-vCPU exit counters", ref: "api.rst"))
        }
        return BackendEligibility(backend: .hybrid, blockers: no, caveats: but)
    }

    // MARK: sim

    /// The kernel model alone: always possible.
    public static func sim(_ p: HostProfile) -> BackendEligibility {
        BackendEligibility(backend: .sim, blockers: [], caveats: [
            .init(.modelOnly, "everything is the kernel model; verdicts say what mainline source predicts", ref: "§8"),
        ])
    }

    static func hex<T: BinaryInteger>(_ v: T) -> String { String(v, radix: 16) }
}
