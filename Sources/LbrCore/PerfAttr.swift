// A pure description of `struct perf_event_attr` and the perf UAPI constants lbrprobe uses.
// Values are from include/uapi/linux/perf_event.h (reference §4). The Linux layer turns a
// `PerfAttr` into the C struct; nothing here makes a syscall.

/// perf_event_attr.type values.
public enum PerfType: UInt32, Sendable, Codable {
    case hardware = 0, software = 1, tracepoint = 2, hwCache = 3, raw = 4, breakpoint = 5
}

/// PERF_COUNT_HW_* configs.
public enum PerfHwConfig {
    public static let cpuCycles: UInt64 = 0
    public static let instructions: UInt64 = 1
    public static let refCpuCycles: UInt64 = 9
}

/// PERF_COUNT_SW_* configs.
public enum PerfSwConfig {
    public static let cpuClock: UInt64 = 0
    public static let taskClock: UInt64 = 1
    public static let pageFaults: UInt64 = 2
    public static let contextSwitches: UInt64 = 3
    public static let cpuMigrations: UInt64 = 4
    public static let dummy: UInt64 = 9
}

/// PERF_SAMPLE_* bits.
public enum PerfSample {
    public static let ip: UInt64 = 1 << 0
    public static let tid: UInt64 = 1 << 1
    public static let time: UInt64 = 1 << 2
    public static let addr: UInt64 = 1 << 3
    public static let read: UInt64 = 1 << 4
    public static let callchain: UInt64 = 1 << 5
    public static let id: UInt64 = 1 << 6
    public static let cpu: UInt64 = 1 << 7
    public static let period: UInt64 = 1 << 8
    public static let streamId: UInt64 = 1 << 9
    public static let raw: UInt64 = 1 << 10
    /// PERF_SAMPLE_BRANCH_STACK = 0x800 (§4).
    public static let branchStack: UInt64 = 1 << 11
    public static let identifier: UInt64 = 1 << 16
}

/// PERF_SAMPLE_BRANCH_* bits (§4).
public enum PerfBranch {
    public static let user: UInt64 = 1 << 0
    public static let kernel: UInt64 = 1 << 1
    public static let hv: UInt64 = 1 << 2
    public static let any: UInt64 = 1 << 3
    public static let anyCall: UInt64 = 1 << 4
    public static let anyReturn: UInt64 = 1 << 5
    public static let indCall: UInt64 = 1 << 6
    public static let callStack: UInt64 = 1 << 11
    /// PERF_SAMPLE_BRANCH_HW_INDEX (5.7+): each branch stack carries `hw_idx` (the LBR TOS of the read),
    /// so a re-attached stale stack can be told from a fresh one (§9.1).
    public static let hwIndex: UInt64 = 1 << 17
}

/// clockid_t values for `PerfAttr.clockid` (include/uapi/linux/time.h).
public enum PerfClockId {
    public static let monotonic: Int32 = 1
}

/// PERF_FORMAT_* bits for read_format.
public enum PerfReadFormat {
    public static let totalTimeEnabled: UInt64 = 1 << 0
    public static let totalTimeRunning: UInt64 = 1 << 1
    public static let id: UInt64 = 1 << 2
    public static let group: UInt64 = 1 << 3
    public static let lost: UInt64 = 1 << 4
    /// What lbrprobe always asks for: value, time_enabled, time_running, id.
    public static let standard: UInt64 = totalTimeEnabled | totalTimeRunning | id
}

/// The perf_event_attr fields lbrprobe sets, as plain values.
public struct PerfAttr: Hashable, Sendable, Codable, CustomStringConvertible {
    public var type: PerfType
    public var config: UInt64
    /// sample_period (0 = counting event).
    public var samplePeriod: UInt64 = 0
    public var sampleType: UInt64 = 0
    public var branchSampleType: UInt64 = 0
    public var readFormat: UInt64 = PerfReadFormat.standard
    public var pinned = false
    public var disabled = false
    public var excludeGuest = false
    public var excludeHost = false
    public var excludeKernel = false
    public var excludeHv = false
    public var excludeUser = false
    public var contextSwitch = false
    public var wakeupEvents: UInt32 = 0
    /// `use_clockid` + `clockid`: the clock of PERF_SAMPLE_TIME and record times. Without it a sample's
    /// `time` is `perf_clock()` (local_clock, not comparable with clock_gettime); with `clockid =
    /// CLOCK_MONOTONIC` `perf_event_set_clock()` (kernel/events/core.c) uses `ktime_get_mono_fast_ns`, the
    /// NMI-safe CLOCK_MONOTONIC that `monotonicNs()` reads (docs/reference.md §4.2).
    public var clockid: Int32? = nil

    public init(type: PerfType, config: UInt64) { self.type = type; self.config = config }

    public var isSampling: Bool { samplePeriod != 0 }
    public var hasBranchStack: Bool { sampleType & PerfSample.branchStack != 0 }

    /// A compact, human-readable rendering used in errors, SKIP reasons and evidence.
    public var description: String {
        var parts = ["type=\(type)", "config=0x\(String(config, radix: 16))"]
        if samplePeriod != 0 { parts.append("sample_period=\(samplePeriod)") }
        if sampleType != 0 { parts.append("sample_type=0x\(String(sampleType, radix: 16))") }
        if branchSampleType != 0 { parts.append("branch_sample_type=0x\(String(branchSampleType, radix: 16))") }
        if pinned { parts.append("pinned") }
        if disabled { parts.append("disabled") }
        if excludeGuest { parts.append("exclude_guest") }
        if excludeHost { parts.append("exclude_host") }
        if excludeKernel { parts.append("exclude_kernel") }
        if excludeHv { parts.append("exclude_hv") }
        if let clockid { parts.append("clockid=\(clockid)") }
        return parts.joined(separator: " ")
    }
}
