// Recorded host profiles: fixtures for the eligibility rules and reports on hosts we do not have.
// Register values follow the SDM encodings and the kernel behaviour in the reference; they are shaped
// after real hosts of each kind, not captured byte-for-byte. Test-only (LbrTestSupport).

import LbrCore

/// Recorded `HostProfile` fixtures.
public enum RecordedProfiles {
    /// Skylake-SP (family 6 model 0x55), legacy LBR format 5 (LBR_FORMAT_INFO), kernel 6.8, enable_pmu=Y,
    /// no mediated PMU, perf `cpu` PMU with 32 branches, root. Every hw precondition holds.
    public static var skylakeSP: HostProfile {
        intel(model: 0x55, stepping: 4, hostPerfCaps: 0x33c5, kvmPerfCaps: 0x2005, kernel: "6.8.0-45-generic")
    }

    /// Sapphire Rapids (model 0x8f): arch LBR (CPUID.7.0:EDX[19], leaf 0x1C depths 8..32); host
    /// PERF_CAPABILITIES LBR format 0x3f; KVM advertises no LBR format (§1.10).
    public static var sapphireRapids: HostProfile {
        var p = intel(model: 0x8f, stepping: 8, hostPerfCaps: 0x3f | 0x2000 | 0x4000, kvmPerfCaps: 0x2000,
                      kernel: "6.8.0-45-generic", archLbr: true)
        p.perf.corePmus = [CorePmu(name: "cpu", type: .value(4), branches: .value(32), maxPrecise: .value(3))]
        return p
    }

    /// Ice Lake-SP (model 0x6a) with kvm.enable_pmu=N: KVM reports PERF_CAPABILITIES 0, no PDCM, leaf 0xA zero.
    public static var iceLakeEnablePmuOff: HostProfile {
        var p = intel(model: 0x6a, stepping: 6, hostPerfCaps: 0x33c5, kvmPerfCaps: 0, kernel: "6.6.30", kvmPmu: false)
        p.kvm.parameters = params(enablePmu: "N", mediated: nil)
        return p
    }

    /// Ice Lake-SP (model 0x6a), kernel 7.0 with kvm_intel.enable_mediated_pmu=Y: the mediated vPMU does
    /// not advertise LBR_FMT (§6.3), so KVM's supported PERF_CAPABILITIES has LBR format 0.
    public static var iceLakeMediated: HostProfile {
        var p = intel(model: 0x6a, stepping: 6, hostPerfCaps: 0x33c5, kvmPerfCaps: 0x2000, kernel: "7.0.0")
        p.kvm.parameters = params(enablePmu: "Y", mediated: "Y")
        return p
    }

    /// AMD Zen 4 (Genoa, family 0x19 model 0x11) with LbrExtV2 (CPUID 0x80000022 EAX[1]), kvm_amd.lbrv=1.
    /// PERF_CAPABILITIES does not exist on AMD (rdmsr of 0x345 → EIO).
    public static var amdZen4: HostProfile {
        let cpuid: [CpuidEntry] = [
            CpuidDecode.leaf0(vendor: "AuthenticAMD", maxLeaf: 0x10),
            CpuidEntry(leaf: 1, eax: CpuidDecode.signatureEAX(family: 0x19, model: 0x11, stepping: 1),
                       ebx: 0x0080_0800, ecx: 0x7ef8_3203, edx: 0x178b_fbff),
            CpuidEntry(leaf: 7, eax: 1, ebx: 0xf1bf_97a9, ecx: 0x0040_5fce, edx: 0x1000_0010),
            CpuidEntry(leaf: 0xa, eax: 0, ebx: 0, ecx: 0, edx: 0),
            CpuidEntry(leaf: 0x8000_0000, eax: 0x8000_0028, ebx: 0, ecx: 0, edx: 0),
            CpuidEntry(leaf: 0x8000_0022, eax: 0x7, ebx: (16 << 4) | 6, ecx: 0, edx: 0),
        ]
        let supported: [CpuidEntry] = [
            CpuidEntry(leaf: 1, eax: cpuid[1].eax, ebx: 0, ecx: 0xf6f8_3203, edx: 0x178b_fbff),
            CpuidEntry(leaf: 7, eax: 1, ebx: 0xf1bf_97a9, ecx: 0x0040_5f4e, edx: 0x1000_0010),
            CpuidEntry(leaf: 0x8000_0022, eax: 0x1, ebx: 6, ecx: 0, edx: 0),
        ]
        return HostProfile(
            cpuid: .value(cpuid),
            perf: PerfFacts(eventSources: .value(["amd_iommu_0", "breakpoint", "cpu", "ibs_fetch", "ibs_op", "msr",
                                                  "power", "software", "tracepoint", "uprobe"]),
                            corePmus: [CorePmu(name: "cpu", type: .value(4), branches: .value(16),
                                               maxPrecise: .value(0))],
                            perfEventParanoid: .value(2), nmiWatchdog: .value(0),
                            tracefsMount: .value("/sys/kernel/tracing"), tracefsMountedByProbe: false,
                            kvmMsrTracepointId: .value(1771)),
            msr: MsrFacts(cpu: 0,
                          perfCapabilities: .unavailable(Unavailable(.unreadable,
                              "pread(/dev/cpu/0/msr, 0x345): MSR not implemented on this CPU", errno: 5)),
                          debugctl: .value((0..<4).map { CpuMsrValue(cpu: $0, value: 0) })),
            kvm: KvmFacts(device: "/dev/kvm", apiVersion: .value(12), capabilities: allCaps(value: 1, userSpaceMsr: 1),
                          featureMsrs: .value([0x10a, 0x345, 0xc001_1029]), supportedPerfCapabilities: .value(0),
                          supportedCpuid: .value(supported), modules: .value(["kvm", "kvm_amd"]),
                          parameters: [
                            ModuleParam(module: "kvm", name: "enable_pmu", value: .value("Y")),
                            ModuleParam(module: "kvm", name: "ignore_msrs", value: .value("N")),
                            ModuleParam(module: "kvm_amd", name: "lbrv", value: .value("1")),
                            ModuleParam(module: "kvm_amd", name: "enable_mediated_pmu",
                                        value: .unavailable(.absent("/sys/module/kvm_amd/parameters/enable_mediated_pmu does not exist"))),
                          ]),
            topology: TopologyFacts(onlineCpus: .value(Array(0..<4)),
                                    numaNodes: .value([NumaNodeCpus(node: 0, cpus: Array(0..<4))])),
            privileges: PrivilegeFacts(euid: 0, effectiveCapabilities: .value(0x1ff_ffff_ffff)),
            kernelRelease: .value("6.8.0-45-generic"))
    }

    /// Sandy Bridge-EP (model 0x2d, LBR format 3 = EIP_FLAGS, 16 entries, no LBR call-stack mode in host perf)
    /// on kernel 6.9: KVM before 6.10 still offers guest LBR here (vmx_get_perf_capabilities has no
    /// has_callstack check), so the supported PERF_CAPABILITIES carries format 3 and hw is eligible (§2.2).
    public static var sandyBridgeKvm69: HostProfile {
        intel(model: 0x2d, stepping: 7, hostPerfCaps: 0x11c3, kvmPerfCaps: 0x2003, kernel: "6.9.12")
    }

    /// The same Sandy Bridge-EP on kernel 6.12: KVM ≥ 6.10 zeroes `vmx_lbr_caps` without `has_callstack`, so
    /// its supported PERF_CAPABILITIES has LBR format 0 — KVM itself refuses (§2.2).
    public static var sandyBridgeKvm612: HostProfile {
        intel(model: 0x2d, stepping: 7, hostPerfCaps: 0x11c3, kvmPerfCaps: 0x2000, kernel: "6.12.30")
    }

    /// Tremont (Snow Ridge, model 0x86), kernel 6.12: `intel_pmu_init()` uses `intel_pmu_lbr_init_skl()` for
    /// Tremont (32 entries at 0x680/0x6c0, LBR_INFO at 0xdc0), so the Skylake layout applies (§5).
    public static var tremontSnowRidge: HostProfile {
        intel(model: 0x86, stepping: 7, hostPerfCaps: 0x32c5, kvmPerfCaps: 0x2005, kernel: "6.12.30")
    }

    /// Every recorded profile with a short name (for table-driven tests).
    public static var all: [(name: String, profile: HostProfile)] {
        [("skylake-sp", skylakeSP), ("sapphire-rapids", sapphireRapids), ("icelake-enable-pmu-off", iceLakeEnablePmuOff),
         ("icelake-mediated", iceLakeMediated), ("amd-zen4", amdZen4), ("sandybridge-kvm-6.9", sandyBridgeKvm69),
         ("sandybridge-kvm-6.12", sandyBridgeKvm612), ("tremont-snowridge", tremontSnowRidge)]
    }

    // MARK: builders

    static func allCaps(value: Int32, userSpaceMsr: Int32) -> [KvmCapValue] {
        [(KvmCap.immediateExit, value), (.x86UserSpaceMsr, userSpaceMsr), (.x86MsrFilter, value),
         (.binaryStatsFd, value), (.pmuCapability, value), (.getMsrFeatures, value)]
            .map { KvmCapValue(name: $0.0.name, number: $0.0.rawValue, value: .value($0.1)) }
    }

    static func params(enablePmu: String, mediated: String?) -> [ModuleParam] {
        [ModuleParam(module: "kvm", name: "enable_pmu", value: .value(enablePmu)),
         ModuleParam(module: "kvm", name: "ignore_msrs", value: .value("N")),
         ModuleParam(module: "kvm_intel", name: "enable_mediated_pmu",
                     value: mediated.map { .value($0) }
                        ?? .unavailable(.absent("/sys/module/kvm_intel/parameters/enable_mediated_pmu does not exist")))]
    }

    static func intel(model: UInt32, stepping: UInt32, hostPerfCaps: UInt64, kvmPerfCaps: UInt64, kernel: String,
                      archLbr: Bool = false, kvmPmu: Bool = true) -> HostProfile {
        let leaf1ecx: UInt32 = 0x7ffe_fbff   // PDCM (bit 15) set, hypervisor (bit 31) clear
        let leaf7edx: UInt32 = 0xbc00_0000 | (archLbr ? 1 << 19 : 0)
        var cpuid: [CpuidEntry] = [
            CpuidDecode.leaf0(vendor: "GenuineIntel", maxLeaf: archLbr ? 0x20 : 0x16),
            CpuidEntry(leaf: 1, eax: CpuidDecode.signatureEAX(family: 6, model: model, stepping: stepping),
                       ebx: 0x0010_0800, ecx: leaf1ecx, edx: 0xbfeb_fbff),
            CpuidEntry(leaf: 7, eax: 0, ebx: 0xd39f_fffb, ecx: 0x0000_0818, edx: leaf7edx),
            CpuidEntry(leaf: 0xa, eax: model == 0x55 ? 0x0730_0804 : 0x0830_0805, ebx: 0, ecx: 0, edx: 0x8603),
            CpuidEntry(leaf: 0x8000_0000, eax: 0x8000_0008, ebx: 0, ecx: 0, edx: 0),
        ]
        if archLbr { cpuid.append(CpuidEntry(leaf: 0x1c, eax: 0x4000_000f, ebx: 0x7, ecx: 0x7, edx: 0)) }
        let supported: [CpuidEntry] = [
            CpuidEntry(leaf: 1, eax: cpuid[1].eax, ebx: 0, ecx: kvmPmu ? 0xf7fa_b223 : 0xf7fa_b223 & ~(1 << 15),
                       edx: 0x0f8b_fbff),
            CpuidEntry(leaf: 7, eax: 0, ebx: 0xd19f_4fbb, ecx: 0x0000_0818, edx: 0xbc00_0000),
            CpuidEntry(leaf: 0xa, eax: kvmPmu ? 0x0830_0802 : 0, ebx: 0, ecx: 0, edx: kvmPmu ? 0x8603 : 0),
        ]
        let cpus = Array(0..<8)
        return HostProfile(
            cpuid: .value(cpuid),
            perf: PerfFacts(eventSources: .value(["breakpoint", "cpu", "cstate_core", "intel_pt", "msr", "power",
                                                  "software", "tracepoint", "uncore_imc_0", "uprobe"]),
                            corePmus: [CorePmu(name: "cpu", type: .value(4), branches: .value(32),
                                               maxPrecise: .value(3))],
                            perfEventParanoid: .value(2), nmiWatchdog: .value(0),
                            tracefsMount: .value("/sys/kernel/tracing"), tracefsMountedByProbe: false,
                            kvmMsrTracepointId: .value(1771)),
            msr: MsrFacts(cpu: 0, perfCapabilities: .value(hostPerfCaps),
                          debugctl: .value(cpus.map { CpuMsrValue(cpu: $0, value: 0) })),
            kvm: KvmFacts(device: "/dev/kvm", apiVersion: .value(12),
                          capabilities: allCaps(value: 1, userSpaceMsr: 1),
                          featureMsrs: .value([0x8b, 0x10a, 0x345, 0x480]),
                          supportedPerfCapabilities: .value(kvmPerfCaps),
                          supportedCpuid: .value(supported), modules: .value(["kvm", "kvm_intel"]),
                          parameters: params(enablePmu: kvmPmu ? "Y" : "N", mediated: nil)),
            topology: TopologyFacts(onlineCpus: .value(cpus),
                                    numaNodes: .value([NumaNodeCpus(node: 0, cpus: Array(0..<4)),
                                                       NumaNodeCpus(node: 1, cpus: Array(4..<8))])),
            privileges: PrivilegeFacts(euid: 0, effectiveCapabilities: .value(0x1ff_ffff_ffff)),
            kernelRelease: .value(kernel))
    }
}
