import Foundation
import Testing

/// The built `lbrprobe` binary (next to the test bundle, or in .build/debug).
public enum Cli {
    public static let binary: String? = {
        var candidates: [String] = []
        let argv0 = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        candidates.append(argv0.appendingPathComponent("lbrprobe").path)
        candidates.append(argv0.deletingLastPathComponent().appendingPathComponent("lbrprobe").path)
        candidates.append(repoRoot().appendingPathComponent(".build/debug/lbrprobe").path)
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()
    public static var available: Bool { binary != nil }

    public struct Output: Sendable { public var code: Int32; public var stdout: String; public var stderr: String }

    public static func run(_ args: [String]) throws -> Output {
        let env = environment
        defer { removeLockDir(env) }
        return try run(args, env: env)
    }

    public static func run(_ args: [String], env: [String: String]) throws -> Output {
        let r = try runProcess(try #require(binary), args, environment: env, directory: repoRoot())
        return Output(code: r.code, stdout: r.stdout, stderr: r.stderr)
    }

    /// An environment for the binary with the per-CPU probe locks in a fresh directory, so tests
    /// running in parallel (and test runs of other checkouts) do not refuse each other's hybrid probes; the
    /// lock test shares one such environment between its processes. `removeLockDir` cleans it up.
    public static var environment: [String: String] {
        var e = ProcessInfo.processInfo.environment
        e["LBRPROBE_LOCK_DIR"] = NSTemporaryDirectory() + "lbrprobe-test-locks-\(getpid())-\(UUID().uuidString.prefix(8))"
        return e
    }

    public static func removeLockDir(_ env: [String: String]) {
        if let d = env["LBRPROBE_LOCK_DIR"] { try? FileManager.default.removeItem(atPath: d) }
    }

    public static func tempDir() -> String {
        let d = NSTemporaryDirectory() + "lbrprobe-cli-\(getpid())-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }
}

extension Cli {
    /// A CPU-lock directory of this suite's own: its hybrid runs neither wait for nor block other suites'
    /// (`LBRPROBE_LOCK_DIR`; the model answers hybrid's LBR MSRs, so runs on one CPU do not disturb each other).
    public static let lockDir: String = {
        let d = NSTemporaryDirectory() + "lbrprobe-presentation-locks-\(getpid())"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()

    /// `lbrprobe ARGS` with the shared lock directory of the presentation tests.
    public static func runPlain(_ args: [String]) throws -> Output { try runTool(try #require(binary), args) }

    /// Runs another tool (e.g. `script`) from the repository root, with this suite's lock directory.
    public static func runTool(_ tool: String, _ args: [String]) throws -> Output {
        var env = ProcessInfo.processInfo.environment
        env["LBRPROBE_LOCK_DIR"] = lockDir
        let r = try runProcess(tool, args, environment: env, directory: repoRoot())
        return Output(code: r.code, stdout: r.stdout, stderr: r.stderr)
    }
}

/// `s` as one word of a POSIX shell command line (single-quoted), for commands a tool such as `script -c` hands to
/// a shell: a checkout or temporary directory may have spaces or quotes in its path.
public func shellQuoted(_ s: String) -> String {
    "'" + s.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
}
