/// One CPUID leaf/subleaf result, as read on the host or reported/set through KVM.
public struct CpuidEntry: Hashable, Sendable, Codable {
    public var leaf: UInt32
    public var subleaf: UInt32
    /// KVM_CPUID_FLAG_* (bit 0: significant index).
    public var flags: UInt32
    public var eax: UInt32
    public var ebx: UInt32
    public var ecx: UInt32
    public var edx: UInt32
    public init(leaf: UInt32, subleaf: UInt32 = 0, flags: UInt32 = 0, eax: UInt32, ebx: UInt32, ecx: UInt32, edx: UInt32) {
        self.leaf = leaf; self.subleaf = subleaf; self.flags = flags
        self.eax = eax; self.ebx = ebx; self.ecx = ecx; self.edx = edx
    }
}
