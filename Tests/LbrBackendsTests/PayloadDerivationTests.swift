// The payload-branch derivation (PayloadProgram.trace, §9.3) against the real guest's control
// flow: the real payload is single-stepped under KVM_SET_GUEST_DEBUG (KVM_GUESTDBG_ENABLE|SINGLESTEP), every
// KVM_EXIT_DEBUG reports the next RIP, and the taken branches read off that trace must equal the derivation,
// command by command. A consecutive pair (a, b) is a taken branch when `a` is one of the payload's branch,
// call or ret instructions (guest.S EJ/ECALL/ERET rows) and `b` is its target (a ret: any call's return
// point); any other non-sequential step (b <= a, or b > a + 15, the longest x86 instruction) fails the test
// as an undeclared control transfer.
import CLbrGuest
import LbrBackends
import LbrCore
import LbrLinux
import LbrModel
import LbrTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized) struct PayloadDerivationTests {
    static let layout = LbrLayout.skylake

    static func kvmUsable() -> Bool { access("/dev/kvm", R_OK | W_OK) == 0 }

    /// Taken branches of a single-step trace that starts at `start` (the first instruction executed).
    static func takenBranches(start: UInt64, rips: [UInt64]) -> (taken: [(UInt64, UInt64)], undeclared: [(UInt64, UInt64)]) {
        let edges = Array(GuestPayload.edges.values)
        var target: [UInt64: UInt64] = [:]
        var isRet = Set<UInt64>()
        for e in edges {
            if e.returnPoint != 0 || e.to != e.from { target[e.from] = e.to } else { isRet.insert(e.from) }
        }
        let returnPoints = Set(edges.map(\.returnPoint).filter { $0 != 0 })
        var taken: [(UInt64, UInt64)] = [], undeclared: [(UInt64, UInt64)] = []
        var prev = start
        for b in rips {
            if let t = target[prev], b == t { taken.append((prev, b)) }
            else if isRet.contains(prev), returnPoints.contains(b) { taken.append((prev, b)) }
            else if b <= prev || b > prev + 15 { undeclared.append((prev, b)) }
            prev = b
        }
        return (taken, undeclared)
    }

    @Test(.enabled(if: kvmUsable(), "needs /dev/kvm"))
    func derivedBranchesMatchTheSingleSteppedGuest() throws {
        let handler: UserSpaceMsrHandler = { exit in exit.isWrite ? .ok : .value(0) }
        let vm: GuestVM
        do {
            var o = GuestVMOptions(cpu: ThisHost.cpu, layout: Self.layout, userSpaceMsr: handler, configureGuestLbr: false,
                                   msrExitRip: false)
            o.singleStep = true
            vm = try GuestVM(options: o)
        } catch {
            Issue.record("guest VM: \(error)"); return
        }
        defer { vm.close() }
        let commands: [GuestCommand] = [
            .readTsc, .enableLbr(freezeOnPmi: false), .branchPattern(count: 20), .branchPattern(count: 0),
            .probeTos(3), .writeTos(3), .readLbrStack, .spin(iterations: 5), .spin(iterations: 0),
            .rdmsr(MSR.lbrTos), .wrmsr(MSR.lbrSelect, 0), .disableLbr,
        ]
        var first = true
        var compared = 0
        for cmd in commands {
            let r = vm.run(cmd, timeout: .seconds(20))
            #expect(r.status == .ok, "\(cmd): \(r.status)")
            let rips: [UInt64]
            switch vm.lastStepTrace {
            case let .success(t): rips = t
            case let .failure(e):
                Issue.record("KVM_SET_GUEST_DEBUG single-step unavailable on this host: \(e)"); return
            }
            #expect(rips.count > 5, "\(cmd): only \(rips.count) single-step exits")
            let start = first ? GuestPayload.commandLoop : GuestPayload.edge(LBR_EDGE_LOOP).from
            let got = Self.takenBranches(start: start, rips: rips)
            #expect(got.undeclared.isEmpty, "\(cmd): control transfers not in the edge table: \(got.undeclared.prefix(4).map { "0x\(String($0.0, radix: 16))->0x\(String($0.1, radix: 16))" })")
            let request = try GuestMailbox.request(for: cmd, layout: Self.layout).get()
            let derived = PayloadProgram.trace(for: request, first: first).flatMap { item -> [(UInt64, UInt64)] in
                guard case let .branch(b) = item else { return [] }
                return Array(repeating: (b.from, b.to), count: Int(b.times))
            }
            let fmt: ([(UInt64, UInt64)]) -> String = { $0.map { "\(String($0.0, radix: 16))>\(String($0.1, radix: 16))" }.joined(separator: " ") }
            #expect(fmt(got.taken) == fmt(derived), "\(cmd): single-stepped vs derived taken branches")
            compared += derived.count
            first = false
        }
        #expect(compared > 500)
    }
}
