import Foundation
import Testing

/// The real third-party checkers of scripts/conformance/check.py (tap.py, jsonschema, kcidb-io, junitparser,
/// docutils), for tests: run through the project's venv (`.build/conformance/venv`, made by
/// `scripts/check-outputs.sh --setup`, which scripts/test.sh runs before `swift test`), else a `python3` on
/// PATH that has the module. A test that needs a tool which is not installed is cancelled (reported as skipped,
/// with the reason), never passed: the suite stays runnable on a host without the network or the venv.
public enum ConformanceTools {
    /// An interpreter (with its leading arguments) that can import `module`, or nil.
    public static func python(for module: String) -> [String]? {
        let venv = repoRoot().appendingPathComponent(".build/conformance/venv/bin/python").path
        for cmd in [[venv], ["/usr/bin/env", "python3"]] where FileManager.default.isExecutableFile(atPath: cmd[0]) {
            if (try? run(cmd + ["-c", "import \(module)"]).code) == 0 { return cmd }
        }
        return nil
    }

    /// Runs `check.py SUBCOMMAND ARGS` with a Python that has `module`: its problem lines, empty when the tool
    /// accepts the input; one line naming the missing tool when it is not installed.
    public static func check(_ subcommand: String, _ args: [String], module: String) throws -> [String] {
        let py = try require(module)
        let script = repoRoot().appendingPathComponent("scripts/conformance/check.py").path
        do {
            let r = try run(py + [script, subcommand] + args)
            let lines = r.stdout.split(separator: "\n").map(String.init)
            switch r.code {
            case 0: return []
            case 1 where !lines.isEmpty: return lines
            default: return ["check.py \(subcommand) did not run (exit \(r.code)): \(r.stderr.suffix(500))"]
            }
        } catch {
            return ["cannot run check.py \(subcommand): \(error)"]
        }
    }

    private static let jsonschemaPython = python(for: "jsonschema")
    private static let docutilsPython = python(for: "docutils")
    private static let tapPython = python(for: "tap")

    /// An interpreter that has `module`; without one the running test is cancelled with the reason (skipped,
    /// not passed).
    public static func require(_ module: String) throws -> [String] {
        guard let py = cached(module) else {
            try Test.cancel("needs the Python package '\(module)', not installed here (scripts/check-outputs.sh --setup installs it)")
        }
        return py
    }

    /// `python(for:)`, looked up once per process for the modules the tests use.
    static func cached(_ module: String) -> [String]? {
        switch module {
        case "jsonschema": return jsonschemaPython
        case "docutils": return docutilsPython
        case "tap": return tapPython
        default: return python(for: module)
        }
    }

    /// docutils' complaints about an RST file (empty when it parses without warnings).
    public static func rstProblems(_ path: String) throws -> [String] { try check("rst", [path], module: "docutils") }

    /// tap.py's (and the kselftest rules') complaints about a TAP file.
    public static func tapProblems(_ path: String, skipAll: Bool = false) throws -> [String] {
        try check("tap", (skipAll ? ["--skip-all"] : []) + [path], module: "tap")
    }

    static func run(_ argv: [String]) throws -> (code: Int32, stdout: String, stderr: String) {
        let r = try runProcess(argv[0], Array(argv.dropFirst()))
        return (r.code, r.stdout, r.stderr)
    }
}

/// What a finished child process printed.
public struct ProcessOutput: Sendable {
    public var code: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs `tool` with `args` to completion (stdin /dev/null), collecting both outputs: the one child-process
/// runner of the test targets. `environment` nil inherits this process's; `directory` nil keeps the current one.
public func runProcess(_ tool: String, _ args: [String], environment: [String: String]? = nil,
                       directory: URL? = nil) throws -> ProcessOutput {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: tool)
    p.arguments = args
    if let environment { p.environment = environment }
    if let directory { p.currentDirectoryURL = directory }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out; p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return ProcessOutput(code: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                         stderr: String(decoding: e, as: UTF8.self))
}
