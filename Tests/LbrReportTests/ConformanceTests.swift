import LbrTestSupport
import Foundation
import Testing
import LbrCore
@testable import LbrScenarios
@testable import LbrReport

/// The farm-tool rules the writers keep ; scripts/check-outputs.sh checks real CLI output with the real
/// tools (tap.py, prove, jsonschema, kcidb-io, junitparser + xmllint, lava-common, docutils).
@Suite struct ConformanceTests {
    /// A report whose texts are long and non-ASCII: a 3 KB error reason with µ, §, curly quotes and an emoji.
    static func noisyReport() -> RunReport {
        let b = ReportFixtureBackend()
        let long = (0..<60).map { "step \($0): waited 12 µs (§1.5, “quoted”) 🙂" }.joined(separator: "; ")
        b.throwIn["irq-takeover"] = .failed(long)
        b.unsupported["counter-exhaustion"] = long
        b.throwIn["switch-retention"] = .timeout("guest did not answer")
        var r = Runner(backend: b, options: RunOptions(timeoutNs: 1_000_000, kernelRelease: "6.18.0-µ"))
            .run(Catalog.all)
        r.runId = "01900000-0000-7000-8000-000000000001"
        return r
    }

    static func checkLines(_ text: String, _ what: String) {
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            #expect(line.utf8.count <= ReportSupport.maxLineBytes, "\(what) line \(n + 1): \(line.utf8.count) bytes")
            #expect(ReportSupport.isPrintableAscii(String(line)), "\(what) line \(n + 1) is not printable ASCII: \(line.prefix(80))")
        }
    }

    @Test func planFollowsTheVersionLine() {
        let lines = TapReport.render(Fixtures.mixedReport()).split(separator: "\n")
        #expect(lines[0] == "TAP version 13" && lines[1] == "1..9")
        #expect(lines[2].hasPrefix("# lbrprobe run: "))
    }

    @Test func skipAllHasNoTotalsAndNoResults() {
        let tap = TapReport.render(Fixtures.unavailableReport())
        let lines = tap.split(separator: "\n")
        #expect(lines[0] == "TAP version 13")
        #expect(lines[1].hasPrefix("1..0 # SKIP no LBR: no Intel PMU"))
        #expect(!tap.contains("Totals"), "ksft_exit_skip prints no totals when nothing ran")
        #expect(!lines.contains { $0.hasPrefix("ok ") || $0.hasPrefix("not ok ") })
        let p = KtapParse(tap)
        #expect(p.errors.isEmpty && p.plan == 0, "\(p.errors)")
    }

    @Test func ksftTapLevelDropsTheVersionLine() {
        let nested = TapReport.render(Fixtures.mixedReport(), versionLine: false)
        #expect(nested.hasPrefix("1..9\n"))
        #expect(!nested.contains("TAP version"))
        #expect(TapReport.render(Fixtures.unavailableReport(), versionLine: false).hasPrefix("1..0 # SKIP "))
    }

    @Test func timeoutDirectiveSpellsTheGivenLimit() {
        let tap = TapReport.render(Self.noisyReport())
        #expect(tap.contains("not ok 9 switch-retention # TIMEOUT 0.001 seconds"), "\(tap.suffix(300))")
        #expect(ReportSupport.secondsText(45_000_000_000) == "45")
        #expect(ReportSupport.secondsText(1_500_000_000) == "1.5")
        #expect(ReportSupport.secondsText(1_000_000) == "0.001")
        #expect(ReportSupport.secondsText(5_000) == "0.000005")
    }

    @Test func everyTextFormatIsAsciiWithBoundedLines() throws {
        let r = Self.noisyReport()
        Self.checkLines(TapReport.render(r), "TAP")
        Self.checkLines(TapReport.render(r, evidence: false), "TAP (no evidence)")
        Self.checkLines(JUnitReport.render(r), "JUnit")
        let kcidb = try KcidbReport.render(r, buildId: "b-µ")
        #expect(kcidb.utf8.allSatisfy { $0 < 0x80 }, "KCIDB carries non-ASCII")
        for t in KcidbReport.document(r, buildId: "b").tests {
            Self.checkLines(t.log_excerpt, "KCIDB \(t.id) log_excerpt")
            #expect(ReportSupport.isPrintableAscii(t.misc.reason ?? ""))
        }
        // The long reason is shortened on the directive line, and kept whole in the evidence.
        let tap = TapReport.render(r)
        let err = try #require(tap.split(separator: "\n").first { $0.hasPrefix("not ok 8 irq-takeover # ERROR ") })
        #expect(err.hasSuffix("..."))
        #expect(tap.contains("step 59: waited 12 us (sec 1.5, \"quoted\") _"))
    }

    @Test func wrappingBreaksAtSpacesWithinTheWidth() {
        let s = (0..<50).map { "word\($0)" }.joined(separator: " ")
        let w = ReportSupport.wrapped(s, width: 40)
        #expect(w.count > 1)
        #expect(w.allSatisfy { $0.utf8.count <= 40 })
        #expect(w.dropFirst().allSatisfy { $0.hasPrefix("  ") })
        #expect(w.map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ") == s)
        let hard = ReportSupport.wrapped(String(repeating: "x", count: 100), width: 30)
        #expect(hard.allSatisfy { $0.utf8.count <= 30 } && hard.joined().filter { $0 == "x" }.count == 100)
    }

    @Test func junitTestsuitesCarriesOnlyJenkinsAttributes() throws {
        let xml = JUnitReport.render(Fixtures.mixedReport())
        let root = try #require(xml.split(separator: "\n").first { $0.hasPrefix("<testsuites") })
        #expect(!root.contains("skipped="), "junit-10.xsd allows no skipped on <testsuites>")
        let suite = try #require(xml.split(separator: "\n").first { $0.contains("<testsuite ") })
        #expect(suite.contains("skipped=\"1\""))
    }

    @Test func kcidbIdsAreUniquePerRun() {
        var a = Fixtures.mixedReport(), b = Fixtures.mixedReport()
        a.runId = "01900000-0000-7000-8000-00000000000a"
        b.runId = "01900000-0000-7000-8000-00000000000b"
        let ia = Set(KcidbReport.document(a, buildId: "same").tests.map(\.id))
        let ib = Set(KcidbReport.document(b, buildId: "same").tests.map(\.id))
        #expect(ia.count == 9 && ib.count == 9)
        #expect(ia.isDisjoint(with: ib), "two invocations on one build must not collide")
        #expect(ia.contains("lbrprobe:01900000-0000-7000-8000-00000000000a.sim.mainline.host-first"), "\(ia.sorted().prefix(2))")
        let other = KcidbReport.document(a, buildId: "same", origin: "farm_x").tests
        #expect(other.allSatisfy { $0.origin == "farm_x" && $0.id.hasPrefix("farm_x:") })
        #expect(KcidbReport.document(a, buildId: "same").tests[0].misc.run_id == a.runId)
    }
}

/// The real checkers the tests can call (LbrTestSupport.ConformanceTools) accept good input and reject bad.
@Suite struct ConformanceToolTests {
    func temp(_ name: String, _ text: String) throws -> String {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("conf-\(UUID().uuidString)-\(name)").path
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    @Test func docutilsChecksRst() throws {
        let good = try temp("good.rst", "Title\n=====\n\nText with ``code``.\n")
        let bad = try temp("bad.rst", "Title\n===\n\n* item\ncontinued badly\n\n`unclosed\n")
        defer { try? FileManager.default.removeItem(atPath: good); try? FileManager.default.removeItem(atPath: bad) }
        let goodProblems = try ConformanceTools.rstProblems(good)
        #expect(goodProblems.isEmpty, "\(goodProblems)")
        #expect(try !ConformanceTools.rstProblems(bad).isEmpty)
    }

    @Test func tapPyAcceptsOurTapAndRejectsTheOldLayout() throws {
        let ours = try temp("ours.tap", TapReport.render(Fixtures.mixedReport()))
        let skip = try temp("skip.tap", TapReport.render(Fixtures.unavailableReport()))
        // The older layout: a diagnostic between the version line and the plan; totals after 1..0.
        let old = try temp("old.tap", "TAP version 13\n# lbrprobe run: x\n1..1\nok 1 a\n# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0\n")
        let oldSkip = try temp("oldskip.tap", "TAP version 13\n1..0 # SKIP no\n# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:9 error:0\n")
        defer { for p in [ours, skip, old, oldSkip] { try? FileManager.default.removeItem(atPath: p) } }
        let oursProblems = try ConformanceTools.tapProblems(ours)
        #expect(oursProblems.isEmpty, "\(oursProblems)")
        let skipProblems = try ConformanceTools.tapProblems(skip, skipAll: true)
        #expect(skipProblems.isEmpty, "\(skipProblems)")
        #expect(try ConformanceTools.tapProblems(old).contains { $0.contains("A plan must appear at the beginning or end of the file") })
        #expect(try ConformanceTools.tapProblems(oldSkip, skipAll: true).contains { $0.contains("kselftest prints neither") })
    }
}
