// The tracing phases' branch pattern sized by time: sim and hybrid size it through the model's guest time
// (PayloadProgram.guestTimeNs) to at least 20 sample periods; its derived trace stays bounded and ends in the
// same LBR state as branch by branch; hybrid's real guest runs a bounded part and says so.
import LbrBackends
import LbrCore
import LbrLinux
import LbrModel
import LbrScenarios
import LbrTestSupport
import Testing

@Suite struct TracedPatternTests {
    @Test func modelSizesThePatternToTwentyPeriodsOfGuestTime() throws {
        let h = ModelHost(variant: try Backends.variant(named: "mainline"), cpu: 0)
        guard case let .branchPattern(n) = h.sized(.tracedPattern(periods: HostSampling.tracedPatternPeriods)) else {
            Issue.record("not sized into a branch pattern"); return
        }
        let target = UInt64(HostSampling.tracedPatternPeriods) * h.samplePeriodNs
        func ns(_ k: Int) -> UInt64 {
            PayloadProgram.guestTimeNs(for: GuestMailbox.Request(opcode: .branches, arg0: UInt64(k)), nsPerInstruction: 1)
        }
        #expect(ns(n) >= target && ns(n) - target < PayloadProgram.psPerPatternBranch(nsPerInstruction: 1) / 1_000 + 40)
        #expect(n > 16_384 && n <= GuestMailbox.maxBranches)
        // Every other command is left as is.
        #expect(h.sized(.branchPattern(count: 16)) == .branchPattern(count: 16))
    }

    /// A long pattern's trace lists only its last branches one by one: the LBRs end exactly as after every branch.
    @Test func longPatternTraceIsBoundedAndEndsInTheSameStack() throws {
        let n = 50_000
        let request = GuestMailbox.Request(opcode: .branches, arg0: UInt64(n))
        let trace = PayloadProgram.trace(for: request, first: true)
        #expect(trace.count < PayloadProgram.exactPatternTail + 16)
        let branches = trace.compactMap { if case let .branch(b) = $0 { return b }; return nil }
        let ring = PayloadProgram.branches(count: GuestPayload.branchSites.count)
        // Branch count (TOS movement) as branch by branch: the pattern plus the command's own branches.
        let small = PayloadProgram.trace(for: GuestMailbox.Request(opcode: .branches, arg0: 16), first: true)
        let smallCount = small.reduce(UInt64(0)) { if case let .branch(b) = $1 { return $0 + b.times }; return $0 }
        #expect(branches.reduce(0) { $0 + $1.times } == smallCount - 16 + UInt64(n))
        // The last pattern branches before the command's tail are the ring in order, ending at site (n-1) % 16.
        let tailStart = branches.count - 4  // jz to g_branches_end, call/ret emit, jmp g_ok
        let lastPattern = branches[tailStart - 1]
        let expected = ring[(n - 1) % ring.count]
        #expect(lastPattern.from == expected.from && lastPattern.to == expected.to)
        // The model records the same stack and TOS either way.
        func stack(_ bs: [GuestBranch]) throws -> [UInt64] {
            let h = ModelHost(variant: try Backends.variant(named: "mainline"), cpu: 0)
            let l = LbrLayout.skylake
            h.beginGuestCommand()
            _ = h.guestMsr(.write(MSR.debugctl, DebugCtl.lbr))
            h.guestTakenBranches(bs)
            return (0..<UInt32(l.depth)).flatMap { [h.guestMsr(.read(l.from + $0)).value, h.guestMsr(.read(l.to + $0)).value] }
                + [h.guestMsr(.read(l.tos)).value]
        }
        let exact = (0..<n).map { i -> GuestBranch in
            let s = ring[i % ring.count]; return GuestBranch(from: s.from, to: s.to, kind: .relJmp)
        }
        let patternOnly = branches.filter { b in ring.contains { $0.from == b.from && $0.to == b.to } }
        #expect(try stack(patternOnly) == stack(exact))
    }

    @Test(.enabled(if: ThisHost.hybridAvailable, "needs /dev/kvm with user-space MSR exits and MSR filters"))
    func hybridRunsABoundedRealPatternAndTheModelTheSizedOne() throws {
        let hybrid = try Backends.make(kind: .hybrid, model: "mainline", profile: ThisHost.profile)
        let sim = try Backends.make(kind: .sim, model: "mainline", profile: ThisHost.profile)
        let a = ThisHost.run(hybrid, [Catalog.guestTraced]), b = ThisHost.run(sim, [Catalog.guestTraced])
        let h = try #require(a.results.first), s = try #require(b.results.first)
        #expect(h.outcome == s.outcome)
        func patterns(_ r: ScenarioResult) -> [Int] {
            r.records.flatMap { $0.observations.compactMap {
                if case let .guest(g) = $0.observation, case let .branchPattern(n) = g.command { return n }; return nil } }
        }
        #expect(patterns(h) == patterns(s) && patterns(h).count == 2 && patterns(h).allSatisfy { $0 > KvmGuest.realPatternBranches })
        let notes = h.records.flatMap { $0.observations.compactMap { if case let .note(n) = $0.observation { return n }; return nil } }
        #expect(notes.filter { $0.hasPrefix("real guest ran branches(\(KvmGuest.realPatternBranches)) of the model's branches(") }.count == 2)
    }
}
