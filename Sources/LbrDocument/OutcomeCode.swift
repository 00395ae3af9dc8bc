// The outcome vocabulary as it appears in a run document: one term (`coexist`, `recovered(lbr-msr-access)`) and a
// scenario's outcome code (terms joined by `+`). Decoding an unknown term fails with a `DecodingError`, which
// `RunDocumentReader` turns into its one-line error.

import LbrScenarios

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
    init?<Bytes: Collection<UInt8>>(utf8 bytes: Bytes) {
        let n = bytes.count
        for s in Self.spellings where s.utf8.count == n && s.utf8.elementsEqual(bytes) {
            self = s.term
            return
        }
        return nil
    }
}

/// A scenario's outcome code: one or more terms, written joined by `+` (`host-wins-vlbr-error+recovered(lbr-msr-access)`).
public struct OutcomeCode: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    public var terms: [OutcomeTerm]
    public init(_ terms: [OutcomeTerm]) { self.terms = terms }
    public init(_ term: OutcomeTerm) { self.terms = [term] }
    public init(_ o: ScenarioOutcome) { self.terms = o.terms.map(OutcomeTerm.init) }

    /// The code spelled `text`, nil when a term is not in the vocabulary.
    public init?(code text: String) {
        var terms: [OutcomeTerm] = []
        for part in text.utf8.split(separator: UInt8(ascii: "+"), omittingEmptySubsequences: false) {
            guard let t = OutcomeTerm(utf8: part) else { return nil }
            terms.append(t)
        }
        self.terms = terms
    }

    public var code: String { terms.map(\.code).joined(separator: "+") }
    public var description: String { code }
    public static func < (a: OutcomeCode, b: OutcomeCode) -> Bool { a.code < b.code }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let v = OutcomeCode(code: s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "unknown outcome code \(s)")
        }
        self = v
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(code)
    }
}
