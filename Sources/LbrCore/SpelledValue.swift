// A value that documents and captures carry as one string: its spelling.

/// A value written as one JSON string, its spelling (`code`), and read back from it. An unknown spelling does not
/// decode: the decoding error names the kind of value and the text, and the reader adds the field's path.
public protocol SpelledValue: Codable {
    /// The value's spelling.
    var code: String { get }
    /// The value spelled `code`, nil when the text spells none.
    init?(code: String)
    /// What the value is, in the error on an unknown spelling ("timeline lane").
    static var spellingKind: String { get }
}

extension SpelledValue {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let text = try c.decode(String.self)
        guard let value = Self(code: text) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "unknown \(Self.spellingKind) '\(text)'")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(code)
    }
}
