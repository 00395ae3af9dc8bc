// The scenario catalog. Every scenario is data: phases of host and guest steps with explicit timing.
// Guest loops are short on purpose: on instruction-emulating KVM hosts each guest instruction costs ~1 µs.
// The guest side of a timed step (host action while the vCPU runs, preemption) is the opposite: it must last
// a given wall-clock time on every host, so it is a `spinFor(microseconds:)` (see CatalogConstants).
// Section numbers (§) refer to docs/reference.md; "seed a/b" to Xiong Zhang's cases in the
// June 2023 thread ("[PATCH 3/4] KVM: VMX/pmu: Enable inactive vLBR event in guest LBR MSR emulation"),
// "Sean Q1/Q2" to Sean Christopherson's questions in the same thread, "2018 seed" to Wei Wang / Andi Kleen
// ("guest requesting KVM for lbr stack save/restore", Sept 2018).

import LbrCore

/// Values and sizes the catalog uses.
public enum CatalogConstants {
    /// LBR_TOS probe values. Xiong's vmx_pmu_lbr_contend.c XORs TOS with 0x3 and reads back (§6.1); any value
    /// with `value & tosMask != 0` distinguishes a stuck write from KVM's dropped write, which reads 0 (§8.3).
    public static let tosProbeA: UInt64 = 0x3
    public static let tosProbeB: UInt64 = 0x1
    /// Taken branches per branch-pattern command (fills a 16- or 32-deep stack at most twice; cheap when emulated).
    public static let branches = 16
    /// Host sample periods of guest execution the tracing phases' branch pattern lasts. A host sample only shows
    /// guest branches if the host event overflows while the guest is still running (after a VM-exit the host's
    /// own branches overwrite the stack within `depth` branches), so the pattern is sized by time
    /// (`GuestCommand.tracedPattern`): 20 periods at the period in force, from the guest time per branch the
    /// backend measured (hw) or models (sim, hybrid) — a fixed count lasted less than one period on hardware.
    public static let tracingPeriods = HostSampling.tracedPatternPeriods
    /// Guest busy time while the host installs an event by IPI (`hostWhileGuestRuns`, §3.5). Timed steps spin
    /// for wall-clock TIME (`GuestCommand.spinFor`, the payload busy-waits on the TSC), not for an iteration
    /// count: 2,000 iterations last milliseconds where every guest instruction is emulated (~1 µs each) but
    /// only microseconds on VMX hardware, where the host action would then land after the command and the
    /// hw backend could only report "did not overlap". perf_event_open of a CPU-pinned event on another
    /// CPU's context plus the perf_install_in_context() IPI takes tens to hundreds of microseconds; 2 ms
    /// covers it with a wide margin on a loaded host and costs 2 ms per step here.
    public static let whileRunningMicroseconds = 2_000
    /// Guest busy time while a host task pinned to the vCPU's CPU preempts the vCPU thread
    /// (`preemptGuest`; §1.6 release after a sched-in with the vCPU loaded, §8.4). The CPU hog runs
    /// SCHED_FIFO when permitted (it preempts at once); without that permission it is SCHED_OTHER, and CFS/EEVDF
    /// only preempts the running vCPU thread after its slice / wakeup granularity (a few ms), so the guest
    /// must still be inside KVM_RUN then: 10 ms.
    public static let preemptionMicroseconds = 10_000
    /// Spin iterations after contention ended, before the first probe (gives "recovered by itself" a chance:
    /// several VM-exits/entries happen).
    public static let shortSpin = 200
    /// Host sample periods of host-mode time on the vCPU thread a phase whose verdict rests on host samples
    /// adds before it reads its contenders (`GuestCommand.hostSampleTime`: port-I/O exits sized from the period
    /// in force and the calibrated host time per exit), so that it keeps at least 32 samples (§9.6).
    public static let hostSamplePeriods = HostSampling.calibratedPeriods
    /// LBR_SELECT value that suppresses every branch (CPL0 and CPL>0, §5) so the stack stays frozen while the
    /// guest keeps DEBUGCTL.LBR=1.
    public static let lbrSelectRecordNothing: UInt64 = LbrSelect.suppressKernel | LbrSelect.suppressUser
}

public enum Catalog {
    typealias C = CatalogConstants

    // Reusable step groups.
    static func useLbr(_ why: String) -> [Step] {
        [.guest(.enableLbr(freezeOnPmi: false), why),
         .guest(.branchPattern(count: C.branches), "record guest branches"),
         .guest(.readLbrStack, "the stack must hold guest branches"),
         .guest(.probeTos(C.tosProbeA), "write LBR_TOS and read it back: sticks iff the vLBR is active (§8.3)")]
    }
    /// Calibrated host-mode time on the vCPU thread with the vLBR scheduled: the samples the phase's
    /// host-starvation vote stands on (§9.6).
    static func hostSampleTime(_ why: String = "port-I/O exits: host-mode time on the vCPU thread with its vLBR scheduled, sized for ≥ 32 host samples at the period in force (§9.6)") -> Step {
        .guest(.hostSampleTime(periods: C.hostSamplePeriods), why)
    }
    /// Freeze the guest's LBR stack and take the reference copy a stack watch compares with (`Scenario.stackWatches`).
    static func freezeStack() -> [Step] {
        [.guest(.wrmsr(MSR.lbrSelect, C.lbrSelectRecordNothing),
                "freeze the stack: DEBUGCTL.LBR stays 1, LBR_SELECT suppresses every branch (§5)"),
         .guest(.readLbrStack, "reference copy of the frozen stack")]
    }
    /// The first stack read after the host action, then record again.
    static func checkFrozenStack() -> [Step] {
        [.guest(.readLbrStack, "the frozen stack after the host action: still the guest's records, or wiped (guest-lbr-wiped, §9.8)?"),
         .guest(.wrmsr(MSR.lbrSelect, 0), "record every branch again")]
    }
    static func probeAfterClose(_ c: ContenderSpec) -> [Step] {
        [.host(.close(c), "contention ends"),
         .guest(.spin(iterations: C.shortSpin), "VM-exits/entries without touching LBR (recovered by itself?)"),
         .guest(.probeTos(C.tosProbeA), "first LBR MSR access after contention: trapped or passed through?"),
         .guest(.probeTos(C.tosProbeB), "second access"),
         .guest(.readLbrStack),
         .host(.readKmsg, "fail to passthrough LBR while not ACTIVE at VM-entry (§1.5)")]
    }

    /// guest-baseline: no contender.
    public static let guestBaseline = Scenario(
        name: "guest-baseline",
        question: "Without any host contender, does the guest's LBR work, and are the LBR MSRs passed through after the first (trapped) access?",
        citation: "§1.2 (lazy creation on first access / DEBUGCTL.LBR=1), §1.4 (emulated access), §1.5 (passthrough at VM-entry when ACTIVE), kvm-unit-tests x86/pmu_lbr.c (§7.1)",
        outcomeForm: .oneOf([.vlbrActive, .vlbrInactive, .noGuestLbr]),
        phases: [
            Phase("baseline", .baseline, [
                .guest(.readLbrStack, "first LBR access, DEBUGCTL.LBR=0: creates the vLBR as the first LBR user, so intel_pmu_lbr_add() resets: no host records (reference §9)"),
            ] + useLbr("DEBUGCTL.LBR=1 (§1.2)") + [
                .guest(.probeTos(C.tosProbeB), "second probe: passed through now (§1.5)"),
                .host(.readKmsg)]),
        ],
        rule: .baseline(phase: "baseline"))

    /// host-first (seed a).
    public static let hostFirst = Scenario(
        name: "host-first",
        question: "A CPU-pinned host LBR event exists on the vCPU's CPU before the guest's first LBR access: does the vLBR go to ERROR or does the host get starved; and after the host event closes, does the guest get LBR back?",
        citation: "seed case a; §3.1 (CPU-pinned > task-pinned), §3.4 (vLBR skips LBR_SELECT arbitration on mainline), §8.1; Xiong's vmx_pmu_lbr_contend.c (§6.1)",
        outcomeForm: .terms([.contended, .after], lastOptional: true),
        phases: [
            Phase("contended", .contended, [
                .host(.open(.contender(.pinnedLbr)), "CPU-pinned LBR event before the guest touches LBR"),
                .guest(.readLbrStack, "first LBR access, DEBUGCTL.LBR=0: creates the vLBR; joining the host's LBR user without intel_pmu_lbr_reset() exposes host records (reference §9)"),
            ] + useLbr("DEBUGCTL.LBR=1 while the host event holds LBR") + [
                hostSampleTime(),
                .host(.readContenders, "host samples while the vCPU ran: exact stale repeats ⇒ starved (§3.4, §9.6)"),
                .host(.readKmsg)]),
            Phase("after", .afterContention, probeAfterClose(.contender(.pinnedLbr))),
        ],
        rule: .contention(contended: "contended", after: "after"))

    /// host-preempts (seed b).
    public static let hostPreempts = Scenario(
        name: "host-preempts",
        question: "The guest is using LBR; a CPU-pinned host LBR event is installed by IPI while the vCPU is loaded: does the vLBR lose (ERROR) or does the host get starved; does the guest get LBR back afterwards?",
        citation: "seed case b; §3.5 (perf_install_in_context IPI, ctx_resched), §3.4, §1.5",
        outcomeForm: .terms([.contended, .after], lastOptional: true),
        phases: [
            Phase("guest-owns", .setup, useLbr("the guest owns LBR first") + freezeStack()),
            Phase("contended", .contended, [
                .hostWhileGuestRuns(.open(.contender(.pinnedLbr)), during: .spinFor(microseconds: C.whileRunningMicroseconds),
                                    "installed by IPI while the vCPU runs (§3.5)"),
            ] + checkFrozenStack() + [
                .guest(.probeTos(C.tosProbeA), "does the guest still own LBR?"),
                .guest(.branchPattern(count: C.branches)),
                .guest(.readLbrStack),
                hostSampleTime(),
                .host(.readContenders),
                .host(.readKmsg)]),
            Phase("after", .afterContention, probeAfterClose(.contender(.pinnedLbr))),
        ],
        rule: .contention(contended: "contended", after: "after"),
        stackWatches: [StackPair("guest-owns", "contended")])

    /// slot-contention.
    public static let slotContention = Scenario(
        name: "slot-contention",
        question: "A CPU-pinned raw 0x1b00 event occupies the vLBR's fake counter 58 before the guest's first LBR access: does the vLBR go to ERROR, and does anything short of a release bring it back?",
        citation: "§3.4 (a) (vlbr_constraint idx 58), §8.2, §1.4 (no re-enable in mainline), §3.2 (pinned ⇒ ERROR, never rescheduled)",
        outcomeForm: .terms([.contended, .after], lastOptional: true),
        phases: [
            Phase("contended", .contended, [
                .host(.open(.contender(.vlbrSlot)), "occupy counter 58 with a CPU-pinned event"),
            ] + useLbr("first LBR access: the vLBR cannot get counter 58") + [
                .host(.readContenders, "the slot holder ACTIVE ⇒ the vLBR cannot be"),
                .host(.readKmsg)]),
            Phase("after", .afterContention, probeAfterClose(.contender(.vlbrSlot))),
        ],
        rule: .contention(contended: "contended", after: "after"))

    /// counter-exhaustion.
    public static let counterExhaustion = Scenario(
        name: "counter-exhaustion",
        question: "CPU-pinned counting events occupy every general-purpose and fixed counter before the guest's first LBR access: can the task-pinned vLBR still be scheduled?",
        citation: "§3.4 (b) (collect_events n_events >= max_count, UNVERIFIED experimentally), §3.2",
        citationStatus: .unverified,
        outcomeForm: .terms([.contended, .after], lastOptional: true),
        phases: [
            Phase("contended", .contended, [
                .host(.open(.everyCounter), "one CPU-pinned counting event per counter (CPUID.0xA)"),
            ] + useLbr("first LBR access with every counter taken") + [
                .host(.readContenders),
                .host(.readKmsg)]),
            Phase("after", .afterContention, probeAfterClose(.everyCounter)),
        ],
        rule: .contention(contended: "contended", after: "after"))

    /// recovery-paths.
    public static let recoveryPaths = Scenario(
        name: "recovery-paths",
        question: "After contention put the vLBR in ERROR and ended, which guest action brings LBR back — nothing, an LBR MSR access, a DEBUGCTL.LBR re-write, or DEBUGCTL.LBR=0 plus preemption inside KVM_RUN — and how long does it take (guest TSC, exits)?",
        citation: "§1.4, §1.6 (intel_pmu_cleanup releases iff DEBUGCTL.LBR=0 after a sched-in with the vCPU loaded), §8.2, §8.4; Sean's questions in the seed thread (re-enable on exit / on DEBUGCTL write); Xiong PATCH 3/4",
        outcomeForm: .terms([.contended, .recoveredOrStaysErrored]),
        phases: [
            Phase("setup", .setup, useLbr("the guest owns LBR first")),
            Phase("contended", .contended, [
                .hostWhileGuestRuns(.open(.contender(.vlbrSlot)), during: .spinFor(microseconds: C.whileRunningMicroseconds),
                                    "take counter 58 by IPI while the vCPU runs (§3.4 a, §3.5)"),
                .guest(.probeTos(C.tosProbeA)),
                .host(.readContenders),
                .host(.readKmsg)]),
            Phase("after-access", .recoveryAttempt, recoveryPath: .lbrMsrAccess, [
                .host(.close(.contender(.vlbrSlot)), "contention ends"),
                .guest(.spin(iterations: C.shortSpin), "exits/entries without touching LBR"),
                .guest(.probeTos(C.tosProbeA), "an LBR MSR access (passed through already ⇒ path none)"),
                .guest(.probeTos(C.tosProbeB)),
                .host(.readKmsg)]),
            Phase("debugctl-rewrite", .recoveryAttempt, recoveryPath: .debugctlRewrite, [
                .guest(.enableLbr(freezeOnPmi: false), "re-write DEBUGCTL.LBR=1 (event exists: no re-creation, §1.9)"),
                .guest(.probeTos(C.tosProbeA)),
                .host(.readKmsg)]),
            Phase("release", .recoveryAttempt, recoveryPath: .releaseAfterPreemption, [
                .guest(.disableLbr, "DEBUGCTL.LBR=0 so intel_pmu_cleanup() releases the event (§1.6)"),
                .preempt(by: .cpuHog, during: .spinFor(microseconds: C.preemptionMicroseconds),
                         "sched-out with the vCPU loaded ⇒ KVM_REQ_PMU cleanup at the next entry (§8.4)"),
                .guest(.enableLbr(freezeOnPmi: false), "fresh vLBR event (§1.2)"),
                .guest(.probeTos(C.tosProbeA)),
                .host(.readKmsg)]),
        ],
        rule: .recovery(contended: "contended", attempts: ["after-access", "debugctl-rewrite", "release"]))

    /// guest-traced (Sean Q2).
    public static let guestTraced = Scenario(
        name: "guest-traced",
        question: "Does a CPU-pinned host LBR event that includes the guest (exclude_guest=0) record guest branch addresses, with guest DEBUGCTL.LBR off and on?",
        citation: "Sean Q2 ('Is the guest supposed to be traced?'); §1.9 (guest DEBUGCTL loaded at VM-entry), §3.4 (vlbr_exclude_host skips host LBR read while the vLBR is active), §4 (exclude_guest)",
        outcomeForm: .terms([.lbrOff, .lbrOn]),
        phases: [
            Phase("lbr-off", .tracing, [
                .host(.open(.contender(.pinnedLbrIncludingGuest)), "host LBR event including the guest"),
                .guest(.disableLbr, "guest DEBUGCTL.LBR=0"),
                .guest(.tracedPattern(periods: C.tracingPeriods)),
                hostSampleTime("port-I/O exits: host samples right after VM-exits hold the stack as the guest left it (§9.6)"),
                .host(.readContenders, "guest branch-site addresses in host samples?")]),
            Phase("lbr-on", .tracing, [
                .guest(.enableLbr(freezeOnPmi: false), "guest DEBUGCTL.LBR=1 (creates the vLBR)"),
                .guest(.tracedPattern(periods: C.tracingPeriods)),
                hostSampleTime("port-I/O exits: host samples right after VM-exits hold the stack as the guest left it (§9.6)"),
                .host(.readContenders, "guest branch-site addresses in host samples?"),
                .guest(.probeTos(C.tosProbeA), "vLBR state for the record"),
                .host(.readKmsg),
                .host(.close(.contender(.pinnedLbrIncludingGuest)))]),
        ],
        rule: .tracing(phases: ["lbr-off", "lbr-on"]))

    /// guest-leak (Sean Q2, the path the other phases cannot show): the vLBR is in ERROR because counter 58 is
    /// taken, the guest still sets DEBUGCTL.LBR=1 and branches, and a host LBR sampling event is active.
    public static let guestLeak = Scenario(
        name: "guest-leak",
        question: "With the vLBR in ERROR (counter 58 taken first) and the guest running with DEBUGCTL.LBR=1, do host LBR samples carry the guest's branch records — with exclude_guest=0 and with exclude_guest=1?",
        citation: "Sean Q2 ('Is the guest supposed to be traced?'); §1.9 (vmx_set_msr writes GUEST_IA32_DEBUGCTL whatever the vLBR state, creates the event only if none exists), §3.4 (vlbr_exclude_host false: the vLBR is not scheduled), §9.7",
        outcomeForm: .terms([.inclGuest, .exclGuest]),
        phases: [
            Phase("incl-guest", .tracing, [
                .host(.open(.contender(.vlbrSlot)), "counter 58 taken first: the vLBR cannot be scheduled (§3.4 a)"),
                .host(.open(.contender(.pinnedLbrIncludingGuest)), "host LBR event including the guest (exclude_guest=0)"),
                .guest(.enableLbr(freezeOnPmi: false), "DEBUGCTL.LBR=1: creates the vLBR (ERROR), and KVM loads LBR=1 into GUEST_IA32_DEBUGCTL anyway (§1.9)"),
                .guest(.probeTos(C.tosProbeA), "the vLBR's state for the record: dropped while ERROR"),
                .guest(.tracedPattern(periods: C.tracingPeriods), "the guest's branches, recorded by the hardware the host owns"),
                hostSampleTime("port-I/O exits: host samples right after VM-exits (§9.6)"),
                .host(.readContenders, "guest edges in host samples (PMIs in guest mode)?"),
                .host(.close(.contender(.pinnedLbrIncludingGuest)))]),
            Phase("excl-guest", .tracing, [
                .host(.open(.contender(.pinnedLbr)), "host LBR event excluding the guest (exclude_guest=1)"),
                .guest(.tracedPattern(periods: C.tracingPeriods), "the guest's branches again"),
                hostSampleTime("port-I/O exits: host-mode samples soon after VM-exits read older entries (§9.6, §9.7)"),
                .host(.readContenders, "guest edges in host samples (host-mode PMIs after VM-exits)?"),
                .host(.readKmsg),
                .host(.close(.contender(.pinnedLbr))),
                .host(.close(.contender(.vlbrSlot)))]),
        ],
        rule: .tracing(phases: ["incl-guest", "excl-guest"]))

    /// irq-takeover (Sean Q1).
    public static let irqTakeover = Scenario(
        name: "irq-takeover",
        question: "Can the host take the LBRs while the vCPU is loaded (CPU-pinned LBR event installed by IPI during KVM_RUN), versus only between exits?",
        citation: "Sean Q1 ('When exactly is perf allowed to take control of LBR MSRs? Task switch? IRQ?'); §3.5, §1.4 (IRQs off around the state check), §1.5",
        outcomeForm: .terms([.betweenExits, .whileRunning]),
        phases: [
            Phase("setup", .setup, useLbr("the guest owns LBR") + freezeStack()),
            Phase("between-exits", .contended, [
                .host(.open(.contender(.pinnedLbr)), "installed while the vCPU is outside KVM_RUN"),
            ] + checkFrozenStack() + [
                .guest(.branchPattern(count: C.branches)),
                .guest(.probeTos(C.tosProbeA)),
                hostSampleTime(),
                .host(.readContenders),
                .host(.readKmsg),
                .host(.close(.contender(.pinnedLbr)))]),
            Phase("reset", .setup, [
                .guest(.disableLbr, "release the (possibly ERROR) event: DEBUGCTL.LBR=0 …"),
                .preempt(by: .cpuHog, during: .spinFor(microseconds: C.preemptionMicroseconds), "… plus preemption (§1.6)"),
                .guest(.enableLbr(freezeOnPmi: false), "fresh vLBR event"),
                .guest(.probeTos(C.tosProbeA), "the guest owns LBR again"),
                .guest(.branchPattern(count: C.branches), "records for the frozen stack"),
            ] + freezeStack()),
            Phase("while-running", .contended, [
                .hostWhileGuestRuns(.open(.contender(.pinnedLbr)), during: .spinFor(microseconds: C.whileRunningMicroseconds),
                                    "installed by IPI while the vCPU runs (§3.5)"),
            ] + checkFrozenStack() + [
                .guest(.branchPattern(count: C.branches)),
                .guest(.probeTos(C.tosProbeA)),
                hostSampleTime(),
                .host(.readContenders),
                .host(.readKmsg),
                .host(.close(.contender(.pinnedLbr)))]),
        ],
        rule: .takeover(phases: ["between-exits", "while-running"]),
        stackWatches: [StackPair("setup", "between-exits"), StackPair("reset", "while-running")])

    /// switch-retention (2018 seed).
    public static let switchRetention = Scenario(
        name: "switch-retention",
        question: "Is the guest's LBR stack intact after the vCPU thread is switched out for a host task using LBR call-stack mode on the same CPU — with guest DEBUGCTL.LBR kept on, and with it off (as guest perf does before reading the stack)?",
        citation: "2018 seed (Wei Wang/Andi Kleen: save/restore only while the guest uses LBR; DEBUGCTL.LBR is not a reliable in-use signal); §1.2 (vLBR is a CALL_STACK user ⇒ perf saves/restores it per task), §1.6 (release iff DEBUGCTL.LBR=0 after sched-in; re-creation resets LBRs)",
        outcomeForm: .terms([.lbrOn, .lbrOff]),
        phases: [
            Phase("lbr-on-reference", .stackReference, [
                .guest(.enableLbr(freezeOnPmi: false)),
                .guest(.branchPattern(count: C.branches)),
                .guest(.wrmsr(MSR.lbrSelect, C.lbrSelectRecordNothing),
                       "keep DEBUGCTL.LBR=1 but record nothing more (LBR_SELECT suppress CPL0 and CPL>0)"),
                .guest(.readLbrStack, "reference copy")]),
            Phase("lbr-on-check", .stackCheck, [
                .preempt(by: .lbrCallStackTask, during: .spinFor(microseconds: C.preemptionMicroseconds),
                         "vCPU thread switched out for an LBR call-stack task"),
                .guest(.readLbrStack, "same as the reference?")]),
            Phase("lbr-off-reference", .stackReference, [
                .guest(.wrmsr(MSR.lbrSelect, 0), "record everything again"),
                .guest(.branchPattern(count: C.branches)),
                .guest(.disableLbr, "DEBUGCTL.LBR=0 freezes the stack (guest perf does this before reading)"),
                .guest(.readLbrStack, "reference copy")]),
            Phase("lbr-off-check", .stackCheck, [
                .preempt(by: .lbrCallStackTask, during: .spinFor(microseconds: C.preemptionMicroseconds),
                         "vCPU thread switched out; DEBUGCTL.LBR=0 ⇒ release at the next KVM_REQ_PMU (§1.6)"),
                .guest(.readLbrStack, "same as the reference?")]),
        ],
        rule: .retention(pairs: [StackPair("lbr-on-reference", "lbr-on-check"),
                                 StackPair("lbr-off-reference", "lbr-off-check")]))

    /// Every scenario, in the default run order.
    public static let all: [Scenario] = [
        guestBaseline, hostFirst, hostPreempts, slotContention, counterExhaustion,
        recoveryPaths, guestTraced, irqTakeover, switchRetention, guestLeak,
    ]

    /// The default set `lbrprobe run` uses when no scenario is named.
    public static var defaultSet: [Scenario] { all }

    /// Looks a scenario up by name.
    public static func named(_ name: String) -> Scenario? { all.first { $0.name == name } }

    /// Every scenario name.
    public static var names: [String] { all.map(\.name) }
}
