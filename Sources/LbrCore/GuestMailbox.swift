// GuestMailbox: the byte-level protocol between the VMM and lbrprobe's guest payload.
//
// ─── Protocol ────────────────────────────────────────────────────────────────────────────────
// Transport: one 4 KiB mailbox page in guest RAM (guest-physical 0x6000, identity-mapped) and a
// port-I/O doorbell: the guest executes `OUT %eax, %dx` with DX = 0x5A0. The value of EAX says
// why it rang:
//   READY 0x59444552 ("REDY")  the payload reached its command loop (once, at boot)
//   DONE  0x454E4F44 ("DONE")  a command finished (ok, fault or rejected) and the result is written
//   PING  0x474E4950 ("PING")  one iteration of the exit-loop benchmark command
// One command = the host encodes it into the command area, resumes the vCPU (KVM_RUN), and the
// guest runs it and rings DONE. The guest then waits (it is stopped in the DONE exit) until the
// host resumes it with the next command. All integers are little-endian.
//
// Command area (host → guest), offsets in the page:
//   0x000 u32 magic "LBCM" (0x4D43424C)     0x004 u32 seq (host-chosen, echoed)
//   0x008 u32 opcode                         0x00C u32 depth (READ_LBR)
//   0x010 u64 arg0                           0x018 u64 arg1
//   0x020 u32 LBR_TOS index   0x024 u32 FROM base   0x028 u32 TO base   0x02C u32 INFO base (0: none)
// Result area (guest → host):
//   0x100 u32 magic "LBRS" (0x5352424C), written last      0x104 u32 seq (echo)
//   0x108 u32 status: 0 running, 1 ok, 2 fault, 3 bad command
//   0x10C u32 exception vector      0x110 u64 faulting RIP      0x118 u64 exception error code
//   0x120 u64 guest TSC at command start                        0x128 u64 guest TSC at command end
//   0x130 u32 value count           0x134 u32 byte offset of the values (the payload uses 0x200)
//   values: count × u64 (at most 448)
// Opcodes and their values:
//   1 WRITE_READ  WRMSR arg0 = arg1, RDMSR arg0          → [read-back]
//   2 RDMSR       RDMSR arg0                             → [value]
//   3 WRMSR       WRMSR arg0 = arg1                      → []
//   4 BRANCHES    arg0 taken jmps through the payload's branch-site ring → [arg0]
//   5 READ_LBR    RDMSR TOS, FROM[0..<depth], TO[0..<depth], INFO[0..<depth] if INFO base ≠ 0
//   6 SPIN        arg0 iterations of dec/jnz             → []
//   7 RDTSC                                              → [tsc]
//   8 EXIT_LOOP   arg0 PING doorbells (benchmark)        → []
//   9 SPIN_FOR    busy-wait until TSC ≥ (TSC at command start) + arg0 × arg1, where arg0 is microseconds
//                 and arg1 the TSC ticks per microsecond, measured by the host (LbrLinux TscClock; the
//                 guest TSC runs at the host's rate, no TSC scaling). arg1 = 0 or an arg0 × arg1 that
//                 overflows 64 bits is rejected (status 3)                   → []
//   100 HANG, 101 TRIPLE_FAULT, 102 UD2: test-only faults (loop forever, null IDT + ud2, #UD).
// Every exception (vectors 0..31) is reported as status 2 with vector, error code and RIP; the
// guest then resets its stack and returns to the command loop, so the VM stays usable.
//
// The guest is untrusted: `decode` validates magic, sequence, status, vector, the value count
// and offset against the bytes actually supplied (any length, including truncated pages) and
// the per-command value count; anything else becomes `GuestStatus.error(...)`, never a trap.
// The payload's assembly (CModules/CLbrGuest) uses the same numbers from its C header;
// LbrLinux checks that they agree.

/// The mailbox codec shared by the VMM and its tests (pure: no syscalls).
public enum GuestMailbox {
    public static let pageSize = 4096

    // Command area.
    public static let cmdMagicOffset = 0x000
    public static let cmdSeqOffset = 0x004
    public static let cmdOpcodeOffset = 0x008
    public static let cmdDepthOffset = 0x00C
    public static let cmdArg0Offset = 0x010
    public static let cmdArg1Offset = 0x018
    public static let cmdTosOffset = 0x020
    public static let cmdFromOffset = 0x024
    public static let cmdToOffset = 0x028
    public static let cmdInfoOffset = 0x02C
    // Result area.
    public static let resMagicOffset = 0x100
    public static let resSeqOffset = 0x104
    public static let resStatusOffset = 0x108
    public static let resVectorOffset = 0x10C
    public static let resRipOffset = 0x110
    public static let resErrorCodeOffset = 0x118
    public static let resTscBeginOffset = 0x120
    public static let resTscEndOffset = 0x128
    public static let resCountOffset = 0x130
    public static let resValuesOffsetOffset = 0x134
    /// First byte after the result header: values may not overlap it.
    public static let resHeaderEnd = 0x138
    public static let valuesOffset = 0x200
    public static let maxValues = (pageSize - valuesOffset) / 8
    /// The most taken branches one BRANCHES command runs (`LBR_GUEST_MAX_BRANCHES`, 2^26): the payload rejects
    /// a larger count (BADCMD) and the codec refuses to encode one; a sized pattern is capped here.
    public static let maxBranches = 1 << 26

    public static let commandMagic: UInt32 = 0x4D43_424C
    public static let resultMagic: UInt32 = 0x5352_424C

    /// Doorbell port and values.
    public static let doorbellPort: UInt16 = 0x5A0
    public static let doorbellReady: UInt32 = 0x5944_4552
    public static let doorbellDone: UInt32 = 0x454E_4F44
    public static let doorbellPing: UInt32 = 0x474E_4950

    /// Deepest LBR stack a READ_LBR may request (3 × 64 + 1 values fit the page).
    public static let maxDepth = 64

    /// Payload opcodes.
    public enum Opcode: UInt32, Sendable, CaseIterable {
        case nop = 0, writeRead = 1, rdmsr = 2, wrmsr = 3, branches = 4, readLbr = 5, spin = 6, rdtsc = 7
        case exitLoop = 8
        /// Busy-wait on the TSC: arg0 microseconds × arg1 TSC ticks per microsecond.
        case spinFor = 9
        /// WRMSR arg0 = arg1 immediately followed by RDMSR arg0 (no branch between) → value.
        case tosProbe = 10
        /// Test-only: `jmp .` forever.
        case hang = 100
        /// Test-only: load a null IDT, then `ud2` (→ triple fault / shutdown).
        case tripleFault = 101
        /// Test-only: `ud2` (#UD, vector 6).
        case ud2 = 102
    }

    /// Result status codes written by the guest.
    public enum RawStatus: UInt32, Sendable {
        case running = 0, ok = 1, fault = 2, badCommand = 3
    }

    /// One encoded command.
    public struct Request: Hashable, Sendable {
        public var opcode: Opcode
        public var arg0: UInt64
        public var arg1: UInt64
        public var depth: UInt32
        public var tos: UInt32
        public var from: UInt32
        public var to: UInt32
        public var info: UInt32
        public init(opcode: Opcode, arg0: UInt64 = 0, arg1: UInt64 = 0, depth: UInt32 = 0,
                    tos: UInt32 = 0, from: UInt32 = 0, to: UInt32 = 0, info: UInt32 = 0) {
            self.opcode = opcode; self.arg0 = arg0; self.arg1 = arg1; self.depth = depth
            self.tos = tos; self.from = from; self.to = to; self.info = info
        }
        /// How many values an `ok` result of this request must carry, or nil when any count is valid.
        public var expectedValueCount: Int? {
            switch opcode {
            case .writeRead, .tosProbe, .rdmsr, .rdtsc, .branches: return 1
            case .wrmsr, .spin, .spinFor, .nop, .exitLoop: return 0
            case .readLbr: return 1 + Int(depth) * (info != 0 ? 3 : 2)
            case .hang, .tripleFault, .ud2: return nil
            }
        }

        /// The MSR accesses the payload performs for this request, in program order (see the opcode
        /// table above and CModules/CLbrGuest/guest.S). A fault stops the sequence at the faulting access.
        /// This is the one description of "what the guest touches" that the backends share: the sim
        /// backend replays it against the kernel model, and the hw backend compares it with the
        /// `kvm:kvm_msr` trace to tell intercepted accesses from passed-through ones.
        public var msrSequence: [GuestMsrAccess] {
            switch opcode {
            case .writeRead, .tosProbe:
                return [GuestMsrAccess(index: UInt32(truncatingIfNeeded: arg0), isWrite: true, value: arg1),
                        GuestMsrAccess(index: UInt32(truncatingIfNeeded: arg0), isWrite: false)]
            case .rdmsr:
                return [GuestMsrAccess(index: UInt32(truncatingIfNeeded: arg0), isWrite: false)]
            case .wrmsr:
                return [GuestMsrAccess(index: UInt32(truncatingIfNeeded: arg0), isWrite: true, value: arg1)]
            case .readLbr:
                var out = [GuestMsrAccess(index: tos, isWrite: false)]
                for base in [from, to] + (info != 0 ? [info] : []) {
                    for i in 0..<depth { out.append(GuestMsrAccess(index: base &+ i, isWrite: false)) }
                }
                return out
            case .branches, .spin, .spinFor, .rdtsc, .nop, .exitLoop, .hang, .tripleFault, .ud2:
                return []
            }
        }
    }

    /// One MSR access the guest payload makes.
    public struct GuestMsrAccess: Hashable, Sendable {
        public var index: UInt32
        public var isWrite: Bool
        /// The value written (writes only).
        public var value: UInt64
        public init(index: UInt32, isWrite: Bool, value: UInt64 = 0) {
            self.index = index; self.isWrite = isWrite; self.value = value
        }
    }

    /// MSRs a guest `rdmsr`/`wrmsr` command may touch: DEBUGCTL, PERF_CAPABILITIES, the single
    /// last-branch/LER records, architectural-LBR MSRs, TSC, and every LBR MSR of `layout` and of
    /// the per-model table (§5). Anything else is refused before reaching the guest.
    public static func isAllowed(msr: UInt32, layout: LbrLayout) -> Bool {
        let fixed: Set<UInt32> = [MSR.debugctl, MSR.perfCapabilities, MSR.lbrSelect, MSR.lbrTos,
                                  MSR.lastBranchFromIP, MSR.lastBranchToIP, MSR.lastIntFromIP, MSR.lastIntToIP,
                                  MSR.archLbrCtl, MSR.archLbrDepth, MSR.tsc]
        if fixed.contains(msr) || layout.isLbrMsr(msr) { return true }
        for known in [LbrLayout.core, .atom, .nehalem, .skylake, .knightsLanding] where known.isLbrMsr(msr) {
            return true
        }
        for base in [MSR.archLbrFrom0, MSR.archLbrTo0, MSR.archLbrInfo0] where msr >= base && msr < base + 32 {
            return true
        }
        return false
    }

    /// Why a command cannot be encoded.
    public struct EncodeError: Error, Hashable, Sendable, CustomStringConvertible {
        public let reason: String
        public init(_ reason: String) { self.reason = reason }
        public var description: String { reason }
    }

    /// Longest `spinFor` the codec encodes (10 minutes: far beyond any command deadline, and
    /// µs × ticks-per-µs cannot overflow for any TSC below 30 THz).
    public static let maxSpinMicroseconds = 600_000_000

    /// Maps a `GuestCommand` to its mailbox request (LBR MSR numbers from `layout`).
    ///
    /// `tscTicksPerMicrosecond` is the guest TSC rate a `spinFor` request carries in arg1: the host's
    /// calibrated rate for a real guest (LbrLinux `TscClock`), 1,000 for the model's 1 GHz TSC. It is
    /// ignored by every other command; a `spinFor` encoded without it (0) is rejected by the payload
    /// (status 3), so an uncalibrated spin can never end at once and look like a short command.
    public static func request(for command: GuestCommand, layout: LbrLayout,
                               tscTicksPerMicrosecond: UInt64 = 0) -> Result<Request, EncodeError> {
        switch command {
        case let .enableLbr(freeze):
            let value = DebugCtl.lbr | (freeze ? DebugCtl.freezeLbrsOnPmi : 0)
            return .success(Request(opcode: .writeRead, arg0: UInt64(MSR.debugctl), arg1: value))
        case .disableLbr:
            return .success(Request(opcode: .writeRead, arg0: UInt64(MSR.debugctl), arg1: 0))
        case let .branchPattern(count):
            guard count >= 0, count <= maxBranches else {
                return .failure(EncodeError("branch count \(count) outside 0...\(maxBranches)"))
            }
            return .success(Request(opcode: .branches, arg0: UInt64(count)))
        case .readLbrStack:
            guard layout.depth >= 0, layout.depth <= maxDepth else {
                return .failure(EncodeError("LBR depth \(layout.depth) outside 0...\(maxDepth)"))
            }
            if layout.info == 0 { return .failure(EncodeError("INFO base 0 is reserved for 'no INFO'")) }
            return .success(Request(opcode: .readLbr, depth: UInt32(layout.depth), tos: layout.tos,
                                    from: layout.from, to: layout.to, info: layout.info ?? 0))
        case let .writeTos(value):
            return .success(Request(opcode: .writeRead, arg0: UInt64(layout.tos), arg1: value))
        case let .probeTos(value):
            return .success(Request(opcode: .tosProbe, arg0: UInt64(layout.tos), arg1: value))
        case let .rdmsr(index):
            guard isAllowed(msr: index, layout: layout) else {
                return .failure(EncodeError("MSR 0x\(String(index, radix: 16)) is not in the allowlist"))
            }
            return .success(Request(opcode: .rdmsr, arg0: UInt64(index)))
        case let .wrmsr(index, value):
            guard isAllowed(msr: index, layout: layout) else {
                return .failure(EncodeError("MSR 0x\(String(index, radix: 16)) is not in the allowlist"))
            }
            return .success(Request(opcode: .wrmsr, arg0: UInt64(index), arg1: value))
        case let .spin(iterations):
            guard iterations >= 0 else { return .failure(EncodeError("negative spin count \(iterations)")) }
            return .success(Request(opcode: .spin, arg0: UInt64(iterations)))
        case let .spinFor(us):
            guard us >= 0, us <= maxSpinMicroseconds else {
                return .failure(EncodeError("spin-for \(us) us outside 0...\(maxSpinMicroseconds)"))
            }
            return .success(Request(opcode: .spinFor, arg0: UInt64(us), arg1: tscTicksPerMicrosecond))
        case .readTsc:
            return .success(Request(opcode: .rdtsc))
        case let .exitLoop(n):
            guard n >= 0 else { return .failure(EncodeError("negative exit count \(n)")) }
            return .success(Request(opcode: .exitLoop, arg0: UInt64(n)))
        case let .hostSampleTime(p):
            return .failure(EncodeError("host-sample-time(\(p) periods) is sized by the backend into exit-loop(exits:) before it runs"))
        case let .tracedPattern(p):
            return .failure(EncodeError("traced-pattern(\(p) periods) is sized by the backend into branches(count:) before it runs"))
        }
    }

    /// Writes `request` with sequence number `seq` into the command area of `page`
    /// (which must be at least `resMagicOffset` bytes) and clears the result magic.
    public static func encode(_ request: Request, seq: UInt32, into page: UnsafeMutableRawBufferPointer) {
        precondition(page.count >= resHeaderEnd, "mailbox page too small")
        page.storeBytes(of: 0, toByteOffset: resMagicOffset, as: UInt32.self)
        page.storeBytes(of: commandMagic.littleEndian, toByteOffset: cmdMagicOffset, as: UInt32.self)
        page.storeBytes(of: seq.littleEndian, toByteOffset: cmdSeqOffset, as: UInt32.self)
        page.storeBytes(of: request.opcode.rawValue.littleEndian, toByteOffset: cmdOpcodeOffset, as: UInt32.self)
        page.storeBytes(of: request.depth.littleEndian, toByteOffset: cmdDepthOffset, as: UInt32.self)
        page.storeBytes(of: request.arg0.littleEndian, toByteOffset: cmdArg0Offset, as: UInt64.self)
        page.storeBytes(of: request.arg1.littleEndian, toByteOffset: cmdArg1Offset, as: UInt64.self)
        page.storeBytes(of: request.tos.littleEndian, toByteOffset: cmdTosOffset, as: UInt32.self)
        page.storeBytes(of: request.from.littleEndian, toByteOffset: cmdFromOffset, as: UInt32.self)
        page.storeBytes(of: request.to.littleEndian, toByteOffset: cmdToOffset, as: UInt32.self)
        page.storeBytes(of: request.info.littleEndian, toByteOffset: cmdInfoOffset, as: UInt32.self)
    }

    /// The guest's result, validated, before it is mapped to a `GuestResult`.
    public struct Reply: Hashable, Sendable {
        public var status: GuestStatus
        public var values: [UInt64]
        public var errorCode: UInt64
        public var tscBegin: UInt64
        public var tscEnd: UInt64
    }

    /// Decodes the result area of `page` (any length: a short buffer is a truncated mailbox).
    /// Never traps and never reads outside `page`; every inconsistency is `.error(...)`.
    public static func decode(_ page: UnsafeRawBufferPointer, seq: UInt32, request: Request) -> Reply {
        func fail(_ why: String) -> Reply {
            Reply(status: .error("malformed mailbox: \(why)"), values: [], errorCode: 0, tscBegin: 0, tscEnd: 0)
        }
        guard page.count >= resHeaderEnd else { return fail("\(page.count) bytes, header needs \(resHeaderEnd)") }
        func u32(_ o: Int) -> UInt32 { UInt32(littleEndian: page.loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
        func u64(_ o: Int) -> UInt64 { UInt64(littleEndian: page.loadUnaligned(fromByteOffset: o, as: UInt64.self)) }

        let magic = u32(resMagicOffset)
        guard magic == resultMagic else { return fail("result magic 0x\(String(magic, radix: 16))") }
        let gotSeq = u32(resSeqOffset)
        guard gotSeq == seq else { return fail("result seq \(gotSeq), expected \(seq)") }
        let count = Int(u32(resCountOffset))
        let offset = Int(u32(resValuesOffsetOffset))
        guard count <= maxValues else { return fail("value count \(count) > \(maxValues)") }
        guard offset >= resHeaderEnd, offset <= page.count, (page.count - offset) / 8 >= count else {
            return fail("values at \(offset) × \(count) outside \(resHeaderEnd)..<\(page.count)")
        }
        let values = (0..<count).map { u64(offset + 8 * $0) }
        var reply = Reply(status: .ok, values: values, errorCode: u64(resErrorCodeOffset),
                          tscBegin: u64(resTscBeginOffset), tscEnd: u64(resTscEndOffset))
        let rawStatus = u32(resStatusOffset)
        switch RawStatus(rawValue: rawStatus) {
        case .ok?:
            if let want = request.expectedValueCount, want != count {
                return fail("\(count) values for \(request.opcode), expected \(want)")
            }
            if request.opcode == .branches, values.first != request.arg0 {
                return fail("branch count \(values.first ?? 0), expected \(request.arg0)")
            }
            reply.status = .ok
        case .fault?:
            let vector = u32(resVectorOffset)
            guard vector < 32 else { return fail("fault vector \(vector)") }
            reply.status = .fault(vector: UInt8(vector), rip: u64(resRipOffset))
        case .badCommand?:
            reply.status = .error("guest rejected opcode \(request.opcode.rawValue)")
        case .running?:
            return fail("status RUNNING after DONE")
        case nil:
            return fail("status \(rawStatus)")
        }
        return reply
    }

    /// Decodes from a byte array (copied out of guest memory).
    public static func decode(_ bytes: [UInt8], seq: UInt32, request: Request) -> Reply {
        bytes.withUnsafeBytes { decode($0, seq: seq, request: request) }
    }

    /// Builds the `GuestResult` for `command` from a validated reply.
    public static func result(for command: GuestCommand, request: Request, reply: Reply,
                              exits: ExitCounters? = nil) -> GuestResult {
        var result = GuestResult(command: command, status: reply.status, values: reply.values,
                                 tscBegin: reply.tscBegin, tscEnd: reply.tscEnd, exits: exits)
        if case .fault = reply.status { result.values.append(reply.errorCode) }
        if reply.status == .ok, request.opcode == .readLbr {
            let d = Int(request.depth)
            let v = reply.values
            result.stack = LbrStackSnapshot(tos: v[0], from: Array(v[1..<(1 + d)]), to: Array(v[(1 + d)..<(1 + 2 * d)]),
                                            info: request.info != 0 ? Array(v[(1 + 2 * d)..<(1 + 3 * d)]) : [])
        }
        return result
    }
}
