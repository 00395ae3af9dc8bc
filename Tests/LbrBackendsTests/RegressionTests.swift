// Regression workflow: compare, --write-expect, repeat statistics, run id and host identity.
// In-process tests run the sim backend and compare its JSON documents; CLI tests check the exit-code contract.

import Foundation
import LbrBackends
import LbrDocument
import LbrCore
import LbrLinux
@testable import LbrReport
@testable import LbrScenarios
import LbrTestSupport
import Testing

enum Regression {
    static let profile: HostProfile = HostProbe(mountTracefs: false).probe()

    static func report(model: String, repeats: Int = 1, scenarios: [Scenario] = Catalog.defaultSet,
                       kernel: String = "6.18.0-test", host: HostIdentity? = nil) throws -> RunReport {
        let b = try Backends.make(kind: .sim, model: model, profile: profile)
        let opts = RunOptions(cpu: 0, repeats: repeats, kernelRelease: kernel,
                              runId: RunId.v7(unixMs: 1_764_000_000_000, random: Array(0..<16)),
                              host: host ?? HostIdentity(hostname: "box", kernelRelease: kernel, cpuVendor: "GenuineIntel",
                                                         cpuFamily: 6, cpuModel: 0x55, cpuStepping: 4, cpuModelName: "Skylake-SP"))
        return Backends.runner(backend: b, options: opts).run(scenarios)
    }

    static func input(_ r: RunReport, _ name: String) throws -> Compare.Input {
        try Compare.decode(Data(try JsonReport.render(r).utf8), source: name)
    }
}

@Suite struct RunIdentityTests {
    @Test func v7LayoutAndTimeOrder() {
        let a = RunId.v7(unixMs: 0x0123_4567_89ab, random: [UInt8](repeating: 0xff, count: 16))
        #expect(a == "01234567-89ab-7fff-bfff-ffffffffffff")
        #expect(RunId.unixMs(ofV7: a) == 0x0123_4567_89ab)
        let b = RunId.v7(unixMs: 0x0123_4567_89ac, random: [UInt8](repeating: 0, count: 16))
        #expect(b == "01234567-89ac-7000-8000-000000000000")
        #expect(a < b, "v7 ids sort by time")
        #expect(RunId.unixMs(ofV7: RunId.unset) == nil)
    }

    @Test func documentsCarryRunIdAndHost() throws {
        let r = try Regression.report(model: "mainline", scenarios: [Catalog.guestBaseline])
        let d = JsonReport.document(r)
        #expect(d.run_id == r.runId && RunId.unixMs(ofV7: d.run_id!) == 1_764_000_000_000)
        #expect(d.host?.hostname == "box" && d.host?.cpu_model == 0x55 && d.host?.cpu_vendor == "GenuineIntel")
        #expect(Compare.column(try Regression.input(r, "x")).label == "6.18.0-test | GenuineIntel 6/0x55 (Skylake-SP) | sim | mainline")
    }
}

@Suite struct RepeatStatisticsTests {
    @Test func wilsonMatchesPublishedValues() {
        // Reference values (Wilson score, z = 1.96): 50/50 → [0.9287, 1]; 0/10 → [0, 0.2775]; 5/10 → [0.2366, 0.7634].
        let all = RepeatStatistics.wilson(successes: 50, of: 50)
        #expect(abs(all.low - 0.92865) < 1e-4 && all.high == 1)
        let none = RepeatStatistics.wilson(successes: 0, of: 10)
        #expect(none.low == 0 && abs(none.high - 0.27753) < 1e-4)
        let half = RepeatStatistics.wilson(successes: 5, of: 10)
        #expect(abs(half.low - 0.23659) < 1e-4 && abs(half.high - 0.76341) < 1e-4)
    }

    @Test func percentilesComeFromTheHistogram() throws {
        let p = try #require(RepeatStatistics.percentiles((1...100).map { UInt64($0) * 1_000_000 }, unit: "ms", scale: 1e-6))
        #expect(p.count == 100 && abs(p.p50 - 50) < 0.1 && abs(p.p90 - 90) < 0.1 && abs(p.p99 - 99) < 0.1)
        #expect(abs(p.min - 1) < 0.01 && abs(p.max - 100) < 0.1)
        #expect(RepeatStatistics.percentiles([], unit: "ms", scale: 1) == nil)
    }

    @Test func mixedSamplesGiveSharesAndIntervals() {
        var samples: [RepeatStatistics.RunSample] = []
        for i in 0..<50 {
            samples.append(.init(scenario: "s", outcome: i < 45 ? "a" : "b", status: "pass", durationNs: UInt64(i + 1) * 1_000_000,
                                 recoveryTscTicks: 1000 + UInt64(i), recoveryExits: 3))
        }
        let st = RepeatStatistics.compute(samples)
        #expect(st.count == 1 && st[0].runs == 50)
        #expect(st[0].outcomes.map(\.outcome) == ["a", "b"] && st[0].outcomes.map(\.count) == [45, 5])
        #expect(st[0].outcomes[0].low < 0.9 && st[0].outcomes[0].high > 0.9)
        #expect(st[0].recoveryExits?.p50 == 3)
        let text = RepeatStatistics.renderText(st).joined(separator: "\n")
        #expect(text.contains("45/50") && text.contains("95% CI [") && text.contains("p99"))
    }

    /// An entry standing for a block of runs (skipped or not started alike) counts that many times in the
    /// distribution and not in the timings.
    @Test func blocksOfRunsCountByTheirSize() {
        let samples: [RepeatStatistics.RunSample] = [
            .init(scenario: "s", outcome: "a", status: "pass", durationNs: 2_000_000),
            .init(scenario: "s", outcome: "unsupported", status: "skip", durationNs: 0, runs: 9),
        ]
        let st = RepeatStatistics.compute(samples)[0]
        #expect(st.runs == 10 && st.outcomes.map(\.count) == [9, 1] && st.runTime?.count == 1)
        #expect(st.statuses.map(\.count) == [1, 9])
    }

    /// `--repeat 50`: intervals and percentiles in text and JSON; the JSON validates against the repo schema.
    @Test func repeat50InTextAndSchemaValidJson() throws {
        let r = try Regression.report(model: "mainline", repeats: 50, scenarios: [Catalog.recoveryPaths, Catalog.hostFirst])
        let text = TextReport.render(r, evidence: false)
        #expect(text.contains("95% Wilson score intervals"))
        #expect(text.contains("host-wins-vlbr-error+recovered(release-after-preemption)") && text.contains("50/50"))
        #expect(text.contains("recovery latency (guest-tsc-ticks)") && text.contains("run time (ms)"))
        let json = try JsonReport.render(r)
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let schema = try JSONSerialization.jsonObject(with: Data(try repoFile("docs/run.schema.json").utf8)) as! [String: Any]
        let errors = try SchemaValidator(schema: schema).validate(obj)
        #expect(errors.isEmpty, "\(errors.prefix(5))")
        let stats = try #require(obj["repeat_statistics"] as? [[String: Any]])
        #expect(stats.count == 2)
        let rp = try #require(stats.first { $0["scenario"] as? String == "recovery-paths" })
        let o = try #require((rp["outcomes"] as? [[String: Any]])?.first)
        #expect(o["count"] as? Int == 50 && (o["wilson95_low"] as? Double ?? 0) > 0.92 && o["wilson95_high"] as? Double == 1)
        let rec = try #require(rp["recovery_tsc_ticks"] as? [String: Any])
        #expect(rec["count"] as? Int == 50 && rec["unit"] as? String == "guest-tsc-ticks")
        #expect((rp["run_time"] as? [String: Any])?["p99"] != nil)
        #expect(rp["takeover_bound"] != nil, "recovery-paths' contended phase ends with the vLBR not active")
        // Statistics recomputed from the saved document equal the report's.
        let doc = try RunDocumentReader.decode(Data(json.utf8), source: "x")
        #expect(RepeatStatistics.compute(doc).map(\.outcomes) == RepeatStatistics.compute(r).map(\.outcomes))
        // Single runs carry no statistics block.
        let one = try Regression.report(model: "mainline", scenarios: [Catalog.hostFirst])
        #expect(JsonReport.document(one).repeat_statistics == nil)
    }
}

@Suite struct CompareTests {
    @Test func sameModelComparesEqual() throws {
        let a = try Regression.input(try Regression.report(model: "mainline"), "a.json")
        let b = try Regression.input(try Regression.report(model: "mainline"), "b.json")
        let rep = try Compare.run([a, b])
        #expect(rep.exitCode == .success)
        guard case let .pair(p) = rep else { Issue.record("expected a pair report"); return }
        #expect(!p.changed && p.scenarios.count == Catalog.defaultSet.count && p.scenarios.allSatisfy { $0.status == "same" })
        #expect(try Compare.render(rep, format: .text).contains("no outcome or finding changed; exit code 0"))
    }

    @Test func mainlineVersusSeed2023NamesTheChangedScenarios() throws {
        let a = try Regression.input(try Regression.report(model: "mainline"), "mainline.json")
        let b = try Regression.input(try Regression.report(model: "seed-2023"), "seed.json")
        let rep = try Compare.run([a, b])
        #expect(rep.exitCode == .failure)
        guard case let .pair(p) = rep else { Issue.record("expected a pair report"); return }
        #expect(p.changed_scenarios.contains("host-first"))
        #expect(Set(p.changed_scenarios) == ["host-first", "host-preempts", "slot-contention", "counter-exhaustion",
                                             "recovery-paths", "guest-traced", "irq-takeover"])
        let hf = try #require(p.scenarios.first { $0.scenario == "host-first" })
        #expect(hf.base_outcome == "guest-wins-host-starved" && hf.new_outcome == "host-wins-vlbr-error+recovered(lbr-msr-access)")
        #expect(hf.phase_changes.contains { $0.phase == "contended" && $0.field == "vlbr" && $0.base == "active" && $0.new == "not-active" })
        #expect(hf.phase_changes.contains { $0.field == "signal:tos-readback" })
        let text = try Compare.render(rep, format: .text)
        #expect(text.contains("* host-first") && text.contains("exit code 1"))
        let md = try Compare.render(rep, format: .markdown)
        #expect(md.contains("| host-first | `guest-wins-host-starved` | `host-wins-vlbr-error+recovered(lbr-msr-access)` | **changed** |"))
        let js = try JSONSerialization.jsonObject(with: Data(try Compare.render(rep, format: .json).utf8)) as! [String: Any]
        #expect(js["schema"] as? String == Compare.schemaId && js["exit_code"] as? Int == 1 && js["mode"] as? String == "pair")
    }

    @Test func fleetOfFourRendersAsMatrix() throws {
        let inputs = try [("mainline", "6.18.0"), ("mainline", "6.19.0"), ("seed-2023", "6.19.0-xiong"), ("perf-request", "6.20.0")]
            .enumerated().map { i, m in try Regression.input(try Regression.report(model: m.0, kernel: m.1), "run\(i).json") }
        let rep = try Compare.run(inputs)
        guard case let .matrix(m) = rep else { Issue.record("expected a matrix"); return }
        #expect(m.columns.count == 4 && m.rows.count == Catalog.defaultSet.count)
        #expect(m.columns.map(\.kernel_release) == ["6.18.0", "6.19.0", "6.19.0-xiong", "6.20.0"])
        let hf = try #require(m.rows.first { $0.scenario == "host-first" })
        #expect(hf.cells.map(\.differs_from_first) == [false, false, true, true])
        let gb = try #require(m.rows.first { $0.scenario == "guest-baseline" })
        #expect(!gb.differs)
        #expect(rep.exitCode == .failure)
        let md = try Compare.render(rep, format: .markdown)
        // mainline's host-first carries the host->guest leak finding, seed-2023's does not.
        #expect(md.contains("| host-first | `guest-wins-host-starved [host-branch-leak]` | `guest-wins-host-starved [host-branch-leak]` | **`host-wins-vlbr-error+recovered(lbr-msr-access)`** |"))
        let text = try Compare.render(rep, format: .text)
        #expect(text.contains("[1] 6.18.0 | GenuineIntel 6/0x55 (Skylake-SP) | sim | mainline"))
        #expect(text.contains("*host-wins-vlbr-error+recovered(lbr-msr-access) on [3]"))
        // Two documents render as a matrix on request; equal fleets exit 0.
        let same = try Compare.run([inputs[0], inputs[1], inputs[0]])
        #expect(same.exitCode == .success)
        guard case .matrix = try Compare.run([inputs[0], inputs[1]], matrix: true) else { Issue.record("--matrix"); return }
    }

    @Test func findingsAppearingOrDisappearingAreChanges() throws {
        let r = try Regression.report(model: "mainline", scenarios: [Catalog.hostFirst, Catalog.guestBaseline])
        // The findings shape of lbrprobe.run/2 (docs/run-format.md, Findings). The real run already carries
        // mainline's host-first leak: `plain` drops every finding, `leaky` puts one of 3 entries back.
        var obj = try JSONSerialization.jsonObject(with: Data(try JsonReport.render(r).utf8)) as! [String: Any]
        var results = (obj["results"] as! [[String: Any]]).map { var x = $0; x["findings"] = [[String: Any]](); return x }
        obj["results"] = results
        let plain = try Compare.decode(try JSONSerialization.data(withJSONObject: obj), source: "plain.json")
        results[0]["findings"] = [["kind": "host-branch-leak", "count": 3, "summary": "guest read 3 host branch records",
                                   "security_relevant": true, "phase": "contended"]]
        obj["results"] = results
        let leaky = try Compare.decode(try JSONSerialization.data(withJSONObject: obj), source: "leaky.json")
        #expect(leaky.findings[0] == [Compare.Finding(kind: "host-branch-leak", count: 3, summary: "guest read 3 host branch records")])
        guard case let .pair(p) = try Compare.run([plain, leaky]) else { Issue.record("pair"); return }
        #expect(p.changed && p.changed_scenarios == ["host-first"])
        let fc = try #require(p.scenarios.first?.finding_changes.first)
        #expect(fc.kind == "host-branch-leak" && fc.change == "appeared" && fc.new_count == 3)
        guard case let .pair(back) = try Compare.run([leaky, plain]) else { Issue.record("pair"); return }
        #expect(back.scenarios.first?.finding_changes.first?.change == "disappeared")
        #expect(try Compare.render(.pair(p), format: .text).contains("finding host-branch-leak appeared: 0 -> 3"))
        // Same findings both sides: no change.
        guard case let .pair(eq) = try Compare.run([leaky, leaky]) else { Issue.record("pair"); return }
        #expect(!eq.changed)
    }

    @Test func timingShiftsNeedRepeatsAndDisjointRanges() {
        let ms: (Double) -> UInt64 = { UInt64($0 * 1e6) }
        #expect(Compare.shift("run-time", "ms", [ms(1)], [ms(10)], scale: 1e-6, floor: 1) == nil, "one run is no noise estimate")
        let fast = (0..<10).map { ms(2 + Double($0) * 0.05) }, slow = (0..<10).map { ms(8 + Double($0) * 0.05) }
        let s = Compare.shift("run-time", "ms", fast, slow, scale: 1e-6, floor: 1)
        #expect(s != nil && (s?.ratio ?? 0) > 3)
        let noisy = (0..<10).map { ms($0 % 2 == 0 ? 2 : 9) }
        #expect(Compare.shift("run-time", "ms", fast, noisy, scale: 1e-6, floor: 1) == nil, "overlapping ranges are noise")
    }

    @Test func badInputIsOneLineWithTheDocumentedKind() throws {
        let r = try Regression.report(model: "mainline", scenarios: [Catalog.hostFirst])
        let json = try JsonReport.render(r)
        let cases: [(String, String)] = [
            (String(json.prefix(json.count / 2)), "not JSON (truncated or corrupt)"),
            (#"{"schema":"lbrprobe.caps/1","tool":{}}"#, "caps document (lbrprobe.caps/1), this lbrprobe reads lbrprobe.run/2 only"),
            (json.replacingOccurrences(of: "lbrprobe.run/2", with: "lbrprobe.run/1"), "run document of schema lbrprobe.run/1"),
        ]
        for (text, needle) in cases {
            do {
                _ = try Compare.decode(Data(text.utf8), source: "f.json")
                Issue.record("accepted: \(needle)")
            } catch {
                #expect(error.description.contains(needle) && !error.description.contains("\n"), "\(error)")
                #expect(error.exitCode == .dataError)
            }
        }
        let one = try Regression.input(r, "one.json")
        #expect(throws: Compare.Failure.self) { try Compare.run([one]) }
        do { _ = try Compare.run([]) } catch { #expect(error.exitCode == .usage && error.message.contains("got 0")) }
        let other = try Regression.input(try Regression.report(model: "mainline", scenarios: [Catalog.guestBaseline]), "other.json")
        do { _ = try Compare.run([one, other]); Issue.record("disjoint accepted") } catch {
            #expect(error.exitCode == .dataError && error.message.contains("no scenario in common"))
        }
        do { _ = try Compare.run([one, one], scenarios: ["guest-traced"]); Issue.record("absent scenario accepted") } catch {
            #expect(error.exitCode == .dataError && error.message.contains("in none of the documents"))
        }
    }
}

@Suite struct WriteExpectTests {
    /// The written file parses, the same run passes it, and another model fails where it differs.
    @Test func roundTripsAndGatesOtherModels() throws {
        let r = try Regression.report(model: "mainline", repeats: 3)
        let text = ExpectWriter.render(r)
        #expect(text.contains("# host-first: guest-wins-host-starved 3/3 [95% CI "))
        let set = try ExpectationSet.parse(text, file: "w.expect", knownScenarios: Set(Catalog.names))
        #expect(set.entries.count == Catalog.defaultSet.count && set.entries.allSatisfy { $0.model == nil })
        let b = try Backends.make(kind: .sim, model: "mainline", profile: Regression.profile)
        let again = Backends.runner(backend: b, options: RunOptions(cpu: 0, repeats: 3, kernelRelease: "t"), expectations: set)
            .run(Catalog.defaultSet)
        #expect(again.exitCode == .success && again.results.allSatisfy { $0.expectation.code == "met" })
        let seed = try Backends.make(kind: .sim, model: "seed-2023", profile: Regression.profile)
        let other = Backends.runner(backend: seed, options: RunOptions(cpu: 0, kernelRelease: "t"), expectations: set)
            .run(Catalog.defaultSet)
        #expect(other.exitCode == .failure)
        #expect(Set(other.results.filter { $0.status == .fail }.map(\.scenario))
                == ["host-first", "host-preempts", "slot-contention", "counter-exhaustion", "recovery-paths", "guest-traced", "irq-takeover"])
        #expect(text.unicodeScalars.allSatisfy { $0.isASCII })
    }

    @Test func majorityWinsAndUnjudgedRunsGiveNoEntry() throws {
        var r = try Regression.report(model: "mainline", repeats: 3, scenarios: [Catalog.hostFirst, Catalog.guestBaseline])
        r.results[0].outcome = ScenarioOutcome(.hostWinsVlbrError)   // host-first: 1 of 3 differs
        for i in r.results.indices where r.results[i].scenario == "guest-baseline" {
            r.results[i].status = .skip; r.results[i].reason = "no guest LBR here"
            r.results[i].outcome = ScenarioOutcome(.unsupported("no guest LBR here"))
        }
        let text = ExpectWriter.render(r)
        let set = try ExpectationSet.parse(text)
        #expect(set.entries.map(\.scenario) == ["host-first"] && set.entries[0].text == "guest-wins-host-starved")
        #expect(text.contains("host-wins-vlbr-error 1/3") && text.contains("# guest-baseline: no entry: skip 3: no guest LBR here"))
    }
}

@Suite(.serialized, .enabled(if: Cli.available, "the lbrprobe binary is not built next to the tests (swift build)"))
struct RegressionCliTests {
    @Test func compareExitCodesAndErrors() throws {
        let dir = Cli.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = dir + "/a.json", b = dir + "/b.json", s = dir + "/seed.json", c = dir + "/c.json", e = dir + "/w.expect"
        #expect(try Cli.run(["run", "--backend", "sim", "--json", a, "--write-expect", e]).code == 0)
        #expect(try Cli.run(["run", "--backend", "sim", "--format", "json", "--json", b]).code == 0)
        #expect(try Cli.run(["run", "--backend", "sim", "--model", "seed-2023", "--json", s]).code == 0)
        #expect(try Cli.run(["run", "--backend", "sim", "--model", "perf-request", "--json", c]).code == 0)
        // --write-expect then --expect round-trips; another model fails against it.
        #expect(try Cli.run(["run", "--backend", "sim", "--expect", e]).code == 0)
        let other = try Cli.run(["run", "--backend", "sim", "--model", "seed-2023", "--expect", e, "--format", "tap"])
        #expect(other.code == 1 && other.stdout.contains("not ok 2 host-first"))

        let same = try Cli.run(["compare", a, b])
        #expect(same.code == 0, "\(same.stdout)\(same.stderr)")
        let diff = try Cli.run(["compare", a, s, "--format", "markdown"])
        #expect(diff.code == 1 && diff.stdout.contains("| host-first |"))
        let fleet = try Cli.run(["compare", a, b, s, c, "--format", "json"])
        #expect(fleet.code == 1)
        let fj = try JSONSerialization.jsonObject(with: Data(fleet.stdout.utf8)) as! [String: Any]
        #expect(fj["mode"] as? String == "matrix" && (fj["columns"] as? [Any])?.count == 4)
        #expect(try Cli.run(["compare", a, s, "--scenario", "guest-baseline"]).code == 0)

        // Bad input: one line on stderr, documented exit codes.
        let json = try String(contentsOfFile: a, encoding: .utf8)
        try String(json.prefix(200)).write(toFile: dir + "/trunc.json", atomically: true, encoding: .utf8)
        let caps = try Cli.run(["caps", "--format", "json"])
        try caps.stdout.write(toFile: dir + "/caps.json", atomically: true, encoding: .utf8)
        try json.replacingOccurrences(of: "lbrprobe.run/2", with: "lbrprobe.run/1").write(toFile: dir + "/old.json", atomically: true, encoding: .utf8)
        let bad: [([String], Int32, String)] = [
            (["compare"], 64, "needs at least two run documents (got 0)"),
            (["compare", a], 64, "(got 1)"),
            (["compare", a, dir + "/trunc.json"], 65, "trunc.json: not JSON (truncated or corrupt)"),
            (["compare", a, dir + "/caps.json"], 65, "caps document (lbrprobe.caps/1)"),
            (["compare", a, dir + "/old.json"], 65, "run document of schema lbrprobe.run/1, this lbrprobe reads lbrprobe.run/2 only"),
            (["compare", a, dir + "/missing.json"], 65, "missing.json: cannot read"),
            (["compare", a, b, "--scenario", "nope"], 64, "unknown scenario 'nope'"),
            (["compare", a, b, "--format", "xml"], 64, "'xml' is invalid"),
        ]
        for (args, code, needle) in bad {
            let r = try Cli.run(args)
            #expect(r.code == code, "\(args): \(r.code) \(r.stderr)")
            #expect(r.stderr.contains(needle), "\(args): \(r.stderr)")
            if code == 65 || args.count <= 2 {
                #expect(r.stderr.split(separator: "\n").count == 1, "one line: \(r.stderr)")
            }
            #expect(r.stdout.isEmpty)
        }
    }

    @Test func writeExpectToAnUnwritablePlaceExits73BeforeRunning() throws {
        let r = try Cli.run(["run", "--backend", "sim", "--write-expect", "/nonexistent-dir/x.expect"])
        #expect(r.code == 73 && r.stderr.contains("--write-expect /nonexistent-dir/x.expect: directory /nonexistent-dir does not exist"))
    }
}
