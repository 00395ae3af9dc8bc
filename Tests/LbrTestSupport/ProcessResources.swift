#if canImport(Glibc)
import Glibc
#endif

/// The readlink targets of the entries of a /proc directory (fd number or thread id → target), minus what is
/// not ours to judge: concurrent /proc directory listings and the fds Dispatch and the test runtime create
/// lazily for the whole process.
private func procEntries(_ dir: String) -> [String: String] {
    guard let d = opendir(dir) else { return [:] }
    defer { closedir(d) }
    var out: [String: String] = [:]
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name.hasPrefix(".") { continue }
        var buf = [CChar](repeating: 0, count: 512)
        let n = readlink("\(dir)/\(name)", &buf, buf.count - 1)
        let target = n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        if target.hasPrefix("/proc/") { continue }
        if ["anon_inode:[eventpoll]", "anon_inode:[eventfd]", "anon_inode:[timerfd]"].contains(target) { continue }
        out[name] = target
    }
    return out
}

/// Snapshot of this process's fds (number → target) and threads, for "nothing left behind" checks.
///
/// Use it inside a Swift Testing exit test (`#expect(processExitsWith: .success) { … }`), where no other
/// suite runs, and finish with `exitReportingLeaks(_:)`.
public struct ProcessSnapshot: Sendable {
    public let fds: [String: String]
    public let threads: Set<String>

    public init() { fds = procEntries("/proc/self/fd"); threads = Set(procEntries("/proc/self/task").keys) }

    /// What is open now and was not at `self`, after letting threads finish exiting (≤ 3 s): only entries
    /// that stay are reported.
    public func leaked() -> [String] {
        var extra: [String] = []
        for _ in 0..<30 {
            let now = ProcessSnapshot()
            extra = now.fds.filter { fds[$0.key] != $0.value }.map { "fd \($0.key) → \($0.value)" }
                + now.threads.subtracting(threads).map { "thread \($0)" }
            if extra.isEmpty { return [] }
            usleep(100_000)
        }
        return extra
    }
}

/// Exits 0 when nothing outlived `snap`, else prints the leaks to stderr and exits 1 (for exit tests).
public func exitReportingLeaks(_ snap: ProcessSnapshot) -> Never {
    let leaked = snap.leaked()
    if leaked.isEmpty { exit(0) }
    let text = "leaked: " + leaked.joined(separator: ", ") + "\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
    exit(1)
}

/// Whether this process's thread `tid` is gone from /proc/self/task within `seconds`.
///
/// pthread_join returns once the kernel clears the thread's tid word, which happens before the task is
/// released, so its /proc/self/task entry can outlive the join by a moment on a busy machine.
public func threadIsGone(_ tid: pid_t, within seconds: Double = 3) -> Bool {
    let polls = max(1, Int(seconds * 100))
    for i in 0..<polls {
        if access("/proc/self/task/\(tid)", F_OK) != 0 { return true }
        if i + 1 < polls { usleep(10_000) }
    }
    return false
}
