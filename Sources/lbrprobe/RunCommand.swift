import ArgumentParser
import CLbrShim
import Foundation
import LbrBackends
import LbrCore
import LbrLinux
import LbrModel
import LbrReport
import LbrScenarios
import Logging

/// Output formats of `run` on standard output.
enum RunFormat: String, ExpressibleByArgument, CaseIterable {
    case text, tap, json
}

/// `--backend` values.
enum BackendChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, hw, hybrid, sim
    var kind: BackendKind? { BackendKind(rawValue: rawValue) }
}

/// Writes one line to standard error (fd 2; the C `stderr` global is not concurrency-safe).
func printError(_ line: String) {
    let s = line.hasSuffix("\n") ? line : line + "\n"
    _ = s.withCString { write(2, $0, strlen($0)) }
}

/// `lbrprobe run`: the contention scenarios on one backend, judged, in text/TAP/JSON (+ JUnit, KCIDB files).
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run contention scenarios (default: the whole catalog) and report what happened to the vLBR and the host's LBR events.",
        discussion: """
            Backends: hw (real perf + KVM vLBR on Intel with LBR), hybrid (the real KVM guest, its LBR MSR \
            accesses answered by the kernel model, which also plays host perf), sim (the kernel model only). \
            auto picks hw if eligible, else hybrid, else sim, and says why. `lbrprobe list` shows scenarios, \
            models and what this host can run.
            Exit status: 0 all passed; 1 a scenario failed, errored, timed out or missed its --expect entry; \
            4 nothing could run on the requested backend (TAP: 1..0 # SKIP reason); 64 usage; 65 unreadable or \
            malformed --expect file (also: no entries, without --allow-empty-expect); 73 an output file could not be \
            created (no partial file is left); 74 writing a report failed (stdout closed, full or a broken pipe; \
            the other outputs are still written); 75 another lbrprobe is probing the CPU (--wait waits); 129 / 130 / \
            131 / 143 stopped by SIGHUP / SIGINT / SIGQUIT / SIGTERM after the current step (that scenario ERROR, the runs not started one SKIP \
            per scenario, reports and files still written in full; a second signal terminates at once). Output \
            files: regular files are replaced atomically, devices and FIFOs written through (a FIFO waits 10 s \
            for a reader), symlinks followed as the kernel follows them (fs.protected_symlinks), sockets refused. \
            Formats: docs/run-format.md; JSON schema docs/run.schema.json.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Scenarios to run (default: the default set). See `lbrprobe list`.")
    var scenarios: [String] = []

    @Option(help: "Backend: \(BackendChoice.allCases.map(\.rawValue).joined(separator: ", ")).")
    var backend: BackendChoice = .auto

    @Option(help: "Kernel model for hybrid/sim, and the shadow model a hw run is compared with (default \(Backends.defaultModel)): \(Backends.modelNames.joined(separator: ", ")).")
    var model: String?

    @Option(name: .customLong("model-era"),
            help: "Kernel-era options of the hybrid/sim model, comma-separated (default current = today's mainline): \(ModelEra.options.map(\.name).joined(separator: ", ")). See lbrprobe list.")
    var modelEra: String?

    // `.unconditional`: `--timeout -1` is a value (then a range error), not a missing one.
    @Option(parsing: .unconditional, help: "CPU for the vCPU thread and the contenders (default: the first CPU this process may run on).")
    var cpu: Int?

    @Option(name: .customLong("repeat"), parsing: .unconditional, help: "Run each scenario N times and report the distribution of outcomes.")
    var repeatCount: Int = 1

    @Option(parsing: .unconditional, help: "Per-scenario timeout in seconds.")
    var timeout: Double = 45

    @Option(help: "Standard output format: \(RunFormat.allCases.map(\.rawValue).joined(separator: ", ")).")
    var format: RunFormat = .text

    @Option(help: "Also write JUnit XML to FILE (atomically).")
    var junit: String?

    @Option(help: "Also write KCIDB v5 JSON to FILE (atomically).")
    var kcidb: String?

    @Option(help: "KCIDB build id the tests belong to (default lbrprobe:<kernel release>, local use only); KernelCI submitters pass the KCIDB id of the build under test (docs/run-format.md, KCIDB).")
    var kcidbBuildId: String?

    @Option(help: "Expectation file (scenario[@model] outcome); a mismatch is a failure. See expectations/*.expect.")
    var expect: String?

    @Flag(help: "Accept an --expect file without entries (otherwise exit 65: it would check nothing).")
    var allowEmptyExpect = false

    @Flag(help: "When another lbrprobe is probing the same CPU (hybrid/hw), wait for it instead of exiting 75.")
    var wait = false

    // Regression workflow.
    @Option(help: "Also write an expectation file from this run to FILE (atomically): per scenario this run's outcome (with --repeat, the majority outcome and its distribution as a comment). `--expect FILE` then gates later runs.")
    var writeExpect: String?

    @Option(help: "KCIDB origin of the submitter (default lbrprobe); KernelCI submitters set the origin their KCIDB credentials belong to.")
    var kcidbOrigin: String?

    @Option(help: "Also write the JSON run document (lbrprobe.run/3, compact) to FILE (atomically), whatever --format says; the input of `lbrprobe compare`, `contract --from` and `timeline`.")
    var json: String?

    // Timeline picture, compact / detailed text, progress.
    @Option(help: "Also write a capture (lbrprobe.capture/2, compact JSON) to FILE (atomically): every raw observation the verdict engine consumed (each host sample included), per scenario run and phase, with the session facts; `lbrprobe judge FILE` derives the verdicts again (docs/capture-format.md).")
    var capture: String?

    @Option(help: "Also write the run's timeline picture (self-contained SVG) to FILE (atomically). Same as `lbrprobe timeline`.")
    var timeline: String?

    @Flag(help: "Text: one row per scenario (runs, statuses, outcome distribution) and its plain answer; no evidence.")
    var summary = false

    @Flag(help: "Text: add the evidence per phase (signals, guest/host observations). JSON always carries it.")
    var evidence = false

    @Flag(name: [.short, .long], help: "No progress line on stderr (it is shown only when stderr is a terminal).")
    var quiet = false

    func validate() throws {
        // A word right after an option-like token may be a mistyped option's value (`--frmat json`): leave it
        // to argument-parser, which reports "Unknown option" after validate(); run() checks again.
        try Run.checkScenarios(scenarios, deferAfterOption: true)
        if let model, !Backends.modelNames.contains(model) {
            throw ValidationError("unknown model '\(model)' (known: \(Backends.modelNames.joined(separator: ", ")))")
        }
        if let modelEra, ModelEra(names: modelEra) == nil {
            throw ValidationError("unknown --model-era '\(modelEra)' (known: current, \(ModelEra.options.map(\.name).joined(separator: ", ")))")
        }
        if repeatCount < 1 { throw ValidationError("--repeat must be at least 1 (got \(repeatCount))") }
        if !(timeout > 0) || timeout > 86_400 { throw ValidationError("--timeout must be in (0, 86400] seconds (got \(timeout))") }
        if let cpu, cpu < 0 { throw ValidationError("--cpu must be a CPU number (got \(cpu))") }
        if let cpu { _ = try CpuChoice.resolve(requested: cpu, online: CpuChoice.onlineCpus()) }
        // KCIDB ids are "origin:local" with origin [a-z0-9_]+ (kcidb-io schema v5.3); a build id is one.
        if let b = kcidbBuildId, b.wholeMatch(of: /[a-z0-9_]+:.+/) == nil {
            throw ValidationError("--kcidb-build-id must be a KCIDB id 'origin:local' with origin [a-z0-9_]+ (got '\(ReportSupport.oneLine(b))')")
        }
        if let o = kcidbOrigin, o.wholeMatch(of: /[a-z0-9_]+/) == nil {
            throw ValidationError("--kcidb-origin must be a KCIDB origin [a-z0-9_]+ (got '\(ReportSupport.oneLine(o))')")
        }
    }

    /// Unknown scenario names are a usage error (64).
    static func checkScenarios(_ names: [String], deferAfterOption: Bool,
                               arguments: [String] = CommandLine.arguments) throws {
        for s in names where Catalog.named(s) == nil {
            if deferAfterOption, let i = arguments.firstIndex(of: s), i > 0, arguments[i - 1].hasPrefix("-") { continue }
            throw ValidationError("unknown scenario '\(s)' (known: \(Catalog.names.joined(separator: ", ")))")
        }
    }

    func run() throws {
        try Run.checkScenarios(scenarios, deferAfterOption: false)
        let logger = global.makeLogger("lbrprobe.run")

        OutputTargets.ignoreSigpipe()
        // Signals: stop after the current step, tear the backend down, still report (conventions "Signals").
        // Installed first, so a signal while probing the host, waiting for the CPU lock or opening a FIFO
        // output still ends in a (possibly empty) report and 128 + signal.
        do { try TerminationSignals.install() } catch {
            logger.warning("SIGINT/SIGTERM/SIGHUP/SIGQUIT will not be handled gracefully: \(error)")
        }
        let expectations = try checkInputsAndOutputs()

        let profile = HostProbe(mountTracefs: false, logger: logger).probe()
        let cpu = try CpuChoice.resolve(requested: self.cpu, online: profile.topology.onlineCpus.value)
        let (chosen, selection) = try chooseBackend(profile: profile, logger: logger)

        let selected = scenarios.isEmpty ? Catalog.defaultSet : scenarios.compactMap(Catalog.named)
        let kernel = profile.kernelRelease.value ?? "unknown"
        let options = RunOptions(cpu: cpu, repeats: repeatCount, timeoutNs: UInt64(timeout * 1e9),
                                 kernelRelease: kernel, selection: selection, expectFile: expect,
                                 runId: Run.newRunId(), host: Run.hostIdentity(profile))
        logger.debug("running \(selected.count) scenario(s) on \(chosen.kind.rawValue)\(chosen.modelName.map { " model \($0)" } ?? "") cpu \(cpu)")
        // The guest's vCPU thread and a CPU hog run at once: stop here if the system refuses them.
        if chosen.kind != .sim, chosen.availability().isAvailable {
            try ThreadCreation.require(count: 2, for: "a \(chosen.kind.rawValue) run (vCPU thread, CPU hog)")
        }
        // One probe per CPU (hybrid/hw): the lock is taken before the guest or any perf event exists, held to exit.
        // A backend that cannot run here touches nothing on the CPU, so it takes no lock (its run is all SKIP).
        let lock = chosen.availability().isAvailable ? try CpuChoice.lock(cpu: cpu, backend: chosen.kind, wait: wait) : nil
        let progress = ProgressLine(quiet: quiet)
        let report = Backends.runner(backend: chosen, options: options, expectations: expectations,
                                     interruption: Run.interruption, progress: progress.update).run(selected)
        progress.finish()
        if let i = report.interruption {
            printError("lbrprobe: \(i.reason): \(report.runsNotStarted) of \(report.runsReported) scenario run(s) not started; backend torn down, writing reports")
        }

        let failures = writeReports(report, kernel: kernel)
        withExtendedLifetime(lock) {}
        // A signal after the last run (e.g. while a FIFO output waited for its reader) still means "stopped
        // by a signal": 128 + signal, like an interruption during the run.
        if report.interruption == nil, let i = Run.interruption() { throw ExitCode(i.exitCode.rawValue) }
        if let code = failures.exitCode { throw ExitCode(code.rawValue) }

        let code = report.exitCode
        if code != .success { throw ExitCode(code.rawValue) }
    }

    /// The output files this run writes, by flag.
    var outputs: [(flag: String, path: String)] {
        [("--junit", junit), ("--kcidb", kcidb), ("--write-expect", writeExpect), ("--json", json),
         ("--timeline", timeline), ("--capture", capture)].compactMap { f, p in p.map { (flag: f, path: $0) } }
    }

    /// Everything that can be wrong with the inputs and outputs, found before anything runs: outputs naming one
    /// file or an input (64), a bad `--expect` file (65), outputs that cannot take a report (73).
    func checkInputsAndOutputs() throws -> ExpectationSet? {
        try OutputTargets.checkClashes(outputs, inputs: expect.map { [("--expect", $0)] } ?? [])
        let expectations = try expect.map { try ExpectInput.load($0, allowEmpty: allowEmptyExpect) }
        try OutputTargets.checkWritable(outputs)
        return expectations
    }

    /// The backend named, or the one `--backend auto` picks (said on stderr when it is not hw), with the
    /// model era applied.
    func chooseBackend(profile: HostProfile, logger: Logger) throws -> (any ScenarioBackend, AutoSelection?) {
        let chosen: any ScenarioBackend
        var selection: AutoSelection?
        do {
            if let kind = backend.kind {
                chosen = try Backends.make(kind: kind, model: model, profile: profile, logger: logger,
                                           recordSamples: capture != nil)
            } else {
                let pick = try Backends.auto(model: model, profile: profile, logger: logger, recordSamples: capture != nil)
                chosen = pick.backend
                selection = pick.choice
                logger.notice("--backend auto chose \(pick.choice.text)")
                if pick.backend.kind != .hw {
                    // One line: the blockers themselves are listed once, in the report.
                    let passed = pick.choice.passedOver
                        .map { "\($0.backend.rawValue) unavailable (\($0.reasons.count) blocker\($0.reasons.count == 1 ? "" : "s"))" }
                    printError("lbrprobe: note: --backend auto fell back to \(pick.backend.kind.rawValue)"
                               + (passed.isEmpty ? "" : ": " + passed.joined(separator: ", ") + "; see the report"))
                }
            }
        } catch {
            throw ValidationError(error.message)
        }
        if let modelEra, let era = ModelEra(names: modelEra) {
            if let b = chosen as? SimBackend { b.era = era }
            else if let b = chosen as? HybridBackend { b.era = era }
            else { logger.warning("--model-era is ignored by --backend hw (the real kernel is the model)") }
        }
        return (chosen, selection)
    }

    /// Standard output first, then the files, each whatever happened to the others; what failed, by flag.
    func writeReports(_ report: RunReport, kernel: String) -> OutputTargets.Failures {
        var failures = OutputTargets.Failures()
        if let e = OutputTargets.writeStdout(report, format: format, evidence: evidence, summary: summary) { failures.record("", e) }
        let stop = { Run.interruption() != nil } // a FIFO output stops waiting for its reader on a signal
        /// One output file, its text handed to `produce`'s sink piece by piece (never held whole).
        func write(_ flag: String, _ path: String?, _ produce: ((String) -> Void) throws -> Void) {
            guard let path else { return }
            do {
                try AtomicFile.write(to: path, stop: stop, produce)
            } catch let e as ReportWriteError {
                failures.record(flag, e)
            } catch {
                failures.record(flag, ReportWriteError(path: path, operation: "render", errno: nil, detail: "\(error)"))
            }
        }
        write("--junit", junit) { JUnitReport.render(report, to: $0) }
        write("--kcidb", kcidb) {
            try KcidbReport.render(report, buildId: kcidbBuildId ?? "lbrprobe:\(kernel)", origin: kcidbOrigin ?? KcidbReport.origin, to: $0)
        }
        write("--write-expect", writeExpect) { $0(ExpectWriter.render(report)) }
        write("--json", json) { try JsonReport.render(report, compact: true, to: $0) }
        write("--timeline", timeline) { $0(TimelineSvg.render(report)) }
        write("--capture", capture) { $0(try JudgeCmd.encode(report)) }
        return failures
    }

    /// A fresh RFC 9562 UUIDv7 run id (wall clock + Foundation's random UUID bytes).
    static func newRunId() -> String {
        let u = UUID().uuid
        let bytes = [u.0, u.1, u.2, u.3, u.4, u.5, u.6, u.7, u.8, u.9, u.10, u.11, u.12, u.13, u.14, u.15]
        return RunId.v7(unixMs: UInt64(max(0, Date().timeIntervalSince1970 * 1000)), random: bytes)
    }

    /// The host identity every run document carries: uname -n, the probed kernel release and CPUID identity.
    static func hostIdentity(_ profile: HostProfile) -> HostIdentity {
        var u = utsname()
        let node: String = uname(&u) == 0
            ? withUnsafeBytes(of: &u.nodename) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } : "unknown"
        let cpu = profile.cpu
        return HostIdentity(hostname: node, kernelRelease: profile.kernelRelease.value ?? "unknown",
                            cpuVendor: cpu?.vendorString, cpuFamily: cpu.map { Int($0.family) },
                            cpuModel: cpu.map { Int($0.model) }, cpuStepping: cpu.map { Int($0.stepping) },
                            cpuModelName: cpu.flatMap { $0.vendor == .intel && $0.family == 6 ? CpuidDecode.intelModelName($0.model) : nil })
    }

    /// The first SIGINT/SIGTERM/SIGHUP/SIGQUIT received, as the runner's vocabulary.
    @Sendable static func interruption() -> Interruption? {
        switch TerminationSignals.received {
        case SIGINT?: return .sigint
        case SIGTERM?: return .sigterm
        case SIGHUP?: return .sighup
        case SIGQUIT?: return .sigquit
        default: return nil
        }
    }

    static func describe(_ error: any Error) -> String {
        let ns = error as NSError
        if let u = ns.userInfo[NSUnderlyingErrorKey] as? NSError, u.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(u.code)))
        }
        return ns.localizedDescription
    }
}
