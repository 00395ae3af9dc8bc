import LbrCore
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Read-only access to host MSRs through the msr driver (`/dev/cpu/N/msr`, arch/x86/kernel/msr.c).
///
/// The device is opened `O_RDONLY` and only `pread` is used: **lbrprobe never writes a host MSR**, and
/// this type has no write path by design. A read is `pread(fd, 8 bytes, offset = MSR index)`; the kernel
/// returns EIO when RDMSR faults (MSR not implemented) and the open fails with ENOENT/ENXIO when the
/// driver is absent, EACCES/EPERM without CAP_SYS_RAWIO.
public final class MsrDevice: Sendable {
    public let cpu: Int
    public let path: String
    private let handle: OwnedFileDescriptor

    /// Opens `<root>/dev/cpu/<cpu>/msr` read-only.
    public init(cpu: Int, root: String = "/") throws(LinuxError) {
        let path = Sysfs(root: root).resolve("/dev/cpu/\(cpu)/msr")
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw LinuxError.current("open(\(path), O_RDONLY)") }
        self.cpu = cpu
        self.path = path
        handle = OwnedFileDescriptor(taking: fd)
    }

    /// RDMSR `index` on this CPU.
    public func read(_ index: UInt32) throws(LinuxError) -> UInt64 {
        var value: UInt64 = 0
        let fd = handle.rawValue
        // SAFETY: pread(2) writes at most 8 bytes into the 8-byte `value`.
        let n = withUnsafeMutableBytes(of: &value) { buf in
            retryingEINTRInt { Glibc.pread(fd, buf.baseAddress, 8, off_t(index)) }
        }
        if n < 0 { throw LinuxError.current("pread(\(path), 0x\(String(index, radix: 16)))") }
        if n != 8 { throw LinuxError(.ioError, "pread(\(path), 0x\(String(index, radix: 16))) returned \(n) of 8 bytes") }
        return value
    }
}
