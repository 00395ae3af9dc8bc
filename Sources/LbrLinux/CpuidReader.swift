import CLbrShim
import LbrCore

/// Host CPUID through the C shim (`__cpuid_count` on the calling CPU).
public enum CpuidReader {
    /// CPUID `leaf`/`subleaf` on the calling CPU.
    public static func read(leaf: UInt32, subleaf: UInt32 = 0) -> CpuidEntry {
        let r = lbr_cpuid(leaf, subleaf)
        return CpuidEntry(leaf: leaf, subleaf: subleaf, flags: 0, eax: r.eax, ebx: r.ebx, ecx: r.ecx, edx: r.edx)
    }

    /// The leaves in `CpuidDecode.hostLeaves` that exist on this CPU (at or below the maximum basic or
    /// extended leaf), read with `read`.
    public static func hostLeaves(read: (UInt32, UInt32) -> CpuidEntry = { read(leaf: $0, subleaf: $1) }) -> [CpuidEntry] {
        let maxBasic = read(0, 0).eax
        let maxExt = read(0x8000_0000, 0).eax
        return CpuidDecode.hostLeaves.compactMap { (leaf, sub) in
            let inRange = leaf >= 0x8000_0000 ? (maxExt >= 0x8000_0000 && leaf <= maxExt) : leaf <= maxBasic
            return inRange ? read(leaf, sub) : nil
        }
    }
}
