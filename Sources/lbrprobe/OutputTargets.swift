// Where `run` writes: standard output and the --junit / --kcidb files (robustness).
//
// - Descriptors 0-2 closed at start were given /dev/null by the C shim's constructor (lbr_shim_stdfds.h);
//   a report meant for a standard output that was closed is reported as EBADF (exit 74), never lost silently.
// - SIGPIPE is ignored: a closed pipe on stdout (`| head -1`) is an EPIPE write error, after which the
//   --junit / --kcidb files are still written.
// - Output files go through `AtomicFile` (atomic replace for regular files, write-through for devices and
//   FIFOs, symlinks followed); two outputs naming the same target are a usage error (64) before anything runs.
// Exit code: 74 (EX_IOERR) when writing any report failed (stdout or a file's data), else 73 (EX_CANTCREAT)
// when an output file could not be created; either replaces the run's own code, since a report was lost.

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

    /// Why `path` cannot take a report (checked before the run), nil if it can.
    static func unwritable(_ path: String) -> String? {
        switch AtomicFile.classify(path) {
        case let .refused(why): return why
        case let .descriptor(fd):
            if fcntl(fd, F_GETFD) < 0 || (fd <= 2 && wasClosedAtStart(fd)) { return "descriptor \(fd) is not open" }
            return nil
        case .stream: return nil
        case .absent: return directoryProblem(path)
        case let .regular(resolved): return directoryProblem(resolved)
        }
    }

    static func directoryProblem(_ path: String) -> String? {
        let dir = (path as NSString).deletingLastPathComponent
        let d = dir.isEmpty ? "." : dir
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: d, isDirectory: &isDir), isDir.boolValue else {
            return "directory \(d) does not exist"
        }
        if access(d, W_OK) != 0 { return "directory \(d) is not writable (\(String(cString: strerror(errno))))" }
        return nil
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
            buffer.append(contentsOf: s.utf8)
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
