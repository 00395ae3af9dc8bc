import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// A file descriptor with exactly one owner: it cannot be copied, and it is closed once, when its owner
/// releases it (`deinit`). The KVM handles (`Kvm`, `Vm`, `Vcpu`, `KvmStats`), perf events and the MSR device
/// hold their fds this way, so no path can close an fd twice or forget to close it.
public struct OwnedFileDescriptor: ~Copyable, Sendable {
    /// The descriptor (swift-system's typed fd).
    public let descriptor: FileDescriptor

    /// Takes ownership of `raw`, an open fd nobody else closes.
    public init(taking raw: Int32) { descriptor = FileDescriptor(rawValue: raw) }

    /// `open(2)` with `flags` (O_CLOEXEC is always added).
    public static func open(_ path: String, _ flags: Int32) throws(LinuxError) -> OwnedFileDescriptor {
        let fd = Glibc.open(path, flags | O_CLOEXEC)
        if fd < 0 { throw LinuxError.current("open(\(path))") }
        return OwnedFileDescriptor(taking: fd)
    }

    /// The raw fd number, for `ioctl`, `pread`, `mmap` and `poll`.
    public var rawValue: Int32 { descriptor.rawValue }

    deinit {
        // close(2) errors are not actionable here: the fd is released either way (Linux frees it even on EINTR).
        _ = Glibc.close(descriptor.rawValue)
    }
}
