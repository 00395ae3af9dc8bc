import LbrCore
import Synchronization
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// One `/dev/kmsg` record: "prio,seq,ts_usec,flags[,…];message" (Documentation/ABI/testing/dev-kmsg).
public struct KmsgRecord: Hashable, Sendable, Codable {
    /// syslog facility (prio >> 3): 0 = kernel, 1 = user (lines written to /dev/kmsg from userspace).
    public var facility: Int
    /// syslog level (prio & 7).
    public var level: Int
    public var sequence: UInt64
    /// Microseconds since boot (CLOCK_MONOTONIC at print time).
    public var timestampUs: UInt64
    /// Flags field ("-" normal, "c" continuation start, "+" continuation).
    public var flags: String
    public var message: String

    public init(facility: Int, level: Int, sequence: UInt64, timestampUs: UInt64, flags: String, message: String) {
        self.facility = facility; self.level = level; self.sequence = sequence
        self.timestampUs = timestampUs; self.flags = flags; self.message = message
    }

    /// Whether the kernel printed it (facility 0), as opposed to a userspace write to /dev/kmsg.
    public var isKernel: Bool { facility == 0 }

    /// Parses one record as returned by a single read(2). Continuation lines (" KEY=value") after the
    /// first newline are dropped; non-printable bytes stay escaped as the kernel wrote them ("\x0a").
    public static func parse(_ text: String) -> KmsgRecord? {
        guard let semi = text.firstIndex(of: ";") else { return nil }
        let prefix = text[..<semi].split(separator: ",", omittingEmptySubsequences: false)
        guard prefix.count >= 4, let prio = Int(prefix[0]), let seq = UInt64(prefix[1]),
              let ts = UInt64(prefix[2]) else { return nil }
        var body = text[text.index(after: semi)...]
        if let nl = body.firstIndex(of: "\n") { body = body[..<nl] }
        return KmsgRecord(facility: prio >> 3, level: prio & 7, sequence: seq, timestampUs: ts,
                          flags: String(prefix[3]), message: String(body))
    }
}

/// A summary of what the watcher saw.
public struct KmsgSummary: Hashable, Sendable, Codable {
    /// Kernel-printed lines containing `failToPassthroughMessage` ("fail to passthrough LBR", §1.5).
    public var failToPassthrough: Int
    /// Lines containing that text that were written by userspace (facility ≠ kernel): never counted
    /// as evidence of a vLBR failure, but reported so a forged line cannot go unnoticed.
    public var failToPassthroughFromUserspace: Int
    /// Other kernel lines mentioning kvm (kvm:, kvm_intel:, kvm_amd: …), kept as evidence.
    public var kvmEvidence: [KmsgRecord]
    /// Sum of N over kernel lines "vmx_passthrough_lbr_msrs: N callbacks suppressed": "fail to passthrough LBR"
    /// lines the one system-wide ratelimit swallowed (any vCPU of any VM, §9.4).
    public var failToPassthroughSuppressed: Int = 0
    /// Records lost because the kernel ring overwrote them before we read (EPIPE).
    public var overruns: Int
    /// Every record seen (bounded by the watcher's `keepLimit`).
    public var records: [KmsgRecord]
}

/// Watches the kernel log from "now" on (`/dev/kmsg`, O_RDONLY|O_NONBLOCK, lseek(SEEK_END)).
public final class KmsgWatcher: Sendable {
    private struct State: ~Copyable {
        /// nil once closed.
        var fd: OwnedFileDescriptor?
        var summary = KmsgSummary(failToPassthrough: 0, failToPassthroughFromUserspace: 0, kvmEvidence: [],
                                  overruns: 0, records: [])
    }
    private let state: Mutex<State>
    /// Maximum records / evidence lines kept.
    public let keepLimit: Int

    /// Opens `path` and seeks to its end so only messages printed from now on are seen.
    public init(path: String = "/dev/kmsg", keepLimit: Int = 4096) throws(LinuxError) {
        let kmsg = try OwnedFileDescriptor.open(path, O_RDONLY | O_NONBLOCK)
        if lseek(kmsg.rawValue, 0, SEEK_END) < 0 { throw LinuxError.current("lseek(\(path), SEEK_END)") } // closed by its owner
        self.keepLimit = keepLimit
        self.state = Mutex(State(fd: kmsg))
    }

    /// Closes /dev/kmsg. Idempotent.
    public func close() {
        let owned = state.withLock { s in s.fd.take() }
        _ = consume owned // closed here, outside the lock
    }

    /// Reads every record available now (non-blocking), updates the summary, returns the new records.
    @discardableResult
    public func poll() throws(LinuxError) -> [KmsgRecord] {
        var failure: LinuxError?
        let limit = keepLimit
        let fresh = state.withLock { s -> [KmsgRecord] in
            guard let fd = s.fd?.rawValue else { failure = LinuxError(.badFileDescriptor, "KmsgWatcher.poll after close"); return [] }
            var out: [KmsgRecord] = []
            var buf = [UInt8](repeating: 0, count: 8192)  // one record per read; records are ≤ ~1 KiB + dict
            while true {
                // SAFETY: read(2) writes at most `p.count` bytes into the array's own storage.
                let n = buf.withUnsafeMutableBytes { p in Glibc.read(fd, p.baseAddress, p.count) }
                if n < 0 {
                    let err = Glibc.errno
                    if err == EINTR { continue }
                    if err == EAGAIN || err == EWOULDBLOCK { break }
                    if err == EPIPE { s.summary.overruns += 1; continue }  // overwritten; next read resyncs
                    failure = LinuxError(Errno(rawValue: err), "read(/dev/kmsg)")
                    break
                }
                if n == 0 { break }
                guard let r = KmsgRecord.parse(String(decoding: buf[0..<n], as: UTF8.self)) else { continue }
                KmsgWatcher.account(r, into: &s.summary, limit: limit)
                out.append(r)
            }
            return out
        }
        if let failure { throw failure }
        return fresh
    }

    /// Adds one record to a summary (pure; used by `poll()`).
    public static func account(_ r: KmsgRecord, into s: inout KmsgSummary, limit: Int = 4096) {
        if r.message.contains(failToPassthroughMessage) {
            if r.isKernel { s.failToPassthrough += 1 } else { s.failToPassthroughFromUserspace += 1 }
        }
        if r.isKernel, case let .suppressed(n) = KvmLbrKmsg.classify(r.message) {
            s.failToPassthroughSuppressed += n
            if s.kvmEvidence.count < limit { s.kvmEvidence.append(r) }
        } else if r.isKernel, r.message.contains("kvm"), s.kvmEvidence.count < limit {
            s.kvmEvidence.append(r)
        }
        if s.records.count < limit { s.records.append(r) }
    }

    /// Every record the kernel log buffer still holds (/dev/kmsg read from its start, non-blocking) — for
    /// lines printed shortly before lbrprobe started watching, e.g. to learn how much of the current ratelimit
    /// interval is already used (§9.4). Records overwritten while reading are skipped.
    public static func history(path: String = "/dev/kmsg") throws(LinuxError) -> [KmsgRecord] {
        let fd = Glibc.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 { throw LinuxError.current("open(\(path))") }
        defer { _ = Glibc.close(fd) }
        var out: [KmsgRecord] = []
        var buf = [UInt8](repeating: 0, count: 8192)
        while true {
            // SAFETY: read(2) writes at most `p.count` bytes into the array's own storage.
            let n = buf.withUnsafeMutableBytes { p in Glibc.read(fd, p.baseAddress, p.count) }
            if n < 0 {
                let err = Glibc.errno
                if err == EINTR || err == EPIPE { continue }
                if err == EAGAIN || err == EWOULDBLOCK { break }
                throw LinuxError(Errno(rawValue: err), "read(\(path))")
            }
            if n == 0 { break }
            if let r = KmsgRecord.parse(String(decoding: buf[0..<n], as: UTF8.self)) { out.append(r) }
        }
        return out
    }

    /// What was seen so far (call `poll()` first to include the latest records).
    public var summary: KmsgSummary { state.withLock { $0.summary } }

    /// Writes a line to /dev/kmsg (needs root or CAP_SYSLOG-like access to the device). The kernel
    /// records it with facility "user" unless `line` carries a "<prio>" prefix; a "<N>" with N < 8 is
    /// still stored as facility user by the kernel (devkmsg_write forces LOG_USER when facility is 0).
    public static func write(_ line: String, path: String = "/dev/kmsg") throws(LinuxError) {
        let fd = Glibc.open(path, O_WRONLY | O_CLOEXEC)
        if fd < 0 { throw LinuxError.current("open(\(path), O_WRONLY)") }
        defer { _ = Glibc.close(fd) }
        let bytes = Array(line.utf8)
        // SAFETY: write(2) reads `p.count` bytes of the array's own storage.
        let n = bytes.withUnsafeBytes { p in Glibc.write(fd, p.baseAddress, p.count) }
        if n < 0 { throw LinuxError.current("write(\(path))") }
    }
}
