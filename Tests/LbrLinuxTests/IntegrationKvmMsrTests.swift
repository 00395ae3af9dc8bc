import Glibc
import LbrCore
import Testing
@testable import LbrLinux
import LbrTestSupport

/// With the real guest: `kvm:kvm_msr` on the vCPU thread counts exactly the MSR accesses the
/// payload makes (its `msrSequence`, up to a faulting access), and each RAW sample decodes to that access's
/// index, direction, data and exception. Accesses KVM delivers to user space (user-space MSR mode) fire none.
@Suite("Integration: kvm_msr vs the payload's MSR accesses (real KVM)", .serialized,
       .enabled(if: kvmAvailable && geteuid() == 0, "needs /dev/kvm and root (tracefs, kvm:kvm_msr)"))
struct IntegrationKvmMsrTests {
    static func tracer(tid: pid_t) throws -> KvmMsrTracer {
        let fs = try Tracefs.locate(mountIfAbsent: true)
        return try KvmMsrTracer(tracefs: fs, pid: tid, cpu: -1, sampling: true, ringPages: 16)
    }

    /// The accesses the payload performs for `cmd` given its result: `msrSequence`, cut after the access
    /// that faulted (the payload stops there). Here the faulting access is known from the command.
    static func performed(_ cmd: GuestCommand, layout: LbrLayout, faultsAt: Int?) throws -> [GuestMailbox.GuestMsrAccess] {
        let seq = try GuestMailbox.request(for: cmd, layout: layout).get().msrSequence
        guard let k = faultsAt else { return seq }
        return Array(seq.prefix(k + 1))
    }

    @Test func kvmMsrCountEqualsThePayloadsAccessesAndRawDecodes() throws {
        let vm = try GuestVM(options: GuestVMOptions(cpu: ThisHost.cpu, layout: .skylake, configureGuestLbr: false))
        defer { vm.close() }
        let t = try Self.tracer(tid: vm.vcpuThreadID)
        defer { t.close() }
        #expect(try t.count() == 0)
        // (command, index of the faulting access or nil, expected data per access (nil = any), exception per access)
        let cases: [(GuestCommand, Int?, [UInt64?], [Bool])] = [
            (.wrmsr(MSR.debugctl, DebugCtl.lbr), nil, [DebugCtl.lbr], [false]),     // in-kernel, no #GP (§1.9)
            (.rdmsr(MSR.debugctl), nil, [0], [false]),                               // reads back 0 here
            (.enableLbr(freezeOnPmi: true), nil, [DebugCtl.lbr | DebugCtl.freezeLbrsOnPmi, 0], [false, false]),
            (.disableLbr, nil, [0, 0], [false, false]),
            (.rdmsr(MSR.lastBranchFromIP), nil, [0], [false]),
            (.rdmsr(MSR.lbrNhmFrom), 0, [nil], [true]),                              // #GP: exception=1
            (.writeTos(3), 0, [3], [true]),                                          // WRMSR LBR_TOS #GP
            (.readLbrStack, 0, [nil], [true]),                                       // first access (TOS) #GP
            (.branchPattern(count: 8), nil, [], []),                                 // no MSR access
            (.spin(iterations: 50), nil, [], []),
            (.readTsc, nil, [], []),
        ]
        var total: UInt64 = 0
        var accesses = 0
        for (cmd, faultAt, data, exc) in cases {
            let before = try #require(try t.count())
            let r = vm.run(cmd, timeout: .seconds(5))
            if faultAt != nil { #expect(r.status.isFault, "\(cmd): \(r.status)") } else { #expect(r.status == .ok, "\(cmd): \(r.status)") }
            let want = try Self.performed(cmd, layout: vm.layout, faultsAt: faultAt)
            let after = try #require(try t.count())
            #expect(after - before == UInt64(want.count), "\(cmd): kvm_msr +\(after - before), payload made \(want.count) accesses")
            let (events, lost) = try t.drain()
            #expect(lost == 0)
            #expect(events.count == want.count, "\(cmd): \(events)")
            for (i, (e, w)) in zip(events, want).enumerated() {
                #expect(e.index == w.index, "\(cmd) #\(i): index 0x\(String(e.index, radix: 16))")
                #expect(e.isWrite == w.isWrite, "\(cmd) #\(i): write \(e.isWrite)")
                if i < data.count, let d = data[i] { #expect(e.data == d, "\(cmd) #\(i): data 0x\(String(e.data, radix: 16))") }
                if i < exc.count { #expect(e.exception == exc[i], "\(cmd) #\(i): exception \(e.exception)") }
                // The value a read returned to the guest is the one the trace reports.
                if !w.isWrite, r.status == .ok, case .rdmsr = cmd { #expect(r.values.first == e.data) }
            }
            total += after - before
            accesses += want.count
        }
        print("# kvm:kvm_msr on the vCPU thread: \(total) events for \(accesses) payload MSR accesses over \(cases.count) commands")
        #expect(total == UInt64(accesses))
        #expect(accesses == 10)
    }

    /// Accesses delivered to user space through KVM_CAP_X86_USER_SPACE_MSR (the MSR filter denies DEBUGCTL and
    /// the LBR MSRs) produce no kvm_msr event; an MSR outside the filter, handled in-kernel, still produces one.
    @Test func userSpaceMsrAccessesFireNoKvmMsrEvent() throws {
        let log = MsrLog()
        let vm = try GuestVM(options: GuestVMOptions(cpu: ThisHost.cpu, layout: .skylake, userSpaceMsr: { e in
            log.append(e)
            return e.isWrite ? .ok : .value(0x1234)
        }, configureGuestLbr: false))
        defer { vm.close() }
        let t = try Self.tracer(tid: vm.vcpuThreadID)
        defer { t.close() }
        let user: [GuestCommand] = [.rdmsr(MSR.lbrNhmFrom), .writeTos(3), .enableLbr(freezeOnPmi: false), .readLbrStack]
        var delivered = 0
        for c in user {
            let r = vm.run(c, timeout: .seconds(5))
            #expect(r.status == .ok, "\(c): \(r.status)")
            delivered += try GuestMailbox.request(for: c, layout: vm.layout).get().msrSequence.count
        }
        #expect(log.all.count == delivered)
        #expect(try t.count() == 0, "user-space MSR exits fired kvm_msr")
        #expect(try t.drain().accesses.isEmpty)
        // Outside the filter: in-kernel, traced.
        let r = vm.run(.rdmsr(MSR.lastBranchFromIP), timeout: .seconds(2))
        #expect(r.status == .ok)
        #expect(try t.count() == 1)
        let e = try t.drain().accesses
        #expect(e == [KvmMsrEvent(isWrite: false, index: MSR.lastBranchFromIP, data: 0, exception: false)])
        print("# user-space MSR mode: \(delivered) accesses delivered to the handler, 0 kvm_msr events; 1 in-kernel access, 1 event")
    }
}

extension GuestStatus {
    var isFault: Bool { if case .fault = self { return true }; return false }
}
