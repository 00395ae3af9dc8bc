import CLbrShim
import LbrCore
import Logging
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Gathers a `HostProfile` from the machine: CPUID, sysfs/procfs, the msr driver (read-only), /dev/kvm, libnuma.
///
/// Every failure becomes an `Unavailable` in the profile — a missing file, an unreadable sysfs entry, no
/// /dev/kvm or a non-root caller is a reported fact, never a thrown error or a crash. The file-system root
/// and the process facts are injectable so tests can probe a fixture directory.
public struct HostProbe: Sendable {
    /// Readers for /sys, /proc and /dev under the probe root.
    public var sysfs: Sysfs
    /// The KVM device to open (default `<root>/dev/kvm`).
    public var kvmDevice: String
    /// Mount tracefs at /sys/kernel/tracing when it is not mounted (only when root and probing "/").
    public var mountTracefs: Bool
    /// CPUID source (default: the calling CPU through the C shim).
    public var cpuid: @Sendable (UInt32, UInt32) -> CpuidEntry
    /// Effective uid (default: geteuid()).
    public var euid: @Sendable () -> UInt32
    /// Kernel release (default: uname(2) on "/", `<root>/proc/sys/kernel/osrelease` otherwise).
    public var kernelRelease: @Sendable () -> Probed<String>
    /// NUMA nodes (default: libnuma on "/", `<root>/sys/devices/system/node/node*/cpulist` otherwise).
    public var numaNodes: @Sendable () -> Probed<[NumaNodeCpus]>
    public var logger: Logger

    /// A probe of the file system under `root` ("/" = this host).
    public init(root: String = "/", kvmDevice: String? = nil, mountTracefs: Bool = false,
                logger: Logger = Logger(label: "lbrprobe.probe")) {
        let fs = Sysfs(root: root)
        let live = root == "/" || root.isEmpty
        self.sysfs = fs
        self.kvmDevice = kvmDevice ?? fs.resolve("/dev/kvm")
        self.mountTracefs = mountTracefs && live
        self.cpuid = { CpuidReader.read(leaf: $0, subleaf: $1) }
        self.euid = { UInt32(geteuid()) }
        if live {
            self.kernelRelease = { HostProbe.unameRelease() }
            self.numaNodes = { HostProbe.libnumaNodes() }
        } else {
            self.kernelRelease = { fs.string("/proc/sys/kernel/osrelease").probed }
            self.numaNodes = { HostProbe.sysfsNodes(fs) }
        }
        self.logger = logger
    }

    /// Probes everything.
    public func probe() -> HostProfile {
        let privileges = probePrivileges()
        let topology = TopologyFacts(onlineCpus: onlineCpus(), numaNodes: numaNodes())
        let cpuidLeaves = CpuidReader.hostLeaves(read: cpuid)
        let profile = HostProfile(
            cpuid: .value(cpuidLeaves),
            perf: probePerf(isRoot: privileges.isRoot),
            msr: probeMsrs(onlineCpus: topology.onlineCpus.value ?? []),
            kvm: probeKvm(),
            topology: topology,
            privileges: privileges,
            kernelRelease: kernelRelease())
        logger.debug("probe complete", metadata: ["kernel": "\(profile.kernelRelease)"])
        return profile
    }

    // MARK: privileges and topology

    func probePrivileges() -> PrivilegeFacts {
        let status = sysfs.raw("/proc/self/status")
        let capEff: Probed<UInt64>
        switch status {
        case .value(let text):
            capEff = KernelText.capEff(fromStatus: text).map { .value($0) }
                ?? .unavailable(.malformed("\(sysfs.resolve("/proc/self/status")): no parsable CapEff line"))
        default:
            capEff = status.failure() ?? .unavailable(.notProbed("/proc/self/status"))
        }
        let facts = PrivilegeFacts(euid: euid(), effectiveCapabilities: capEff)
        logger.debug("privileges", metadata: ["euid": "\(facts.euid)", "CapEff": "\(capEff)"])
        return facts
    }

    func onlineCpus() -> Probed<[Int]> {
        let path = "/sys/devices/system/cpu/online"
        return sysfs.string(path).flatMap({ s, p in
            KernelText.cpuList(s).map { .value($0) } ?? .malformed(path: p, content: s)
        }, path: sysfs.resolve(path)).probed
    }

    static func libnumaNodes() -> Probed<[NumaNodeCpus]> {
        guard Numa.isAvailable, let maxNode = Numa.maxNode else {
            return .unavailable(.unsupported("libnuma: numa_available() < 0 (kernel without NUMA)"))
        }
        return .value((0...maxNode).map { NumaNodeCpus(node: $0, cpus: Numa.cpus(ofNode: $0)) })
    }

    static func sysfsNodes(_ fs: Sysfs) -> Probed<[NumaNodeCpus]> {
        let dir = "/sys/devices/system/node"
        switch fs.list(dir) {
        case .value(let names):
            var nodes: [NumaNodeCpus] = []
            for name in names where name.hasPrefix("node") {
                guard let n = Int(name.dropFirst(4)) else { continue }
                let cpus = fs.string("\(dir)/\(name)/cpulist").value.flatMap(KernelText.cpuList) ?? []
                nodes.append(NumaNodeCpus(node: n, cpus: cpus))
            }
            return .value(nodes.sorted { $0.node < $1.node })
        case let other:
            return other.failure() ?? .value([])
        }
    }

    static func unameRelease() -> Probed<String> {
        var u = utsname()
        guard uname(&u) == 0 else {
            let e = Errno(rawValue: Glibc.errno)
            return .unavailable(Unavailable(.unreadable, "uname: \(e)", errno: e.rawValue))
        }
        // SAFETY: `utsname.release` is a fixed-size char array filled by uname(2); read as bytes up to its NUL.
        let release = withUnsafeBytes(of: u.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        return .value(release)
    }

    // MARK: perf

    func probePerf(isRoot: Bool) -> PerfFacts {
        let devices = "/sys/bus/event_source/devices"
        let sources = sysfs.list(devices)
        var pmus: [CorePmu] = []
        for name in ["cpu", "cpu_core", "cpu_atom"] where sources.value?.contains(name) == true {
            let dir = "\(devices)/\(name)"
            pmus.append(CorePmu(name: name, type: sysfs.int("\(dir)/type").probed,
                                branches: sysfs.int("\(dir)/caps/branches").probed,
                                maxPrecise: sysfs.int("\(dir)/caps/max_precise").probed))
        }
        let paranoid = sysfs.int("/proc/sys/kernel/perf_event_paranoid").probed
        let watchdog = sysfs.int("/proc/sys/kernel/nmi_watchdog").probed
        var (mount, mountedByProbe) = tracefsMount(isRoot: isRoot)
        if case .unavailable = mount { mountedByProbe = false }
        let tracepoint: Probed<Int>
        if let m = mount.value {
            // The mount point comes from /proc/self/mounts (a host path); resolve it under the probe root.
            tracepoint = sysfs.int("\(m)/events/kvm/kvm_msr/id").probed
        } else {
            tracepoint = .unavailable(.notProbed("tracefs is not mounted"))
        }
        logger.debug("perf", metadata: ["sources": "\(sources)", "corePmus": "\(pmus.map(\.name))",
                                        "paranoid": "\(paranoid)", "nmi_watchdog": "\(watchdog)",
                                        "tracefs": "\(mount)", "kvm_msr": "\(tracepoint)"])
        return PerfFacts(eventSources: sources.probed, corePmus: pmus, perfEventParanoid: paranoid,
                         nmiWatchdog: watchdog, tracefsMount: mount, tracefsMountedByProbe: mountedByProbe,
                         kvmMsrTracepointId: tracepoint)
    }

    /// Where tracefs is mounted; mounts it at /sys/kernel/tracing first when allowed and needed.
    func tracefsMount(isRoot: Bool) -> (Probed<String>, Bool) {
        let mounts = sysfs.raw("/proc/self/mounts")
        guard case .value(let text) = mounts else {
            return (mounts.failure() ?? .unavailable(.notProbed("/proc/self/mounts")), false)
        }
        if let m = KernelText.tracefsMount(fromMounts: text) { return (.value(m), false) }
        let target = "/sys/kernel/tracing"
        guard mountTracefs else {
            return (.unavailable(.absent("tracefs is not mounted (mount -t tracefs nodev \(target))")), false)
        }
        guard isRoot else {
            return (.unavailable(.absent("tracefs is not mounted, and mounting it needs root")), false)
        }
        if Glibc.mount("tracefs", target, "tracefs", 0, nil) != 0 {
            let e = Errno(rawValue: Glibc.errno)
            logger.warning("could not mount tracefs at \(target): \(e)")
            return (.unavailable(Unavailable(.absent, "tracefs is not mounted; mount(tracefs, \(target)) failed: \(e)",
                                             errno: e.rawValue)), false)
        }
        logger.info("mounted tracefs at \(target)")
        return (.value(target), true)
    }

    // MARK: MSRs (read-only)

    func probeMsrs(onlineCpus: [Int]) -> MsrFacts {
        let first = onlineCpus.first ?? 0
        let perfCaps: Probed<UInt64>
        switch openMsr(cpu: first) {
        case .device(let dev): perfCaps = readMsr(dev, MSR.perfCapabilities)
        case .failed(let u): perfCaps = .unavailable(u)
        }
        var debugctl: [CpuMsrValue] = []
        var debugctlFailure: Unavailable?
        for cpu in (onlineCpus.isEmpty ? [first] : onlineCpus) {
            switch openMsr(cpu: cpu) {
            case .device(let dev):
                switch readMsr(dev, MSR.debugctl) {
                case .value(let v): debugctl.append(CpuMsrValue(cpu: cpu, value: v))
                case .unavailable(let u): debugctlFailure = u
                }
            case .failed(let u): debugctlFailure = u
            }
            if debugctlFailure != nil { break }
        }
        logger.debug("msr", metadata: ["PERF_CAPABILITIES": "\(perfCaps)", "DEBUGCTL": "\(debugctl)"])
        return MsrFacts(cpu: first, perfCapabilities: perfCaps,
                        debugctl: debugctlFailure.map { .unavailable($0) } ?? .value(debugctl))
    }

    private func openMsr(cpu: Int) -> MsrOpen {
        do {
            return .device(try MsrDevice(cpu: cpu, root: sysfs.root))
        } catch {
            let path = sysfs.resolve("/dev/cpu/\(cpu)/msr")
            switch error.errno {
            case .noSuchFileOrDirectory, .noSuchAddressOrDevice, .notDirectory:
                return .failed(Unavailable(.absent, "msr driver not loaded: \(path) does not exist "
                                                + "(modprobe msr)", errno: error.errno.rawValue))
            case .permissionDenied, .notPermitted:
                return .failed(Unavailable(.unreadable, "\(path): \(error.errno) (needs CAP_SYS_RAWIO)",
                                                errno: error.errno.rawValue))
            default:
                return .failed(Unavailable(.unreadable, error.description, errno: error.errno.rawValue))
            }
        }
    }

    private func readMsr(_ dev: MsrDevice, _ index: UInt32) -> Probed<UInt64> {
        do {
            return .value(try dev.read(index))
        } catch {
            let why = error.errno == .ioError ? " (RDMSR faulted: MSR not implemented)" : ""
            return .unavailable(Unavailable(.unreadable, error.description + why, errno: error.errno.rawValue))
        }
    }

    // MARK: KVM

    /// The capabilities `caps` reports, in report order.
    public static let reportedCaps: [Kvm.Cap] = [
        .immediateExit, .x86UserSpaceMsr, .x86MsrFilter, .binaryStatsFd, .pmuCapability, .getMsrFeatures,
    ]
    /// Leaves kept from KVM_GET_SUPPORTED_CPUID.
    public static let supportedLeaves: [(UInt32, UInt32)] = [(0x1, 0), (0x7, 0), (0xa, 0), (0x1c, 0), (0x8000_0022, 0)]

    func probeKvm() -> KvmFacts {
        let modules = sysfs.list("/sys/module").map0 { names in names.filter { $0 == "kvm" || $0.hasPrefix("kvm_") } }
        var params: [ModuleParam] = []
        func param(_ module: String, _ name: String) {
            params.append(ModuleParam(module: module, name: name,
                                      value: sysfs.string("/sys/module/\(module)/parameters/\(name)").probed))
        }
        param("kvm", "enable_pmu")
        param("kvm", "ignore_msrs")
        let loaded = modules.value ?? []
        if loaded.contains("kvm_intel") { param("kvm_intel", "enable_mediated_pmu") }
        if loaded.contains("kvm_amd") {
            param("kvm_amd", "lbrv")
            param("kvm_amd", "enable_mediated_pmu")
        }

        let kvm: Kvm
        do {
            kvm = try Kvm(path: kvmDevice)
        } catch {
            let kind: Unavailable.Kind = error.errno == .noSuchFileOrDirectory || error.errno == .noSuchAddressOrDevice
                ? .absent : .unreadable
            let u = Unavailable(kind, "open(\(kvmDevice)): \(error.errno)", errno: error.errno.rawValue)
            let skipped = Unavailable.notProbed("\(kvmDevice) could not be opened")
            logger.debug("kvm unavailable", metadata: ["error": "\(error)"])
            return KvmFacts(device: kvmDevice, apiVersion: .unavailable(u),
                            capabilities: Self.reportedCaps.map { KvmCapValue(name: $0.name, number: $0.rawValue,
                                                                               value: .unavailable(skipped)) },
                            featureMsrs: .unavailable(skipped), supportedPerfCapabilities: .unavailable(skipped),
                            supportedCpuid: .unavailable(skipped), modules: modules.probed, parameters: params)
        }
        let api = Self.attempt { () throws(LinuxError) in try kvm.apiVersion() }
        let caps = Self.reportedCaps.map { cap in
            KvmCapValue(name: cap.name, number: cap.rawValue,
                        value: Self.attempt { () throws(LinuxError) in try kvm.checkExtension(cap) })
        }
        let featureMsrs = Self.attempt { () throws(LinuxError) in try kvm.featureMsrIndexList() }
        let perfCaps: Probed<UInt64>
        if let list = featureMsrs.value, !list.contains(MSR.perfCapabilities) {
            perfCaps = .unavailable(.unsupported("0x345 is not in KVM_GET_MSR_FEATURE_INDEX_LIST"))
        } else {
            perfCaps = Self.attempt { () throws(LinuxError) in try kvm.featureMsr(MSR.perfCapabilities) }
        }
        let cpuid = Self.attempt { () throws(LinuxError) in try kvm.supportedCPUID() }.map { entries in
            entries.filter { e in Self.supportedLeaves.contains { $0.0 == e.leaf && $0.1 == e.subleaf } }
        }
        logger.debug("kvm", metadata: ["api": "\(api)", "caps": "\(caps.map { "\($0.name)=\($0.value)" })",
                                       "PERF_CAPABILITIES": "\(perfCaps)", "modules": "\(modules)"])
        return KvmFacts(device: kvmDevice, apiVersion: api, capabilities: caps, featureMsrs: featureMsrs,
                        supportedPerfCapabilities: perfCaps, supportedCpuid: cpuid, modules: modules.probed,
                        parameters: params)
    }

    static func attempt<T>(_ body: () throws(LinuxError) -> T) -> Probed<T> {
        do { return .value(try body()) } catch {
            return .unavailable(Unavailable(.unreadable, error.description, errno: error.errno.rawValue))
        }
    }
}

/// The outcome of opening the msr device for one CPU.
enum MsrOpen {
    case device(MsrDevice)
    case failed(Unavailable)
}

extension FileRead {
    /// Keeps the failure, transforms the value.
    func map0<T>(_ f: (Value) -> T) -> FileRead<T> {
        switch self {
        case .value(let v): return .value(f(v))
        case .absent(let p): return .absent(path: p)
        case .unreadable(let p, let e): return .unreadable(path: p, errno: e)
        case .malformed(let p, let c): return .malformed(path: p, content: c)
        }
    }
    /// The reason for a failed read as a `Probed` of any type (nil for a value).
    func failure<T>() -> Probed<T>? {
        switch self {
        case .value: return nil
        case .absent(let p): return FileRead<T>.absent(path: p).probed
        case .unreadable(let p, let e): return FileRead<T>.unreadable(path: p, errno: e).probed
        case .malformed(let p, let c): return FileRead<T>.malformed(path: p, content: c).probed
        }
    }
}
