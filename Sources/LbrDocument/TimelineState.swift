// The state word of a timeline event (`results[].timeline[].state`, docs/run-format.md "Timeline"): one closed
// vocabulary for every lane, each lane using its part of it. The picture colours events by it.

import LbrCore
import LbrScenarios

/// What a timeline event shows, as one word.
public enum TimelineState: String, Hashable, Sendable, Codable, CaseIterable {
    // `phase`: the phase's role (`teardown` for a phase the catalog does not name).
    case setup, baseline, contended, afterContention = "after-contention", recoveryAttempt = "recovery-attempt"
    case tracing, stackReference = "stack-reference", stackCheck = "stack-check", teardown
    // `step`: a guest command, a host action between exits, or the step's timing mode.
    case guest, host, betweenExits = "between-exits", whileVcpuRuns = "while-vcpu-runs", preemption
    // `vlbr-observed` (inferred), `vlbr-model`, `passthrough`, host events.
    case active, notActive = "not-active", noLbr = "no-lbr", unknown
    /// `vlbr-model`: no vLBR event exists (`VlbrState.none`; not `none`, which an optional state would shadow).
    case noEvent = "none"
    case inactive, error, off, on
    // `msr-access`: how a run of accesses was handled.
    case trapped, passedThrough = "passed-through", gp
    // `host:<contender>`: installed by a step, closed, sample summaries, and where a host action taken while the
    // vCPU ran fell against the guest command.
    case installed, closed, samples, starved, leak
    case insideCommand = "inside-command", outsideCommand = "outside-command", notMeasured = "not-measured"
    // `guest`: a command's result.
    case ok, timeout, stuck, dropped, odd, empty, advanced, same
    // `kmsg`, `ctx-switch-real` / `ctx-switch-model`, `note`.
    case kmsg, real, model, note
    // `outcome`: the result's status.
    case pass, fail, skip

    public init(_ role: PhaseRole) {
        switch role {
        case .setup: self = .setup
        case .baseline: self = .baseline
        case .contended: self = .contended
        case .afterContention: self = .afterContention
        case .recoveryAttempt: self = .recoveryAttempt
        case .tracing: self = .tracing
        case .stackReference: self = .stackReference
        case .stackCheck: self = .stackCheck
        }
    }

    public init(_ timing: TimingMode) {
        switch timing {
        case .betweenExits: self = .betweenExits
        case .whileVcpuRuns: self = .whileVcpuRuns
        case .preemption: self = .preemption
        }
    }

    public init(_ v: InferredVlbr) {
        switch v {
        case .active: self = .active
        case .notActive: self = .notActive
        case .noLbr: self = .noLbr
        case .unknown: self = .unknown
        }
    }

    public init(_ v: VlbrState) {
        switch v {
        case .none: self = .noEvent
        case .active: self = .active
        case .inactive: self = .inactive
        case .error: self = .error
        case .off: self = .off
        }
    }

    public init(_ h: HostEventState) {
        switch h {
        case .active: self = .active
        case .inactive: self = .inactive
        case .error: self = .error
        case .off: self = .off
        case .closed: self = .closed
        }
    }

    public init(_ s: ResultStatus) {
        switch s {
        case .pass: self = .pass
        case .fail: self = .fail
        case .skip: self = .skip
        case .error: self = .error
        case .timeout: self = .timeout
        }
    }
}
