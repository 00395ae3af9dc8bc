// Parts of the contract a maintainer needs to read the answers: the outcome legend, the caveats lbrprobe knows
// about its own scenarios and models, and the appendix with the raw guest TSC ranges that the summary tables
// leave out.

import Foundation
import LbrCore
import LbrDocument
import LbrScenarios

extension Builder {
    /// Every outcome term the answers use, with what it means.
    func legend() -> ContractSection {
        let terms: [Outcome] = [.guestWinsHostStarved, .hostWinsVlbrError, .coexist]
            + RecoveryPath.allCases.map { .recovered($0, nil) }
            + [.staysErrored, .guestTraced, .notTraced, .retained, .lost, .vlbrActive, .vlbrInactive, .noGuestLbr]
        return ContractSection("Outcome legend", [
            .paragraph("An outcome is one term per phase the scenario judges, joined by `+` (for example `host-wins-vlbr-error+stays-errored`: contended, then after the host event closed). `recovered(...)` may carry a cost in guest TSC ticks, VM-exits and guest commands."),
            .table(ContractTable(caption: "Outcome terms", header: ["Term", "Meaning"],
                                 rows: terms.map { ["`\($0.code)`", ContractText.literal($0.plainClause)] })),
        ])
    }

    /// What lbrprobe itself says is not settled: scenarios and models whose citations are `unverified`, and
    /// the limits of a model-made answer.
    func caveats() -> ContractSection {
        var items: [String] = []
        if !isHw {
            items.append("Every answer rests on model `\(modelName)`: host perf, KVM's vLBR, the LBR contents the guest read and the kernel messages were played by the model, not measured; the model is lbrprobe's reading of upstream source (docs/reference.md), and where a real host disagrees, the host is right.")
        }
        for s in Catalog.all where s.citationStatus == .unverified {
            items.append("`\(s.name)`: " + ContractText.literal(s.citation))
        }
        for m in models where m.citationStatus == .unverified && all.contains(where: { $0.model == m.name }) {
            items.append("model `\(m.name)`: " + ContractText.literal(m.citation))
        }
        if items.isEmpty { items.append("None recorded for these documents.") }
        return ContractSection("Caveats", [.bullets(items)])
    }

    /// The guest TSC range of every judged phase, kept out of the summary tables.
    func tscAppendix() -> ContractSection {
        var rows: [[String]] = []
        for r in folded.examples {
            for p in r.phases {
                guard let m = p.measures, let b = m.guest_tsc_begin else { continue }
                rows.append(["`\(r.test_name)`", "`\(p.name)`", "\(b)", "\(m.guest_tsc_end ?? b)"])
            }
        }
        if rows.isEmpty { rows.append(["-", "-", "no guest TSC recorded", "-"]) }
        return ContractSection("Appendix: guest TSC per phase", [
            .paragraph("Raw guest TSC values (first command's start, last command's end) of each phase of the primary document, for matching against a trace" + (folded.repeatedRuns.scenarios > 0 ? " (of the example runs of repeated scenarios)." : ".")),
            .table(ContractTable(caption: "Guest TSC per phase", header: ["Scenario", "Phase", "Start", "End"], rows: rows)),
        ])
    }
}
