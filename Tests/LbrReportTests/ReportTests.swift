import LbrTestSupport
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import LbrDocument
import LbrCore
@testable import LbrScenarios
@testable import LbrReport

@Suite struct RunReportFixtureTests {
    @Test func fixtureCoversEveryStatus() {
        let r = Fixtures.mixedReport()
        let byName = Dictionary(uniqueKeysWithValues: r.results.map { ($0.scenario, $0) })
        #expect(byName["guest-baseline"]?.status == .pass)
        #expect(byName["guest-baseline"]?.expectation == .met(expected: "vlbr-active", line: 2))
        #expect(byName["slot-contention"]?.status == .fail)           // expected coexist, got host-wins…
        #expect(byName["slot-contention"]?.outcome.code == "host-wins-vlbr-error+stays-errored")
        #expect(byName["counter-exhaustion"]?.status == .skip)
        #expect(byName["irq-takeover"]?.status == .error)
        #expect(byName["switch-retention"]?.status == .timeout)
        #expect(byName["host-first"]?.outcome.code == "guest-wins-host-starved")
        #expect(r.exitCode == .failure)
        #expect(r.totals.total == Catalog.all.count)
    }

    @Test func exitCodeMapping() {
        #expect(Fixtures.unavailableReport().exitCode.rawValue == 4)
        let b = ReportFixtureBackend()
        let ok = Runner(backend: b, options: RunOptions(kernelRelease: "x")).run([Catalog.guestBaseline, Catalog.hostFirst])
        #expect(ok.exitCode.rawValue == 0)
        b.unsupported = ["guest-baseline": "r", "host-first": "r"]
        let none = Runner(backend: b, options: RunOptions(kernelRelease: "x")).run([Catalog.guestBaseline, Catalog.hostFirst])
        #expect(none.exitCode == .skip)
        b.unsupported = ["guest-baseline": "r"]
        let some = Runner(backend: b, options: RunOptions(kernelRelease: "x")).run([Catalog.guestBaseline, Catalog.hostFirst])
        #expect(some.exitCode == .success)
    }
}

@Suite struct JsonReportTests {
    func schema() throws -> SchemaValidator {
        let s = try JSONSerialization.jsonObject(with: Data(try repoFile("docs/run.schema.json").utf8)) as! [String: Any]
        return SchemaValidator(schema: s)
    }

    @Test func outputValidatesAgainstTheRepoSchema() throws {
        let v = try schema()
        for report in [Fixtures.mixedReport(), Fixtures.unavailableReport()] {
            let json = try JsonReport.render(report)
            let obj = try JSONSerialization.jsonObject(with: Data(json.utf8))
            let errors = try v.validate(obj)
            #expect(errors.isEmpty, "\(errors.prefix(10))")
            let top = obj as! [String: Any]
            #expect(top["schema"] as? String == "lbrprobe.run/3")
        }
    }

    @Test func interruptedRunValidatesAndSaysWhichSignal() throws {
        let v = try schema()
        for sig in Interruption.allCases {
            var report = Fixtures.mixedReport()
            report.interruption = sig
            let obj = try JSONSerialization.jsonObject(with: Data(try JsonReport.render(report).utf8)) as! [String: Any]
            let errors = try v.validate(obj)
            #expect(errors.isEmpty, "\(errors.prefix(5))")
            #expect(obj["interrupted"] as? String == sig.rawValue)
            #expect(obj["exit_code"] as? Int == Int(sig.exitCode.rawValue))
        }
        let calm = try JSONSerialization.jsonObject(with: Data(try JsonReport.render(Fixtures.mixedReport()).utf8)) as! [String: Any]
        #expect(calm["interrupted"] == nil)
    }

    @Test func validatorRejectsBrokenDocuments() throws {
        let v = try schema()
        var doc = try JSONSerialization.jsonObject(with: Data(try JsonReport.render(Fixtures.mixedReport()).utf8)) as! [String: Any]
        doc["schema"] = "lbrprobe.run/1"
        doc["surprise"] = 1
        var results = doc["results"] as! [[String: Any]]
        results[0]["status"] = "maybe"
        results[1].removeValue(forKey: "outcome")
        results[2]["repeat"] = 0
        results[3]["test_name"] = "bad name"
        doc["results"] = results
        let errors = try v.validate(doc)
        // Messages are the real jsonschema package's.
        #expect(errors.contains { $0.hasPrefix("/schema: ") && $0.contains("'lbrprobe.run/3' was expected") }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("/: ") && $0.contains("'surprise' was unexpected") })
        #expect(errors.contains { $0.hasPrefix("/results/0/status") })
        #expect(errors.contains { $0.hasPrefix("/results/1: ") && $0.contains("'outcome' is a required property") })
        #expect(errors.contains { $0.hasPrefix("/results/2/repeat") })
        #expect(errors.contains { $0.hasPrefix("/results/3/test_name") })
    }

    @Test func recoveryLatencyAndEvidenceAreInTheDocument() throws {
        let b = ReportFixtureBackend()
        b.inactive = []
        let r = Runner(backend: b, options: RunOptions(kernelRelease: "x")).run([Catalog.hostFirst])
        let d = JsonReport.document(r)
        let p = d.results[0].phases.first { $0.name == "contended" }!
        #expect(p.inferred == .active)
        #expect(p.agreeing.contains(.tosReadback))
        #expect(p.ground_truth?.vlbr == .active)
        #expect(p.ground_truth?.agrees_with_inference == true)
        #expect(d.totals.pass == 1)
    }
}

@Suite struct TapReportTests {
    @Test func tapFollowsKtapConventions() {
        let report = Fixtures.mixedReport(kind: .hw)  // hardware results: plain scenario names
        let tap = TapReport.render(report)
        let p = KtapParse(tap)
        #expect(p.errors.isEmpty, "\(p.errors)")
        #expect(p.version == "TAP version 13")
        #expect(p.plan == Catalog.all.count)
        #expect(p.results.map(\.name) == Catalog.names)
        for r in p.results { #expect(r.name.wholeMatch(of: #/[A-Za-z0-9_.-]+/#) != nil) }
        let skip = p.results.first { $0.name == "counter-exhaustion" }!
        #expect(skip.ok && skip.directive == "SKIP" && skip.directiveText.contains("CPUID.0xA"))
        #expect(!skip.directiveText.contains("#"))
        let timeout = p.results.first { $0.name == "switch-retention" }!
        #expect(!timeout.ok && timeout.directive == "TIMEOUT" && timeout.directiveText == "45 seconds")
        let err = p.results.first { $0.name == "irq-takeover" }!
        #expect(!err.ok && err.directive == "ERROR")
        let fail = p.results.first { $0.name == "slot-contention" }!
        #expect(!fail.ok && fail.directive == nil)
        #expect(p.diagnostics.contains { $0.contains("FAIL: expected coexist, got host-wins-vlbr-error+stays-errored") })
        #expect(p.diagnostics.contains { $0.contains("[tos-readback => active]") })
        #expect(p.diagnostics.last == "Totals: pass:6 fail:2 xfail:0 xpass:0 skip:1 error:1")
        #expect(tap.unicodeScalars.allSatisfy { $0.isASCII })
    }

    @Test func nothingRunnableIsOnePlanZeroSkip() {
        let tap = TapReport.render(Fixtures.unavailableReport())
        let p = KtapParse(tap)
        #expect(p.errors.isEmpty, "\(p.errors)")
        #expect(p.plan == 0 && p.results.isEmpty)
        #expect(p.planSkipReason?.hasPrefix("no LBR: no Intel PMU") == true)
    }

    @Test func repeatsGetUniqueNumberedNames() {
        let b = ReportFixtureBackend()
        b.kind = .hw; b.modelName = nil
        let r = Runner(backend: b, options: RunOptions(repeats: 2, kernelRelease: "x")).run([Catalog.guestBaseline, Catalog.hostFirst])
        let p = KtapParse(TapReport.render(r, evidence: false))
        #expect(p.errors.isEmpty)
        #expect(p.results.map(\.name) == ["guest-baseline.r1", "guest-baseline.r2", "host-first.r1", "host-first.r2"])
        #expect(p.diagnostics.contains("distribution guest-baseline: vlbr-active=2"))
    }

    @Test func parserCatchesBrokenTap() {
        #expect(!KtapParse("TAP version 13\n1..2\nok 1 a\nok 3 b\n").errors.isEmpty)
        #expect(!KtapParse("1..1\nok 1 a\n").errors.isEmpty)
        #expect(!KtapParse("TAP version 13\n1..2\nok 1 a\n").errors.isEmpty)
        #expect(!KtapParse("TAP version 13\n1..1\nok 1 a # MAYBE\n").errors.isEmpty)
    }
}

@Suite struct JUnitReportTests {
    @Test func junitIsWellFormedWithTheRightElements() throws {
        let xml = JUnitReport.render(Fixtures.mixedReport())
        #if canImport(FoundationXML) || os(macOS)
        let doc = try XMLDocument(xmlString: xml, options: [])
        let cases = try doc.nodes(forXPath: "//testcase")
        #expect(cases.count == Catalog.all.count)
        let names = cases.compactMap { ($0 as? XMLElement)?.attribute(forName: "name")?.stringValue }
        #expect(Set(names).count == Catalog.all.count)
        #expect(try doc.nodes(forXPath: "//testcase/failure").count == 1)
        #expect(try doc.nodes(forXPath: "//testcase/error").count == 2)
        #expect(try doc.nodes(forXPath: "//testcase/skipped").count == 1)
        let skipped = try doc.nodes(forXPath: "//testcase/skipped").first as! XMLElement
        #expect(skipped.attribute(forName: "message")?.stringValue == "no CPUID.0xA counters # on this \"host\" <x>")
        let err = try doc.nodes(forXPath: "//testcase[@name='irq-takeover']/error").first as! XMLElement
        #expect(err.attribute(forName: "message")?.stringValue?.contains("EFAULT & <bad>") == true)
        let suite = try doc.nodes(forXPath: "//testsuite").first as! XMLElement
        #expect(suite.attribute(forName: "failures")?.stringValue == "1")
        #expect(suite.attribute(forName: "timestamp")?.stringValue == "2023-11-14T22:13:20.123Z")
        #else
        #expect(xml.hasPrefix("<?xml"))
        #endif
        #expect(!xml.contains("<bad>"))
    }

    @Test func escapingDropsForbiddenControlCharacters() {
        #expect(JUnitReport.esc("a<b>&\"'\u{1}\tc") == "a&lt;b&gt;&amp;&quot;&apos;?\tc")
    }
}

@Suite struct KcidbReportTests {
    @Test func kcidbTestsAreWellShaped() throws {
        let doc = KcidbReport.document(Fixtures.mixedReport(kind: .hw), buildId: "kernelci:build-42")
        #expect(doc.version.major == 5)
        #expect(doc.tests.count == Catalog.all.count)
        #expect(Set(doc.tests.map(\.id)).count == Catalog.all.count)
        for t in doc.tests {
            #expect(t.id.hasPrefix("lbrprobe:"))
            #expect(t.origin == "lbrprobe" && t.build_id == "kernelci:build-42")
            #expect(["PASS", "FAIL", "ERROR", "SKIP"].contains(t.status))
            #expect(t.path.wholeMatch(of: #/kvm\.vlbr\.[a-z_]+/#) != nil)
            #expect(t.start_time == "2023-11-14T22:13:20.123Z")
            #expect(t.log_excerpt.utf8.count <= 16 * 1024)
        }
        let hf = doc.tests.first { $0.path == "kvm.vlbr.host_first" }!
        #expect(hf.status == "PASS" && hf.misc.outcome == "guest-wins-host-starved")
        #expect(doc.tests.first { $0.path == "kvm.vlbr.switch_retention" }!.status == "ERROR")  // timeout
        #expect(doc.tests.first { $0.path == "kvm.vlbr.slot_contention" }!.status == "FAIL")
        #expect(doc.tests.first { $0.path == "kvm.vlbr.counter_exhaustion" }!.status == "SKIP")
        let json = try KcidbReport.render(Fixtures.mixedReport(), buildId: "b")
        #expect(try JSONSerialization.jsonObject(with: Data(json.utf8)) is [String: Any])
    }

    @Test func logExcerptIsCappedAt16KiB() {
        let b = ReportFixtureBackend()
        b.hugeEvidence = true
        let r = Runner(backend: b, options: RunOptions(kernelRelease: "x")).run([Catalog.recoveryPaths])
        let full = ReportSupport.evidenceLines(r.results[0]).joined(separator: "\n")
        #expect(full.utf8.count > 16 * 1024)
        let t = KcidbReport.document(r, buildId: "b").tests[0]
        #expect(t.log_excerpt.utf8.count <= 16 * 1024)
        #expect(t.log_excerpt.hasSuffix("[truncated]"))
    }
}

@Suite struct SupportTests {
    @Test func rfc3339() {
        #expect(ReportSupport.rfc3339(unixNs: 0) == "1970-01-01T00:00:00.000Z")
        #expect(ReportSupport.rfc3339(unixNs: 1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123Z")
        #expect(ReportSupport.rfc3339(unixNs: 951_782_400_000_000_000) == "2000-02-29T00:00:00.000Z")
    }

    @Test func textReportShowsTableAndEvidence() {
        let t = TextReport.render(Fixtures.mixedReport(), evidence: true)
        #expect(t.contains("SCENARIO"))
        #expect(t.contains("slot-contention") && t.contains("FAIL") && t.contains("unmet (coexist)"))
        #expect(t.contains("phase contended (contended"))
        // A sim run's signals say whose they are.
        #expect(t.contains("[tos-readback => not-active, model mainline] LBR_TOS write 0x3 read back 0: write dropped"))
        #expect(t.contains("exit code 1"))
        let hw = TextReport.render(Fixtures.mixedReport(kind: .hw), evidence: true)
        #expect(hw.contains("[tos-readback => not-active] LBR_TOS write 0x3 read back 0: write dropped"))
        #expect(!hw.contains(", model mainline]") && !hw.contains("basis: ") && !hw.contains("FINDING (model"))
    }
}

@Suite struct AtomicFileTests {
    func tmpDir() -> String {
        let d = NSTemporaryDirectory() + "lbrprobe-atomic-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    @Test func writesAndReplacesWithoutLeavingTemporaries() throws {
        let d = tmpDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        let p = d + "/out.json"
        try AtomicFile.write("first\n", to: p)
        try AtomicFile.write("second\n", to: p)
        #expect(try String(contentsOfFile: p, encoding: .utf8) == "second\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: d) == ["out.json"])
    }

    @Test func failureLeavesNoPartialFile() throws {
        let d = tmpDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        let p = d + "/out.xml"
        try AtomicFile.write("old\n", to: p)
        // A rename failure after the temporary was fully written: the temporary is removed, the old file stays.
        let io = AtomicFile.IO(rename: { (_: Int32, _: String, to: String) throws(ReportWriteError) in
            throw ReportWriteError(path: to, operation: "rename", errno: EXDEV) })
        #expect(throws: ReportWriteError.self) { try AtomicFile.write(Array("new\n".utf8), to: p, io: io) }
        #expect(try String(contentsOfFile: p, encoding: .utf8) == "old\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: d) == ["out.xml"])
        // A real failure: the directory does not exist.
        do {
            try AtomicFile.write("x", to: d + "/missing/dir/out.tap")
            Issue.record("should fail")
        } catch {
            #expect(error.operation == "refuse" && error.description.contains("does not exist"))
        }
    }
}

@Suite struct AsciiLineTests {
    @Test func referenceSectionsAndArrowsAreSpelledOutNotMangled() {
        #expect(ReportSupport.oneLine("§1.5 → ERROR ≈ 2 µs — done") == "sec 1.5 -> ERROR ~ 2 us - done")
        // `#` would start a TAP directive; newlines would break the line.
        #expect(ReportSupport.oneLine("a#b\nc") == "a_b c")
        // Anything without a spelling stays visible as `_`.
        #expect(ReportSupport.oneLine("日") == "_")
        #expect(ReportSupport.oneLine("§").unicodeScalars.allSatisfy { $0.isASCII })
    }
}

/// scripts/lava/tap-to-lava.sh turns lbrprobe's TAP into one `lava-test-case` call per result.
@Suite struct LavaBridgeTests {
    /// Runs the bridge on `tap` with a fake `lava-test-case` that records its arguments.
    func bridge(_ tap: String) throws -> (calls: [String], status: Int32) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lava-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let fake = dir.appendingPathComponent("lava-test-case")
        try "#!/bin/sh\necho \"$@\" >> \"\(dir.path)/calls\"\n".write(to: fake, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: fake.path)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [repoRoot().appendingPathComponent("scripts/lava/tap-to-lava.sh").path]
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = dir.path + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        p.environment = env
        let input = Pipe()
        p.standardInput = input
        try p.run()
        input.fileHandleForWriting.write(Data(tap.utf8))
        try input.fileHandleForWriting.close()
        p.waitUntilExit()
        let calls = (try? String(contentsOf: dir.appendingPathComponent("calls"), encoding: .utf8)) ?? ""
        return (calls.split(separator: "\n").map(String.init), p.terminationStatus)
    }

    @Test func everyResultBecomesOneLavaCase() throws {
        let report = Fixtures.mixedReport()
        let (calls, status) = try bridge(TapReport.render(report))
        #expect(calls.count == report.results.count)
        for r in report.results {
            let want: String
            switch r.status {
            case .pass: want = "pass"
            case .skip: want = "skip"
            case .fail, .error, .timeout: want = "fail"
            }
            #expect(calls.contains("\(TestIdentity.tapName(r)) --result \(want)"), "\(r.testName): \(calls)")
        }
        #expect(status == 1) // the fixture has failures
    }

    @Test func nothingRanIsOneSkip() throws {
        let (calls, status) = try bridge(TapReport.render(Fixtures.unavailableReport()))
        #expect(calls == ["lbrprobe --result skip"])
        #expect(status == 0)
    }
}
