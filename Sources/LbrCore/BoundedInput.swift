// Reading an input file (run document, expectation file) with a size cap: regular files, FIFOs, character
// devices and standard input ('-' or /dev/stdin) alike, never more than `limit` bytes held, one line in the
// tool's own words for every way it can fail (errno named), so a hostile or mistaken input (`</dev/zero`, a
// 4 GB file, a directory, a FIFO without a writer) ends in a clear EX_DATAERR instead of exhausting memory or
// hanging. Opening is non-blocking (a FIFO without a writer reads as empty instead of blocking in open).

#if canImport(Glibc)
import Glibc
#endif

public enum BoundedInput {
    /// The documented cap for run documents: 512 MiB (a `--repeat 200000` document is ~150 MB).
    public static let documentLimit = 512 << 20

    /// Why an input could not be read: one line, without the path (the caller names it).
    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
        public init(_ message: String) { self.message = message }
    }

    /// A byte for a message: 'x' when printable ASCII, else 0xNN.
    public static func byteText(_ b: UInt8) -> String {
        b >= 0x21 && b < 0x7f ? "'\(Character(Unicode.Scalar(b)))'" : "0x" + (b < 16 ? "0" : "") + String(b, radix: 16)
    }

    /// Whether `path` means standard input.
    public static func isStandardInput(_ path: String) -> Bool {
        path == "-" || path == "/dev/stdin" || path == "/dev/fd/0" || path == "/proc/self/fd/0"
    }

    /// "No such file or directory (errno 2)".
    static func why(_ e: Int32) -> String { "\(String(cString: strerror(e))) (errno \(e))" }

    /// Whether `path` (not standard input) is a regular file of at most `limit` bytes, which a caller may map
    /// instead of reading; too large is an error, anything else (absent, FIFO, device) is false: `read` then
    /// gives its message.
    public static func isRegularFile(_ path: String, limit: Int, what: String) throws(Failure) -> Bool {
        if isStandardInput(path) { return false }
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return false }
        if st.st_size > limit { throw Failure("is \(st.st_size) bytes, more than the \(limit >> 20) MiB \(what) may have") }
        return true
    }

    /// The bytes of `path` (standard input for '-' and /dev/stdin), at most `limit`.
    /// - Parameter firstByte: checked against the first byte that is not JSON whitespace as soon as it is read
    ///   (a run document starts with '{'), so an endless stream of junk fails at its first byte, not at the cap.
    public static func read(_ path: String, limit: Int, what: String,
                            firstByte: ((UInt8) -> String?)? = nil) throws(Failure) -> [UInt8] {
        let stdin = isStandardInput(path)
        let fd = stdin ? 0 : open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        if fd < 0 {
            let e = errno
            throw Failure("cannot read: \(why(e))")
        }
        defer { if !stdin { close(fd) } }
        var st = stat()
        if fstat(fd, &st) != 0 { throw Failure("cannot inspect: \(why(errno))") }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: throw Failure("is a directory, not \(what)")
        case S_IFBLK: throw Failure("is a block device, not \(what)")
        case S_IFSOCK where !stdin: throw Failure("is a socket, not \(what)")
        default: break
        }
        if !stdin {
            let fl = fcntl(fd, F_GETFL)
            if fl >= 0 { _ = fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) }
        }
        let regular = st.st_mode & S_IFMT == S_IFREG
        if regular, st.st_size > limit { throw Failure("is \(st.st_size) bytes, more than the \(limit >> 20) MiB \(what) may have") }
        var out: [UInt8] = []
        if regular { out.reserveCapacity(Int(st.st_size) + 1) }
        var checked = firstByte == nil
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let room = min(chunk.count, limit + 1 - out.count)
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, room) }
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                if e == EAGAIN { // standard input left non-blocking by the caller: wait for it
                    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    _ = poll(&p, 1, -1)
                    continue
                }
                if e == EISDIR { throw Failure("is a directory, not \(what)") }
                throw Failure("read failed: \(why(e))")
            }
            if n == 0 { break }
            if !checked, let firstByte {
                if let b = chunk[0..<n].first(where: { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0a || $0 == 0x0d) }) {
                    checked = true
                    if let problem = firstByte(b) { throw Failure(problem) }
                }
            }
            out.append(contentsOf: chunk[0..<n])
            if out.count > limit { throw Failure("more than the \(limit >> 20) MiB \(what) may have (stopped reading there)") }
        }
        return out
    }
}
