import LbrTestSupport
import Testing
@testable import LbrCore

@Suite struct CpuidDecodeTests {
    @Test(arguments: [
        // (CPUID.1:EAX, family, model, stepping)
        (UInt32(0x0005_0654), UInt32(6), UInt32(0x55), UInt32(4)),   // Skylake-SP
        (0x0006_06a6, 6, 0x6a, 6),                                    // Ice Lake-SP
        (0x0008_06f8, 6, 0x8f, 8),                                    // Sapphire Rapids
        (0x000c_06f2, 6, 0xcf, 2),                                    // Emerald Rapids
        (0x00a1_0f11, 0x19, 0x11, 1),                                 // Zen 4 (Genoa): ext family 0xa + 0xf
        (0x0080_0f12, 0x17, 0x01, 2),                                 // Zen 1: ext family 8
        (0x0000_0f4a, 0x0f, 0x04, 0xa),                               // family 0xF, no extension
        (0x0001_0543, 5, 0x4, 3),                                     // base family 5: extended model ignored
    ])
    func signatureAppliesExtendedFamilyAndModelRules(eax: UInt32, family: UInt32, model: UInt32, stepping: UInt32) {
        let s = CpuidDecode.signature(eax: eax)
        #expect(s.family == family)
        #expect(s.model == model)
        #expect(s.stepping == stepping)
        // The fixture encoder is the inverse for canonical encodings.
        if !(family == 5 && eax >> 16 != 0) {
            #expect(CpuidDecode.signatureEAX(family: family, model: model, stepping: stepping) == eax & 0x0fff_3fff)
        }
    }

    @Test func vendorStringFromRealRegisterOrder() {
        // CPUID.0 on an Intel part: EBX "Genu", EDX "ineI", ECX "ntel".
        let e = CpuidEntry(leaf: 0, eax: 0x1c, ebx: 0x756e_6547, ecx: 0x6c65_746e, edx: 0x4965_6e69)
        #expect(CpuidDecode.vendorString(e) == "GenuineIntel")
        #expect(CpuidDecode.vendor(of: "GenuineIntel") == .intel)
        #expect(CpuidDecode.vendor(of: "AuthenticAMD") == .amd)
        #expect(CpuidDecode.leaf0(vendor: "AuthenticAMD", maxLeaf: 0x10) ==
                CpuidEntry(leaf: 0, eax: 0x10, ebx: 0x6874_7541, ecx: 0x444d_4163, edx: 0x6974_6e65))
    }

    @Test func leafAIsDecodedFieldByField() {
        let pmu = CpuidDecode.archPmu(CpuidEntry(leaf: 0xa, eax: 0x0730_0804, ebx: 0x10, ecx: 0, edx: 0x0603))
        #expect(pmu == ArchPmuInfo(version: 4, gpCounters: 8, gpWidth: 48, eventVectorLength: 7,
                                   unavailableEventsMask: 0x10, fixedCounters: 3, fixedWidth: 48))
    }

    @Test func leaf1CDepthBitmapFollowsPerf() {
        // intel_pmu_arch_lbr_init: depth = 8 * (i + 1) per set bit; max = fls(mask) * 8.
        let info = CpuidDecode.archLbr(CpuidEntry(leaf: 0x1c, eax: 0x4000_000f, ebx: 0x4, ecx: 0, edx: 0))
        #expect(info.depths == [8, 16, 24, 32])
        #expect(info.maxDepth == 32)
        #expect(info.deepCStateReset)
        #expect(!info.lip)
        #expect(info.callStack)
        #expect(CpuidDecode.archLbr(CpuidEntry(leaf: 0x1c, eax: 0x80, ebx: 0, ecx: 0, edx: 0)).depths == [64])
    }

    @Test func amdLeaf80000022() {
        let a = CpuidDecode.amdPerfMon(CpuidEntry(leaf: 0x8000_0022, eax: 0x7, ebx: 0x106, ecx: 0, edx: 0))
        #expect(a.perfMonV2 && a.lbrExtV2 && a.lbrAndPmcFreeze)
        #expect(a.coreCounters == 6)
        #expect(a.lbrStackSize == 16)
    }

    @Test func flagBitsAreTheDocumentedOnes() {
        var leaves = [CpuidDecode.leaf0(vendor: "GenuineIntel", maxLeaf: 0x1c),
                      CpuidEntry(leaf: 1, eax: 0x806f8, ebx: 0, ecx: 1 << 15 | 1 << 31, edx: 0),
                      CpuidEntry(leaf: 7, eax: 0, ebx: 0, ecx: 0, edx: 1 << 15 | 1 << 19),
                      CpuidEntry(leaf: 0x1c, eax: 0x3, ebx: 0, ecx: 0, edx: 0)]
        var c = CpuidDecode.decode(leaves)
        #expect(c.pdcm && c.hypervisor && c.hybrid && c.archLbr)
        #expect(c.archLbrInfo?.depths == [8, 16])
        leaves[1].ecx = 1 << 14
        leaves[2].edx = 1 << 18 | 1 << 20
        c = CpuidDecode.decode(leaves)
        #expect(!c.pdcm && !c.hypervisor && !c.hybrid && !c.archLbr)
        #expect(c.archLbrInfo == nil)
    }

    @Test func leavesAboveTheMaximumAreIgnored() {
        // Max basic leaf 1: a leaf-7 entry (arch LBR bit set) must not be trusted.
        let c = CpuidDecode.decode([CpuidDecode.leaf0(vendor: "GenuineIntel", maxLeaf: 1),
                                    CpuidEntry(leaf: 1, eax: 0x50654, ebx: 0, ecx: 0, edx: 0),
                                    CpuidEntry(leaf: 7, eax: 0, ebx: 0, ecx: 0, edx: 1 << 19),
                                    CpuidEntry(leaf: 0x8000_0000, eax: 0x8000_0008, ebx: 0, ecx: 0, edx: 0),
                                    CpuidEntry(leaf: 0x8000_0022, eax: 2, ebx: 0, ecx: 0, edx: 0)])
        #expect(!c.archLbr)
        #expect(c.archPmu == nil)
        #expect(c.amdPerfMon == nil)
    }

    @Test func recordedProfilesDecodeToWhatTheyClaim() {
        #expect(RecordedProfiles.skylakeSP.cpu?.model == 0x55)
        #expect(RecordedProfiles.skylakeSP.cpu?.archPmu?.version == 4)
        #expect(RecordedProfiles.sapphireRapids.cpu?.archLbr == true)
        #expect(RecordedProfiles.sapphireRapids.cpu?.archLbrInfo?.maxDepth == 32)
        let zen = RecordedProfiles.amdZen4.cpu
        #expect(zen?.vendor == .amd)
        #expect(zen?.family == 0x19)
        #expect(zen?.model == 0x11)
        #expect(zen?.amdPerfMon?.lbrExtV2 == true)
    }

    @Test func kernelTextParsers() {
        #expect(KernelText.cpuList("0-3,8,10-11\n") == [0, 1, 2, 3, 8, 10, 11])
        #expect(KernelText.cpuList("") == [])
        #expect(KernelText.cpuList("3-1") == nil)
        #expect(KernelText.cpuList("a") == nil)
        #expect(KernelText.formatCpuList([11, 0, 1, 2, 3, 8, 10]) == "0-3,8,10-11")
        #expect(KernelText.capEff(fromStatus: "Name:\tx\nCapEff:\t000001fffeffffff\n") == 0x1ff_feff_ffff)
        #expect(KernelText.capEff(fromStatus: "Name:\tx\n") == nil)
        #expect(KernelText.tracefsMount(fromMounts: "proc /proc proc rw 0 0\nnodev /sys/kernel/tracing tracefs rw 0 0\n")
                == "/sys/kernel/tracing")
        #expect(KernelText.tracefsMount(fromMounts: "proc /proc proc rw 0 0\n") == nil)
    }
}
