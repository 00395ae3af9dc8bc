// The hw backend's observation path, as pure functions: host LBR samples filtered to the vCPU thread inside
// each guest command's window (docs/reference.md §9.1), the sampling facts (period, throttling, lost
// records, §4.1), and the "fail to passthrough LBR" kernel line treated as the weak signal it is (one
// system-wide ratelimit, lines of other VMs, silence proves nothing: §1.5, §9.4). The hw backend calls these
// on live data; `HwReplay.observations` calls the same functions on recorded-shape data so tests can replay
// hardware through the hw observation path.

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

/// Replays recorded-shape hardware data through the hw observation path (`HwEvidence`): perf ring bytes of
/// one host LBR event and kernel-log text in, the observations the hw backend would emit out. For tests and
/// for re-judging data recorded on real hardware.
public enum HwReplay {
    /// What one replay needs.
    public struct Input: Hashable, Sendable {
        /// Contender name as the hw backend reports it (e.g. `Contender.pinnedLbr.name`).
        public var contender: String
        /// The attribute the event was opened with (decides the sample layout); default: the pinned LBR contender
        /// as the hw backend opens it by default (`Contender.lbrSamplePeriod`).
        public var attr: PerfAttr
        /// The ring's bytes in order (`PerfRingLayout.linearize` output, or records written by a test).
        public var ringBytes: [UInt8]
        /// The CPU the event was bound to (samples on other CPUs are filtered out); nil: keep every CPU.
        public var cpu: UInt32?
        /// The guest commands' windows on the vCPU thread.
        public var windows: [GuestCommandWindow]
        /// The guest payload's address range (for `guestAddresses`).
        public var guestRange: Range<UInt64>?
        /// `/proc/sys/kernel/perf_event_max_sample_rate` at the time, if known.
        public var maxSampleRate: Int?
        /// Kernel-log text (`KvmLbrKmsg.parseText` formats); "" for none.
        public var kmsgText: String
        /// The vCPU ids of lbrprobe's own VM.
        public var ourVcpuIds: Set<Int>
        /// Other KVM VMs running at the time (descriptions), [] for none.
        public var otherVms: [String]

        public init(contender: String = Contender.pinnedLbr.name,
                    attr: PerfAttr = Input.defaultAttr,
                    ringBytes: [UInt8], cpu: UInt32? = nil, windows: [GuestCommandWindow],
                    guestRange: Range<UInt64>? = nil, maxSampleRate: Int? = nil, kmsgText: String = "",
                    ourVcpuIds: Set<Int> = [0], otherVms: [String] = []) {
            self.contender = contender; self.attr = attr; self.ringBytes = ringBytes; self.cpu = cpu
            self.windows = windows; self.guestRange = guestRange; self.maxSampleRate = maxSampleRate
            self.kmsgText = kmsgText; self.ourVcpuIds = ourVcpuIds; self.otherVms = otherVms
        }
    }

    /// `.hostSamples` (one summary of the whole ring), the sampling notes, then the kmsg observations (with
    /// the silence note when there is no fail line) — the same functions, in the same order, as the hw backend's
    /// read of its contenders followed by a read of kmsg. Throws when the ring bytes do not parse.
    public static func observations(_ input: Input) throws(PerfRecordError) -> [Observation] {
        let parsed = try PerfRecordParser.parse(input.ringBytes, layout: PerfSampleLayout(input.attr))
        var previous: PerfBranchStack?
        let summary = HwEvidence.hostSamples(contender: input.contender, records: parsed.records, windows: input.windows,
                                             cpu: input.cpu, guestRange: input.guestRange,
                                             samplePeriod: input.attr.samplePeriod, previous: &previous)
        var out: [Observation] = [.hostSamples(summary)]
        out += HwEvidence.samplingNotes(summary, maxSampleRate: input.maxSampleRate).map(Observation.note)
        var view = KmsgRatelimitView()
        out += HwEvidence.kmsgObservations(KvmLbrKmsg.parseText(input.kmsgText), ourVcpuIds: input.ourVcpuIds,
                                           otherVms: input.otherVms, view: &view, reportSilence: true)
        return out
    }
}

extension HwReplay {
    /// Recorded-shape hardware data (the shapes §9.1 and §9.4 describe), for replay tests.
    public enum RecordedShape {
        /// 32 host branch records (host kernel → host user addresses) as one real LBR read leaves them;
        /// `salt` makes reads differ.
        public static func hostStack(salt: UInt64 = 0) -> [PerfBranchEntry] {
            (0..<32).map { i in
                PerfBranchEntry(from: 0xffff_ffff_8100_0000 + salt &* 0x1000 + UInt64(i) * 0x10,
                                to: 0x0000_5555_5555_0000 + salt &* 0x1000 + UInt64(i) * 0x8)
            }
        }

        /// The ring of a host LBR event on `cpu` around one guest command in `window` while the vLBR holds the
        /// LBRs (§9.1): another thread's sample carries the last real read (hw_idx 5), then `starved` samples of
        /// the vCPU thread inside the window re-attach that same read, then one vCPU-thread sample after the window.
        public static func starvedHostRing(window: GuestCommandWindow, cpu: UInt32 = 0, starved: Int = 3,
                                           otherTid: UInt32 = 1, attr: PerfAttr = Input.defaultAttr) -> [UInt8] {
            var w = PerfRecordWriter(attr)
            let stack = hostStack()
            w.sample(ip: 0xffff_ffff_8100_1000, pid: otherTid, tid: otherTid, time: window.startNs &- 1, cpu: cpu,
                     hwIndex: 5, entries: stack)
            let span = max(1, window.endNs &- window.startNs)
            for i in 0..<max(0, starved) {
                let t = window.startNs + span * UInt64(i + 1) / UInt64(starved + 1)
                w.sample(ip: 0x5555_5555_1000, pid: window.tid, tid: window.tid, time: t, cpu: cpu, hwIndex: 5, entries: stack)
            }
            w.sample(ip: 0x5555_5555_1000, pid: window.tid, tid: window.tid, time: window.endNs &+ 1, cpu: cpu,
                     hwIndex: 5, entries: stack)
            return w.bytes
        }

        /// The same ring when the host is *not* starved: every sample carries a fresh read (hw_idx and entries move).
        public static func freshHostRing(window: GuestCommandWindow, cpu: UInt32 = 0, samples: Int = 3,
                                         attr: PerfAttr = Input.defaultAttr) -> [UInt8] {
            var w = PerfRecordWriter(attr)
            let span = max(1, window.endNs &- window.startNs)
            for i in 0..<max(0, samples) {
                let t = window.startNs + span * UInt64(i + 1) / UInt64(samples + 1)
                w.sample(ip: 0x5555_5555_1000, pid: window.tid, tid: window.tid, time: t, cpu: cpu,
                         hwIndex: UInt64(6 + i) & 31, entries: hostStack(salt: UInt64(i + 1)))
            }
            return w.bytes
        }

        /// A kernel log (/dev/kmsg record format) in which the system-wide ratelimit of `vmx_passthrough_lbr_msrs`
        /// printed `printed` lines for vCPU `vcpuId` starting at `startUs`, then — in the next interval — reported
        /// `suppressed` swallowed lines (§9.4).
        public static func ratelimitedKmsg(vcpuId: Int = 0, printed: Int = KvmLbrKmsg.ratelimitBurst, suppressed: Int = 12,
                                           startUs: UInt64 = 3_000_000) -> String {
            var lines: [String] = []
            for i in 0..<max(0, printed) {
                lines.append("4,\(100 + i),\(startUs + UInt64(i) * 1_000),-;kvm_intel: vcpu-\(vcpuId): \(failToPassthroughMessage).")
            }
            if suppressed > 0 {
                lines.append("4,\(100 + printed),\(startUs + KvmLbrKmsg.ratelimitIntervalUs + 200_000),-;\(KvmLbrKmsg.callSite): \(suppressed) callbacks suppressed")
            }
            return lines.joined(separator: "\n") + "\n"
        }
    }
}

extension HwReplay.Input {
    /// The pinned LBR contender's attribute as the hw backend opens it by default.
    public static var defaultAttr: PerfAttr { Contender.pinnedLbr.attributes(samplePeriod: Contender.lbrSamplePeriod)[0] }
}

extension Substring {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

/// Writes perf ring bytes in the kernel's format (`perf_output_sample()` field order) for the sample fields
/// lbrprobe's host LBR events request — the inverse of `PerfRecordParser` for those fields. Used to build
/// recorded-shape hardware data (`HwReplay`) and in tests.
public struct PerfRecordWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    public let layout: PerfSampleLayout
    public init(layout: PerfSampleLayout) { self.layout = layout }
    public init(_ attr: PerfAttr) { self.layout = PerfSampleLayout(attr) }

    private static func le64(_ v: UInt64, into b: inout [UInt8]) {
        for i in 0..<8 { b.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }
    private mutating func record(type: UInt32, misc: UInt16 = 0, body: [UInt8]) {
        let size = PerfEventHeader.byteCount + body.count
        for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: type >> (8 * UInt32(i)))) }
        bytes.append(UInt8(misc & 0xff)); bytes.append(UInt8(misc >> 8))
        bytes.append(UInt8(size & 0xff)); bytes.append(UInt8((size >> 8) & 0xff))
        bytes += body
    }

    /// Appends a PERF_RECORD_SAMPLE with the fields `layout.sampleType` asks for among IP, TID, TIME, CPU and
    /// BRANCH_STACK (hw_idx written iff the layout's branch_sample_type has HW_INDEX). Other sample_type bits
    /// are not supported (precondition).
    public mutating func sample(ip: UInt64 = 0, pid: UInt32 = 0, tid: UInt32 = 0, time: UInt64 = 0, cpu: UInt32 = 0,
                                hwIndex: UInt64 = 0, entries: [PerfBranchEntry] = []) {
        let st = layout.sampleType
        let supported = PerfSample.ip | PerfSample.tid | PerfSample.time | PerfSample.cpu | PerfSample.branchStack
        precondition(st & ~supported == 0, "PerfRecordWriter: sample_type 0x\(String(st, radix: 16)) has unsupported bits")
        var b: [UInt8] = []
        if st & PerfSample.ip != 0 { Self.le64(ip, into: &b) }
        if st & PerfSample.tid != 0 { Self.le64(UInt64(pid) | UInt64(tid) << 32, into: &b) }
        if st & PerfSample.time != 0 { Self.le64(time, into: &b) }
        if st & PerfSample.cpu != 0 { Self.le64(UInt64(cpu), into: &b) }
        if st & PerfSample.branchStack != 0 {
            Self.le64(UInt64(entries.count), into: &b)
            if layout.branchSampleType & PerfBranch.hwIndex != 0 { Self.le64(hwIndex, into: &b) }
            for e in entries { Self.le64(e.from, into: &b); Self.le64(e.to, into: &b); Self.le64(e.flags, into: &b) }
        }
        record(type: PerfRecordType.sample, body: b)
    }

    /// Appends a PERF_RECORD_LOST.
    public mutating func lost(id: UInt64 = 0, count: UInt64) {
        var b: [UInt8] = []
        Self.le64(id, into: &b); Self.le64(count, into: &b)
        record(type: PerfRecordType.lost, body: b)
    }

    /// Appends a PERF_RECORD_THROTTLE (time, id, stream_id).
    public mutating func throttle(time: UInt64, id: UInt64 = 0) {
        var b: [UInt8] = []
        Self.le64(time, into: &b); Self.le64(id, into: &b); Self.le64(id, into: &b)
        record(type: PerfRecordType.throttle, body: b)
    }
}
