import LbrTestSupport
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import LbrBackends
import LbrCore
import LbrScenarios
import Testing

@Suite(.serialized, .enabled(if: Cli.available, "the lbrprobe binary is not built next to the tests (swift build)"))
struct CliTests {
    @Test func simRunPassesWithTapThatFollowsKtap() throws {
        let r = try Cli.run(["run", "--backend", "sim", "--format", "tap", "--expect", "expectations/mainline.expect"])
        #expect(r.code == 0, "\(r.stderr)")
        let p = KtapParse(r.stdout)
        #expect(p.errors.isEmpty, "\(p.errors)")
        #expect(p.version == "TAP version 13" && p.plan == Catalog.defaultSet.count)
        #expect(p.results.map(\.name) == Catalog.defaultSet.map { "sim-model-mainline." + $0.name })
        #expect(p.results.allSatisfy { $0.ok && $0.directive == nil })
        #expect(p.results.allSatisfy { $0.name.wholeMatch(of: #/[A-Za-z0-9_.-]+/#) != nil })
        #expect(p.diagnostics.last == "Totals: pass:\(Catalog.defaultSet.count) fail:0 xfail:0 xpass:0 skip:0 error:0")
        #expect(r.stdout.unicodeScalars.allSatisfy { $0.isASCII })
    }

    @Test(.enabled(if: ThisHost.hybridAvailable, "needs /dev/kvm"))
    func hybridJsonValidatesAndFilesAreWritten() throws {
        let dir = Cli.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Cli.run(["run", "--backend", "hybrid", "--model", "seed-2023", "--format", "json",
                             "--expect", "expectations/seed-2023.expect",
                             "--junit", dir + "/junit.xml", "--kcidb", dir + "/kcidb.json"])
        #expect(r.code == 0, "\(r.stderr)")
        let schema = try JSONSerialization.jsonObject(with: Data(try repoFile("docs/run.schema.json").utf8)) as! [String: Any]
        let doc = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
        let errors = try SchemaValidator(schema: schema).validate(doc)
        #expect(errors.isEmpty, "\(errors.prefix(5))")
        let d = doc as! [String: Any]
        #expect(d["backend"] as? String == "hybrid" && d["model"] as? String == "seed-2023")
        #expect(d["exit_code"] as? Int == 0)
        // JUnit: well-formed, one testcase per scenario.
        let xml = try String(contentsOfFile: dir + "/junit.xml", encoding: .utf8)
        #if canImport(FoundationXML) || os(macOS)
        let x = try XMLDocument(xmlString: xml, options: [])
        #expect(try x.nodes(forXPath: "//testcase").count == Catalog.defaultSet.count)
        #expect(try x.nodes(forXPath: "//testcase/failure").isEmpty)
        #endif
        // KCIDB: tests with ids, origin, build_id; a hybrid run's predictions under the model's path, DONE.
        let k = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/kcidb.json"))) as! [String: Any]
        let tests = try #require(k["tests"] as? [[String: Any]])
        #expect(tests.count == Catalog.defaultSet.count)
        #expect(tests.allSatisfy { ($0["id"] as? String)?.hasPrefix("lbrprobe:") == true && $0["status"] as? String == "DONE"
                                   && ($0["path"] as? String)?.hasPrefix("lbrprobe_model.hybrid.seed_2023.") == true && $0["build_id"] != nil })
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(left == ["junit.xml", "kcidb.json"], "no temporary files left: \(left)")
    }

    /// Ctrl-C / SIGTERM during `run --backend hybrid --repeat 50` (450 scenario runs, several seconds): the
    /// run stops after the current step, exits 130 / 143, stdout still carries the whole TAP report (every
    /// planned test: the runs before the signal as they ended, the one in progress ERROR, the rest SKIP
    /// "not run: interrupted by …"), the --junit/--kcidb files are complete and parse, and no temporary
    /// file is left next to them.
    @Test(.enabled(if: ThisHost.hybridAvailable, "needs /dev/kvm"), arguments: [(SIGINT, "SIGINT", 130), (SIGTERM, "SIGTERM", 143)])
    func signalStopsTheRunAndStillWritesEverything(sig: Int32, name: String, code: Int32) throws {
        let dir = Cli.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try #require(Cli.binary))
        p.arguments = ["run", "--backend", "hybrid", "--repeat", "50", "--format", "tap",
                       "--junit", dir + "/junit.xml", "--kcidb", dir + "/kcidb.json"]
        p.currentDirectoryURL = repoRoot()
        let lockEnv = Cli.environment
        defer { Cli.removeLockDir(lockEnv) }
        p.environment = lockEnv
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        // Let it start running scenarios (the whole run takes several seconds here), then signal once.
        usleep(600_000)
        #expect(p.isRunning, "the run finished before the signal: make it longer")
        kill(p.processIdentifier, sig)
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationReason == .exit && p.terminationStatus == code, "\(p.terminationReason) \(p.terminationStatus): \(e)")
        #expect(e.contains("interrupted by \(name)"), "\(e)")

        let planned = Catalog.defaultSet.count * 50
        let tap = KtapParse(o)
        #expect(tap.errors.isEmpty, "\(tap.errors.prefix(3))")
        let lines = tap.results.count
        #expect(tap.plan == lines)
        let notRun = tap.results.filter { $0.directive == "SKIP" && $0.directiveText.hasPrefix("not run: interrupted by \(name)") }
        let inProgress = tap.results.filter { $0.directive == "ERROR" && $0.directiveText.hasPrefix("interrupted by \(name)") }
        let ran = tap.results.filter { $0.ok && $0.directive == nil }
        #expect(!ran.isEmpty && !notRun.isEmpty, "ran \(ran.count), not run \(notRun.count)")
        #expect(inProgress.count <= 1)
        #expect(ran.count + notRun.count + inProgress.count == lines, "every result is a pass, the interrupted one or not run")
        // Runs not started are counted, one line per scenario ("(N runs not started)"), never one line per run.
        let notStarted = notRun.map { r -> Int in
            guard let m = r.directiveText.firstMatch(of: #/\((\d+) runs not started\)/#) else { return 1 }
            return Int(m.1)!
        }.reduce(0, +)
        #expect(ran.count + inProgress.count + notStarted == planned, "every requested run is reported once")
        #expect(notRun.count <= Catalog.defaultSet.count)
        // Not run = everything after the last run that started.
        #expect(notRun.first.map { $0.number == lines - notRun.count + 1 } == true)

        let xml = try String(contentsOfFile: dir + "/junit.xml", encoding: .utf8)
        #if canImport(FoundationXML) || os(macOS)
        let x = try XMLDocument(xmlString: xml, options: [])
        #expect(try x.nodes(forXPath: "//testcase").count == lines)
        #expect(try x.nodes(forXPath: "//testcase/skipped").count == notRun.count)
        #endif
        #expect(xml.hasSuffix(">\n") || xml.hasSuffix(">"))
        let k = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/kcidb.json"))) as! [String: Any]
        let tests = try #require(k["tests"] as? [[String: Any]])
        #expect(tests.count == lines)
        #expect(tests.filter { $0["status"] as? String == "SKIP" }.count == notRun.count)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(left == ["junit.xml", "kcidb.json"], "no temporary files left: \(left)")
    }

    @Test func unmetExpectationExitsOne() throws {
        let dir = Cli.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let f = dir + "/wrong.expect"
        try "# deliberately wrong\nguest-baseline vlbr-inactive\n".write(toFile: f, atomically: true, encoding: .utf8)
        let r = try Cli.run(["run", "guest-baseline", "--backend", "sim", "--format", "tap", "--expect", f])
        #expect(r.code == 1)
        let p = KtapParse(r.stdout)
        #expect(p.errors.isEmpty && p.results.count == 1 && !p.results[0].ok)
    }

    @Test func hwSkipsEverythingWithExitFour() throws {
        let r = try Cli.run(["run", "--backend", "hw", "--format", "tap"])
        #expect(r.code == 4, "\(r.stderr)")
        let p = KtapParse(r.stdout)
        #expect(p.errors.isEmpty, "\(p.errors)")
        #expect(p.plan == 0 && p.results.isEmpty)
        #expect(p.planSkipReason?.isEmpty == false)
        #expect(r.stdout.contains("1..0 # SKIP "))
        if let reason = HwBackend(profile: ThisHost.profile).unavailableReason {
            #expect(p.planSkipReason?.contains(String(reason.prefix(40)).replacingOccurrences(of: "#", with: "_")) == true)
        }
        let text = try Cli.run(["run", "guest-baseline", "--backend", "hw"])
        #expect(text.code == 4)
        #expect(text.stdout.contains("SKIP"))
    }

    @Test func usageErrorsExitSixtyFour() throws {
        for args in [["run", "no-such-scenario"], ["run", "--model", "no-such-model"], ["run", "--backend", "kvm"],
                     ["run", "--repeat", "0"], ["run", "--cpu", "4096", "--backend", "sim"]] {
            let r = try Cli.run(args)
            #expect(r.code == 64, "\(args): \(r.code) \(r.stderr)")
            #expect(r.stdout.isEmpty, "\(args)")
        }
        let r = try Cli.run(["run", "no-such-scenario"])
        #expect(r.stderr.contains("unknown scenario 'no-such-scenario'"))
    }

    @Test func badExpectFileExitsSixtyFiveWithFileAndLine() throws {
        let dir = Cli.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let f = dir + "/bad.expect"
        try "guest-baseline vlbr-active\nhost-first maybe-wins\n".write(toFile: f, atomically: true, encoding: .utf8)
        let r = try Cli.run(["run", "--backend", "sim", "--expect", f])
        #expect(r.code == 65)
        #expect(r.stderr.contains("\(f):2:"), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1)
        let missing = try Cli.run(["run", "--backend", "sim", "--expect", dir + "/absent.expect"])
        #expect(missing.code == 65)
        #expect(missing.stdout.isEmpty)
    }

    @Test func unwritableOutputExitsSeventyThreeAndLeavesNothing() throws {
        // Directory missing: refused before anything runs.
        let r = try Cli.run(["run", "guest-baseline", "--backend", "sim", "--junit", "/nonexistent-lbrprobe-dir/j.xml"])
        #expect(r.code == 73, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "/nonexistent-lbrprobe-dir"))
        // A directory that cannot hold files (even for root): the atomic write fails after the run.
        let p = try Cli.run(["run", "guest-baseline", "--backend", "sim", "--kcidb", "/proc/lbrprobe-kcidb.json"])
        #expect(p.code == 73, "\(p.stderr)")
        let procLeft = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.filter { $0.hasPrefix("lbrprobe") } ?? []
        #expect(procLeft.isEmpty)
        // The output path is a directory: nothing replaced, nothing left.
        let dir = Cli.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/out.xml", withIntermediateDirectories: true)
        let d = try Cli.run(["run", "guest-baseline", "--backend", "sim", "--junit", dir + "/out.xml"])
        #expect(d.code == 73)
        let after = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(after == ["out.xml"])
    }

    @Test func listShowsScenariosModelsBackends() throws {
        let r = try Cli.run(["list"])
        #expect(r.code == 0)
        for s in Catalog.names { #expect(r.stdout.contains(s)) }
        for m in Backends.modelNames { #expect(r.stdout.contains(m)) }
        #expect(r.stdout.contains("BACKENDS") && r.stdout.contains("sim     available"))
        #expect(r.stdout.contains("hw      unavailable"))
    }

    @Test func autoSaysWhichBackendAndWhy() throws {
        let r = try Cli.run(["run", "guest-baseline", "--format", "tap"])
        #expect(r.code == 0, "\(r.stderr)")
        let p = KtapParse(r.stdout)
        #expect(p.errors.isEmpty)
        // A fallback: named once, then the passed-over backend's blockers, each once.
        let fallback = p.diagnostics.first { $0.hasPrefix("fallback: ") } ?? ""
        #expect(fallback == "fallback: --backend auto fell back to \(ThisHost.hybridAvailable ? "hybrid" : "sim")", "\(p.diagnostics.prefix(4))")
        #expect(p.diagnostics.contains { $0.hasPrefix("hw unavailable (") })
        let blockers = p.diagnostics.filter { $0.hasPrefix("- ") }
        #expect(!blockers.isEmpty && Set(blockers).count == blockers.count)
        #expect(!r.stdout.contains("hybrid: hybrid:"))
    }

    @Test(.enabled(if: ThisHost.hybridAvailable, "needs /dev/kvm"))
    func hybridTimeoutIsReportedAndOtherScenariosStillRun() throws {
        // guest-traced runs two 4,096-branch real guest commands (≈25 ms each when emulated) and two exit loops:
        // 5 ms cannot suffice.
        let r = try Cli.run(["run", "guest-traced", "guest-baseline", "--backend", "hybrid", "--timeout", "0.005",
                             "--format", "tap"])
        #expect(r.code == 1, "\(r.stderr)")
        let p = KtapParse(r.stdout)
        #expect(p.errors.isEmpty, "\(p.errors)")
        #expect(p.results.count == 2)
        #expect(p.results.first.map { !$0.ok && $0.directive == "TIMEOUT" } == true)
        // The next scenario still ran on a fresh VM (it may time out too on a loaded machine, but it ran).
        #expect(p.results.last.map { $0.ok || $0.directive == "TIMEOUT" } == true)
    }

    @Test func repeatGivesNumberedRunsAndADistribution() throws {
        let r = try Cli.run(["run", "guest-baseline", "--backend", "sim", "--repeat", "3", "--format", "tap"])
        #expect(r.code == 0)
        let p = KtapParse(r.stdout)
        #expect(p.errors.isEmpty && p.results.map(\.name) == (1...3).map { "sim-model-mainline.guest-baseline.r\($0)" })
        #expect(p.diagnostics.contains("distribution guest-baseline: vlbr-active=3"))
    }

    @Test(.enabled(if: ThisHost.hybridAvailable && ThisHost.usableCpus.count > 1, "needs /dev/kvm and 2 CPUs this process may run on"))
    func cpuOptionPinsTheGuest() throws {
        let cpu = try #require(ThisHost.usableCpus.last)
        let r = try Cli.run(["run", "guest-baseline", "--backend", "hybrid", "--cpu", "\(cpu)", "--format", "json"])
        #expect(r.code == 0, "\(r.stderr)")
        let d = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        #expect(d["cpu"] as? Int == cpu)
        #expect(r.stdout.contains("pinned to CPU \(cpu)"))
    }
}
