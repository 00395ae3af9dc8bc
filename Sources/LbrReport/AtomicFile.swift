// Writing report files without ever destroying what the path names, and without crossing a trust boundary:
//   - the path is resolved by the kernel (open with O_PATH), so every symbolic link on the way is followed
//     exactly as the kernel would follow it for this process: with fs.protected_symlinks=1 a link in a sticky
//     world-writable directory (/tmp) that belongs to neither the directory's owner nor this user is refused
//     (EACCES), as `echo x > link` is. lbrprobe applies that rule to the last component itself as well, so it
//     holds even where the sysctl is off;
//   - absent path or regular file (possibly through links the rule allows): a temporary file is created in the
//     target's own directory with O_CREAT|O_EXCL|O_NOFOLLOW under an unpredictable name
//     (`.NAME.<random>.tmp`), written, synced, then renamed over the target with renameat(2) relative to that
//     directory, after checking the entry is still the file that was classified (a failure at any point
//     removes the temporary file, so no partial output file is left behind; the replaced file keeps its
//     permission bits);
//   - character device or FIFO (`/dev/null`, `/dev/ttyS0`, `mkfifo` pipes): written through, never renamed
//     over. A FIFO is opened non-blocking and waited for a reader for at most `fifoReaderWait` (or until
//     `stop` says a signal arrived), then refused: an output never hangs the run;
//   - `/dev/stdout`, `/dev/stderr`, `/dev/fd/N`, `/proc/self/fd/N`: written to that descriptor, which must be
//     one the process was given (open and not close-on-exec: every descriptor lbrprobe opens itself is
//     close-on-exec, so it never writes a report into its own lock file, guest memory or perf ring);
//   - refused: an empty path, a path ending in '/', a directory, a block device, a socket (lbrprobe does not
//     connect to sockets: use a FIFO, or `socat`), a dangling link, a name too long for the temporary name
//     (NAME_MAX).
// Failures say which operation failed with its errno and name the user's path (never the temporary name);
// `ReportWriteError.isCreateFailure` separates "could not create" (EX_CANTCREAT, 73) from "a write failed"
// (EX_IOERR, 74; ENOSPC and EDQUOT are always 74, wherever they happen).

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
        return "cannot write \(path): \(operation) failed" + (errno.map { " (\(AtomicFile.errnoText($0)))" } ?? "")
    }
    public init(path: String, operation: String, errno: Int32?, detail: String? = nil) {
        self.path = path; self.operation = operation; self.errno = errno; self.detail = detail
    }
    /// Whether the target could not be created or opened at all (refused kind, open/rename failure) as opposed
    /// to a failure while writing data that was accepted for writing (write, fsync, close). Running out of
    /// space or quota is a write failure wherever it happens (creating the temporary file included).
    public var isCreateFailure: Bool {
        if let e = errno, e == ENOSPC || e == EDQUOT { return false }
        return !["write", "fsync", "close"].contains(operation)
    }
}

/// What an output path names, as far as writing a report to it is concerned.
public enum OutputTargetKind: Hashable, Sendable {
    /// Nothing there yet: created atomically in `directory` (resolved, no links).
    case absent(directory: String, name: String)
    /// A regular file: replaced atomically; `directory`/`name` is where it really is (links resolved).
    case regular(directory: String, name: String)
    /// Character device or FIFO: written through, never replaced.
    case stream(kind: String)
    /// `/dev/stdout`, `/dev/fd/N`, `/proc/self/fd/N`: written to descriptor `fd`.
    case descriptor(Int32)
    /// Refused, with the reason.
    case refused(String)
}

/// Atomic write of a whole file.
public enum AtomicFile {
    /// The rename step; replaceable for tests (the failure path after a fully written temporary file).
    public struct IO: Sendable {
        public var rename: @Sendable (_ dirfd: Int32, _ from: String, _ to: String) throws(ReportWriteError) -> Void
        public init(rename: @escaping @Sendable (Int32, String, String) throws(ReportWriteError) -> Void) {
            self.rename = rename
        }
        /// renameat(2) within one directory.
        public static let posix = IO(rename: { (dirfd: Int32, from: String, to: String) throws(ReportWriteError) in
            if renameat(dirfd, from, dirfd, to) != 0 { throw ReportWriteError(path: to, operation: "rename", errno: errno) }
        })
    }

    /// Longest file name (bytes) the file system takes (Linux NAME_MAX).
    public static let nameMax = 255
    /// How long a FIFO output waits for a reader before it is refused.
    public nonisolated(unsafe) static var fifoReaderWait: Double = 10
    /// Bytes the temporary name adds to the target's name: "." + name + "." + 16 hex digits + ".tmp".
    public static let temporaryOverhead = 1 + 1 + 16 + 4
    static let oPath: Int32 = 0o10000000

    /// The temporary name used for `name` (same directory, hidden, unpredictable).
    public static func temporaryName(for name: String) -> String {
        var g = SystemRandomNumberGenerator()
        let r = String(g.next() as UInt64, radix: 16)
        return ".\(name).\(String(repeating: "0", count: 16 - r.utf8.count))\(r).tmp"
    }

    /// "No such file or directory, errno 2 ENOENT".
    public static func errnoText(_ e: Int32) -> String {
        let names: [Int32: String] = [EPERM: "EPERM", ENOENT: "ENOENT", EIO: "EIO", ENXIO: "ENXIO", EBADF: "EBADF",
                                      EACCES: "EACCES", EEXIST: "EEXIST", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR",
                                      EINVAL: "EINVAL", ENOSPC: "ENOSPC", EROFS: "EROFS", EPIPE: "EPIPE",
                                      ENAMETOOLONG: "ENAMETOOLONG", ELOOP: "ELOOP", EDQUOT: "EDQUOT",
                                      EMFILE: "EMFILE", EFBIG: "EFBIG", EXDEV: "EXDEV", ETXTBSY: "ETXTBSY"]
        return "\(String(cString: strerror(e))), errno \(e)" + (names[e].map { " \($0)" } ?? "")
    }

    /// Splits `path` into directory ("." when none, "/" for the root) and last component.
    static func split(_ path: String) -> (dir: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let dir = String(path[..<slash])
        return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
    }

    /// Whether the kernel's fs.protected_symlinks rule forbids this process to follow the link at `path`: the
    /// link's directory is sticky and world-writable, and the link belongs to neither that directory's owner
    /// nor this process's (file system) user.
    public static func protectedLink(_ path: String) -> Bool {
        var l = stat(), d = stat()
        guard lstat(path, &l) == 0, l.st_mode & S_IFMT == S_IFLNK, stat(split(path).dir, &d) == 0 else { return false }
        let stickyWorldWritable = d.st_mode & S_ISVTX != 0 && d.st_mode & S_IWOTH != 0
        return stickyWorldWritable && l.st_uid != d.st_uid && l.st_uid != geteuid()
    }

    static let protectedLinkText = "is a symbolic link in a sticky world-writable directory that belongs to neither that directory's owner nor this user; the kernel refuses to follow such links (fs.protected_symlinks) and so does lbrprobe"

    /// A resolved target: the directory descriptor for regular/absent targets (O_PATH, the caller closes it).
    struct Resolved {
        var kind: OutputTargetKind
        var dirfd: Int32 = -1
        var ino: (dev: UInt64, ino: UInt64)?
        var mode: mode_t?
    }

    /// Classifies `path` (see the file comment); nothing is created or opened for writing.
    public static func classify(_ path: String) -> OutputTargetKind {
        let r = resolve(path)
        if r.dirfd >= 0 { close(r.dirfd) }
        return r.kind
    }

    /// The descriptor a `/dev/stdout`-like path names, if it is one.
    public static func descriptorAlias(_ path: String) -> Int32? {
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

    /// Why descriptor `fd` may not take a report (not open, or one lbrprobe opened itself), nil if it may.
    public static func descriptorProblem(_ fd: Int32) -> String? {
        let flags = fcntl(fd, F_GETFD)
        if flags < 0 { return "descriptor \(fd) is not open" }
        if flags & FD_CLOEXEC != 0 {
            return "descriptor \(fd) is one lbrprobe opened itself (close-on-exec), not one it was given; a report is written only to a descriptor the caller passed in"
        }
        return nil
    }

    static func resolve(_ path: String) -> Resolved {
        if path.isEmpty { return Resolved(kind: .refused("empty path")) }
        if let fd = descriptorAlias(path) {
            if let why = descriptorProblem(fd) { return Resolved(kind: .refused(why)) }
            return Resolved(kind: .descriptor(fd))
        }
        if path.hasSuffix("/") { return Resolved(kind: .refused("ends with '/', so it names a directory, not a file")) }
        let (dir, name) = split(path)
        if name == "." || name == ".." { return Resolved(kind: .refused("names a directory, not a file")) }
        if protectedLink(path) { return Resolved(kind: .refused(protectedLinkText)) }
        let fd = open(path, oPath | O_CLOEXEC)
        if fd < 0 {
            let e = errno
            var l = stat()
            let isLink = lstat(path, &l) == 0 && l.st_mode & S_IFMT == S_IFLNK
            if e == ENOENT && isLink {
                return Resolved(kind: .refused("dangling symbolic link (its target does not exist; lbrprobe does not create link targets)"))
            }
            if e == EACCES && isLink { return Resolved(kind: .refused(protectedLinkText)) }
            guard e == ENOENT else { return Resolved(kind: .refused("cannot open (\(errnoText(e)))")) }
            // Absent: the directory must exist, be a directory and be writable.
            if name.utf8.count + temporaryOverhead > nameMax {
                return Resolved(kind: .refused(nameTooLong(name)))
            }
            let dfd = open(dir, oPath | O_DIRECTORY | O_CLOEXEC)
            if dfd < 0 {
                let de = errno
                switch de {
                case ENOENT: return Resolved(kind: .refused("directory \(dir) does not exist"))
                case ENOTDIR: return Resolved(kind: .refused("\(dir) is not a directory"))
                default: return Resolved(kind: .refused("directory \(dir): \(errnoText(de))"))
                }
            }
            guard let real = fdPath(dfd) else { close(dfd); return Resolved(kind: .refused("cannot resolve directory \(dir)")) }
            if access(real, W_OK) != 0 {
                let we = errno
                close(dfd)
                return Resolved(kind: .refused("directory \(dir) is not writable (\(errnoText(we)))"))
            }
            return Resolved(kind: .absent(directory: real, name: name), dirfd: dfd)
        }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { return Resolved(kind: .refused("cannot inspect (\(errnoText(errno)))")) }
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            guard let real = fdPath(fd), real.hasPrefix("/") else { return Resolved(kind: .refused("cannot resolve the file's location")) }
            let (rdir, rname) = split(real)
            if rname.utf8.count + temporaryOverhead > nameMax { return Resolved(kind: .refused(nameTooLong(rname))) }
            let dfd = open(rdir, oPath | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
            if dfd < 0 { return Resolved(kind: .refused("directory \(rdir): \(errnoText(errno))")) }
            if access(rdir, W_OK) != 0 {
                let we = errno
                close(dfd)
                return Resolved(kind: .refused("directory \(rdir) is not writable (\(errnoText(we)))"))
            }
            return Resolved(kind: .regular(directory: rdir, name: rname), dirfd: dfd,
                            ino: (UInt64(st.st_dev), UInt64(st.st_ino)), mode: st.st_mode & 0o7777)
        case S_IFCHR: return Resolved(kind: .stream(kind: "character device"))
        case S_IFIFO: return Resolved(kind: .stream(kind: "FIFO"))
        case S_IFSOCK: return Resolved(kind: .refused("is a socket; lbrprobe writes files, character devices and FIFOs only (connect a socket with e.g. socat)"))
        case S_IFDIR: return Resolved(kind: .refused("is a directory"))
        case S_IFBLK: return Resolved(kind: .refused("is a block device (lbrprobe does not write reports onto block devices)"))
        default: return Resolved(kind: .refused("is neither a regular file nor a device"))
        }
    }

    static func nameTooLong(_ name: String) -> String {
        "file name is \(name.utf8.count) bytes; with the temporary name lbrprobe writes first (\(temporaryOverhead) more) it exceeds NAME_MAX (\(nameMax))"
    }

    /// The path the kernel has for descriptor `fd` (/proc/self/fd/N).
    static func fdPath(_ fd: Int32) -> String? {
        var buf = [CChar](repeating: 0, count: 4097)
        let n = readlink("/proc/self/fd/\(fd)", &buf, 4096)
        guard n > 0 else { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Writes `bytes` to `path` according to what it names (see the file comment).
    public static func write(_ bytes: [UInt8], to path: String, io: IO = .posix,
                             stop: () -> Bool = { false }) throws(ReportWriteError) {
        do {
            try writeBytes(to: path, io: io, stop: stop) { sink in sink(bytes) }
        } catch let e as ReportWriteError { throw e } catch {
            throw ReportWriteError(path: path, operation: "render", errno: nil, detail: "\(error)")
        }
    }

    public static func write(_ text: String, to path: String, io: IO = .posix,
                             stop: () -> Bool = { false }) throws(ReportWriteError) {
        try write(Array(text.utf8), to: path, io: io, stop: stop)
    }

    /// Streams what `produce` hands its sink to `path`, with the target rules of the file comment: a large
    /// report is never held whole. Buffered in 64 KiB; the first write failure is thrown after `produce`
    /// returns; a regular/absent target is replaced atomically (temporary file + renameat).
    public static func write(to path: String, io: IO = .posix, stop: () -> Bool = { false },
                             _ produce: ((String) -> Void) throws -> Void) throws {
        try writeBytes(to: path, io: io, stop: stop) { sink in
            try withoutActuallyEscaping(sink) { s in try produce { s(Array($0.utf8)) } }
        }
    }

    /// `write(to:produce:)` for producers of bytes.
    public static func writeBytes(to path: String, io: IO = .posix, stop: () -> Bool = { false },
                                  _ produce: (([UInt8]) -> Void) throws -> Void) throws {
        let r = resolve(path)
        let fd: Int32
        var tmp: String?
        var ownsFd = true
        defer { if r.dirfd >= 0 { close(r.dirfd) } }
        switch r.kind {
        case let .absent(_, name), let .regular(_, name):
            let t = temporaryName(for: name)
            fd = openat(r.dirfd, t, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0o644)
            if fd < 0 { throw ReportWriteError(path: path, operation: "create", errno: errno) }
            tmp = t
            if let mode = r.mode { _ = fchmod(fd, mode) } // keep the replaced file's mode
        case let .stream(kind):
            fd = try openStream(path, kind: kind, stop: stop)
        case let .descriptor(d):
            if let why = descriptorProblem(d) { throw ReportWriteError(path: path, operation: "refuse", errno: nil, detail: why) }
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
            try produce { bytes in
                buffer.append(contentsOf: bytes)
                if buffer.count >= 1 << 16 { flush() }
            }
        } catch {
            if ownsFd { close(fd) }
            if let tmp { unlinkat(r.dirfd, tmp, 0) }
            throw error
        }
        flush()
        if failure == nil, tmp != nil, fsync(fd) != 0 { failure = ReportWriteError(path: path, operation: "fsync", errno: errno) }
        if ownsFd, close(fd) != 0, failure == nil, errno != EINTR { failure = ReportWriteError(path: path, operation: "close", errno: errno) }
        if let tmp, failure == nil {
            let name: String
            switch r.kind {
            case let .absent(_, n), let .regular(_, n): name = n
            default: name = tmp
            }
            failure = checkUnchanged(r, name: name, path: path)
            if failure == nil {
                do { try io.rename(r.dirfd, tmp, name) } catch { failure = ReportWriteError(path: path, operation: "rename", errno: error.errno) }
            }
        }
        if let tmp, failure != nil { unlinkat(r.dirfd, tmp, 0) }
        if let failure { throw failure }
    }

    /// The entry about to be replaced is still what was classified: the same regular file, or (absent) nothing
    /// or something rename(2) replaces without following it (a link planted meanwhile is replaced, not followed).
    static func checkUnchanged(_ r: Resolved, name: String, path: String) -> ReportWriteError? {
        var st = stat()
        let exists = fstatat(r.dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0
        if let (dev, ino) = r.ino {
            if !exists || st.st_mode & S_IFMT != S_IFREG || UInt64(st.st_dev) != dev || UInt64(st.st_ino) != ino {
                return ReportWriteError(path: path, operation: "refuse", errno: nil,
                                        detail: "the file was replaced by something else while the report was written; not renaming over it")
            }
        }
        return nil
    }

    /// Opens a character device or FIFO for writing without blocking: a FIFO without a reader is retried every
    /// 20 ms for `fifoReaderWait` seconds (or until `stop`), then refused.
    static func openStream(_ path: String, kind: String, stop: () -> Bool) throws(ReportWriteError) -> Int32 {
        var waited = 0.0
        while true {
            let fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK)
            if fd >= 0 {
                var st = stat()
                let t = fstat(fd, &st) == 0 ? st.st_mode & S_IFMT : 0
                if t != S_IFIFO && t != S_IFCHR {
                    close(fd)
                    throw ReportWriteError(path: path, operation: "refuse", errno: nil,
                                           detail: "was a \(kind) when checked and is something else now; not writing into it")
                }
                let fl = fcntl(fd, F_GETFL)
                if fl >= 0 { _ = fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) }
                return fd
            }
            let e = errno
            if e == EINTR { continue }
            if e == ENXIO && kind == "FIFO" {
                if stop() {
                    throw ReportWriteError(path: path, operation: "refuse", errno: nil,
                                           detail: "FIFO has no reader; stopped waiting for one (signal received)")
                }
                if waited >= fifoReaderWait {
                    throw ReportWriteError(path: path, operation: "refuse", errno: nil,
                                           detail: "FIFO has no reader (waited \(Int(fifoReaderWait)) s); start the reader first")
                }
                usleep(20_000); waited += 0.02
                continue
            }
            if e == EACCES && protectedLink(path) {
                throw ReportWriteError(path: path, operation: "refuse", errno: nil, detail: protectedLinkText)
            }
            throw ReportWriteError(path: path, operation: "open", errno: e)
        }
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

    /// The device and inode `path` names (following links as open(2) would), nil when it names nothing.
    public static func identity(_ path: String) -> (dev: UInt64, ino: UInt64, mode: mode_t)? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino), st.st_mode & S_IFMT)
    }

    /// Whether output `output` names the same file as input `input` (device + inode; character devices and
    /// FIFOs never count: reading from and writing to a tty or a pipe destroys nothing).
    public static func outputIsInput(_ output: String, _ input: String) -> Bool {
        if input == "-" || output == "-" { return false }
        guard let o = identity(output), let i = identity(input), o.mode == S_IFREG else { return false }
        return o.dev == i.dev && o.ino == i.ino
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
            let (dir, base) = split(p)
            guard let r = realpath(dir, nil) else { return nil }
            defer { free(r) }
            return String(cString: r) + "/" + base
        }
        return key(a) != nil && key(a) == key(b)
    }
}
