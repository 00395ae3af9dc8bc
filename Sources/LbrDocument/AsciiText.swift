// Printable-ASCII spellings of text for one-line outputs (error messages, TAP, JUnit, KCIDB).

/// Text restricted to printable ASCII.
public enum AsciiText {
    /// ASCII spellings of the non-ASCII characters lbrprobe's own texts use (reference sections, arrows, units).
    public static let spellings: [Unicode.Scalar: String] = [
        "§": "sec ", "→": "->", "⇒": "=>", "←": "<-", "≈": "~", "≥": ">=", "≤": "<=", "≠": "!=", "—": "-",
        "–": "-", "µ": "u", "×": "x", "…": "...", "‘": "'", "’": "'", "“": "\"", "”": "\"",
        "±": "+-", "·": ".", "°": " deg", "²": "^2", "\u{00A0}": " ", "′": "'", "″": "\"", "∞": "inf",
    ]

    /// One line of printable ASCII without `#` (safe in TAP descriptions and directives): known symbols are
    /// spelled out (`§1.5` → `sec 1.5`), anything else non-printable becomes `_`.
    public static func oneLine(_ s: String) -> String { ascii(s, keepHash: false) }

    /// One line of printable ASCII (JUnit, KCIDB): known symbols spelled out as in `oneLine`, newlines and
    /// tabs become spaces, anything else non-printable becomes `_`; `#` is kept unless `keepHash` is false.
    public static func ascii(_ s: String, keepHash: Bool = true) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for u in s.unicodeScalars {
            if u.value >= 0x20 && u.value < 0x7f && (keepHash || u != "#") { out.unicodeScalars.append(u) }
            else if u == "\n" || u == "\t" || u == "\r" { out += " " }
            else if let a = spellings[u] { out += a }
            else { out += "_" }
        }
        return out
    }
}
