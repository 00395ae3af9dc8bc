// Placeholder for the `hw` backend until it lands (it is built on the perf layer by another change,
// which replaces this file). It never pretends: availability is `.unavailable` with the precise
// blockers of `Eligibility.hw(profile)` (reference §2, §1.10, §6.3, §4), or, on a host where every hw
// precondition holds, with the reason that this build has no hw backend. `begin` throws unsupported
// with the same reason, so `lbrprobe run --backend hw` skips every scenario and exits 4.

import LbrCore
import LbrScenarios

/// The `hw` backend slot: unavailable, with the precise reason.
public final class HwUnavailableBackend: ScenarioBackend {
    public let kind: BackendKind = .hw
    public var modelName: String? { nil }
    let profile: HostProfile

    public init(profile: HostProfile) { self.profile = profile }

    /// The reason `hw` cannot run here.
    public var reason: String {
        let e = Eligibility.hw(profile)
        if !e.eligible { return e.blockers.map(\.description).joined(separator: "; ") }
        return "this host meets every hw precondition, but this lbrprobe build has no hw backend yet"
    }

    public func availability() -> BackendAvailability { .unavailable(reason: reason) }
    public func support(for scenario: Scenario) -> ScenarioSupport { .unsupported(reason: reason) }
    public func begin(_ scenario: Scenario, cpu: Int) throws(BackendError) -> SessionInfo { throw .unsupported(reason) }
    public func perform(_ step: Step, deadlineNs: UInt64) throws(BackendError) -> [TimedObservation] { throw .unsupported(reason) }
    public func end() -> [TimedObservation] { [] }
}
