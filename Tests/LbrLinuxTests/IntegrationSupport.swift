import Glibc
import LbrCore
@testable import LbrLinux

/// Kernel text symbols from /proc/kallsyms (root sees real addresses), to name the functions a kernel
/// callchain went through. Tests only.
struct KernelSymbols {
    private let starts: [UInt64]
    private let names: [String]

    /// nil when /proc/kallsyms is unreadable or shows zeroed addresses (kptr_restrict / not root).
    static func load() -> KernelSymbols? {
        guard let text = readText("/proc/kallsyms") else { return nil }
        var pairs: [(UInt64, String)] = []
        pairs.reserveCapacity(200_000)
        for line in text.utf8.split(separator: UInt8(ascii: "\n")) {
            // "ffffffff81000000 T _stext [module]"
            let f = line.split(separator: UInt8(ascii: " "), maxSplits: 3)
            guard f.count >= 3, f[1].count == 1 else { continue }
            let t = f[1].first!
            guard t == UInt8(ascii: "t") || t == UInt8(ascii: "T") else { continue }
            guard let a = UInt64(String(decoding: f[0], as: UTF8.self), radix: 16), a != 0 else { continue }
            var name = Substring(String(decoding: f[2], as: UTF8.self))
            if let tab = name.firstIndex(of: "\t") { name = name[..<tab] }
            pairs.append((a, String(name)))
        }
        guard pairs.count > 1000 else { return nil }
        pairs.sort { $0.0 < $1.0 }
        return KernelSymbols(starts: pairs.map(\.0), names: pairs.map(\.1))
    }

    /// The symbol containing `address` (the last symbol starting at or below it).
    func name(of address: UInt64) -> String? {
        var lo = 0, hi = starts.count
        while lo < hi { let mid = (lo + hi) / 2; if starts[mid] <= address { lo = mid + 1 } else { hi = mid } }
        return lo == 0 ? nil : names[lo - 1]
    }

    /// Names along a perf callchain (context markers ≥ PERF_CONTEXT_MAX = -4095 skipped).
    func names(_ chain: [UInt64]) -> [String] {
        chain.filter { $0 < UInt64(bitPattern: -4095) }.compactMap { name(of: $0) }
    }
}

/// A perf software event sampled with callchains on one thread, with its ring.
final class CallchainSampler {
    let event: PerfEvent
    let ring: PerfRing

    /// `config` = PERF_COUNT_SW_*; `period` in that event's units (ns for cpu-clock, 1 = every switch).
    init(tid: pid_t, config: UInt64, period: UInt64) throws {
        var a = PerfAttr(type: .software, config: config)
        a.samplePeriod = period
        a.sampleType = PerfSample.ip | PerfSample.tid | PerfSample.time | PerfSample.callchain
        event = try PerfEvent.open(attr: a, pid: tid, cpu: -1)
        ring = try PerfRing(event: event, dataPages: 16)
    }

    func samples() throws -> [PerfSampleRecord] {
        try ring.drain().compactMap { if case let .sample(s) = $0 { return s } else { return nil } }
    }

    func close() { ring.close(); event.close() }
}

/// The KVM_RUN ioctl request number (_IO(KVMIO 0xAE, 0x80)).
let kvmRunRequest: UInt64 = 0xae80

/// `sched:sched_switch` on one thread (it fires in the context of the task being switched out), sampled
/// with RAW + callchain: who preempted the thread, and where in the kernel it was.
final class SchedSwitchSampler {
    struct Switch {
        var prevPid: Int64
        /// `prev_state` as traced: 0 (TASK_RUNNING) or TASK_REPORT_MAX (0x100) for a preemption.
        var prevState: Int64
        var nextPid: Int64
        var nextComm: String
        var callchain: [UInt64]
        var preempted: Bool { prevState & 0xff == 0 }
    }
    let format: TracepointFormat
    let event: PerfEvent
    let ring: PerfRing

    init(tid: pid_t) throws {
        let fs = try Tracefs.locate(mountIfAbsent: true)
        format = try fs.format(system: "sched", name: "sched_switch")
        var a = PerfAttr(type: .tracepoint, config: format.id)
        a.samplePeriod = 1
        a.sampleType = PerfSample.tid | PerfSample.time | PerfSample.callchain | PerfSample.raw
        event = try PerfEvent.open(attr: a, pid: tid, cpu: -1)
        ring = try PerfRing(event: event, dataPages: 16)
    }

    func switches() throws -> [Switch] {
        var out: [Switch] = []
        for r in try ring.drain() {
            guard case let .sample(s) = r, let raw = s.raw else { continue }
            let comm = format.field("next_comm").map { f in
                String(decoding: raw[f.offset..<min(raw.count, f.offset + f.size)].prefix { $0 != 0 }, as: UTF8.self)
            } ?? "?"
            out.append(Switch(prevPid: try sv("prev_pid", raw), prevState: try sv("prev_state", raw),
                              nextPid: try sv("next_pid", raw), nextComm: comm, callchain: s.callchain ?? []))
        }
        return out
    }

    private func sv(_ name: String, _ raw: [UInt8]) throws -> Int64 {
        switch try format.value(name, in: raw) {
        case let .signed(v): return v
        case let .unsigned(v): return Int64(bitPattern: v)
        default: return -1
        }
    }

    func close() { ring.close(); event.close() }
}
