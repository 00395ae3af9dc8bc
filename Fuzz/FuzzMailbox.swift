// libFuzzer target: the guest mailbox decoder (GuestMailbox.decode), which reads a page the guest wrote —
// untrusted input from lbrprobe's point of view. Built by scripts/fuzz.sh against LbrCore (instrumented).
// The first 16 bytes choose the request (opcode, arg0, depth, info flag) and the expected seq; the rest is the
// page (any length up to one page).
// Invariants: no crash; values never exceed the page's capacity.

import LbrCore

@_cdecl("LLVMFuzzerTestOneInput")
public func lbrFuzzGuestMailbox(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeBufferPointer(start: data, count: size)
    func u32(_ at: Int) -> UInt32 {
        var v: UInt32 = 0
        for i in 0..<4 where at + i < input.count { v |= UInt32(input[at + i]) << (8 * UInt32(i)) }
        return v
    }
    let ops = GuestMailbox.Opcode.allCases
    let opcode = ops[Int(u32(0) % UInt32(ops.count))]
    let request = GuestMailbox.Request(opcode: opcode, arg0: UInt64(u32(4)), arg1: 0, depth: u32(8) % 64,
                                       info: (u32(8) >> 16) & 1)
    let seq = u32(12)
    // The page as the guest left it: any length (a short one is a truncated mailbox), at most one page.
    let page = input.count > 16 ? Array(input[16..<min(input.count, 16 + GuestMailbox.pageSize)]) : []
    let reply = GuestMailbox.decode(page, seq: seq, request: request)
    if reply.values.count > GuestMailbox.maxValues { fatalError("\(reply.values.count) values from one page") }
    return 0
}
