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
        let dir = Cli.tempDir()
        let cap = dir + "/run.capture.json", runJson = dir + "/run.json"
        let expect = repoRoot().appendingPathComponent("expectations/mainline.expect").path
        let run = try Cli.run(["run", "--wait", "--backend", "hybrid", "--capture", cap, "--json", runJson,
                               "--format", "tap", "--expect", expect])
        #expect(run.code == 0, "\(run.stderr)")
        let text = try String(contentsOfFile: cap, encoding: .utf8)
        #expect(text.hasPrefix("{") && text.contains("\"schema\":\"lbrprobe.capture/2\"") && text.contains("\"hostSampleRecords\""))
        // TAP: the whole output byte for byte (every scenario's verdict, evidence and expectation), but for the
        // run's own-model (shadow) lines: the shadow model's records are not part of a capture.
        let judged = try Cli.run(["judge", cap, "--format", "tap", "--expect", expect])
        #expect(judged.code == 0, "\(judged.stderr)")
        func lines(_ s: String) -> [String] { s.split(separator: "\n").map(String.init).filter { $0.hasPrefix("ok ") || $0.hasPrefix("not ok ") } }
        #expect(lines(judged.stdout).count == Catalog.defaultSet.count)
        func verdictText(_ s: String) -> String {
            s.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("# own model ") && !$0.hasPrefix("#   own model ") }
                .joined(separator: "\n")
        }
        #expect(verdictText(run.stdout) == verdictText(judged.stdout))
        #expect(!judged.stdout.contains("own model"))
        // JSON: every result entry identical but for the shadow comparison (the run's header says how it ran,
        // judge's which capture it read).
        let judgedJson = try Cli.run(["judge", cap, "--format", "json", "--expect", expect])
        #expect(judgedJson.code == 0, "\(judgedJson.stderr)")
        func results(_ s: String) throws -> [NSDictionary] {
            let o = try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any]
            let all = try #require(o?["results"] as? [[String: Any]])
            return all.map { r in
                var r = r
                r["shadow"] = nil
                r["phases"] = (r["phases"] as? [[String: Any]])?.map { p in var p = p; p["shadow"] = nil; return p }
                r["findings"] = (r["findings"] as? [[String: Any]])?.filter { $0["kind"] as? String != "model-departure" }
                return r as NSDictionary
            }
        }
        let fromRun = try results(String(contentsOfFile: runJson, encoding: .utf8)), fromJudge = try results(judgedJson.stdout)
        #expect(fromRun.count == Catalog.defaultSet.count && fromRun == fromJudge)
        // Text names the capture it judged.
        let runText = try Cli.run(["judge", cap])
        #expect(runText.code == 0 && runText.stdout.contains("capture \(cap)"))
    }

    /// A /1 capture (summaries only) is still read; its host samples are judged from the recorded summaries.
    @Test func judgeReadsVersionOneCaptures() throws {
        let dir = Cli.tempDir()
        let v1 = dir + "/v1.json"
        let doc = """
            {"schema":"lbrprobe.capture/1","backend":"hw","cpu":3,"kernelRelease":"6.18.0","runId":"r","runs":[\
            {"scenario":"host-first","repeatIndex":0,"repeats":1,"durationNs":1,"session":{"backend":"hw","cpu":3,"notes":[]},\
            "records":[{"phase":"contended","observations":[],"stepsCompleted":0,"startNs":0,"endNs":0}]}]}
            """
        try doc.write(toFile: v1, atomically: true, encoding: .utf8)
        let r = try Cli.run(["judge", v1])
        #expect(r.code == 0 && r.stdout.contains("lbrprobe.capture/1: host samples judged from the summaries it recorded"), "\(r.stdout)\(r.stderr)")
    }

    /// Hostile per-sample data: a stack index out of range, a malformed entry, a huge tid: exit 65, one line.
    @Test func judgeRefusesBadSampleRecords() throws {
        let dir = Cli.tempDir()
        func capture(_ batch: String) -> String {
            """
            {"schema":"lbrprobe.capture/2","backend":"hw","cpu":3,"kernelRelease":"6.18.0","runId":"r","runs":[\
            {"scenario":"host-first","repeatIndex":0,"repeats":1,"durationNs":1,"session":{"backend":"hw","cpu":3,"notes":[]},\
            "records":[{"phase":"contended","stepsCompleted":1,"startNs":0,"endNs":0,"observations":[{"timeNs":1,"basis":"hardware",\
            "observation":{"hostSampleRecords":{"_0":{"contender":"pinned-lbr-any-cycles","exactEdges":true,"batches":[\(batch)]}}}}]}]}]}
            """
        }
        for (i, batch) in [
            #"{"keep":{"every":{}},"stacks":[[1,2,3,4]],"records":[[1,2,3,7]]}"#,
            #"{"keep":{"every":{}},"stacks":[[1,2,3]],"records":[[1,2,3,0]]}"#,
            #"{"keep":{"every":{}},"stacks":[[1,2,3,4]],"records":[[1,99999999999,3,0]]}"#,
            #"{"keep":{"every":{}},"stacks":[[]],"records":[]}"#,
            #"{"keep":{"every":{}},"stacks":[[1,2,3,4]],"records":[[1,2,3]]}"#,
            #"{"keep":{"every":{}},"stacks":[],"records":[{"lost":18446744073709551615,"id":1},{"lost":18446744073709551615,"id":1}]}"#,
            #"{"keep":{"every":{}},"stacks":[[null,1,2,null]],"records":[[1,2,3,0]]}"#,
        ].enumerated() {
            let f = dir + "/bad\(i).json"
            try capture(batch).write(toFile: f, atomically: true, encoding: .utf8)
            let r = try Cli.run(["judge", f])
            #expect(r.code == 65 && r.stderr.hasPrefix("Error: \(f): ") && r.stderr.split(separator: "\n").count == 1, "\(batch): \(r.stderr)")
        }
        // A summary with counts no run can have (a /1 capture carries summaries only): refused, not summed.
        let huge = dir + "/huge.json"
        let summary = #"{"contender":"pinned-lbr-any-cycles","samples":9223372036854775807,"withBranches":0,"emptyBranches":0,"guestAddresses":0,"lost":0,"staleRepeats":0,"withHwIndex":0,"filteredOut":0,"throttled":0}"#
        try capture("").replacingOccurrences(of: #"{"hostSampleRecords":{"_0":{"contender":"pinned-lbr-any-cycles","exactEdges":true,"batches":[]}}}"#,
                                             with: #"{"hostSamples":{"_0":\#(summary)}}"#)
            .write(toFile: huge, atomically: true, encoding: .utf8)
        let h = try Cli.run(["judge", huge])
        #expect(h.code == 65 && h.stderr.contains("outside 0..."), "\(h.stderr)")
        // The same frame with a sound batch is judged.
        let good = dir + "/good.json"
        try capture(#"{"keep":{"every":{}},"stacks":[[1,2,3,4]],"records":[[1,2,3,0]]}"#).write(toFile: good, atomically: true, encoding: .utf8)
        // The summary is derived from the one sample (kept: `every`), as the detector would.
        let r = try Cli.run(["judge", good, "--evidence"])
        #expect(r.code == 0 && r.stdout.contains("host pinned-lbr-any-cycles: 1 samples, 1 with branches"), "\(r.stdout)\(r.stderr)")
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
