// The model's own choices (KernelVariant.modelChoices): each names real catalog scenarios, and the outcomes it
// claims to decide are the ones where the variant departs from the design it builds on.
import LbrBackends
import LbrCore
import LbrModel
import LbrReport
import LbrScenarios
import LbrTestSupport
import Testing

@Suite struct ModelChoiceTests {
    @Test func choicesNameCatalogScenarios() {
        for v in KernelVariant.allCases {
            for c in v.modelChoices {
                #expect(!c.decides.isEmpty && c.decides.allSatisfy { Catalog.named($0) != nil }, "\(v) \(c.kind)")
            }
        }
        #expect(KernelVariant.perfRequest.modelChoices.map(\.kind) == [.notifiesOnlyOnLbrUserClose])
        #expect(KernelVariant.pvLbrCtrl.modelChoices.map(\.kind) == [.guestNeverSetsPvActive])
        #expect(KernelVariant.mainline.modelChoices.isEmpty)
    }

    /// What each choice decides is visible: perf-request's ERROR vLBR waits for the release path where no host LBR
    /// user closes (its seed-2023 base re-enables on the next LBR access), and pv-lbr-ctrl loses the stack that
    /// mainline keeps across a switch with DEBUGCTL.LBR on.
    @Test func theDecidedOutcomesDepartFromTheBase() throws {
        func outcomes(_ v: KernelVariant, _ names: [String]) throws -> [String: String] {
            let r = ThisHost.run(try Backends.make(kind: .sim, model: v.name, profile: ThisHost.profile),
                                     names.compactMap(Catalog.named))
            return Dictionary(uniqueKeysWithValues: r.results.map { ($0.scenario, $0.outcome.code) })
        }
        let pr = try outcomes(.perfRequest, ["slot-contention", "counter-exhaustion", "recovery-paths"])
        let seed = try outcomes(.seed2023, ["slot-contention", "counter-exhaustion", "recovery-paths"])
        for s in ["slot-contention", "counter-exhaustion"] {
            #expect(pr[s] == "host-wins-vlbr-error+stays-errored" && seed[s] != pr[s], "\(s): \(pr[s] ?? "-") vs \(seed[s] ?? "-")")
        }
        #expect(pr["recovery-paths"] == "host-wins-vlbr-error+recovered(release-after-preemption)")
        let pv = try outcomes(.pvLbrCtrl, ["switch-retention"])
        let main = try outcomes(.mainline, ["switch-retention"])
        #expect(pv["switch-retention"] == "lost+lost" && main["switch-retention"] == "retained+lost")
    }

    @Test func theContractMarksTheDecidedOutcomes() throws {
        let runs = try [KernelVariant.mainline, .perfRequest].map {
            JsonReport.document(ThisHost.run(try Backends.make(kind: .sim, model: $0.name, profile: ThisHost.profile),
                                                     ["slot-contention", "guest-baseline"].compactMap(Catalog.named)))
        }
        let models = KernelVariant.allCases.map {
            ContractModelInfo(name: $0.name, summary: $0.summary, citation: $0.citation,
                              choices: $0.modelChoices.map { ContractModelChoice(kind: $0.kind.rawValue, summary: $0.summary, decides: $0.decides) })
        }
        // Wrapped prose: compare with runs of whitespace folded to one space.
        let md = try Contract.render(runs, models: models, format: .markdown).split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(md.contains("`host-wins-vlbr-error+stays-errored` (model's choice: `notifies-only-on-lbr-user-close`)"))
        #expect(md.contains("Model's choice `notifies-only-on-lbr-user-close`"))
    }
}
