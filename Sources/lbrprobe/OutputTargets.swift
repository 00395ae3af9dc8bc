// Where the subcommands write: standard output and output files (--junit, --kcidb, --json, --timeline,
// --write-expect, contract/timeline -o), robustness.
//
// - Descriptors 0-2 closed at start were given /dev/null by the C shim's constructor (lbr_shim_stdfds.h);
//   a report meant for a standard output that was closed is reported as EBADF (exit 74), never lost silently.
// - SIGPIPE is ignored: a closed pipe on stdout (`| head -1`) is an EPIPE write error, after which the
//   output files are still written.
// - Every subcommand writes standard output through `Stdout` (never print(): stdio's buffer would drop a write
//   error at exit), with one contract: a failed write (closed, full, broken pipe) is one line and exit 74.
// - Output files go through `AtomicFile` (kernel link rules, O_EXCL temporaries under random names, renameat);
//   every target is checked before anything runs: refused targets exit 73, two outputs naming one file or an
//   output naming one of the inputs (device + inode) exit 64.
// Exit code: 74 (EX_IOERR) when writing any report failed (stdout or a file's data, ENOSPC included), else 73
// (EX_CANTCREAT) when an output file could not be created; either replaces the run's own code.

import ArgumentParser
import CLbrShim
import Foundation
import LbrCore
import LbrReport
import LbrScenarios

enum OutputTargets {
    /// Ignores SIGPIPE for the whole process (threads included): writes to a closed pipe fail with EPIPE.
    static func ignoreSigpipe() { _ = signal(SIGPIPE, SIG_IGN) }

    /// Whether descriptor `fd` (0-2) was closed when the process started.
    static func wasClosedAtStart(_ fd: Int32) -> Bool { lbr_stdfds_closed_at_start() & (1 << fd) != 0 }

    /// The first pair of outputs naming the same target, as a one-line usage error.
    static func samePathError(_ outputs: [(flag: String, path: String)]) -> String? {
        for i in outputs.indices {
            for j in outputs.indices where j > i && AtomicFile.sameTarget(outputs[i].path, outputs[j].path) {
                return "\(outputs[i].flag) \(outputs[i].path) and \(outputs[j].flag) \(outputs[j].path) name the same file; one report would overwrite the other"
            }
        }
        return nil
    }

    /// The first output naming one of the inputs (device + inode, whatever the spelling), as a one-line usage
    /// error: writing it would destroy what the run reads.
    static func inputClash(_ outputs: [(flag: String, path: String)], inputs: [(flag: String, path: String)]) -> String? {
        for o in outputs {
            for i in inputs where AtomicFile.outputIsInput(o.path, i.path) {
                return "\(o.flag) \(o.path) names the same file as the input \(i.flag.isEmpty ? "" : i.flag + " ")\(i.path); the report would overwrite it"
            }
        }
        return nil
    }

    /// Checks every output before anything runs: same file twice or an input (exit 64), a target that cannot
    /// take a report (exit 73). Prints one line and throws the exit code.
    static func validate(_ outputs: [(flag: String, path: String)], inputs: [(flag: String, path: String)] = []) throws {
        try checkClashes(outputs, inputs: inputs)
        try checkWritable(outputs)
    }

    /// The exit-64 half of `validate`.
    static func checkClashes(_ outputs: [(flag: String, path: String)], inputs: [(flag: String, path: String)]) throws {
        if let clash = samePathError(outputs) ?? inputClash(outputs, inputs: inputs) {
            printError("Error: \(clash)")
            throw ExitCode(LbrExitCode.usage.rawValue)
        }
    }

    /// The exit-73 half of `validate`.
    static func checkWritable(_ outputs: [(flag: String, path: String)]) throws {
        for (flag, path) in outputs {
            if let why = unwritable(path) {
                printError("Error: \(flag) \(path.isEmpty ? "''" : path): \(why)")
                throw ExitCode(LbrExitCode.cannotCreate.rawValue)
            }
        }
    }

    /// Why `path` cannot take a report (checked before the run), nil if it can.
    static func unwritable(_ path: String) -> String? {
        switch AtomicFile.classify(path) {
        case let .refused(why): return why
        case let .descriptor(fd):
            if fd <= 2 && wasClosedAtStart(fd) { return "descriptor \(fd) was closed when lbrprobe started" }
            return nil
        case .stream, .absent, .regular: return nil
        }
    }

    /// Writes a whole file output; one line and the exit code (73 cannot create, 74 write failed) on failure.
    static func writeFile(_ flag: String, _ path: String, _ text: String) throws {
        do { try AtomicFile.write(ReportSupport.withoutControls(text), to: path, stop: { Run.interruption() != nil }) } catch {
            printError("Error: \(flag) \(path): \(error)")
            throw ExitCode((error.isCreateFailure ? LbrExitCode.cannotCreate : .ioError).rawValue)
        }
    }

    /// Writes `text` to standard output; on failure one line and exit 74 (every subcommand's contract).
    static func emit(_ text: String) throws {
        if let e = writeStdout(ReportSupport.withoutControls(text)) {
            printError("Error: \(e)")
            throw ExitCode(LbrExitCode.ioError.rawValue)
        }
    }

    /// Writes the report to standard output; the failure, if any (EBADF when stdout was closed at start).
    static func writeStdout(_ text: String) -> ReportWriteError? {
        if wasClosedAtStart(1) {
            return ReportWriteError(path: "standard output", operation: "write", errno: EBADF,
                                    detail: "it was closed when lbrprobe started (>&-); the report was not shown (errno \(EBADF), EBADF)")
        }
        return AtomicFile.writeAll(1, Array(text.utf8), path: "standard output")
    }

    /// Collects write failures and turns them into the exit code.
    struct Failures {
        var io = false
        var create = false
        mutating func record(_ flag: String, _ e: ReportWriteError) {
            printError(flag.isEmpty ? "Error: \(e)" : "Error: \(flag): \(e)")
            if e.isCreateFailure { create = true } else { io = true }
        }
        var exitCode: LbrExitCode? { io ? .ioError : create ? .cannotCreate : nil }
    }
}

extension OutputTargets {
    /// Streams the report to standard output in `format` through a 64 KiB buffer (text and TAP are never held
    /// whole: `--repeat` reports stay out of memory); stops writing at the first failure and returns it.
    /// - Parameters: evidence, summary: the text form's `--evidence` / `--summary`.
    static func writeStdout(_ report: RunReport, format: RunFormat, evidence: Bool = false, summary: Bool = false) -> ReportWriteError? {
        if wasClosedAtStart(1) { return writeStdout("") }
        var failure: ReportWriteError?
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 16)
        func flush() {
            if failure == nil, !buffer.isEmpty { failure = AtomicFile.writeAll(1, buffer, path: "standard output") }
            buffer.removeAll(keepingCapacity: true)
        }
        let sink: (String) -> Void = { s in
            buffer.append(contentsOf: ReportSupport.withoutControls(s).utf8)
            if buffer.count >= 1 << 16 { flush() }
        }
        switch format {
        case .text: TextReport.render(report, evidence: evidence, summary: summary, to: sink)
        case .tap:
            // kselftest.h prints no version line when KSFT_TAP_LEVEL is set (a nested run inside a runner's stream).
            let nested = ProcessInfo.processInfo.environment["KSFT_TAP_LEVEL"] != nil
            TapReport.render(report, versionLine: !nested, to: sink)
        case .json:
            do { try JsonReport.render(report, to: sink) } catch {
                return ReportWriteError(path: "standard output", operation: "render", errno: nil, detail: "JSON encoding failed: \(error)")
            }
        }
        flush()
        return failure
    }
}
