import ArgumentParser
import LbrCore
import LbrDocument
import LbrReport

/// `lbrprobe timeline RUN.json -o FILE`: draws a saved run as a self-contained SVG (a pure function of the
/// run document; `run --timeline FILE` draws the run it just made with the same renderer).
struct TimelineCmd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timeline",
        abstract: "Draw a saved run (lbrprobe run --format json) as a timeline picture (self-contained SVG).",
        discussion: """
            Per scenario, on one time axis: phases, timed steps, the vLBR state observed and predicted by the \
            model, passthrough, each host event, the guest's MSR results, kmsg lines, context switches (real and \
            the model's), notes and the outcome. RUN.json may be '-' (standard input). Exit status: 0 written; \
            65 the input is not a readable lbrprobe.run/3 document; 73 the output file could not be created \
            (no partial file is left); 74 writing it failed (standard output closed or full, ENOSPC); 64 usage \
            (also: the output names the input).
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("A run document (lbrprobe run --format json > RUN.json), or - for standard input.", valueName: "RUN.json"))
    var runFile: String

    @Option(name: [.short, .customLong("output")], help: "The SVG file to write (atomically); - for standard output.")
    var output: String

    func run() throws {
        _ = global.makeLogger("lbrprobe.timeline")
        if output != "-" { try OutputTargets.validate([("-o", output)], inputs: [("", runFile)]) }
        let doc: JsonReport.RunDocument
        do { doc = try RunDocumentReader.read(path: runFile) } catch {
            printError("Error: \(error)")
            throw ExitCode(error.exitCode.rawValue)
        }
        let svg = TimelineSvg.render(doc)
        if output == "-" { try OutputTargets.emit(svg); return }
        try OutputTargets.writeFile("-o", output, svg)
    }
}
