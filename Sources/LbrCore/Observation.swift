// What backends observe. The hw backend gets these from perf, KVM stats, tracepoints and
// /dev/kmsg; the hybrid and sim backends get them from the kernel model. The verdict engine
// only sees these types, so a verdict never depends on which backend produced it.

/// State of KVM's vLBR perf event as the kernel (or the model) holds it.
public enum VlbrState: String, Hashable, Sendable, Codable, CaseIterable {
    /// No vLBR event exists (never created, released, or creation failed → "dummy" accesses).
    case none
    case active
    case inactive
    case error
    case off
}

/// State of a host perf event as userspace can see it (§3.2, §3.3).
public enum HostEventState: String, Hashable, Sendable, Codable, CaseIterable {
    /// time_running grew as much as time_enabled.
    case active
    /// time_running < time_enabled growth: multiplexed or waiting for a counter.
    case inactive
    /// A pinned event that could not be scheduled: read() returns 0 bytes, POLLERR on 6.15+.
    case error
    /// Disabled.
    case off
    case closed
}

/// One guest LBR-relevant MSR access and how it was handled.
public struct MsrAccess: Hashable, Sendable, Codable {
    public var index: UInt32
    public var isWrite: Bool
    /// Value written, or value the guest received.
    public var value: UInt64
    /// Whether the access was intercepted (emulated by KVM / delivered to userspace) rather than passed through.
    public var trapped: Bool
    /// Whether the guest got #GP.
    public var faulted: Bool
    public init(index: UInt32, isWrite: Bool, value: UInt64, trapped: Bool, faulted: Bool = false) {
        self.index = index; self.isWrite = isWrite; self.value = value; self.trapped = trapped; self.faulted = faulted
    }
}

/// Summary of host samples from one host LBR event over an interval.
///
/// Starvation on real hardware (§9.1, docs/reference.md): while the vLBR is scheduled in on a CPU,
/// `intel_pmu_lbr_read()` returns early and every host sample re-attaches the CPU's last real read
/// (`cpuc->lbr_stack`: entries, `nr`, `hw_idx`). Starved samples are therefore *stale repeats* (nr == 0
/// included when the last real read was empty). `staleRepeats` counts them; `emptyBranches` counts `nr == 0`.
public struct HostSampleSummary: Hashable, Sendable, Codable {
    public var contender: String
    /// Samples kept (on the vCPU's CPU, of the vCPU thread's TID, inside the guest command's time window
    /// where the backend can tell).
    public var samples: Int
    /// Samples whose branch stack had at least one entry.
    public var withBranches: Int
    /// Samples whose branch stack was empty (nr == 0).
    public var emptyBranches: Int
    /// Branch entries whose from/to address lies inside the guest payload.
    public var guestAddresses: Int
    public var lost: Int
    /// Samples whose branch stack (`hw_idx` when present, and every entry) equals the previous kept sample's
    /// although branches certainly ran between them: the stale-repeat starvation signature (§9.1).
    public var staleRepeats: Int
    /// Samples that carried `hw_idx` (PERF_SAMPLE_BRANCH_HW_INDEX requested).
    public var withHwIndex: Int
    /// Samples dropped because they were not the vCPU thread's or fell outside the command's window.
    public var filteredOut: Int
    /// PERF_RECORD_THROTTLE records seen (perf lowered the rate: max_sample_rate, §9.1).
    public var throttled: Int
    /// The sample period the event used (hw: the attribute; model: its period), nil when not known.
    public var samplePeriod: UInt64?
    /// One stale repeat, as evidence (e.g. "hw_idx 0x5, 32 entries, 0x401000->0x401010 ..."), ASCII.
    public var staleExample: String?

    public init(contender: String, samples: Int, withBranches: Int, emptyBranches: Int, guestAddresses: Int,
                lost: Int = 0, staleRepeats: Int = 0, withHwIndex: Int = 0, filteredOut: Int = 0, throttled: Int = 0,
                samplePeriod: UInt64? = nil, staleExample: String? = nil) {
        self.contender = contender; self.samples = samples; self.withBranches = withBranches
        self.emptyBranches = emptyBranches; self.guestAddresses = guestAddresses; self.lost = lost
        self.staleRepeats = staleRepeats; self.withHwIndex = withHwIndex; self.filteredOut = filteredOut
        self.throttled = throttled; self.samplePeriod = samplePeriod; self.staleExample = staleExample
    }

    /// Samples that show a starved host: exact stale repeats (an empty stack only when it repeats its
    /// predecessor exactly; a lone empty stack is br_sel filtering, not starvation, §9.6).
    public var starvedSamples: Int { staleRepeats }
}

/// A single observation.
public enum Observation: Hashable, Sendable, Codable {
    case guest(GuestResult)
    case msrAccess(MsrAccess)
    /// Ground truth of the vLBR state (model-backed backends only; hw infers it).
    case vlbr(VlbrState)
    /// Whether KVM passes the LBR MSRs through at the last VM-entry (model-backed; hw infers it).
    case passthrough(Bool)
    case hostEvent(contender: String, state: HostEventState, enabledNs: UInt64, runningNs: UInt64)
    case hostSamples(HostSampleSummary)
    /// The raw samples the next `.hostSamples` of the same contender was derived from (recorded when the run
    /// writes a capture; the verdict engine judges the summary, `judge` derives it again from these).
    case hostSampleRecords(HostSampleRecords)
    /// The `kvm:kvm_msr` trace lines the following `.msrAccess` observations were attributed from (hw, recorded
    /// when the run writes a capture; `judge` attributes them again).
    case kvmMsrTrace(KvmMsrTraceLines)
    case kmsg(String)
    case contextSwitches(Int)
    /// The kernel model's context switches of the vCPU thread where the backend reports the real ones as
    /// `.contextSwitches` (hybrid: the real vCPU thread's; the model's are shown beside them, never counted).
    case modelContextSwitches(Int)
    case exits(ExitCounters)
    /// Where a host action taken while the vCPU ran a guest command fell on the guest's TSC line.
    case hostActionWindow(HostActionWindow)
    case note(String)
}

/// A host action taken while the vCPU ran a guest command, placed on the guest's TSC line (hw: the action's
/// host-TSC window moved by the TSC offset measured when the VM began, ± that measurement's error).
public struct HostActionWindow: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The host action (written as its spelling, `open(pinned-lbr-any-cycles)`).
    public var action: HostAction
    /// The action's start and end on the guest TSC line; nil when not measured (no TSC offset, no command end).
    public var guestTscStart: UInt64?
    public var guestTscEnd: UInt64?
    /// The guest command's TSC span.
    public var commandTscBegin: UInt64
    public var commandTscEnd: UInt64
    /// Uncertainty of the placement, in guest TSC ticks.
    public var errorTicks: UInt64

    public init(action: HostAction, guestTscStart: UInt64?, guestTscEnd: UInt64?, commandTscBegin: UInt64,
                commandTscEnd: UInt64, errorTicks: UInt64) {
        self.action = action; self.guestTscStart = guestTscStart; self.guestTscEnd = guestTscEnd
        self.commandTscBegin = commandTscBegin; self.commandTscEnd = commandTscEnd; self.errorTicks = errorTicks
    }

    private enum CodingKeys: String, CodingKey {
        case action, guestTscStart, guestTscEnd, commandTscBegin, commandTscEnd, errorTicks
    }

    /// Whether the action finished while the guest still executed the command (within the error); nil when
    /// the window was not measured.
    public var insideCommand: Bool? {
        guard let s = guestTscStart, let e = guestTscEnd else { return nil }
        return e <= commandTscEnd &+ errorTicks && s &+ errorTicks >= commandTscBegin
    }

    public var description: String {
        guard let s = guestTscStart, let e = guestTscEnd else {
            return "host \(action) ran after the vCPU thread started the command (overlap with KVM_RUN not measured)"
        }
        if insideCommand == true {
            return "host \(action) ran inside the guest command (guest TSC \(s)…\(e) within \(commandTscBegin)…\(commandTscEnd), ±\(errorTicks)): installed while the vCPU was in KVM_RUN (§3.5)"
        }
        return "host \(action) did NOT finish inside the guest command (guest TSC \(s)…\(e) vs command \(commandTscBegin)…\(commandTscEnd)): it took effect between exits, not by IPI during KVM_RUN"
    }
}

/// An observation with the backend's monotonic time in nanoseconds and where it comes from (`Basis`): the
/// backend that produces it says, there is no default.
public struct TimedObservation: Hashable, Sendable, Codable {
    public var timeNs: UInt64
    public var observation: Observation
    public var basis: Basis
    public init(timeNs: UInt64, _ observation: Observation, basis: Basis) {
        self.timeNs = timeNs; self.observation = observation; self.basis = basis
    }
}

/// How text shows the kernel model's context switches beside real ones (`Observation.modelContextSwitches`).
public func modelContextSwitchesText(_ n: Int) -> String { "model: vCPU thread switched out and back (\(n) context switches)" }

/// The kernel message KVM prints when the vLBR is not ACTIVE at VM-entry (§1.5).
public let failToPassthroughMessage = "fail to passthrough LBR"
