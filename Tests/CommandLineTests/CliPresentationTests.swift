import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import LbrDocument
import LbrCore
import LbrScenarios
import LbrTestSupport
import Testing

/// Well-formedness and the scenario ids of an SVG document (Foundation's XMLParser).
final class SvgCheck: NSObject, XMLParserDelegate {
    var ids: [String] = []
    var text = ""
    func parser(_ p: XMLParser, didStartElement e: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) { if let id = attributes["id"] { ids.append(id) } }
    func parser(_ p: XMLParser, foundCharacters s: String) { text += s + "\n" }
    static func parse(_ path: String) throws -> SvgCheck {
        let c = SvgCheck()
        let p = XMLParser(data: try Data(contentsOf: URL(fileURLWithPath: path)))
        p.delegate = c
        #expect(p.parse(), "\(path) is not well-formed XML: \(String(describing: p.parserError))")
        return c
    }
}

enum Pty {
    /// util-linux `script`, to run a command with its stdout/stderr on a pseudo-terminal.
    static let script: String? = ["/usr/bin/script", "/bin/script"].first { FileManager.default.isExecutableFile(atPath: $0) }
}

@Suite(.serialized, .enabled(if: Cli.available, "the lbrprobe binary is not built next to the tests (swift build)"))
struct CliPresentationTests {
    @Test func simTimelineIsWellFormedSvgNamingEveryScenario() throws {
        let dir = Cli.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Cli.runPlain(["run", "--backend", "sim", "--quiet", "--timeline", dir + "/t.svg"])
        #expect(r.code == 0, "\(r.stderr)")
        let svg = try SvgCheck.parse(dir + "/t.svg")
        for s in Catalog.defaultSet { #expect(svg.ids.contains("scenario-\(s.name)"), "\(s.name) missing") }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/t.svg"))
        #expect(bytes.allSatisfy { $0 < 0x80 }, "ASCII only")
        // No temporaries next to it (written atomically).
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["t.svg"])
    }

    @Test(.enabled(if: ThisHost.hybridAvailable, "needs /dev/kvm"))
    func hybridTimelineShowsRealContextSwitchesNextToTheModels() throws {
        let dir = Cli.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Cli.runPlain(["run", "--wait", "--backend", "hybrid", "--format", "json", "--timeline", dir + "/run.svg",
                             "recovery-paths", "switch-retention"])
        #expect(r.code == 0, "\(r.stderr)")
        try r.stdout.write(toFile: dir + "/run.json", atomically: true, encoding: .utf8)
        let doc = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        for res in doc["results"] as! [[String: Any]] {
            let tl = try #require(res["timeline"] as? [[String: Any]], "\(res["scenario"]!) has no timeline")
            let lane = { (e: [String: Any]) in (e["lane"] as? String).flatMap(TimelineLane.init(code:)) }
            #expect(tl.allSatisfy { lane($0) != nil })
            let lanes = Set(tl.compactMap(lane))
            #expect(lanes.contains(.contextSwitchReal) && lanes.contains(.contextSwitchModel), "\(res["scenario"]!): \(lanes)")
            #expect(lanes.isSuperset(of: [.phase, .step, .vlbrObserved, .vlbrModel, .passthrough, .guest, .outcome]))
            // The real switches are the hog's preemption: same phase as the model's, within the step.
            let real = tl.filter { lane($0) == .contextSwitchReal }
            #expect(real.allSatisfy { ($0["label"] as? String)?.hasPrefix("real: +") == true })
            #expect(res["timeline_clock"] as? String == "model")
        }
        let svg = try SvgCheck.parse(dir + "/run.svg")
        #expect(svg.text.contains("ctx switch (real)") && svg.text.contains("ctx switch (model)"))
        // `lbrprobe timeline` draws the saved document: the same picture.
        let t = try Cli.runPlain(["timeline", dir + "/run.json", "-o", dir + "/again.svg"])
        #expect(t.code == 0, "\(t.stderr)")
        #expect(try String(contentsOfFile: dir + "/again.svg", encoding: .utf8)
                == String(contentsOfFile: dir + "/run.svg", encoding: .utf8))
    }

    @Test func timelineCommandRejectsBadInputAndUnwritableOutput() throws {
        let dir = Cli.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "{\"schema\": \"lbrprobe.caps/1\"}".write(toFile: dir + "/caps.json", atomically: true, encoding: .utf8)
        let bad = try Cli.runPlain(["timeline", dir + "/caps.json", "-o", dir + "/x.svg"])
        #expect(bad.code == LbrExitCode.dataError.rawValue)
        #expect(bad.stderr.contains("caps document") && bad.stderr.split(separator: "\n").count == 1, "\(bad.stderr)")
        let missing = try Cli.runPlain(["timeline", dir + "/nope.json", "-o", dir + "/x.svg"])
        #expect(missing.code == LbrExitCode.dataError.rawValue)
        let sim = try Cli.runPlain(["run", "--backend", "sim", "--format", "json", "host-first"])
        try sim.stdout.write(toFile: dir + "/run.json", atomically: true, encoding: .utf8)
        let unwritable = try Cli.runPlain(["timeline", dir + "/run.json", "-o", dir + "/no/such/dir/x.svg"])
        #expect(unwritable.code == LbrExitCode.cannotCreate.rawValue, "\(unwritable.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/x.svg"))
    }

    @Test(.enabled(if: Pty.script != nil && ThisHost.hybridAvailable, "needs util-linux script and /dev/kvm"))
    func progressAppearsOnATerminalOnly() throws {
        let bin = shellQuoted(try #require(Cli.binary))
        // Under a pseudo-terminal: the progress line, rewritten in place with carriage returns.
        let tty = try Cli.runTool(Pty.script!, ["-qec", "\(bin) run --wait --backend hybrid --repeat 2", "/dev/null"])
        #expect(tty.stdout.contains("\rlbrprobe [scenario 1/\(Catalog.all.count) guest-baseline, repeat 1/2]"), "\(tty.stdout.prefix(400))")
        #expect(tty.stdout.contains("lbrprobe [scenario \(Catalog.all.count)/\(Catalog.all.count) guest-leak, repeat 2/2] elapsed "))
        #expect(tty.stdout.contains(", ETA "))
        #expect(tty.stdout.contains(", phase "))
        // --quiet under a terminal: none.
        let quiet = try Cli.runTool(Pty.script!, ["-qec", "\(bin) run --backend sim --quiet", "/dev/null"])
        #expect(!quiet.stdout.contains("lbrprobe [scenario"))
        // stderr not a terminal (a pipe here): none, and never on stdout.
        let piped = try Cli.runPlain(["run", "--wait", "--backend", "hybrid", "--repeat", "2"])
        #expect(piped.code == 0)
        #expect(!piped.stderr.contains("lbrprobe [scenario") && !piped.stdout.contains("lbrprobe [scenario"))
        // stdout on a terminal but stderr redirected to a file: none in the file.
        let dir = Cli.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let f = try Cli.runTool(Pty.script!, ["-qec", "\(bin) run --backend sim 2>\(shellQuoted(dir + "/err.txt"))", "/dev/null"])
        #expect(!f.stdout.contains("lbrprobe [scenario"))
        #expect(try String(contentsOfFile: dir + "/err.txt", encoding: .utf8).isEmpty)
    }

    @Test func repeatSummaryIsShortWithAnswersAndTheHwReasonOnce() throws {
        let r = try Cli.runPlain(["run", "--wait", "--repeat", "5", "--summary"])
        #expect(r.code == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        // The scenario table onwards (the header above it lists each unavailable backend's blockers, which vary
        // with the host): a row and an answer per scenario, findings, totals.
        let table = lines.drop { !$0.hasPrefix("SCENARIO") }
        #expect(table.count < 30, "\(table.count) lines")
        // One plain answer per scenario ("-> ..." under its row); FINDING lines may also show "FROM x -> TO y".
        #expect(lines.filter { $0.hasPrefix(" ") && $0.drop { $0 == " " }.hasPrefix("-> ") }.count == Catalog.defaultSet.count, "\(r.stdout)")
        #expect(r.stdout.contains("x5"))
        // The hw blockers once each (when hw is unavailable here, as on the CI machine).
        if r.stdout.contains("hw unavailable (") {
            let blockerLines = lines.filter { $0.hasPrefix("  - ") }
            #expect(!blockerLines.isEmpty)
            for b in blockerLines { #expect(r.stdout.components(separatedBy: String(b.dropFirst(4))).count == 2) }
        }
        let hw = try Cli.runPlain(["run", "--backend", "hw", "--repeat", "2"])
        if hw.code == LbrExitCode.skip.rawValue {
            let first = try #require(hw.stdout.split(separator: "\n").first { $0.hasPrefix("  - ") })
            #expect(hw.stdout.components(separatedBy: String(first.dropFirst(4))).count == 2, "\(hw.stdout)")
        }
    }

    @Test func listJsonMistypedOptionAndTraceLogs() throws {
        let l = try Cli.runPlain(["list", "--format", "json"])
        #expect(l.code == 0)
        let d = try JSONSerialization.jsonObject(with: Data(l.stdout.utf8)) as! [String: Any]
        #expect(d["schema"] as? String == "lbrprobe.list/1")
        #expect((d["scenarios"] as! [[String: Any]]).map { $0["name"] as! String } == Catalog.names)
        #expect((d["backends"] as! [[String: Any]]).map { $0["kind"] as! String } == ["hw", "hybrid", "sim"])
        #expect((d["models"] as! [[String: Any]]).contains { $0["default"] as? Bool == true })
        // The model's own choices, typed, with the scenarios whose outcome they decide (ModelChoice).
        let pr = try #require((d["models"] as! [[String: Any]]).first { $0["name"] as? String == "perf-request" })
        let choices = try #require(pr["model_choices"] as? [[String: Any]])
        #expect(choices.first?["kind"] as? String == "notifies-only-on-lbr-user-close")
        #expect((choices.first?["decides"] as? [String])?.contains("slot-contention") == true)

        let typo = try Cli.runPlain(["run", "--frmat", "json"])
        #expect(typo.code == LbrExitCode.usage.rawValue)
        #expect(typo.stderr.contains("Unknown option '--frmat'") && !typo.stderr.contains("unknown scenario"), "\(typo.stderr)")
        let unknown = try Cli.runPlain(["run", "jsn"])
        #expect(unknown.code == LbrExitCode.usage.rawValue && unknown.stderr.contains("unknown scenario 'jsn'"))
        let afterFlag = try Cli.runPlain(["run", "-v", "jsn"])
        #expect(afterFlag.code == LbrExitCode.usage.rawValue && afterFlag.stderr.contains("unknown scenario 'jsn'"))
    }

    @Test(.enabled(if: ThisHost.hybridAvailable, "needs /dev/kvm"))
    func traceLogsEveryIoctlWithItsResult() throws {
        let r = try Cli.runPlain(["run", "--wait", "--backend", "hybrid", "-vv", "guest-baseline"])
        #expect(r.code == 0)
        #expect(r.stderr.contains("trace lbrprobe.sys:"))
        #expect(r.stderr.contains("KVM_CREATE_VM = "))
        #expect(r.stderr.contains("KVM_CREATE_VCPU(0) = "))
        #expect(r.stderr.contains("KVM_X86_SET_MSR_FILTER("))
        #expect(r.stderr.range(of: #"KVM_RUN\(vcpu fd \d+\) = 0, exit_reason \d+"#, options: .regularExpression) != nil)
        #expect(!r.stdout.contains("lbrprobe.sys"))
        let quiet = try Cli.runPlain(["run", "--wait", "--backend", "hybrid", "-v", "guest-baseline"])
        #expect(!quiet.stderr.contains("KVM_RUN("), "-v is debug, not trace")
    }
}
