// Why the runner skipped a result without starting it (`ScenarioResult.notRun`, `results[].not_run`).

/// Why the runner skipped a result without starting it.
public enum NotRunCause: String, Hashable, Sendable, Codable, CaseIterable {
    /// The backend was unavailable: every scenario is skipped and the blockers are reported once per run.
    case backendUnavailable = "backend-unavailable"
    /// A signal stopped the run before this run started.
    case interrupted
}
