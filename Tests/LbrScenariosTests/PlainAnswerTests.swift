import Testing
import LbrCore
@testable import LbrScenarios

@Suite struct PlainAnswerTests {
    static let every: [Outcome] = [.guestWinsHostStarved, .hostWinsVlbrError, .coexist, .staysErrored, .guestTraced,
        .notTraced, .retained, .lost, .vlbrActive, .vlbrInactive, .noGuestLbr, .unsupported("x"), .inconclusive("y"),
        .error("z")] + RecoveryPath.allCases.map { .recovered($0, nil) }

    @Test func everyTermHasItsOwnClause() {
        let clauses = Self.every.map(\.plainClause)
        #expect(clauses.allSatisfy { !$0.isEmpty && !$0.hasSuffix(".") })
        #expect(Set(clauses).count == clauses.count, "two terms read the same")
        // Every code of the vocabulary is covered by `every` (a new term must get words here).
        #expect(Set(Self.every.map(\.code)) == Set(Outcome.allCodes))
    }

    @Test func sentencesSayWhoGotTheLbrsAndWhatRecovered() throws {
        let s = PlainAnswer.sentence(ScenarioOutcome([.hostWinsVlbrError,
                                                      .recovered(.lbrMsrAccess, RecoveryLatency(guestTscTicks: 9, exits: 3, guestCommands: 2))]),
                                     scenario: Catalog.named("recovery-paths"))
        #expect(s.hasPrefix("While contended, the host kept the LBRs"))
        #expect(s.contains("afterwards, the guest's LBR came back on the guest's next LBR MSR access, after 2 guest command(s) and 3 VM-exit(s)"))
        #expect(s.hasSuffix("."))
        let starved = PlainAnswer.sentence(ScenarioOutcome(.guestWinsHostStarved), scenario: Catalog.named("host-first"))
        #expect(starved == "The guest got the LBRs (its LBR writes stuck) and the host's LBR event was starved.")
        // The same answer twice is said once, with both cases named.
        let twice = PlainAnswer.sentence(ScenarioOutcome([.notTraced, .notTraced]), scenario: Catalog.named("guest-traced"))
        #expect(twice == "No guest branch addresses leaked into the host's LBR samples (both with the guest's DEBUGCTL.LBR off and with the guest's DEBUGCTL.LBR on).")
        // A backend-unavailable skip does not repeat the blockers.
        let b = ScriptedBackend(kind: .hw) { _, _ throws(BackendError) in [] }
        b.avail = .unavailable([.init(.noCorePmu, "a", ref: "§1"), .init(.kvmUnavailable, "b", ref: "§2")])
        let report = Runner(backend: b, options: RunOptions(kernelRelease: "6.18")).run([Catalog.guestBaseline])
        let r = try #require(report.results.first)
        #expect(r.notRun == .backendUnavailable && r.status == .skip)
        #expect(PlainAnswer.sentence(for: r) == "Not run: backend hw is unavailable on this host (its blockers are listed once, at the top).")
        // A reason that merely reads like the runner's is the backend's own skip: said as it is.
        let own = PlainAnswer.sentence(ScenarioOutcome(.unsupported("backend hw unavailable: a")), scenario: nil)
        #expect(own == "Not run: backend hw unavailable: a.")
    }

    /// The catalog carries its term labels typed; the printed form (`lbrprobe list`) is derived from them.
    @Test func outcomeFormsArePrintedFromTheirTermLabels() {
        #expect(Catalog.guestBaseline.outcomeForm.description == "vlbr-active | vlbr-inactive | no-guest-lbr")
        #expect(Catalog.hostFirst.outcomeForm.description == "<contended>[+<after>]")
        #expect(Catalog.recoveryPaths.outcomeForm.description == "<contended>+<recovered(path)|stays-errored>")
        #expect(Catalog.irqTakeover.outcomeForm.description == "<between-exits>+<while-running>")
        #expect(Catalog.hostFirst.outcomeForm.termLabels == [.contended, .after])
        #expect(Catalog.guestBaseline.outcomeForm.termLabels.isEmpty)
        // Each term of a two-term outcome is put in the words of its position.
        let both = ScenarioOutcome([.hostWinsVlbrError, .staysErrored])
        #expect(PlainAnswer.sentence(both, scenario: Catalog.hostFirst)
                == "While contended, \(Outcome.hostWinsVlbrError.plainClause); after the host event closed, \(Outcome.staysErrored.plainClause).")
    }
}

@Suite struct RunProgressTests {
    @Test func lineHasCountsElapsedEtaAndPhase() {
        let p = RunProgress(scenario: "host-first", scenarioIndex: 1, scenarioCount: 9, repeatIndex: 1, repeats: 2, phase: nil)
        #expect(p.runsDone == 3 && p.runsTotal == 18)
        #expect(p.line(elapsedNs: 3_000_000_000) == "lbrprobe [scenario 2/9 host-first, repeat 2/2] elapsed 3.0s, ETA 15.0s")
        #expect(p.with(phase: "contended").line(elapsedNs: 150_000_000_000)
                == "lbrprobe [scenario 2/9 host-first, repeat 2/2] elapsed 2m30s, ETA 12m30s, phase contended")
        let first = RunProgress(scenario: "a", scenarioIndex: 0, scenarioCount: 1, repeatIndex: 0, repeats: 1, phase: "p")
        #expect(first.line(elapsedNs: 0) == "lbrprobe [scenario 1/1 a] elapsed 0.0s, phase p", "no ETA before a run is done")
        #expect(RunProgress.duration(64_960_000_000) == "1m04s")
    }

    @Test func runnerReportsEveryRunAndPhaseInOrder() {
        final class Box { var seen: [RunProgress] = [] }
        let box = Box()
        let b = ScriptedBackend { (_: String, _: Step) throws(BackendError) -> [Observation] in [] }
        let scenarios = [Catalog.named("host-first")!, Catalog.named("recovery-paths")!]
        _ = Runner(backend: b, options: RunOptions(repeats: 2, kernelRelease: "t"), progress: { box.seen.append($0) }).run(scenarios)
        let starts = box.seen.filter { $0.phase == nil }
        #expect(starts.map(\.runsDone) == [0, 1, 2, 3])
        let phases = box.seen.filter { $0.scenario == "recovery-paths" && $0.repeatIndex == 0 }.compactMap(\.phase)
        #expect(phases == Catalog.named("recovery-paths")!.phases.map(\.name))
    }
}
