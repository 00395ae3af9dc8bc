// Captures judged again: a capture written from a hybrid run, decoded from its file form and judged by the verdict
// engine, gives byte-identical verdicts (phases, outcome, status, findings) to the run itself; the CLI round trip
// (`run --capture`, `judge`) agrees and `judge` refuses foreign input with exit 65.
import Foundation
import LbrBackends
import LbrCore
import LbrScenarios
import LbrTestSupport
import Testing

@Suite(.serialized) struct CaptureJudgeTests {
    /// The verdict part of a result, encoded (the shadow comparison is not part of a capture).
    static func verdictBytes(_ r: ScenarioResult) throws -> Data {
        struct V: Encodable { var phases: [PhaseVerdict]; var outcome: String; var status: String; var findings: [Finding] }
        let phases = r.phases.map { p -> PhaseVerdict in var q = p; q.shadow = nil; return q }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return try enc.encode(V(phases: phases, outcome: r.outcome.detail, status: r.status.rawValue,
                                findings: r.findings.filter { $0.kind != .modelDeparture }))
    }

    @Test(.enabled(if: Host.hybridAvailable, "needs /dev/kvm with user-space MSR exits and MSR filters"))
    func hybridCaptureJudgesToTheSameVerdicts() throws {
        let report = Host.run(try Backends.make(kind: .hybrid, model: "mainline", profile: Host.profile))
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let file = try enc.encode(RunCapture(report: report))
        let capture = try JSONDecoder().decode(RunCapture.self, from: file)
        #expect(capture.problem == nil && capture.runs.count == report.results.count)
        let judged = capture.rejudge(source: "test")
        #expect(judged.results.count == report.results.count)
        for (a, b) in zip(report.results, judged.results) {
            #expect(a.scenario == b.scenario)
            #expect(try Self.verdictBytes(a) == Self.verdictBytes(b), "\(a.scenario)")
        }
    }

    @Test(.enabled(if: Host.hybridAvailable, "needs /dev/kvm with user-space MSR exits and MSR filters"))
    func cliRunCaptureThenJudgeAgreeAndExpectWorks() throws {
        let cap = Cli.tempDir() + "/run.capture.json"
        let run = try Cli.run(["run", "--wait", "--backend", "hybrid", "--capture", cap, "--format", "tap"])
        #expect(run.code == 0, "\(run.stderr)")
        let judged = try Cli.run(["judge", cap, "--format", "tap", "--expect", repoRoot().appendingPathComponent("expectations/mainline.expect").path])
        #expect(judged.code == 0, "\(judged.stderr)")
        func lines(_ s: String) -> [String] { s.split(separator: "\n").map(String.init).filter { $0.hasPrefix("ok ") || $0.hasPrefix("not ok ") } }
        #expect(lines(judged.stdout).count == Catalog.defaultSet.count)
        #expect(lines(run.stdout) == lines(judged.stdout))
    }

    @Test func judgeRefusesForeignInputWithExit65() throws {
        let dir = Cli.tempDir()
        let bad = dir + "/bad.json"
        try "{\"schema\":\"lbrprobe.capture/0\",\"runs\":[]}".write(toFile: bad, atomically: true, encoding: .utf8)
        let r = try Cli.run(["judge", bad])
        #expect(r.code == 65 && r.stderr.hasPrefix("Error: \(bad): "), "\(r.stderr)")
        let missing = try Cli.run(["judge", dir + "/none.json"])
        #expect(missing.code == 65 && missing.stderr.contains("no such file"))
    }
}
