import ArgumentParser
import Foundation
import LbrBackends
import LbrCore
import LbrDocument
import LbrLinux
import LbrModel
import LbrReport
import LbrScenarios
import Logging

/// `--format` of `contract`.
enum ContractFormatChoice: String, ExpressibleByArgument, CaseIterable {
    case markdown, rst
    var format: ContractFormat { self == .markdown ? .markdown : .rst }
}

/// `lbrprobe contract`: the KVM <-> perf LBR contract, written from run documents (LbrReport/Contract.swift).
struct ContractCmd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "contract",
        abstract: "Write the KVM/perf LBR contract (Sean Christopherson's Q1-Q3, recovery, vCPU switches, leaks) from evidence.",
        discussion: """
            Without --from, runs every scenario on the backend (and, with --model all, on every kernel model) and \
            renders the document from the JSON run documents of those runs; with --from it reads saved \
            lbrprobe.run/3 documents only (no probing, no syscalls beyond reading them) and gives the same text \
            for the same documents. --save-runs DIR keeps the run documents a live contract used. \
            On hw, every run also drives the shadow kernel model (--model, default mainline) and the document \
            says where the kernel departs from it. \
            Exit status: 0 document written; 4 nothing could run on the requested backend (no document is \
            written); 64 usage; 65 unreadable or malformed --from document; 73 the output could not be created; 74 writing it failed \
            (standard output closed or full, ENOSPC); \
            75 another lbrprobe is probing the CPU (--wait waits for it).
            """)

    @OptionGroup var global: GlobalOptions

    @Option(help: "Backend for a live run: \(BackendChoice.allCases.map(\.rawValue).joined(separator: ", ")).")
    var backend: BackendChoice = .auto

    @Option(help: "Kernel model (hybrid/sim: the model run; hw: the shadow model), or 'all' (hybrid/sim): \(Backends.modelNames.joined(separator: ", ")).")
    var model: String?

    @Option(name: .customLong("from"), parsing: .upToNextOption,
            help: "Saved run documents (lbrprobe run --format json) to write the contract from; no run is made.")
    var from: [String] = []

    @Option(help: "Output format: \(ContractFormatChoice.allCases.map(\.rawValue).joined(separator: ", ")).")
    var format: ContractFormatChoice = .markdown

    @Option(name: .shortAndLong, help: "Write the document to FILE (atomically) instead of standard output.")
    var output: String?

    @Option(help: "Live run: also write each run document used to DIR (run-<backend>-<model>.json).")
    var saveRuns: String?

    @Option(parsing: .unconditional, help: "CPU for the vCPU thread and the contenders (live run; default: the first CPU this process may run on).")
    var cpu: Int?

    @Flag(help: "Live run: when another lbrprobe is probing the CPU, wait for it instead of exiting 75.")
    var wait = false

    @Option(parsing: .unconditional, help: "Per-scenario timeout in seconds (live run).")
    var timeout: Double = 45

    var allModels: Bool { model == "all" }

    func validate() throws {
        if let model, model != "all", !Backends.modelNames.contains(model) {
            throw ValidationError("unknown model '\(model)' (known: \(Backends.modelNames.joined(separator: ", ")), all)")
        }
        if !from.isEmpty {
            if backend != .auto { throw ValidationError("--backend and --from exclude each other: --from reads saved runs") }
            if model != nil { throw ValidationError("--model and --from exclude each other: the documents name their models") }
            if saveRuns != nil { throw ValidationError("--save-runs needs a live run, not --from") }
        }
        if allModels, backend == .hw {
            throw ValidationError("--model all needs --backend hybrid or sim: a hw run compares against one shadow model")
        }
        if !(timeout > 0) || timeout > 86_400 { throw ValidationError("--timeout must be in (0, 86400] seconds (got \(timeout))") }
        if let cpu, cpu < 0 { throw ValidationError("--cpu must be a CPU number (got \(cpu))") }
        if let cpu, from.isEmpty { _ = try CpuChoice.resolve(requested: cpu, online: CpuChoice.onlineCpus()) }
    }

    /// Every model's description, in catalog order.
    static var modelInfos: [ContractModelInfo] {
        KernelVariant.allCases.map {
            ContractModelInfo(name: $0.name, summary: $0.summary, citation: $0.citation,
                              citationStatus: $0.citationStatus,
                              choices: $0.modelChoices.map { ContractModelChoice(kind: $0.kind.rawValue, summary: $0.summary, decides: $0.decides) })
        }
    }

    func run() throws {
        let logger = global.makeLogger("lbrprobe.contract")
        try OutputTargets.validate(output.map { [("-o", $0)] } ?? [], inputs: from.map { ("--from", $0) })
        if let dir = saveRuns {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
                printError("Error: --save-runs \(dir): not a directory")
                throw ExitCode(LbrExitCode.cannotCreate.rawValue)
            }
        }

        var documents: [JsonReport.RunDocument] = []
        if !from.isEmpty {
            for path in from {
                do { documents.append(try RunDocumentReader.read(path: path)) } catch {
                    printError("Error: --from \(error.description)")
                    throw ExitCode(error.exitCode.rawValue)
                }
            }
        } else {
            documents = try liveRuns(logger: logger)
        }

        let text: String
        do { text = try Contract.render(documents, models: ContractCmd.modelInfos, format: format.format, tool: ContractCmd.toolIdentity()) } catch {
            printError("Error: \(error.message)")
            throw ExitCode(LbrExitCode.dataError.rawValue)
        }
        if let output {
            try OutputTargets.writeFile("-o", output, text)
        } else {
            try OutputTargets.emit(text)
        }
    }

    /// Runs the catalog on the chosen backend (for every model with --model all) and returns the run documents
    /// exactly as a saved JSON file would give them back (rendered, then decoded), so `--from` on those files
    /// yields the same contract. Exits 4 (and writes nothing) when nothing could run.
    func liveRuns(logger: Logger) throws -> [JsonReport.RunDocument] {
        let profile = HostProbe(mountTracefs: false, logger: logger).probe()
        let cpu = try CpuChoice.resolve(requested: self.cpu, online: profile.topology.onlineCpus.value)
        let kernel = profile.kernelRelease.value ?? "unknown"
        let modelList: [String?] = allModels ? Backends.modelNames.map { Optional($0) } : [model]
        var documents: [JsonReport.RunDocument] = []
        var neighboursNoted = false
        for m in modelList {
            let chosen: any ScenarioBackend
            var selection: AutoSelection?
            do {
                if let kind = backend.kind {
                    chosen = try Backends.make(kind: kind, model: m, profile: profile, logger: logger)
                } else {
                    let pick = try Backends.auto(model: m, profile: profile, logger: logger)
                    if allModels, pick.backend.kind == .hw {
                        throw BackendConfigError("--model all needs hybrid or sim, and --backend auto chose hw: pass --backend hybrid or sim")
                    }
                    chosen = pick.backend
                    selection = pick.choice
                }
            } catch let e as BackendConfigError {
                throw ValidationError(e.message)
            }
            let options = RunOptions(cpu: cpu, repeats: 1, timeoutNs: UInt64(timeout * 1e9), kernelRelease: kernel,
                                     selection: selection, expectFile: nil, runId: Run.newRunId(),
                                     host: Run.hostIdentity(profile))
            logger.notice("contract: running \(Catalog.defaultSet.count) scenario(s) on \(chosen.kind.rawValue)\(m.map { " model \($0)" } ?? "")")
            // The guest's vCPU thread and a CPU hog run at once, as in `run`: stop here if the system refuses them.
            if chosen.kind != .sim, chosen.availability().isAvailable {
                try ThreadCreation.require(count: 2, for: "a \(chosen.kind.rawValue) run (vCPU thread, CPU hog)")
            }
            // One probe per CPU (hybrid/hw), as in `run`: the lock is held while the guest and perf events exist.
            let lock = chosen.availability().isAvailable
                ? try CpuChoice.lock(cpu: cpu, backend: chosen.kind, wait: wait, noteNeighbours: !neighboursNoted) : nil
            if lock != nil { neighboursNoted = true }
            let report = Backends.runner(backend: chosen, options: options).run(Catalog.defaultSet)
            withExtendedLifetime(lock) {}
            if report.nothingRan {
                let why: String
                if !report.availability.isAvailable { why = report.availability.text } else {
                    why = report.results.first?.reason ?? "every scenario was skipped"
                }
                printError("lbrprobe contract: SKIP: backend \(chosen.kind.rawValue) cannot run here, no document written: \(why)")
                throw ExitCode(LbrExitCode.skip.rawValue)
            }
            let json = try JsonReport.render(report)
            if let dir = saveRuns {
                let path = (dir as NSString).appendingPathComponent("run-\(chosen.kind.rawValue)-\(m ?? Backends.defaultModel).json")
                try OutputTargets.writeFile("--save-runs", path, json)
            }
            do { documents.append(try RunDocumentReader.decode(Data(json.utf8), source: "live run")) } catch {
                printError("Error: \(error.description)")
                throw ExitCode(error.exitCode.rawValue)
            }
        }
        return documents
    }

    /// "lbrprobe 0.1.0, commit 1a2b3c4d5e6f (the git checkout it runs from)" for the contract's header; the commit
    /// is that of the checkout holding the binary, read with `git rev-parse`, when there is one.
    static func toolIdentity() -> String {
        let base = "lbrprobe \(LbrProbe.version)"
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "-C", dir, "rev-parse", "--short=12", "HEAD"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return base + ", commit not recorded" }
        p.waitUntilExit()
        let commit = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard p.terminationStatus == 0, commit.allSatisfy(\.isHexDigit), !commit.isEmpty else {
            return base + ", commit not recorded (not run from a git checkout)"
        }
        return base + ", commit \(commit) (the git checkout it runs from)"
    }
}
