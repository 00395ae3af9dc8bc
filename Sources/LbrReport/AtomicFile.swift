// Writing report files atomically: write a temporary file next to the target, then rename it over the
// target. A failure at any point removes the temporary file, so no partial output file is left behind.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a report file could not be written.
public struct ReportWriteError: Error, Hashable, Sendable, CustomStringConvertible {
    public var path: String
    public var operation: String
    /// errno of the failing call, when there was one.
    public var errno: Int32?
    public var description: String {
        "cannot write \(path): \(operation) failed" + (errno.map { " (\(String(cString: strerror($0))), errno \($0))" } ?? "")
    }
}

/// Atomic write of a whole file.
public enum AtomicFile {
    /// The file operations used; replaceable for tests.
    public struct IO: Sendable {
        /// Creates `path` exclusively and writes all bytes (and syncs); throws on any failure.
        public var create: @Sendable (_ path: String, _ bytes: [UInt8]) throws(ReportWriteError) -> Void
        public var rename: @Sendable (_ from: String, _ to: String) throws(ReportWriteError) -> Void
        public var remove: @Sendable (_ path: String) -> Void
        public init(create: @escaping @Sendable (String, [UInt8]) throws(ReportWriteError) -> Void,
                    rename: @escaping @Sendable (String, String) throws(ReportWriteError) -> Void,
                    remove: @escaping @Sendable (String) -> Void) {
            self.create = create; self.rename = rename; self.remove = remove
        }
    }

    /// The temporary name used for `path`: same directory, hidden, with the pid and a counter.
    public static func temporaryPath(for path: String, unique: String) -> String {
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[...$0]) } ?? ""
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        return "\(dir).\(base).tmp.\(unique)"
    }

    /// Writes `bytes` to `path` atomically (temp file + rename).
    public static func write(_ bytes: [UInt8], to path: String, io: IO = .posix, unique: String? = nil)
        throws(ReportWriteError) {
        let tmp = temporaryPath(for: path, unique: unique ?? defaultUnique())
        do {
            try io.create(tmp, bytes)
            try io.rename(tmp, path)
        } catch {
            io.remove(tmp)
            throw error
        }
    }

    public static func write(_ text: String, to path: String, io: IO = .posix) throws(ReportWriteError) {
        try write(Array(text.utf8), to: path, io: io)
    }

    static func defaultUnique() -> String { "\(getpid())" }
}

extension AtomicFile.IO {
    /// POSIX implementation: open(O_CREAT|O_EXCL|O_WRONLY|O_CLOEXEC, 0644), write loop, fsync, close, rename(2).
    public static let posix = AtomicFile.IO(
        create: { (path: String, bytes: [UInt8]) throws(ReportWriteError) in
            let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o644)
            if fd < 0 { throw ReportWriteError(path: path, operation: "open", errno: errno) }
            var off = 0
            var failure: ReportWriteError?
            bytes.withUnsafeBytes { buf in
                while off < buf.count {
                    let n = Glibc.write(fd, buf.baseAddress! + off, buf.count - off)
                    if n < 0 {
                        if errno == EINTR { continue }
                        failure = ReportWriteError(path: path, operation: "write", errno: errno); return
                    }
                    off += n
                }
            }
            if failure == nil && fsync(fd) != 0 { failure = ReportWriteError(path: path, operation: "fsync", errno: errno) }
            if close(fd) != 0 && failure == nil { failure = ReportWriteError(path: path, operation: "close", errno: errno) }
            if let failure { throw failure }
        },
        rename: { (from: String, to: String) throws(ReportWriteError) in
            if Glibc.rename(from, to) != 0 { throw ReportWriteError(path: to, operation: "rename", errno: errno) }
        },
        remove: { path in _ = unlink(path) })
}
