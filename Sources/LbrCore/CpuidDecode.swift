// CPUID decoding for the facts lbrprobe needs (reference §5 "CPUID basics", §1.10, §6.4).
// Pure: input is raw CpuidEntry values (host CPUID or KVM_GET_SUPPORTED_CPUID), output is named fields.

/// CPU vendor from the CPUID.0 vendor string.
public enum CpuVendor: String, Hashable, Sendable, Codable {
    case intel, amd, other
}

/// CPUID leaf 0xA: Intel architectural performance monitoring (reference §5).
public struct ArchPmuInfo: Hashable, Sendable, Codable {
    /// EAX[7:0]: architectural PMU version (0 = none).
    public var version: Int
    /// EAX[15:8]: general-purpose counters per logical CPU.
    public var gpCounters: Int
    /// EAX[23:16]: GP counter width.
    public var gpWidth: Int
    /// EAX[31:24]: length of the EBX event-availability vector.
    public var eventVectorLength: Int
    /// EBX: bit set = architectural event NOT available.
    public var unavailableEventsMask: UInt32
    /// EDX[4:0]: fixed-function counters (valid for version > 1).
    public var fixedCounters: Int
    /// EDX[12:5]: fixed counter width.
    public var fixedWidth: Int

    public init(version: Int, gpCounters: Int, gpWidth: Int, eventVectorLength: Int, unavailableEventsMask: UInt32,
                fixedCounters: Int, fixedWidth: Int) {
        self.version = version; self.gpCounters = gpCounters; self.gpWidth = gpWidth
        self.eventVectorLength = eventVectorLength; self.unavailableEventsMask = unavailableEventsMask
        self.fixedCounters = fixedCounters; self.fixedWidth = fixedWidth
    }
}

/// CPUID leaf 0x1C: architectural LBR capabilities (perf's `union cpuid28_*`, arch/x86/include/asm/perf_event.h).
public struct ArchLbrInfo: Hashable, Sendable, Codable {
    /// EAX[7:0] decoded: supported depths, 8*(i+1) for each set bit i.
    public var depths: [Int]
    /// EAX[30]: LBRs are reset in deep C-states.
    public var deepCStateReset: Bool
    /// EAX[31]: IP values contain LIP.
    public var lip: Bool
    /// EBX[2]: call-stack mode supported.
    public var callStack: Bool
    /// Maximum depth, as perf computes it: fls(depth_mask) * 8 (`intel_pmu_arch_lbr_init`).
    public var maxDepth: Int { depths.max() ?? 0 }

    public init(depths: [Int], deepCStateReset: Bool, lip: Bool, callStack: Bool) {
        self.depths = depths; self.deepCStateReset = deepCStateReset; self.lip = lip; self.callStack = callStack
    }
}

/// AMD CPUID leaf 0x80000022: extended performance monitoring and debug (reference §5, §6.4).
public struct AmdPerfMonInfo: Hashable, Sendable, Codable {
    /// EAX[0] PerfMonV2.
    public var perfMonV2: Bool
    /// EAX[1] LbrExtV2: the Zen 4+ LBR stack (host perf only; KVM does not virtualize it, §6.4).
    public var lbrExtV2: Bool
    /// EAX[2] LbrAndPmcFreeze.
    public var lbrAndPmcFreeze: Bool
    /// EBX[3:0] core PMCs.
    public var coreCounters: Int
    /// EBX[9:4] LBR stack size.
    public var lbrStackSize: Int

    public init(perfMonV2: Bool, lbrExtV2: Bool, lbrAndPmcFreeze: Bool, coreCounters: Int, lbrStackSize: Int) {
        self.perfMonV2 = perfMonV2; self.lbrExtV2 = lbrExtV2; self.lbrAndPmcFreeze = lbrAndPmcFreeze
        self.coreCounters = coreCounters; self.lbrStackSize = lbrStackSize
    }
}

/// The decoded CPU facts lbrprobe needs.
public struct CpuFeatures: Hashable, Sendable, Codable {
    /// The 12-character vendor string, e.g. "GenuineIntel".
    public var vendorString: String
    public var vendor: CpuVendor
    /// Display family/model (extended fields applied), stepping.
    public var family: UInt32
    public var model: UInt32
    public var stepping: UInt32
    /// CPUID.0:EAX and CPUID.0x80000000:EAX.
    public var maxBasicLeaf: UInt32
    public var maxExtendedLeaf: UInt32
    /// CPUID.1:ECX[31]: running under a hypervisor.
    public var hypervisor: Bool
    /// CPUID.1:ECX[15] PDCM: IA32_PERF_CAPABILITIES exists.
    public var pdcm: Bool
    /// CPUID.7.0:EDX[15]: hybrid part (P- and E-cores).
    public var hybrid: Bool
    /// CPUID.7.0:EDX[19]: architectural LBR.
    public var archLbr: Bool
    /// Leaf 0xA, when within the maximum basic leaf.
    public var archPmu: ArchPmuInfo?
    /// Leaf 0x1C, when arch LBR is enumerated and the leaf exists.
    public var archLbrInfo: ArchLbrInfo?
    /// Leaf 0x80000022 (AMD), when within the maximum extended leaf.
    public var amdPerfMon: AmdPerfMonInfo?

    public init(vendorString: String, vendor: CpuVendor, family: UInt32, model: UInt32, stepping: UInt32,
                maxBasicLeaf: UInt32, maxExtendedLeaf: UInt32, hypervisor: Bool, pdcm: Bool, hybrid: Bool,
                archLbr: Bool, archPmu: ArchPmuInfo?, archLbrInfo: ArchLbrInfo?, amdPerfMon: AmdPerfMonInfo?) {
        self.vendorString = vendorString; self.vendor = vendor; self.family = family; self.model = model
        self.stepping = stepping; self.maxBasicLeaf = maxBasicLeaf; self.maxExtendedLeaf = maxExtendedLeaf
        self.hypervisor = hypervisor; self.pdcm = pdcm; self.hybrid = hybrid; self.archLbr = archLbr
        self.archPmu = archPmu; self.archLbrInfo = archLbrInfo; self.amdPerfMon = amdPerfMon
    }
}

/// CPUID decoding rules.
public enum CpuidDecode {
    /// The leaves lbrprobe reads: (leaf, subleaf).
    public static let hostLeaves: [(UInt32, UInt32)] = [
        (0x0, 0), (0x1, 0), (0x7, 0), (0xa, 0), (0x1c, 0), (0x8000_0000, 0), (0x8000_0022, 0),
    ]

    /// Bit positions.
    public static let pdcmBit: UInt32 = 15            // CPUID.1:ECX
    public static let hypervisorBit: UInt32 = 31      // CPUID.1:ECX
    public static let hybridBit: UInt32 = 15          // CPUID.7.0:EDX
    public static let archLbrBit: UInt32 = 19         // CPUID.7.0:EDX

    /// Display family/model/stepping from CPUID.1:EAX (SDM Vol. 2A CPUID, "Version Information"):
    /// family = base family, plus extended family when base family is 0xF;
    /// model = base model, plus extended model << 4 when base family is 6 or 0xF.
    public static func signature(eax: UInt32) -> (family: UInt32, model: UInt32, stepping: UInt32) {
        let stepping = eax & 0xf
        let baseModel = (eax >> 4) & 0xf
        let baseFamily = (eax >> 8) & 0xf
        let extModel = (eax >> 16) & 0xf
        let extFamily = (eax >> 20) & 0xff
        let family = baseFamily == 0xf ? baseFamily + extFamily : baseFamily
        let model = (baseFamily == 0x6 || baseFamily == 0xf) ? (extModel << 4) | baseModel : baseModel
        return (family, model, stepping)
    }

    /// The inverse of `signature(eax:)` for display values (used to build recorded fixtures).
    public static func signatureEAX(family: UInt32, model: UInt32, stepping: UInt32) -> UInt32 {
        let baseFamily = family >= 0xf ? 0xf : family
        let extFamily = family >= 0xf ? family - 0xf : 0
        let usesExtModel = baseFamily == 0x6 || baseFamily == 0xf
        let baseModel = model & 0xf
        let extModel = usesExtModel ? (model >> 4) & 0xf : 0
        return (extFamily << 20) | (extModel << 16) | (baseFamily << 8) | (baseModel << 4) | (stepping & 0xf)
    }

    /// The vendor string from CPUID.0 (EBX, EDX, ECX order).
    public static func vendorString(_ leaf0: CpuidEntry) -> String {
        var bytes: [UInt8] = []
        for r in [leaf0.ebx, leaf0.edx, leaf0.ecx] {
            for i in 0..<4 { bytes.append(UInt8((r >> (8 * UInt32(i))) & 0xff)) }
        }
        let printable = bytes.map { $0 >= 0x20 && $0 < 0x7f ? $0 : UInt8(ascii: "?") }
        return String(decoding: printable, as: UTF8.self)
    }

    /// CPUID.0 register values for a vendor string (fixtures).
    public static func leaf0(vendor: String, maxLeaf: UInt32) -> CpuidEntry {
        var b = Array(vendor.utf8.prefix(12))
        while b.count < 12 { b.append(0x20) }
        func reg(_ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[o + $1]) << (8 * UInt32($1)) } }
        return CpuidEntry(leaf: 0, eax: maxLeaf, ebx: reg(0), ecx: reg(8), edx: reg(4))
    }

    public static func vendor(of string: String) -> CpuVendor {
        switch string {
        case "GenuineIntel": return .intel
        case "AuthenticAMD", "HygonGenuine": return .amd
        default: return .other
        }
    }

    /// Leaf 0xA.
    public static func archPmu(_ e: CpuidEntry) -> ArchPmuInfo {
        ArchPmuInfo(version: Int(e.eax & 0xff), gpCounters: Int((e.eax >> 8) & 0xff), gpWidth: Int((e.eax >> 16) & 0xff),
                    eventVectorLength: Int(e.eax >> 24), unavailableEventsMask: e.ebx,
                    fixedCounters: Int(e.edx & 0x1f), fixedWidth: Int((e.edx >> 5) & 0xff))
    }

    /// Leaf 0x1C.
    public static func archLbr(_ e: CpuidEntry) -> ArchLbrInfo {
        let depths = (0..<8).filter { e.eax & (1 << UInt32($0)) != 0 }.map { 8 * ($0 + 1) }
        return ArchLbrInfo(depths: depths, deepCStateReset: e.eax & (1 << 30) != 0, lip: e.eax & (1 << 31) != 0,
                           callStack: e.ebx & (1 << 2) != 0)
    }

    /// Leaf 0x80000022.
    public static func amdPerfMon(_ e: CpuidEntry) -> AmdPerfMonInfo {
        AmdPerfMonInfo(perfMonV2: e.eax & 1 != 0, lbrExtV2: e.eax & 2 != 0, lbrAndPmcFreeze: e.eax & 4 != 0,
                       coreCounters: Int(e.ebx & 0xf), lbrStackSize: Int((e.ebx >> 4) & 0x3f))
    }

    /// Decodes the leaves in `entries`. Missing leaves read as zero; leaves above the maximum
    /// basic/extended leaf are ignored (the CPU returns data of the highest basic leaf for them).
    public static func decode(_ entries: [CpuidEntry]) -> CpuFeatures {
        func leaf(_ l: UInt32, _ s: UInt32 = 0) -> CpuidEntry? { entries.first { $0.leaf == l && $0.subleaf == s } }
        let zero = CpuidEntry(leaf: 0, eax: 0, ebx: 0, ecx: 0, edx: 0)
        let l0 = leaf(0) ?? zero
        let maxBasic = l0.eax
        let maxExt = leaf(0x8000_0000)?.eax ?? 0
        func basic(_ l: UInt32) -> CpuidEntry? { l <= maxBasic ? leaf(l) : nil }
        let l1 = basic(1) ?? zero
        let l7 = basic(7) ?? zero
        let vs = vendorString(l0)
        let sig = signature(eax: l1.eax)
        let hasArchLbr = l7.edx & (1 << archLbrBit) != 0
        return CpuFeatures(
            vendorString: vs, vendor: vendor(of: vs),
            family: sig.family, model: sig.model, stepping: sig.stepping,
            maxBasicLeaf: maxBasic, maxExtendedLeaf: maxExt,
            hypervisor: l1.ecx & (1 << hypervisorBit) != 0,
            pdcm: l1.ecx & (1 << pdcmBit) != 0,
            hybrid: l7.edx & (1 << hybridBit) != 0,
            archLbr: hasArchLbr,
            archPmu: basic(0xa).map(archPmu),
            archLbrInfo: hasArchLbr ? basic(0x1c).map(archLbr) : nil,
            amdPerfMon: maxExt >= 0x8000_0022 ? leaf(0x8000_0022).map(amdPerfMon) : nil)
    }

    /// Known Intel family-6 model names for the report (a label only; decisions use LbrLayout and CPUID bits).
    public static func intelModelName(_ model: UInt32) -> String? {
        switch model {
        case 0x2a, 0x2d: return "Sandy Bridge"
        case 0x3a, 0x3e: return "Ivy Bridge"
        case 0x3c, 0x3f, 0x45, 0x46: return "Haswell"
        case 0x3d, 0x47, 0x4f, 0x56: return "Broadwell"
        case 0x4e, 0x5e: return "Skylake"
        case 0x55: return "Skylake-SP/Cascade Lake/Cooper Lake"
        case 0x8e, 0x9e, 0xa5, 0xa6: return "Kaby/Coffee/Comet Lake"
        case 0x66: return "Cannon Lake"
        case 0x7d, 0x7e: return "Ice Lake"
        case 0x6a, 0x6c: return "Ice Lake-SP"
        case 0x8c, 0x8d: return "Tiger Lake"
        case 0xa7: return "Rocket Lake"
        case 0x97, 0x9a, 0xbe: return "Alder Lake"
        case 0xb7, 0xba, 0xbf: return "Raptor Lake"
        case 0x8f: return "Sapphire Rapids"
        case 0xcf: return "Emerald Rapids"
        case 0xad, 0xae: return "Granite Rapids"
        case 0xaa, 0xac: return "Meteor Lake"
        case 0xaf: return "Sierra Forest"
        case 0x5c, 0x5f: return "Goldmont"
        case 0x7a: return "Goldmont Plus"
        case 0x86, 0x96, 0x9c: return "Tremont"
        default: return nil
        }
    }
}
