// A termination signal that stopped a run early.

import LbrCore

/// A termination signal that stopped a run early (the CLI catches it; this module makes no system calls).
///
/// kselftest convention followed: the scenario run in progress when the signal came is reported as ERROR
/// (it did not complete), the runs not started yet as SKIP ("not run: interrupted by SIGINT") — one entry per
/// scenario standing for all of its runs not started (`ScenarioResult.runsCovered`, "(N runs not started)"),
/// counted, never materialised one by one, so the plan stays consistent with the lines; the process exit status (128 + signal number, `LbrExitCode`) says the run was cut short.
public enum Interruption: String, Hashable, Sendable, Codable, CaseIterable {
    case sigint = "SIGINT"
    case sigterm = "SIGTERM"
    case sighup = "SIGHUP"
    case sigquit = "SIGQUIT"

    /// "interrupted by SIGINT".
    public var reason: String { "interrupted by \(rawValue)" }

    /// 128 + signal number (the shell's convention): 129 SIGHUP, 130 SIGINT, 131 SIGQUIT, 143 SIGTERM.
    public var exitCode: LbrExitCode {
        switch self {
        case .sigint: return .interrupted
        case .sigterm: return .terminated
        case .sighup: return .hangup
        case .sigquit: return .quit
        }
    }
}
