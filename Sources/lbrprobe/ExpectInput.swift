// Reading the `--expect` file: one line in the tool's own words for every way it can be wrong
// (missing, unreadable, a directory, a device or FIFO, not UTF-8, too large, no entries), exit 65.

import ArgumentParser
import Foundation
import LbrBackends
import LbrCore
import LbrScenarios

enum ExpectInput {
    /// Largest expectation file read (a real one is a few KB; this only stops runaway inputs).
    static let maxBytes = 256 << 20

    struct Failure: Error { var message: String }

    /// The file's bytes, or why it cannot be used.
    static func readBytes(_ path: String, what: String = "an expectation file") throws(Failure) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        if fd < 0 {
            let e = errno
            switch e {
            case ENOENT: throw Failure(message: "no such file")
            case EACCES, EPERM: throw Failure(message: "permission denied (cannot open it for reading)")
            default: throw Failure(message: "cannot open: \(String(cString: strerror(e)))")
            }
        }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw Failure(message: "cannot inspect: \(String(cString: strerror(errno)))") }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw Failure(message: "is a directory, not \(what)")
        case S_IFCHR: throw Failure(message: "is a character device, not \(what) (give a regular file)")
        case S_IFBLK: throw Failure(message: "is a block device, not \(what)")
        case S_IFIFO, S_IFSOCK: throw Failure(message: "is a FIFO or socket, not \(what) (give a regular file)")
        default: throw Failure(message: "is not a regular file")
        }
        if st.st_size > maxBytes { throw Failure(message: "is \(st.st_size) bytes, more than the \(maxBytes >> 20) MiB \(what) may have") }
        var out: [UInt8] = []
        out.reserveCapacity(Int(st.st_size))
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw Failure(message: "read failed: \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            out += buf[0..<n]
            if out.count > maxBytes { throw Failure(message: "more than the \(maxBytes >> 20) MiB \(what) may have") }
        }
        return out
    }

    /// Reads and parses `path`; prints one line and exits 65 on any problem. An expectation file without a
    /// single entry gates nothing, so it is an error too unless `allowEmpty`.
    static func load(_ path: String, allowEmpty: Bool) throws -> ExpectationSet {
        let shownPath = ExpectationSet.shown(path, limit: Int(PATH_MAX))
        func fail(_ message: String, line: Int? = nil) -> ExitCode {
            printError("Error: --expect \(shownPath)\(line.map { ":\($0)" } ?? ""): \(message)")
            return ExitCode(LbrExitCode.dataError.rawValue)
        }
        let bytes: [UInt8]
        do { bytes = try readBytes(path) } catch { throw fail(error.message) }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw fail("is not UTF-8 text") }
        let set: ExpectationSet
        do {
            set = try ExpectationSet.parse(text, file: path, knownScenarios: Set(Catalog.names),
                                           knownModels: Set(Backends.modelNames))
        } catch {
            let more = error.errors.count > 1 ? " (and \(error.errors.count - 1) more)" : ""
            throw fail((error.errors.first?.message ?? "malformed") + more, line: error.errors.first?.line)
        }
        if set.entries.isEmpty && !allowEmpty {
            throw fail("has no expectation entries (only blank lines or comments), so it would check nothing; add entries or pass --allow-empty-expect")
        }
        return set
    }
}
