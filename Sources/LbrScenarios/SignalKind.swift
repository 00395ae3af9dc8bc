// The signals the verdict engine reads, in precedence order.

/// A kind of signal the verdict engine reads. Listed in precedence order: when signals disagree, the
/// phase's inferred state is the vote of the first present signal in this order.
public enum SignalKind: String, Hashable, Sendable, Codable, CaseIterable {
    /// The guest got #GP on an LBR MSR (§1.3: not a valid LBR MSR for this vCPU ⇒ no guest LBR).
    case guestFault = "guest-fault"
    /// LBR_TOS write-then-read: `value & tosMask` ⇒ the write stuck ⇒ active; 0 ⇒ dropped (§1.4, §8.3).
    case tosReadback = "tos-readback"
    /// Whether LBR MSR accesses after the first one were still trapped: passed through ⇒ active (§1.5).
    case msrPassthrough = "msr-passthrough"
    /// LBR stack read: non-zero entries ⇒ reads hit hardware ⇒ active; all zero after the guest branched with
    /// DEBUGCTL.LBR=1 ⇒ dummy reads ⇒ not active (§1.4). The payload's own branches (command loop, helper
    /// call/ret) count as the guest's: any entry inside the guest's code is the guest's own recording (§9.3).
    case stackContent = "stack-content"
    /// The guest read LBR entries outside its own code: host records reached the guest (reference §9). A
    /// dummy read returns 0, so this also means the reads hit the hardware ⇒ active; reported as a finding.
    case hostBranchLeak = "host-branch-leak"
    /// The CPU-pinned 0x1b00 contender holds counter 58 (ACTIVE) ⇒ the vLBR cannot; lost it ⇒ the vLBR has it (§3.4 a).
    case vlbrSlotHolder = "vlbr-slot-holder"
    /// Host LBR samples taken while the vCPU ran were starved ⇒ the vLBR is active and `vlbr_exclude_host()`
    /// starves the host; fresh stacks ⇒ not active (§3.4, §8.1). Starved = an exact stale repeat (the same
    /// hw_idx and entries as the previous sample although branches certainly ran: `cpuc->lbr_stack`
    /// re-attached, §9.1). An empty stack (nr == 0) is not a starvation vote: after the vLBR ran, the
    /// `cpuc->br_sel` left by `intel_pmu_lbr_del()` makes `intel_pmu_lbr_filter()` drop host kernel entries
    /// (§9.6); empty stacks are reported as a note. The vote needs N >= `VerdictEngine.minimumHostSamples`
    /// kept samples and carries N and the share (`SignalReading.sampleVote`); below it the signal abstains.
    case hostStarvation = "host-starvation"
    /// "fail to passthrough LBR" kernel messages ⇒ not active at some VM-entry (§1.5). A weak signal, last in
    /// precedence: the ratelimit is global (10 lines per 5 s, then "callbacks suppressed"), so silence is not
    /// evidence, and a line may come from another VM's vCPU (§9.4).
    case kmsgFailToPassthrough = "kmsg-fail-to-passthrough"
}
