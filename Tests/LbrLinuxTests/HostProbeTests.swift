import LbrTestSupport
import CLbrShim
import Foundation
import LbrCore
import SystemPackage
import Testing
@testable import LbrLinux

/// A throw-away directory tree standing in for /, so absence, unreadability and malformed content are testable.
final class FixtureRoot {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "lbrprobe-fixture-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    func write(_ rel: String, _ content: String) throws {
        let full = path + rel
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try content.write(toFile: full, atomically: false, encoding: .utf8)
    }
    func mkdir(_ rel: String) throws {
        try FileManager.default.createDirectory(atPath: path + rel, withIntermediateDirectories: true)
    }
}

/// Host CPUID of a recorded profile, as a CPUID source for HostProbe.
func cpuidSource(_ p: HostProfile) -> @Sendable (UInt32, UInt32) -> CpuidEntry {
    let leaves = p.cpuid.value ?? []
    return { leaf, sub in
        leaves.first { $0.leaf == leaf && $0.subleaf == sub } ?? CpuidEntry(leaf: leaf, subleaf: sub, eax: 0, ebx: 0, ecx: 0, edx: 0)
    }
}

@Suite struct HostProbeFixtureTests {
    @Test func emptyRootReportsEveryAbsenceWithoutCrashing() throws {
        let root = try FixtureRoot()
        var probe = HostProbe(root: root.path)
        probe.euid = { 1000 }
        let p = probe.probe()

        #expect(p.kvm.apiVersion.unavailable?.kind == .absent)
        #expect(p.kvm.apiVersion.unavailable?.errno == Errno.noSuchFileOrDirectory.rawValue)
        #expect(p.kvm.capabilities.allSatisfy { $0.value.unavailable?.kind == .notProbed })
        #expect(p.kvm.supportedPerfCapabilities.unavailable?.kind == .notProbed)
        #expect(p.kvm.modules.unavailable?.kind == .absent)
        #expect(p.kvm.parameter("kvm", "enable_pmu")?.value.unavailable?.kind == .absent)
        #expect(p.msr.perfCapabilities.unavailable?.kind == .absent)
        #expect(p.msr.perfCapabilities.unavailable?.detail.contains("msr driver not loaded") == true)
        #expect(p.msr.debugctl.unavailable?.kind == .absent)
        #expect(p.perf.eventSources.unavailable?.kind == .absent)
        #expect(p.perf.corePmus.isEmpty)
        #expect(p.perf.perfEventParanoid.unavailable?.kind == .absent)
        #expect(p.perf.nmiWatchdog.unavailable?.kind == .absent)
        #expect(p.perf.tracefsMount.unavailable?.kind == .absent)
        #expect(!p.perf.tracefsMountedByProbe)
        #expect(p.perf.kvmMsrTracepointId.unavailable?.kind == .notProbed)
        #expect(p.topology.onlineCpus.unavailable?.kind == .absent)
        #expect(p.topology.numaNodes.unavailable?.kind == .absent)
        #expect(p.kernelRelease.unavailable?.kind == .absent)
        #expect(p.privileges.euid == 1000)
        #expect(p.privileges.effectiveCapabilities.unavailable?.kind == .absent)

        let hw = Eligibility.hw(p)
        #expect(hw.blockers.map(\.code).contains(.kvmUnavailable))
        #expect(hw.blockers.map(\.code).contains(.kvmPmuUnknown))
        #expect(hw.blockers.map(\.code).contains(.noCorePmu))
        #expect(hw.blockers.map(\.code).contains(.noPerfmonPrivilege))   // euid 1000, no CapEff, paranoid unknown
        #expect(Eligibility.hybrid(p).blockers.map(\.code) == [.kvmUnavailable])
        #expect(Eligibility.sim(p).eligible)
    }

    @Test func populatedRootIsReadBackExactly() throws {
        let root = try FixtureRoot()
        let dev = "/sys/bus/event_source/devices"
        try root.write("\(dev)/cpu/type", "4\n")
        try root.write("\(dev)/cpu/caps/branches", "32\n")
        try root.write("\(dev)/cpu/caps/max_precise", "3\n")
        try root.mkdir("\(dev)/software")
        try root.write("/proc/sys/kernel/perf_event_paranoid", "-1\n")
        try root.write("/proc/sys/kernel/nmi_watchdog", "1\n")
        try root.write("/proc/sys/kernel/osrelease", "6.8.0-fixture\n")
        try root.write("/proc/self/status", "Name:\tlbrprobe\nCapEff:\t0000004000000000\n")
        try root.write("/proc/self/mounts", "proc /proc proc rw 0 0\ntracefs /sys/kernel/tracing tracefs rw 0 0\n")
        try root.write("/sys/kernel/tracing/events/kvm/kvm_msr/id", "1771\n")
        try root.write("/sys/module/kvm/parameters/enable_pmu", "Y\n")
        try root.write("/sys/module/kvm/parameters/ignore_msrs", "N\n")
        try root.write("/sys/module/kvm_intel/parameters/enable_mediated_pmu", "N\n")
        try root.write("/sys/devices/system/cpu/online", "0-3,6\n")
        try root.write("/sys/devices/system/node/node0/cpulist", "0-3\n")
        try root.write("/sys/devices/system/node/node1/cpulist", "6\n")
        try root.mkdir("/dev/cpu/0")   // the cpuid driver's directory exists, the msr node does not

        var probe = HostProbe(root: root.path)
        probe.euid = { 1000 }
        probe.cpuid = cpuidSource(RecordedProfiles.skylakeSP)
        let p = probe.probe()

        #expect(p.cpu?.model == 0x55)
        #expect(p.perf.eventSources.value == ["cpu", "software"])
        #expect(p.perf.corePmus == [CorePmu(name: "cpu", type: .value(4), branches: .value(32), maxPrecise: .value(3))])
        #expect(p.perf.perfEventParanoid.value == -1)
        #expect(p.perf.nmiWatchdog.value == 1)
        #expect(p.perf.tracefsMount.value == "/sys/kernel/tracing")
        #expect(p.perf.kvmMsrTracepointId.value == 1771)
        #expect(p.kernelRelease.value == "6.8.0-fixture")
        #expect(p.privileges.effectiveCapabilities.value == 1 << 38)
        #expect(p.privileges.hasCapPerfmon && !p.privileges.hasCapSysAdmin && !p.privileges.isRoot)
        #expect(p.kvm.modules.value == ["kvm", "kvm_intel"])
        #expect(p.kvm.parameter("kvm", "enable_pmu")?.boolValue == true)
        #expect(p.kvm.parameter("kvm_intel", "enable_mediated_pmu")?.boolValue == false)
        #expect(p.kvm.parameter("kvm_amd", "lbrv") == nil)   // kvm_amd not loaded: not reported
        #expect(p.topology.onlineCpus.value == [0, 1, 2, 3, 6])
        #expect(p.topology.numaNodes.value == [NumaNodeCpus(node: 0, cpus: [0, 1, 2, 3]), NumaNodeCpus(node: 1, cpus: [6])])
        #expect(p.msr.cpu == 0)
        #expect(p.msr.perfCapabilities.unavailable?.kind == .absent)

        let hw = Eligibility.hw(p)
        #expect(!hw.blockers.map(\.code).contains(.noPerfmonPrivilege))   // CAP_PERFMON
        #expect(!hw.blockers.map(\.code).contains(.noCorePmu))
        #expect(hw.blockers.map(\.code).contains(.kvmUnavailable))        // no <root>/dev/kvm
        #expect(hw.has(.nmiWatchdogCounter))
        #expect(hw.has(.hostLbrFormatUnknown))
    }

    @Test func unreadableAndMalformedFilesAreDistinguished() throws {
        let root = try FixtureRoot()
        // A directory where a file is expected: open succeeds, read fails with EISDIR (works even as root).
        try root.mkdir("/proc/sys/kernel/perf_event_paranoid")
        try root.write("/proc/sys/kernel/nmi_watchdog", "maybe\n")
        try root.write("/sys/module/kvm/parameters/enable_pmu", "perhaps\n")
        try root.write("/proc/self/status", "Name:\tx\n")
        let p = HostProbe(root: root.path).probe()

        let paranoid = try #require(p.perf.perfEventParanoid.unavailable)
        #expect(paranoid.kind == .unreadable)
        #expect(paranoid.errno == Errno.isDirectory.rawValue)
        #expect(p.perf.nmiWatchdog.unavailable?.kind == .malformed)
        #expect(p.perf.nmiWatchdog.unavailable?.detail.contains("maybe") == true)
        #expect(p.kvm.parameter("kvm", "enable_pmu")?.boolValue == nil)
        #expect(Eligibility.hw(p).blockers.map(\.code).contains(.kvmPmuUnknown))
        #expect(p.privileges.effectiveCapabilities.unavailable?.kind == .malformed)
    }

    @Test func sysfsReaders() throws {
        let root = try FixtureRoot()
        try root.write("/a/int", " 42\n")
        try root.write("/a/yes", "Y\n")
        try root.write("/a/one", "1")
        try root.write("/a/no", "N\n")
        let fs = Sysfs(root: root.path)
        #expect(fs.resolve("/a/int") == root.path + "/a/int")
        #expect(Sysfs().resolve("/proc") == "/proc")
        #expect(fs.int("/a/int").value == 42)
        #expect(fs.bool("/a/yes").value == true)
        #expect(fs.bool("/a/one").value == true)
        #expect(fs.bool("/a/no").value == false)
        #expect(fs.int("/a/yes") == .malformed(path: root.path + "/a/yes", content: "Y"))
        #expect(fs.int("/a/missing") == .absent(path: root.path + "/a/missing"))
        #expect(fs.int("/a/int/below-a-file") == .absent(path: root.path + "/a/int/below-a-file"))
        #expect(fs.string("/a") == .unreadable(path: root.path + "/a", errno: .isDirectory))
        #expect(fs.list("/a").value == ["int", "no", "one", "yes"])
        #expect(fs.exists("/a/int") && !fs.exists("/a/nope"))
    }
}

/// The probe on this machine: every fact is compared with an independent read of the same source.
@Suite(.serialized) struct HostProbeLiveTests {
    static let profile = HostProbe().probe()
    static var kvmOpens: Bool { access("/dev/kvm", R_OK | W_OK) == 0 }

    @Test func cpuidMatchesTheShim() throws {
        let cpu = try #require(Self.profile.cpu)
        let l1 = lbr_cpuid(1, 0)
        let l7 = lbr_cpuid(7, 0)
        #expect(cpu.pdcm == (l1.ecx & (1 << 15) != 0))
        #expect(cpu.hypervisor == (l1.ecx & (1 << 31) != 0))
        #expect(cpu.stepping == l1.eax & 0xf)
        #expect(cpu.family == CpuidDecode.signature(eax: l1.eax).family)
        if lbr_cpuid(0, 0).eax >= 7 {
            #expect(cpu.archLbr == (l7.edx & (1 << 19) != 0))
            #expect(cpu.hybrid == (l7.edx & (1 << 15) != 0))
        }
        let l0 = lbr_cpuid(0, 0)
        #expect(cpu.vendorString == CpuidDecode.vendorString(CpuidEntry(leaf: 0, eax: l0.eax, ebx: l0.ebx, ecx: l0.ecx, edx: l0.edx)))
        // /proc/cpuinfo is the kernel's own decoding of the same leaves.
        if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
            func field(_ name: String) -> String? {
                info.split(separator: "\n").first { $0.hasPrefix(name) }.map { KernelText.trim($0.split(separator: ":")[1]) }
            }
            #expect(field("vendor_id") == cpu.vendorString)
            #expect(field("cpu family") == "\(cpu.family)")
            #expect(field("model\t") == "\(cpu.model)")
        }
    }

    @Test func kvmFactsEqualDirectIoctls() throws {
        let p = Self.profile
        guard Self.kvmOpens else {
            #expect(p.kvm.apiVersion.unavailable != nil)
            return
        }
        let kvm = try Kvm()
        #expect(p.kvm.apiVersion.value == (try kvm.apiVersion()))
        for cap in p.kvm.capabilities {
            let c = try #require(Kvm.Cap(rawValue: cap.number))
            #expect(cap.value.value == (try kvm.checkExtension(c)), "\(cap.name)")
        }
        #expect(p.kvm.featureMsrs.value == (try kvm.featureMsrIndexList()))
        if p.kvm.featureMsrs.value?.contains(MSR.perfCapabilities) == true {
            #expect(p.kvm.supportedPerfCapabilities.value == (try kvm.featureMsr(MSR.perfCapabilities)))
        }
        let supported = try kvm.supportedCPUID()
        // Leaf 1 EBX[31:24] is the APIC ID of whichever CPU made the ioctl: compare everything else.
        func stable(_ e: CpuidEntry?) -> CpuidEntry? { e.map { var e = $0; e.ebx &= 0x00ff_ffff; return e } }
        #expect(stable(p.kvm.supportedLeaf(1)) == stable(supported.first { $0.leaf == 1 }))
        #expect(p.kvm.supportedLeaf(0xa) == supported.first { $0.leaf == 0xa })
    }

    @Test func sysfsFactsEqualTheFiles() throws {
        let p = Self.profile
        func read(_ path: String) -> String? { (try? String(contentsOfFile: path, encoding: .utf8)).map(KernelText.trim) }
        #expect(p.kvm.parameter("kvm", "enable_pmu")?.value.value == read("/sys/module/kvm/parameters/enable_pmu"))
        #expect(p.perf.perfEventParanoid.value.map(String.init) == read("/proc/sys/kernel/perf_event_paranoid"))
        #expect(p.perf.nmiWatchdog.value.map(String.init) == read("/proc/sys/kernel/nmi_watchdog"))
        let hasCpuPmu = FileManager.default.fileExists(atPath: "/sys/bus/event_source/devices/cpu")
            || FileManager.default.fileExists(atPath: "/sys/bus/event_source/devices/cpu_core")
        #expect(p.perf.corePmus.isEmpty == !hasCpuPmu)
        let msrNode = FileManager.default.fileExists(atPath: "/dev/cpu/\(p.msr.cpu)/msr")
        #expect((p.msr.perfCapabilities.unavailable?.kind == .absent) == !msrNode)
        #expect(p.topology.onlineCpus.value?.count == sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #expect(p.privileges.euid == geteuid())
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        #expect(p.kernelRelease.value == release)
        if let nodes = p.topology.numaNodes.value {
            #expect(Set(nodes.flatMap(\.cpus)).isSuperset(of: p.topology.onlineCpus.value ?? []))
        }
    }

    @Test func eligibilityFollowsFromTheProbedValues() {
        let p = Self.profile
        let hw = Eligibility.hw(p)
        let codes = Set(hw.blockers.map(\.code))
        #expect(codes.contains(.kvmPmuDisabled) == (p.kvm.parameter("kvm", "enable_pmu")?.boolValue == false))
        #expect(codes.contains(.noCorePmu) == p.perf.corePmus.isEmpty)
        if let caps = p.kvm.supportedPerfCapabilities.value {
            #expect(codes.contains(.kvmNoLbrFormat) == (caps & 0x3f == 0))
        }
        #expect(codes.contains(.kvmIntelNotLoaded) == (p.kvm.modules.value.map { !$0.contains("kvm_intel") } ?? false))
        #expect(codes.contains(.archLbr) == (p.cpu?.archLbr == true && p.cpu?.vendor == .intel))
        #expect(codes.contains(.notIntel) == (p.cpu?.vendor != .intel))
        #expect(hw.has(.hostLbrFormatUnknown) == (p.msr.perfCapabilities.value == nil))
        let hybridOK = p.kvm.apiVersion.value != nil
            && ["KVM_CAP_IMMEDIATE_EXIT", "KVM_CAP_X86_USER_SPACE_MSR", "KVM_CAP_X86_MSR_FILTER"]
                .allSatisfy { (p.kvm.capability($0)?.value.value ?? 0) != 0 }
        #expect(Eligibility.hybrid(p).eligible == hybridOK)
        #expect(Eligibility.sim(p).eligible)
    }

    @Test func msrDeviceIsReadOnlyByConstruction() throws {
        // There is no write path: the source opens O_RDONLY and only preads.
        let src = try String(contentsOfFile: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Sources/LbrLinux/MsrDevice.swift").path, encoding: .utf8)
        let code = src.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("///") }.joined()
        #expect(code.contains("O_RDONLY"))
        for forbidden in ["pwrite", "O_RDWR", "O_WRONLY", "Glibc.write"] { #expect(!code.contains(forbidden), "\(forbidden)") }
        do {
            let dev = try MsrDevice(cpu: 0)
            _ = try? dev.read(MSR.tsc)   // present only with the msr driver and CAP_SYS_RAWIO
        } catch {
            #expect([.noSuchFileOrDirectory, .noSuchAddressOrDevice, .permissionDenied, .notPermitted].contains(error.errno))
        }
    }
}
