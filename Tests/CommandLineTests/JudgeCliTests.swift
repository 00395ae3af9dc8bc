// `run --capture FILE` then `judge FILE`: the same TAP verdict lines, --expect works; `judge` refuses foreign
// input with exit 65 and a one-line error.
import Foundation
import LbrScenarios
import LbrTestSupport
import Testing

@Suite(.serialized, .enabled(if: Cli.available, "the lbrprobe binary is not built next to the tests (swift build)"))
struct JudgeCliTests {
    @Test(.enabled(if: ThisHost.hybridAvailable, "needs /dev/kvm with user-space MSR exits and MSR filters"))
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
