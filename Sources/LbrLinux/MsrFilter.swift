import CLbrShim
import LbrCore
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// A guest RDMSR/WRMSR delivered to userspace (KVM_EXIT_X86_RDMSR / KVM_EXIT_X86_WRMSR).
public struct MsrExit: Hashable, Sendable {
    public var index: UInt32
    public var isWrite: Bool
    /// The value the guest writes (0 for reads).
    public var value: UInt64
    /// Guest RIP of the RDMSR/WRMSR, when `GuestVMOptions.msrExitRip` is on (costs a KVM_GET_REGS).
    public var rip: UInt64?
    /// KVM_MSR_EXIT_REASON_* that caused the exit (4 = filter, 2 = unknown, 1 = invalid).
    public var reason: UInt32
    public init(index: UInt32, isWrite: Bool, value: UInt64, rip: UInt64?, reason: UInt32) {
        self.index = index; self.isWrite = isWrite; self.value = value; self.rip = rip; self.reason = reason
    }
}

/// The VMM's answer to an `MsrExit`.
public enum MsrReply: Hashable, Sendable {
    /// For a read: the value the guest's RDMSR returns (for a write: treated as `.ok`).
    case value(UInt64)
    /// For a write: accept it (for a read: the guest reads 0).
    case ok
    /// Inject #GP into the guest.
    case gp
}

/// Called on the vCPU thread for every filtered guest RDMSR/WRMSR.
public typealias UserSpaceMsrHandler = @Sendable (MsrExit) -> MsrReply

/// One deny range of a KVM MSR filter: accesses to `[base, base + count)` exit to userspace.
public struct MsrFilterRange: Hashable, Sendable {
    public var base: UInt32
    public var count: UInt32
    public var reads: Bool
    public var writes: Bool
    public init(base: UInt32, count: UInt32, reads: Bool = true, writes: Bool = true) {
        self.base = base; self.count = count; self.reads = reads; self.writes = writes
    }
    public func contains(_ index: UInt32) -> Bool { index >= base && index - base < count }
}

/// A KVM_X86_SET_MSR_FILTER filter: default allow, the listed ranges denied (→ userspace exit
/// with KVM_MSR_EXIT_REASON_FILTER once KVM_CAP_X86_USER_SPACE_MSR is enabled with that reason).
public struct MsrFilter: Hashable, Sendable {
    /// KVM allows at most 16 ranges (KVM_MSR_FILTER_MAX_RANGES).
    public static let maxRanges = 16
    public var ranges: [MsrFilterRange]
    public init(ranges: [MsrFilterRange]) { self.ranges = ranges }

    /// DEBUGCTL plus every LBR MSR of `layout` (LBR_SELECT/TOS, FROM, TO, INFO; §1.3, §5).
    public static func lbr(layout: LbrLayout) -> MsrFilter {
        var r = [MsrFilterRange(base: MSR.debugctl, count: 1)]
        if layout.tos == layout.select + 1 {
            r.append(MsrFilterRange(base: layout.select, count: 2))
        } else {
            r.append(MsrFilterRange(base: layout.select, count: 1))
            r.append(MsrFilterRange(base: layout.tos, count: 1))
        }
        let d = UInt32(max(layout.depth, 0))
        if d > 0 {
            r.append(MsrFilterRange(base: layout.from, count: d))
            r.append(MsrFilterRange(base: layout.to, count: d))
            if let info = layout.info { r.append(MsrFilterRange(base: info, count: d)) }
        }
        return MsrFilter(ranges: r)
    }

    /// Whether `index` is denied (so a guest access exits to userspace).
    public func covers(_ index: UInt32) -> Bool { ranges.contains { $0.contains(index) } }
}

extension Vm {
    /// KVM_X86_SET_MSR_FILTER with `filter` (KVM_MSR_FILTER_DEFAULT_ALLOW; zero bitmaps = deny).
    public func setMsrFilter(_ filter: MsrFilter) throws(LinuxError) {
        guard filter.ranges.count <= MsrFilter.maxRanges else {
            throw LinuxError(.invalidArgument, "MSR filter with \(filter.ranges.count) ranges (max 16)")
        }
        // Deny bitmaps: all zero, so every range shares one zeroed bitmap as long as the largest range.
        // KVM only reads them, copying each during the ioctl.
        let bitmapBytes = filter.ranges.map { max(Int(($0.count + 7) / 8), 1) }.max() ?? 1
        var bitmap = [UInt8](repeating: 0, count: bitmapBytes)
        var f = kvm_msr_filter()
        f.flags = 0 // KVM_MSR_FILTER_DEFAULT_ALLOW
        let rc = bitmap.withUnsafeMutableBufferPointer { deny in
            // SAFETY: `ranges` is `struct kvm_msr_filter_range ranges[16]`, imported as a 16-tuple; binding its
            // bytes to the element type is sound and at most 16 are written (checked above). Each bitmap pointer
            // is valid for `(nmsrs + 7) / 8` bytes until the ioctl, which copies them, returns.
            withUnsafeMutableBytes(of: &f.ranges) { raw in
                let out = raw.bindMemory(to: kvm_msr_filter_range.self)
                for (i, r) in filter.ranges.enumerated() {
                    out[i].flags = (r.reads ? 1 : 0) | (r.writes ? 2 : 0) // KVM_MSR_FILTER_READ | _WRITE
                    out[i].nmsrs = r.count
                    out[i].base = r.base
                    out[i].bitmap = deny.baseAddress
                }
            }
            return ioctl(fd, lbr_kvm_x86_set_msr_filter(), &f)
        }
        try sysCheck(rc, "KVM_X86_SET_MSR_FILTER(\(filter.ranges.count) ranges)")
    }
}
