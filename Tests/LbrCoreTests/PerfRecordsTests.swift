import Testing
@testable import LbrCore

/// Little-endian byte builder for crafted ring contents.
struct PerfBytes {
    var bytes: [UInt8] = []
    mutating func u64(_ v: UInt64) { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) } }
    mutating func u32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) } }
    mutating func u16(_ v: UInt16) { bytes.append(UInt8(v & 0xff)); bytes.append(UInt8(v >> 8)) }
    /// A record: header (type, misc, size = 8 + body) + body.
    static func record(type: UInt32, misc: UInt16 = 0, body: [UInt8], sizeOverride: UInt16? = nil) -> [UInt8] {
        var b = PerfBytes()
        b.u32(type); b.u16(misc); b.u16(sizeOverride ?? UInt16(8 + body.count))
        return b.bytes + body
    }
    static func lost(id: UInt64, lost: UInt64) -> [UInt8] {
        var b = PerfBytes(); b.u64(id); b.u64(lost)
        return record(type: PerfRecordType.lost, body: b.bytes)
    }
}

@Suite struct PerfRecordsTests {
    static let lbrLayout = PerfSampleLayout(sampleType: PerfSample.ip | PerfSample.tid | PerfSample.time | PerfSample.cpu
                                            | PerfSample.branchStack,
                                            branchSampleType: PerfBranch.any | PerfBranch.user | PerfBranch.hwIndex)

    /// A sample matching `lbrLayout` with `nr` branch entries.
    static func lbrSample(ip: UInt64, nr: Int, hwIdx: UInt64 = 3) -> [UInt8] {
        var b = PerfBytes()
        b.u64(ip); b.u32(100); b.u32(101); b.u64(5_000); b.u32(1); b.u32(0)
        b.u64(UInt64(nr)); b.u64(hwIdx)
        for i in 0..<nr { b.u64(0x1000 + UInt64(i)); b.u64(0x2000 + UInt64(i)); b.u64(UInt64(i) << 4 | 1) }
        return PerfBytes.record(type: PerfRecordType.sample, misc: 2, body: b.bytes)
    }

    static func sampleHeaderBody(nr: UInt64) -> [UInt8] {
        var b = PerfBytes()
        b.u64(1); b.u32(1); b.u32(1); b.u64(1); b.u32(0); b.u32(0)
        b.u64(nr); b.u64(0)
        return b.bytes
    }

    static func parseFails(_ bytes: [UInt8], _ layout: PerfSampleLayout = lbrLayout) -> String? {
        do {
            _ = try PerfRecordParser.parse(bytes, layout: layout)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func sampleWithBranchStackAndHwIndex() throws {
        let r = try PerfRecordParser.parse(Self.lbrSample(ip: 0xdead, nr: 3), layout: Self.lbrLayout)
        #expect(r.consumed == 8 + 32 + 16 + 3 * 24)
        guard case let .sample(s) = r.records.first else { Issue.record("no sample"); return }
        #expect(s.ip == 0xdead && s.pid == 100 && s.tid == 101 && s.time == 5_000 && s.cpu == 1 && s.misc == 2)
        #expect(s.branchStack?.hwIndex == 3)
        #expect(s.branchStack?.entries.count == 3)
        #expect(s.branchStack?.entries[2] == PerfBranchEntry(from: 0x1002, to: 0x2002, flags: 0x21))
        #expect(s.branchStack?.entries[2].mispredicted == true)
        #expect(s.branchStack?.entries[2].cycles == 2)
        #expect(s.addr == nil && s.raw == nil)
    }

    @Test func everySupportedFieldInKernelOrder() throws {
        // IDENTIFIER, IP, TID, TIME, ADDR, ID, STREAM_ID, CPU, PERIOD, READ, CALLCHAIN, RAW, BRANCH_STACK:
        // the order of PERF_RECORD_SAMPLE in include/uapi/linux/perf_event.h.
        let st = PerfSample.identifier | PerfSample.ip | PerfSample.tid | PerfSample.time | PerfSample.addr | PerfSample.id
            | PerfSample.streamId | PerfSample.cpu | PerfSample.period | PerfSample.read | PerfSample.callchain
            | PerfSample.raw | PerfSample.branchStack
        let layout = PerfSampleLayout(sampleType: st, branchSampleType: PerfBranch.any, readFormat: PerfReadFormat.standard)
        var b = PerfBytes()
        b.u64(77)                         // identifier
        b.u64(0x401000)                   // ip
        b.u32(10); b.u32(11)              // pid, tid
        b.u64(123456)                     // time
        b.u64(0xfeed)                     // addr
        b.u64(77)                         // id
        b.u64(78)                         // stream_id
        b.u32(1); b.u32(0)                // cpu, res
        b.u64(4000)                       // period
        b.u64(9); b.u64(100); b.u64(90); b.u64(77) // read: value, enabled, running, id
        b.u64(2); b.u64(0xaaa); b.u64(0xbbb)       // callchain
        b.u32(12); b.bytes += [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] // raw: 4 + 12 = 16, aligned
        b.u64(1); b.u64(0x10); b.u64(0x20); b.u64(0) // branch stack, no hw_idx
        let r = try PerfRecordParser.parse(PerfBytes.record(type: PerfRecordType.sample, body: b.bytes), layout: layout)
        guard case let .sample(s) = r.records.first else { Issue.record("no sample"); return }
        #expect(s.identifier == 77 && s.ip == 0x401000 && s.pid == 10 && s.tid == 11 && s.time == 123456)
        #expect(s.addr == 0xfeed && s.id == 77 && s.streamId == 78 && s.cpu == 1 && s.period == 4000)
        #expect(s.read?.values.first?.value == 9 && s.read?.timeEnabled == 100 && s.read?.timeRunning == 90
                && s.read?.values.first?.id == 77)
        #expect(s.callchain == [0xaaa, 0xbbb])
        #expect(s.raw == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
        #expect(s.branchStack == PerfBranchStack(hwIndex: nil, entries: [PerfBranchEntry(from: 0x10, to: 0x20)]))
    }

    @Test func lostAndOtherRecordsAreSkippedBySize() throws {
        var bytes = PerfBytes.lost(id: 5, lost: 42)
        bytes += PerfBytes.record(type: PerfRecordType.comm, body: [UInt8](repeating: 0x41, count: 24))
        bytes += Self.lbrSample(ip: 1, nr: 0)
        let r = try PerfRecordParser.parse(bytes, layout: Self.lbrLayout)
        #expect(r.records.count == 3)
        #expect(r.records[0] == .lost(id: 5, lost: 42))
        #expect(r.records[1] == .other(type: PerfRecordType.comm, size: 32))
        guard case let .sample(s) = r.records[2] else { Issue.record("no sample"); return }
        #expect(s.branchStack?.entries.isEmpty == true)
    }

    @Test func truncatedRecordThrowsUnlessPartialTailAllowed() throws {
        let full = PerfBytes.lost(id: 1, lost: 2) + Self.lbrSample(ip: 1, nr: 2)
        let cut = Array(full.prefix(full.count - 5))
        #expect(Self.parseFails(cut)?.contains("truncated record") == true)
        let r = try PerfRecordParser.parse(cut, layout: Self.lbrLayout, allowPartialTail: true)
        #expect(r.records == [.lost(id: 1, lost: 2)])
        #expect(r.consumed == 24)
        #expect(Self.parseFails([1, 0, 0, 0])?.contains("truncated header") == true)
    }

    @Test func inconsistentSizesFailLoudly() {
        #expect(Self.parseFails(PerfBytes.record(type: 9, body: [], sizeOverride: 4))?.contains("< 8") == true)
        #expect(Self.parseFails(PerfBytes.record(type: 2, body: [UInt8](repeating: 0, count: 12)))?
            .contains("not a multiple of 8") == true)
        // A sample whose branch nr claims more entries than the record holds.
        #expect(Self.parseFails(PerfBytes.record(type: 9, body: Self.sampleHeaderBody(nr: 5)))?
            .contains("branch_stack.entries[5]") == true)
        // A huge nr is rejected before any allocation.
        #expect(Self.parseFails(PerfBytes.record(type: 9, body: Self.sampleHeaderBody(nr: 1 << 40)))?
            .contains("branch_stack nr") == true)
        // A LOST record too short for its fields.
        #expect(Self.parseFails(PerfBytes.record(type: 2, body: [UInt8](repeating: 0, count: 8)))?
            .contains("LOST.lost") == true)
        // The wrong layout (RAW size larger than the record) must fail, not read out of bounds.
        var w = PerfBytes(); w.u32(1000); w.u32(0)
        #expect(Self.parseFails(PerfBytes.record(type: 9, body: w.bytes), PerfSampleLayout(sampleType: PerfSample.raw))?
            .contains("raw.data[1000]") == true)
    }

    /// A crafted circular data area with records laid across the end of the buffer.
    @Test func wrapAroundRingIsLinearizedAndParsed() throws {
        let size = 256
        let stream = PerfBytes.lost(id: 9, lost: 3) + Self.lbrSample(ip: 0xabc, nr: 4) + PerfBytes.lost(id: 9, lost: 1)
        #expect(stream.count < size)
        let tail = UInt64(size * 7 + 200) // free-running counters, many laps in, 56 bytes before the end
        var data = [UInt8](repeating: 0xEE, count: size)
        for (i, byte) in stream.enumerated() { data[(Int(tail % UInt64(size)) + i) % size] = byte }
        let head = tail + UInt64(stream.count)
        let lin = try data.withUnsafeBytes { d throws(PerfRecordError) in try PerfRingLayout.linearize(data: d, tail: tail, head: head) }
        #expect(lin == stream)
        let r = try PerfRecordParser.parse(lin, layout: Self.lbrLayout)
        #expect(r.records.count == 3)
        #expect(r.records.first == .lost(id: 9, lost: 3))
        if case let .sample(s) = r.records[1] { #expect(s.ip == 0xabc && s.branchStack?.entries.count == 4) }
        else { Issue.record("second record is not a sample") }
        #expect(r.records.last == .lost(id: 9, lost: 1))
    }

    @Test func corruptRingCountersAreRejected() {
        let data = [UInt8](repeating: 0, count: 256)
        func fails(_ d: [UInt8], _ t: UInt64, _ h: UInt64) -> Bool {
            d.withUnsafeBytes { p in (try? PerfRingLayout.linearize(data: p, tail: t, head: h)) == nil }
        }
        #expect(!fails(data, 5, 5))
        #expect(fails(data, 10, 5))       // head behind tail
        #expect(fails(data, 0, 257))      // more than the ring holds
        #expect(fails([UInt8](repeating: 0, count: 100), 0, 8)) // not a power of two
    }
}
