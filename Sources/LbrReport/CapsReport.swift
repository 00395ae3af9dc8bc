import LbrCore

/// One line of the human `caps` table.
public struct CapsRow: Hashable, Sendable {
    public var section: String
    public var key: String
    /// The probed value, or "unavailable (kind)".
    public var value: String
    /// What the row means for LBR probing (one line).
    public var explanation: String
    /// For unavailable values: the reason, printed on its own line under the value.
    public var reason: String?

    public init(_ section: String, _ key: String, _ value: String, _ explanation: String, reason: String? = nil) {
        self.section = section; self.key = key; self.value = value; self.explanation = explanation; self.reason = reason
    }
}

/// Collects caps rows in report order; a probed value that is unavailable becomes a row saying so, with why.
struct CapsRowBuilder {
    private(set) var rows: [CapsRow] = []

    mutating func append(_ row: CapsRow) { rows.append(row) }

    /// Attaches `reason` to the last row.
    mutating func setLastReason(_ reason: String) { if !rows.isEmpty { rows[rows.count - 1].reason = reason } }

    mutating func add(_ section: String, _ key: String, _ value: String, _ why: String) {
        rows.append(CapsRow(section, key, value, why))
    }

    mutating func add<T>(_ section: String, _ key: String, _ probed: Probed<T>, _ why: String, _ fmt: (T) -> String) {
        switch probed {
        case .value(let v): rows.append(CapsRow(section, key, fmt(v), why))
        case .unavailable(let u):
            rows.append(CapsRow(section, key, "unavailable (\(u.kind.rawValue))", why, reason: u.detail))
        }
    }
}

/// The human-readable `lbrprobe caps` report: an aligned table, one explanation per row, then eligibility.
public enum CapsReport {
    /// Rows for every probed value, grouped by section in report order.
    public static func rows(_ p: HostProfile) -> [CapsRow] {
        var b = CapsRowBuilder()
        cpuRows(p, &b)
        perfRows(p, &b)
        msrRows(p, &b)
        kvmRows(p, &b)
        hostRows(p, &b)
        return b.rows
    }

    /// The CPU section: CPUID decoded (vendor, model, PMU, arch LBR, AMD leaf, LBR layout).
    private static func cpuRows(_ p: HostProfile, _ b: inout CapsRowBuilder) {
        let s = "CPU"
        switch p.cpuid {
        case .unavailable(let u):
            b.append(CapsRow(s, "cpuid", "unavailable (\(u.kind.rawValue))", "host CPUID", reason: u.detail))
        case .value(let leaves):
            let c = CpuidDecode.decode(leaves)
            b.add(s, "vendor", c.vendorString, "CPUID.0; guest LBR (vLBR) exists only in kvm_intel")
            let name = c.vendor == .intel && c.family == 6 ? CpuidDecode.intelModelName(c.model).map { " (\($0))" } ?? "" : ""
            b.add(s, "family/model/stepping", "\(c.family) / 0x\(hex(c.model)) / \(c.stepping)\(name)",
                "CPUID.1:EAX with extended family/model applied")
            b.add(s, "hypervisor", yesNo(c.hypervisor), "CPUID.1:ECX[31]; yes = this host is itself a guest")
            b.add(s, "hybrid", yesNo(c.hybrid), "CPUID.7.0:EDX[15]; P/E cores get separate PMUs (cpu_core/cpu_atom)")
            b.add(s, "PDCM", yesNo(c.pdcm), "CPUID.1:ECX[15]; IA32_PERF_CAPABILITIES (0x345) exists")
            if let pmu = c.archPmu {
                b.add(s, "arch PMU (leaf 0xA)", pmu.version == 0 ? "none (version 0)" :
                        "v\(pmu.version), \(pmu.gpCounters) GP x \(pmu.gpWidth)-bit, \(pmu.fixedCounters) fixed x \(pmu.fixedWidth)-bit",
                    "counters perf and KVM's vPMU build on")
            } else {
                b.add(s, "arch PMU (leaf 0xA)", "n/a (max basic leaf 0x\(hex(c.maxBasicLeaf)))", "counters perf and KVM's vPMU build on")
            }
            let archLbr: String
            if let info = c.archLbrInfo {
                archLbr = "yes, depths \(info.depths.map(String.init).joined(separator: ",")), call-stack \(yesNo(info.callStack))"
            } else {
                archLbr = c.archLbr ? "yes (leaf 0x1C missing)" : "no"
            }
            b.add(s, "arch LBR", archLbr, "CPUID.7.0:EDX[19] + leaf 0x1C; KVM does not virtualize arch LBR (§1.10)")
            if let amd = c.amdPerfMon {
                b.add(s, "AMD 0x80000022", "PerfMonV2 \(yesNo(amd.perfMonV2)), LbrExtV2 \(yesNo(amd.lbrExtV2)), "
                        + "LBR stack \(amd.lbrStackSize), freeze \(yesNo(amd.lbrAndPmcFreeze))",
                    "AMD host LBR stack; KVM does not virtualize it (§6.4)")
            } else {
                b.add(s, "AMD 0x80000022", "n/a (max extended leaf 0x\(hex(c.maxExtendedLeaf)))",
                    "AMD PerfMonV2/LbrExtV2 leaf")
            }
            if c.vendor == .intel, let layout = LbrLayout.forIntel(family: c.family, model: c.model) {
                let info = layout.info.map { ", info 0x\(hex($0))" } ?? ""
                b.add(s, "LBR layout", "\(layout.depth) x 0x\(hex(layout.from))/0x\(hex(layout.to))\(info) (\(layout.source))",
                    "where the legacy LBR stack lives (LbrLayout, §5)")
            } else {
                b.add(s, "LBR layout", "none known", "where the legacy LBR stack lives (LbrLayout, §5)")
            }
        }
    }

    /// The perf section: core PMUs with branch sampling, paranoia, NMI watchdog, the kvm_msr tracepoint.
    private static func perfRows(_ p: HostProfile, _ b: inout CapsRowBuilder) {
        let pf = "perf"
        if p.perf.corePmus.isEmpty {
            let sources = p.perf.eventSources.value.map { $0.joined(separator: ", ") }
            b.add(pf, "core PMU", sources.map { "none (event sources: \($0))" } ?? "none",
                "cpu or cpu_core under /sys/bus/event_source/devices: hardware events and LBR sampling")
            if let u = p.perf.eventSources.unavailable { b.setLastReason(u.detail) }
        }
        for pmu in p.perf.corePmus {
            b.add(pf, "core PMU", pmu.type, "hardware perf events and LBR sampling") { "\(pmu.name) (type \($0))" }
            b.add(pf, "\(pmu.name)/caps/branches", pmu.branches, "LBR depth perf uses; absent = no branch sampling") { "\($0)" }
            b.add(pf, "\(pmu.name)/caps/max_precise", pmu.maxPrecise, "highest precise_ip (PEBS) level") { "\($0)" }
        }
        b.add(pf, "perf_event_paranoid", p.perf.perfEventParanoid,
            ">0: CPU-wide events need CAP_PERFMON; >1: so does kernel branch sampling (§4)") { "\($0)" }
        b.add(pf, "nmi_watchdog", p.perf.nmiWatchdog,
            "1 = hard-lockup detector holds a pinned cycles counter on every CPU") { "\($0)" }
        b.add(pf, "tracefs", p.perf.tracefsMount, "needed for the kvm:kvm_msr tracepoint id") {
            p.perf.tracefsMountedByProbe ? "\($0) (mounted by lbrprobe)" : $0
        }
        b.add(pf, "kvm:kvm_msr id", p.perf.kvmMsrTracepointId,
            "fires per MSR access KVM handles; silence on LBR MSRs = passthrough") { "\($0)" }
    }

    /// The host MSR section: PERF_CAPABILITIES and DEBUGCTL, read-only.
    private static func msrRows(_ p: HostProfile, _ b: inout CapsRowBuilder) {
        let m = "host MSRs (read-only)"
        b.add(m, "PERF_CAPABILITIES", p.msr.perfCapabilities,
            "0x345 on CPU \(p.msr.cpu); bits 5:0 = host LBR format, must equal KVM's (§2)") {
            "0x\(hex($0)): LBR format \(PerfCapabilities.lbrFormat($0))"
        }
        b.add(m, "DEBUGCTL", p.msr.debugctl, "0x1d9 on every online CPU; LBR bit set with no LBR user = firmware-left") { values in
            let set = values.filter { $0.value & DebugCtl.lbr != 0 }.map(\.cpu)
            let distinct = Set(values.map(\.value))
            let all = distinct.count == 1 ? "0x\(hex(distinct.first!)) on CPUs \(KernelText.formatCpuList(values.map(\.cpu)))"
                : values.map { "cpu\($0.cpu)=0x\(hex($0.value))" }.joined(separator: " ")
            return set.isEmpty ? all : "\(all); LBR bit set on CPUs \(KernelText.formatCpuList(set))"
        }
        if p.msr.perfCapabilities.unavailable?.kind == .absent {
            b.add(m, "cost of no msr driver", "host LBR format unknown",
                "cannot compare it with KVM's or see a firmware-left DEBUGCTL.LBR")
        }
    }

    /// The KVM section: device, modules, capabilities, parameters and what KVM offers a guest.
    private static func kvmRows(_ p: HostProfile, _ b: inout CapsRowBuilder) {
        let k = "KVM"
        b.add(k, "device", p.kvm.apiVersion, "\(p.kvm.device): KVM_GET_API_VERSION") { "API \($0)" }
        b.add(k, "modules", p.kvm.modules, "loaded KVM modules; vLBR lives in kvm_intel") {
            $0.isEmpty ? "none" : $0.joined(separator: ", ")
        }
        for cap in p.kvm.capabilities {
            b.add(k, cap.name, cap.value, capExplanation(cap.name)) { "\($0)" }
        }
        for param in p.kvm.parameters {
            b.add(k, param.qualifiedName, param.value, paramExplanation(param)) { $0 }
        }
        b.add(k, "supported PERF_CAPABILITIES", p.kvm.supportedPerfCapabilities,
            "system KVM_GET_MSRS 0x345: what a guest may get; LBR format 0 = no guest LBR (§2)") {
            $0 & PerfCapabilities.lbrFormatMask == 0 ? "0x\(hex($0)): no LBR format (no guest LBR)"
                : "0x\(hex($0)): LBR format \(PerfCapabilities.lbrFormat($0))"
        }
        b.add(k, "feature MSRs", p.kvm.featureMsrs, "KVM_GET_MSR_FEATURE_INDEX_LIST") {
            $0.map { "0x\(hex($0))" }.joined(separator: ", ")
        }
        b.add(k, "supported CPUID PDCM", p.kvm.supportedCpuid, "KVM_GET_SUPPORTED_CPUID leaf 1 ECX[15]") { _ in
            guard let l1 = p.kvm.supportedLeaf(1) else { return "leaf 1 not reported" }
            return yesNo(l1.ecx & (1 << CpuidDecode.pdcmBit) != 0)
        }
        b.add(k, "supported CPUID leaf 0xA", p.kvm.supportedCpuid, "guest PMU version; 0 = intel_pmu_refresh disables it (§1.7)") { _ in
            guard let e = p.kvm.supportedLeaf(0xa) else { return "not reported (version 0)" }
            let pmu = CpuidDecode.archPmu(e)
            return pmu.version == 0 ? "version 0" : "v\(pmu.version), \(pmu.gpCounters) GP, \(pmu.fixedCounters) fixed"
        }
    }

    /// The host section: kernel, CPUs, NUMA nodes, privileges.
    private static func hostRows(_ p: HostProfile, _ b: inout CapsRowBuilder) {
        let h = "host"
        b.add(h, "kernel", p.kernelRelease, "uname -r") { $0 }
        b.add(h, "online CPUs", p.topology.onlineCpus, "/sys/devices/system/cpu/online") {
            "\(KernelText.formatCpuList($0)) (\($0.count))"
        }
        b.add(h, "NUMA nodes", p.topology.numaNodes, "libnuma; guest memory goes on the probed CPU's node") {
            $0.map { "node\($0.node): \(KernelText.formatCpuList($0.cpus))" }.joined(separator: "; ")
        }
        let pr = p.privileges
        b.add(h, "privileges", pr.effectiveCapabilities, "CPU-wide LBR events need root or CAP_PERFMON (§4)") { cap in
            "euid \(pr.euid), CapEff 0x\(hex(cap)) (CAP_PERFMON \(yesNo(pr.hasCapPerfmon)), CAP_SYS_ADMIN \(yesNo(pr.hasCapSysAdmin)))"
        }
    }

    /// The full text report: the table, then one block per backend with every blocker and caveat.
    public static func text(_ p: HostProfile, eligibility: [BackendEligibility]) -> String {
        let rows = rows(p)
        let keyWidth = rows.map(\.key.count).max() ?? 0
        let valueWidth = min(rows.map(\.value.count).max() ?? 0, 44)
        var out = "lbrprobe caps — can this host probe vLBR contention, and why (schema \(CapsJSON.schema))\n"
        var section = ""
        for r in rows {
            if r.section != section {
                section = r.section
                out += "\n\(section)\n"
            }
            let key = pad(r.key, keyWidth)
            let value = r.value.count > valueWidth ? r.value + "\n    " + String(repeating: " ", count: keyWidth + valueWidth + 2)
                : pad(r.value, valueWidth)
            out += "  \(key)  \(value)  \(r.explanation)\n"
            if let reason = r.reason {
                out += "  \(String(repeating: " ", count: keyWidth))  reason: \(reason)\n"
            }
        }
        out += "\nEligibility (reference §2)\n"
        let bw = BackendKind.allCases.map(\.rawValue.count).max() ?? 0
        for e in eligibility {
            out += "  \(pad(e.backend.rawValue, bw))  \(e.eligible ? "eligible" : "NOT eligible")\n"
            for b in e.blockers {
                out += "  \(String(repeating: " ", count: bw))    no:  [\(b.code.rawValue)] \(b.message) (\(b.reference))\n"
            }
            for c in e.caveats {
                out += "  \(String(repeating: " ", count: bw))    but: [\(c.code.rawValue)] \(c.message) (\(c.reference))\n"
            }
        }
        return out
    }

    static func capExplanation(_ name: String) -> String {
        switch KvmCap.allCases.first(where: { $0.name == name }) {
        case .immediateExit?: return "kick a vCPU out of KVM_RUN (timeouts)"
        case .x86UserSpaceMsr?: return "guest MSR accesses exit to user space (hybrid backend)"
        case .x86MsrFilter?: return "route chosen MSRs (LBR, DEBUGCTL) to user space"
        case .binaryStatsFd?: return "per-vCPU exit counters"
        case .pmuCapability?: return "per-VM vPMU disable; 0 = no vPMU to configure"
        case .getMsrFeatures?: return "system KVM_GET_MSRS of feature MSRs (0x\(String(MSR.perfCapabilities, radix: 16)))"
        default: return "KVM_CHECK_EXTENSION"
        }
    }

    static func paramExplanation(_ p: ModuleParam) -> String {
        switch p.qualifiedName {
        case "kvm.enable_pmu": return "N = no vPMU, no PDCM, no guest LBR at all (§2.3)"
        case "kvm.ignore_msrs": return "Y hides #GP on unhandled MSRs (pmu_lbr wants N)"
        case "kvm_intel.enable_mediated_pmu": return "Y = mediated vPMU (no LBR); a VM without in-kernel irqchip, like lbrprobe's, gets no PMU at all (§2.4)"
        case "kvm_amd.lbrv": return "AMD LBR virtualization: 4 legacy MSRs only (§6.4)"
        case "kvm_amd.enable_mediated_pmu": return "AMD mediated vPMU (§6.3)"
        default: return "module parameter"
        }
    }

    static func yesNo(_ b: Bool) -> String { b ? "yes" : "no" }
    static func hex<T: BinaryInteger>(_ v: T) -> String { String(v, radix: 16) }
    static func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
}
