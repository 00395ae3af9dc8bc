// The MSR map: the one place lbrprobe names model-specific registers and their bits.
// Source: arch/x86/include/asm/msr-index.h, arch/x86/events/intel/lbr.c (reference §5).

/// Model-specific register indices used by lbrprobe.
///
/// Reference: docs/reference.md §5 ("LBR MSR / CPUID map").
public enum MSR {
    /// IA32_DEBUGCTL. Never passed through by KVM; its guest value lives in the VMCS (§1.9).
    public static let debugctl: UInt32 = 0x1d9
    /// IA32_PERF_CAPABILITIES; bits 5:0 are the LBR format (§5).
    public static let perfCapabilities: UInt32 = 0x345
    /// MSR_LBR_SELECT: filter bits 0..9.
    public static let lbrSelect: UInt32 = 0x1c8
    /// MSR_LBR_TOS: top-of-stack index.
    public static let lbrTos: UInt32 = 0x1c9
    /// Core2/Atom-class FROM/TO bases.
    public static let lbrCoreFrom: UInt32 = 0x40
    public static let lbrCoreTo: UInt32 = 0x60
    /// Nehalem..Ice Lake FROM/TO bases.
    public static let lbrNhmFrom: UInt32 = 0x680
    public static let lbrNhmTo: UInt32 = 0x6c0
    /// Skylake+ LBR_INFO base (format 5+).
    public static let lbrInfo0: UInt32 = 0xdc0
    /// Single last-branch record (AMD LBRV, old Intel) and LER.
    public static let lastBranchFromIP: UInt32 = 0x1db
    public static let lastBranchToIP: UInt32 = 0x1dc
    public static let lastIntFromIP: UInt32 = 0x1dd
    public static let lastIntToIP: UInt32 = 0x1de
    /// Architectural LBR (not virtualized by KVM, §1.10).
    public static let archLbrCtl: UInt32 = 0x14ce
    public static let archLbrDepth: UInt32 = 0x14cf
    public static let archLbrFrom0: UInt32 = 0x1500
    public static let archLbrTo0: UInt32 = 0x1600
    public static let archLbrInfo0: UInt32 = 0x1200
    /// Time-stamp counter (readable by the guest without exit on VMX).
    public static let tsc: UInt32 = 0x10
}

/// IA32_DEBUGCTL bits (§5).
public enum DebugCtl {
    public static let lbr: UInt64 = 1 << 0
    public static let btf: UInt64 = 1 << 1
    public static let busLockDetect: UInt64 = 1 << 2
    public static let tr: UInt64 = 1 << 6
    public static let bts: UInt64 = 1 << 7
    public static let freezeLbrsOnPmi: UInt64 = 1 << 11
    public static let freezePerfmonOnPmi: UInt64 = 1 << 12
    public static let freezeInSmm: UInt64 = 1 << 14
    public static let rtmDebug: UInt64 = 1 << 15
}

/// MSR_LBR_SELECT filter bits (§5): bits 0..8 mean "do not capture", bit 9 enables call-stack mode.
public enum LbrSelect {
    public static let suppressKernel: UInt64 = 1 << 0
    public static let suppressUser: UInt64 = 1 << 1
    public static let suppressJcc: UInt64 = 1 << 2
    public static let suppressRelCall: UInt64 = 1 << 3
    public static let suppressIndCall: UInt64 = 1 << 4
    public static let suppressReturn: UInt64 = 1 << 5
    public static let suppressIndJmp: UInt64 = 1 << 6
    public static let suppressRelJmp: UInt64 = 1 << 7
    public static let suppressFar: UInt64 = 1 << 8
    public static let callStack: UInt64 = 1 << 9
    public static let mask: UInt64 = 0x3ff
}

/// IA32_PERF_CAPABILITIES fields (§5).
public enum PerfCapabilities {
    /// Bits 5:0: the LBR format.
    public static let lbrFormatMask: UInt64 = 0x3f
    public static let fullWidthWrites: UInt64 = 1 << 13

    public static func lbrFormat(_ value: UInt64) -> LbrFormat { LbrFormat(code: UInt8(value & lbrFormatMask)) }
}

/// The LBR record format reported in PERF_CAPABILITIES[5:0] (enum in arch/x86/events/perf_event.h, §5).
public struct LbrFormat: Hashable, Sendable, CustomStringConvertible {
    public let code: UInt8
    public init(code: UInt8) { self.code = code }

    /// Kernel name of the format, e.g. `LBR_FORMAT_INFO`.
    public var name: String {
        switch code {
        case 0x00: return "LBR_FORMAT_32"
        case 0x01: return "LBR_FORMAT_LIP"
        case 0x02: return "LBR_FORMAT_EIP"
        case 0x03: return "LBR_FORMAT_EIP_FLAGS"
        case 0x04: return "LBR_FORMAT_EIP_FLAGS2"
        case 0x05: return "LBR_FORMAT_INFO"
        case 0x06: return "LBR_FORMAT_TIME"
        case 0x07: return "LBR_FORMAT_INFO2"
        case 0x3f: return "ARCH_LBR"
        default: return "unknown(0x\(String(code, radix: 16)))"
        }
    }
    /// Whether records carry LBR_INFO MSRs (format INFO and later).
    public var hasInfo: Bool { code == 0x05 || code == 0x07 }
    public var description: String { "\(code) (\(name))" }
}
