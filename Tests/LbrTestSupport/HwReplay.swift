// Recorded-shape hardware data for tests: perf ring bytes written in the kernel's format (PerfRecordWriter) and
// replayed through the hw observation path (HwEvidence), so the hw verdicts are exercised without LBR hardware.

import LbrCore

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
