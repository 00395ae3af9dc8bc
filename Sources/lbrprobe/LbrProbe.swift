import ArgumentParser
import LbrCore
#if canImport(Glibc)
import Glibc
#endif

/// `lbrprobe`: measures how perf and KVM share Intel's Last Branch Record hardware.
///
/// The CLI is thin: probing lives in LbrLinux, decisions in LbrCore, rendering in LbrReport.
@main
struct LbrProbe: ParsableCommand {
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
    ]

    /// The entry point: synchronous (no Swift concurrency runtime, so no libdispatch worker thread is needed just
    /// to start: `caps` and `list` work where no thread can be created). The main thread starts with no signal
    /// blocked: a mask inherited from a multi-threaded parent (a blocked SIGINT/SIGTERM) would otherwise keep
    /// the termination handlers from ever running.
    static func main() {
        var none = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, nil)
        main(nil)
    }

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
