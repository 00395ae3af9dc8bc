// The status of one scenario run.

/// The status of one scenario run.
public enum ResultStatus: String, Hashable, Sendable, Codable, CaseIterable {
    case pass, fail, skip, error, timeout
}
