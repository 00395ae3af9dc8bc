// What the guest payload (CModules/CLbrGuest/guest.S) does for each mailbox request, written once:
// the sim backend executes it against the kernel model, and the hybrid backend's real guest executes
// the assembly, whose filtered MSR accesses reach the same model. Both start from the same
// `GuestMailbox.Request` (`GuestMailbox.request(for:layout:)`), so they cannot drift apart in what a
// command means; LbrBackendsTests checks that the real guest's MSR exits follow `msrOps(for:)` exactly.

import CLbrGuest
import LbrCore
import LbrLinux
import LbrModel

/// One item of a command's execution trace: a taken branch, or the k-th MSR instruction of `msrOps`.
public enum PayloadTraceItem: Hashable, Sendable {
    case branch(GuestBranch)
    case msr(Int)
}

/// Each command's `PayloadProgram.plan`, built on its first use: a scenario set repeats few distinct commands
/// (bounded, so that an arbitrary command stream cannot grow it without limit). One per guest side; not shared.
final class PayloadPlans {
    private struct Key: Hashable {
        var request: GuestMailbox.Request
        var first: Bool
    }
    private var plans: [Key: PayloadProgram.Plan] = [:]
    private static let maxPlans = 256

    func plan(_ request: GuestMailbox.Request, first: Bool) -> PayloadProgram.Plan {
        let key = Key(request: request, first: first)
        if let p = plans[key] { return p }
        let p = PayloadProgram.plan(for: request, first: first)
        if plans.count >= Self.maxPlans { plans.removeAll(keepingCapacity: true) }
        plans[key] = p
        return p
    }
}

/// One guest MSR instruction.
public enum GuestMsrOp: Hashable, Sendable, CustomStringConvertible {
    case read(UInt32)
    case write(UInt32, UInt64)

    public var index: UInt32 {
        switch self { case let .read(i), let .write(i, _): return i }
    }
    public var isWrite: Bool { if case .write = self { return true }; return false }
    public var description: String {
        switch self {
        case let .read(i): return "RDMSR 0x\(String(i, radix: 16))"
        case let .write(i, v): return "WRMSR 0x\(String(i, radix: 16)) = 0x\(String(v, radix: 16))"
        }
    }
}

/// The payload's behaviour per opcode, as data.
public enum PayloadProgram {
    /// The MSR instructions the payload executes for `request`, in order (guest.S: `g_op_write_read`
    /// = WRMSR then RDMSR of arg0; `g_op_rdmsr`; `g_op_wrmsr`; `g_op_read_lbr` = RDMSR TOS, then
    /// FROM[0..<depth], TO[0..<depth], INFO[0..<depth] when the INFO base is non-zero; the branch,
    /// spin, spin-for and rdtsc commands touch no MSR).
    public static func msrOps(for request: GuestMailbox.Request) -> [GuestMsrOp] {
        let idx = UInt32(truncatingIfNeeded: request.arg0)
        switch request.opcode {
        case .writeRead, .tosProbe: return [.write(idx, request.arg1), .read(idx)]
        case .rdmsr: return [.read(idx)]
        case .wrmsr: return [.write(idx, request.arg1)]
        case .readLbr:
            var ops: [GuestMsrOp] = [.read(request.tos)]
            let d = request.depth
            for i in 0..<d { ops.append(.read(request.from &+ i)) }
            for i in 0..<d { ops.append(.read(request.to &+ i)) }
            if request.info != 0 { for i in 0..<d { ops.append(.read(request.info &+ i)) } }
            return ops
        case .nop, .branches, .spin, .spinFor, .rdtsc, .exitLoop, .hang, .tripleFault, .ud2:
            return []
        }
    }

    /// Which `msrOps` results the payload appends to its values (`g_emit` after each RDMSR).
    public static func emitsReads(_ request: GuestMailbox.Request) -> Bool {
        switch request.opcode {
        case .writeRead, .tosProbe, .rdmsr, .readLbr: return true
        default: return false
        }
    }

    /// The taken branches of `g_op_branches` for `count`: the ring of exported branch sites
    /// (`GuestPayload.branchSites`, FROM = the `jmp`, TO = its target), `count` times round the ring in order.
    /// Static addresses from the payload image; no VM is needed.
    public static func branches(count: Int) -> [(from: UInt64, to: UInt64)] {
        let sites = GuestPayload.branchSites
        guard count > 0, !sites.isEmpty else { return [] }
        return (0..<count).map { sites[$0 % sites.count] }
    }

    /// Guest instructions the payload executes for `request` outside its MSR instructions and branch sites
    /// (command loop ≈ 40, `dec/jnz` per spin iteration, `test/jz/dec` per branch, call/emit per MSR read;
    /// a `spinFor` is a duration, not a count: see `guestTimeNs`). The model charges guest time from this count.
    public static func instructionEstimate(for request: GuestMailbox.Request) -> UInt64 {
        let loop: UInt64 = 40
        switch request.opcode {
        case .spin: return loop + 2 &* request.arg0
        case .branches: return loop + 3 &* request.arg0
        case .readLbr, .writeRead, .tosProbe, .rdmsr, .wrmsr: return loop + 8 &* UInt64(msrOps(for: request).count)
        default: return loop
        }
    }

    /// The model's TSC rate (1 GHz: model time is in ns), the rate a `spinFor` request carries for the sim
    /// backend (the real guest gets the host's calibrated rate from GuestVM).
    public static let modelTscTicksPerMicrosecond: UInt64 = 1_000

    /// Guest time `request` takes in the model: `instructionEstimate` at `nsPerInstruction`, plus the
    /// requested duration of a `spinFor` (arg0 µs; a real guest spins at least that long on any host, so
    /// the model charges exactly that, whatever rate arg1 carries). The one place sim and hybrid's model
    /// side charge guest time from (ModelHost.endGuestCommand).
    public static func guestTimeNs(for request: GuestMailbox.Request, nsPerInstruction: UInt64) -> UInt64 {
        let busy = instructionEstimate(for: request) &* nsPerInstruction
        switch request.opcode {
        case .spinFor: return busy &+ request.arg0 &* 1_000
        default: return busy
        }
    }

    /// Guest time the model charges for one more taken branch of the pattern (BRANCHES), in picoseconds: the
    /// step of `guestTimeNs` per count, what `GuestCommand.tracedPattern` is sized from in sim and hybrid alike.
    public static func psPerPatternBranch(nsPerInstruction: UInt64) -> UInt64 {
        let one = guestTimeNs(for: GuestMailbox.Request(opcode: .branches, arg0: 1), nsPerInstruction: nsPerInstruction)
        let two = guestTimeNs(for: GuestMailbox.Request(opcode: .branches, arg0: 2), nsPerInstruction: nsPerInstruction)
        return max(1, two &- one) &* 1_000
    }

    /// The guest RIP a #GP on `op` reports: the TOS probe has its own adjacent WRMSR/RDMSR pair; every other
    /// command goes through the payload's one RDMSR and one WRMSR helper instruction.
    public static func faultRip(_ op: GuestMsrOp, opcode: GuestMailbox.Opcode = .writeRead) -> UInt64 {
        if opcode == .tosProbe { return op.isWrite ? GuestPayload.probeWrmsrSite : GuestPayload.probeRdmsrSite }
        return op.isWrite ? GuestPayload.wrmsrSite : GuestPayload.rdmsrSite
    }

    // MARK: Taken branches (§9.3)

    /// Model constant: guest nanoseconds per iteration of SPIN_FOR's RDTSC loop (RDTSC ≈ 20-40 cycles on
    /// recent Intel cores). Only decides how many times the loop's `jb` is recorded (TOS position); the stack
    /// holds that one branch either way.
    public static let spinForIterationNs: UInt64 = 25

    /// Every taken branch the payload executes for `request`, in program order, with the points where its
    /// MSR instructions run (`.msr(k)` = `msrOps(for:)[k]`). Derived from the payload's own control-flow edges
    /// (guest.S `EJ`/`ECALL`/`ERET`, exported as `lbr_guest_edges`): the dispatch `je`, helper `call`/`ret`,
    /// loop back-edges, the branch-pattern ring and the `jmp g_cmd_loop` that starts every command but the
    /// first (`first`). A test single-steps the real guest and compares. Not derived: error paths (BADCMD,
    /// exceptions) and the test-only opcodes (their trace ends after the dispatch).
    /// long-function: one case per payload opcode, read side by side with guest.S; split, the table would scatter.
    public static func trace(for request: GuestMailbox.Request, first: Bool,
                             spinForIterationNs: UInt64 = spinForIterationNs) -> [PayloadTraceItem] {
        var t: [PayloadTraceItem] = []
        var k = 0
        func e(_ id: Int32) -> GuestPayload.Edge { GuestPayload.edge(id) }
        func br(_ id: Int32, _ kind: GuestBranchKind, times: UInt64 = 1) {
            guard times > 0 else { return }
            let x = e(id)
            t.append(.branch(GuestBranch(from: x.from, to: x.to, kind: kind, times: times)))
        }
        func call(_ id: Int32, ret: Int32, _ body: () -> Void = {}) {
            let c = e(id)
            t.append(.branch(GuestBranch(from: c.from, to: c.to, kind: .relCall)))
            body()
            t.append(.branch(GuestBranch(from: e(ret).from, to: c.returnPoint, kind: .ret)))
        }
        func msr() { t.append(.msr(k)); k += 1 }
        if !first { br(LBR_EDGE_LOOP, .relJmp) }
        br(LBR_EDGE_DISPATCH + Int32(request.opcode.rawValue), .jcc)
        switch request.opcode {
        case .nop: break
        case .writeRead:
            call(LBR_EDGE_WR_CALL_WRITE, ret: LBR_EDGE_RET_WRITE) { msr() }
            call(LBR_EDGE_WR_CALL_READ, ret: LBR_EDGE_RET_READ) { msr() }
            call(LBR_EDGE_WR_CALL_EMIT, ret: LBR_EDGE_RET_EMIT)
            br(LBR_EDGE_WR_OK, .relJmp)
        case .tosProbe:
            msr(); msr()
            call(LBR_EDGE_PROBE_CALL_EMIT, ret: LBR_EDGE_RET_EMIT)
            br(LBR_EDGE_PROBE_OK, .relJmp)
        case .rdmsr:
            call(LBR_EDGE_RD_CALL_READ, ret: LBR_EDGE_RET_READ) { msr() }
            call(LBR_EDGE_RD_CALL_EMIT, ret: LBR_EDGE_RET_EMIT)
            br(LBR_EDGE_RD_OK, .relJmp)
        case .wrmsr:
            call(LBR_EDGE_WRM_CALL_WRITE, ret: LBR_EDGE_RET_WRITE) { msr() }
            br(LBR_EDGE_WRM_OK, .relJmp)
        case .rdtsc:
            call(LBR_EDGE_TSC_CALL_EMIT, ret: LBR_EDGE_RET_EMIT)
            br(LBR_EDGE_TSC_OK, .relJmp)
        case .spin:
            if request.arg0 == 0 { br(LBR_EDGE_SPIN_ZERO, .jcc); break }
            br(LBR_EDGE_SPIN_LOOP, .jcc, times: request.arg0 - 1)
            br(LBR_EDGE_SPIN_OK, .relJmp)
        case .spinFor:
            br(LBR_EDGE_SPINFOR_LOOP, .jcc, times: request.arg0 &* 1_000 / max(1, spinForIterationNs))
            br(LBR_EDGE_SPINFOR_OK, .relJmp)
        case .readLbr:
            call(LBR_EDGE_RL_CALL_READ, ret: LBR_EDGE_RET_READ) { msr() }
            call(LBR_EDGE_RL_CALL_EMIT, ret: LBR_EDGE_RET_EMIT)
            func range(_ id: Int32) {
                call(id, ret: LBR_EDGE_RET_RANGE) {
                    for _ in 0..<request.depth {
                        call(LBR_EDGE_RANGE_CALL_READ, ret: LBR_EDGE_RET_READ) { msr() }
                        call(LBR_EDGE_RANGE_CALL_EMIT, ret: LBR_EDGE_RET_EMIT)
                        br(LBR_EDGE_RANGE_LOOP, .relJmp)
                    }
                    br(LBR_EDGE_RANGE_END, .jcc)
                }
            }
            range(LBR_EDGE_RL_CALL_RANGE_FROM)
            range(LBR_EDGE_RL_CALL_RANGE_TO)
            if request.info == 0 { br(LBR_EDGE_RL_NO_INFO, .jcc) } else {
                range(LBR_EDGE_RL_CALL_RANGE_INFO)
                br(LBR_EDGE_RL_OK, .relJmp)
            }
        case .branches:
            let n = request.arg0
            br(LBR_EDGE_BR_START, .relJmp)
            let sites = UInt64(LBR_GUEST_NUM_BRANCH_SITES)
            let ring = ringBranches
            // A long pattern (`tracedPattern`) in bounded form: the LBRs keep only the last `depth` records and
            // the earlier ones only move TOS, so all but the last `exactPatternTail` branches become one item with
            // their count (`times`); the tail is exact, so the stack and TOS end as after every branch.
            let head = n > UInt64(exactPatternTail) ? Int(n) - exactPatternTail : 0
            if head > 0, case let .branch(b) = ring[0] {
                t.append(.branch(GuestBranch(from: b.from, to: b.to, kind: b.kind, times: UInt64(head))))
            }
            t.reserveCapacity(t.count + Int(n) - head + 8)
            for i in head..<Int(n) { t.append(ring[i % ring.count]) }
            br(LBR_EDGE_BSITE_END + Int32(n % sites), .jcc)
            call(LBR_EDGE_BR_CALL_EMIT, ret: LBR_EDGE_RET_EMIT)
            br(LBR_EDGE_BR_OK, .relJmp)
        case .exitLoop, .hang, .tripleFault, .ud2:
            break
        }
        return t
    }

    /// Branches of a pattern `trace` lists one by one at its end (more than any LBR's depth, 64 for arch LBR):
    /// a longer pattern's earlier branches are one item with their count.
    public static let exactPatternTail = 4_096

    /// The branch pattern's taken jmps as trace items, in ring order (read once).
    static let ringBranches: [PayloadTraceItem] = (0..<Int32(LBR_GUEST_NUM_BRANCH_SITES)).map {
        let x = GuestPayload.edge(LBR_EDGE_BSITE_JMP + $0)
        return .branch(GuestBranch(from: x.from, to: x.to, kind: .relJmp))
    }

    /// A command's `trace` grouped for execution: each MSR instruction with the taken branches right before it,
    /// in program order, and the branches after the last one (`tail`). Built once per request by the sim
    /// backend (`PayloadInterpreterGuest` keeps them), so a command's execution allocates no trace.
    public struct Plan: Sendable {
        /// `(branches before it, k)` per MSR instruction, k indexing `msrOps(for:)`.
        public var steps: [(branches: [GuestBranch], msr: Int)]
        /// The taken branches after the last MSR instruction.
        public var tail: [GuestBranch]
    }

    /// `trace(for:first:)` grouped into a `Plan`.
    public static func plan(for request: GuestMailbox.Request, first: Bool) -> Plan {
        var steps: [(branches: [GuestBranch], msr: Int)] = []
        var run: [GuestBranch] = []
        for item in trace(for: request, first: first) {
            switch item {
            case let .branch(b): run.append(b)
            case let .msr(k):
                steps.append((run, k))
                run = []
            }
        }
        return Plan(steps: steps, tail: run)
    }

    /// The number of taken branches `trace` puts between the k-th and (k+1)-th MSR instruction of `request`
    /// (e.g. 2 for WRITE_READ's WRMSR → RDMSR: `ret`, `call`; 0 for TOS_PROBE).
    public static func branchesBetweenMsrs(_ request: GuestMailbox.Request, after k: Int) -> UInt64 {
        var n: UInt64 = 0
        var inside = false
        for item in trace(for: request, first: true) {
            switch item {
            case let .msr(j):
                if inside { return n }
                if j == k { inside = true }
            case let .branch(b): if inside { n &+= b.times }
            }
        }
        return n
    }

    /// Executes `request` as the payload does, with every MSR instruction answered by `msr`: values are
    /// emitted after each RDMSR, the first #GP ends the command (status fault, vector 13, error code 0,
    /// RIP of the faulting instruction; values emitted before it are kept, as `g_exc_common` leaves them),
    /// `branches` reports its count. The command's taken branches (`trace`) go to `branches` in program order,
    /// each run flushed right before the MSR instruction that follows it; `work` runs after the start TSC. `tsc` is read at command start and end. The result is written into a
    /// mailbox page exactly where the payload writes it and read back with `GuestMailbox.decode`, so the
    /// sim backend's results pass the same validation as the real guest's.
    public static func execute(_ request: GuestMailbox.Request, seq: UInt32 = 1, first: Bool = true,
                               msr: (GuestMsrOp) -> MsrOutcome,
                               tsc: () -> UInt64,
                               branches: ([GuestBranch]) -> Void = { _ in },
                               work: () -> Void = {}) -> GuestMailbox.Reply {
        execute(request, plan: plan(for: request, first: first), seq: seq, msr: msr, tsc: tsc, branches: branches,
                work: work)
    }

    /// `execute(_:seq:first:msr:tsc:branches:work:)` with the command's `plan(for:first:)` given.
    public static func execute(_ request: GuestMailbox.Request, plan: Plan, seq: UInt32 = 1,
                               msr: (GuestMsrOp) -> MsrOutcome,
                               tsc: () -> UInt64,
                               branches: ([GuestBranch]) -> Void = { _ in },
                               work: () -> Void = {}) -> GuestMailbox.Reply {
        typealias M = GuestMailbox
        let t0 = tsc()
        work()
        var values: [UInt64] = []
        var fault: (op: GuestMsrOp, rip: UInt64)?
        let emit = emitsReads(request)
        let ops = msrOps(for: request)
        if emit { values.reserveCapacity(ops.count) }
        for step in plan.steps {
            if !step.branches.isEmpty { branches(step.branches) }
            let op = ops[step.msr]
            let o = msr(op)
            if o.faulted { fault = (op, faultRip(op, opcode: request.opcode)); break }
            if !op.isWrite && emit { values.append(o.value) }
        }
        if fault == nil && !plan.tail.isEmpty { branches(plan.tail) }
        if fault == nil {
            switch request.opcode {
            case .branches: values = [request.arg0]
            case .rdtsc: values = [tsc()]
            default: break
            }
        }
        let t1 = tsc()
        var page = [UInt8](repeating: 0, count: M.pageSize)
        page.withUnsafeMutableBytes { p in
            func u32(_ v: UInt32, _ o: Int) { p.storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt32.self) }
            func u64(_ v: UInt64, _ o: Int) { p.storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt64.self) }
            u32(seq, M.resSeqOffset)
            if let fault {
                u32(M.RawStatus.fault.rawValue, M.resStatusOffset)
                u32(13, M.resVectorOffset)
                u64(fault.rip, M.resRipOffset)
                u64(0, M.resErrorCodeOffset)
            } else {
                u32(M.RawStatus.ok.rawValue, M.resStatusOffset)
            }
            u64(t0, M.resTscBeginOffset)
            u64(t1, M.resTscEndOffset)
            let n = min(values.count, M.maxValues)
            u32(UInt32(n), M.resCountOffset)
            u32(UInt32(M.valuesOffset), M.resValuesOffsetOffset)
            for i in 0..<n { u64(values[i], M.valuesOffset + 8 * i) }
            u32(M.resultMagic, M.resMagicOffset) // written last, as the payload does
        }
        return M.decode(page, seq: seq, request: request)
    }
}
