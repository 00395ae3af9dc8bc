// HostProfile: a pure, Codable snapshot of every value `lbrprobe caps` probes on a host.
// Every value is either a reading or an explicit "unavailable: reason" — never a silent default.
// LbrLinux.HostProbe fills it from the real machine; tests build it from recorded fixtures
// (LbrTestSupport's RecordedProfiles). Eligibility.swift decides from it, LbrReport renders it.

/// Why a probed value could not be read.
///
/// Encoded in JSON as `{"kind": "absent", "detail": "…", "errno": 2}` (`errno` only when a syscall failed).
public struct Unavailable: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The class of failure, stable for machines to switch on.
    public enum Kind: String, Hashable, Sendable, Codable {
        /// The file, device or module does not exist (ENOENT, or never created by the kernel).
        case absent
        /// It exists but could not be read (EACCES, EPERM, EIO, …; see `errno`).
        case unreadable
        /// It was read but its content could not be parsed.
        case malformed
        /// The hardware or kernel does not implement it (e.g. CPUID leaf above the maximum leaf).
        case unsupported
        /// It was not probed because a precondition is missing (e.g. no /dev/kvm → no KVM capabilities).
        case notProbed
    }

    public var kind: Kind
    /// One line a human can act on, including the path or call that failed.
    public var detail: String
    /// The errno value when a syscall failed.
    public var errno: Int32?

    public init(_ kind: Kind, _ detail: String, errno: Int32? = nil) {
        self.kind = kind; self.detail = detail; self.errno = errno
    }

    public static func absent(_ detail: String) -> Unavailable { Unavailable(.absent, detail) }
    public static func notProbed(_ detail: String) -> Unavailable { Unavailable(.notProbed, detail) }
    public static func unsupported(_ detail: String) -> Unavailable { Unavailable(.unsupported, detail) }
    public static func malformed(_ detail: String) -> Unavailable { Unavailable(.malformed, detail) }

    public var description: String { "\(kind.rawValue): \(detail)" }
}

/// A probed value: a reading, or the reason there is none.
///
/// JSON: `{"value": …}` or `{"unavailable": {"kind": …, "detail": …}}`.
public enum Probed<Value: Hashable & Sendable & Codable>: Hashable, Sendable, Codable {
    case value(Value)
    case unavailable(Unavailable)

    /// The reading, or nil.
    public var value: Value? { if case .value(let v) = self { return v } else { return nil } }
    /// The reason there is no reading, or nil.
    public var unavailable: Unavailable? { if case .unavailable(let u) = self { return u } else { return nil } }

    /// Transforms the reading, keeping the reason.
    public func map<T>(_ f: (Value) -> T) -> Probed<T> {
        switch self {
        case .value(let v): return .value(f(v))
        case .unavailable(let u): return .unavailable(u)
        }
    }

    private enum CodingKeys: String, CodingKey { case value, unavailable }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let u = try c.decodeIfPresent(Unavailable.self, forKey: .unavailable) {
            self = .unavailable(u)
        } else {
            self = .value(try c.decode(Value.self, forKey: .value))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .value(let v): try c.encode(v, forKey: .value)
        case .unavailable(let u): try c.encode(u, forKey: .unavailable)
        }
    }
}

/// Everything `lbrprobe caps` knows about a host. Pure data: no syscalls here.
public struct HostProfile: Hashable, Sendable, Codable {
    /// Host CPUID leaves read on the probing CPU: 0x0, 0x1, 0x7.0, 0xA, 0x1C, 0x80000000, 0x80000022
    /// (those at or below the maximum basic/extended leaf). Decode with `CpuidDecode.decode(_:)`.
    public var cpuid: Probed<[CpuidEntry]>
    public var perf: PerfFacts
    public var msr: MsrFacts
    public var kvm: KvmFacts
    public var topology: TopologyFacts
    public var privileges: PrivilegeFacts
    /// `uname -r`.
    public var kernelRelease: Probed<String>

    public init(cpuid: Probed<[CpuidEntry]>, perf: PerfFacts, msr: MsrFacts, kvm: KvmFacts,
                topology: TopologyFacts, privileges: PrivilegeFacts, kernelRelease: Probed<String>) {
        self.cpuid = cpuid; self.perf = perf; self.msr = msr; self.kvm = kvm
        self.topology = topology; self.privileges = privileges; self.kernelRelease = kernelRelease
    }

    /// The decoded CPU, when CPUID could be read.
    public var cpu: CpuFeatures? { cpuid.value.map(CpuidDecode.decode) }
}

/// One core PMU under /sys/bus/event_source/devices (`cpu`, or `cpu_core`/`cpu_atom` on hybrid parts).
public struct CorePmu: Hashable, Sendable, Codable {
    /// Directory name: `cpu`, `cpu_core` or `cpu_atom`.
    public var name: String
    /// `type` file: the perf_event_attr.type for this PMU.
    public var type: Probed<Int>
    /// `caps/branches`: LBR depth as perf sees it (absent ⇒ perf has no branch sampling on this PMU).
    public var branches: Probed<Int>
    /// `caps/max_precise`: highest precise_ip (PEBS) level.
    public var maxPrecise: Probed<Int>

    public init(name: String, type: Probed<Int>, branches: Probed<Int>, maxPrecise: Probed<Int>) {
        self.name = name; self.type = type; self.branches = branches; self.maxPrecise = maxPrecise
    }
}

/// perf-side facts.
public struct PerfFacts: Hashable, Sendable, Codable {
    /// Every directory under /sys/bus/event_source/devices (for context when no core PMU exists).
    public var eventSources: Probed<[String]>
    /// Core PMUs found (`cpu`, `cpu_core`, `cpu_atom`); empty = no hardware PMU exposed to perf.
    public var corePmus: [CorePmu]
    /// /proc/sys/kernel/perf_event_paranoid.
    public var perfEventParanoid: Probed<Int>
    /// /proc/sys/kernel/nmi_watchdog (1 ⇒ the hard-lockup detector holds a pinned cycles counter per CPU).
    public var nmiWatchdog: Probed<Int>
    /// Where tracefs is mounted (from /proc/self/mounts).
    public var tracefsMount: Probed<String>
    /// Whether lbrprobe mounted tracefs itself during this probe.
    public var tracefsMountedByProbe: Bool
    /// `events/kvm/kvm_msr/id` under tracefs: the perf tracepoint config for `kvm:kvm_msr`.
    public var kvmMsrTracepointId: Probed<Int>

    public init(eventSources: Probed<[String]>, corePmus: [CorePmu], perfEventParanoid: Probed<Int>,
                nmiWatchdog: Probed<Int>, tracefsMount: Probed<String>, tracefsMountedByProbe: Bool,
                kvmMsrTracepointId: Probed<Int>) {
        self.eventSources = eventSources; self.corePmus = corePmus; self.perfEventParanoid = perfEventParanoid
        self.nmiWatchdog = nmiWatchdog; self.tracefsMount = tracefsMount
        self.tracefsMountedByProbe = tracefsMountedByProbe; self.kvmMsrTracepointId = kvmMsrTracepointId
    }

    /// The PMU that carries LBR on this host: `cpu`, else `cpu_core` (hybrid P-cores), else nil.
    public var primaryCorePmu: CorePmu? {
        corePmus.first { $0.name == "cpu" } ?? corePmus.first { $0.name == "cpu_core" } ?? corePmus.first
    }
}

/// One MSR value read on one CPU.
public struct CpuMsrValue: Hashable, Sendable, Codable {
    public var cpu: Int
    public var value: UInt64
    public init(cpu: Int, value: UInt64) { self.cpu = cpu; self.value = value }
}

/// Host MSRs read (read-only) through /dev/cpu/N/msr.
public struct MsrFacts: Hashable, Sendable, Codable {
    /// The CPU PERF_CAPABILITIES was read on.
    public var cpu: Int
    /// Host IA32_PERF_CAPABILITIES (0x345); bits 5:0 = LBR format.
    public var perfCapabilities: Probed<UInt64>
    /// Host IA32_DEBUGCTL (0x1d9) on every online CPU; bit 0 set while no perf LBR user exists = firmware-left.
    public var debugctl: Probed<[CpuMsrValue]>

    public init(cpu: Int, perfCapabilities: Probed<UInt64>, debugctl: Probed<[CpuMsrValue]>) {
        self.cpu = cpu; self.perfCapabilities = perfCapabilities; self.debugctl = debugctl
    }
}

/// A KVM capability and its KVM_CHECK_EXTENSION value.
public struct KvmCapValue: Hashable, Sendable, Codable {
    /// `KVM_CAP_…` name.
    public var name: String
    public var number: Int32
    /// The ioctl's return value (0 = absent; for bitmask caps the supported bits).
    public var value: Probed<Int32>
    public init(name: String, number: Int32, value: Probed<Int32>) {
        self.name = name; self.number = number; self.value = value
    }
}

/// A kernel module parameter under /sys/module/<module>/parameters/<name>.
public struct ModuleParam: Hashable, Sendable, Codable {
    public var module: String
    public var name: String
    /// The raw file content, trimmed (e.g. "Y", "N", "1").
    public var value: Probed<String>
    public init(module: String, name: String, value: Probed<String>) {
        self.module = module; self.name = name; self.value = value
    }
    /// `module.name`, the kernel command-line spelling.
    public var qualifiedName: String { "\(module).\(name)" }
    /// Y/1 → true, N/0 → false, otherwise nil.
    public var boolValue: Bool? {
        switch value.value {
        case "Y", "y", "1": return true
        case "N", "n", "0": return false
        default: return nil
        }
    }
}

/// KVM facts from /dev/kvm and /sys/module.
public struct KvmFacts: Hashable, Sendable, Codable {
    /// The device path probed.
    public var device: String
    /// KVM_GET_API_VERSION; unavailable when /dev/kvm cannot be opened (with the errno).
    public var apiVersion: Probed<Int32>
    /// KVM_CHECK_EXTENSION for the capabilities lbrprobe needs.
    public var capabilities: [KvmCapValue]
    /// KVM_GET_MSR_FEATURE_INDEX_LIST.
    public var featureMsrs: Probed<[UInt32]>
    /// System KVM_GET_MSRS of PERF_CAPABILITIES (0x345): what KVM supports for guests (reference §2).
    public var supportedPerfCapabilities: Probed<UInt64>
    /// KVM_GET_SUPPORTED_CPUID, leaves 0x1, 0x7.0, 0xA, 0x1C, 0x80000022 only.
    public var supportedCpuid: Probed<[CpuidEntry]>
    /// KVM modules loaded (directories /sys/module/kvm*), e.g. ["kvm", "kvm_intel"].
    public var modules: Probed<[String]>
    /// kvm.enable_pmu, kvm.ignore_msrs, kvm_intel.enable_mediated_pmu, kvm_amd.lbrv, kvm_amd.enable_mediated_pmu.
    public var parameters: [ModuleParam]

    public init(device: String, apiVersion: Probed<Int32>, capabilities: [KvmCapValue], featureMsrs: Probed<[UInt32]>,
                supportedPerfCapabilities: Probed<UInt64>, supportedCpuid: Probed<[CpuidEntry]>,
                modules: Probed<[String]>, parameters: [ModuleParam]) {
        self.device = device; self.apiVersion = apiVersion; self.capabilities = capabilities
        self.featureMsrs = featureMsrs; self.supportedPerfCapabilities = supportedPerfCapabilities
        self.supportedCpuid = supportedCpuid; self.modules = modules; self.parameters = parameters
    }

    /// The parameter `module.name`, if it was probed.
    public func parameter(_ module: String, _ name: String) -> ModuleParam? {
        parameters.first { $0.module == module && $0.name == name }
    }

    /// The capability named `name` (e.g. "KVM_CAP_X86_MSR_FILTER"), if it was probed.
    public func capability(_ name: String) -> KvmCapValue? { capabilities.first { $0.name == name } }

    /// The supported CPUID entry for `leaf`/`subleaf`, if KVM reported it.
    public func supportedLeaf(_ leaf: UInt32, _ subleaf: UInt32 = 0) -> CpuidEntry? {
        supportedCpuid.value?.first { $0.leaf == leaf && $0.subleaf == subleaf }
    }
}

/// One NUMA node and its CPUs.
public struct NumaNodeCpus: Hashable, Sendable, Codable {
    public var node: Int
    public var cpus: [Int]
    public init(node: Int, cpus: [Int]) { self.node = node; self.cpus = cpus }
}

/// Topology facts.
public struct TopologyFacts: Hashable, Sendable, Codable {
    /// /sys/devices/system/cpu/online, expanded.
    public var onlineCpus: Probed<[Int]>
    /// libnuma: nodes 0…numa_max_node() and their CPUs.
    public var numaNodes: Probed<[NumaNodeCpus]>
    public init(onlineCpus: Probed<[Int]>, numaNodes: Probed<[NumaNodeCpus]>) {
        self.onlineCpus = onlineCpus; self.numaNodes = numaNodes
    }
}

/// Who is probing.
public struct PrivilegeFacts: Hashable, Sendable, Codable {
    public var euid: UInt32
    /// CapEff from /proc/self/status.
    public var effectiveCapabilities: Probed<UInt64>

    public init(euid: UInt32, effectiveCapabilities: Probed<UInt64>) {
        self.euid = euid; self.effectiveCapabilities = effectiveCapabilities
    }

    /// Capability bit numbers (include/uapi/linux/capability.h).
    public static let capSysAdmin = 21
    public static let capPerfmon = 38

    public var isRoot: Bool { euid == 0 }
    public var hasCapPerfmon: Bool { effectiveCapabilities.value.map { $0 & (1 << UInt64(Self.capPerfmon)) != 0 } ?? false }
    public var hasCapSysAdmin: Bool { effectiveCapabilities.value.map { $0 & (1 << UInt64(Self.capSysAdmin)) != 0 } ?? false }
    /// CPU-wide perf events with kernel branch sampling are allowed regardless of perf_event_paranoid (§4).
    public var canOpenCpuWideEvents: Bool { hasCapPerfmon || hasCapSysAdmin }
}

/// Parsers for the small text formats the kernel uses; pure so they can be tested on fixtures.
public enum KernelText {
    /// Parses a cpulist such as "0-3,8,10-11" (Documentation/admin-guide/cputopology.rst). nil if malformed.
    public static func cpuList(_ text: String) -> [Int]? {
        let t = text.trimmingWhitespace
        if t.isEmpty { return [] }
        var out: [Int] = []
        for part in t.split(separator: ",") {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            switch bounds.count {
            case 1:
                guard let v = Int(bounds[0]), v >= 0 else { return nil }
                out.append(v)
            case 2:
                guard let a = Int(bounds[0]), let b = Int(bounds[1]), a >= 0, a <= b, b - a < 1 << 16 else { return nil }
                out.append(contentsOf: a...b)
            default:
                return nil
            }
        }
        return out
    }

    /// Formats CPUs as a cpulist ("0-3,8"), the inverse of `cpuList(_:)` for sorted unique input.
    public static func formatCpuList(_ cpus: [Int]) -> String {
        let sorted = Array(Set(cpus)).sorted()
        var parts: [String] = []
        var i = 0
        while i < sorted.count {
            var j = i
            while j + 1 < sorted.count && sorted[j + 1] == sorted[j] + 1 { j += 1 }
            parts.append(i == j ? "\(sorted[i])" : "\(sorted[i])-\(sorted[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }

    /// The CapEff mask from the content of /proc/<pid>/status, or nil.
    public static func capEff(fromStatus status: String) -> UInt64? {
        for line in status.split(separator: "\n") where line.hasPrefix("CapEff:") {
            return UInt64(line.dropFirst("CapEff:".count).trimmingWhitespace, radix: 16)
        }
        return nil
    }

    /// The first tracefs mount point in /proc/self/mounts content, or nil.
    public static func tracefsMount(fromMounts mounts: String) -> String? {
        for line in mounts.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count >= 3, f[2] == "tracefs" { return String(f[1]) }
        }
        return nil
    }
}

extension KernelText {
    /// `text` without leading/trailing spaces, tabs and newlines (no Foundation needed).
    public static func trim<S: StringProtocol>(_ text: S) -> String { text.trimmingWhitespace }
}

extension StringProtocol {
    var trimmingWhitespace: String {
        let ws: Set<Character> = [" ", "\t", "\n", "\r"]
        var s = Substring(self)
        while let f = s.first, ws.contains(f) { s = s.dropFirst() }
        while let l = s.last, ws.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
