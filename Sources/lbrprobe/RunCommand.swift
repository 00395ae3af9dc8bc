import ArgumentParser
import CLbrShim
import Foundation
import LbrBackends
import LbrCore
import LbrLinux
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
            malformed --expect file; 73 an output file could not be written (no partial file is left); 130 / 143 \
            stopped by SIGINT / SIGTERM after the current step (that scenario ERROR, the rest SKIP, reports and \
            files still written in full; a second signal terminates at once). \
            Formats: docs/run-format.md; JSON schema docs/run.schema.json.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Scenarios to run (default: the default set). See `lbrprobe list`.")
    var scenarios: [String] = []

    @Option(help: "Backend: \(BackendChoice.allCases.map(\.rawValue).joined(separator: ", ")).")
    var backend: BackendChoice = .auto

    @Option(help: "Kernel model for hybrid/sim (default \(Backends.defaultModel)): \(Backends.modelNames.joined(separator: ", ")).")
    var model: String?

    @Option(help: "CPU for the vCPU thread and the contenders (default: the first CPU this process may run on).")
    var cpu: Int?

    @Option(name: .customLong("repeat"), help: "Run each scenario N times and report the distribution of outcomes.")
    var repeatCount: Int = 1

    @Option(help: "Per-scenario timeout in seconds.")
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

    // Issue 12 (regression workflow).
    @Option(help: "Also write an expectation file from this run to FILE (atomically): per scenario the observed outcome (with --repeat, the majority outcome and its distribution as a comment). `--expect FILE` then gates later runs.")
    var writeExpect: String?

    @Option(help: "KCIDB origin of the submitter (default lbrprobe); KernelCI submitters set the origin their KCIDB credentials belong to.")
    var kcidbOrigin: String?

    @Option(help: "Also write the JSON run document (lbrprobe.run/2) to FILE (atomically), whatever --format says; the input of `lbrprobe compare`.")
    var json: String?

    func validate() throws {
        for s in scenarios where Catalog.named(s) == nil {
            throw ValidationError("unknown scenario '\(s)' (known: \(Catalog.names.joined(separator: ", ")))")
        }
        if let model, !Backends.modelNames.contains(model) {
            throw ValidationError("unknown model '\(model)' (known: \(Backends.modelNames.joined(separator: ", ")))")
        }
        if repeatCount < 1 { throw ValidationError("--repeat must be at least 1 (got \(repeatCount))") }
        if !(timeout > 0) || timeout > 86_400 { throw ValidationError("--timeout must be in (0, 86400] seconds (got \(timeout))") }
        if let cpu, cpu < 0 { throw ValidationError("--cpu must be a CPU number (got \(cpu))") }
    }

    func run() throws {
        let logger = global.makeLogger("lbrprobe.run")

        // Expectations first: a bad file is reported before anything runs (exit 65).
        var expectations: ExpectationSet?
        if let expect {
            let text: String
            do { text = try String(contentsOfFile: expect, encoding: .utf8) } catch {
                printError("Error: --expect \(expect): cannot read: \(Run.describe(error))")
                throw ExitCode(LbrExitCode.dataError.rawValue)
            }
            do {
                expectations = try ExpectationSet.parse(text, file: expect, knownScenarios: Set(Catalog.names),
                                                        knownModels: Set(Backends.modelNames))
            } catch {
                let first = error.errors.first.map { "\(expect):\($0.line): \($0.message)" } ?? "\(expect): malformed"
                let more = error.errors.count > 1 ? " (and \(error.errors.count - 1) more)" : ""
                printError("Error: --expect \(first)\(more)")
                throw ExitCode(LbrExitCode.dataError.rawValue)
            }
        }
        // Output files: fail early (exit 73) if their directory cannot take them.
        for (flag, path) in [("--junit", junit), ("--kcidb", kcidb), ("--write-expect", writeExpect), ("--json", json)] {
            if let path, let why = Run.unwritable(path) {
                printError("Error: \(flag) \(path): \(why)")
                throw ExitCode(LbrExitCode.cannotCreate.rawValue)
            }
        }

        let profile = HostProbe(mountTracefs: false, logger: logger).probe()
        let online = profile.topology.onlineCpus.value
        let cpu: Int
        if let requested = self.cpu {
            if let online, !online.contains(requested) {
                throw ValidationError("--cpu \(requested) is not an online CPU (online: \(KernelText.formatCpuList(online)))")
            }
            cpu = requested
        } else {
            cpu = Run.firstAllowedCpu(online: online ?? [0])
        }

        let chosen: any ScenarioBackend
        var reason: String?
        do {
            if let kind = backend.kind {
                if kind == .hw, model != nil { logger.warning("--model is ignored by --backend hw (the real kernel is the model)") }
                chosen = try Backends.make(kind: kind, model: model, profile: profile, logger: logger)
            } else {
                let pick = try Backends.auto(model: model, profile: profile, logger: logger)
                chosen = pick.backend
                reason = "--backend auto chose " + pick.reason
                logger.notice("\(reason!)")
            }
        } catch {
            throw ValidationError(error.message)
        }

        let selected = scenarios.isEmpty ? Catalog.defaultSet : scenarios.compactMap(Catalog.named)
        let kernel = profile.kernelRelease.value ?? "unknown"
        let options = RunOptions(cpu: cpu, repeats: repeatCount, timeoutNs: UInt64(timeout * 1e9),
                                 kernelRelease: kernel, selectionReason: reason, expectFile: expect,
                                 runId: Run.newRunId(), host: Run.hostIdentity(profile))
        logger.debug("running \(selected.count) scenario(s) on \(chosen.kind.rawValue)\(chosen.modelName.map { " model \($0)" } ?? "") cpu \(cpu)")
        // Ctrl-C / SIGTERM: stop after the current step, tear the backend down, still report (conventions "Signals").
        do { try TerminationSignals.install() } catch {
            logger.warning("SIGINT/SIGTERM will not be handled gracefully: \(error)")
        }
        let report = Backends.runner(backend: chosen, options: options, expectations: expectations,
                                     interruption: Run.interruption).run(selected)
        if let i = report.interruption {
            let notRun = report.results.filter { $0.reason?.hasPrefix("not run: ") == true }.count
            printError("lbrprobe: \(i.reason): \(notRun) of \(report.results.count) scenario run(s) not started; backend torn down, writing reports")
        }

        switch format {
        case .text: print(TextReport.render(report), terminator: "")
        case .tap: print(TapReport.render(report), terminator: "")
        case .json: print(try JsonReport.render(report), terminator: "")
        }

        var writeFailed = false
        func save(_ flag: String, _ path: String?, _ render: () throws -> String) {
            guard let path else { return }
            do {
                try AtomicFile.write(try render(), to: path)
            } catch {
                printError("Error: \(flag) \(path): \(error)")
                writeFailed = true
            }
        }
        save("--junit", junit) { JUnitReport.render(report) }
        save("--kcidb", kcidb) {
            try KcidbReport.render(report, buildId: kcidbBuildId ?? "lbrprobe:\(kernel)", origin: kcidbOrigin ?? KcidbReport.origin)
        }
        save("--write-expect", writeExpect) { ExpectWriter.render(report) }
        save("--json", json) { try JsonReport.render(report) }
        if writeFailed { throw ExitCode(LbrExitCode.cannotCreate.rawValue) }

        let code = report.exitCode
        if code != .success { throw ExitCode(code.rawValue) }
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

    /// The first SIGINT/SIGTERM received, as the runner's vocabulary.
    @Sendable static func interruption() -> Interruption? {
        switch TerminationSignals.received {
        case SIGINT?: return .sigint
        case SIGTERM?: return .sigterm
        default: return nil
        }
    }

    /// Why `path` cannot be created (its directory missing or not writable), nil if it can.
    static func unwritable(_ path: String) -> String? {
        let dir = (path as NSString).deletingLastPathComponent
        let d = dir.isEmpty ? "." : dir
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: d, isDirectory: &isDir), isDir.boolValue else {
            return "directory \(d) does not exist"
        }
        if access(d, W_OK) != 0 { return "directory \(d) is not writable (\(String(cString: strerror(errno))))" }
        var st = stat()
        if stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR { return "is a directory" }
        return nil
    }

    /// The first online CPU in this process's affinity mask.
    static func firstAllowedCpu(online: [Int]) -> Int {
        for c in online.sorted() where lbr_self_affinity_has(Int32(c)) == 1 { return c }
        return online.min() ?? 0
    }

    static func describe(_ error: any Error) -> String {
        let ns = error as NSError
        if let u = ns.userInfo[NSUnderlyingErrorKey] as? NSError, u.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(u.code)))
        }
        return ns.localizedDescription
    }
}
