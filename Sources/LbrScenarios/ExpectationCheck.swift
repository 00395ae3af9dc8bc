// How a result compared with an `--expect` file.

/// How a result compared with an `--expect` file.
public enum ExpectationCheck: Hashable, Sendable, Codable {
    /// No expectation file was given.
    case none
    /// The file has no entry for this scenario (and model).
    case notListed
    /// The outcome matched; `expected` is the entry's text, `line` its line number.
    case met(expected: String, line: Int)
    /// The outcome did not match (a FAIL).
    case unmet(expected: String, line: Int)
    /// The run was skipped or timed out, so the expectation was not checked.
    case notChecked(expected: String, line: Int)

    /// Stable code: none, not-listed, met, unmet, not-checked.
    public var code: String {
        switch self {
        case .none: return "none"
        case .notListed: return "not-listed"
        case .met: return "met"
        case .unmet: return "unmet"
        case .notChecked: return "not-checked"
        }
    }
    public var expected: String? {
        switch self {
        case .none, .notListed: return nil
        case let .met(e, _), let .unmet(e, _), let .notChecked(e, _): return e
        }
    }
}
