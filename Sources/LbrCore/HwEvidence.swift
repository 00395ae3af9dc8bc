// The hw backend's observation path, as pure functions: host LBR samples filtered to the vCPU thread inside
// each guest command's window (docs/reference.md §9.1), the sampling facts (period, throttling, lost
// records, §4.1), and the "fail to passthrough LBR" kernel line treated as the weak signal it is (one
// system-wide ratelimit, lines of other VMs, silence proves nothing: §1.5, §9.4). The hw backend calls these
// on live data; the tests' `HwReplay.observations` (LbrTestSupport) calls the same functions on recorded-shape
// data to replay hardware through the hw observation path.

/// One guest command as the host saw it: the vCPU thread and the CLOCK_MONOTONIC interval around KVM_RUN.
public struct GuestCommandWindow: Hashable, Sendable, Codable {
    /// The vCPU thread's TID (what PERF_SAMPLE_TID reports as `tid`).
    public var tid: UInt32
    /// CLOCK_MONOTONIC ns just before the command was handed to the vCPU thread.
    public var startNs: UInt64
    /// CLOCK_MONOTONIC ns just after its result came back.
    public var endNs: UInt64

    public init(tid: UInt32, startNs: UInt64, endNs: UInt64) {
        self.tid = tid; self.startNs = startNs; self.endNs = endNs
    }

    /// Whether `s` was taken on the vCPU thread inside this window. Needs PERF_SAMPLE_TID and PERF_SAMPLE_TIME
    /// with `clockid = CLOCK_MONOTONIC` (§4.2); a sample without either is not kept.
    public func contains(_ s: PerfSampleRecord) -> Bool {
        guard let tid = s.tid, tid == self.tid, let t = s.time else { return false }
        return t >= startNs && t <= endNs
    }

    /// Whether `s` lies in any of `windows`.
    public static func keep(_ s: PerfSampleRecord, in windows: [GuestCommandWindow]) -> Bool {
        windows.contains { $0.contains(s) }
    }
}

/// One kernel-log line as lbrprobe reads it (from /dev/kmsg, or recorded text).
public struct KmsgEntry: Hashable, Sendable, Codable {
    /// Printed by the kernel (syslog facility 0) rather than written to /dev/kmsg by user space.
    public var isKernel: Bool
    /// The kernel's timestamp in µs (printk's local_clock), when known.
    public var timestampUs: UInt64?
    public var message: String
    public init(isKernel: Bool = true, timestampUs: UInt64? = nil, message: String) {
        self.isKernel = isKernel; self.timestampUs = timestampUs; self.message = message
    }
}

/// The KVM kernel lines about guest LBR passthrough (docs/reference.md §1.5, §9.4).
public enum KvmLbrKmsg {
    /// The function that prints "vcpu-%d: fail to passthrough LBR." with `pr_warn_ratelimited` (pmu_intel.c);
    /// `___ratelimit()` (lib/ratelimit.c) names it in "<function>: N callbacks suppressed".
    public static let callSite = "vmx_passthrough_lbr_msrs"
    /// `DEFAULT_RATELIMIT_BURST`: lines printed per interval by one ratelimit state.
    public static let ratelimitBurst = 10
    /// `DEFAULT_RATELIMIT_INTERVAL` (5 · HZ) in µs.
    public static let ratelimitIntervalUs: UInt64 = 5_000_000

    /// What a kernel line says about guest LBR passthrough.
    public enum Line: Hashable, Sendable {
        /// "kvm_intel: vcpu-N: fail to passthrough LBR." (`vcpuId` nil when the id cannot be parsed).
        case failToPassthrough(vcpuId: Int?)
        /// "vmx_passthrough_lbr_msrs: N callbacks suppressed": N lines of the call site were not printed.
        case suppressed(count: Int)
        case unrelated
    }

    /// Classifies one message (without the kmsg/dmesg prefix).
    public static func classify(_ message: String) -> Line {
        if message.contains(failToPassthroughMessage) {
            return .failToPassthrough(vcpuId: vcpuId(in: message))
        }
        if let r = message.firstRange(of: callSite + ": ") {
            let rest = message[r.upperBound...]
            let digits = rest.prefix { $0.isNumber }
            if let n = Int(digits), rest.dropFirst(digits.count).hasPrefix(" callbacks suppressed") {
                return .suppressed(count: n)
            }
        }
        return .unrelated
    }

    /// The N of "vcpu-N:" in a message, if present.
    public static func vcpuId(in message: String) -> Int? {
        guard let r = message.firstRange(of: "vcpu-") else { return nil }
        let digits = message[r.upperBound...].prefix { $0.isNumber }
        return Int(digits)
    }

    /// Parses kernel-log text, one entry per line: /dev/kmsg records ("prio,seq,ts_usec,flags;message", facility
    /// from prio), dmesg lines ("[   12.345678] message") or bare messages (taken as kernel lines). Continuation
    /// lines of /dev/kmsg (" KEY=value") and empty lines are skipped.
    public static func parseText(_ text: String) -> [KmsgEntry] {
        var out: [KmsgEntry] = []
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = String(raw)
            if line.hasPrefix(" ") || line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            if let semi = line.firstIndex(of: ";") {
                let fields = line[..<semi].split(separator: ",", omittingEmptySubsequences: false)
                if fields.count >= 4, let prio = Int(fields[0]), UInt64(fields[1]) != nil, let ts = UInt64(fields[2]) {
                    out.append(KmsgEntry(isKernel: prio >> 3 == 0, timestampUs: ts,
                                         message: String(line[line.index(after: semi)...])))
                    continue
                }
            }
            if line.hasPrefix("["), let close = line.firstIndex(of: "]") {
                let stamp = line[line.index(after: line.startIndex)..<close].trimmingSpaces
                let parts = stamp.split(separator: ".")
                if parts.count == 2, let s = UInt64(parts[0]), let f = UInt64(parts[1]) {
                    var us = f
                    for _ in parts[1].count..<6 { us *= 10 }
                    let msg = line[line.index(after: close)...].trimmingSpaces
                    out.append(KmsgEntry(isKernel: true, timestampUs: s * 1_000_000 + us, message: msg))
                    continue
                }
            }
            out.append(KmsgEntry(isKernel: true, timestampUs: nil, message: line))
        }
        return out
    }
}

/// What lbrprobe has seen of the system-wide ratelimit state of `vmx_passthrough_lbr_msrs` over the whole
/// process (every scenario and run shares the kernel's one state, §9.4). Lines printed before lbrprobe started
/// watching, or by other VMs into a window lbrprobe did not see, are unknown to it.
public struct KmsgRatelimitView: Hashable, Sendable, Codable {
    /// Kernel timestamps (µs) of the "fail to passthrough LBR" lines seen, newest last (bounded).
    public var printedUs: [UInt64] = []
    /// Lines seen without a timestamp.
    public var printedUntimed = 0
    /// Sum of the "callbacks suppressed" counts seen.
    public var suppressedTotal = 0
    public init() {}

    /// Records one entry.
    public mutating func account(_ e: KmsgEntry) {
        guard e.isKernel else { return }
        switch KvmLbrKmsg.classify(e.message) {
        case .failToPassthrough:
            if let t = e.timestampUs {
                printedUs.append(t)
                if printedUs.count > 4 * KvmLbrKmsg.ratelimitBurst { printedUs.removeFirst(printedUs.count - 4 * KvmLbrKmsg.ratelimitBurst) }
            } else {
                printedUntimed += 1
            }
        case let .suppressed(n): suppressedTotal += n
        case .unrelated: break
        }
    }

    /// Lines seen in the ratelimit interval that ends at the newest line seen (an estimate of the budget used).
    public var linesInLatestInterval: Int { lines(inIntervalEndingAt: printedUs.last) }

    /// Lines seen in the 5 s before `endUs` (kernel-log µs; nil: the newest line seen).
    public func lines(inIntervalEndingAt endUs: UInt64?) -> Int {
        guard let end = endUs ?? printedUs.last else { return 0 }
        let start = end >= KvmLbrKmsg.ratelimitIntervalUs ? end - KvmLbrKmsg.ratelimitIntervalUs : 0
        return printedUs.filter { $0 > start && $0 <= end }.count
    }
}

/// The pure steps of the hw observation path.
public enum HwEvidence {
    /// Host-sample summary of one drain of one host LBR event: samples on `cpu` of the vCPU thread inside one
    /// of `windows` are kept (`GuestCommandWindow.keep`), everything else is `filteredOut`; `previous` carries
    /// the last stack on that CPU across drains (`SampleAnalysis.summarize`).
    public static func hostSamples(contender: String, records: [PerfRecord], windows: [GuestCommandWindow],
                                   cpu: UInt32?, guestRange: Range<UInt64>?, guestEdges: GuestEdgeSet? = nil,
                                   samplePeriod: UInt64?,
                                   previous: inout PerfBranchStack?) -> HostSampleSummary {
        SampleAnalysis.summarize(contender: contender, records: records, guestRange: guestRange,
                                 guestEdges: guestEdges, cpu: cpu,
                                 samplePeriod: samplePeriod, previous: &previous,
                                 keep: { GuestCommandWindow.keep($0, in: windows) })
    }

    /// Notes that make a host-sample summary honest: the period used, throttling and lost records (§4.1, §9.1).
    /// Empty when there is nothing to say beyond the summary itself.
    public static func samplingNotes(_ s: HostSampleSummary, maxSampleRate: Int?) -> [String] {
        var out: [String] = []
        let rate = maxSampleRate.map { "perf_event_max_sample_rate \($0)" } ?? "perf_event_max_sample_rate unknown"
        if s.throttled > 0 {
            out.append("host \(s.contender): perf throttled the event \(s.throttled) time(s) (PERF_RECORD_THROTTLE; "
                       + "sample_period \(s.samplePeriod.map(String.init) ?? "?"), \(rate)): samples are missing for "
                       + "part of the window (§4.1)")
        }
        if s.lost > 0 {
            out.append("host \(s.contender): \(s.lost) sample(s) lost (PERF_RECORD_LOST: ring full between drains) (§9.1)")
        }
        if s.staleRepeats > 0 {
            out.append("host \(s.contender): \(s.staleRepeats) of \(s.samples) kept sample(s) repeat the previous stack on the CPU "
                       + "(intel_pmu_lbr_read skipped, cpuc->lbr_stack re-attached), e.g. \(s.staleExample ?? "?") (§9.1)")
        }
        if s.samples > 0 && s.withHwIndex < s.samples {
            out.append("host \(s.contender): \(s.samples - s.withHwIndex) of \(s.samples) kept sample(s) carry no hw_idx "
                       + "(PERF_SAMPLE_BRANCH_HW_INDEX not honoured): stale repeats are judged on entries alone (§9.1)")
        }
        return out
    }

    /// Observations for freshly read kernel-log entries (§1.5, §9.4).
    ///
    /// - A kernel "vcpu-N: fail to passthrough LBR." line with N in `ourVcpuIds` becomes `.kmsg(line)` — unless
    ///   other KVM VMs are running (`otherVms`, one description each), whose vCPU N would print the very same
    ///   line: then it is only a `.note` (not counted).
    /// - The same line with another vCPU id is a `.note` (certainly not ours).
    /// - "vmx_passthrough_lbr_msrs: N callbacks suppressed" becomes `.kmsg(line)` plus a `.note` saying N lines
    ///   of unknown vCPUs were swallowed by the system-wide ratelimit.
    /// - User-space lines containing the text are `.note`s (forgeable, never evidence).
    /// - With `reportSilence` and no fail line among `entries`, a `.note` says that silence is not evidence.
    /// `view` accumulates what was seen of the ratelimit state across calls; `nowUs` (kernel-log clock, µs) places
    /// the silence note's 5 s interval (nil: the interval ending at the newest line seen).
    public static func kmsgObservations(_ entries: [KmsgEntry], ourVcpuIds: Set<Int>, otherVms: [String],
                                        view: inout KmsgRatelimitView, reportSilence: Bool,
                                        nowUs: UInt64? = nil) -> [Observation] {
        var out: [Observation] = []
        var failLines = 0
        let ours = ourVcpuIds.sorted().map(String.init).joined(separator: ",")
        for e in entries {
            let kind = KvmLbrKmsg.classify(e.message)
            if kind == .unrelated { continue }
            guard e.isKernel else {
                out.append(.note("user-space /dev/kmsg line ignored: \(e.message)"))
                continue
            }
            view.account(e)
            switch kind {
            case let .failToPassthrough(id):
                failLines += 1
                if let id, !ourVcpuIds.contains(id) {
                    out.append(.note("kmsg line from vcpu-\(id), not ours (our vCPU ids: \(ours)): \(e.message)"))
                } else if !otherVms.isEmpty {
                    out.append(.note("kmsg line not counted: other KVM VM(s) running (\(otherVms.joined(separator: "; "))) "
                                     + "print the same text for their vCPU \(id.map(String.init) ?? "?"): \(e.message) (§9.4)"))
                } else if id == nil {
                    out.append(.note("kmsg line without a vCPU id not counted: \(e.message)"))
                } else {
                    out.append(.kmsg(e.message))
                }
            case let .suppressed(n):
                out.append(.kmsg(e.message))
                out.append(.note("kmsg: \(n) \"fail to passthrough LBR\" line(s) swallowed by the one system-wide "
                                 + "ratelimit of \(KvmLbrKmsg.callSite) (\(KvmLbrKmsg.ratelimitBurst) per 5 s, any vCPU, "
                                 + "any VM); their vCPUs are unknown (§9.4)"))
            case .unrelated:
                break
            }
        }
        if reportSilence && failLines == 0 {
            let used = view.lines(inIntervalEndingAt: nowUs)
            let which = nowUs == nil ? "in the latest interval" : "in the last 5 s"
            out.append(.note("kmsg: no \"fail to passthrough LBR\" line since the last read; silence is not evidence of an "
                             + "ACTIVE vLBR: \(KvmLbrKmsg.callSite) prints at most \(KvmLbrKmsg.ratelimitBurst) lines per 5 s "
                             + "system-wide (\(used) seen \(which), \(view.suppressedTotal) reported suppressed "
                             + "so far), and lines of other VMs or from before lbrprobe watched may have used the budget (§9.4)"))
        }
        return out
    }
}

extension Substring {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
