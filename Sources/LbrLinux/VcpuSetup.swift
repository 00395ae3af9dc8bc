import CLbrShim
import LbrCore
import SystemPackage

/// What the vCPU set-up did, step by step (reference §2 "Guest (vCPU) setup order").
public struct VcpuSetupReport: Hashable, Sendable {
    /// Number of CPUID entries given to KVM_SET_CPUID2.
    public var cpuidEntries: Int
    /// Host display family/model (CPUID.1 on the calling CPU) and the guest's (CPUID.1 of the set).
    public var hostFamily: UInt32
    public var hostModel: UInt32
    public var guestFamily: UInt32
    public var guestModel: UInt32
    /// CPUID.1:ECX.PDCM (bit 15) in the guest set.
    public var guestPdcm: Bool
    /// CPUID.0xA EAX in the guest set (bits 7:0 = PMU version), 0 when the leaf is absent/zero.
    public var guestLeafAEax: UInt32
    /// KVM's supported PERF_CAPABILITIES (system KVM_GET_MSRS of 0x345), nil when unreadable.
    public var kvmPerfCapabilities: UInt64?
    /// The value written with host-initiated KVM_SET_MSRS(PERF_CAPABILITIES), nil when skipped.
    public var perfCapabilitiesWritten: UInt64?
    /// Why the PERF_CAPABILITIES step was skipped (nil when it ran).
    public var perfCapabilitiesSkipReason: String?

    /// The LBR format KVM supports for guests (PERF_CAPABILITIES[5:0]); 0 = no guest LBR.
    public var kvmLbrFormat: UInt8 { UInt8((kvmPerfCapabilities ?? 0) & PerfCapabilities.lbrFormatMask) }
}

/// The vCPU set-up order that gives a guest LBR on an eligible Intel host (reference §2).
///
/// 1. KVM_SET_CPUID2 from KVM_GET_SUPPORTED_CPUID, keeping what KVM passes through: host
///    family/model in CPUID.1 EAX (`intel_pmu_lbr_is_compatible()` compares the model, §1.7),
///    PDCM (CPUID.1:ECX[15], without it `vcpu_get_perf_capabilities()` is 0, §1.7) and leaf 0xA
///    (the PMU version; `intel_pmu_refresh()` needs version > 0, §1.7). Also required for direct
///    long mode: KVM_SET_SREGS refuses EFER.LME without CPUID LM.
/// 2. Only then, if KVM supports an LBR format, host-initiated KVM_SET_MSRS of PERF_CAPABILITIES
///    (0x345) with KVM's supported value (what the host exposes; `kvm_get_feature_msr()`, §2):
///    the write triggers `kvm_pmu_refresh()` which evaluates LBR with the CPUID just set. Writing
///    it before the CPUID would be re-evaluated by the CPUID update; guest WRMSR of 0x345 #GPs.
/// 3. The guest then touches DEBUGCTL / LBR MSRs (payload commands).
/// All of it runs on the vCPU thread (§1.2: the vLBR event attaches to `current`).
enum VcpuSetup {
    /// Display family and model from CPUID.1 EAX (SDM vol. 2A, CPUID "Version Information").
    static func familyModel(_ eax: UInt32) -> (family: UInt32, model: UInt32) {
        let base = (eax >> 8) & 0xF
        let family = base == 0xF ? base + ((eax >> 20) & 0xFF) : base
        var model = (eax >> 4) & 0xF
        if base == 0x6 || base == 0xF { model |= ((eax >> 16) & 0xF) << 4 }
        return (family, model)
    }

    static func apply(vcpu: Vcpu, kvm: Kvm, configureGuestLbr: Bool) throws(GuestVMError) -> VcpuSetupReport {
        // §2 step 1: CPUID from KVM_GET_SUPPORTED_CPUID, host family/model, PDCM and leaf 0xA kept.
        let entries = try GuestVMError.system { () throws(LinuxError) in
            let entries = try kvm.supportedCPUID()
            try vcpu.setCpuid2(entries)
            return entries
        }
        let leaf1 = entries.first { $0.leaf == 1 }
        let leafA = entries.first { $0.leaf == 0xA }
        let host = familyModel(lbr_cpuid(1, 0).eax)
        let guest = familyModel(leaf1?.eax ?? 0)
        var report = VcpuSetupReport(cpuidEntries: entries.count, hostFamily: host.family, hostModel: host.model,
                                     guestFamily: guest.family, guestModel: guest.model,
                                     guestPdcm: ((leaf1?.ecx ?? 0) >> 15) & 1 == 1,
                                     guestLeafAEax: leafA?.eax ?? 0)
        // §2 step 2: host-initiated PERF_CAPABILITIES, after CPUID, only if KVM supports an LBR format.
        do {
            report.kvmPerfCapabilities = try kvm.featureMsr(MSR.perfCapabilities)
        } catch {
            report.perfCapabilitiesSkipReason = "system KVM_GET_MSRS(PERF_CAPABILITIES) failed: \(error)"
            return report
        }
        if !configureGuestLbr {
            report.perfCapabilitiesSkipReason = "guest LBR set-up not requested"
        } else if report.kvmLbrFormat == 0 {
            report.perfCapabilitiesSkipReason =
                "KVM supports no guest LBR format (PERF_CAPABILITIES 0x\(String(report.kvmPerfCapabilities ?? 0, radix: 16)))"
        } else if !report.guestPdcm {
            report.perfCapabilitiesSkipReason = "guest CPUID has no PDCM"
        } else {
            let value = report.kvmPerfCapabilities ?? 0
            let n = try GuestVMError.system { () throws(LinuxError) in try vcpu.setMsrs([(MSR.perfCapabilities, value)]) }
            if n != 1 { throw .perfCapabilitiesRefused(value: value) }
            report.perfCapabilitiesWritten = value
        }
        return report
    }
}
