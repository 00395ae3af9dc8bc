import Testing
@testable import LbrCore

@Suite struct LayoutTests {
    @Test func skylakeLayoutFollowsIntelPmuLbrInitSkl() {
        // Reference §5: Skylake+ has 32 entries at 0x680/0x6c0 with LBR_INFO at 0xdc0.
        let l = LbrLayout.forIntel(family: 6, model: 0x55)
        #expect(l == .skylake)
        #expect(l?.depth == 32)
        #expect(l?.isLbrMsr(0x680) == true)
        #expect(l?.isLbrMsr(0x69f) == true)
        #expect(l?.isLbrMsr(0x6a0) == false)
        #expect(l?.isLbrMsr(MSR.lbrTos) == true)
        #expect(l?.isLbrMsr(MSR.debugctl) == false) // §1.3: DEBUGCTL is not an LBR MSR for KVM
        #expect(l?.isLbrMsr(MSR.lastBranchFromIP) == false)
    }

    @Test func tremontFollowsIntelPmuLbrInitSkl() {
        // §5: intel_pmu_init() calls intel_pmu_lbr_init_skl() for Tremont D (0x86), Tremont (0x96), Tremont L (0x9c).
        for m: UInt32 in [0x86, 0x96, 0x9c] {
            let l = LbrLayout.forIntel(family: 6, model: m)
            #expect(l == .skylake)
            #expect(l?.depth == 32 && l?.info == MSR.lbrInfo0 && l?.hasCallStack == true)
            #expect(CpuidDecode.intelModelName(m) == "Tremont")
        }
    }

    @Test func amdAndUnknownModelsHaveNoLegacyLayout() {
        #expect(LbrLayout.forIntel(family: 25, model: 1) == nil)
        #expect(LbrLayout.forIntel(family: 6, model: 0x8f) == nil) // Sapphire Rapids: arch LBR
    }

    @Test func lbrFormatNames() {
        #expect(PerfCapabilities.lbrFormat(0x3fc5).name == "LBR_FORMAT_INFO")
        #expect(LbrFormat(code: 0x3f).name == "ARCH_LBR")
    }
}

@Suite struct CallStackTests {
    @Test func callStackFollowsLbrInitHswAndSkl() {
        // Reference §2.2: KVM needs host LBR call-stack support (Haswell+: intel_pmu_lbr_init_hsw/_skl).
        #expect(LbrLayout.forIntel(family: 6, model: 0x3c)?.hasCallStack == true)   // Haswell
        #expect(LbrLayout.forIntel(family: 6, model: 0x55)?.hasCallStack == true)   // Skylake-SP
        #expect(LbrLayout.forIntel(family: 6, model: 0x2a)?.hasCallStack == false)  // SandyBridge
        #expect(LbrLayout.forIntel(family: 6, model: 0x3c)?.isLbrMsr(MSR.lbrNhmFrom + 15) == true)
    }
}
