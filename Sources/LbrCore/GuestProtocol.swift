// The guest command vocabulary shared by every backend: what the host asks the guest payload
// to do, and what comes back. The byte-level mailbox encoding lives in GuestMailbox.swift.

/// A command for the guest payload.
public enum GuestCommand: Hashable, Sendable, Codable, CustomStringConvertible {
    /// WRMSR DEBUGCTL with LBR=1 (and FREEZE_LBRS_ON_PMI when asked), then RDMSR it back.
    case enableLbr(freezeOnPmi: Bool)
    /// WRMSR DEBUGCTL with LBR=0, then RDMSR it back.
    case disableLbr
    /// Execute `count` taken branches at the payload's exported branch sites.
    case branchPattern(count: Int)
    /// Read LBR_TOS and FROM/TO(/INFO) for the layout's depth.
    case readLbrStack
    /// WRMSR LBR_TOS = value, then RDMSR LBR_TOS (the dropped-write signature, §8.3) through the payload's
    /// WRMSR and RDMSR helpers: a `ret` and a `call` run between the two, so with guest DEBUGCTL.LBR=1 on
    /// hardware the readback is (value + 2) & mask (§9.3). Kept for compatibility (saved runs, tests);
    /// the catalog uses `probeTos`.
    case writeTos(UInt64)
    /// Branch-free TOS probe: WRMSR LBR_TOS = value immediately followed by RDMSR LBR_TOS, no branch between
    /// (payload opcode TOS_PROBE). Reads back exactly `value & mask` when the write reached the hardware.
    case probeTos(UInt64)
    /// RDMSR of an allowlisted MSR.
    case rdmsr(UInt32)
    /// WRMSR of an allowlisted MSR.
    case wrmsr(UInt32, UInt64)
    /// Spin `iterations` times (guest code is emulated here: keep it short). The duration depends on how
    /// fast the guest executes (nanoseconds on VMX hardware, milliseconds under instruction emulation): use
    /// `spinFor` when a host action must overlap the guest's time inside KVM_RUN.
    case spin(iterations: Int)
    /// Busy-wait in the guest until its TSC has advanced by `microseconds` (at the host-calibrated TSC
    /// rate the VMM puts in the request): a guest phase of a given wall-clock length on any host, so a
    /// host action taken while it runs (IPI install §3.5, preemption §1.6) really overlaps it.
    case spinFor(microseconds: Int)
    /// RDTSC.
    case readTsc
    /// `exits` port-I/O exits: the payload's EXIT_LOOP (`out` of the PING doorbell value, `loop`), each a
    /// VM-exit to the VMM and back. Every exit is host-mode time on the vCPU thread while its vLBR (a task
    /// event of that thread) stays scheduled: the time in which host LBR events sample it (§9.6).
    case exitLoop(exits: Int)
    /// Host-mode time on the vCPU thread worth `periods` host sample periods, as port-I/O exits: the backend
    /// sizes it into `exitLoop(exits:)` from the sample period in force and its calibrated host time per exit
    /// (`HostSampling.exits(forPeriods:periodNs:hostNsPerExit:)`, §9.6) and reports the command it ran.
    case hostSampleTime(periods: Int)
    /// The branch pattern for `periods` host sample periods of guest execution: the backend sizes it into
    /// `branchPattern(count:)` from the sample period in force and the guest time per branch (hw: measured at
    /// begin; model: `PayloadProgram.guestTimeNs`), capped at `GuestMailbox.maxBranches`
    /// (`HostSampling.branches(forPeriods:periodNs:psPerBranch:)`), and reports the command it ran. So host
    /// PMIs land while the guest still runs the pattern (§9.6, §9.7).
    case tracedPattern(periods: Int)

    /// For the two TOS probes: how many taken branches the payload executes between its WRMSR and RDMSR of
    /// LBR_TOS (`writeTos`: the `ret` of g_msr_write and the `call` of g_msr_read = 2; `probeTos`: 0). A
    /// recording LBR moves TOS once per recorded branch, so a write that stuck reads back (value + j) & mask
    /// for some 0 <= j <= this (§9.3). nil for other commands. LbrBackendsTests checks it against
    /// the payload's derived trace.
    public var tosProbeBranchesBetween: Int? {
        switch self {
        case .writeTos: return 2
        case .probeTos: return 0
        default: return nil
        }
    }

    /// The value a TOS probe writes (nil for other commands).
    public var tosProbeValue: UInt64? {
        switch self {
        case let .writeTos(v), let .probeTos(v): return v
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case let .enableLbr(f): return f ? "enable-lbr(freeze-on-pmi)" : "enable-lbr"
        case .disableLbr: return "disable-lbr"
        case let .branchPattern(k): return "branches(\(k))"
        case .readLbrStack: return "read-lbr-stack"
        case let .writeTos(v): return "write-tos(\(v))"
        case let .probeTos(v): return "probe-tos(\(v))"
        case let .rdmsr(i): return "rdmsr(0x\(String(i, radix: 16)))"
        case let .wrmsr(i, v): return "wrmsr(0x\(String(i, radix: 16)),0x\(String(v, radix: 16)))"
        case let .spin(n): return "spin(\(n))"
        case let .spinFor(us): return "spin-for(\(us)us)"
        case .readTsc: return "read-tsc"
        case let .exitLoop(n): return "exit-loop(\(n))"
        case let .hostSampleTime(p): return "host-sample-time(\(p) periods)"
        case let .tracedPattern(p): return "traced-pattern(\(p) periods)"
        }
    }

    /// The command spelled `code` (its `description`), nil for anything else; how a run document's timed step
    /// is read back. A new command needs its spelling here too (LbrReportTests reads every catalog step back).
    public init?(code: String) {
        let (name, arg) = WireSpelling.call(code)
        func int() -> Int? { arg.flatMap { Int($0) }.flatMap { $0 >= 0 ? $0 : nil } }
        switch (name, arg) {
        case ("enable-lbr", nil): self = .enableLbr(freezeOnPmi: false)
        case ("enable-lbr", "freeze-on-pmi"): self = .enableLbr(freezeOnPmi: true)
        case ("disable-lbr", nil): self = .disableLbr
        case ("branches", _?): guard let k = int() else { return nil }; self = .branchPattern(count: k)
        case ("read-lbr-stack", nil): self = .readLbrStack
        case ("write-tos", let a?): guard let v = UInt64(a) else { return nil }; self = .writeTos(v)
        case ("probe-tos", let a?): guard let v = UInt64(a) else { return nil }; self = .probeTos(v)
        case ("rdmsr", let a?): guard let i = WireSpelling.hex(a).flatMap(UInt32.init(exactly:)) else { return nil }; self = .rdmsr(i)
        case ("wrmsr", let a?):
            let parts = a.split(separator: ",", omittingEmptySubsequences: false)
            guard parts.count == 2, let i = WireSpelling.hex(String(parts[0])).flatMap(UInt32.init(exactly:)),
                  let v = WireSpelling.hex(String(parts[1])) else { return nil }
            self = .wrmsr(i, v)
        case ("spin", _?): guard let n = int() else { return nil }; self = .spin(iterations: n)
        case ("spin-for", let a?) where a.hasSuffix("us"):
            guard let us = Int(a.dropLast(2)), us >= 0 else { return nil }; self = .spinFor(microseconds: us)
        case ("read-tsc", nil): self = .readTsc
        case ("exit-loop", _?): guard let n = int() else { return nil }; self = .exitLoop(exits: n)
        case ("host-sample-time", let a?) where a.hasSuffix(" periods"):
            guard let p = Int(a.dropLast(8)), p >= 0 else { return nil }; self = .hostSampleTime(periods: p)
        case ("traced-pattern", let a?) where a.hasSuffix(" periods"):
            guard let p = Int(a.dropLast(8)), p >= 0 else { return nil }; self = .tracedPattern(periods: p)
        default: return nil
        }
        guard description == code else { return nil }   // one spelling per command (no leading zeros, no `+`)
    }
}

/// Reading back the spellings `description` gives the step vocabulary (`name(argument)`, hex `0x…`).
public enum WireSpelling {
    /// `name(argument)` split into its name and argument; the whole text and nil without a trailing `)`.
    public static func call(_ text: String) -> (name: String, argument: String?) {
        guard text.hasSuffix(")"), let open = text.firstIndex(of: "(") else { return (text, nil) }
        return (String(text[..<open]), String(text[text.index(after: open)..<text.index(before: text.endIndex)]))
    }

    /// `0x`-prefixed lower-case hexadecimal.
    public static func hex(_ text: String) -> UInt64? {
        guard text.hasPrefix("0x") else { return nil }
        return UInt64(text.dropFirst(2), radix: 16)
    }
}

/// How a guest command ended.
public enum GuestStatus: Hashable, Sendable, Codable, CustomStringConvertible {
    case ok
    /// The guest took an exception (vector 13 = #GP) at `rip` while executing the command.
    case fault(vector: UInt8, rip: UInt64)
    /// The command did not finish before its deadline; the vCPU was kicked.
    case timeout
    /// The VM or the mailbox failed (shutdown, entry failure, malformed mailbox, …).
    case error(String)

    public var isOK: Bool { self == .ok }
    public var description: String {
        switch self {
        case .ok: return "ok"
        case let .fault(v, rip): return "fault(vector \(v) at 0x\(String(rip, radix: 16)))"
        case .timeout: return "timeout"
        case let .error(m): return "error(\(m))"
        }
    }
}

/// An LBR stack as the guest read it.
public struct LbrStackSnapshot: Hashable, Sendable, Codable {
    public var tos: UInt64
    public var from: [UInt64]
    public var to: [UInt64]
    public var info: [UInt64]
    public init(tos: UInt64, from: [UInt64], to: [UInt64], info: [UInt64] = []) {
        self.tos = tos; self.from = from; self.to = to; self.info = info
    }
    /// Entries whose FROM and TO are both non-zero.
    public var nonZeroEntries: Int { zip(from, to).filter { $0.0 != 0 || $0.1 != 0 }.count }
}

/// VM-exit counters for one command (from KVM's binary stats or the model).
public struct ExitCounters: Hashable, Sendable, Codable {
    public var exits: UInt64
    public var ioExits: UInt64
    /// Exits to userspace for MSR accesses (user-space MSR mode), if known.
    public var msrExits: UInt64
    public init(exits: UInt64 = 0, ioExits: UInt64 = 0, msrExits: UInt64 = 0) {
        self.exits = exits; self.ioExits = ioExits; self.msrExits = msrExits
    }
    public static func - (a: ExitCounters, b: ExitCounters) -> ExitCounters {
        ExitCounters(exits: a.exits &- b.exits, ioExits: a.ioExits &- b.ioExits, msrExits: a.msrExits &- b.msrExits)
    }
}

/// The result of one guest command.
public struct GuestResult: Hashable, Sendable, Codable {
    public var command: GuestCommand
    public var status: GuestStatus
    /// Command-specific values: read-back MSR values, TSC, …
    public var values: [UInt64]
    /// LBR stack for `.readLbrStack`.
    public var stack: LbrStackSnapshot?
    /// Guest TSC at command start and end.
    public var tscBegin: UInt64
    public var tscEnd: UInt64
    public var exits: ExitCounters?

    public init(command: GuestCommand, status: GuestStatus, values: [UInt64] = [], stack: LbrStackSnapshot? = nil,
                tscBegin: UInt64 = 0, tscEnd: UInt64 = 0, exits: ExitCounters? = nil) {
        self.command = command; self.status = status; self.values = values; self.stack = stack
        self.tscBegin = tscBegin; self.tscEnd = tscEnd; self.exits = exits
    }
}
