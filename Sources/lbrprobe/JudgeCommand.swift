import ArgumentParser
import Foundation
import LbrCore
import LbrReport
import LbrScenarios

/// `lbrprobe judge CAPTURE…`: derives the verdicts of captured runs again with this lbrprobe's verdict engine
/// (a capture taken once on an LBR host becomes a regression test of the detectors; docs/capture-format.md).
struct JudgeCmd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "judge",
        abstract: "Judge captured runs (lbrprobe run --capture FILE) again with today's detectors.",
        discussion: """
            Every captured scenario run is judged again from its observations and session facts; the report \
            has the formats of `run` (text, TAP, JSON) and --expect works as there. Exit status: 0 every \
            verdict passed; 1 a verdict failed, errored or missed its --expect entry; 65 a capture (or the \
            --expect file) is unreadable, malformed, of another format version or names a scenario this \
            lbrprobe does not know; 74 the report could not be written; 64 usage.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("Capture files written by `lbrprobe run --capture FILE`.", valueName: "CAPTURE"))
    var captures: [String]

    @Option(help: "Standard output format: \(RunFormat.allCases.map(\.rawValue).joined(separator: ", ")).")
    var format: RunFormat = .text

    @Option(help: "Expectation file (scenario[@model] outcome); a mismatch is a failure.")
    var expect: String?

    @Flag(help: "Text: add the evidence per phase.")
    var evidence = false

    func validate() throws {
        if captures.isEmpty { throw ValidationError("name at least one capture file") }
    }

    func run() throws {
        _ = global.makeLogger("lbrprobe.judge")
        OutputTargets.ignoreSigpipe()
        var expectations: ExpectationSet?
        if let expect { expectations = try ExpectInput.load(expect, allowEmpty: false) }
        var reports: [RunReport] = []
        for path in captures {
            let capture: RunCapture
            do { capture = try Self.read(path) } catch {
                printError("Error: \(path): \(error.message)")
                throw ExitCode(LbrExitCode.dataError.rawValue)
            }
            reports.append(capture.rejudge(expectations: expectations, expectFile: expect, source: path))
        }
        var report = reports[0]
        if reports.count > 1 {
            report.results = ScenarioResults(reports.flatMap { Array($0.results) })
            report.durationNs = reports.reduce(0) { $0 &+ $1.durationNs }
        }
        if let e = OutputTargets.writeStdout(report, format: format, evidence: evidence) {
            printError("Error: standard output: \(e)")
            throw ExitCode(LbrExitCode.ioError.rawValue)
        }
        let code = report.exitCode
        if code != .success { throw ExitCode(code.rawValue) }
    }

    struct ReadError: Error { var message: String }

    /// Reads and checks one capture file (CaptureReader: one-line errors).
    static func read(_ path: String) throws(ReadError) -> RunCapture {
        let bytes: [UInt8]
        do { bytes = try ExpectInput.readBytes(path, what: "a capture") } catch { throw ReadError(message: error.message) }
        do { return try CaptureReader.decode(bytes) } catch { throw ReadError(message: error.message) }
    }

    /// The capture of `report` as written by `run --capture`: compact JSON, sorted keys.
    static func encode(_ report: RunReport) throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try enc.encode(RunCapture(report: report)), as: UTF8.self) + "\n"
    }
}
