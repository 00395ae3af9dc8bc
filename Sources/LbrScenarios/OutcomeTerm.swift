// One term of an outcome code without its latency or reason (`coexist`, `recovered(lbr-msr-access)`): what two
// runs' outcomes are compared and grouped by, and what a run document's outcome codes are made of.

/// One term of an outcome code, without latencies or reasons (those live in `TermDTO`).
public enum OutcomeTerm: Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case guestWinsHostStarved, hostWinsVlbrError, coexist
    case recovered(RecoveryPath)
    case staysErrored, guestTraced, notTraced, retained, lost, vlbrActive, vlbrInactive, noGuestLbr
    case unsupported, inconclusive, error

    public static let allCases: [OutcomeTerm] =
        [.guestWinsHostStarved, .hostWinsVlbrError, .coexist] + RecoveryPath.allCases.map(OutcomeTerm.recovered)
        + [.staysErrored, .guestTraced, .notTraced, .retained, .lost, .vlbrActive, .vlbrInactive, .noGuestLbr,
           .unsupported, .inconclusive, .error]

    /// The term of a verdict's outcome.
    public init(_ o: Outcome) {
        switch o {
        case .guestWinsHostStarved: self = .guestWinsHostStarved
        case .hostWinsVlbrError: self = .hostWinsVlbrError
        case .coexist: self = .coexist
        case let .recovered(p, _): self = .recovered(p)
        case .staysErrored: self = .staysErrored
        case .guestTraced: self = .guestTraced
        case .notTraced: self = .notTraced
        case .retained: self = .retained
        case .lost: self = .lost
        case .vlbrActive: self = .vlbrActive
        case .vlbrInactive: self = .vlbrInactive
        case .noGuestLbr: self = .noGuestLbr
        case .unsupported: self = .unsupported
        case .inconclusive: self = .inconclusive
        case .error: self = .error
        }
    }

    /// The verdict outcome this term stands for (no latency: terms carry none).
    public var outcome: Outcome {
        switch self {
        case .guestWinsHostStarved: return .guestWinsHostStarved
        case .hostWinsVlbrError: return .hostWinsVlbrError
        case .coexist: return .coexist
        case let .recovered(p): return .recovered(p, nil)
        case .staysErrored: return .staysErrored
        case .guestTraced: return .guestTraced
        case .notTraced: return .notTraced
        case .retained: return .retained
        case .lost: return .lost
        case .vlbrActive: return .vlbrActive
        case .vlbrInactive: return .vlbrInactive
        case .noGuestLbr: return .noGuestLbr
        case .unsupported: return .unsupported("")
        case .inconclusive: return .inconclusive("")
        case .error: return .error("")
        }
    }

    /// The wire spelling: the outcome's own (`Outcome.code`), one definition.
    public var code: String { outcome.code }
    public var description: String { code }

    /// Every term with its spelling's bytes (the vocabulary is ASCII: comparing bytes is comparing text).
    static let spellings: [(utf8: [UInt8], term: OutcomeTerm)] = allCases.map { (Array($0.code.utf8), $0) }

    /// The term spelled `code`, nil when it is not in the vocabulary.
    public init?(code: Substring) { self.init(utf8: code.utf8) }

    /// The term spelled by these bytes, nil when it is not in the vocabulary.
    public init?<Bytes: Collection<UInt8>>(utf8 bytes: Bytes) {
        let n = bytes.count
        for s in Self.spellings where s.utf8.count == n && s.utf8.elementsEqual(bytes) {
            self = s.term
            return
        }
        return nil
    }
}
