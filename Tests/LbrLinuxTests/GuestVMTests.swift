import Synchronization
import Testing
import Foundation
import LbrTestSupport
import LbrCore
import SystemPackage
@testable import LbrLinux
import CLbrShim
#if canImport(Glibc)
import Glibc
#endif

let kvmAvailable = access("/dev/kvm", R_OK | W_OK) == 0

/// Building a guest VM fails with a typed cause the caller switches on (`GuestVMError`).
@Suite("GuestVM errors") struct GuestVMErrorTests {
    @Test func badOptionsAreATypedSystemError() {
        do {
            let vm = try GuestVM(options: GuestVMOptions(cpu: ThisHost.cpu, memoryBytes: 4096))
            vm.close()
            Issue.record("built a guest with 4 KiB of RAM")
        } catch {
            guard case let .system(e) = error else { Issue.record("\(error)"); return }
            #expect(e.errno == .invalidArgument && e.operation.contains("need a multiple of 2 MiB"))
        }
    }
}

@Suite("GuestVM (real KVM)", .serialized, .enabled(if: kvmAvailable, "needs read-write /dev/kvm"))
struct GuestVMTests {
    @Test func protocolConstantsAgree() {
        #expect(GuestPayload.protocolMismatches() == [])
    }

    @Test func bootsToLongModeAndRunsBranchPattern() throws {
        let vm = try GuestVM(options: GuestVMOptions(cpu: ThisHost.cpu))
        defer { vm.close() }
        let r = vm.run(.branchPattern(count: 40), timeout: .seconds(5))
        #expect(r.status == .ok)
        #expect(r.values == [40])
        #expect(r.tscEnd >= r.tscBegin)
        #expect(vm.branchSites.count == 16)
        for s in vm.branchSites { #expect(vm.payloadRange.contains(s.from) && vm.payloadRange.contains(s.to)) }
        let t = vm.run(.readTsc, timeout: .seconds(2))
        #expect(t.status == .ok && t.values.count == 1)
        print("setup:", vm.setup, "placement:", vm.memoryPlacement, "exits:", r.exits as Any)
    }
}

/// Thread-safe recorder for user-space MSR exits.
final class MsrLog: Sendable {
    private let items = Mutex<[MsrExit]>([])
    func append(_ e: MsrExit) { items.withLock { $0.append(e) } }
    var all: [MsrExit] { items.withLock { $0 } }
}

@Suite("GuestVM faults, MSRs and set-up (real KVM)", .serialized, .enabled(if: kvmAvailable, "needs read-write /dev/kvm"))
struct GuestVMFaultTests {
    @Test func rdmsrLbrFromWithoutUserSpaceMsrIsGPAtTheRdmsrSite() throws {
        let vm = try GuestVM(options: GuestVMOptions(cpu: ThisHost.cpu))
        defer { vm.close() }
        let r = vm.run(.rdmsr(MSR.lbrNhmFrom), timeout: .seconds(2))
        #expect(r.status == .fault(vector: 13, rip: GuestPayload.rdmsrSite))
        // The guest returned to its command loop: the VM is still usable.
        #expect(vm.run(.readTsc, timeout: .seconds(2)).status == .ok)
        // And the LBR stack read faults at the same instruction (first access: LBR_TOS).
        let s = vm.run(.readLbrStack, timeout: .seconds(2))
        #expect(s.status == .fault(vector: 13, rip: GuestPayload.rdmsrSite))
        #expect(s.stack == nil)
    }

    @Test func ud2ReportsVector6AtItsRip() throws {
        let vm = try GuestVM(options: GuestVMOptions(cpu: ThisHost.cpu))
        defer { vm.close() }
        let o = vm.execute(GuestMailbox.Request(opcode: .ud2), timeout: .seconds(2), host: nil)
        #expect(o.status == .fault(vector: 6, rip: GuestPayload.ud2Site))
        #expect(vm.run(.branchPattern(count: 3), timeout: .seconds(2)).status == .ok)
    }

    @Test func debugctlBehavesAsKvmAdvertises() throws {
        let vm = try GuestVM(options: GuestVMOptions(cpu: ThisHost.cpu))
        defer { vm.close() }
        let on = vm.run(.enableLbr(freezeOnPmi: true), timeout: .seconds(2))
        // §1.9: LBR/FREEZE bits are supported iff KVM advertises an LBR format and the guest PMU has LBR;
        // unsupported LBR bits are silently dropped (no #GP).
        #expect(on.status == .ok)
        #expect(on.values.count == 1)
        let lbrSupported = vm.setup.kvmLbrFormat != 0 && vm.setup.perfCapabilitiesWritten != nil
        if lbrSupported {
            #expect(on.values.first.map { $0 & DebugCtl.lbr } == DebugCtl.lbr)
        } else {
            #expect(on.values.first.map { $0 & (DebugCtl.lbr | DebugCtl.freezeLbrsOnPmi) } == 0)
        }
        let off = vm.run(.disableLbr, timeout: .seconds(2))
        #expect(off.status == .ok && off.values == [0])
        // LBR_TOS write/read back: #GP without a guest LBR layout (§1.3), else masked read-back.
        let tos = vm.run(.writeTos(5), timeout: .seconds(2))
        if lbrSupported { #expect(tos.status == .ok) } else {
            #expect(tos.status == .fault(vector: 13, rip: GuestPayload.wrmsrSite))
        }
    }

    @Test func userSpaceMsrModeDeliversEveryAccessToTheHandler() throws {
        let log = MsrLog()
        let layout = LbrLayout.skylake
        let vm = try GuestVM(options: GuestVMOptions(cpu: ThisHost.cpu, layout: layout, userSpaceMsr: { e in
            log.append(e)
            if e.isWrite { return e.index == MSR.lbrSelect ? .gp : .ok }
            return .value(0xABCD_0000 | UInt64(e.index))
        }))
        defer { vm.close() }
        let r = vm.run(.rdmsr(0x680), timeout: .seconds(2))
        #expect(r.status == .ok && r.values == [0xABCD_0680])
        #expect(log.all.map(\.index) == [0x680])
        #expect(log.all.first?.rip == GuestPayload.rdmsrSite)
        #expect(r.exits?.msrExits == 1)

        let s = vm.run(.readLbrStack, timeout: .seconds(5))
        #expect(s.status == .ok)
        let d = UInt32(layout.depth)
        let want: [UInt32] = [layout.tos] + (0..<d).map { layout.from + $0 } + (0..<d).map { layout.to + $0 }
            + (0..<d).map { layout.info! + $0 }
        #expect(log.all.dropFirst().map(\.index) == want)
        #expect(s.stack?.tos == 0xABCD_0000 | UInt64(layout.tos))
        #expect(s.stack?.from.first == 0xABCD_0680)
        #expect(s.stack?.info.count == layout.depth)
        #expect(s.exits?.msrExits == UInt64(want.count))

        let before = log.all.count
        let e = vm.run(.enableLbr(freezeOnPmi: false), timeout: .seconds(2))
        #expect(e.status == .ok && e.values == [0xABCD_0000 | UInt64(MSR.debugctl)])
        let tail = Array(log.all.dropFirst(before))
        #expect(tail.map(\.index) == [MSR.debugctl, MSR.debugctl])
        #expect(tail.first?.isWrite == true && tail.first?.value == DebugCtl.lbr)
        #expect(tail.first?.rip == GuestPayload.wrmsrSite)
        // The handler's #GP reaches the guest as vector 13 at the WRMSR.
        let gp = vm.run(.wrmsr(MSR.lbrSelect, 1), timeout: .seconds(2))
        #expect(gp.status == .fault(vector: 13, rip: GuestPayload.wrmsrSite))
        // An MSR outside the filter is still handled in-kernel (no handler call).
        let n = log.all.count
        #expect(vm.run(.rdmsr(MSR.lastBranchFromIP), timeout: .seconds(2)).status == .ok)
        #expect(log.all.count == n)
        #expect((vm.exitCounters()?.msrExits ?? 0) == UInt64(n))
    }

    @Test func loopingForeverEndsAsTimeoutWithinTheDeadline() throws {
        let vm = try GuestVM(options: GuestVMOptions(cpu: ThisHost.cpu))
        defer { vm.close() }
        let t0 = monotonicNs()
        let o = vm.execute(GuestMailbox.Request(opcode: .hang), timeout: .milliseconds(200), host: nil)
        let ms = (monotonicNs() - t0) / 1_000_000
        #expect(o.status == .timeout)
        #expect(ms >= 200 && ms < 700, "took \(ms) ms")
        let spin = vm.run(.spin(iterations: Int.max), timeout: .milliseconds(100))
        #expect(spin.status == .timeout)
        // Reset to the command loop: still usable.
        #expect(vm.run(.branchPattern(count: 5), timeout: .seconds(2)).status == .ok)
    }

    /// BRANCHES is bounded in the payload: a count above LBR_GUEST_MAX_BRANCHES (written past the codec) is
    /// rejected at once, never run; the bound itself runs.
    @Test func branchPatternAboveTheBoundIsRejected() throws {
        let vm = try GuestVM(options: GuestVMOptions(cpu: ThisHost.cpu))
        defer { vm.close() }
        let o = vm.execute(GuestMailbox.Request(opcode: .branches, arg0: UInt64(GuestMailbox.maxBranches) + 1),
                           timeout: .seconds(2), host: nil)
        guard case let .error(why) = o.status else { Issue.record("status \(o.status)"); return }
        #expect(why.contains("rejected"), "\(why)")
        let huge = vm.execute(GuestMailbox.Request(opcode: .branches, arg0: .max), timeout: .seconds(2), host: nil)
        if case .error = huge.status {} else { Issue.record("status \(huge.status)") }
        #expect(vm.run(.branchPattern(count: 5), timeout: .seconds(2)).status == .ok)
        #expect(GuestPayload.protocolMismatches().isEmpty)
    }

    @Test func tripleFaultEndsAsErrorWithTheShutdownReason() throws {
        let vm = try GuestVM(options: GuestVMOptions(cpu: ThisHost.cpu))
        defer { vm.close() }
        let o = vm.execute(GuestMailbox.Request(opcode: .tripleFault), timeout: .seconds(2), host: nil)
        guard case let .error(why) = o.status else { Issue.record("status \(o.status)"); return }
        #expect(why.contains("SHUTDOWN"))
        guard case let .error(next) = vm.run(.readTsc, timeout: .seconds(1)).status else { Issue.record("usable after shutdown"); return }
        #expect(next.contains("unusable"))
    }

    @Test func hostClosureRunsWhileTheVcpuIsInKvmRun() throws {
        let vm = try GuestVM(options: GuestVMOptions(cpu: ThisHost.cpu))
        defer { vm.close() }
        let seen = MsrLog()
        let r = vm.run(.spin(iterations: 3000), timeout: .seconds(5)) {
            // The vCPU thread is running the command: the command's result is not written yet.
            seen.append(MsrExit(index: 0, isWrite: false, value: 0, rip: nil, reason: 0))
        }
        #expect(r.status == .ok)
        #expect(seen.all.count == 1)
    }

    @Test func setUpOrderAgainstRealKvm() throws {
        let vm = try GuestVM(options: GuestVMOptions(cpu: ThisHost.cpu, configureGuestLbr: true))
        defer { vm.close() }
        let kvm = try Kvm()
        let supported = try kvm.featureMsr(MSR.perfCapabilities)
        #expect(vm.setup.kvmPerfCapabilities == supported)
        // Host family/model kept in the CPUID set (§2 step 1).
        let cpuid = try vm.guestCpuid()
        let leaf1 = try #require(cpuid.first { $0.leaf == 1 })
        let host = VcpuSetup.familyModel(lbr_cpuid(1, 0).eax)
        let guest = VcpuSetup.familyModel(leaf1.eax)
        #expect(guest.family == host.family && guest.model == host.model)
        #expect(vm.setup.guestModel == host.model)
        // PERF_CAPABILITIES (host-initiated, after CPUID): 0 is accepted.
        #expect(try vm.setMsrs([(MSR.perfCapabilities, 0)]) == 1)
        // A non-zero LBR format other than KVM's is refused (§2: must equal supported & 0x3f).
        let kvmFormat = supported & PerfCapabilities.lbrFormatMask
        let other: UInt64 = kvmFormat == 5 ? 3 : 5
        #expect(try vm.setMsrs([(MSR.perfCapabilities, other)]) == 0)
        if kvmFormat == 0 {
            #expect(vm.setup.perfCapabilitiesWritten == nil)
            #expect(vm.setup.perfCapabilitiesSkipReason != nil)
        } else {
            #expect(vm.setup.perfCapabilitiesWritten == supported)
            #expect(try vm.setMsrs([(MSR.perfCapabilities, supported)]) == 1)
        }
    }

    @Test func vcpuThreadIsPinnedAndDistinct() throws {
        let cpu = 1 < sysconf(Int32(_SC_NPROCESSORS_ONLN)) ? 1 : 0
        let vm = try GuestVM(options: GuestVMOptions(cpu: cpu))
        defer { vm.close() }
        #expect(vm.vcpuThreadID != lbr_gettid())
        let status = try #require(readText("/proc/self/task/\(vm.vcpuThreadID)/status"))
        let line = status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") }
        #expect(line?.split(separator: "\t").last.map(String.init) == "\(cpu)")
    }

    @Test func exitAccountingComesFromBinaryStats() throws {
        let vm = try GuestVM(options: GuestVMOptions(cpu: ThisHost.cpu))
        defer { vm.close() }
        let a = try #require(vm.exitCounters())
        let r = vm.run(.spin(iterations: 3000), timeout: .seconds(5))
        let b = try #require(vm.exitCounters())
        let per = try #require(r.exits)
        // Here `exits` counts emulator batch boundaries (~1 per 1,010 instructions): a 6,000-instruction
        // spin must show some; io_exits stays 0 because the emulator completes port I/O.
        #expect(per.exits >= 1)
        #expect(b.exits >= a.exits + per.exits)
        #expect(b.ioExits >= a.ioExits)
    }

    /// VM, vCPU, stats and memory fds and the vCPU thread are released by close(), by deinit and on failing
    /// paths. Runs in a child process (exit test) so no other suite's fds or threads blur the check.
    @Test func fdsAndThreadsAreReleasedAlsoOnFailure() async {
        await #expect(processExitsWith: .success) {
            let snap = ProcessSnapshot()
            for _ in 0..<3 {
                guard let vm = try? GuestVM(options: GuestVMOptions(cpu: ThisHost.cpu, userSpaceMsr: { _ in .gp })) else { exit(3) }
                _ = vm.run(.readTsc, timeout: .seconds(1))
                vm.close()
                vm.close() // idempotent
            }
            do { // deinit path
                guard let vm = try? GuestVM(options: GuestVMOptions(cpu: ThisHost.cpu)) else { exit(3) }
                _ = vm.run(.readTsc, timeout: .seconds(1))
            }
            // Failing paths: pinning to a CPU that does not exist (after VM + memory were created),
            // and bad memory size (before anything).
            if (try? GuestVM(options: GuestVMOptions(cpu: 4000))) != nil { exit(4) }
            if (try? GuestVM(options: GuestVMOptions(cpu: ThisHost.cpu, memoryBytes: 4096))) != nil { exit(5) }
            exitReportingLeaks(snap)
        }
    }
}


func readText(_ path: String) -> String? {
    guard let f = fopen(path, "r") else { return nil }
    defer { fclose(f) }
    var out = [UInt8]()
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n <= 0 { break }
        out += buf[0..<n]
    }
    return String(decoding: out, as: UTF8.self)
}

@Suite("Thread names", .serialized, .enabled(if: kvmAvailable, "needs read-write /dev/kvm"))
struct ThreadNameTests {
    static func comm(_ tid: pid_t) throws -> String {
        try String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func vcpuAndHogThreadsAreNamedInProc() throws {
        let vm = try GuestVM(options: GuestVMOptions(cpu: ThisHost.cpu))
        defer { vm.close() }
        #expect(try Self.comm(vm.vcpuThreadID) == "lbrprobe-vcpu0")
        let hog = try CpuHog(cpu: ThisHost.cpu)
        #expect(try Self.comm(hog.tid) == "lbrprobe-hog")
        _ = hog.stop()
        let task = try CpuHog(cpu: ThisHost.cpu, name: "lbrprobe-cstask-and-more")
        #expect(try Self.comm(task.tid) == "lbrprobe-cstask", "the kernel keeps 15 bytes")
        _ = task.stop()
        // top -H reads the same comm: every lbrprobe thread is findable by name.
        let names = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").compactMap { try? Self.comm(pid_t($0)!) }
        #expect(names.contains("lbrprobe-vcpu0"))
    }
}
