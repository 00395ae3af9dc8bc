import Testing
@testable import LbrCore

/// `events/kvm/kvm_msr/format` as read on this project's machine (kernel 6.18).
let kvmMsrFormatText = """
name: kvm_msr
ID: 99
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:unsigned write;\toffset:8;\tsize:4;\tsigned:0;
\tfield:u32 ecx;\toffset:12;\tsize:4;\tsigned:0;
\tfield:u64 data;\toffset:16;\tsize:8;\tsigned:0;
\tfield:u8 exception;\toffset:24;\tsize:1;\tsigned:0;

print fmt: "msr_%s %x = 0x%llx%s", REC->write ? "write" : "read", REC->ecx, REC->data, REC->exception ? " (#GP)" : ""
"""

func putLE(_ v: UInt64, _ size: Int, at off: Int, in b: inout [UInt8]) {
    for i in 0..<size { b[off + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
}

@Suite struct TracepointFormatTests {
    @Test func parsesKvmMsrFormat() throws {
        let f = try TracepointFormat(parsing: kvmMsrFormatText)
        #expect(f.name == "kvm_msr" && f.id == 99)
        #expect(f.fields.map(\.name) == ["common_type", "common_flags", "common_preempt_count", "common_pid",
                                          "write", "ecx", "data", "exception"])
        #expect(f.field("ecx") == TracepointField(type: "u32", name: "ecx", offset: 12, size: 4, isSigned: false))
        #expect(f.field("write")?.type == "unsigned")
        #expect(f.field("common_pid")?.isSigned == true && f.field("common_pid")?.isCommon == true)
        #expect(f.minimumPayloadSize == 25)
    }

    @Test func decodesIntegersStringsAndSignedValues() throws {
        let text = """
        name: sched_switch
        ID: 372
        format:
        \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
        \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;
        \tfield:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;
        \tfield:pid_t prev_pid;\toffset:24;\tsize:4;\tsigned:1;
        \tfield:long prev_state;\toffset:32;\tsize:8;\tsigned:1;
        \tfield:__data_loc char[] name;\toffset:40;\tsize:4;\tsigned:0;
        """
        let f = try TracepointFormat(parsing: text)
        #expect(f.field("prev_comm")?.arrayLength == 16)
        #expect(f.field("name")?.isDataLoc == true)
        var raw = [UInt8](repeating: 0, count: 56)
        putLE(372, 2, at: 0, in: &raw)
        putLE(UInt64(bitPattern: -5), 4, at: 4, in: &raw)
        for (i, c) in "swapper/0".utf8.enumerated() { raw[8 + i] = c }
        putLE(1234, 4, at: 24, in: &raw)
        putLE(UInt64(bitPattern: -1), 8, at: 32, in: &raw)
        putLE(48 | (5 << 16), 4, at: 40, in: &raw)
        for (i, c) in "hello".utf8.enumerated() { raw[48 + i] = c }
        #expect(try f.value("common_type", in: raw) == .unsigned(372))
        #expect(try f.value("common_pid", in: raw) == .signed(-5))
        #expect(try f.value("prev_comm", in: raw) == .string("swapper/0"))
        #expect(try f.value("prev_pid", in: raw) == .signed(1234))
        #expect(try f.value("prev_state", in: raw) == .signed(-1))
        #expect(try f.value("name", in: raw) == .string("hello"))
        #expect(try f.uint("prev_pid", in: raw) == 1234)
    }

    @Test func rejectsMalformedFormatsAndShortPayloads() throws {
        #expect(throws: TracepointFormatError.self) { try TracepointFormat(parsing: "name: x\nformat:\n") }
        #expect(throws: TracepointFormatError.self) {
            try TracepointFormat(parsing: "name: x\nID: 1\n\tfield:int a;\tsize:4;\tsigned:1;\n")   // no offset
        }
        #expect(throws: TracepointFormatError.self) {
            try TracepointFormat(parsing: "name: x\nID: z\n\tfield:int a;\toffset:0;\tsize:4;\tsigned:1;\n")
        }
        let f = try TracepointFormat(parsing: kvmMsrFormatText)
        #expect(throws: TracepointFormatError.self) { try f.value("data", in: [UInt8](repeating: 0, count: 20)) }
        #expect(throws: TracepointFormatError.self) { try f.value("nope", in: [UInt8](repeating: 0, count: 40)) }
        // A __data_loc pointing outside the payload.
        let g = try TracepointFormat(parsing: "name: x\nID: 1\n\tfield:__data_loc char[] s;\toffset:0;\tsize:4;\tsigned:0;\n")
        var raw = [UInt8](repeating: 0, count: 8)
        putLE(4 | (100 << 16), 4, at: 0, in: &raw)
        #expect(throws: TracepointFormatError.self) { try g.value("s", in: raw) }
    }

    @Test func kvmMsrDecoderUsesFormatOffsets() throws {
        let f = try TracepointFormat(parsing: kvmMsrFormatText)
        let d = try KvmMsrDecoder(format: f)
        var raw = [UInt8](repeating: 0, count: 36)  // RAW size seen on this host (4 + 36 = 40, u64-aligned)
        putLE(1, 4, at: 8, in: &raw)
        putLE(0x1d9, 4, at: 12, in: &raw)
        putLE(0x8000_0000_0000_0001, 8, at: 16, in: &raw)
        putLE(0, 1, at: 24, in: &raw)
        #expect(try d.decode(raw) == KvmMsrEvent(isWrite: true, index: 0x1d9, data: 0x8000_0000_0000_0001, exception: false))
        #expect(try d.decode(raw).msrAccess == MsrAccess(index: 0x1d9, isWrite: true, value: 0x8000_0000_0000_0001,
                                                         trapped: true, faulted: false))
        // A kernel with a different layout (bigger common header, reordered fields) decodes by its own format.
        let moved = """
        name: kvm_msr
        ID: 1234
        format:
        \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
        \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;
        \tfield:u64 common_extra;\toffset:8;\tsize:8;\tsigned:0;
        \tfield:u64 data;\toffset:16;\tsize:8;\tsigned:0;
        \tfield:u32 ecx;\toffset:24;\tsize:4;\tsigned:0;
        \tfield:unsigned write;\toffset:28;\tsize:4;\tsigned:0;
        \tfield:bool exception;\toffset:32;\tsize:1;\tsigned:0;
        """
        let d2 = try KvmMsrDecoder(format: TracepointFormat(parsing: moved))
        var raw2 = [UInt8](repeating: 0, count: 40)
        putLE(0x680, 4, at: 24, in: &raw2)
        putLE(0, 4, at: 28, in: &raw2)
        putLE(0, 8, at: 16, in: &raw2)
        putLE(1, 1, at: 32, in: &raw2)
        #expect(try d2.decode(raw2) == KvmMsrEvent(isWrite: false, index: 0x680, data: 0, exception: true))
        // Same bytes through the 6.18 decoder give different fields: offsets are not hard-coded.
        #expect(try d.decode(raw2) != d2.decode(raw2))
        // A format without one of the four fields is refused.
        let missing = try TracepointFormat(parsing: "name: kvm_msr\nID: 1\n\tfield:u32 ecx;\toffset:8;\tsize:4;\tsigned:0;\n")
        #expect(throws: TracepointFormatError.self) { try KvmMsrDecoder(format: missing) }
        #expect(throws: TracepointFormatError.self) { try d.decode([UInt8](repeating: 0, count: 16)) }
    }
}
