// Writing report files without ever destroying what the path names:
//   - absent path or regular file: write a temporary file next to the target, then rename it over the target
//     (a failure at any point removes the temporary file, so no partial output file is left behind; the
//     replaced file keeps its permission bits);
//   - character device, FIFO or socket (`/dev/null`, `/dev/ttyS0`, `mkfifo` pipes): write through, never
//     rename over it (a FIFO open blocks until a reader opens it, as with `echo > fifo`);
//   - `/dev/stdout`, `/dev/stderr`, `/dev/fd/N`, `/proc/self/fd/N`: write to that already-open descriptor;
//   - symbolic links are FOLLOWED deliberately: the final target is classified as above, and a regular file
//     target is replaced atomically in its own directory, so the link itself stays a link; a dangling link,
//     a directory or a block device is refused.
// Failures say which operation failed with its errno; `ReportWriteError.isCreateFailure` separates "could
// not create" (EX_CANTCREAT, 73) from "a write failed" (EX_IOERR, 74).

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
    /// Why the target was refused before any write (operation "refuse").
    public var detail: String?
    public var description: String {
        if let detail { return "cannot write \(path): \(detail)" }
        return "cannot write \(path): \(operation) failed" + (errno.map { " (\(String(cString: strerror($0))), errno \($0))" } ?? "")
    }
    public init(path: String, operation: String, errno: Int32?, detail: String? = nil) {
        self.path = path; self.operation = operation; self.errno = errno; self.detail = detail
    }
    /// Whether the target could not be created or opened at all (refused kind, open/rename failure) as opposed
    /// to a failure while writing data that was accepted for writing (write, fsync, close).
    public var isCreateFailure: Bool { !["write", "fsync", "close"].contains(operation) }
}

/// What an output path names, as far as writing a report to it is concerned.
public enum OutputTargetKind: Hashable, Sendable {
    /// Nothing there yet: created atomically.
    case absent
    /// A regular file (possibly through symlinks): replaced atomically at `resolved`.
    case regular(resolved: String)
    /// Character device, FIFO or socket: written through, never replaced.
    case stream(kind: String)
    /// `/dev/stdout`, `/dev/fd/N`, `/proc/self/fd/N`: written to descriptor `fd`.
    case descriptor(Int32)
    /// Refused: directory, block device, dangling symlink, unresolvable path.
    case refused(String)
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

    /// Classifies `path` (following symlinks, see the file comment).
    public static func classify(_ path: String) -> OutputTargetKind {
        if let fd = descriptorAlias(path) { return .descriptor(fd) }
        var lst = stat()
        if lstat(path, &lst) != 0 {
            return errno == ENOENT ? .absent : .refused("cannot inspect: \(String(cString: strerror(errno)))")
        }
        var st = lst
        var resolved = path
        if lst.st_mode & S_IFMT == S_IFLNK {
            guard let real = realpath(path, nil) else {
                return .refused(errno == ENOENT ? "dangling symbolic link (its target does not exist; lbrprobe follows links and does not create their targets)"
                                : "cannot resolve symbolic link: \(String(cString: strerror(errno)))")
            }
            resolved = String(cString: real)
            free(real)
            if let fd = descriptorAlias(resolved) { return .descriptor(fd) }
            if stat(resolved, &st) != 0 { return .refused("cannot inspect link target \(resolved): \(String(cString: strerror(errno)))") }
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .regular(resolved: resolved)
        case S_IFCHR: return .stream(kind: "character device")
        case S_IFIFO: return .stream(kind: "FIFO")
        case S_IFSOCK: return .stream(kind: "socket")
        case S_IFDIR: return .refused("is a directory")
        case S_IFBLK: return .refused("is a block device (lbrprobe does not write reports onto block devices)")
        default: return .refused("is neither a regular file nor a device")
        }
    }

    /// The descriptor a `/dev/stdout`-like path names, if it is one.
    static func descriptorAlias(_ path: String) -> Int32? {
        switch path {
        case "/dev/stdin": return 0
        case "/dev/stdout": return 1
        case "/dev/stderr": return 2
        default: break
        }
        let pid = "/proc/\(getpid())/fd/"
        for prefix in ["/dev/fd/", "/proc/self/fd/", "/proc/thread-self/fd/", pid] where path.hasPrefix(prefix) {
            if let n = Int32(path.dropFirst(prefix.count)), n >= 0 { return n }
        }
        return nil
    }

    /// Writes `bytes` to `path` according to what it names (see the file comment).
    public static func write(_ bytes: [UInt8], to path: String, io: IO = .posix, unique: String? = nil)
        throws(ReportWriteError) {
        switch classify(path) {
        case .absent:
            try replace(bytes, at: path, io: io, unique: unique, mode: nil)
        case let .regular(resolved):
            var st = stat()
            let mode = stat(resolved, &st) == 0 ? st.st_mode & 0o7777 : nil
            try replace(bytes, at: resolved, io: io, unique: unique, mode: mode)
        case .stream:
            let fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC)
            if fd < 0 { throw ReportWriteError(path: path, operation: "open", errno: errno) }
            var failure = writeAll(fd, bytes, path: path)
            if close(fd) != 0 && failure == nil && errno != EINTR { failure = ReportWriteError(path: path, operation: "close", errno: errno) }
            if let failure { throw failure }
        case let .descriptor(fd):
            if fcntl(fd, F_GETFD) < 0 { throw ReportWriteError(path: path, operation: "write", errno: EBADF) }
            if let failure = writeAll(fd, bytes, path: path) { throw failure }
        case let .refused(why):
            throw ReportWriteError(path: path, operation: "refuse", errno: nil, detail: why)
        }
    }

    /// Streams what `produce` hands its sink to `path`, with the same target rules as `write(_:to:)` (
    /// a large report is never held whole). Buffered in 64 KiB; the first write failure is thrown after
    /// `produce` returns; a regular/absent target is still replaced atomically (temp file + rename).
    public static func write(to path: String, unique: String? = nil,
                             _ produce: ((String) -> Void) throws -> Void) throws {
        let fd: Int32
        var tmp: String?
        var finalPath = path
        var ownsFd = true
        switch classify(path) {
        case .absent, .regular:
            if case let .regular(resolved) = classify(path) { finalPath = resolved }
            let t = temporaryPath(for: finalPath, unique: unique ?? defaultUnique())
            fd = open(t, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o644)
            if fd < 0 { throw ReportWriteError(path: path, operation: "open", errno: errno) }
            tmp = t
            var st = stat()
            if stat(finalPath, &st) == 0 { _ = fchmod(fd, st.st_mode & 0o7777) } // keep the replaced file's mode
        case .stream:
            fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC)
            if fd < 0 { throw ReportWriteError(path: path, operation: "open", errno: errno) }
        case let .descriptor(d):
            if fcntl(d, F_GETFD) < 0 { throw ReportWriteError(path: path, operation: "write", errno: EBADF) }
            fd = d; ownsFd = false
        case let .refused(why):
            throw ReportWriteError(path: path, operation: "refuse", errno: nil, detail: why)
        }
        var failure: ReportWriteError?
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 16)
        func flush() {
            if failure == nil, !buffer.isEmpty { failure = writeAll(fd, buffer, path: path) }
            buffer.removeAll(keepingCapacity: true)
        }
        do {
            try produce { s in
                buffer.append(contentsOf: s.utf8)
                if buffer.count >= 1 << 16 { flush() }
            }
        } catch {
            if ownsFd { close(fd) }
            if let tmp { unlink(tmp) }
            throw error
        }
        flush()
        if failure == nil, tmp != nil, fsync(fd) != 0 { failure = ReportWriteError(path: path, operation: "fsync", errno: errno) }
        if ownsFd, close(fd) != 0, failure == nil, errno != EINTR { failure = ReportWriteError(path: path, operation: "close", errno: errno) }
        if let tmp {
            if failure == nil, rename(tmp, finalPath) != 0 { failure = ReportWriteError(path: path, operation: "rename", errno: errno) }
            if failure != nil { unlink(tmp) }
        }
        if let failure { throw failure }
    }

    /// Writes every byte to `fd` (retrying EINTR and short writes); the failure, if any.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) -> ReportWriteError? {
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
        return failure
    }

    /// The same target for two output paths: the same string, the same existing inode (hard links and
    /// symlinks included), or the same absent name in the same directory. Character devices are never "the
    /// same" (writing two reports to /dev/null or a tty one after the other destroys nothing).
    public static func sameTarget(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        let ea = stat(a, &sa) == 0, eb = stat(b, &sb) == 0
        if ea && sa.st_mode & S_IFMT == S_IFCHR { return false }
        if a == b { return true }
        if ea && eb { return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino }
        if ea != eb { return false }
        func key(_ p: String) -> String? {
            let slash = p.lastIndex(of: "/")
            let dir = slash.map { p[..<$0].isEmpty ? "/" : String(p[..<$0]) } ?? "."
            let base = slash.map { String(p[p.index(after: $0)...]) } ?? p
            guard let r = realpath(dir, nil) else { return nil }
            defer { free(r) }
            return String(cString: r) + "/" + base
        }
        return key(a) != nil && key(a) == key(b)
    }

    /// Temp file + rename (+ the previous file's permission bits).
    static func replace(_ bytes: [UInt8], at path: String, io: IO, unique: String?, mode: mode_t?)
        throws(ReportWriteError) {
        let tmp = temporaryPath(for: path, unique: unique ?? defaultUnique())
        do {
            try io.create(tmp, bytes)
            if let mode { _ = chmod(tmp, mode) }
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
            var failure = AtomicFile.writeAll(fd, bytes, path: path)
            if failure == nil && fsync(fd) != 0 { failure = ReportWriteError(path: path, operation: "fsync", errno: errno) }
            if close(fd) != 0 && failure == nil { failure = ReportWriteError(path: path, operation: "close", errno: errno) }
            if let failure { throw failure }
        },
        rename: { (from: String, to: String) throws(ReportWriteError) in
            if Glibc.rename(from, to) != 0 { throw ReportWriteError(path: to, operation: "rename", errno: errno) }
        },
        remove: { path in _ = unlink(path) })
}
