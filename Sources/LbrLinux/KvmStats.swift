import LbrCore
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// A KVM binary statistics fd (KVM_GET_STATS_FD; Documentation/virt/kvm/api.rst "KVM_GET_STATS_FD").
///
/// Reads the header and descriptors once, then the data block with one `pread` per sample.
/// This is the "KVM exits per vCPU" observer: `exits`, `io_exits` and any stat whose name
/// contains "msr". `pread` on the fd is thread-safe, so samples may be taken from any thread.
public final class KvmStats: Sendable {
    /// One statistic descriptor.
    public struct Descriptor: Hashable, Sendable {
        public var name: String
        public var flags: UInt32
        public var exponent: Int16
        /// Number of u64 values.
        public var size: UInt16
        /// Byte offset from the data block.
        public var offset: UInt32
    }

    private let handle: OwnedFileDescriptor
    public let descriptors: [Descriptor]
    private let dataOffset: Int
    private let dataSize: Int
    private let index: [String: Int]

    /// Takes ownership of `stats` (closed when this goes away, also when parsing fails).
    public init(fd stats: consuming OwnedFileDescriptor) throws(LinuxError) {
        let fd = stats.rawValue
        func preadExact(_ count: Int, _ offset: Int) throws(LinuxError) -> [UInt8] {
            var buf = [UInt8](repeating: 0, count: count)
            // SAFETY: pread(2) writes at most `count` bytes into the array of `count` bytes.
            let n = buf.withUnsafeMutableBytes { Glibc.pread(fd, $0.baseAddress, count, off_t(offset)) }
            if n < 0 { throw LinuxError.current("pread(kvm stats, \(count) @ \(offset))") }
            if n != count { throw LinuxError(.ioError, "kvm stats: short read \(n) of \(count) @ \(offset)") }
            return buf
        }
        let h = try preadExact(24, 0)
        func u32(_ b: [UInt8], _ o: Int) -> UInt32 {
            UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
        }
        let nameSize = Int(u32(h, 4)), numDesc = Int(u32(h, 8))
        let descOffset = Int(u32(h, 16)), dataOffset = Int(u32(h, 20))
        guard nameSize > 0, nameSize <= 4096, numDesc <= 65536 else {
            throw LinuxError(.invalidArgument, "kvm stats header name_size \(nameSize) num_desc \(numDesc)")
        }
        let descSize = 16 + nameSize
        let raw = try preadExact(descSize * numDesc, descOffset)
        var descs: [Descriptor] = []
        var end = 0
        for i in 0..<numDesc {
            let o = i * descSize
            let nameBytes = raw[(o + 16)..<(o + 16 + nameSize)].prefix { $0 != 0 }
            let d = Descriptor(name: String(decoding: nameBytes, as: UTF8.self), flags: u32(raw, o),
                               exponent: Int16(bitPattern: UInt16(raw[o + 4]) | UInt16(raw[o + 5]) << 8),
                               size: UInt16(raw[o + 6]) | UInt16(raw[o + 7]) << 8, offset: u32(raw, o + 8))
            end = max(end, Int(d.offset) + 8 * Int(d.size))
            descs.append(d)
        }
        descriptors = descs
        self.dataOffset = dataOffset
        dataSize = end
        var idx: [String: Int] = [:]
        for (i, d) in descs.enumerated() { idx[d.name] = i }
        index = idx
        handle = stats
    }

    /// The stats fd number (owned by this `KvmStats`).
    private var fd: Int32 { handle.rawValue }

    /// Current values of the named single-value stats (names missing from the fd are absent).
    public func read(_ names: [String]) throws(LinuxError) -> [String: UInt64] {
        var buf = [UInt8](repeating: 0, count: max(dataSize, 8))
        // SAFETY: pread(2) writes at most `dataSize` bytes into the array of at least that many bytes.
        let n = buf.withUnsafeMutableBytes { Glibc.pread(fd, $0.baseAddress, dataSize, off_t(dataOffset)) }
        if n < 0 { throw LinuxError.current("pread(kvm stats data)") }
        var out: [String: UInt64] = [:]
        // SAFETY: each load is at `o` with `o + 8 <= n <= buf.count` (checked just before it), unaligned-safe.
        buf.withUnsafeBytes { raw in
            for name in names {
                guard let i = index[name] else { continue }
                let o = Int(descriptors[i].offset)
                guard descriptors[i].size >= 1, o + 8 <= n else { continue }
                out[name] = raw.loadUnaligned(fromByteOffset: o, as: UInt64.self)
            }
        }
        return out
    }

    /// Names of the MSR-related stats this kernel exposes (none on current x86 kernels).
    public var msrStatNames: [String] { descriptors.map(\.name).filter { $0.contains("msr") } }

    /// `exits` and `io_exits` now, plus the sum of MSR-related stats when there are any, else
    /// `userspaceMsrExits` (the VMM's own count of KVM_EXIT_X86_RDMSR/WRMSR).
    public func exitCounters(userspaceMsrExits: UInt64) throws(LinuxError) -> ExitCounters {
        let msrNames = msrStatNames
        let v = try read(["exits", "io_exits"] + msrNames)
        let msr = msrNames.isEmpty ? userspaceMsrExits : msrNames.reduce(0) { $0 &+ (v[$1] ?? 0) }
        return ExitCounters(exits: v["exits"] ?? 0, ioExits: v["io_exits"] ?? 0, msrExits: msr)
    }
}
