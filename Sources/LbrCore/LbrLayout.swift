// The LBR MSR layout per CPU model: the one table lbrprobe uses to know where a
// host's (and so a guest's) LBR stack lives. Derived from the per-model init
// functions in arch/x86/events/intel/lbr.c and core.c (reference §5).

/// Where an LBR stack lives: depth and the MSR bases of its FROM/TO/INFO arrays.
public struct LbrLayout: Hashable, Sendable, Codable {
    public var depth: Int
    public var tos: UInt32
    public var select: UInt32
    public var from: UInt32
    public var to: UInt32
    /// Base of LBR_INFO MSRs, or nil when the format has none.
    public var info: UInt32?
    /// Which kernel init function this layout follows.
    public var source: String
    /// Whether host perf supports LBR call-stack mode on this layout (`lbr_sel_map` with CALL_STACK:
    /// `intel_pmu_lbr_init_hsw` and `_skl`). KVM ≥ 6.10 requires it to virtualize LBR (`vmx_get_perf_capabilities`
    /// zeroes `vmx_lbr_caps` without `has_callstack`, docs/reference.md §2.2); older KVM does not. Informational:
    /// the probed KVM-supported PERF_CAPABILITIES decides eligibility.
    public var hasCallStack: Bool

    public init(depth: Int, from: UInt32, to: UInt32, info: UInt32?, source: String, hasCallStack: Bool = false,
                tos: UInt32 = MSR.lbrTos, select: UInt32 = MSR.lbrSelect) {
        self.depth = depth; self.from = from; self.to = to; self.info = info
        self.source = source; self.hasCallStack = hasCallStack; self.tos = tos; self.select = select
    }

    /// Whether `index` is an LBR MSR of this layout in the sense of KVM's
    /// `intel_pmu_is_valid_lbr_msr()` (§1.3): LBR_SELECT, LBR_TOS, FROM/TO/INFO ranges.
    /// DEBUGCTL and 0x1db..0x1de are not LBR MSRs for KVM.
    public func isLbrMsr(_ index: UInt32) -> Bool {
        if index == select || index == tos { return true }
        let n = UInt32(depth)
        if index >= from && index < from + n { return true }
        if index >= to && index < to + n { return true }
        if let info, index >= info && index < info + n { return true }
        return false
    }

    /// Every LBR MSR of this layout, in the order KVM toggles their intercepts (§1.5).
    public var allMsrs: [UInt32] {
        var out: [UInt32] = []
        for i in 0..<UInt32(depth) {
            out.append(from + i); out.append(to + i)
            if let info { out.append(info + i) }
        }
        out.append(select); out.append(tos)
        return out
    }

    /// The TOS mask: depth is a power of two on every legacy layout.
    public var tosMask: UInt64 { UInt64(depth - 1) }

    // MARK: the table

    public static let core = LbrLayout(depth: 4, from: MSR.lbrCoreFrom, to: MSR.lbrCoreTo, info: nil,
                                       source: "intel_pmu_lbr_init_core")
    public static let atom = LbrLayout(depth: 8, from: MSR.lbrCoreFrom, to: MSR.lbrCoreTo, info: nil,
                                       source: "intel_pmu_lbr_init_atom/slm")
    public static let nehalem = LbrLayout(depth: 16, from: MSR.lbrNhmFrom, to: MSR.lbrNhmTo, info: nil,
                                          source: "intel_pmu_lbr_init_nhm/snb")
    public static let haswell = LbrLayout(depth: 16, from: MSR.lbrNhmFrom, to: MSR.lbrNhmTo, info: nil,
                                          source: "intel_pmu_lbr_init_hsw", hasCallStack: true)
    public static let skylake = LbrLayout(depth: 32, from: MSR.lbrNhmFrom, to: MSR.lbrNhmTo, info: MSR.lbrInfo0,
                                          source: "intel_pmu_lbr_init_skl", hasCallStack: true)
    public static let knightsLanding = LbrLayout(depth: 8, from: MSR.lbrNhmFrom, to: MSR.lbrNhmTo, info: nil,
                                                 source: "intel_pmu_lbr_init_knl")

    /// Family-6 Intel display models → layout. Models not listed have no legacy LBR layout known to lbrprobe.
    public static let byModel: [UInt32: LbrLayout] = {
        var t: [UInt32: LbrLayout] = [:]
        for m: UInt32 in [0x0f, 0x16, 0x17, 0x1d] { t[m] = .core }                       // Core2
        for m: UInt32 in [0x1c, 0x26, 0x27, 0x35, 0x36,                                    // Bonnell/Saltwell
                          0x37, 0x4a, 0x4c, 0x4d, 0x5a, 0x5d] { t[m] = .atom }            // Silvermont/Airmont
        for m: UInt32 in [0x1a, 0x1e, 0x1f, 0x2e, 0x25, 0x2c, 0x2f,                        // Nehalem/Westmere
                          0x2a, 0x2d, 0x3a, 0x3e] { t[m] = .nehalem }                      // SandyBridge/IvyBridge
        for m: UInt32 in [0x3c, 0x3f, 0x45, 0x46,                                          // Haswell
                          0x3d, 0x47, 0x4f, 0x56] { t[m] = .haswell }                      // Broadwell
        for m: UInt32 in [0x4e, 0x5e, 0x55, 0x8e, 0x9e, 0x66, 0xa5, 0xa6,                  // Skylake..CometLake, SKX/CLX/CPX
                          0x7d, 0x7e, 0x6a, 0x6c, 0x8c, 0x8d, 0xa7,                        // IceLake, TigerLake, RocketLake
                          0x5c, 0x5f, 0x7a,                                                // Goldmont(+): 32 deep (UNVERIFIED info)
                          0x86, 0x96, 0x9c] { t[m] = .skylake }                            // Tremont D/-/L: intel_pmu_init calls
                                                                                           // intel_pmu_lbr_init_skl (32, INFO MSRs)
        for m: UInt32 in [0x57, 0x85] { t[m] = .knightsLanding }
        return t
    }()

    /// The layout for an Intel family-6 display model, if lbrprobe knows it.
    public static func forIntel(family: UInt32, model: UInt32) -> LbrLayout? {
        guard family == 6 else { return nil }
        return byModel[model]
    }
}
