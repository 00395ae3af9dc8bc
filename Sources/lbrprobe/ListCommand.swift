import ArgumentParser
import Foundation
import LbrBackends
import LbrCore
import LbrLinux
import LbrModel
import LbrReport
import LbrScenarios

/// `lbrprobe list`: scenarios, kernel models, and which backends this host can run.
struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the scenarios (with the question each answers), the kernel models, and the backends available here.")

    @OptionGroup var global: GlobalOptions

    @Option(help: "Output format: text, json (schema id lbrprobe.list/1).")
    var format: ListFormat = .text

    enum ListFormat: String, ExpressibleByArgument, CaseIterable { case text, json }

    /// `--format json` document (field names are the wire names).
    struct ListDocument: Codable {
        struct ScenarioEntry: Codable {
            var name, question, outcome_form, citation: String
            var in_default_set: Bool
            var phases: [String]
        }
        struct ModelChoiceEntry: Codable { var kind, summary: String; var decides: [String] }
        struct ModelEntry: Codable {
            var name, summary, citation: String; var `default`: Bool
            /// The model's own choices where its source is silent, and the scenarios whose outcome each decides.
            var model_choices: [ModelChoiceEntry]
        }
        struct BackendEntry: Codable { var kind: String; var available: Bool; var detail: String }
        var schema = "lbrprobe.list/1"
        var scenarios: [ScenarioEntry]
        var models: [ModelEntry]
        var backends: [BackendEntry]
        /// What `--backend auto` would pick here, and why (absent when nothing is available).
        var auto: String?
    }

    func run() throws {
        let logger = global.makeLogger("lbrprobe.list")
        if format == .json {
            let profile = HostProbe(mountTracefs: false, logger: logger).probe()
            var availability: [BackendKind: BackendAvailability] = [:]
            var backends: [ListDocument.BackendEntry] = []
            for k in BackendKind.allCases {
                let a = try Backends.make(kind: k, model: nil, profile: profile, logger: logger).availability()
                availability[k] = a
                backends.append(.init(kind: k.rawValue, available: a.isAvailable, detail: a.text))
            }
            let defaults = Set(Catalog.defaultSet.map(\.name))
            let doc = ListDocument(
                scenarios: Catalog.all.map { .init(name: $0.name, question: $0.question, outcome_form: $0.outcomeForm.description,
                                                   citation: $0.citation, in_default_set: defaults.contains($0.name),
                                                   phases: $0.phases.map(\.name)) },
                models: KernelVariant.allCases.map { .init(name: $0.name, summary: $0.summary, citation: $0.citation,
                                                           default: $0.name == Backends.defaultModel,
                                                           model_choices: $0.modelChoices.map {
                                                               .init(kind: $0.kind.rawValue, summary: $0.summary, decides: $0.decides) }) },
                backends: backends, auto: BackendSelection.auto(availability)?.text)
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try OutputTargets.emit(String(decoding: try enc.encode(doc), as: UTF8.self) + "\n")
            return
        }
        var out: [String] = []
        let w = Catalog.names.map(\.count).max() ?? 10
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }

        out.append("SCENARIOS (default set: \(Catalog.defaultSet.map(\.name).joined(separator: " ")))")
        for s in Catalog.all {
            out.append("  \(pad(s.name, w))  \(s.question)")
            out.append("  \(pad("", w))  outcome: \(s.outcomeForm); source: \(s.citation)")
        }
        out.append("")
        out.append("MODELS (--model, for hybrid and sim; default \(Backends.defaultModel))")
        let mw = Backends.modelNames.map(\.count).max() ?? 10
        for v in KernelVariant.allCases {
            out.append("  \(pad(v.name, mw))  \(v.summary)")
            out.append("  \(pad("", mw))  source: \(v.citation)")
            for c in v.modelChoices {
                out.append("  \(pad("", mw))  model's choice (\(c.kind.rawValue), decides \(c.decides.joined(separator: ", "))): \(c.summary)")
            }
        }
        out.append("")
        out.append("MODEL ERA OPTIONS (--model-era a,b for hybrid and sim; default current = today's mainline)")
        let ew = ModelEra.options.map(\.name.count).max() ?? 10
        for o in ModelEra.options {
            out.append("  \(pad(o.name, ew))  \(o.summary)")
            out.append("  \(pad("", ew))  source: \(o.citation)")
        }
        out.append("")
        out.append("BACKENDS (on this host)")
        let profile = HostProbe(mountTracefs: false, logger: logger).probe()
        var availability: [BackendKind: BackendAvailability] = [:]
        for k in BackendKind.allCases {
            let a = try Backends.make(kind: k, model: nil, profile: profile, logger: logger).availability()
            availability[k] = a
            if a.isAvailable {
                out.append("  \(pad(k.rawValue, 6))  available: \(a.text)")
            } else {
                let b = ReportSupport.blockerTexts(a.blockers)
                out.append("  \(pad(k.rawValue, 6))  unavailable (\(b.count) blocker\(b.count == 1 ? "" : "s")):")
                out += b.map { "  \(pad("", 6))  - \($0)" }
            }
        }
        if let pick = BackendSelection.auto(availability) {
            // The passed-over backends' blockers are listed just above: name them, not their blockers again.
            let over = pick.passedOver.map(\.backend.rawValue)
            out.append("  \(pad("auto", 6))  -> \(pick.chosen.rawValue)" + (over.isEmpty ? "" : " (\(over.joined(separator: ", ")) unavailable, above)"))
        }
        try OutputTargets.emit(out.joined(separator: "\n") + "\n")
    }
}
