// `lbrprobe contract`: the KVM <-> perf LBR contract written from evidence. A pure function of
// `lbrprobe.run/3` documents (and the static list of kernel models): it answers Sean Christopherson's
// questions from the June 2023 thread (Q1 when perf takes the LBRs, Q2 whether the guest is traced, Q3 why
// KVM snapshots DEBUGCTL with IRQs enabled but disables IRQs around LBR MSR accesses), plus recovery from
// ERROR, LBRs across vCPU switches (2018 thread) and the host->guest branch leak. Every answer carries a
// one-sentence plain answer, the evidence table, the upstream functions behind it and its basis (measured
// on hardware, or predicted by a named model). With documents of several models it adds the design-space
// comparison. Deterministic: documents are put in a canonical order, nothing depends on paths or the clock.

import Foundation
import LbrDocument
import LbrCore
import LbrScenarios

/// A kernel model's description (LbrModel's `KernelVariant`, passed in: LbrReport does not link the model).
public struct ContractModelInfo: Hashable, Sendable {
    public var name: String
    public var summary: String
    public var citation: String
    /// Whether the citation's claims are confirmed (`unverified` ones are listed under the caveats).
    public var citationStatus: CitationStatus
    /// The model's own choices where its source is silent (LbrModel `ModelChoice`).
    public var choices: [ContractModelChoice]
    public init(name: String, summary: String, citation: String, citationStatus: CitationStatus = .settled,
                choices: [ContractModelChoice] = []) {
        self.name = name; self.summary = summary; self.citation = citation; self.citationStatus = citationStatus
        self.choices = choices
    }
}

/// One of a model's own choices (LbrModel `ModelChoice`): its stable kind, what it does and the scenarios whose
/// outcome it decides; the contract marks those outcomes as the model's, not the design's.
public struct ContractModelChoice: Hashable, Sendable {
    public var kind: String
    public var summary: String
    public var decides: [String]
    public init(kind: String, summary: String, decides: [String]) {
        self.kind = kind; self.summary = summary; self.decides = decides
    }
}

/// Why no contract could be built.
public struct ContractError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

public enum Contract {
    typealias Doc = JsonReport.RunDocument
    typealias Result = JsonReport.ResultDTO
    typealias PhaseD = JsonReport.PhaseDTO

    /// Builds the contract from run documents.
    /// - Parameter models: every kernel model in catalog order (names order the design-space columns).
    /// - Parameter tool: the lbrprobe that renders it ("lbrprobe 0.1.0, commit abc1234"), for the header.
    public static func build(_ documents: [JsonReport.RunDocument], models: [ContractModelInfo], tool: String? = nil)
        throws(ContractError) -> ContractDocument {
        guard !documents.isEmpty else { throw ContractError(message: "no run documents") }
        let docs = canonicalOrder(documents, models: models)
        let primary = docs.first { $0.backend == .hw }
            ?? docs.first { $0.model == "mainline" } ?? docs[0]
        let b = Builder(primary: primary, all: docs, models: models, tool: tool, folded: FoldedRuns(primary))
        return b.document()
    }

    /// Builds and renders.
    public static func render(_ documents: [JsonReport.RunDocument], models: [ContractModelInfo],
                              format: ContractFormat, tool: String? = nil) throws(ContractError) -> String {
        ContractRenderer.render(try build(documents, models: models, tool: tool), as: format)
    }

    /// hw, hybrid, sim; then model catalog order; then start time, kernel, cpu.
    static func canonicalOrder(_ docs: [Doc], models: [ContractModelInfo]) -> [Doc] {
        func bi(_ d: Doc) -> Int { BackendKind.allCases.firstIndex { $0 == d.backend } ?? 99 }
        func mi(_ d: Doc) -> Int { d.model.flatMap { m in models.firstIndex { $0.name == m } } ?? -1 }
        return docs.sorted { a, b in
            if bi(a) != bi(b) { return bi(a) < bi(b) }
            if mi(a) != mi(b) { return mi(a) < mi(b) }
            if (a.start_time ?? "") != (b.start_time ?? "") { return (a.start_time ?? "") < (b.start_time ?? "") }
            if a.kernel_release != b.kernel_release { return a.kernel_release < b.kernel_release }
            if a.cpu != b.cpu { return a.cpu < b.cpu }
            if a.duration_ms != b.duration_ms { return a.duration_ms < b.duration_ms }
            return a.results.map(\.outcome_detail).joined(separator: ",") < b.results.map(\.outcome_detail).joined(separator: ",")
        }
    }
}

/// Upstream functions cited by the answers (checked against torvalds/linux; see docs/contract.md).
enum Upstream {
    static let taskSwitch = "`perf_event_task_sched_out()` / `perf_event_task_sched_in()` (kernel/events/core.c) with `intel_pmu_lbr_sched_task()` (arch/x86/events/intel/lbr.c): the vLBR is a task event of the vCPU thread, scheduled with it; call-stack mode saves and restores its stack"
    static let install = "`perf_install_in_context()` -> `cpu_function_call()` -> `__perf_install_in_context()` -> `ctx_resched()` (kernel/events/core.c): installing a CPU event is an IPI to the vCPU's CPU; it cannot land in KVM's IRQ-disabled entry window, so it forces a VM-exit and perf reschedules with the vCPU loaded"
    static let enable = "`_perf_event_enable()` -> `event_function_call()` -> `__perf_event_enable()` -> `ctx_resched()` (kernel/events/core.c): enabling an event (ioctl or `perf_event_enable()`) takes the same IPI path"
    static let mux = "`perf_mux_hrtimer_handler()` -> `perf_rotate_context()` (kernel/events/core.c): the multiplexing hrtimer rotates flexible groups only (`rotate_ctx()` on `flexible_groups`); a pinned event that cannot go on goes to ERROR in `merge_sched_in()` instead of waiting for a rotation, so the hrtimer never moves the task-pinned vLBR or a CPU-pinned host LBR event"
    static let nmi = "`handle_pmi_common()` (arch/x86/events/intel/core.c) -> `intel_pmu_lbr_read()` (lbr.c): a PMI only reads the LBRs, and not at all while `vlbr_exclude_host()`; `perf_event_overflow()` -> `__perf_event_account_interrupt()` -> `perf_event_throttle_group()` -> `pmu->stop()` (kernel/events/core.c) stops a throttled counter but never calls `pmu->del()`, so `intel_pmu_lbr_del()` does not run and LBR ownership does not move in NMI context; the only ownership change an overflow can cause is a release, and not in NMI context: an event whose overflow limit runs out (PERF_EVENT_IOC_REFRESH) is disabled through `perf_event_disable_inatomic()` -> irq_work -> `event_sched_out()` -> `pmu->del()` afterwards, in IRQ context"
    static let schedIn = "`merge_sched_in()` (kernel/events/core.c): a pinned event that cannot be scheduled goes to ERROR and is never rescheduled; `__intel_get_event_constraints()` / `intel_vlbr_constraints()` (arch/x86/events/intel/core.c): the vLBR needs fake counter 58 and skips LBR_SELECT arbitration"
    static let passthrough = "`vmx_passthrough_lbr_msrs()` (arch/x86/kvm/vmx/pmu_intel.c), called from `vmx_vcpu_run()` with IRQs off at every VM-entry: passes the LBR MSRs through iff the vLBR is ACTIVE, else intercepts them and prints \"fail to passthrough LBR\""
    static let msrAccess = "`intel_pmu_handle_lbr_msrs_access()` (pmu_intel.c): with `local_irq_disable()` checks `event->state == PERF_EVENT_STATE_ACTIVE` and only then touches the real MSR; otherwise reads return 0 and writes are dropped"
    static let create = "`intel_pmu_create_guest_lbr_event()` (pmu_intel.c): the vLBR is a task-pinned, exclude_host event with config 0x1b00 and CALL_STACK|USER branch sampling, created on the first LBR MSR access or DEBUGCTL.LBR=1 write (`vmx_set_msr()`)"
    static let excludeHost = "`vlbr_exclude_host()` (lbr.c): while the vLBR is scheduled in on a CPU, `intel_pmu_lbr_enable_all()` and `intel_pmu_lbr_read()` skip host LBR handling, so host samples repeat the last real read"
    static let debugctlLoad = "VM_ENTRY_LOAD_DEBUG_CONTROLS / VM_EXIT_SAVE_DEBUG_CONTROLS (`setup_vmcs_config()`, arch/x86/kvm/vmx/vmx.c): the guest's DEBUGCTL lives in the VMCS and is loaded at every VM-entry; VM-exit clears DEBUGCTL and `vmx_vcpu_run()` restores the host's snapshot"
    static let debugctlSnapshot = "`vcpu_enter_guest()` (arch/x86/kvm/x86.c) snapshots `host_debugctl = get_debugctlmsr()` after IRQs are disabled (\"DEBUGCTL can be modified in IRQ context, e.g. via SMP function calls\"); before the 2025 fix it was taken in `kvm_arch_vcpu_load()` / `vmx_vcpu_load()` with IRQs enabled"
    static let cleanup = "`kvm_sched_out()` (virt/kvm/kvm_main.c) marks a loaded vCPU scheduled out; `kvm_arch_vcpu_load()` then requests KVM_REQ_PMU and `kvm_pmu_cleanup()` -> `intel_pmu_cleanup()` (pmu_intel.c) releases the vLBR iff guest DEBUGCTL.LBR=0; the next access creates a fresh event"
    static let lbrAdd = "`intel_pmu_lbr_add()` / `intel_pmu_lbr_del()` (lbr.c): the LBRs are reset only when the first LBR user is added on a CPU (`!cpuc->lbr_users++`), so a vLBR joining an active host LBR user starts with the host's records"
    static let lbrAddFirstUser = "`ctx_resched()` schedules the task context out before the CPU context and re-adds CPU-pinned groups first, so the vLBR's `intel_pmu_lbr_del()` drops `cpuc->lbr_users` to 0 and the new host event's `intel_pmu_lbr_add()` calls `intel_pmu_lbr_reset()` as the first LBR user (lbr.c); no `intel_pmu_lbr_sched_task()` saves the vCPU thread's stack on this path"
    static let reenable = "mainline has no re-enable of an ERROR vLBR: nobody in KVM calls `perf_event_enable()` on it (Xiong Zhang's PATCH 3/4 of June 2023, which would, was not merged)"
}

/// The builder: one instance per document.
struct Builder {
    let primary: JsonReport.RunDocument
    let all: [JsonReport.RunDocument]
    let models: [ContractModelInfo]
    var tool: String? = nil
    /// The primary document's runs, repeated ones folded: every per-run listing shows its example runs.
    let folded: FoldedRuns

    // MARK: basis

    var isHw: Bool { primary.backend == .hw }
    var modelName: String { primary.model ?? shadowModel ?? "none" }
    var shadowModel: String? { primary.results.lazy.compactMap(\.shadow).first?.model }

    /// "measured on hardware" or "predicted by kernel model X (...)".
    var basis: String {
        switch primary.backend {
        case .hw:
            return "measured on hardware (kernel \(primary.kernel_release), CPU \(primary.cpu))"
                + (shadowModel.map { ", every phase compared with shadow model `\($0)`" } ?? "")
        case .hybrid:
            return "predicted by kernel model `\(modelName)`, driven by lbrprobe's real KVM guest (hybrid backend: host perf and KVM's vLBR are the model; not a hardware measurement)"
        default:
            return "predicted by kernel model `\(modelName)` alone (sim backend; not a measurement)"
        }
    }

    /// "GenuineIntel family 6 model 0x55 (Skylake-SP)" from the primary document's host identity.
    var hostCpu: String {
        guard let h = primary.host, let v = h.cpu_vendor else { return "not recorded" }
        var s = v
        if let f = h.cpu_family { s += " family \(f)" }
        if let m = h.cpu_model { s += " model 0x" + String(m, radix: 16) }
        if let n = h.cpu_model_name { s += " (\(ContractText.literal(n)))" }
        return s
    }

    /// Which upstream source the model's rules were read from.
    var modelBaseline: String {
        if isHw && shadowModel == nil { return "none: no model was used" }
        let cite = models.first { $0.name == modelName }.map { "; its rules: " + ContractText.literal($0.citation) } ?? ""
        return "model `\(modelName)` follows upstream torvalds/linux as read for docs/reference.md (source through the 7.0 merge window; no single release tag is recorded)" + cite
    }

    var basisShort: String {
        isHw ? "measured on hardware" : "predicted by model `\(modelName)` (\(primary.backend))"
    }

    // MARK: access

    /// The runs of `scenario` in `d`; in the primary document its example runs (every run when it ran once, the
    /// first of each distinct status and outcome when repeated: `FoldedRuns`).
    func results(_ scenario: String, in d: JsonReport.RunDocument? = nil) -> [Contract.Result] {
        guard let d else { return folded.examples(scenario) }
        return d.results.filter { $0.scenario == scenario }
    }

    /// The first judged (not skipped) result of a scenario.
    func result(_ scenario: String, in d: JsonReport.RunDocument? = nil) -> Contract.Result? {
        let rs = results(scenario, in: d)
        return rs.first { $0.status != .skip } ?? rs.first
    }

    func terms(_ scenario: String, in d: JsonReport.RunDocument? = nil) -> [OutcomeTerm]? {
        guard let r = result(scenario, in: d), r.status == .pass || r.status == .fail
        else { return nil }
        return r.terms.map(\.code)
    }

    func term(_ scenario: String, _ i: Int, in d: JsonReport.RunDocument? = nil) -> OutcomeTerm? {
        guard let t = terms(scenario, in: d), i < t.count else { return nil }
        return t[i]
    }

    /// "`scenario`: `outcome`" or "`scenario`: not run (reason)".
    func cite(_ scenario: String) -> String {
        guard let r = result(scenario) else { return "`\(scenario)`: not in these documents" }
        if r.status == .pass || r.status == .fail {
            return "`\(scenario)`: `\(r.outcome)`"
        }
        return "`\(scenario)`: \(r.status) (\(ContractText.literal(r.reason ?? r.outcome_detail)))"
    }

    // MARK: document

    func document() -> ContractDocument {
        var sections: [ContractSection] = [summarySection(), legend(), q1(), q2(), q3(), recovery(), vcpuSwitch(), leak(), shadow()]
        if let d = designSpace() { sections.append(d) }
        sections.append(caveats())
        sections.append(provenance())
        sections.append(tscAppendix())
        // No hardware run contributed: say so before anything else.
        let banner: [ContractBlock] = all.contains { $0.backend == .hw } ? [] : [
            .paragraph("**No hardware run contributed to this document: every answer below is the prediction of model `\(modelName)`"
                       + (all.count > 1 ? " (or of the other models named)" : "") + ", not a measurement.**"),
        ]
        return ContractDocument(
            title: "KVM and perf: the guest LBR (vLBR) contract, from evidence",
            intro: banner + [
                .paragraph("This document answers the questions Sean Christopherson asked in June 2023 before taking more KVM LBR patches (\"[PATCH 3/4] KVM: VMX/pmu: Enable inactive vLBR event in guest LBR MSR emulation\"): when exactly perf may take control of the LBR MSRs, whether the guest is supposed to be traced while perf uses them, and why KVM snapshots DEBUGCTL with IRQs enabled but disables IRQs around LBR MSR accesses; plus whether an ERROR vLBR recovers and whether the guest's LBRs survive a vCPU switch (Wei Wang / Andi Kleen, 2018). It was generated by `lbrprobe contract` from \(all.count) run document(s); every answer below is \(basisShort) unless it says otherwise."),
                .fields([
                    ContractField("lbrprobe", tool ?? "version not recorded"),
                    ContractField("Host CPU", hostCpu),
                    ContractField("Kernel", primary.kernel_release),
                    ContractField("Backend", primary.backend.rawValue + (primary.model.map { ", model \($0)" } ?? "")),
                    ContractField("Basis", basis),
                    ContractField("Model baseline", modelBaseline),
                    ContractField("CPU", String(primary.cpu)),
                    ContractField("Runs", "\(primary.results.count) scenario run(s): \(primary.totals.pass) pass, \(primary.totals.fail) fail, \(primary.totals.skip) skip, \(primary.totals.error) error, \(primary.totals.timeout) timeout"),
                    ContractField("Reference", "section numbers (docs/reference.md §N) are lbrprobe's reading of upstream source"),
                ] + (folded.note.map { [ContractField("Repeated runs", $0)] } ?? [])),
            ],
            sections: sections)
    }

    // MARK: summary

    func summarySection() -> ContractSection {
        ContractSection("Answers in one sentence each", [
            .bullets([
                "**Q1 (when perf takes the LBRs):** " + q1Answer(),
                "**Q2 (is the guest traced):** " + q2Answer(),
                "**Q3 (DEBUGCTL snapshot vs IRQ-disabled access):** " + q3Answer(),
                "**Recovery from ERROR:** " + recoveryAnswer(),
                "**vCPU switches:** " + switchAnswer(),
                "**Host-to-guest branch leak:** " + leakAnswer(),
            ]),
        ])
    }

    /// "docs/reference.md §1.4, docs/reference.md §1.6" (every § resolves to a section of docs/reference.md).
    func refs(_ sections: String...) -> String {
        sections.map { "docs/reference.md §" + $0 }.joined(separator: ", ")
    }

    // MARK: Q1

    func q1Answer() -> String {
        let irq = terms("irq-takeover") ?? []
        let hp = term("host-preempts", 0)
        let lost: Set<OutcomeTerm> = [.hostWinsVlbrError]
        let kept: Set<OutcomeTerm> = [.guestWinsHostStarved, .coexist]
        if irq.contains(.noGuestLbr) || hp == .noGuestLbr {
            return "the guest has no LBR here (`no-guest-lbr`), so perf never competes with KVM for it."
        }
        let denied = [term("slot-contention", 0), term("counter-exhaustion", 0)].contains { $0.map(lost.contains) == true }
        let deny = denied
            ? "perf denied the vLBR the LBRs only when the vLBR event itself was (re)scheduled against an occupied fake counter 58 or a full PMU (\(cite("slot-contention")), \(cite("counter-exhaustion")))"
            : "nor did an occupied fake counter 58 or a full PMU deny it (\(cite("slot-contention")), \(cite("counter-exhaustion")))"
        if !irq.isEmpty, irq.allSatisfy(kept.contains), hp.map(kept.contains) ?? true {
            let w = wipes()
            if w.isEmpty {
                return "perf never took the LBRs from an ACTIVE vLBR: a CPU-pinned host LBR event installed between VM-exits and one installed by IPI while the vCPU ran (\(cite("irq-takeover")); \(cite("host-preempts"))) both left the vLBR ACTIVE and the host's LBR samples starved; \(deny)."
            }
            return "perf never put an ACTIVE vLBR in ERROR, but it did take the LBRs from one: a CPU-pinned host LBR event installed between VM-exits and one installed by IPI while the vCPU ran (\(cite("irq-takeover")); \(cite("host-preempts"))) both left the vLBR ACTIVE and the host's LBR samples starved, yet the guest's frozen LBR stack read back wiped (\(wipeEvidence(w))) — "
                + "from IRQ context, without an ERROR or a kernel message: the install IPI's `ctx_resched()` schedules the vLBR out, the host event's `intel_pmu_lbr_add()` resets the LBRs as the CPU's first LBR user, and the vLBR comes back ACTIVE on an empty stack (\(refs("9.8"))); \(deny)."
        }
        if irq.contains(where: lost.contains) || hp.map(lost.contains) == true {
            var where_: [String] = []
            if irq.first.map(lost.contains) == true { where_.append("between VM-exits") }
            if irq.count > 1, lost.contains(irq[1]) { where_.append("from IRQ context (the install IPI that forces a VM-exit and runs `ctx_resched()`) while the vCPU ran") }
            if where_.isEmpty, hp.map(lost.contains) == true { where_.append("from IRQ context while the vCPU ran") }
            return "perf takes the LBRs \(where_.joined(separator: " and ")): the vLBR was no longer ACTIVE at the next VM-entry (\(cite("irq-takeover")); \(cite("host-preempts"))); in NMI context it only reads them; \(deny)."
        }
        return "not answered by these documents (\(cite("irq-takeover")); \(cite("host-preempts")))."
    }

    /// The `guest-lbr-wiped` findings of the primary document (reference §9.8), in result order.
    func wipes() -> [(result: Contract.Result, finding: FindingDTO)] {
        folded.examples.flatMap { r in r.findings.filter { $0.kind == .guestLbrWiped }.map { (r, $0) } }
    }

    /// "`guest-lbr-wiped` in `irq-takeover` phase `while-running`: 29 record(s) gone; ..."
    func wipeEvidence(_ w: [(result: Contract.Result, finding: FindingDTO)]) -> String {
        w.map { "`guest-lbr-wiped` in `\($0.result.scenario)` phase `\($0.finding.phase ?? "-")`: \($0.finding.count) record(s) gone" }
            .joined(separator: "; ")
    }

    func q1() -> ContractSection {
        let w = wipes()
        let ipiWipe = w.isEmpty ? "" : "; the guest's frozen stack read back wiped with the vLBR ACTIVE: " + w.map {
            "`\($0.result.scenario)` phase `\($0.finding.phase ?? "-")`: " + ContractText.literal($0.finding.summary)
                + ($0.finding.example.map { " (" + ContractText.literal($0) + ")" } ?? "")
        }.joined(separator: "; ")
        let rows: [[String]] = [
            ["Task switch", Upstream.taskSwitch, "\(cite("switch-retention")) (`lbr-on` pair: the vCPU thread switched out for a host task using LBR call-stack mode)", basisShort],
            ["IRQ: install IPI", Upstream.install + "; " + Upstream.lbrAddFirstUser, "\(cite("irq-takeover")) (second term: installed while the vCPU ran); \(cite("host-preempts"))" + ipiWipe, basisShort],
            ["IRQ: enable IPI", Upstream.enable, "same path as the install IPI; no scenario enables a disabled host event separately", "from source"],
            ["IRQ: multiplexing hrtimer", Upstream.mux, "not exercised: every contender here is pinned (CPU-pinned host events, the task-pinned vLBR)", "from source"],
            ["NMI: PMI and throttling", Upstream.nmi, nmiEvidence(), basisShort + " (samples); from source (throttling)"],
            ["Scheduling of the vLBR itself", Upstream.schedIn, "\(cite("slot-contention")); \(cite("counter-exhaustion")); \(cite("host-first"))", basisShort],
        ]
        var blocks: [ContractBlock] = [
            .paragraph("**Answer.** " + q1Answer().capitalizedFirst),
            .paragraph("**Basis:** \(basis). Reference: " + refs("3.1", "3.2", "3.4", "3.5", "1.5", "9.8") + "."),
            .table(ContractTable(caption: "Q1: contexts in which perf acts on the LBRs",
                                 header: ["Context", "Kernel path (upstream)", "What these runs show", "Basis"], rows: rows)),
        ]
        // The window is a hardware measurement (the host action's TSC window on the guest's line); a model's
        // clock would only restate the model, so the section is there for hw documents only.
        if isHw {
            blocks += [
                .paragraph("**Window between a host install and the next VM-entry's passthrough decision.** The install IPI lands while the guest runs a timed command; the VM-exit it forces is followed by a VM-entry that runs `vmx_passthrough_lbr_msrs()`, and the first LBR_TOS probe after it shows what that entry decided. The IPI's VM-exit and the re-entry that decides both fall inside the command the host action overlapped, so the window is at most the guest TSC from the host action's start (hw: its measured window on the guest's TSC line; otherwise the command's start) to the end of that command."),
                .table(windowTable()),
            ]
        }
        blocks.append(.tables(evidenceTables("Q1 evidence: contended phases",
            [("irq-takeover", ["between-exits", "while-running"]), ("host-preempts", ["contended"]), ("host-first", ["contended"]),
             ("slot-contention", ["contended"]), ("counter-exhaustion", ["contended"])])))
        blocks.append(.paragraph("**Upstream functions:** " + [Upstream.passthrough, Upstream.excludeHost].joined(separator: "; ") + "."))
        return ContractSection("Q1. When exactly may perf take control of the LBR MSRs?", blocks)
    }

    func nmiEvidence() -> String {
        var samples = 0, starved = 0, throttled = 0
        for r in primary.results {
            for p in r.phases where p.role == .contended {
                guard let m = p.measures else { continue }
                samples += m.host_samples; starved += m.host_empty + m.host_stale_repeats; throttled += m.host_throttled
            }
        }
        if samples == 0 { return "no host LBR samples in contended phases of these documents" }
        return "\(samples) host LBR samples in contended phases, \(starved) of them empty or stale repeats, \(throttled) throttle record(s); no phase shows the vLBR losing the LBRs to a PMI"
    }

    func windowTable() -> ContractTable {
        var rows: [[String]] = []
        for s in ["irq-takeover", "host-preempts", "recovery-paths"] {
            for r in results(s) {
                for p in r.phases {
                    for t in p.measures?.timed_steps ?? [] where t.timing == .whileVcpuRuns {
                        let from = t.host_window?.guest_tsc_start ?? t.guest_tsc_begin
                        let bound = t.guest_tsc_end >= from ? String(t.guest_tsc_end - from) : "-"
                        // Ticks relative to the install, not 13-digit TSC values (those are in the appendix).
                        rows.append([
                            "`\(r.test_name)`", "`\(p.name)`", ContractText.literal(t.step.code), String(t.exits),
                            t.next_probe_tsc.map { $0 >= from ? "+\($0 - from) (write \(t.next_probe?.rawValue ?? "?"))" : "before the install" } ?? "-",
                            bound,
                        ])
                    }
                }
            }
        }
        if rows.isEmpty { rows.append(["-", "-", "no host action while the vCPU ran in these documents", "-", "-", "-"]) }
        return ContractTable(caption: "Install-to-decision window (guest TSC ticks after the install)",
                             header: ["Scenario", "Phase", "Timed step", "Exits", "Next LBR probe", "Install to end of command"], rows: rows)
    }

    // MARK: Q2

    func q2Answer() -> String {
        // guest-traced saw no trace, guest-leak did: the flat "no" holds only while the vLBR is ACTIVE.
        if leakTraced() != nil, let none = q2NoTrace() { return "not while its vLBR is ACTIVE: " + none + q2LeakAnswer() }
        return q2TracedAnswer() + q2LeakAnswer()
    }

    /// Which `guest-leak` phases found the guest traced (exclude_guest=0, exclude_guest=1); nil when neither did
    /// or the documents do not tell.
    func leakTraced() -> (incl: Bool, excl: Bool)? {
        guard let t = terms("guest-leak"), t.count == 2, !t.contains(.noGuestLbr) else { return nil }
        let incl = t[0] == .guestTraced, excl = t[1] == .guestTraced
        return incl || excl ? (incl, excl) : nil
    }

    /// The ERROR + DEBUGCTL.LBR=1 path (`guest-leak`, reference §9.7), appended to the guest-traced answer.
    func q2LeakAnswer() -> String {
        guard let t = terms("guest-leak"), t.count == 2 else {
            return " The path where the vLBR is not ACTIVE while the guest keeps DEBUGCTL.LBR=1 is not answered by these documents (\(cite("guest-leak")))."
        }
        if t.contains(.noGuestLbr) { return "" }
        let leaks = results("guest-leak").flatMap(\.findings).filter { $0.kind == .guestBranchLeak }
        let n = leaks.reduce(0) { $0 + $1.count }
        if let (incl, excl) = leakTraced() {
            let how = [incl ? "with exclude_guest=0" : nil, excl ? "with exclude_guest=1" : nil].compactMap { $0 }.joined(separator: " and ")
            return " But the guest is traced exactly when it runs with DEBUGCTL.LBR=1 while its vLBR is not ACTIVE and a host LBR event samples on its CPU: with counter 58 taken the vLBR went to ERROR, `vmx_set_msr()` still loaded LBR=1 into the VMCS and `vlbr_exclude_host()` was false, so host samples \(how) carried \(n) record(s) of the guest's own branches (exact matches of the payload's edges; the `guest-branch-leak` finding; \(cite("guest-leak")))."
        }
        return " With the vLBR in ERROR and guest DEBUGCTL.LBR=1 the host samples carried no guest branch (\(cite("guest-leak"))), although upstream source predicts they can (reference §9.7)."
    }

    func q2TracedAnswer() -> String {
        guard let t = terms("guest-traced"), t.count == 2 else {
            return "not answered by these documents (\(cite("guest-traced")))."
        }
        if t.contains(.noGuestLbr) { return "the guest has no LBR here (`no-guest-lbr`)." }
        if let none = q2NoTrace() { return "no: " + none }
        let addrs = guestAddresses("guest-traced")
        switch (t[0], t[1]) {
        case (.notTraced, .guestTraced):
            return "only when the guest sets DEBUGCTL.LBR itself: with DEBUGCTL.LBR=0 no guest branch reached the host's samples, with DEBUGCTL.LBR=1 \(addrs) guest branch addresses did, because the host event kept the LBRs and KVM loads the guest's DEBUGCTL at VM-entry; whether the guest is traced is up to the guest (\(cite("guest-traced")))."
        case (.guestTraced, _):
            return "yes, even with guest DEBUGCTL.LBR=0 (\(addrs) guest branch addresses in host samples; \(cite("guest-traced")))."
        default:
            return "not decided by these documents (\(cite("guest-traced")))."
        }
    }

    /// Why no guest branch reached the host's samples in `guest-traced` (both phases `not-traced`); nil otherwise.
    func q2NoTrace() -> String? {
        guard let t = terms("guest-traced"), t == [.notTraced, .notTraced] else { return nil }
        let on = result("guest-traced")?.phases.first { $0.name == "lbr-on" }?.inferred
        let why = on == .active
            ? "the vLBR was ACTIVE and `vlbr_exclude_host()` makes perf skip its LBR reads while the vCPU thread runs"
            : "the vLBR was `\(on?.rawValue ?? "unknown")` in that phase"
        return "a host LBR event that includes the guest (exclude_guest=0) recorded no guest branch, neither with guest DEBUGCTL.LBR=0 (KVM loads the guest's DEBUGCTL at VM-entry, so recording is off in guest mode) nor with DEBUGCTL.LBR=1 (\(why)) (\(cite("guest-traced")))."
    }

    func guestAddresses(_ s: String) -> Int {
        results(s).flatMap(\.phases).reduce(0) { $0 + ($1.measures?.host_guest_addresses ?? 0) }
    }

    func q2() -> ContractSection {
        ContractSection("Q2. What happens when perf is using the LBRs: is the guest traced?", [
            .paragraph("**Answer.** " + q2Answer().capitalizedFirst),
            .paragraph("**Basis:** \(basis). Reference: " + refs("1.9", "3.4", "4", "9.7") + "."),
            .paragraph("**The guest's DEBUGCTL.** KVM never passes DEBUGCTL through: the guest's value lives in the VMCS and is loaded at every VM-entry, so guest DEBUGCTL.LBR decides whether the LBRs record in guest mode, whoever owns them. A guest write that sets DEBUGCTL.LBR also creates the vLBR (`vmx_set_msr()`), and while it stays set `intel_pmu_cleanup()` never releases it (\(cite("recovery-paths")); \(cite("switch-retention")))."),
            .tables(evidenceTables("Q2 evidence", [("guest-traced", nil), ("guest-leak", nil)])),
            .paragraph("**Upstream functions:** " + [Upstream.debugctlLoad, Upstream.excludeHost, Upstream.create].joined(separator: "; ") + "."),
        ])
    }

    // MARK: Q3

    func q3Answer() -> String {
        let irq = terms("irq-takeover")
        let whileRunning = irq.flatMap { $0.count > 1 ? $0[1] : nil }
        let measured: String
        if let w = whileRunning {
            measured = isHw ? "measured here: an install IPI while the vCPU ran gave `\(w)`"
                : "model `\(modelName)` predicts that an install IPI while the vCPU runs gives `\(w)` (not measured)"
        } else {
            measured = "these documents have no install-while-running result (\(cite("irq-takeover")))"
        }
        return "the two guard different races: `intel_pmu_handle_lbr_msrs_access()` keeps IRQs off between checking that the vLBR is ACTIVE and touching the LBR MSR because perf can reschedule the LBRs from IRQ context (the install IPI runs `ctx_resched()`; \(measured)), so an access in between could read or clobber host records; the host DEBUGCTL snapshot only has to be current at VM-entry, and since 2025 KVM takes it in `vcpu_enter_guest()` after IRQs are off, because an IRQ-context change to DEBUGCTL could make a snapshot taken with IRQs enabled stale."
    }

    func q3() -> ContractSection {
        var rows: [[String]] = []
        for r in results("recovery-paths") + results("irq-takeover") + results("host-preempts") {
            for p in r.phases where p.role == .contended {
                let tos = p.signals.first { $0.kind == .tosReadback }
                rows.append(["`\(r.test_name)`", "`\(p.name)`", "`\(p.inferred)`",
                             tos.map { ContractText.literal($0.evidence) } ?? "no TOS probe",
                             String(p.measures?.kmsg_lines ?? 0),
                             p.measures?.timed_steps.first.map { "\($0.guest_tsc_begin)..\($0.guest_tsc_end)" } ?? "-"])
            }
        }
        if rows.isEmpty { rows.append(["-", "-", "-", "no contended phase in these documents", "-", "-"]) }
        return ContractSection("Q3. Why snapshot DEBUGCTL with IRQs on but access LBR MSRs with IRQs off?", [
            .paragraph("**Answer.** " + q3Answer().capitalizedFirst),
            .paragraph("**Basis:** the IRQ-context takeover is \(basisShort); the DEBUGCTL snapshot placement is from source; its failure mode on kernels with the old snapshot (a stale host DEBUGCTL.LBR=1 restored after every VM-exit streams host branches into the guest-visible LBR stack) is what the `host-branch-leak` finding detects (\(leakFindings.isEmpty ? "none in these documents" : "present in these documents")). Reference: " + refs("1.4", "1.9", "3.5") + "."),
            .paragraph("**What can go wrong in the window IRQ-disabling closes.** Between the state check and the RDMSR/WRMSR, an IPI could schedule the vLBR out (`ctx_resched()`) and give the LBRs to a host event: a read would return a host branch record to the guest, a write would corrupt the host's stack. With IRQs off the IPI waits; the access sees a consistent state and, when the vLBR lost, the guest reads 0 and its writes are dropped (the `tos-readback` column below). **What the DEBUGCTL snapshot is for.** VM-exit clears DEBUGCTL and KVM restores the host value it snapshotted; perf changes host DEBUGCTL.LBR from IRQ context (`intel_pmu_lbr_enable_all()` / `_disable_all()` under `ctx_resched()`), so a snapshot taken with IRQs enabled in `vcpu_load` can restore a stale DEBUGCTL.LBR after every VM-exit and keep the LBRs recording host branches into the guest-visible stack."),
            .table(ContractTable(caption: "Q3 evidence: the vLBR seen by the guest's next LBR access after a takeover",
                                 header: ["Scenario", "Phase", "vLBR", "LBR_TOS probe", "kmsg", "Timed command guest TSC"], rows: rows)),
            .paragraph("**Upstream functions:** " + [Upstream.msrAccess, Upstream.install, Upstream.debugctlSnapshot, Upstream.debugctlLoad].joined(separator: "; ") + "."),
        ])
    }

    // MARK: recovery

    func recoveryAnswer() -> String {
        guard let r = result("recovery-paths"), let t = terms("recovery-paths") else {
            return "not answered by these documents (\(cite("recovery-paths")))."
        }
        if t.first == .noGuestLbr { return "the guest has no LBR here (`no-guest-lbr`)." }
        guard t.first == .hostWinsVlbrError, t.count > 1, r.terms.count > 1 else {
            return "not exercised: the vLBR never left ACTIVE in the contended phase (\(cite("recovery-paths")))."
        }
        let lat = r.terms[1].latency.map { " after \($0.guest_tsc_ticks) guest TSC ticks, \($0.exits) VM-exits and \($0.guest_commands) guest commands" } ?? ""
        switch r.terms[1].path {
        case .releaseAfterPreemption?:
            return "only a release recovers it: an LBR MSR access and a DEBUGCTL.LBR re-write left the vLBR in ERROR; DEBUGCTL.LBR=0 plus a preemption of the vCPU thread inside KVM_RUN let `intel_pmu_cleanup()` release the event and the next DEBUGCTL.LBR=1 created a fresh one\(lat) (\(cite("recovery-paths")))."
        case .lbrMsrAccess?:
            return "the first guest LBR MSR access after contention ended re-enabled it\(lat) (\(cite("recovery-paths")))."
        case .debugctlRewrite?:
            return "a guest DEBUGCTL.LBR re-write re-enabled it (an LBR MSR access alone did not)\(lat) (\(cite("recovery-paths")))."
        case .none?:
            return "it came back by itself before the guest touched LBR again\(lat) (\(cite("recovery-paths")))."
        default:
            return "nothing the guest did brought it back: it stayed in ERROR through an LBR MSR access, a DEBUGCTL.LBR re-write and DEBUGCTL.LBR=0 plus preemption (\(cite("recovery-paths")))."
        }
    }

    func recovery() -> ContractSection {
        ContractSection("ERROR and recovery: which guest action brings the LBRs back, and how fast?", [
            .paragraph("**Answer.** " + recoveryAnswer().capitalizedFirst),
            .paragraph("After contention: \(cite("host-first")); \(cite("host-preempts")); \(cite("slot-contention")); \(cite("counter-exhaustion")). **Basis:** \(basis). Reference: " + refs("1.4", "1.6", "3.2", "8.2") + "."),
            .tables(evidenceTables("Recovery evidence", [("recovery-paths", nil), ("slot-contention", nil), ("counter-exhaustion", nil)])),
            .paragraph("**Upstream functions:** " + [Upstream.reenable, Upstream.cleanup, Upstream.create, Upstream.passthrough].joined(separator: "; ") + "."),
        ])
    }

    // MARK: vCPU switches

    func switchAnswer() -> String {
        guard let t = terms("switch-retention"), t.count == 2 else {
            return "not answered by these documents (\(cite("switch-retention")))."
        }
        if t.contains(.noGuestLbr) { return "the guest has no LBR here (`no-guest-lbr`)." }
        func kept(_ s: OutcomeTerm) -> String { s == .retained ? "survived" : s == .lost ? "was lost" : "was `\(s)`" }
        var s = "with guest DEBUGCTL.LBR=1 the guest's LBR stack \(kept(t[0])) a switch of the vCPU thread to a host task using LBR call-stack mode, with DEBUGCTL.LBR=0 (what guest perf does before reading the stack) it \(kept(t[1]))"
        if t == [.retained, .lost] {
            s += ": perf saves and restores the stack for the vLBR (a call-stack task event) only while it exists, and DEBUGCTL.LBR=0 lets `intel_pmu_cleanup()` release it after the sched-in, the fresh event's `intel_pmu_lbr_add()` resetting the LBRs"
        }
        return s + " (\(cite("switch-retention")))."
    }

    func vcpuSwitch() -> ContractSection {
        ContractSection("LBRs across vCPU switches, with and without DEBUGCTL.LBR", [
            .paragraph("**Answer.** " + switchAnswer().capitalizedFirst),
            .paragraph("**Basis:** \(basis). Reference: " + refs("1.2", "1.6", "3.4") + "."),
            .tables(evidenceTables("vCPU-switch evidence", [("switch-retention", nil)])),
            .paragraph("**Upstream functions:** " + [Upstream.taskSwitch, Upstream.cleanup, Upstream.lbrAdd].joined(separator: "; ") + "."),
        ])
    }

    // MARK: leak

    var leakFindings: [(Contract.Result, JsonReport.FindingDTO)] {
        folded.examples.flatMap { r in r.findings.filter { $0.kind == .hostBranchLeak }.map { (r, $0) } }
    }

    func leakAnswer() -> String {
        let f = leakFindings
        if f.isEmpty {
            return "these run documents carry no `host-branch-leak` finding (\(primary.results.count) scenario runs, \(basisShort)); that is evidence of no leak only where the run checked the guest's LBR reads against its own code (the hardware-fidelity leak detector), and says nothing about kernels or models not run here."
        }
        let n = f.reduce(0) { $0 + $1.1.count }
        return "yes: the guest read \(n) LBR entries outside its own code, i.e. host branch records, in \(f.count) phase(s) (\(Set(f.map(\.0.scenario)).sorted().map { "`\($0)`" }.joined(separator: ", "))); security-relevant (host addresses, KASLR)."
    }

    func leak() -> ContractSection {
        var blocks: [ContractBlock] = [
            .paragraph("**Answer.** " + leakAnswer().capitalizedFirst),
            .paragraph("**Basis:** \(basis). Reference: " + refs("9") + "."),
        ]
        if !leakFindings.isEmpty {
            blocks.append(.table(ContractTable(caption: "host-branch-leak findings", header: ["Scenario", "Phase", "Entries", "Summary", "Example"],
                rows: leakFindings.map { r, f in ["`\(r.test_name)`", f.phase.map { "`\($0)`" } ?? "-", String(f.count),
                                                   ContractText.literal(f.summary), f.example.map(ContractText.literal) ?? "-"] })))
        }
        blocks.append(.paragraph("**Upstream functions:** " + Upstream.lbrAdd + "."))
        return ContractSection("The host-to-guest branch leak", blocks)
    }

    // MARK: shadow

    func shadow() -> ContractSection {
        let rs = folded.examples.filter { $0.shadow != nil }
        guard let model = shadowModel, !rs.isEmpty else {
            return ContractSection("Kernel versus model", [
                .paragraph(primary.backend == .sim
                    ? "Not applicable: a sim run is the model `\(modelName)` itself; there is nothing to compare."
                    : "These documents carry no shadow-model comparison."),
            ])
        }
        let departing = rs.filter { !($0.shadow?.agrees ?? true) }
        if !isHw {
            // The run was played by the same model: comparing it with itself checks no kernel.
            var rows: [[String]] = []
            for r in rs {
                guard let s = r.shadow else { continue }
                rows.append(["`\(r.test_name)`", "`\(s.predictedCode)`", "`\(s.observed_outcome)`",
                             s.unavailable.map { "not compared: " + ContractText.literal($0) } ?? (s.agrees ? "same" : "differs")])
            }
            return ContractSection("Own model `\(model)` (not a check)", [
                .paragraph("**Answer.** Not a check of any kernel: this \(primary.backend) run was itself played by model `\(modelName)`, and its shadow is the same model run without the real guest. "
                           + (departing.isEmpty ? "They gave the same answers, which says only that the real guest behaved as the simulated one."
                              : "They differ in \(departing.count) of \(rs.count) scenario run(s), so the real guest did not behave as the simulated one there.")),
                .table(ContractTable(caption: "Own model without the guest versus this run", header: ["Scenario", "Model alone", "This run", "Comparison"], rows: rows)),
            ])
        }
        let observed = isHw ? "the kernel" : "what the signals of this \(primary.backend) run showed (its kernel is model `\(modelName)` answering a real KVM guest)"
        let answer = departing.isEmpty
            ? "In every scenario \(observed) matched what model `\(model)` predicted for the same steps (vLBR state, passthrough, host starvation and outcome, per phase)."
            : "The kernel departs from model \(model) in \(departing.count) of \(rs.count) scenario run(s): " + departing.map { "`\($0.test_name)`" }.joined(separator: ", ") + (isHw ? "." : " (here the observed side is \(observed)).")
        var rows: [[String]] = []
        for r in rs {
            guard let s = r.shadow else { continue }
            let why = r.findings.first { $0.kind == .modelDeparture }.map { ContractText.literal($0.summary) }
            rows.append(["`\(r.test_name)`", "`\(s.predictedCode)`", "`\(s.observed_outcome)`",
                         s.unavailable.map { "not compared: " + ContractText.literal($0) } ?? (s.agrees ? "agrees" : why ?? "departs")])
        }
        return ContractSection("Kernel versus model `\(model)` (shadow model)", [
            .paragraph("**Answer.** " + answer),
            .paragraph("Every step was also performed on kernel model `\(model)`; per phase the model's vLBR state and passthrough decision are compared with what the signals showed. A departure is reported as \"kernel departs from model \(model)\" and is not a failure unless an `--expect` file says `model-departure fail`. Where they disagree, the kernel is right: the model and docs/reference.md must be fixed together."),
            .table(ContractTable(caption: "Predicted versus observed outcome", header: ["Scenario", "Predicted", "Observed", "Comparison"], rows: rows)),
        ])
    }

    // MARK: evidence table

    /// One row per (scenario run, phase).
    func evidenceTable(_ caption: String, _ picks: [(String, [String]?)]) -> ContractTable {
        var rows: [[String]] = []
        for (scenario, phases) in picks {
            let rs = results(scenario)
            if rs.isEmpty {
                rows.append(["`\(scenario)`", "-", "not in these documents", "-", "-", "-", "-", "-", "-", "-", "-", "-"])
                continue
            }
            for r in rs {
                if r.phases.isEmpty {
                    rows.append(["`\(r.test_name)`", "-", "\(r.status): " + ContractText.literal(r.reason ?? r.outcome_detail),
                                 "-", "-", "-", "-", "-", "-", "-", "-", "-"])
                    continue
                }
                for p in r.phases where phases?.contains(p.name) ?? true {
                    rows.append(evidenceRow(r, p))
                }
            }
        }
        return ContractTable(caption: caption, header: [
            "Scenario", "Phase", "vLBR", "Signals agreed", "Signals disagreed", "Time ms (start+dur)",
            "Guest TSC", "Exits", "kmsg", "Host samples", "Leak", "Model"], rows: rows)
    }

    /// The evidence of `evidenceTable`, narrow enough for a mail client: the verdicts (scenario, phase, vLBR,
    /// signals, leak, model) and the measures (time, exits, kmsg, host samples) as two tables; the guest TSC
    /// ranges go to the appendix (`tscAppendix`). On a model backend the model-made columns say so.
    func evidenceTables(_ caption: String, _ picks: [(String, [String]?)]) -> [ContractTable] {
        let t = evidenceTable(caption, picks)
        let made = isHw ? "" : " (model `\(modelName)`)"
        let verdicts = t.rows.map { [$0[0], $0[1], $0[2], $0[3], $0[4], $0[10], $0[11]] }
        let measures = t.rows.map { [$0[0], $0[1], $0[5], $0[7], $0[8], $0[9]] }
        return [foldTable(caption, picks)].compactMap { $0 } + [
            ContractTable(caption: caption + ": verdicts" + made,
                          header: ["Scenario", "Phase", "vLBR", "Signals agreed", "Signals disagreed", "Leak", isHw ? "Model" : "Ground truth"],
                          rows: verdicts),
            ContractTable(caption: caption + ": measures" + (isHw ? "" : " (kmsg and host samples made by model `\(modelName)`)"),
                          header: ["Scenario", "Phase", "Time ms", "Exits", "kmsg", "Host samples"],
                          rows: measures),
        ]
    }

    func evidenceRow(_ r: Contract.Result, _ p: Contract.PhaseD) -> [String] {
        let m = p.measures
        var state = "`\(p.inferred)`"
        if let s = p.host_starved { state += s ? ", host starved" : ", host not starved" }
        let t = m.map { ms($0.start_offset_ms) + "+" + ms(p.duration_ms) } ?? ms(p.duration_ms)
        let tsc = m.flatMap { x in x.guest_tsc_begin.map { "\($0)..\(x.guest_tsc_end ?? $0)" } } ?? "-"
        let exits = m.map { "\($0.exits) (msr \($0.msr_exits))" } ?? "-"
        let kmsg = m.map { String($0.kmsg_lines) } ?? "-"
        let host = m.map { $0.host_samples == 0 ? "0" : "\($0.host_samples) (empty \($0.host_empty), stale \($0.host_stale_repeats), guest addr \($0.host_guest_addresses))" } ?? "-"
        let leak = r.findings.filter { $0.kind == .hostBranchLeak && $0.phase == p.name }.reduce(0) { $0 + $1.count }
        let model: String
        if let s = p.shadow {
            model = s.agrees ? "`\(s.model)` agrees" : "departs from `\(s.model)`: " + ContractText.literal(s.departures.joined(separator: "; "))
        } else if let g = p.ground_truth {
            model = "vlbr \(g.vlbr?.rawValue ?? "?")" + (g.agrees_with_inference.map { $0 ? " (agrees)" : " (disagrees)" } ?? "")
        } else {
            model = "-"
        }
        func list(_ a: [String]) -> String { a.isEmpty ? "none" : a.joined(separator: ", ") }
        return ["`\(r.test_name)`", "`\(p.name)`", state, list(p.agreeing.map(\.rawValue)), list(p.disagreeing.map(\.rawValue)), t, tsc, exits, kmsg, host,
                String(leak), model]
    }

    func ms(_ v: Double) -> String {
        guard v.isFinite, abs(v) < 1e12 else { return v.isFinite ? "\(v)" : "-" }
        let us = Int((v * 1000).rounded())
        let frac = String(us % 1000)
        return "\(us / 1000)." + String(repeating: "0", count: 3 - frac.count) + frac
    }

    // MARK: design space

    func designSpace() -> ContractSection? {
        let modelDocs = all.filter { $0.backend != .hw && $0.model != nil }
        var byModel: [(String, JsonReport.RunDocument)] = []
        for d in modelDocs where !byModel.contains(where: { $0.0 == d.model! }) { byModel.append((d.model!, d)) }
        guard byModel.count >= 2 else { return nil }
        var scenarios: [String] = []
        for (_, d) in byModel { for r in d.results where !scenarios.contains(r.scenario) { scenarios.append(r.scenario) } }
        // An outcome a model's own choice decides carries the choice's kind next to it (ModelChoice, LbrModel).
        func choice(_ m: String, _ s: String) -> ContractModelChoice? {
            models.first { $0.name == m }?.choices.first { $0.decides.contains(s) }
        }
        let outcomeRows = scenarios.map { s in
            ["`\(s)`"] + byModel.map { m, d in result(s, in: d).map { r in
                ((r.status == .pass || r.status == .fail) ? "`\(r.outcome)`" : "\(r.status.rawValue)")
                    + (choice(m, s).map { " (model's choice: `\($0.kind)`)" } ?? "") } ?? "-" }
        }
        var consequences: [[String]] = []
        var bullets: [String] = []
        for (m, d) in byModel {
            let c = consequencesOf(d)
            consequences.append(["`\(m)`", c.wins, c.recovery, c.starvation, c.leaks, c.loss])
            let info = models.first { $0.name == m }
            bullets.append("`\(m)`: " + ContractText.literal(info?.summary ?? "") + ". Source: " + ContractText.literal(info?.citation ?? "unknown") + "."
                + (info?.choices ?? []).map { " Model's choice `\($0.kind)` (decides " + $0.decides.map { "`\($0)`" }.joined(separator: ", ") + "): " + ContractText.literal($0.summary) + "; those outcomes are the model's, not the design's." }.joined())
        }
        let backends = Set(byModel.map { $0.1.backend.rawValue }).sorted().joined(separator: ", ")
        return ContractSection("Design space: every model on the same scenarios", [
            .paragraph("The designs argued about in the review threads, each run as a kernel model through the same scenarios (backend \(backends)). These are predictions derived from upstream source and the LKML proposals, not measurements; where hardware disagrees, the hardware is right."),
            .bullets(bullets),
            .table(ContractTable(caption: "Outcome per scenario and design", header: ["Scenario"] + byModel.map { "`\($0.0)`" }, rows: outcomeRows)),
            .table(ContractTable(caption: "Consequences per design", header: [
                "Design", "Who wins LBR contention", "Recovery from ERROR (latency)", "Host starvation",
                "Host-to-guest leaks", "Guest-visible data loss"], rows: consequences)),
        ])
    }

    struct Consequences { var wins, recovery, starvation, leaks, loss: String }

    func consequencesOf(_ d: JsonReport.RunDocument) -> Consequences {
        let contendedScenarios = ["host-first", "host-preempts", "irq-takeover", "slot-contention", "counter-exhaustion"]
        var guest = 0, host = 0, none = 0
        for s in contendedScenarios {
            for (i, t) in (terms(s, in: d) ?? []).enumerated() where s == "irq-takeover" || i == 0 {
                switch t {
                case .guestWinsHostStarved, .coexist: guest += 1
                case .hostWinsVlbrError: host += 1
                case .noGuestLbr: none += 1
                default: break
                }
            }
        }
        let wins = none > 0 && guest + host == 0 ? "nobody: the guest has no LBR"
            : "guest \(guest), host \(host) of \(guest + host) contended phases"
        var recovery = "-"
        if let r = result("recovery-paths", in: d), r.terms.count > 1 {
            let t = r.terms[1]
            recovery = "`\(t.code)`" + (t.latency.map { " (\($0.guest_tsc_ticks) TSC ticks, \($0.exits) exits, \($0.guest_commands) cmds)" } ?? "")
        } else if let t = terms("recovery-paths", in: d)?.first {
            recovery = t == .noGuestLbr ? "n/a (no guest LBR)" : "not needed (`\(t)`)"
        }
        var starvedPhases = 0, starvedTicks: UInt64 = 0
        var leaks = 0, dropped = 0
        for r in d.results {
            for p in r.phases where p.host_starved == true {
                starvedPhases += 1
                if let m = p.measures, let b = m.guest_tsc_begin, let e = m.guest_tsc_end, e >= b { starvedTicks += e - b }
            }
            for p in r.phases where p.inferred == .notActive && p.role != .setup {
                dropped += 1
            }
            leaks += r.findings.filter { $0.kind == .hostBranchLeak }.reduce(0) { $0 + $1.count }
        }
        let lost = (terms("switch-retention", in: d) ?? []).filter { $0 == .lost }.count
        let noLbr = none > 0 && guest + host == 0
        let starvation = starvedPhases == 0 ? "none" : "\(starvedPhases) phase(s), \(starvedTicks) guest TSC ticks"
        let loss = noLbr ? "all: the guest has no LBR"
            : "\(dropped) phase(s) with dropped writes / zero reads; stack lost in \(lost) of 2 vCPU-switch checks"
        return Consequences(wins: wins, recovery: recovery, starvation: starvation,
                            leaks: leaks == 0 ? "none found" : "\(leaks) entries", loss: loss)
    }

    // MARK: provenance

    func provenance() -> ContractSection {
        let rows = all.map { d -> [String] in
            [d.backend.rawValue, d.model ?? "-", d.kernel_release, d.host.map { ContractText.literal($0.hostname) } ?? "-",
             String(d.cpu), d.start_time ?? "-", d.run_id.map { "`\($0)`" } ?? "-",
             "\(d.results.count) run(s), exit \(d.exit_code)"]
        }
        return ContractSection("How this document was produced", [
            .paragraph("Generated by `lbrprobe contract` from the run documents below (schema `\(JsonReport.schemaId)`); the same documents always give the same text (`lbrprobe contract --from RUN.json...`). Scenario questions, phases and signals: docs/run-format.md; the kernel models: docs/model.md."),
            .table(ContractTable(caption: "Run documents", header: ["Backend", "Model", "Kernel", "Host", "CPU", "Start", "Run id", "Runs"], rows: rows)),
        ])
    }
}

extension String {
    /// The string with its first character upper-cased (answers start lower-case inside the summary list).
    var capitalizedFirst: String {
        guard let f = first else { return self }
        return f.uppercased() + dropFirst()
    }
}
