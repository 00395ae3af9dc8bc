// One-line ASCII text and line wrapping for the line-oriented outputs (TAP, JUnit, KCIDB excerpts).

import LbrDocument

extension ReportSupport {
    /// Whether every byte of `s` is printable ASCII (0x20...0x7e).
    public static func isPrintableAscii(_ s: String) -> Bool { s.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7f } }

    /// One line of printable ASCII without `#` (`AsciiText.oneLine`).
    public static func oneLine(_ s: String) -> String { AsciiText.oneLine(s) }

    /// One line of printable ASCII (`AsciiText.ascii`).
    public static func ascii(_ s: String, keepHash: Bool = true) -> String { AsciiText.ascii(s, keepHash: keepHash) }

    /// The longest physical line (in bytes) lbrprobe writes in TAP and JUnit, and the longest line of a KCIDB
    /// `log_excerpt`: longer texts are wrapped onto continuation lines (diagnostics, bodies) or shortened with
    /// `...` where they must stay on one line (directive reasons, XML attributes), the full text then following
    /// as wrapped diagnostics or body lines. Serial consoles and farm log viewers split longer lines.
    public static let maxLineBytes = 1000

    /// `s` (already ASCII) cut to at most `max` bytes, ending in `...` when cut.
    public static func truncated(_ s: String, max: Int) -> String {
        if s.utf8.count <= max { return s }
        return String(decoding: Array(s.utf8.prefix(Swift.max(0, max - 3))), as: UTF8.self) + "..."
    }

    /// `s` split into pieces of at most `width` bytes, preferring to break at a space; the first piece has
    /// `width` bytes available, the others `width - indent.count` and start with `indent`. ASCII input.
    public static func wrapped(_ s: String, width: Int, indent: String = "  ") -> [String] {
        var out: [String] = []
        var rest = Substring(s)
        var avail = width
        while rest.utf8.count > avail {
            let head = rest.prefix(avail)
            var cut = head.lastIndex(of: " ").map { rest.distance(from: rest.startIndex, to: $0) } ?? 0
            if cut < avail / 2 { cut = avail }                  // no useful space: hard break
            let piece = rest.prefix(cut)
            out.append((out.isEmpty ? "" : indent) + piece)
            rest = rest.dropFirst(cut)
            while rest.first == " " { rest = rest.dropFirst() }
            avail = width - indent.utf8.count
        }
        out.append((out.isEmpty ? "" : indent) + rest)
        return out
    }

    /// `oneLine(s)` as TAP diagnostic lines (`# ` + text), each at most `maxLineBytes` long.
    public static func diagnostics(_ s: String, prefix: String = "# ") -> [String] {
        wrapped(oneLine(s), width: maxLineBytes - prefix.utf8.count).map { prefix + $0 }
    }
}
