// Run identity: every run document carries a run id and the identity of the host it ran on, so
// documents collected from a farm can be grouped and compared (`lbrprobe compare`). Pure: the caller (the
// CLI) supplies the clock, the random bytes and the host facts; this module makes no system calls.

/// The host a run ran on, as `lbrprobe compare` groups fleets: kernel release, CPU vendor/family/model, hostname.
public struct HostIdentity: Hashable, Sendable, Codable {
    /// `uname -n`.
    public var hostname: String
    /// `uname -r`.
    public var kernelRelease: String
    /// CPUID.0 vendor string, e.g. "GenuineIntel" (nil when CPUID could not be read).
    public var cpuVendor: String?
    /// Display family / model (extended fields applied) and stepping.
    public var cpuFamily: Int?
    public var cpuModel: Int?
    public var cpuStepping: Int?
    /// Marketing/microarchitecture label when known, e.g. "Skylake" (a label only).
    public var cpuModelName: String?

    public init(hostname: String, kernelRelease: String, cpuVendor: String? = nil, cpuFamily: Int? = nil,
                cpuModel: Int? = nil, cpuStepping: Int? = nil, cpuModelName: String? = nil) {
        self.hostname = hostname; self.kernelRelease = kernelRelease; self.cpuVendor = cpuVendor
        self.cpuFamily = cpuFamily; self.cpuModel = cpuModel; self.cpuStepping = cpuStepping
        self.cpuModelName = cpuModelName
    }

    /// "GenuineIntel 6/0x55" (+ " Skylake-SP…" when named); "unknown CPU" when CPUID was unreadable.
    public var cpuLabel: String {
        guard let cpuVendor else { return "unknown CPU" }
        var s = cpuVendor
        if let f = cpuFamily, let m = cpuModel { s += " \(f)/0x\(String(m, radix: 16))" }
        if let n = cpuModelName { s += " (\(n))" }
        return s
    }
}

/// Run ids: RFC 9562 UUID version 7 (48-bit Unix milliseconds, then random bits), lower-case text form.
/// Time-ordered, so run ids sort by start time across a farm.
public enum RunId {
    /// The nil UUID: a run whose caller supplied no id (library use, tests). The CLI always sets a v7 id.
    public static let unset = "00000000-0000-0000-0000-000000000000"

    /// A version-7 UUID from `unixMs` and 16 random bytes (only 74 bits are used; fewer bytes are zero-padded).
    public static func v7(unixMs: UInt64, random: [UInt8]) -> String {
        var b = [UInt8](repeating: 0, count: 16)
        for i in 0..<min(16, random.count) { b[i] = random[i] }
        for i in 0..<6 { b[i] = UInt8(truncatingIfNeeded: unixMs >> (40 - 8 * UInt64(i))) }
        b[6] = 0x70 | (b[6] & 0x0f)   // version 7
        b[8] = 0x80 | (b[8] & 0x3f)   // variant 10
        let hex = b.map { byte -> String in
            let h = String(byte, radix: 16)
            return h.count == 1 ? "0" + h : h
        }.joined()
        let c = Array(hex)
        return [c[0..<8], c[8..<12], c[12..<16], c[16..<20], c[20..<32]].map { String($0) }.joined(separator: "-")
    }

    /// The Unix milliseconds of a v7 id, nil for anything else.
    public static func unixMs(ofV7 id: String) -> UInt64? {
        let hex = id.filter { $0 != "-" }
        guard id.count == 36, hex.count == 32, Array(hex)[12] == "7", let t = UInt64(String(hex.prefix(12)), radix: 16)
        else { return nil }
        return t
    }
}
