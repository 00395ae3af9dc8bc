import LbrCore
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Where tracefs is: `/sys/kernel/tracing` (4.1+) or `/sys/kernel/debug/tracing`.
public struct Tracefs: Hashable, Sendable {
    public let root: String

    /// Candidate mount points, in preference order.
    public static let candidates = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]

    public init(root: String) { self.root = root }

    /// Finds a mounted tracefs (a candidate that has an `events` directory). When none is mounted,
    /// `mountIfAbsent` is set and we are root, mounts tracefs at `/sys/kernel/tracing` (the
    /// mount is left in place: it is the system's standard location, like `perf` would expect it).
    public static func locate(mountIfAbsent: Bool = true) throws(LinuxError) -> Tracefs {
        for c in candidates where access(c + "/events", F_OK) == 0 { return Tracefs(root: c) }
        guard mountIfAbsent else {
            throw LinuxError(.noSuchFileOrDirectory, "tracefs not mounted at \(candidates.joined(separator: " or "))")
        }
        guard geteuid() == 0 else {
            throw LinuxError(.permissionDenied, "tracefs not mounted and not root: cannot mount it at /sys/kernel/tracing")
        }
        let target = candidates[0]
        if mount("nodev", target, "tracefs", 0, nil) != 0 {
            let e = LinuxError.current("mount(tracefs, \(target))")
            // EBUSY: someone mounted it concurrently.
            if e.errno != .resourceBusy { throw e }
        }
        guard access(target + "/events", F_OK) == 0 else {
            throw LinuxError(.noSuchFileOrDirectory, "tracefs mounted at \(target) but has no events directory")
        }
        return Tracefs(root: target)
    }

    /// Directory of `system:name`.
    public func eventDirectory(system: String, name: String) -> String { "\(root)/events/\(system)/\(name)" }

    /// Whether the tracepoint exists (e.g. `kvm:kvm_msr` needs the kvm module).
    public func exists(system: String, name: String) -> Bool {
        access(eventDirectory(system: system, name: name) + "/id", F_OK) == 0
    }

    /// The tracepoint id (its perf `config`), from `events/<system>/<name>/id`.
    public func id(system: String, name: String) throws(LinuxError) -> UInt64 {
        let path = eventDirectory(system: system, name: name) + "/id"
        let text = try tracefsReadFile(path)
        guard let v = UInt64(text.trimmingCharacters(in: " \n\t")) else {
            throw LinuxError(.invalidArgument, "\(path): not a number: '\(text)'")
        }
        return v
    }

    /// The parsed `format` file. Throws `LinuxError` (EINVAL) if it does not parse.
    public func format(system: String, name: String) throws(LinuxError) -> TracepointFormat {
        let path = eventDirectory(system: system, name: name) + "/format"
        let text = try tracefsReadFile(path)
        do throws(TracepointFormatError) {
            return try TracepointFormat(parsing: text)
        } catch {
            throw LinuxError(.invalidArgument, "\(path): \(error)")
        }
    }
}

/// Reads a (small, pseudo-)file completely.
fileprivate func tracefsReadFile(_ path: String, limit: Int = 1 << 20) throws(LinuxError) -> String {
    let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 { throw LinuxError.current("open(\(path))") }
    defer { _ = Glibc.close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while out.count < limit {
        // SAFETY: read(2) writes at most the array's byte count into its own storage.
        let n = chunk.withUnsafeMutableBytes { p in
            tracefsRetryingEINTR { Glibc.read(fd, p.baseAddress, p.count) }
        }
        if n < 0 { throw LinuxError.current("read(\(path))") }
        if n == 0 { break }
        out.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: out, as: UTF8.self)
}

@inline(__always)
fileprivate func tracefsRetryingEINTR(_ body: () -> Int) -> Int {
    while true {
        let rc = body()
        if rc == -1 && Glibc.errno == EINTR { continue }
        return rc
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}

/// A tracepoint as a perf event: counted always, and optionally sampled with PERF_SAMPLE_RAW
/// (sample_period = 1: one sample per hit) into a ring whose RAW payloads are decoded with the
/// tracepoint's own `format`.
public final class TracepointCounter: Sendable {
    public let system: String
    public let name: String
    public let format: TracepointFormat
    public let event: PerfEvent
    /// The sample ring (nil for a counting-only tracepoint).
    public let ring: PerfRing?

    /// sample_type of sampling tracepoint events: TID | TIME | CPU | RAW.
    public static let sampleType: UInt64 = PerfSample.tid | PerfSample.time | PerfSample.cpu | PerfSample.raw

    /// The attribute used for `system:name` with id `id`.
    public static func attr(id: UInt64, sampling: Bool, disabled: Bool = false) -> PerfAttr {
        var a = PerfAttr(type: .tracepoint, config: id)
        if sampling {
            a.samplePeriod = 1
            a.sampleType = sampleType
            a.wakeupEvents = 1
        }
        a.disabled = disabled
        return a
    }

    /// Opens `system:name` on `pid` (0 = calling thread, -1 = all tasks) / `cpu` (-1 = any).
    /// A CPU-wide tracepoint (pid = -1) needs a concrete `cpu`; use one counter per CPU for all CPUs.
    public init(tracefs: Tracefs, system: String, name: String, pid: Int32, cpu: Int32,
                sampling: Bool = false, ringPages: Int = 16, disabled: Bool = false) throws(TracepointError) {
        do throws(LinuxError) {
            guard tracefs.exists(system: system, name: name) else {
                throw LinuxError(.noSuchFileOrDirectory, "tracepoint \(system):\(name) not found under \(tracefs.root)/events")
            }
            self.format = try tracefs.format(system: system, name: name)
        } catch { throw .tracefs(error) }
        self.system = system
        self.name = name
        let ev: PerfEvent
        do throws(PerfOpenError) {
            ev = try PerfEvent.open(attr: TracepointCounter.attr(id: format.id, sampling: sampling, disabled: disabled),
                                    pid: pid, cpu: cpu)
        } catch { throw .open(error) }
        self.event = ev
        if sampling {
            do throws(LinuxError) { ring = try PerfRing(event: ev, dataPages: ringPages) } catch {
                ev.close()
                throw .tracefs(error)
            }
        } else {
            ring = nil
        }
    }

    deinit { close() }

    /// Unmaps the ring and closes the event. Idempotent.
    public func close() {
        ring?.close()
        event.close()
    }

    /// Hits so far (nil if the kernel reports the event in ERROR).
    public func count() throws(LinuxError) -> UInt64? { try event.read()?.value }

    /// Drains the ring: each RAW sample with its tid/cpu/time. Empty for a counting-only tracepoint.
    public func drainSamples() throws(PerfRingError) -> (samples: [PerfSampleRecord], lost: UInt64) {
        guard let ring else { return ([], 0) }
        var samples: [PerfSampleRecord] = []
        var lost: UInt64 = 0
        for r in try ring.drain() {
            switch r {
            case let .sample(s): samples.append(s)
            case let .lost(_, n): lost += n
            case .other, .throttle: continue
            }
        }
        return (samples, lost)
    }
}

/// Failure to set up a tracepoint event.
public enum TracepointError: Error, Hashable, Sendable, CustomStringConvertible {
    case tracefs(LinuxError)
    case open(PerfOpenError)
    case decode(TracepointFormatError)
    public var description: String {
        switch self {
        case let .tracefs(e): return e.description
        case let .open(e): return e.description
        case let .decode(e): return e.description
        }
    }
}

/// `kvm:kvm_msr` counted and sampled with RAW, decoded by `KvmMsrDecoder` (offsets from `format`).
///
/// Open it on the vCPU thread (`pid` = its tid, `cpu` = -1): the tracepoint fires in that thread's
/// context, once per MSR access KVM handles itself.
public final class KvmMsrTracer: Sendable {
    public let counter: TracepointCounter
    public let decoder: KvmMsrDecoder

    public init(tracefs: Tracefs, pid: Int32, cpu: Int32 = -1, sampling: Bool = true,
                ringPages: Int = 16) throws(TracepointError) {
        let c = try TracepointCounter(tracefs: tracefs, system: "kvm", name: "kvm_msr", pid: pid, cpu: cpu,
                                      sampling: sampling, ringPages: ringPages)
        do throws(TracepointFormatError) { decoder = try KvmMsrDecoder(format: c.format) } catch {
            c.close()
            throw .decode(error)
        }
        counter = c
    }

    public func close() { counter.close() }

    /// kvm_msr hits so far.
    public func count() throws(LinuxError) -> UInt64? { try counter.count() }

    /// Decoded accesses since the last drain, and the number of samples the ring lost.
    public func drain() throws(TracepointError) -> (accesses: [KvmMsrEvent], lost: UInt64) {
        let d: (samples: [PerfSampleRecord], lost: UInt64)
        do { d = try counter.drainSamples() } catch {
            switch error {
            case let .linux(e): throw .tracefs(e)
            case let .parse(p): throw .decode(TracepointFormatError(p.description))
            }
        }
        var out: [KvmMsrEvent] = []
        for s in d.samples {
            guard let raw = s.raw else { throw .decode(TracepointFormatError("kvm_msr sample without RAW payload")) }
            do throws(TracepointFormatError) { out.append(try decoder.decode(raw)) } catch { throw .decode(error) }
        }
        return (out, d.lost)
    }
}
