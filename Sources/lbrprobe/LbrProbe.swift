import ArgumentParser
import LbrCore

/// `lbrprobe`: measures how perf and KVM share Intel's Last Branch Record hardware.
///
/// The CLI is thin: probing lives in LbrLinux, decisions in LbrCore, rendering in LbrReport.
@main
struct LbrProbe: AsyncParsableCommand {
    /// The tool version (`lbrprobe --version`, and the `tool.version` of JSON documents).
    static let version = "0.1.0"

    /// Every subcommand, in help order. This is the one place to register a new one (e.g. `Run`, `List`).
    static let subcommandList: [any ParsableCommand.Type] = [
        Caps.self,
        Run.self,
        List.self,
        CompareRuns.self,
        ContractCmd.self,
        TimelineCmd.self,
        JudgeCmd.self,
    ]

    static let configuration = CommandConfiguration(
        commandName: "lbrprobe",
        abstract: "Probe how host perf LBR events and KVM's guest LBR (vLBR) contend, with evidence.",
        discussion: """
            Exit codes are defined in Sources/LbrCore/ExitCodes.swift (0 success, 64 usage error, …).
            Logging goes to stderr; -v adds debug, -vv trace.
            """,
        version: version,
        subcommands: subcommandList
    )
}
