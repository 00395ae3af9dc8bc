// Kernel variants: mainline and the designs argued about in the seed threads, each a named policy.
// Every policy flag cites the reference section (docs/reference.md) or the LKML
// message it models. Variants that only exist as review comments are labelled as interpretations.
import LbrCore

import LbrCore

/// How the guest LBR stack is saved/restored across switches of the vCPU thread.
public enum VlbrSaveRestorePolicy: String, Sendable, Hashable {
    /// The vLBR is a CALL_STACK|USER event: perf saves/restores the stack of the vCPU thread
    /// (`intel_pmu_lbr_sched_task`, reference §1.2, §3.4 last bullet).
    case always
    /// Wei Wang 2018 (seed): save/restore only while the guest declares LBR active through the PV
    /// LBR-control MSR (`MSR_KVM_PV_LBR_CTRL`, name UNVERIFIED, reference §6.2).
    case whilePvActive = "while-pv-active"
    /// Andi Kleen 2018 (seed): no restore at sched-in; LBR MSRs intercepted until the first access,
    /// which restores and passes the MSRs through again; not saved when never passed through.
    case lazy
}

/// A choice the model makes where its source (a review comment, a patch description) leaves the behaviour open.
/// The outcomes it decides are the model's, not the design's: `lbrprobe list` and the contract say so next to them.
public struct ModelChoice: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable, CaseIterable {
        /// perf-request: perf tells KVM "the LBRs are free" only when a host LBR user goes away.
        case notifiesOnlyOnLbrUserClose = "notifies-only-on-lbr-user-close"
        /// pv-lbr-ctrl: lbrprobe's guest never sets the PV "LBR active" bit.
        case guestNeverSetsPvActive = "guest-never-sets-pv-active"
    }
    public let kind: Kind
    /// What the model does, one sentence.
    public let summary: String
    /// Catalog names of the scenarios whose outcome this choice decides.
    public let decides: [String]
}

/// A kernel variant: mainline, or one of the proposals from the seeds, as a policy the model follows.
public enum KernelVariant: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case mainline
    case seed2023 = "seed-2023"
    case reenableOnExit = "reenable-on-exit"
    case reenableOnDebugctl = "reenable-on-debugctl"
    case perfRequest = "perf-request"
    case mediated
    case archLbrHost = "arch-lbr-host"
    case pvLbrCtrl = "pv-lbr-ctrl"
    case lazyRestore = "lazy-restore"

    /// The stable name used on the command line and in reports.
    public var name: String { rawValue }
    public var description: String { rawValue }

    /// One-line summary of the behaviour.
    public var summary: String {
        switch self {
        case .mainline:
            return "vLBR (config 0x1b00) bypasses LBR_SELECT arbitration; host LBR events are starved while the vCPU runs; an ERROR vLBR stays ERROR until released and re-created"
        case .seed2023:
            return "vLBR goes through LBR_SELECT arbitration (a host CPU-pinned LBR event wins, vLBR → ERROR); an ERROR vLBR is re-enabled on a guest LBR MSR access"
        case .reenableOnExit:
            return "seed-2023 arbitration; re-enable of an ERROR vLBR attempted at every VM-exit"
        case .reenableOnDebugctl:
            return "seed-2023 arbitration and re-enable on LBR MSR access; also re-enable on a guest DEBUGCTL write that sets LBR"
        case .perfRequest:
            return "seed-2023 arbitration; perf never takes the LBRs while the vCPU is loaded: it sets a request KVM services at the next safe point, and KVM is told when the LBRs are free again"
        case .mediated:
            return "7.0+ enable_mediated_pmu=Y: lbrprobe's VM has no in-kernel irqchip, so it gets no PMU at all (no LBR); a VM with one gets the mediated vPMU, which advertises no LBR_FMT and conflicts with include-guest host events"
        case .archLbrHost:
            return "host has Architectural LBR: KVM advertises no legacy LBR, the guest has no LBR; a host arch-LBR event keeps recording in guest mode (no VM-entry/exit control switches LBR_CTL)"
        case .pvLbrCtrl:
            return "mainline scheduling; the guest LBR stack is saved/restored across vCPU switches only while the guest declares LBR active via a PV MSR"
        case .lazyRestore:
            return "mainline scheduling; after a vCPU sched-in the LBR MSRs stay intercepted and the stack is restored on the first guest access"
        }
    }

    /// Whether the citation's claims are confirmed: every model's source says what its rules follow (models
    /// built on a seed or an interpretation say so in `citation`, which is not the same as unverified).
    public var citationStatus: CitationStatus { .settled }

    /// Where the rules come from.
    public var citation: String {
        switch self {
        case .mainline:
            return "reference §1 (vLBR lifecycle), §3 (perf scheduling), §3.4 (vLBR constraint before shared regs, vlbr_exclude_host)"
        case .seed2023:
            return "Xiong Zhang, [PATCH 1/4] perf/x86/intel: Get shared reg constraints first for vLBR + [PATCH 3/4] KVM: VMX/pmu: Enable inactive vLBR event in guest LBR MSR emulation, 16 Jun 2023 (reference §6.1); not merged"
        case .reenableOnExit:
            return "Sean Christopherson, review of PATCH 3/4, 26 Jun 2023: \"why not be more aggressive and try to re-enable vLBRs on every VM-Exit\" (seed); not merged, no patch exists"
        case .reenableOnDebugctl:
            return "Sean Christopherson, review of PATCH 3/4, 26 Jun 2023: \"shouldn't writes to DEBUG_CTL that set DEBUGCTLMSR_LBR also try to re-enable the event?\" (seed); not merged, no patch exists"
        case .perfRequest:
            return "Sean Christopherson, 26 Jun 2023: \"Just have perf set a flag telling KVM that it needs to take control of LBRs and have KVM service the flag as a request\" + \"why can't there be a notification ... that the LBRs are once again available?\" (seed); interpretation, no patch exists"
        case .mediated:
            return "reference §2.4, §6.3 (\"KVM: VMX: Disable PEBS and LBRs if mediated PMU support is enabled\"; kvm_arch_vcpu_precreate: perf_create_mediated_pmu only with irqchip_in_kernel, else enable_pmu = false; mediated_pmu_account_event)"
        case .archLbrHost:
            return "reference §1.10 (commit 098f4c0 \"KVM: VMX: Disallow legacy LBRs if architectural LBRs are available\"), §9.9 (KVM_OPTIONAL_VMX_VM_ENTRY/EXIT_CONTROLS without the LBR_CTL controls, intel_guest_get_msrs())"
        case .pvLbrCtrl:
            return "Wei Wang, \"perf/x86/intel/lbr: guest requesting KVM for lbr stack save/restore\", Guest LBR Enabling v2, Sep 2018 (seed, reference §6.2)"
        case .lazyRestore:
            return "Andi Kleen, reply of 7 Sep 2018 to Wei Wang: \"Don't restore the LBRs on context switch, but set the LBR MSRs to intercept. Then on the first access restore the LBRs and allow direct access\" (seed, reference §6.2)"
        }
    }

    /// The model's own choices where the variant's source is silent, with the scenarios whose outcome each decides.
    public var modelChoices: [ModelChoice] {
        switch self {
        case .perfRequest:
            // Sean asked for "a notification ... that the LBRs are once again available" without saying when; the
            // model sends it when a host LBR user (an event with a branch stack) is closed or disabled
            // (`lbrFreedByHost`), not when the 0x1b00 impostor or counting events go away.
            return [ModelChoice(kind: .notifiesOnlyOnLbrUserClose,
                                summary: "perf notifies KVM that the LBRs are free only when a host LBR user is closed or disabled; closing the 0x1b00 impostor or the counting events sends nothing, so the ERROR vLBR waits for the release path",
                                decides: ["slot-contention", "counter-exhaustion", "recovery-paths"])]
        case .pvLbrCtrl:
            // Wei Wang's guest sets the PV ACTIVE bit from its own perf; lbrprobe's payload has no such write.
            return [ModelChoice(kind: .guestNeverSetsPvActive,
                                summary: "lbrprobe's guest never sets the PV \"LBR active\" bit, so KVM never saves or restores its LBR stack across vCPU switches",
                                decides: ["switch-retention"])]
        default:
            return []
        }
    }

    /// Whether KVM advertises legacy LBR to the guest (LBR_FMT in PERF_CAPABILITIES, records.nr != 0).
    /// False for mediated vPMU (§6.3) and arch-LBR hosts (§1.10).
    public var guestHasLbr: Bool {
        switch self {
        case .mediated, .archLbrHost: return false
        default: return true
        }
    }

    /// The host's LBR recording stays on in guest mode: on an arch-LBR host (§1.10) KVM sets neither
    /// VM_ENTRY_LOAD_IA32_LBR_CTL nor VM_EXIT_CLEAR_IA32_LBR_CTL (not in KVM_OPTIONAL_VMX_VM_ENTRY/EXIT_CONTROLS,
    /// vmx.h) and `intel_guest_get_msrs()` switches only PERF_GLOBAL_CTRL and the PEBS MSRs, so MSR_ARCH_LBR_CTL as
    /// a host LBR event's `__intel_pmu_lbr_enable()` wrote it (LBREn | the event's filter) records the guest's
    /// branches — whatever the guest's DEBUGCTL, which does not enable arch LBR (reference §9.9; UNVERIFIED on
    /// hardware). Legacy-LBR hosts are stopped by VM-exit clearing DEBUGCTL and VM-entry loading the guest's.
    public var hostLbrRecordsInGuestMode: Bool { self == .archLbrHost }

    /// Whether the vLBR goes through the LBR_SELECT shared-register arbitration (Xiong PATCH 1/4).
    /// On mainline the vLBR constraint is checked first and never arbitrates (§3.4).
    ///
    /// Choice: the variants derived from the 2023 review (reenable-on-exit, reenable-on-debugctl,
    /// perf-request) all build on PATCH 1/4's arbitration. On mainline a vLBR never reaches ERROR
    /// through a host LBR event (§8.1), so re-enabling on exit/DEBUGCTL would be unobservable there;
    /// the seed itself frames them as alternatives to PATCH 3/4 ("why wait until the guest tries to
    /// read LBRs?"), i.e. on top of the same series.
    public var vlbrArbitratesLbrSelect: Bool {
        switch self {
        case .seed2023, .reenableOnExit, .reenableOnDebugctl, .perfRequest: return true
        default: return false
        }
    }

    /// Re-enable an ERROR vLBR in `intel_pmu_handle_lbr_msrs_access()` (Xiong PATCH 3/4, §6.1).
    /// reenable-on-debugctl keeps it ("if we do wait until the guest touches relevant MSRs, shouldn't
    /// writes to DEBUG_CTL ... also"); reenable-on-exit subsumes it (an intercepted access is an exit).
    public var reenablesOnLbrMsrAccess: Bool {
        self == .seed2023 || self == .reenableOnDebugctl
    }

    /// Re-enable an ERROR vLBR at every VM-exit (Sean's suggestion, seed).
    public var reenablesOnEveryExit: Bool { self == .reenableOnExit }

    /// Re-enable an ERROR vLBR on a guest DEBUGCTL write that sets LBR (Sean's suggestion, seed).
    public var reenablesOnDebugctlWrite: Bool { self == .reenableOnDebugctl }

    /// perf defers taking the LBRs from a loaded vCPU to a KVM request serviced at the next safe point,
    /// and notifies KVM when the LBRs become free (Sean's suggestion, seed; interpretation).
    public var defersLbrHandover: Bool { self == .perfRequest }

    /// Include-guest (exclude_guest=0) core-PMU events conflict with a VM that got a mediated vPMU (§6.3). Only a VM
    /// with an in-kernel irqchip gets one (`kvm_arch_vcpu_precreate()`: `perf_create_mediated_pmu()` iff
    /// `irqchip_in_kernel(kvm)`, else `kvm->arch.enable_pmu = false`, §2.4); lbrprobe's VM has none, so it gets no PMU
    /// at all and nothing conflicts.
    public func includeGuestEventsConflict(vmHasInKernelIrqchip: Bool) -> Bool { self == .mediated && vmHasInKernelIrqchip }

    /// Save/restore policy of the guest LBR stack across vCPU-thread switches.
    public var saveRestore: VlbrSaveRestorePolicy {
        switch self {
        case .pvLbrCtrl: return .whilePvActive
        case .lazyRestore: return .lazy
        default: return .always
        }
    }

    /// The model's prediction of the host→guest leak (§9.2): a vLBR created while a host CPU-pinned LBR event with
    /// branch_sample_type `hostBranchSampleType` is ACTIVE on its CPU joins that LBR user, and `intel_pmu_lbr_add()`
    /// does not reset for a second user, so the guest's first LBR reads return host records — unless the guest has no
    /// LBR, or the vLBR goes through the LBR_SELECT arbitration (seed-2023 and the variants built on it) and the
    /// host's filter differs from the vLBR's CALL_STACK|USER: then it loses (ERROR, dummy reads). An equal filter
    /// shares the register (`__intel_shared_reg_get_constraints()`: `!atomic_read(&era->ref) || era->config ==
    /// reg->config`), so a call-stack host event leaks on those variants too. Checked per scenario against the leak
    /// finding (LbrBackendsTests) and per step by the explorer (`leak-exactly-as-predicted`).
    public func vlbrJoinsHostLbrUserWithoutReset(hostBranchSampleType: UInt64) -> Bool {
        guard guestHasLbr else { return false }
        guard vlbrArbitratesLbrSelect else { return true }
        return KernelModel.lbrSelectValue(hostBranchSampleType)
            == KernelModel.lbrSelectValue(Contender.vlbrAttributes.branchSampleType)
    }

    /// Parse a variant name as printed by `name`.
    public init?(name: String) { self.init(rawValue: name) }
}
