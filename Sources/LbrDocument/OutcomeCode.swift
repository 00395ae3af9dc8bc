// A scenario's outcome code as it appears in a run document: its terms (`OutcomeTerm`: `coexist`,
// `recovered(lbr-msr-access)`) joined by `+`. Decoding an unknown term fails with a `DecodingError`, which
// `RunDocumentReader` turns into its one-line error.

import LbrCore
import LbrScenarios

/// A scenario's outcome code: one or more terms, written joined by `+` (`host-wins-vlbr-error+recovered(lbr-msr-access)`).
public struct OutcomeCode: Hashable, Sendable, SpelledValue, CustomStringConvertible, Comparable {
    public static let spellingKind = "outcome code"
    public var terms: [OutcomeTerm]
    public init(_ terms: [OutcomeTerm]) { self.terms = terms }
    public init(_ term: OutcomeTerm) { self.terms = [term] }
    public init(_ o: ScenarioOutcome) { self.terms = o.termCodes }

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

}
