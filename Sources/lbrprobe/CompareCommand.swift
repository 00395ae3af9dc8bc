import ArgumentParser
import LbrCore
import LbrDocument
import LbrLinux
import LbrReport
import LbrScenarios

/// Output formats of `compare`.
enum CompareFormat: String, ExpressibleByArgument, CaseIterable {
    case text, markdown, json
    var format: Compare.Format { Compare.Format(rawValue: rawValue)! }
}

/// `lbrprobe compare`: what changed between saved runs (thin: the logic is `LbrReport.Compare`).
struct CompareRuns: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare saved run documents (lbrprobe run --format json): what changed between two runs, or a fleet matrix of many.",
        discussion: """
            Two documents: per scenario the outcome (majority and set over repeats), per phase the inferred vLBR \
            state, the model's ground truth and every signal's vote, findings that appeared or disappeared, and \
            timing shifts beyond noise (both sides ≥3 runs, medians ≥1.5x apart and ≥1 ms / 1000 TSC ticks, \
            interquartile ranges disjoint). Three or more (or --matrix): rows scenario, columns (kernel \
            release, host CPU, backend, model), cells that differ from the first column marked.
            Exit status: 0 same outcomes and findings; 1 an outcome changed, a scenario is in one document only, \
            or a finding appeared/disappeared; 64 usage (fewer than two documents, unknown --scenario); 65 a \
            document unreadable, truncated, not a run document (e.g. a caps document), of another schema version \
            (the message names it), or documents with no scenario in common; 74 standard output could not be written. Format: docs/run-format.md ("compare").
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Run documents: BASE.json NEW.json [MORE.json...] ('-' = standard input, once).")
    var documents: [String] = []

    @Option(help: "Output format: \(CompareFormat.allCases.map(\.rawValue).joined(separator: ", ")).")
    var format: CompareFormat = .text

    @Option(name: .customLong("scenario"), help: "Compare only this scenario (repeatable).")
    var scenarios: [String] = []

    @Flag(help: "Render a fleet matrix even for two documents.")
    var matrix = false

    func run() throws {
        if documents.count < 2 {
            printError("Error: compare needs at least two run documents (got \(documents.count)): lbrprobe compare BASE.json NEW.json [MORE.json...]")
            throw ExitCode(LbrExitCode.usage.rawValue)
        }
        if documents.filter(BoundedInput.isStandardInput).count > 1 {
            printError("Error: standard input ('-', /dev/stdin) can be given once only")
            throw ExitCode(LbrExitCode.usage.rawValue)
        }
        for s in scenarios where Catalog.named(s) == nil {
            printError("Error: unknown scenario '\(s)' (known: \(Catalog.names.joined(separator: ", ")))")
            throw ExitCode(LbrExitCode.usage.rawValue)
        }
        // The documents decode on libdispatch worker threads, whose creation libdispatch retries forever: fail
        // fast when no thread can be created.
        try ThreadCreation.require(count: 1, for: "the concurrent document reading")
        let inputs: [Compare.Input]
        do {
            // Documents decode concurrently; '-' (standard input, at most once) is read by one of the loads.
            inputs = try Compare.loadAll(paths: documents, detail: !Compare.isMatrix(count: documents.count, forced: matrix))
        } catch {
            printError("Error: \(error.description)")
            throw ExitCode(error.exitCode.rawValue)
        }
        let report: Compare.Report
        do {
            report = try Compare.run(inputs, scenarios: scenarios.isEmpty ? nil : Set(scenarios), matrix: matrix)
        } catch {
            printError("Error: \(error.message)")
            throw ExitCode(error.exitCode.rawValue)
        }
        try OutputTargets.emit(try Compare.render(report, format: format.format))
        if report.exitCode != .success { throw ExitCode(report.exitCode.rawValue) }
    }
}
