import Glibc
import LbrCore
import SystemPackage
import Testing
@testable import LbrLinux

/// Every contender of `LbrCore.Contender` opened on CPU 0: on this host (no core PMU) each must be a
/// SKIP naming "no core PMU" and the attribute tried — never a crash, never a silent success.
@Suite(.enabled(if: PerfAccess.full, "needs root or kernel.perf_event_paranoid <= 0 (CPU-wide and kernel-mode perf events)"))
struct PerfContenderTests {
    static let all: [Contender] = [
        .pinnedLbr, .flexibleLbr, .pinnedLbrIncludingGuest,
        .lbrEvent(pinned: true, mode: .callStack, excludeGuest: true, base: .instructions),
        .vlbrSlot, .counterExhaustion(gp: 4, fixed: 3), .lbrCallStackTask,
    ]

    @Test(arguments: all) func contenderOpensOrSkipsWithReason(_ c: Contender) throws {
        let outcome = try HostContenders.open(c, cpu: 0, mapRings: true)
        switch outcome {
        case let .opened(set):
            defer { set.close() }
            #expect(HostContenders.hasCorePmu(), "\(c.name) opened without a core PMU")
            #expect(set.events.count == c.attributes.count)
            #expect(set.events.map(\.attr) == c.attributes(samplePeriod: Contender.lbrSamplePeriod))
            let obs = try set.observe(since: [])
            #expect(obs.count == set.events.count)
        case let .skipped(reason, attr):
            if !HostContenders.hasCorePmu() {
                #expect(reason.hasPrefix("no core PMU"), "\(reason)")
                let tried = try #require(attr)
                #expect(tried == c.attributes(samplePeriod: Contender.lbrSamplePeriod)[0], "the first attribute is the one that fails")
                #expect(reason.contains(tried.description))
                #expect(reason.contains("ENOENT") || reason.contains("errno 2"), "\(reason)")
            }
        }
    }

    @Test func emptyCounterExhaustionIsSkippedWithReason() throws {
        let outcome = try HostContenders.open(.counterExhaustion(gp: 0, fixed: 0), cpu: 0)
        guard case let .skipped(reason, attr) = outcome else { Issue.record("opened nothing?"); return }
        #expect(attr == nil && reason.contains("CPUID.0xA"))
    }

    @Test func skipReasonOnlyForPmuAbsence() {
        let hw = Contender.vlbrSlot.attributes[0]
        let enoent = PerfOpenError(error: LinuxError(.noSuchFileOrDirectory, "x"), attr: hw, pid: -1, cpu: 0)
        #expect(HostContenders.skipReason(enoent, corePmu: false)?.hasPrefix("no core PMU") == true)
        let eopnotsupp = PerfOpenError(error: LinuxError(.init(rawValue: EOPNOTSUPP), "x"),
                                       attr: Contender.pinnedLbr.attributes[0], pid: -1, cpu: 0)
        #expect(HostContenders.skipReason(eopnotsupp, corePmu: true)?.contains("no LBR") == true)
        // Permission and invalid-argument failures are real errors, not SKIPs.
        let eacces = PerfOpenError(error: LinuxError(.permissionDenied, "x"), attr: hw, pid: -1, cpu: 0)
        #expect(HostContenders.skipReason(eacces, corePmu: false) == nil)
        // A software event failing with ENOENT is not "no core PMU".
        let sw = PerfOpenError(error: LinuxError(.noSuchFileOrDirectory, "x"),
                               attr: PerfAttr(type: .software, config: 0), pid: -1, cpu: 0)
        #expect(HostContenders.skipReason(sw, corePmu: false) == nil)
    }

    @Test func aggregateStateIsTheWorst() {
        func o(_ s: HostEventState) -> PerfEventObservation { PerfEventObservation(state: s, reading: nil, enabledDelta: 0, runningDelta: 0) }
        #expect(HostContenderSet.aggregate([o(.active), o(.active)]) == .active)
        #expect(HostContenderSet.aggregate([o(.active), o(.inactive)]) == .inactive)
        #expect(HostContenderSet.aggregate([o(.inactive), o(.error), o(.off)]) == .error)
        #expect(HostContenderSet.aggregate([o(.closed)]) == .closed)
        #expect(HostContenderSet.aggregate([]) == .closed)
    }
}
