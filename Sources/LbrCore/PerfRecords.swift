// Pure parser of perf ring-buffer bytes (include/uapi/linux/perf_event.h, `enum perf_event_type`).
// The kernel is trusted, but a wrong parse (wrong sample_type, torn ring copy, bug) must fail loudly:
// every length is checked against the bytes actually available and nothing is read out of bounds.

/// `struct perf_event_header`.
public struct PerfEventHeader: Hashable, Sendable, Codable {
    /// `PERF_RECORD_*`.
    public var type: UInt32
    public var misc: UInt16
    /// Size of the whole record, header included.
    public var size: UInt16
    public init(type: UInt32, misc: UInt16, size: UInt16) { self.type = type; self.misc = misc; self.size = size }
    /// Encoded size (8 bytes).
    public static let byteCount = 8
}

/// `PERF_RECORD_*` values lbrprobe distinguishes.
public enum PerfRecordType {
    public static let mmap: UInt32 = 1
    public static let lost: UInt32 = 2
    public static let comm: UInt32 = 3
    public static let exit: UInt32 = 4
    public static let throttle: UInt32 = 5
    public static let unthrottle: UInt32 = 6
    public static let fork: UInt32 = 7
    public static let read: UInt32 = 8
    public static let sample: UInt32 = 9
    public static let switchEvent: UInt32 = 14
    public static let lostSamples: UInt32 = 13
}

/// What the parser must know about the event that wrote the ring: the fields of `perf_event_attr`
/// that decide the layout of a PERF_RECORD_SAMPLE.
public struct PerfSampleLayout: Hashable, Sendable, Codable {
    public var sampleType: UInt64
    public var branchSampleType: UInt64
    public var readFormat: UInt64

    public init(sampleType: UInt64, branchSampleType: UInt64 = 0, readFormat: UInt64 = 0) {
        self.sampleType = sampleType; self.branchSampleType = branchSampleType; self.readFormat = readFormat
    }

    /// The layout of samples written by an event opened with `attr`.
    public init(_ attr: PerfAttr) {
        self.init(sampleType: attr.sampleType, branchSampleType: attr.branchSampleType, readFormat: attr.readFormat)
    }

    /// PERF_SAMPLE_BRANCH_COUNTERS (1 << 19): one extra u64 per branch entry.
    public static let branchCountersBit: UInt64 = 1 << 19
}

/// One `struct perf_branch_entry`. `flags` is the raw third u64 (mispred bit 0, predicted bit 1,
/// in_tx 2, abort 3, cycles 4..19, type 20..23, …).
public struct PerfBranchEntry: Hashable, Sendable, Codable {
    public var from: UInt64
    public var to: UInt64
    public var flags: UInt64
    public init(from: UInt64, to: UInt64, flags: UInt64 = 0) { self.from = from; self.to = to; self.flags = flags }
    public var mispredicted: Bool { flags & 1 != 0 }
    public var cycles: UInt16 { UInt16(truncatingIfNeeded: flags >> 4) }
}

/// The PERF_SAMPLE_BRANCH_STACK part of a sample.
public struct PerfBranchStack: Hashable, Sendable, Codable {
    /// `hw_idx`, present iff PERF_SAMPLE_BRANCH_HW_INDEX was requested.
    public var hwIndex: UInt64?
    public var entries: [PerfBranchEntry]
    /// Per-entry counters, present iff PERF_SAMPLE_BRANCH_COUNTERS was requested.
    public var counters: [UInt64]?
    public init(hwIndex: UInt64? = nil, entries: [PerfBranchEntry], counters: [UInt64]? = nil) {
        self.hwIndex = hwIndex; self.entries = entries; self.counters = counters
    }
}

/// A `struct read_format` inside a sample (PERF_SAMPLE_READ), non-group or group.
public struct PerfSampleRead: Hashable, Sendable, Codable {
    public struct Value: Hashable, Sendable, Codable {
        public var value: UInt64
        public var id: UInt64?
        public var lost: UInt64?
    }
    public var timeEnabled: UInt64?
    public var timeRunning: UInt64?
    public var values: [Value]
}

/// A decoded PERF_RECORD_SAMPLE. Fields are nil when not requested by `sample_type`.
public struct PerfSampleRecord: Hashable, Sendable, Codable {
    public var misc: UInt16 = 0
    public var identifier: UInt64?
    public var ip: UInt64?
    public var pid: UInt32?
    public var tid: UInt32?
    public var time: UInt64?
    public var addr: UInt64?
    public var id: UInt64?
    public var streamId: UInt64?
    public var cpu: UInt32?
    public var period: UInt64?
    public var read: PerfSampleRead?
    public var callchain: [UInt64]?
    /// The PERF_SAMPLE_RAW payload exactly as the kernel wrote it (its u32 size includes the kernel's
    /// alignment padding).
    public var raw: [UInt8]?
    public var branchStack: PerfBranchStack?
    public init() {}
}

/// One record of the ring.
public enum PerfRecord: Hashable, Sendable, Codable {
    case sample(PerfSampleRecord)
    /// PERF_RECORD_LOST: `lost` records were dropped because the ring was full.
    case lost(id: UInt64, lost: UInt64)
    /// PERF_RECORD_THROTTLE: perf throttled the event (too many samples per tick, `perf_event_max_sample_rate`).
    case throttle(time: UInt64, id: UInt64)
    /// Any other record type, skipped by its size.
    case other(type: UInt32, size: Int)
}

/// A parse failure: what was inconsistent and where.
public struct PerfRecordError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Byte offset of the offending record in the parsed buffer.
    public var offset: Int
    public var reason: String
    public init(offset: Int, _ reason: String) { self.offset = offset; self.reason = reason }
    public var description: String { "perf record at offset \(offset): \(reason)" }
}

/// Result of parsing a byte range: the records, and how many trailing bytes did not yet hold a
/// complete record (only possible when parsing with `allowPartialTail`).
public struct PerfParseResult: Hashable, Sendable {
    public var records: [PerfRecord]
    public var consumed: Int
}

/// Bounds-checked little-endian reader over a byte slice.
fileprivate struct PerfByteCursor {
    let bytes: UnsafeRawBufferPointer
    var pos: Int
    let end: Int
    let recordStart: Int

    mutating func u64(_ what: @autoclosure () -> String) throws(PerfRecordError) -> UInt64 {
        try need(8, what())
        let v = bytes.loadUnaligned(fromByteOffset: pos, as: UInt64.self)
        pos += 8
        return UInt64(littleEndian: v)
    }
    mutating func u32(_ what: @autoclosure () -> String) throws(PerfRecordError) -> UInt32 {
        try need(4, what())
        let v = bytes.loadUnaligned(fromByteOffset: pos, as: UInt32.self)
        pos += 4
        return UInt32(littleEndian: v)
    }
    mutating func bytes(_ n: Int, _ what: @autoclosure () -> String) throws(PerfRecordError) -> [UInt8] {
        try need(n, what())
        let out = Array(UnsafeRawBufferPointer(rebasing: bytes[pos..<(pos + n)]))
        pos += n
        return out
    }
    func need(_ n: Int, _ what: String) throws(PerfRecordError) {
        if n < 0 || n > end - pos {
            throw PerfRecordError(offset: recordStart,
                                  "\(what) needs \(n) bytes at record offset \(pos - recordStart) but only \(end - pos) remain in the record")
        }
    }
}

/// Parser of perf ring-buffer bytes.
public enum PerfRecordParser {
    /// Upper bound on branch entries accepted (hardware LBRs have ≤ 32; arch LBR ≤ 64; perf caps at 127+).
    public static let maxBranchEntries: UInt64 = 1024
    /// Upper bound on callchain entries (PERF_MAX_STACK_DEPTH is 127 + context markers).
    public static let maxCallchain: UInt64 = 4096

    /// Parses every record in `bytes`. Throws if a header's size is smaller than a header, not a
    /// multiple of 8, runs past the buffer, or if a sample's fields do not fit in its record.
    /// With `allowPartialTail`, a trailing incomplete record is left unconsumed instead of throwing
    /// (see `PerfParseResult.consumed`).
    public static func parse(_ bytes: [UInt8], layout: PerfSampleLayout,
                             allowPartialTail: Bool = false) throws(PerfRecordError) -> PerfParseResult {
        var result: Result<PerfParseResult, PerfRecordError> = .success(PerfParseResult(records: [], consumed: 0))
        bytes.withUnsafeBytes { buf in
            do throws(PerfRecordError) {
                result = .success(try parse(buf, layout: layout, allowPartialTail: allowPartialTail))
            } catch {
                result = .failure(error)
            }
        }
        return try result.get()
    }

    /// Parses every record in `buf` (see `parse(_:layout:allowPartialTail:)`).
    public static func parse(_ buf: UnsafeRawBufferPointer, layout: PerfSampleLayout,
                             allowPartialTail: Bool = false) throws(PerfRecordError) -> PerfParseResult {
        var records: [PerfRecord] = []
        var off = 0
        while off < buf.count {
            let remaining = buf.count - off
            if remaining < PerfEventHeader.byteCount {
                if allowPartialTail { break }
                throw PerfRecordError(offset: off, "truncated header: \(remaining) bytes left, a header needs 8")
            }
            let type = UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: off, as: UInt32.self))
            let misc = UInt16(littleEndian: buf.loadUnaligned(fromByteOffset: off + 4, as: UInt16.self))
            let size = Int(UInt16(littleEndian: buf.loadUnaligned(fromByteOffset: off + 6, as: UInt16.self)))
            if size < PerfEventHeader.byteCount {
                throw PerfRecordError(offset: off, "record type \(type) has size \(size) < 8 (header)")
            }
            if size % 8 != 0 {
                throw PerfRecordError(offset: off, "record type \(type) has size \(size), not a multiple of 8")
            }
            if size > remaining {
                if allowPartialTail { break }
                throw PerfRecordError(offset: off, "truncated record type \(type): size \(size) but only \(remaining) bytes available")
            }
            var cur = PerfByteCursor(bytes: buf, pos: off + 8, end: off + size, recordStart: off)
            switch type {
            case PerfRecordType.sample:
                var s = try parseSample(&cur, layout: layout)
                s.misc = misc
                records.append(.sample(s))
            case PerfRecordType.lost:
                let id = try cur.u64("LOST.id")
                let lost = try cur.u64("LOST.lost")
                records.append(.lost(id: id, lost: lost))
            case PerfRecordType.throttle:
                let time = try cur.u64("THROTTLE.time")
                let id = try cur.u64("THROTTLE.id")
                records.append(.throttle(time: time, id: id))
            default:
                records.append(.other(type: type, size: size))
            }
            off += size
        }
        return PerfParseResult(records: records, consumed: off)
    }

    fileprivate static func parseSample(_ c: inout PerfByteCursor, layout: PerfSampleLayout) throws(PerfRecordError) -> PerfSampleRecord {
        let st = layout.sampleType
        var s = PerfSampleRecord()
        if st & PerfSample.identifier != 0 { s.identifier = try c.u64("SAMPLE.identifier") }
        if st & PerfSample.ip != 0 { s.ip = try c.u64("SAMPLE.ip") }
        if st & PerfSample.tid != 0 {
            s.pid = try c.u32("SAMPLE.pid")
            s.tid = try c.u32("SAMPLE.tid")
        }
        if st & PerfSample.time != 0 { s.time = try c.u64("SAMPLE.time") }
        if st & PerfSample.addr != 0 { s.addr = try c.u64("SAMPLE.addr") }
        if st & PerfSample.id != 0 { s.id = try c.u64("SAMPLE.id") }
        if st & PerfSample.streamId != 0 { s.streamId = try c.u64("SAMPLE.stream_id") }
        if st & PerfSample.cpu != 0 {
            s.cpu = try c.u32("SAMPLE.cpu")
            _ = try c.u32("SAMPLE.res")
        }
        if st & PerfSample.period != 0 { s.period = try c.u64("SAMPLE.period") }
        if st & PerfSample.read != 0 { s.read = try parseRead(&c, readFormat: layout.readFormat) }
        if st & PerfSample.callchain != 0 {
            let nr = try c.u64("SAMPLE.callchain.nr")
            if nr > maxCallchain { throw PerfRecordError(offset: c.recordStart, "callchain nr \(nr) > \(maxCallchain)") }
            try c.need(Int(nr) * 8, "SAMPLE.callchain.ips[\(nr)]")
            var ips: [UInt64] = []
            ips.reserveCapacity(Int(nr))
            for _ in 0..<nr { ips.append(try c.u64("SAMPLE.callchain.ip")) }
            s.callchain = ips
        }
        if st & PerfSample.raw != 0 {
            let size = try c.u32("SAMPLE.raw.size")
            s.raw = try c.bytes(Int(size), "SAMPLE.raw.data[\(size)]")
        }
        if st & PerfSample.branchStack != 0 {
            let nr = try c.u64("SAMPLE.branch_stack.nr")
            if nr > maxBranchEntries {
                throw PerfRecordError(offset: c.recordStart, "branch_stack nr \(nr) > \(maxBranchEntries)")
            }
            var hw: UInt64?
            if layout.branchSampleType & PerfBranch.hwIndex != 0 { hw = try c.u64("SAMPLE.branch_stack.hw_idx") }
            try c.need(Int(nr) * 24, "SAMPLE.branch_stack.entries[\(nr)]")
            var entries: [PerfBranchEntry] = []
            entries.reserveCapacity(Int(nr))
            for _ in 0..<nr {
                let from = try c.u64("branch.from")
                let to = try c.u64("branch.to")
                let flags = try c.u64("branch.flags")
                entries.append(PerfBranchEntry(from: from, to: to, flags: flags))
            }
            var counters: [UInt64]?
            if layout.branchSampleType & PerfSampleLayout.branchCountersBit != 0 {
                try c.need(Int(nr) * 8, "SAMPLE.branch_stack.counters[\(nr)]")
                var cs: [UInt64] = []
                for _ in 0..<nr { cs.append(try c.u64("branch.counters")) }
                counters = cs
            }
            s.branchStack = PerfBranchStack(hwIndex: hw, entries: entries, counters: counters)
        }
        // Later fields (REGS_USER, STACK_USER, WEIGHT, …) are not decoded; the record size bounds them.
        return s
    }

    fileprivate static func parseRead(_ c: inout PerfByteCursor, readFormat rf: UInt64) throws(PerfRecordError) -> PerfSampleRead {
        func value(_ c: inout PerfByteCursor) throws(PerfRecordError) -> PerfSampleRead.Value {
            let v = try c.u64("read.value")
            let id = rf & PerfReadFormat.id != 0 ? try c.u64("read.id") : nil
            let lost = rf & PerfReadFormat.lost != 0 ? try c.u64("read.lost") : nil
            return PerfSampleRead.Value(value: v, id: id, lost: lost)
        }
        if rf & PerfReadFormat.group != 0 {
            let nr = try c.u64("read.nr")
            if nr > 4096 { throw PerfRecordError(offset: c.recordStart, "read group nr \(nr) implausible") }
            let en = rf & PerfReadFormat.totalTimeEnabled != 0 ? try c.u64("read.time_enabled") : nil
            let run = rf & PerfReadFormat.totalTimeRunning != 0 ? try c.u64("read.time_running") : nil
            var vs: [PerfSampleRead.Value] = []
            for _ in 0..<nr { vs.append(try value(&c)) }
            return PerfSampleRead(timeEnabled: en, timeRunning: run, values: vs)
        }
        let v = try c.u64("read.value")
        let en = rf & PerfReadFormat.totalTimeEnabled != 0 ? try c.u64("read.time_enabled") : nil
        let run = rf & PerfReadFormat.totalTimeRunning != 0 ? try c.u64("read.time_running") : nil
        let id = rf & PerfReadFormat.id != 0 ? try c.u64("read.id") : nil
        let lost = rf & PerfReadFormat.lost != 0 ? try c.u64("read.lost") : nil
        return PerfSampleRead(timeEnabled: en, timeRunning: run, values: [.init(value: v, id: id, lost: lost)])
    }
}

/// The perf ring's data area as a circular buffer: the pure part of reading it.
public enum PerfRingLayout {
    /// Copies the bytes between `tail` and `head` (free-running byte counters, as in
    /// `perf_event_mmap_page.data_tail/data_head`) out of a circular data area of `data.count` bytes
    /// (a power of two), handling wrap-around. Throws if `head - tail` exceeds the data size or
    /// `head < tail` — that would mean a torn or corrupt ring, never something to read.
    public static func linearize(data: UnsafeRawBufferPointer, tail: UInt64, head: UInt64) throws(PerfRecordError) -> [UInt8] {
        let size = UInt64(data.count)
        if size == 0 || size & (size - 1) != 0 {
            throw PerfRecordError(offset: 0, "ring data size \(size) is not a power of two")
        }
        if head < tail { throw PerfRecordError(offset: 0, "ring head \(head) is behind tail \(tail)") }
        let avail = head - tail
        if avail > size { throw PerfRecordError(offset: 0, "ring holds \(avail) bytes but is only \(size) bytes long") }
        if avail == 0 { return [] }
        let start = Int(tail & (size - 1))
        let n = Int(avail)
        var out = [UInt8](repeating: 0, count: n)
        out.withUnsafeMutableBytes { dst in
            let first = min(n, data.count - start)
            dst.baseAddress!.copyMemory(from: data.baseAddress! + start, byteCount: first)
            if first < n {
                (dst.baseAddress! + first).copyMemory(from: data.baseAddress!, byteCount: n - first)
            }
        }
        return out
    }
}
