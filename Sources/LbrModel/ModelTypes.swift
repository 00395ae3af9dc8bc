// Vocabulary of the kernel model: the PMU description, identifiers, costs, MSR outcomes and the
// hardware LBR stack. Pure values; no syscalls.
import LbrCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The PMU the model simulates (CPUID.0xA counter counts, the LBR layout and format, reference §5).
public struct ModelPMU: Hashable, Sendable {
    /// General-purpose counters per CPU (CPUID.0xA EAX[15:8]).
    public var gpCounters: Int
    /// Fixed counters per CPU (CPUID.0xA EDX[4:0]); fixed counter k counts instructions, cycles,
    /// ref-cycles, TOPDOWN.SLOTS for k = 0, 1, 2, 3.
    public var fixedCounters: Int
    /// Where the LBR stack lives (depth, FROM/TO/INFO bases).
    public var lbrLayout: LbrLayout
    /// PERF_CAPABILITIES[5:0] the host reports (and KVM advertises to the guest when it has LBR).
    public var lbrFormat: LbrFormat
    /// `x86_pmu.lbr_pt_coexist`: `intel_pmu_init()` sets it for Icelake and later cores (and Goldmont Plus);
    /// there `x86_add_exclusive()` lets PT and LBR users coexist, while BTS and LBR stay exclusive (§3.4 (c)).
    public var lbrPtCoexist: Bool

    public init(gpCounters: Int, fixedCounters: Int, lbrLayout: LbrLayout, lbrFormat: LbrFormat, lbrPtCoexist: Bool = false) {
        self.gpCounters = gpCounters; self.fixedCounters = fixedCounters
        self.lbrLayout = lbrLayout; self.lbrFormat = lbrFormat; self.lbrPtCoexist = lbrPtCoexist
    }

    /// A Skylake-server-like PMU: 4 GP (HT on), 3 fixed, 32-deep LBR with LBR_INFO, format 5.
    public static let skylake = ModelPMU(gpCounters: 4, fixedCounters: 3, lbrLayout: .skylake,
                                         lbrFormat: LbrFormat(code: 0x05))
    /// A Haswell-like PMU: 4 GP, 3 fixed, 16-deep LBR, format 4 (EIP_FLAGS2).
    public static let haswell = ModelPMU(gpCounters: 4, fixedCounters: 3, lbrLayout: .haswell,
                                         lbrFormat: LbrFormat(code: 0x04))
}

/// A host user of the branch-trace hardware that `x86_add_exclusive()` keeps apart from LBR users (§3.4 (c)).
public enum ExclusiveBranchTracer: String, Hashable, Sendable, CaseIterable {
    /// Branch Trace Store (`x86_lbr_exclusive_bts`): exclusive with LBR on every CPU.
    case bts
    /// Intel Processor Trace (`x86_lbr_exclusive_pt`): exclusive with LBR unless `lbr_pt_coexist`.
    case pt

    /// Whether this tracer, active on the host, makes LBR event creation fail with -EBUSY on `pmu`.
    public func excludesLbr(on pmu: ModelPMU) -> Bool {
        switch self {
        case .bts: return true
        case .pt: return !pmu.lbrPtCoexist
        }
    }
}

/// A perf event inside the model (host events and KVM's vLBR).
public struct ModelEventID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let raw: Int
    public init(raw: Int) { self.raw = raw }
    public static func < (a: ModelEventID, b: ModelEventID) -> Bool { a.raw < b.raw }
    public var description: String { "event#\(raw)" }
}

/// A task (thread) of the model. Task 0 is the vCPU thread; others are host tasks.
public struct ModelTask: Hashable, Sendable, CustomStringConvertible {
    public let raw: Int
    public init(_ raw: Int) { self.raw = raw }
    /// The thread that runs KVM_RUN (and makes the first LBR access, so owns the vLBR, §1.2).
    public static let vcpuThread = ModelTask(0)
    /// The default host task (CPU hog for preemption, owner of task-scoped contenders).
    public static let hostTask = ModelTask(1)
    public var description: String { raw == 0 ? "vcpu-thread" : "host-task-\(raw)" }
}

/// Fixed costs the model charges to its clock for each operation. These are model constants chosen to
/// be of the right order for VMX hardware, not measurements; scenarios should not derive verdicts from them.
public struct ModelCosts: Hashable, Sendable {
    /// VM-entry (including `vmx_passthrough_lbr_msrs()`).
    public var vmEntryNs: UInt64 = 400
    /// VM-exit.
    public var vmExitNs: UInt64 = 400
    /// KVM emulation of an intercepted MSR access (between its exit and the next entry).
    public var msrEmulationNs: UInt64 = 300
    /// A passed-through guest RDMSR/WRMSR.
    public var passthroughMsrNs: UInt64 = 40
    /// A context switch.
    public var contextSwitchNs: UInt64 = 2_000
    /// perf_event_open/close/ioctl/read as seen from the host caller.
    public var perfSyscallNs: UInt64 = 1_500
    /// The IPI that installs an event on a CPU running a vCPU (§3.5).
    public var ipiNs: UInt64 = 2_000
    /// One taken guest branch.
    public var guestBranchNs: UInt64 = 2
    /// Counted events per nanosecond of running time: the model's core clock in GHz (value of a host counter =
    /// running ns × this; a sample period of P counts lasts P / this ns). 3: a 3 GHz core, the order of the
    /// Cascade Lake hosts the hw path targets (3.1 GHz), so a 100,000-cycle period lasts ≈33 µs as on hardware.
    public var countsPerNs: UInt64 = 3
    /// perf multiplexing interval: `perf_event_mux_interval_ms`, default `PERF_CPU_HRTIMER` = 1000/HZ ms
    /// (kernel/events/core.c, `perf_mux_hrtimer_handler()`); the model takes HZ=250 → 4 ms (HZ=1000: 1 ms).
    public var rotationIntervalNs: UInt64 = 4_000_000
    /// kmsg ratelimit (DEFAULT_RATELIMIT_INTERVAL = 5 s, DEFAULT_RATELIMIT_BURST = 10).
    public var ratelimitIntervalNs: UInt64 = 5_000_000_000
    public var ratelimitBurst: Int = 10
    public init() {}
}

/// The result of a guest MSR access, as the hybrid backend returns it to the guest.
public struct MsrOutcome: Hashable, Sendable, CustomStringConvertible {
    /// Value the guest receives (reads) or the value written (writes).
    public var value: UInt64
    /// Whether KVM intercepted the access (false when the LBR MSRs are passed through, §1.5).
    public var trapped: Bool
    /// Whether the guest got #GP.
    public var faulted: Bool
    public init(value: UInt64, trapped: Bool, faulted: Bool) {
        self.value = value; self.trapped = trapped; self.faulted = faulted
    }
    public var description: String {
        "value=0x\(String(value, radix: 16))\(trapped ? " trapped" : " passthrough")\(faulted ? " #GP" : "")"
    }
}

/// A host counter read: `read()` with PERF_FORMAT_TOTAL_TIME_ENABLED|RUNNING (§3.3).
public struct HostRead: Hashable, Sendable {
    public var value: UInt64
    public var enabledNs: UInt64
    public var runningNs: UInt64
}

/// Provenance of an LBR entry: whose branch the hardware recorded (the model's ground truth for the
/// "guest never reads host branch data" invariant).
public enum LbrProvenance: UInt8, Sendable, Hashable {
    case empty = 0
    case guest = 1
    case host = 2
    /// Host entries exposed to the guest: in the hardware when a vLBR joined an existing LBR user without a
    /// reset (`intel_pmu_lbr_add()` resets only for the first LBR user with total_time_running == 0;
    /// §9.2), or streamed in by a stale host DEBUGCTL.LBR=1 (pre-2025 era option). A guest read of
    /// one is a host→guest branch leak.
    case hostLeak = 3
    /// Guest records a host LBR read may see by a predicted path (§9.7): taken while the vLBR was not ACTIVE
    /// (guest DEBUGCTL.LBR=1 loaded whatever the vLBR state), or left in the hardware by an ACTIVE vLBR when a host
    /// LBR user joined without a reset (`intel_pmu_lbr_add()`'s total_time_running test) or stayed on the CPU
    /// while the vLBR was scheduled out without a switch of its thread (ctx_resched to ERROR, release). A host
    /// read of a plain `.guest` record is a guest→host leak no predicted path explains.
    case guestLeak = 4
}

/// One LBR record: FROM, TO, INFO and the model's provenance tag.
struct LbrEntry: Sendable, Equatable {
    var from: UInt64 = 0
    var to: UInt64 = 0
    var info: UInt64 = 0
    var tag: LbrProvenance = .empty
}

/// One CPU's LBR hardware: `depth` FROM/TO/INFO entries, TOS and LBR_SELECT (§5).
struct LbrStack: Sendable, Equatable {
    var entries: [LbrEntry]
    var tos: UInt64 = 0
    var select: UInt64 = 0
    let mask: UInt64
    var guestEntries = 0
    var hostEntries = 0

    init(depth: Int) {
        entries = Array(repeating: LbrEntry(), count: depth)
        mask = UInt64(depth - 1)
    }

    var depth: Int { entries.count }

    /// Bumped on every change of the registers: two reads with the same `version` return the same stack.
    var version: UInt64 = 0

    /// `intel_pmu_lbr_reset()` → `intel_pmu_lbr_reset_64()`: zero every FROM/TO/INFO and write LBR_SELECT = 0;
    /// TOS is not touched (upstream lbr.c; §9.2).
    mutating func reset() {
        if guestEntries != 0 || hostEntries != 0 {
            for i in 0..<entries.count { entries[i] = LbrEntry() }
        }
        select = 0; guestEntries = 0; hostEntries = 0
        version &+= 1
    }

    mutating func setTag(_ i: Int, _ t: LbrProvenance) {
        switch entries[i].tag { case .guest, .guestLeak: guestEntries -= 1; case .host, .hostLeak: hostEntries -= 1; case .empty: break }
        switch t { case .guest, .guestLeak: guestEntries += 1; case .host, .hostLeak: hostEntries += 1; case .empty: break }
        entries[i].tag = t
    }

    /// The hardware records one taken branch at the next TOS (`times` consecutive times).
    mutating func record(from f: UInt64, to t: UInt64, _ p: LbrProvenance, times: UInt64 = 1) {
        guard times > 0 else { return }
        let n = min(times, UInt64(entries.count))
        // The first times - n records are overwritten by the last n: only TOS moves for them.
        tos = (tos &+ (times - n)) & mask
        for _ in 0..<n {
            tos = (tos &+ 1) & mask
            let i = Int(tos)
            setTag(i, p)
            entries[i].from = f; entries[i].to = t; entries[i].info = 0
        }
        version &+= 1
    }

    /// `branches` in order, each `record(from:to:_:times:)`ed unless its kind's bit in `sel` suppresses it.
    mutating func record(_ branches: ArraySlice<GuestBranch>, select sel: UInt64, _ p: LbrProvenance) {
        for b in branches where sel & b.kind.suppressBit == 0 { record(from: b.from, to: b.to, p, times: b.times) }
    }

    /// `total` single taken branches in a row, as `total` calls of `record(from:to:_:)` leave the registers: only the
    /// last `depth` of them stay (TOS, `seq` and `version` move for every one).
    mutating func recordRun(total: UInt64, seq: inout UInt64, _ p: LbrProvenance, address: (UInt64) -> UInt64) {
        let depth = UInt64(entries.count)
        if total > depth {
            let skipped = total - depth
            tos = (tos &+ skipped) & mask
            seq &+= skipped
            version &+= skipped
        }
        recordRun(Int(min(total, depth)), seq: &seq, p, address: address)
    }

    /// `n` (≤ depth) single taken branches in a row, each exactly as `record(from:to:_:)` records it: the k-th
    /// (k = 1…n) at `address(seq + k)` → +8, with `seq` advanced by `n` (the model's host code branches).
    mutating func recordRun(_ n: Int, seq: inout UInt64, _ p: LbrProvenance, address: (UInt64) -> UInt64) {
        guard n > 0 else { return }
        precondition(n <= entries.count)
        var t = tos, g = guestEntries, h = hostEntries, q = seq
        let m = mask
        // SAFETY: every index is `t & mask` < entries.count (depth is a power of two, `mask` = depth - 1), and the
        // buffer is only used inside the closure.
        entries.withUnsafeMutableBufferPointer { e in
            for _ in 0..<n {
                q &+= 1
                t = (t &+ 1) & m
                let i = Int(t)
                switch e[i].tag { case .guest, .guestLeak: g -= 1; case .host, .hostLeak: h -= 1; case .empty: break }
                let a = address(q)
                e[i] = LbrEntry(from: a, to: a &+ 8, info: 0, tag: p)
            }
        }
        switch p { case .guest, .guestLeak: g += n; case .host, .hostLeak: h += n; case .empty: break }
        tos = t; guestEntries = g; hostEntries = h; seq = q
        version &+= UInt64(n)
    }

    /// Host entries become exposed to the guest (a vLBR joined without reset); returns how many.
    @discardableResult
    mutating func exposeHostEntries() -> Int { hostEntries > 0 ? retag(.host, as: .hostLeak) : 0 }

    /// Guest records an ACTIVE vLBR owned become readable by host LBR users (a predicted path, `.guestLeak`);
    /// returns how many.
    @discardableResult
    mutating func exposeGuestEntries() -> Int { guestEntries > 0 ? retag(.guest, as: .guestLeak) : 0 }

    /// Every entry tagged `from` gets `to`; returns how many (the owner counts stay: a leak tag keeps its owner).
    private mutating func retag(_ from: LbrProvenance, as to: LbrProvenance) -> Int {
        var n = 0
        for i in 0..<entries.count where entries[i].tag == from { entries[i].tag = to; n += 1 }
        return n
    }

    /// How many guest records no predicted path exposed to the host (plain `.guest` tags).
    var ownedGuestEntries: Int {
        guard guestEntries > 0 else { return 0 }
        var n = 0
        for e in entries where e.tag == .guest { n += 1 }
        return n
    }
}

/// The kind of a taken guest branch, for LBR_SELECT filtering (SDM LBR_SELECT bits 2..8; the guest runs at CPL0,
/// so bit 0 CPL_EQ_0 suppresses every guest branch).
public enum GuestBranchKind: UInt8, Sendable, Hashable {
    case jcc, relJmp, relCall, ret

    /// Every kind's "do not capture" bit.
    static let everySuppressBit = LbrSelect.suppressJcc | LbrSelect.suppressRelJmp | LbrSelect.suppressRelCall
        | LbrSelect.suppressReturn

    /// The LBR_SELECT "do not capture" bit for this kind.
    var suppressBit: UInt64 {
        switch self {
        case .jcc: return LbrSelect.suppressJcc
        case .relJmp: return LbrSelect.suppressRelJmp
        case .relCall: return LbrSelect.suppressRelCall
        case .ret: return LbrSelect.suppressReturn
        }
    }
}

/// A taken guest branch (`times` consecutive executions of the same branch, e.g. a spin loop's `jnz`).
public struct GuestBranch: Hashable, Sendable {
    public var from: UInt64
    public var to: UInt64
    public var kind: GuestBranchKind
    public var times: UInt64
    public init(from: UInt64, to: UInt64, kind: GuestBranchKind, times: UInt64 = 1) {
        self.from = from; self.to = to; self.kind = kind; self.times = times
    }
}

/// Kernel-era options: named, cited model parameters that change a rule for an older kernel range. They are
/// parameters of the model, not scenario code; `.current` is today's mainline (`--model mainline`).
public struct ModelEra: Hashable, Sendable, CustomStringConvertible {
    /// Pre-2025: `vmx_vcpu_load` snapshots the host's DEBUGCTL; when a host LBR event had DEBUGCTL.LBR=1 at
    /// that moment, KVM restores LBR=1 after every VM-exit, so host branches stream into the guest-visible
    /// stack while the vCPU is loaded. Fixed by Sean Christopherson's 2025 series "KVM: VMX: Snapshot the
    /// host's DEBUGCTL after disabling IRQs" (Cc stable; first fixed release UNVERIFIED). §9.2.
    public var hostDebugctlSnapshot: Bool
    /// 6.8–6.11.x before ef493f4b122d (fixing 85846b27072d): the vLBR is created with `sample_period = 0`,
    /// gets no PERF_X86_EVENT_NEEDS_BRANCH_STACK, so no `intel_pmu_lbr_add()` (no reset, no lbr_users) and no
    /// call-stack save/restore across vCPU-thread switches (UNVERIFIED on hardware). §9.4.
    public var zeroPeriodVlbr: Bool

    public init(hostDebugctlSnapshot: Bool = false, zeroPeriodVlbr: Bool = false) {
        self.hostDebugctlSnapshot = hostDebugctlSnapshot; self.zeroPeriodVlbr = zeroPeriodVlbr
    }

    /// Today's mainline.
    public static let current = ModelEra()

    /// Every named option: name, what it changes, where it comes from.
    public static let options: [(name: String, summary: String, citation: String)] = [
        ("pre-2025-debugctl",
         "host DEBUGCTL snapshotted at vcpu_load: a stale LBR=1 is restored after every VM-exit, host branches stream into the guest-visible LBR stack",
         "vmx_vcpu_load / vmx_vcpu_run (arch/x86/kvm/vmx/vmx.c) before Sean Christopherson's 2025 \"Snapshot the host's DEBUGCTL after disabling IRQs\" (Cc stable)"),
        ("zero-period-vlbr",
         "6.8-6.11: vLBR with sample_period=0: no intel_pmu_lbr_add (no reset, not an lbr_users), no call-stack save/restore",
         "intel_pmu_create_guest_lbr_event (arch/x86/kvm/vmx/pmu_intel.c) between 85846b27072d and its fix ef493f4b122d; x86_pmu_hw_config / intel_pmu_lbr_add (arch/x86/events)"),
    ]

    /// Parses comma-separated option names ("" or "current": none).
    public init?(names: String) {
        self.init()
        for n in names.split(separator: ",").map({ String($0.filter { $0 != " " }) }) where !n.isEmpty && n != "current" {
            switch n {
            case "pre-2025-debugctl": hostDebugctlSnapshot = true
            case "zero-period-vlbr": zeroPeriodVlbr = true
            default: return nil
            }
        }
    }

    public var description: String {
        let on = [hostDebugctlSnapshot ? "pre-2025-debugctl" : nil, zeroPeriodVlbr ? "zero-period-vlbr" : nil].compactMap { $0 }
        return on.isEmpty ? "current" : on.joined(separator: ",")
    }
}

/// One `struct ratelimit_state` (lib/ratelimit.c `___ratelimit`): DEFAULT_RATELIMIT_INTERVAL 5 s, BURST 10.
/// `pr_warn_ratelimited` has one static state per call site, system-wide (§9.4): every vCPU, VM and run shares
/// it. Models share an instance to share it; its clock is the sum of the model time of the models that used it.
public final class KmsgRatelimit: Sendable {
    let intervalNs: UInt64
    let burst: Int
    fileprivate struct State {
        var begin: UInt64? = nil
        var printed = 0
        var missed = 0
        var clock: UInt64 = 0
    }
    fileprivate let state = Mutex(State())

    public init(intervalNs: UInt64 = 5_000_000_000, burst: Int = 10) {
        self.intervalNs = intervalNs; self.burst = burst
    }

    /// The shared clock (ns).
    public var clockNs: UInt64 { state.withLock { $0.clock } }
    /// Moves the shared clock forward to `t` (never back).
    public func advance(to t: UInt64) { state.withLock { $0.clock = max($0.clock, t) } }

    /// One `pr_warn_ratelimited` at time `t`: whether the line prints, and the "N callbacks suppressed" count
    /// printed first when a new interval starts after suppressed calls.
    func check(at t: UInt64) -> (prints: Bool, suppressedBefore: Int) {
        state.withLock { s in
            s.clock = max(s.clock, t)
            var suppressed = 0
            if let b = s.begin, t >= b &+ intervalNs {
                suppressed = s.missed
                s.begin = t; s.printed = 0; s.missed = 0
            } else if s.begin == nil {
                s.begin = t
            }
            if s.printed < burst { s.printed += 1; return (true, suppressed) }
            s.missed += 1
            return (false, suppressed)
        }
    }
}

extension KmsgRatelimit {
    /// `count` calls at `first`, `first + step`, … that all find the burst used up inside the current interval: applied
    /// (each is suppressed, as `check(at:)` would count it) and true, or nothing applied and false when any of them
    /// would print or start a new interval.
    func suppressAll(first: UInt64, step: UInt64, count: UInt64) -> Bool {
        guard count > 0 else { return true }
        return state.withLock { s in
            let last = first &+ (count - 1) &* step
            guard let b = s.begin, s.printed >= burst, last < b &+ intervalNs, first <= last else { return false }
            s.clock = max(s.clock, last)
            s.missed += Int(count)
            return true
        }
    }
}

/// The model's host samples as perf records (`KernelModel.recordSamples`): per event, the records since its
/// last batch; per CPU, the stack of the last real read (what a starved sample re-attaches, §9.1).
///
/// The model has no cycle counts: each entry's `flags` holds the register version of the stack it was read
/// from, so two reads of unchanged registers are equal and two reads with branches between them differ, as
/// the LBR_INFO cycle counts make real reads differ. Model TIDs: the vCPU thread `vcpuThreadTid`, host task k
/// `k + 1`, the idle or runner context 0.
struct ModelSampleLog: Sendable {
    struct Ring: Sendable {
        var before: PerfBranchStack?
        var records: [PerfRecord] = []
        var last: PerfBranchStack?
    }
    static let vcpuThreadTid: UInt32 = 1
    var rings: [Int: Ring] = [:]
    var cpuLastRead: [PerfBranchStack?]
    init(cpus: Int) { cpuLastRead = Array(repeating: nil, count: cpus) }

    static func tid(task: Int) -> UInt32 { task >= 0 ? UInt32(task + 1) : 0 }

    /// `n` samples of event `i` on `cpu` at `timeNs`, all showing `stack`.
    mutating func append(event i: Int, cpu: Int, task: Int, timeNs: UInt64, stack: PerfBranchStack, times n: Int) {
        var ring = rings[i] ?? Ring()
        var s = PerfSampleRecord()
        s.tid = Self.tid(task: task); s.time = timeNs; s.cpu = UInt32(cpu); s.branchStack = stack
        for _ in 0..<n { ring.records.append(.sample(s)) }
        ring.last = stack
        rings[i] = ring
    }
}

/// `cpuc->lbr_stack` as the last real `intel_pmu_lbr_read()` left it (§9.1): what starved samples replay.
struct LastLbrRead: Sendable {
    var hwIdx: UInt64
    var version: UInt64
    var nr: Int
    var guestEntries: Int
    var top: (from: UInt64, to: UInt64)
}
