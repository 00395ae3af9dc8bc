import LbrCore
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// The outcome of reading a small kernel text file: its value, or exactly why not.
public enum FileRead<Value: Sendable & Hashable>: Sendable, Hashable {
    case value(Value)
    /// The path does not exist (ENOENT/ENOTDIR).
    case absent(path: String)
    /// The path exists but reading failed with `errno` (EACCES, EPERM, EIO, …).
    case unreadable(path: String, errno: Errno)
    /// The content could not be parsed as the requested type.
    case malformed(path: String, content: String)

    public var value: Value? { if case .value(let v) = self { return v } else { return nil } }

    func flatMap<T>(_ f: (Value, String) -> FileRead<T>, path: String) -> FileRead<T> {
        switch self {
        case .value(let v): return f(v, path)
        case .absent(let p): return .absent(path: p)
        case .unreadable(let p, let e): return .unreadable(path: p, errno: e)
        case .malformed(let p, let c): return .malformed(path: p, content: c)
        }
    }
}

extension FileRead where Value: Codable {
    /// As a `Probed` value for HostProfile, with the reason spelled out.
    public var probed: Probed<Value> {
        switch self {
        case .value(let v): return .value(v)
        case .absent(let path): return .unavailable(.absent("\(path) does not exist"))
        case .unreadable(let path, let e):
            return .unavailable(Unavailable(.unreadable, "\(path): \(e)", errno: e.rawValue))
        case .malformed(let path, let content):
            return .unavailable(.malformed("\(path): unexpected content \"\(content.prefix(40))\""))
        }
    }
}

/// Typed readers for sysfs/procfs files under a root directory (`/` on a live host, a temp
/// directory in tests, so that absence and unreadability are testable).
public struct Sysfs: Sendable {
    /// Prefix prepended to every absolute path ("/" for the live host).
    public let root: String

    public init(root: String = "/") { self.root = root }

    /// `path` resolved under `root`.
    public func resolve(_ path: String) -> String {
        if root == "/" || root.isEmpty { return path }
        let r = root.hasSuffix("/") ? String(root.dropLast()) : root
        return path.hasPrefix("/") ? r + path : r + "/" + path
    }

    /// Whether `path` exists (any type).
    public func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(resolve(path), &st) == 0
    }

    /// The raw content of `path` (at most `limit` bytes).
    public func raw(_ path: String, limit: Int = 1 << 20) -> FileRead<String> {
        let full = resolve(path)
        let fd = Glibc.open(full, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let e = Errno(rawValue: Glibc.errno)
            return e == .noSuchFileOrDirectory || e == .notDirectory ? .absent(path: full) : .unreadable(path: full, errno: e)
        }
        defer { _ = Glibc.close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < limit {
            // SAFETY: read(2) writes at most `buf.count` bytes into the array's own storage.
            let n = chunk.withUnsafeMutableBytes { buf in retryingEINTRInt { Glibc.read(fd, buf.baseAddress, buf.count) } }
            if n < 0 { return .unreadable(path: full, errno: Errno(rawValue: Glibc.errno)) }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return .value(String(decoding: bytes.prefix(limit), as: UTF8.self))
    }

    /// The content of `path`, trimmed.
    public func string(_ path: String) -> FileRead<String> {
        raw(path).flatMap({ s, _ in .value(KernelText.trim(s)) }, path: resolve(path))
    }

    /// A decimal integer file (e.g. perf_event_paranoid, caps/branches).
    public func int(_ path: String) -> FileRead<Int> {
        string(path).flatMap({ s, p in Int(s).map { .value($0) } ?? .malformed(path: p, content: s) }, path: resolve(path))
    }

    /// A boolean module parameter or flag file: Y/y/1 → true, N/n/0 → false.
    public func bool(_ path: String) -> FileRead<Bool> {
        string(path).flatMap({ s, p in
            switch s {
            case "Y", "y", "1": return .value(true)
            case "N", "n", "0": return .value(false)
            default: return .malformed(path: p, content: s)
            }
        }, path: resolve(path))
    }

    /// Entry names in directory `path`, sorted, without "." and "..".
    public func list(_ path: String) -> FileRead<[String]> {
        let full = resolve(path)
        guard let dir = opendir(full) else {
            let e = Errno(rawValue: Glibc.errno)
            return e == .noSuchFileOrDirectory || e == .notDirectory ? .absent(path: full) : .unreadable(path: full, errno: e)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let ent = readdir(dir) {
            // SAFETY: `ent` is the entry readdir just returned (valid until the next readdir); d_name is read as bytes.
            let name = withUnsafeBytes(of: ent.pointee.d_name) { buf in
                String(decoding: buf.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return .value(names.sorted())
    }
}

@inline(__always)
func retryingEINTRInt(_ body: () -> Int) -> Int {
    while true {
        let rc = body()
        if rc == -1 && Glibc.errno == EINTR { continue }
        return rc
    }
}
