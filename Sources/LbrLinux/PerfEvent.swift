import CLbrShim
import LbrCore
import Synchronization
import SystemPackage
#if canImport(Glibc)
import Glibc
import Logging
#endif

/// A failed `perf_event_open(2)`: the errno AND the attribute (and target) that caused it, so a SKIP
/// reason or an error report can say exactly what was tried.
public struct PerfOpenError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The typed errno failure.
    public let error: LinuxError
    /// The attribute that was rejected.
    public let attr: PerfAttr
    public let pid: Int32
    public let cpu: Int32

    public init(error: LinuxError, attr: PerfAttr, pid: Int32, cpu: Int32) {
        self.error = error; self.attr = attr; self.pid = pid; self.cpu = cpu
    }

    /// Shortcut to `error.errno`.
    public var errno: Errno { error.errno }

    public var description: String {
        "perf_event_open(\(attr), pid=\(pid), cpu=\(cpu)): \(error.errno) (errno \(error.errno.rawValue))"
    }
}

/// One `read(2)` of a perf event fd with read_format value / time_enabled / time_running / id.
/// Fields not requested in `read_format` are 0 (`id`) or equal to nothing requested (times 0).
public struct PerfReading: Hashable, Sendable, Codable {
    public var value: UInt64
    public var timeEnabled: UInt64
    public var timeRunning: UInt64
    public var id: UInt64
    /// PERF_FORMAT_LOST count, when requested.
    public var lost: UInt64?

    public init(value: UInt64, timeEnabled: UInt64, timeRunning: UInt64, id: UInt64 = 0, lost: UInt64? = nil) {
        self.value = value; self.timeEnabled = timeEnabled; self.timeRunning = timeRunning; self.id = id; self.lost = lost
    }

    /// The reading scaled for multiplexing (value × enabled / running), as perf stat does.
    public var scaledValue: Double {
        timeRunning == 0 ? 0 : Double(value) * Double(timeEnabled) / Double(timeRunning)
    }
}

/// poll(2) result bits for a perf event fd.
public struct PerfPollEvents: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }
    /// Ring-buffer data (wakeup) available.
    public static let readable = PerfPollEvents(rawValue: Int16(POLLIN))
    /// A pinned event in ERROR (kernel 6.15+, §3.3), or a revoked event.
    public static let error = PerfPollEvents(rawValue: Int16(POLLERR))
    /// The monitored task exited — but note `perf_poll()` also reports HUP for any event without a
    /// mapped ring buffer (its initial mask is EPOLLHUP), so HUP only means something with a ring.
    public static let hangup = PerfPollEvents(rawValue: Int16(POLLHUP))

    public var description: String {
        var p: [String] = []
        if contains(.readable) { p.append("IN") }
        if contains(.error) { p.append("ERR") }
        if contains(.hangup) { p.append("HUP") }
        return p.isEmpty ? "none" : p.joined(separator: "|")
    }
}

/// The state of an event over an interval between two readings, with the evidence it is based on.
public struct PerfEventObservation: Hashable, Sendable {
    public var state: HostEventState
    /// The reading at the end of the interval (nil when read returned 0 bytes or the event is closed).
    public var reading: PerfReading?
    /// time_enabled and time_running growth over the interval.
    public var enabledDelta: UInt64
    public var runningDelta: UInt64
    /// poll(2) bits seen at the end of the interval.
    public var poll: PerfPollEvents

    public init(state: HostEventState, reading: PerfReading?, enabledDelta: UInt64, runningDelta: UInt64,
                poll: PerfPollEvents = []) {
        self.state = state; self.reading = reading; self.enabledDelta = enabledDelta
        self.runningDelta = runningDelta; self.poll = poll
    }

    /// running / enabled growth (1 when fully active, < 1 when multiplexed); nil when enabled did not grow.
    public var runningFraction: Double? {
        enabledDelta == 0 ? nil : Double(runningDelta) / Double(enabledDelta)
    }
}

/// A perf event file descriptor (`perf_event_open(2)`), typed.
///
/// Open with `PerfEvent.open(attr:pid:cpu:groupFd:flags:)`. The fd has one owner (`OwnedFileDescriptor`):
/// `close()` releases it (idempotent), otherwise it goes with the event. The event's state is derived only from what the kernel exposes to userspace (§3.2, §3.3):
/// read_format times, a 0-byte read for ERROR, and POLLERR for pinned ERROR events on 6.15+.
public final class PerfEvent: Sendable {
    /// The attribute the event was opened with.
    public let attr: PerfAttr
    public let pid: Int32
    public let cpu: Int32

    private struct State: ~Copyable {
        /// nil once closed.
        var fd: OwnedFileDescriptor?
        var enabled: Bool
    }
    private let state: Mutex<State>

    /// PERF_FLAG_FD_CLOEXEC (include/uapi/linux/perf_event.h); always added.
    public static let flagFdCloexec: UInt = 1 << 3
    /// PERF_FLAG_FD_NO_GROUP.
    public static let flagFdNoGroup: UInt = 1 << 0
    /// PERF_FLAG_FD_OUTPUT.
    public static let flagFdOutput: UInt = 1 << 1

    private init(fd: Int32, attr: PerfAttr, pid: Int32, cpu: Int32) {
        self.attr = attr; self.pid = pid; self.cpu = cpu
        self.state = Mutex(State(fd: OwnedFileDescriptor(taking: fd), enabled: !attr.disabled))
    }

    /// Opens a perf event.
    ///
    /// - Parameters:
    ///   - attr: the attribute; converted with `PerfEvent.cAttr(_:)`.
    ///   - pid: task id (0 = calling thread, -1 = any task on `cpu`).
    ///   - cpu: CPU number, or -1 for any CPU (task events).
    ///   - groupFd: group leader fd or -1.
    ///   - flags: PERF_FLAG_*; FD_CLOEXEC is always added.
    /// - Throws: `PerfOpenError` carrying the errno and `attr`.
    public static func open(attr: PerfAttr, pid: Int32, cpu: Int32, groupFd: Int32 = -1,
                            flags: UInt = 0) throws(PerfOpenError) -> PerfEvent {
        var c = cAttr(attr)
        let fd = lbr_perf_event_open(&c, pid, cpu, groupFd, flags | flagFdCloexec)
        if fd < 0 {
            let err = LinuxError.current("perf_event_open(\(attr), pid=\(pid), cpu=\(cpu), group=\(groupFd))")
            SysTrace.logger.trace("\(err.operation) = -1 \(err.errno) (errno \(err.errno.rawValue))")
            throw PerfOpenError(error: err, attr: attr, pid: pid, cpu: cpu)
        }
        SysTrace.logger.trace("perf_event_open(\(attr), pid=\(pid), cpu=\(cpu), group=\(groupFd)) = fd \(fd)")
        return PerfEvent(fd: fd, attr: attr, pid: pid, cpu: cpu)
    }

    /// Converts a `PerfAttr` to `struct perf_event_attr`: `size` = `lbr_perf_attr_size()`, every
    /// field lbrprobe uses set explicitly, everything else zero (so `precise_ip` = 0, which the
    /// 0x1b00 vLBR-slot contender needs, §3.4).
    public static func cAttr(_ a: PerfAttr) -> perf_event_attr {
        var c = perf_event_attr()
        c.type = a.type.rawValue
        c.size = lbr_perf_attr_size()
        c.config = a.config
        c.sample_period = a.samplePeriod
        c.sample_type = a.sampleType
        c.read_format = a.readFormat
        c.disabled = a.disabled ? 1 : 0
        c.inherit = 0
        c.pinned = a.pinned ? 1 : 0
        c.exclusive = 0
        c.exclude_user = a.excludeUser ? 1 : 0
        c.exclude_kernel = a.excludeKernel ? 1 : 0
        c.exclude_hv = a.excludeHv ? 1 : 0
        c.exclude_idle = 0
        c.freq = 0
        c.precise_ip = 0
        c.exclude_host = a.excludeHost ? 1 : 0
        c.exclude_guest = a.excludeGuest ? 1 : 0
        c.context_switch = a.contextSwitch ? 1 : 0
        c.wakeup_events = a.wakeupEvents
        c.branch_sample_type = a.branchSampleType
        if let clk = a.clockid {
            c.use_clockid = 1
            c.clockid = clk
        }
        return c
    }

    /// The exact bytes of `cAttr(a)` (`lbr_perf_attr_size()` bytes), for tests and evidence.
    public static func cAttrBytes(_ a: PerfAttr) -> [UInt8] {
        let c = cAttr(a)
        // SAFETY: copies the first `lbr_perf_attr_size()` bytes of the struct, which is at least that large.
        return withUnsafeBytes(of: c) { Array($0.prefix(Int(lbr_perf_attr_size()))) }
    }

    /// The fd, or -1 once closed.
    public var fd: Int32 { state.withLock { s in s.fd?.rawValue ?? -1 } }
    /// Whether `close()` was called.
    public var isClosed: Bool { fd < 0 }
    /// Whether the event is enabled as far as this process asked (open without `disabled`, or
    /// `enable()` since).
    public var isEnabled: Bool { state.withLock { $0.enabled } }

    private func liveFd(_ op: String) throws(LinuxError) -> Int32 {
        let fd = self.fd
        if fd < 0 { throw LinuxError(.badFileDescriptor, "\(op) on closed perf event") }
        return fd
    }

    /// PERF_EVENT_IOC_ENABLE. Also the only way back from ERROR (§3.2: ERROR → OFF → INACTIVE → resched).
    public func enable() throws(LinuxError) {
        let fd = try liveFd("PERF_EVENT_IOC_ENABLE")
        try sysCheck(ioctl(fd, lbr_perf_ioc_enable(), 0), "PERF_EVENT_IOC_ENABLE(\(attr))")
        state.withLock { $0.enabled = true }
    }

    /// PERF_EVENT_IOC_DISABLE.
    public func disable() throws(LinuxError) {
        let fd = try liveFd("PERF_EVENT_IOC_DISABLE")
        try sysCheck(ioctl(fd, lbr_perf_ioc_disable(), 0), "PERF_EVENT_IOC_DISABLE(\(attr))")
        state.withLock { $0.enabled = false }
    }

    /// PERF_EVENT_IOC_RESET (zeroes the count; times keep running).
    public func reset() throws(LinuxError) {
        let fd = try liveFd("PERF_EVENT_IOC_RESET")
        try sysCheck(ioctl(fd, lbr_perf_ioc_reset(), 0), "PERF_EVENT_IOC_RESET(\(attr))")
    }

    /// PERF_EVENT_IOC_ID: the kernel's event id (also in samples with PERF_SAMPLE_ID).
    public func eventId() throws(LinuxError) -> UInt64 {
        let fd = try liveFd("PERF_EVENT_IOC_ID")
        var id: UInt64 = 0
        try sysCheck(ioctl(fd, lbr_perf_ioc_id(), &id), "PERF_EVENT_IOC_ID(\(attr))")
        return id
    }

    /// Closes the fd. Idempotent.
    public func close() {
        let owned = state.withLock { s in s.fd.take() }
        _ = consume owned // closed here, outside the lock
    }

    /// Byte length of one read(2) for the event's (non-group) read_format.
    public var readSize: Int {
        var n = 8
        let rf = attr.readFormat
        if rf & PerfReadFormat.totalTimeEnabled != 0 { n += 8 }
        if rf & PerfReadFormat.totalTimeRunning != 0 { n += 8 }
        if rf & PerfReadFormat.id != 0 { n += 8 }
        if rf & PerfReadFormat.lost != 0 { n += 8 }
        return n
    }

    /// read(2) of the counter.
    ///
    /// - Returns: the reading, or **nil when the kernel returned 0 bytes — the event is in ERROR**
    ///   (`__perf_read()`: `if (event->state == PERF_EVENT_STATE_ERROR) return 0;`, reference §3.3).
    /// - Throws: `LinuxError` for a failed read, a short read or a group read_format (unsupported here).
    public func read() throws(LinuxError) -> PerfReading? {
        let fd = try liveFd("read(perf)")
        let rf = attr.readFormat
        if rf & PerfReadFormat.group != 0 {
            throw LinuxError(.notSupported, "read(perf): PERF_FORMAT_GROUP is not supported by PerfEvent.read")
        }
        let size = readSize
        var buf = [UInt64](repeating: 0, count: size / 8)
        // SAFETY: read(2) writes at most `size` bytes into the array of `size / 8` UInt64 values.
        let n = buf.withUnsafeMutableBytes { p -> Int in
            while true {
                let r = Glibc.read(fd, p.baseAddress, size)
                if r == -1 && Glibc.errno == EINTR { continue }
                return r
            }
        }
        if n < 0 {
            let e = LinuxError.current("read(perf \(attr))")
            SysTrace.logger.trace("read(perf fd \(fd)) = -1 \(e.errno)")
            throw e
        }
        if n == 0 { SysTrace.logger.trace("read(perf fd \(fd)) = 0 bytes (event in error state)"); return nil }
        if n != size { throw LinuxError(.ioError, "read(perf \(attr)): short read of \(n) bytes, expected \(size)") }
        var i = 1
        func next() -> UInt64 { defer { i += 1 }; return buf[i] }
        let value = buf[0]
        let en = rf & PerfReadFormat.totalTimeEnabled != 0 ? next() : 0
        let run = rf & PerfReadFormat.totalTimeRunning != 0 ? next() : 0
        let id = rf & PerfReadFormat.id != 0 ? next() : 0
        let lost = rf & PerfReadFormat.lost != 0 ? next() : nil
        SysTrace.logger.trace("read(perf fd \(fd)) = \(n) bytes: value \(value), enabled \(en) ns, running \(run) ns")
        return PerfReading(value: value, timeEnabled: en, timeRunning: run, id: id, lost: lost)
    }

    /// poll(2) with `timeoutMs` (0 = just look).
    public func poll(timeoutMs: Int32 = 0) throws(LinuxError) -> PerfPollEvents {
        let fd = try liveFd("poll(perf)")
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let rc = retryingEINTR { Glibc.poll(&p, 1, timeoutMs) }
        if rc < 0 { throw LinuxError.current("poll(perf \(attr))") }
        return PerfPollEvents(rawValue: p.revents)
    }

    /// Reads the event now, polls it, and classifies its state over the interval since `previous`
    /// (nil = since it was opened).
    public func observe(since previous: PerfReading?) throws(LinuxError) -> PerfEventObservation {
        if isClosed { return PerfEventObservation(state: .closed, reading: nil, enabledDelta: 0, runningDelta: 0) }
        let r = try read()
        let p = try poll(timeoutMs: 0)
        return PerfEvent.classify(previous: previous, current: r, poll: p, enabled: isEnabled, closed: false)
    }

    /// Classifies an event's state from two readings, as userspace can see it (§3.2, §3.3):
    ///
    /// - `closed`: the fd is closed.
    /// - `error`: `current` is nil (read returned 0 bytes) or poll reported POLLERR.
    /// - `off`: the event is disabled (by this process).
    /// - `active`: time_running grew as much as time_enabled (within `toleranceNs`).
    /// - `inactive`: time_running grew less than time_enabled (multiplexed, or waiting for a counter),
    ///   or time_enabled did not grow at all although enabled (a task event whose task did not run).
    public static func classify(previous: PerfReading?, current: PerfReading?, poll: PerfPollEvents = [],
                                enabled: Bool = true, closed: Bool = false,
                                toleranceNs: UInt64 = 0) -> PerfEventObservation {
        if closed { return PerfEventObservation(state: .closed, reading: nil, enabledDelta: 0, runningDelta: 0, poll: poll) }
        guard let current, !poll.contains(.error) else {
            return PerfEventObservation(state: .error, reading: current, enabledDelta: 0, runningDelta: 0, poll: poll)
        }
        let prevEnabled = previous?.timeEnabled ?? 0
        let prevRunning = previous?.timeRunning ?? 0
        let dE = current.timeEnabled &- prevEnabled
        let dR = current.timeRunning &- prevRunning
        // Counters going backwards means the readings are not of the same event: treat as unknown growth.
        let sane = current.timeEnabled >= prevEnabled && current.timeRunning >= prevRunning
        let state: HostEventState
        if !enabled {
            state = .off
        } else if !sane || dE == 0 {
            state = .inactive
        } else if dR &+ toleranceNs >= dE {
            state = .active
        } else {
            state = .inactive
        }
        return PerfEventObservation(state: state, reading: current, enabledDelta: sane ? dE : 0,
                                    runningDelta: sane ? dR : 0, poll: poll)
    }
}

extension PerfEventObservation {
    /// As the backend-neutral `Observation.hostEvent` (times are the reading's totals).
    public func observation(contender: String) -> Observation {
        .hostEvent(contender: contender, state: state, enabledNs: reading?.timeEnabled ?? 0,
                   runningNs: reading?.timeRunning ?? 0)
    }
}
