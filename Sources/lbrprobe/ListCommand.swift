import ArgumentParser
import LbrBackends
import LbrCore
import LbrLinux
import LbrModel
import LbrScenarios

/// `lbrprobe list`: scenarios, kernel models, and which backends this host can run.
struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the scenarios (with the question each answers), the kernel models, and the backends available here.")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let logger = global.makeLogger("lbrprobe.list")
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
            out.append("  \(pad(k.rawValue, 6))  \(a.isAvailable ? "available" : "unavailable"): \(a.text)")
        }
        if let pick = BackendSelection.auto(availability) {
            out.append("  \(pad("auto", 6))  -> \(pick.reason)")
        }
        print(out.joined(separator: "\n"))
    }
}
