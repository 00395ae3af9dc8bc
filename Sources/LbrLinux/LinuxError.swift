import Logging
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// A failed Linux call: the errno it returned and what lbrprobe was doing.
///
/// Every syscall wrapper in this module throws this type, so callers can switch on
/// `errno` (e.g. `.noSuchFileOrDirectory` for perf's "no such PMU") without parsing strings.
public struct LinuxError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The typed errno value.
    public let errno: Errno
    /// The operation, with the arguments that matter (e.g. `perf_event_open(type=hardware …)`).
    public let operation: String

    public init(_ errno: Errno, _ operation: String) { self.errno = errno; self.operation = operation }

    /// Captures the calling thread's current `errno`. Call it right after the failing call.
    public static func current(_ operation: String) -> LinuxError {
        LinuxError(Errno(rawValue: Glibc.errno), operation)
    }

    public var description: String { "\(operation): \(errno) (errno \(errno.rawValue))" }
}

/// Returns `rc` if it is not -1; otherwise throws the current errno for `operation`.
@inline(__always)
@discardableResult
func sysCheck(_ rc: Int32, _ operation: @autoclosure () -> String) throws(LinuxError) -> Int32 {
    if rc == -1 {
        let e = LinuxError.current(operation())
        SysTrace.logger.trace("\(e.operation) = -1 \(e.errno) (errno \(e.errno.rawValue))")
        throw e
    }
    SysTrace.logger.trace("\(operation()) = \(rc)")
    return rc
}

/// Trace-level log (`lbrprobe -vv`) of the system calls lbrprobe makes: every checked ioctl, perf_event_open,
/// KVM_RUN and perf read, with its result. The label is `lbrprobe.sys`; the level comes from the process's
/// logging bootstrap (warning by default, so nothing is formatted unless -vv asked for it).
public enum SysTrace {
    public static let logger = Logger(label: "lbrprobe.sys")
}

/// Retries `body` while it fails with EINTR.
@inline(__always)
func retryingEINTR(_ body: () -> Int32) -> Int32 {
    while true {
        let rc = body()
        if rc == -1 && Glibc.errno == EINTR { continue }
        return rc
    }
}
