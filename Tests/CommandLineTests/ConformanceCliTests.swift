import LbrTestSupport
import Foundation
import Testing

/// At the CLI: what farm tools see from real invocations. The full tool matrix (tap.py, prove,
/// jsonschema, kcidb-io, junitparser + XSD, lava-common, docutils) is scripts/check-outputs.sh, run by
/// scripts/test.sh after the build.
@Suite(.serialized, .enabled(if: Cli.available, "the lbrprobe binary is not built next to the tests (swift build)"))
struct ConformanceCliTests {
    /// Runs a repository script with arguments; (exit code, stdout + stderr).
    static func script(_ path: String, _ args: [String], env: [String: String] = [:]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = repoRoot().appendingPathComponent(path)
        p.arguments = args
        p.currentDirectoryURL = repoRoot()
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        let out = Pipe()
        p.standardOutput = out; p.standardError = out
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self))
    }

    static func kcidbIds(_ path: String) throws -> Set<String> {
        let doc = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        return Set((doc["tests"] as! [[String: Any]]).map { $0["id"] as! String })
    }

    @Test func twoInvocationsGiveDisjointKcidbIds() throws {
        let dir = Cli.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for n in 1...2 {
            let r = try Cli.run(["run", "--backend", "sim", "--kcidb", "\(dir)/k\(n).json", "--kcidb-build-id", "farm:same-build"])
            #expect(r.code == 0, "\(r.stderr)")
        }
        let a = try Self.kcidbIds("\(dir)/k1.json"), b = try Self.kcidbIds("\(dir)/k2.json")
        #expect(a.count == 9 && b.count == 9)
        #expect(a.isDisjoint(with: b), "shared: \(a.intersection(b).sorted().prefix(2))")
        let uuid = #/lbrprobe:[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.sim\.mainline\.[a-z-]+/#
        #expect(a.allSatisfy { $0.wholeMatch(of: uuid) != nil }, "\(a.sorted().first ?? "")")
    }

    @Test func kcidbBuildIdMustBeAKcidbId() throws {
        let r = try Cli.run(["run", "guest-baseline", "--backend", "sim", "--kcidb-build-id", "Not An Id"])
        #expect(r.code == 64)
        #expect(r.stderr.contains("--kcidb-build-id must be a KCIDB id"), "\(r.stderr)")
    }

    @Test func ksftTapLevelSuppressesTheVersionLine() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try #require(Cli.binary))
        p.arguments = ["run", "guest-baseline", "--backend", "sim", "--format", "tap"]
        p.environment = ProcessInfo.processInfo.environment.merging(["KSFT_TAP_LEVEL": "1"]) { $1 }
        let out = Pipe()
        p.standardOutput = out; p.standardError = FileHandle.nullDevice
        try p.run()
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(o.hasPrefix("1..1\n"), "\(o.prefix(80))")
        #expect(!o.contains("TAP version"))
        let plain = try Cli.run(["run", "guest-baseline", "--backend", "sim", "--format", "tap"])
        #expect(plain.stdout.hasPrefix("TAP version 13\n1..1\n"))
    }

    @Test func hwSkipAllHasNoContradictingTotals() throws {
        let r = try Cli.run(["run", "--backend", "hw", "--format", "tap"])
        try #require(r.code == 4, "hw can run here (exit \(r.code)): nothing to check")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines[1].hasPrefix("1..0 # SKIP "))
        #expect(!r.stdout.contains("# Totals"))
        #expect(lines.allSatisfy { $0.utf8.count <= 1000 && $0.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7f } })
    }

    @Test(.enabled(if: ThisHost.hybridAvailable, "needs /dev/kvm with user-space MSR exits and MSR filters"))
    func tinyTimeoutIsSpelledAsGiven() throws {
        let r = try Cli.run(["run", "guest-traced", "--backend", "hybrid", "--timeout", "0.001", "--format", "tap"])
        #expect(r.code == 1, "\(r.stderr)")
        #expect(r.stdout.contains("not ok 1 guest-traced # TIMEOUT 0.001 seconds"), "\(r.stdout.suffix(200))")
    }

    /// README.md and docs/*.md examples are what lbrprobe prints now (scripts/gen-docs.sh --check).
    @Test func docsExamplesMatchCurrentOutput() throws {
        let (code, out) = try Self.script("scripts/gen-docs.sh", ["--check", "--bin", try #require(Cli.binary)])
        #expect(code == 0, "stale examples: run scripts/gen-docs.sh\n\(out)")
        #expect(out.contains("deterministic region(s) compared, 0 differ"), "\(out)")
    }

    /// The LAVA definition's step under /bin/sh: prebuilt binary, kselftest install, early failure (exit 65 =
    /// a failed lava-test-case), no binary, skip-all; never calls swift.
    @Test func lavaStepWorksUnderBinShInEveryMode() throws {
        let (code, out) = try Self.script("scripts/lava/selftest.sh", [try #require(Cli.binary)])
        #expect(code == 0, "\(out)")
        #expect(out.contains("prebuilt, kselftest, early failure, no binary, skip-all: ok"))
    }
}
