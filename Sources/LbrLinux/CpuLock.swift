// One probe per CPU: an advisory flock(2) on a lock file named after the probed CPU, taken before
// the guest or any perf event is created and held until the process exits. Two probes on one CPU would share
// its LBRs (on hw each would see the other's branches and its events starve) and corrupt each other's verdicts.
//
// Lock directory: /run/lock/lbrprobe (shared by every user, so a root and a non-root probe see each other),
// else $XDG_RUNTIME_DIR/lbrprobe, else /tmp/lbrprobe-<uid>; LBRPROBE_LOCK_DIR overrides. The directory itself
// is created (mode 1777) when missing, its parents never: a directory that cannot be made (a missing parent,
// no permission) is its own error (`noDirectory`, exit 73), not "another lbrprobe is probing".
// Lock files are created mode 0666 (umask ignored), so every user who may probe can lock them; a lock file
// this user cannot open for writing (made by an older lbrprobe 0644) is opened read-only — flock(2) needs no
// write access, only the holder's pid is then not recorded. An existing file is opened without O_CREAT, so
// fs.protected_regular never refuses another user's lock file in the sticky directory.
// The file holds the holder's pid (for messages); the lock itself is the flock, released by the kernel when
// the holder exits however it exits.

#if canImport(Glibc)
import Glibc
#endif

/// A held per-CPU probe lock.
public final class CpuLock: Sendable {
    public let cpu: Int
    public let path: String
    private let fd: Int32

    /// Why the lock could not be taken.
    public enum Failure: Error, Sendable, CustomStringConvertible {
        /// Another process holds it (its pid when the file names one).
        case busy(cpu: Int, path: String, holder: Int32?)
        /// The lock file could not be created or locked.
        case failed(String)
        /// The lock directory does not exist and cannot be created (missing parent, permission), or is no directory.
        case noDirectory(String)
        /// Waiting was abandoned (a signal arrived).
        case interrupted(cpu: Int)

        public var description: String {
            switch self {
            case let .busy(cpu, path, holder):
                return "CPU \(cpu) is being probed by another lbrprobe (\(holder.map { "pid \($0)" } ?? "pid unknown"), lock \(path)); "
                    + "two probes on one CPU would share its LBRs and corrupt each other: use --cpu for another CPU, or --wait"
            case let .failed(m), let .noDirectory(m): return m
            case let .interrupted(cpu): return "stopped waiting for the probe lock of CPU \(cpu)"
            }
        }
    }

    /// The directory lock files live in (created if needed, mode 1777 like /run/lock itself).
    public static func lockDirectory(environment: [String: String]) -> String {
        if let d = environment["LBRPROBE_LOCK_DIR"], !d.isEmpty { return d }
        if access("/run/lock", W_OK) == 0 { return "/run/lock/lbrprobe" }
        if let x = environment["XDG_RUNTIME_DIR"], !x.isEmpty, access(x, W_OK) == 0 { return x + "/lbrprobe" }
        return "/tmp/lbrprobe-\(getuid())"
    }

    public static func path(cpu: Int, directory: String) -> String { "\(directory)/cpu\(cpu).lock" }

    private init(cpu: Int, path: String, fd: Int32) { self.cpu = cpu; self.path = path; self.fd = fd }

    deinit { close(fd) }

    /// Takes the lock of `cpu`.
    /// - Parameters:
    ///   - wait: when another process holds it, wait for it (calling `waiting` once with the holder's pid),
    ///     polling every 50 ms and giving up when `stop` returns true; otherwise fail at once with `.busy`.
    ///   - createDirectory: create `directory` (mode 1777) when it is missing; otherwise it must exist.
    public static func acquire(cpu: Int, directory: String, wait: Bool, createDirectory: Bool = true,
                               waiting: (Int32?) -> Void = { _ in }, stop: () -> Bool = { false }) throws(Failure) -> CpuLock {
        func text(_ e: Int32) -> String { "\(String(cString: strerror(e))), errno \(e)" }
        var st = stat()
        if stat(directory, &st) != 0 {
            let e = errno
            guard e == ENOENT, createDirectory else {
                throw .noDirectory("cannot use the probe lock directory \(directory): \(text(e))")
            }
            let oldMask = umask(0)
            let rc = mkdir(directory, 0o1777)
            let me = errno
            umask(oldMask)
            if rc != 0 && me != EEXIST {
                throw .noDirectory("cannot create the probe lock directory \(directory): \(text(me))"
                                   + (me == ENOENT ? " (its parent directory does not exist; set LBRPROBE_LOCK_DIR to an existing directory's child)" : ""))
            }
        } else if st.st_mode & S_IFMT != S_IFDIR {
            throw .noDirectory("the probe lock directory \(directory) is not a directory")
        }
        let p = path(cpu: cpu, directory: directory)
        var fd: Int32 = -1
        for _ in 0..<3 where fd < 0 {
            fd = open(p, O_RDWR | O_CLOEXEC | O_NOFOLLOW)
            if fd < 0 && (errno == EACCES || errno == EPERM) { fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }
            if fd < 0 && errno == ENOENT {
                let oldMask = umask(0)
                fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o666)
                let e = errno
                umask(oldMask)
                if fd < 0 && e == EEXIST { continue } // created meanwhile by another probe: open it
                errno = e
            }
            if fd < 0 { break }
        }
        if fd < 0 { throw .failed("cannot open the probe lock \(p): \(text(errno))") }
        var announced = false
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            if e == EINTR { continue }
            guard e == EWOULDBLOCK else {
                close(fd)
                throw .failed("cannot lock \(p): \(String(cString: strerror(e)))")
            }
            let holder = readHolder(fd)
            guard wait else { close(fd); throw .busy(cpu: cpu, path: p, holder: holder) }
            if !announced { waiting(holder); announced = true }
            if stop() { close(fd); throw .interrupted(cpu: cpu) }
            usleep(50_000)
        }
        // Ours: record the pid for the next one's message.
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return CpuLock(cpu: cpu, path: p, fd: fd)
    }

    static func readHolder(_ fd: Int32) -> Int32? {
        var buf = [UInt8](repeating: 0, count: 32)
        let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return String(decoding: buf[0..<n], as: UTF8.self).split(whereSeparator: { $0 == "\n" || $0 == " " }).first.flatMap { Int32($0) }
    }
}
