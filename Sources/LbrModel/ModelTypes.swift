// Vocabulary of the kernel model: the PMU description, identifiers, costs, MSR outcomes and the
// hardware LBR stack. Pure values; no syscalls.
import LbrCore

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

    public init(gpCounters: Int, fixedCounters: Int, lbrLayout: LbrLayout, lbrFormat: LbrFormat) {
        self.gpCounters = gpCounters; self.fixedCounters = fixedCounters
        self.lbrLayout = lbrLayout; self.lbrFormat = lbrFormat
    }

    /// A Skylake-server-like PMU: 4 GP (HT on), 3 fixed, 32-deep LBR with LBR_INFO, format 5.
    public static let skylake = ModelPMU(gpCounters: 4, fixedCounters: 3, lbrLayout: .skylake,
                                         lbrFormat: LbrFormat(code: 0x05))
    /// A Haswell-like PMU: 4 GP, 3 fixed, 16-deep LBR, format 4 (EIP_FLAGS2).
    public static let haswell = ModelPMU(gpCounters: 4, fixedCounters: 3, lbrLayout: .haswell,
                                         lbrFormat: LbrFormat(code: 0x04))
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
    /// Nanoseconds per counted event (value of a host counter = running ns / this); 1 = 1 GHz cycles.
    public var nsPerCount: UInt64 = 1
    /// perf multiplexing interval (`perf_event_mux_interval_ms`, default 1000/HZ; HZ=250 → 4 ms).
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
    /// Host entries that were in the hardware when a vLBR became ACTIVE without an LBR reset
    /// (`intel_pmu_lbr_add()` resets only for the first LBR user with total_time_running == 0, §1.6).
    case hostResidue = 3
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

    /// `intel_pmu_lbr_reset()`: zero every entry and TOS.
    mutating func reset() {
        if guestEntries != 0 || hostEntries != 0 || tos != 0 {
            for i in 0..<entries.count { entries[i] = LbrEntry() }
        }
        tos = 0; guestEntries = 0; hostEntries = 0
    }

    mutating func setTag(_ i: Int, _ t: LbrProvenance) {
        switch entries[i].tag { case .guest: guestEntries -= 1; case .host, .hostResidue: hostEntries -= 1; case .empty: break }
        switch t { case .guest: guestEntries += 1; case .host, .hostResidue: hostEntries += 1; case .empty: break }
        entries[i].tag = t
    }

    /// The hardware records one taken branch at the next TOS.
    mutating func record(from f: UInt64, to t: UInt64, _ p: LbrProvenance) {
        tos = (tos &+ 1) & mask
        let i = Int(tos)
        setTag(i, p)
        entries[i].from = f; entries[i].to = t; entries[i].info = 0
    }

    /// Host entries become residue (seen by a vLBR that became ACTIVE without reset).
    mutating func markHostAsResidue() {
        guard hostEntries > 0 else { return }
        for i in 0..<entries.count where entries[i].tag == .host { entries[i].tag = .hostResidue }
    }
}
