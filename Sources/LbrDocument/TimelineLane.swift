// The lanes of a result's timeline (`results[].timeline[].lane`, docs/run-format.md "Timeline"): a closed set
// plus one lane per host perf event, spelled `host:<contender>` on the wire.

import LbrCore

/// One lane of the timeline. The cases are in drawing order (`rank`); host lanes sort by contender name.
public enum TimelineLane: Hashable, Sendable, SpelledValue, Comparable, CustomStringConvertible {
    public static let spellingKind = "timeline lane"
    /// One span per phase (`state` = role).
    case phase
    /// One span per step.
    case step
    /// Per phase, the vLBR state inferred from the evidence.
    case vlbrObserved
    /// The model's ground truth of the vLBR state (hybrid/sim).
    case vlbrModel
    /// The model's ground truth of LBR MSR passthrough.
    case passthrough
    /// Runs of LBR MSR accesses handled alike.
    case msrAccess
    /// One host perf event, named by its contender (`host:<contender>`, never empty).
    case host(String)
    /// Each guest command's result.
    case guest
    /// Kernel lines.
    case kmsg
    /// The vCPU thread's real context switches.
    case contextSwitchReal
    /// The model's context switches of the vCPU thread.
    case contextSwitchModel
    /// Backend notes.
    case note
    /// The outcome code at the end.
    case outcome

    /// The lanes with a fixed name, in drawing order (`host` lanes sort between `msrAccess` and `guest`).
    public static let fixed: [TimelineLane] = [.phase, .step, .vlbrObserved, .vlbrModel, .passthrough, .msrAccess,
                                               .guest, .kmsg, .contextSwitchReal, .contextSwitchModel, .note, .outcome]

    /// The wire prefix of a host lane.
    public static let hostPrefix = "host:"

    /// The wire form: `phase`, `vlbr-observed`, `host:pinned-lbr-any-cycles`, ...
    public var code: String {
        switch self {
        case .phase: return "phase"
        case .step: return "step"
        case .vlbrObserved: return "vlbr-observed"
        case .vlbrModel: return "vlbr-model"
        case .passthrough: return "passthrough"
        case .msrAccess: return "msr-access"
        case let .host(contender): return TimelineLane.hostPrefix + contender
        case .guest: return "guest"
        case .kmsg: return "kmsg"
        case .contextSwitchReal: return "ctx-switch-real"
        case .contextSwitchModel: return "ctx-switch-model"
        case .note: return "note"
        case .outcome: return "outcome"
        }
    }

    public var description: String { code }

    /// Parses the wire form (`code`); nil for anything else, including `host:` without a contender.
    public init?(code: String) {
        if code.hasPrefix(TimelineLane.hostPrefix) {
            let contender = String(code.dropFirst(TimelineLane.hostPrefix.count))
            guard !contender.isEmpty else { return nil }
            self = .host(contender)
            return
        }
        guard let lane = TimelineLane.fixed.first(where: { $0.code == code }) else { return nil }
        self = lane
    }

    /// The contender of a host lane.
    public var contender: String? { if case let .host(c) = self { return c } else { return nil } }

    /// Drawing order: the position among the fixed lanes, every host lane at the same place (before `guest`).
    public var rank: Int {
        switch self {
        case .phase: return 0
        case .step: return 1
        case .vlbrObserved: return 2
        case .vlbrModel: return 3
        case .passthrough: return 4
        case .msrAccess: return 5
        case .host: return 6
        case .guest: return 7
        case .kmsg: return 8
        case .contextSwitchReal: return 9
        case .contextSwitchModel: return 10
        case .note: return 11
        case .outcome: return 12
        }
    }

    /// By `rank`, host lanes by contender name.
    public static func < (a: TimelineLane, b: TimelineLane) -> Bool {
        a.rank != b.rank ? a.rank < b.rank : (a.contender ?? "") < (b.contender ?? "")
    }

}
