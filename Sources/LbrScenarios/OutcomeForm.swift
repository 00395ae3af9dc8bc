// The expected shape of a scenario's outcome (`Scenario.outcomeForm`): what `lbrprobe list` prints as
// `<contended>[+<after>]`, and what each term position means when an answer is put in words.

/// What one term position of a scenario's outcome stands for: `contended` in `<contended>[+<after>]`.
public enum TermLabel: String, Hashable, Sendable, Codable, CaseIterable {
    case contended
    case after
    case recoveredOrStaysErrored = "recovered(path)|stays-errored"
    case lbrOff = "lbr-off"
    case lbrOn = "lbr-on"
    case betweenExits = "between-exits"
    case whileRunning = "while-running"
    case inclGuest = "incl-guest"
    case exclGuest = "excl-guest"

    /// The position in words, for the plain answer ("while contended").
    public var context: String {
        switch self {
        case .contended: return "while contended"
        case .after: return "after the host event closed"
        case .recoveredOrStaysErrored: return "afterwards"
        case .lbrOff: return "with the guest's DEBUGCTL.LBR off"
        case .lbrOn: return "with the guest's DEBUGCTL.LBR on"
        case .betweenExits: return "with the host event opened between VM-exits"
        case .whileRunning: return "with it opened while the vCPU ran"
        case .inclGuest: return "with the vLBR in ERROR and a host event including the guest"
        case .exclGuest: return "with a host event excluding the guest"
        }
    }
}

/// The expected shape of a scenario's outcome.
public enum OutcomeForm: Hashable, Sendable, Codable, CustomStringConvertible {
    /// A single term, one of these: `vlbr-active | vlbr-inactive | no-guest-lbr`.
    case oneOf([Outcome])
    /// One term per label, in order, joined by `+`; with `lastOptional` the last term may be absent:
    /// `<contended>[+<after>]`.
    case terms([TermLabel], lastOptional: Bool = false)

    /// The labels of the term positions (none for a single-term form).
    public var termLabels: [TermLabel] {
        switch self {
        case .oneOf: return []
        case let .terms(labels, _): return labels
        }
    }

    /// As `lbrprobe list` prints it.
    public var description: String {
        switch self {
        case let .oneOf(outcomes):
            return outcomes.map(\.code).joined(separator: " | ")
        case let .terms(labels, lastOptional):
            var s = ""
            for (i, label) in labels.enumerated() {
                let part = (i == 0 ? "" : "+") + "<\(label.rawValue)>"
                s += lastOptional && i > 0 && i == labels.count - 1 ? "[\(part)]" : part
            }
            return s
        }
    }
}
