import Foundation
import LbrBackends
import LbrDocument
import LbrCore
import LbrModel
import LbrReport
import LbrScenarios
import LbrTestSupport
import Testing

/// A stand-in for a kernel that does something else than the model: the sim model underneath, but every
/// LBR_TOS write reads back 0 and every LBR MSR access is reported trapped (as if the vLBR were never ACTIVE),
/// and no ground truth is reported (like hw); it stands for hardware, so its observations are `.hardware`.
final class DepartingKernel: ScenarioBackend {
    let sim = SimBackend(variant: .mainline)
    var kind: BackendKind { .hw }
    var modelName: String? { nil }
    func availability() -> BackendAvailability { .available(detail: "test stub: a kernel that drops every LBR_TOS write") }
    func support(for scenario: Scenario) -> ScenarioSupport { .supported }
    func begin(_ scenario: Scenario, cpu: Int) throws(BackendError) -> SessionInfo {
        var s = try sim.begin(scenario, cpu: cpu)
        s.backend = .hw; s.model = nil
        return s
    }
    func perform(_ step: Step, deadlineNs: UInt64) throws(BackendError) -> [TimedObservation] {
        try sim.perform(step, deadlineNs: deadlineNs).compactMap { t -> TimedObservation? in
            switch t.observation {
            case .vlbr, .passthrough: return nil
            case var .msrAccess(a):
                a.trapped = true
                return TimedObservation(timeNs: t.timeNs, .msrAccess(a), basis: .hardware)
            case var .guest(g):
                if g.command.tosProbeValue != nil { g.values = [0] }   // write-tos and probe-tos alike
                return TimedObservation(timeNs: t.timeNs, .guest(g), basis: .hardware)
            default: return TimedObservation(timeNs: t.timeNs, t.observation, basis: .hardware)
            }
        }
    }
    func end() -> [TimedObservation] { sim.end().map { TimedObservation(timeNs: $0.timeNs, $0.observation, basis: .hardware) } }
}

func runWith(_ backend: any ScenarioBackend, _ scenarios: [Scenario], expectations: ExpectationSet? = nil) -> RunReport {
    Runner(backend: backend, options: RunOptions(cpu: 0, timeoutNs: 30_000_000_000, kernelRelease: "test"),
           expectations: expectations).run(scenarios)
}

@Suite(.serialized) struct ShadowModelTests {
    /// hw and hybrid are wrapped by the one shadow mechanism; sim is the model itself.
    @Test func backendsCarryTheShadow() throws {
        let hw = try Backends.make(kind: .hw, model: "seed-2023", profile: ThisHost.profile)
        #expect((hw as? ShadowedBackend)?.shadowModel == "seed-2023")
        #expect(hw.modelName == nil && hw.kind == .hw)
        let hybrid = try Backends.make(kind: .hybrid, model: nil, profile: ThisHost.profile)
        #expect((hybrid as? ShadowedBackend)?.shadowModel == Backends.defaultModel)
        #expect(hybrid.modelName == Backends.defaultModel && hybrid.kind == .hybrid)
        #expect(try Backends.make(kind: .sim, model: nil, profile: ThisHost.profile) is SimBackend)
    }

    /// On hybrid, the shadow (a separate model driven by the same steps) reproduces the hybrid run's own model
    /// ground truth in every phase, and so agrees exactly where the verdict engine agrees with that ground truth.
    @Test(.enabled(if: ThisHost.hybridAvailable, "needs /dev/kvm with user-space MSR exits and MSR filters"),
          arguments: Backends.modelNames)
    func hybridShadowEqualsModelGroundTruth(model: String) throws {
        let report = ThisHost.run(try Backends.make(kind: .hybrid, model: model, profile: ThisHost.profile))
        #expect(report.results.count == Catalog.all.count)
        var compared = 0
        for r in report.results {
            #expect(r.status == .pass, "\(r.scenario): \(r.reason ?? "")")
            let s = try #require(r.shadow, "\(r.scenario) has no shadow summary")
            #expect(s.model == model && s.unavailable == nil)
            #expect(s.predictedOutcome?.sameTerms(as: r.outcome) == true, "\(r.scenario): shadow \(s.predictedCode) vs \(r.outcome.code)")
            #expect(!r.findings.contains { $0.kind == .modelDeparture }, "\(r.scenario): \(r.findings.map(\.line))")
            for p in r.phases {
                let sh = try #require(p.shadow, "\(r.scenario)/\(p.phase) has no shadow")
                #expect(sh.observedInferred == p.inferred)
                if let g = p.groundTruth {
                    if let v = g.vlbr { #expect(sh.predictedVlbr == v, "\(r.scenario)/\(p.phase)"); compared += 1 }
                    if let pt = g.passthrough { #expect(sh.predictedPassthrough == pt, "\(r.scenario)/\(p.phase)") }
                    if let a = g.agreesWithInference { #expect(a == sh.agrees, "\(r.scenario)/\(p.phase)") }
                }
                #expect(sh.agrees, "\(r.scenario)/\(p.phase): \(sh.departures)")
            }
        }
        if try #require(KernelVariant(name: model)).guestHasLbr {
            #expect(compared > 0, "no phase had ground truth to compare")
        } else {
            // No guest LBR: the model never creates a vLBR; shadow and ground truth both say so.
            #expect(report.results.flatMap(\.phases).allSatisfy { ($0.shadow?.predictedVlbr ?? VlbrState.none) == VlbrState.none })
        }
    }

    /// A kernel that behaves differently from the model: "kernel departs from model mainline" in TAP, JSON
    /// (valid against the schema), JUnit, text and the contract; not a failure unless --expect says so.
    @Test func departureIsReportedEverywhere() throws {
        let host = Catalog.named("host-first")!
        let report = runWith(ShadowedBackend(DepartingKernel(), variant: .mainline), [host])
        let r = try #require(report.results.first)
        #expect(r.status == .pass, "a departure alone is not a failure: \(r.reason ?? "")")
        #expect(r.outcome.code.hasPrefix("host-wins-vlbr-error"))
        let f = try #require(r.findings.first { $0.kind == .modelDeparture })
        #expect(f.summary.hasPrefix("kernel departs from model mainline"))
        #expect(f.summary.contains("outcome predicted guest-wins-host-starved"))
        #expect(r.shadow?.agrees == false && r.shadow?.predictedOutcome == ScenarioOutcome(.guestWinsHostStarved))
        let contended = try #require(r.phases.first { $0.phase == "contended" }?.shadow)
        #expect(contended.predictedVlbr == .active && contended.observedInferred == .notActive && !contended.agrees)

        let phrase = "kernel departs from model mainline"
        #expect(TapReport.render(report).contains("# finding: model-departure in phase contended: " + phrase))
        #expect(JUnitReport.render(report).contains(phrase))
        #expect(TextReport.render(report).contains(phrase))
        let json = try JsonReport.render(report)
        #expect(json.contains(phrase))
        let schema = try JSONSerialization.jsonObject(with: Data(try repoFile("docs/run.schema.json").utf8)) as! [String: Any]
        let errors = try SchemaValidator(schema: schema).validate(try JSONSerialization.jsonObject(with: Data(json.utf8)))
        #expect(errors.isEmpty, "\(errors.prefix(5))")
        let doc = try RunDocumentReader.decode(Data(json.utf8), source: "test")
        #expect(doc.results[0].phases.first { $0.name == "contended" }?.shadow?.agrees == false)
        for format in ContractFormat.allCases {
            let c = try Contract.render([doc], models: [], format: format)
            #expect(c.contains("The kernel departs from model mainline in 1 of 1 scenario run(s)"), "\(format)")
            #expect(c.contains(phrase + ": phase contended"), "\(format)")
        }

        // --expect with `model-departure fail` makes it a failure.
        let strict = try ExpectationSet.parse("model-departure fail\n")
        let failed = runWith(ShadowedBackend(DepartingKernel(), variant: .mainline), [host], expectations: strict)
        #expect(failed.results[0].status == .fail)
        #expect(failed.results[0].reason?.contains(phrase) == true)
        #expect(failed.exitCode == .failure)
        #expect(throws: ExpectationParseError.self) { try ExpectationSet.parse("model-departure maybe\n") }
    }

    /// The same shadow on a kernel that behaves like the model reports agreement and no finding.
    @Test func agreeingKernelHasNoFinding() throws {
        let report = runWith(ShadowedBackend(SimBackend(variant: .seed2023), variant: .seed2023), Catalog.all)
        for r in report.results {
            #expect(r.shadow?.agrees == true, "\(r.scenario)")
            #expect(!r.findings.contains { $0.kind == .modelDeparture })
            #expect(r.phases.allSatisfy { $0.shadow?.agrees == true })
        }
    }
}

/// `lbrprobe contract` end to end.
@Suite(.serialized, .enabled(if: Cli.available, "the lbrprobe binary is not built next to the tests (swift build)"))
struct ContractCliTests {
    /// Runs lbrprobe with a private per-CPU probe-lock directory: the hybrid contract runs here would otherwise
    /// hold CPU 0's lock while CliTests (another suite, run in parallel) probe it and exit 75. The lock itself
    /// is tested by CliTests; hybrid only plays LBRs in the model, so sharing the CPU is harmless.
    static func lbrprobe(_ args: [String]) throws -> Cli.Output {
        var env = ProcessInfo.processInfo.environment
        env["LBRPROBE_LOCK_DIR"] = NSTemporaryDirectory() + "lbrprobe-contract-locks-\(getpid())"
        return try Cli.run(args, env: env)
    }

    /// docutils with warnings fatal, through the project's script (which installs docutils when missing).
    static func docutils(_ path: String) throws -> (ok: Bool, output: String)? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: repoRoot().appendingPathComponent("scripts/rst-check.sh").path)
        p.arguments = [path]
        let err = Pipe()
        p.standardError = err; p.standardOutput = err
        try p.run()
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        if p.terminationStatus == 2 { return nil }
        return (p.terminationStatus == 0, e)
    }

    static func checkAnswers(_ text: String) {
        for heading in ["Q1. When exactly may perf take control of the LBR MSRs?",
                        "Q2. What happens when perf is using the LBRs: is the guest traced?",
                        "Q3. Why snapshot DEBUGCTL with IRQs on but access LBR MSRs with IRQs off?",
                        "ERROR and recovery", "LBRs across vCPU switches", "The host-to-guest branch leak"] {
            #expect(text.contains(heading), "missing section \(heading)")
        }
        for fn in ["perf_event_task_sched_in", "perf_install_in_context", "ctx_resched", "perf_mux_hrtimer_handler",
                   "handle_pmi_common", "intel_pmu_lbr_read", "vmx_passthrough_lbr_msrs",
                   "intel_pmu_create_guest_lbr_event", "intel_pmu_cleanup", "kvm_sched_out", "vcpu_enter_guest",
                   "intel_pmu_lbr_add", "intel_pmu_handle_lbr_msrs_access", "perf_event_throttle_group"] {
            #expect(text.contains(fn), "upstream function \(fn) not cited")
        }
        #expect(text.contains("docs/reference.md §1.6"))
        // The install-to-decision window is a hardware measurement: a model's contract leaves it out.
        #expect(text.contains("Q1 evidence") && !text.contains("Install-to-decision window"))
        #expect(text.contains("No hardware run contributed to this document"))
    }

    @Test(arguments: ["sim", "hybrid"])
    func rstRendersUnderDocutilsAndFromGivesTheSameBytes(backend: String) throws {
        if backend == "hybrid" && !ThisHost.hybridAvailable { return }
        let dir = Cli.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let live = try Self.lbrprobe(["contract", "--backend", backend, "--format", "rst", "-o", dir + "/c.rst",
                                "--save-runs", dir])
        #expect(live.code == 0, "\(live.stderr)")
        let rst = try String(contentsOfFile: dir + "/c.rst", encoding: .utf8)
        Self.checkAnswers(rst)
        #expect(rst.hasPrefix(".. SPDX-License-Identifier: GPL-2.0\n"))
        let saved = dir + "/run-\(backend)-mainline.json"
        #expect(FileManager.default.fileExists(atPath: saved))
        let from = try Self.lbrprobe(["contract", "--from", saved, "--format", "rst"])
        #expect(from.code == 0, "\(from.stderr)")
        #expect(from.stdout == rst, "--from on the saved run differs from the live contract")
        // Markdown from the same document is deterministic too.
        let md1 = try Self.lbrprobe(["contract", "--from", saved]), md2 = try Self.lbrprobe(["contract", "--from", saved])
        #expect(md1.code == 0 && md1.stdout == md2.stdout && md1.stdout.hasPrefix("# KVM and perf"))
        Self.checkAnswers(md1.stdout)
        if backend == "hybrid" {
            // Hybrid's shadow is its own model: shown as such, never as a check of the kernel.
            #expect(rst.contains("Own model ``mainline`` (not a check)"))
            #expect(md1.stdout.contains("Not a check of any kernel"))
            #expect(!md1.stdout.contains("matched what model `mainline` predicted"))
        }
        guard let check = try Self.docutils(dir + "/c.rst") else {
            withKnownIssue("docutils could not be installed here (scripts/rst-check.sh exit 2)") { Issue.record("skipped") }
            return
        }
        #expect(check.ok, "docutils --halt=warning: \(check.output)")
    }

    @Test func modelAllNamesEveryVariantAndFromIsOrderIndependent() throws {
        let dir = Cli.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let live = try Self.lbrprobe(["contract", "--backend", "sim", "--model", "all", "--format", "rst", "-o", dir + "/all.rst",
                                "--save-runs", dir])
        #expect(live.code == 0, "\(live.stderr)")
        let rst = try String(contentsOfFile: dir + "/all.rst", encoding: .utf8)
        #expect(rst.contains("Design space: every model on the same scenarios"))
        for m in Backends.modelNames {
            #expect(rst.contains("``\(m)``"), "model \(m) not named")
            let v = try #require(KernelVariant(name: m))
            #expect(rst.contains(String(v.summary.prefix(30))), "\(m) summary missing")
        }
        #expect(rst.contains("Consequences per design"))
        let files = Backends.modelNames.reversed().map { dir + "/run-sim-\($0).json" }
        let from = try Self.lbrprobe(["contract", "--from"] + files + ["--format", "rst"])
        #expect(from.code == 0, "\(from.stderr)")
        #expect(from.stdout == rst, "--from (any order) differs from the live --model all contract")
        if let check = try Self.docutils(dir + "/all.rst") { #expect(check.ok, "\(check.output)") }
    }

    @Test func hwSkipsWithExitFourAndWritesNothing() throws {
        let dir = Cli.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Self.lbrprobe(["contract", "--backend", "hw", "--format", "rst", "-o", dir + "/hw.rst"])
        if HwBackend(profile: ThisHost.profile).unavailableReason == nil { return }   // an eligible host really runs it
        #expect(r.code == 4, "\(r.stderr)")
        #expect(r.stderr.contains("SKIP: backend hw cannot run here, no document written: "))
        #expect(r.stdout.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty, "a (half) document was left behind")
    }

    @Test func badInputsAreOneLineErrors() throws {
        let dir = Cli.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "{\"schema\": \"lbrprobe.caps/1\"}".write(toFile: dir + "/caps.json", atomically: true, encoding: .utf8)
        let wrong = try Self.lbrprobe(["contract", "--from", dir + "/caps.json", "-o", dir + "/x.md"])
        #expect(wrong.code == 65 && wrong.stderr.split(separator: "\n").count == 1, "\(wrong.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/x.md"))
        let missing = try Self.lbrprobe(["contract", "--from", dir + "/nope.json"])
        #expect(missing.code == 65)
        for args in [["contract", "--backend", "hw", "--model", "all"], ["contract", "--model", "nope"],
                     ["contract", "--from", dir + "/caps.json", "--backend", "sim"], ["contract", "--format", "html"]] {
            #expect(try Self.lbrprobe(args).code == 64, "\(args)")
        }
    }
}
