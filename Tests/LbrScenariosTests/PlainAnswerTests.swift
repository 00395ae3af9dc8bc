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

    @Test func sentencesSayWhoGotTheLbrsAndWhatRecovered() {
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
        #expect(twice == "No guest branch addresses leaked into the host's LBR samples (both with the guest's DEBUGCTL.LBR off and with DEBUGCTL.LBR on).")
        // A backend-unavailable skip does not repeat the blockers.
        let skip = PlainAnswer.sentence(ScenarioOutcome(.unsupported("backend hw unavailable: a [§1]; b [§2]")), scenario: nil)
        #expect(skip == "Not run: backend hw is unavailable on this host (its blockers are listed once, at the top).")
    }

    @Test func everyCatalogFormHasWordsForEachTermPosition() {
        for s in Catalog.all {
            let labels = PlainAnswer.termLabels(s.outcomeForm)
            for l in labels { #expect(PlainAnswer.context(l) != nil, "\(s.name): no words for <\(l)>") }
        }
    }
}
