// The contract document as data, and its two renderings: reStructuredText that docutils accepts with
// warnings fatal (laid out like a Documentation/virt/kvm/x86/ page) and Markdown for mailing lists and
// issues. Pure and deterministic: the same document renders to the same bytes.
//
// Inline markup inside every text string is deliberately tiny: `code` between backticks and **bold**
// between double asterisks; everything else is literal text that the renderer escapes for the format.
// Free text copied from run documents goes through `ContractText.literal` first (drops backticks and `**`).
import Foundation

/// One table: header and rows of equal width.
public struct ContractTable: Hashable, Sendable {
    public var caption: String
    public var header: [String]
    public var rows: [[String]]
    public init(caption: String, header: [String], rows: [[String]]) {
        self.caption = caption; self.header = header; self.rows = rows
    }
}

/// A block of a section.
public enum ContractBlock: Hashable, Sendable {
    case paragraph(String)
    case bullets([String])
    case table(ContractTable)
    /// Name/value pairs (RST field list, Markdown bullet list).
    case fields([ContractField])
}

public struct ContractField: Hashable, Sendable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) { self.name = name; self.value = value }
}

/// A section with optional subsections (two levels below the title).
public struct ContractSection: Hashable, Sendable {
    public var title: String
    public var blocks: [ContractBlock]
    public var subsections: [ContractSection]
    public init(_ title: String, _ blocks: [ContractBlock], subsections: [ContractSection] = []) {
        self.title = title; self.blocks = blocks; self.subsections = subsections
    }
}

/// The whole document.
public struct ContractDocument: Hashable, Sendable {
    public var title: String
    public var intro: [ContractBlock]
    public var sections: [ContractSection]
}

/// Output format of `lbrprobe contract`.
public enum ContractFormat: String, Hashable, Sendable, CaseIterable {
    case markdown, rst
}

/// Helpers for building contract text.
public enum ContractText {
    /// Free text from a run document made safe for the inline markup: no backticks, no `**`, one line.
    public static func literal(_ s: String) -> String {
        var t = s.replacingOccurrences(of: "`", with: "'").replacingOccurrences(of: "**", with: "*")
        t = t.split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\t" }).joined(separator: " ")
        return t
    }
}

/// Renders a `ContractDocument`.
public enum ContractRenderer {
    public static func render(_ d: ContractDocument, as format: ContractFormat) -> String {
        switch format {
        case .markdown: return markdown(d)
        case .rst: return rst(d)
        }
    }

    // MARK: inline segments

    enum Segment: Equatable { case text(String), code(String), bold(String) }

    /// Splits contract markup into text, `code` and **bold** segments. An unmatched marker is literal text.
    static func segments(_ s: String) -> [Segment] {
        var out: [Segment] = []
        var text = ""
        var i = s.startIndex
        func flush() { if !text.isEmpty { out.append(.text(text)); text = "" } }
        while i < s.endIndex {
            let c = s[i]
            if c == "`", let close = s[s.index(after: i)...].firstIndex(of: "`"), close > s.index(after: i) {
                flush()
                out.append(.code(String(s[s.index(after: i)..<close])))
                i = s.index(after: close)
                continue
            }
            if c == "*", s[i...].hasPrefix("**"),
               let close = s[s.index(i, offsetBy: 2)...].range(of: "**"), close.lowerBound > s.index(i, offsetBy: 2) {
                flush()
                out.append(.bold(String(s[s.index(i, offsetBy: 2)..<close.lowerBound])))
                i = close.upperBound
                continue
            }
            text.append(c)
            i = s.index(after: i)
        }
        flush()
        return out
    }

    // MARK: Markdown

    static func markdown(_ d: ContractDocument) -> String {
        var out: [String] = ["# " + mdInline(d.title), ""]
        for b in d.intro { out += mdBlock(b) }
        for s in d.sections { out += mdSection(s, level: 2) }
        while out.last == "" { out.removeLast() }
        return out.joined(separator: "\n") + "\n"
    }

    static func mdSection(_ s: ContractSection, level: Int) -> [String] {
        var out = [String(repeating: "#", count: level) + " " + mdInline(s.title), ""]
        for b in s.blocks { out += mdBlock(b) }
        for sub in s.subsections { out += mdSection(sub, level: level + 1) }
        return out
    }

    static func mdBlock(_ b: ContractBlock) -> [String] {
        switch b {
        case let .paragraph(p): return [mdInline(p), ""]
        case let .bullets(items): return items.map { "- " + mdInline($0) } + [""]
        case let .fields(fs): return fs.map { "- **\(mdInline($0.name)):** " + mdInline($0.value) } + [""]
        case let .table(t):
            var out: [String] = []
            if !t.caption.isEmpty { out += ["*" + mdInline(t.caption) + "*", ""] }
            out.append("| " + t.header.map { mdCell($0) }.joined(separator: " | ") + " |")
            out.append("|" + t.header.map { _ in "---|" }.joined())
            for r in t.rows { out.append("| " + r.map { mdCell($0) }.joined(separator: " | ") + " |") }
            out.append("")
            return out
        }
    }

    static func mdCell(_ s: String) -> String {
        let r = mdInline(s).replacingOccurrences(of: "|", with: "\\|")
        return r.isEmpty ? "-" : r
    }

    static func mdInline(_ s: String) -> String {
        segments(s).map { seg -> String in
            switch seg {
            case let .code(c): return c.contains("`") ? "`` \(c) ``" : "`\(c)`"
            case let .bold(b): return "**" + mdEscape(b) + "**"
            case let .text(t): return mdEscape(t)
            }
        }.joined()
    }

    static func mdEscape(_ s: String) -> String {
        var o = ""
        for c in s {
            switch c {
            case "*": o += "\\*"
            case "<": o += "&lt;"
            case "\\": o += "\\\\"
            default: o.append(c)
            }
        }
        return o
    }

    // MARK: reStructuredText

    static func rst(_ d: ContractDocument) -> String {
        let title = rstInline(d.title)
        let bar = String(repeating: "=", count: max(4, title.count))
        var out: [String] = [".. SPDX-License-Identifier: GPL-2.0", "", bar, title, bar, ""]
        for b in d.intro { out += rstBlock(b) }
        for s in d.sections { out += rstSection(s, level: 0) }
        while out.last == "" { out.removeLast() }
        return out.joined(separator: "\n") + "\n"
    }

    static func rstSection(_ s: ContractSection, level: Int) -> [String] {
        let t = rstInline(s.title)
        let ch: Character = level == 0 ? "=" : level == 1 ? "-" : "~"
        var out = [t, String(repeating: ch, count: max(4, t.count)), ""]
        for b in s.blocks { out += rstBlock(b) }
        for sub in s.subsections { out += rstSection(sub, level: level + 1) }
        return out
    }

    static func rstBlock(_ b: ContractBlock) -> [String] {
        switch b {
        case let .paragraph(p): return [rstInline(p), ""]
        case let .bullets(items): return items.map { "- " + rstInline($0) } + [""]
        case let .fields(fs):
            return fs.map { ":\(rstFieldName($0.name)): " + rstInline($0.value) } + [""]
        case let .table(t):
            var out = [".. list-table:: " + rstInline(t.caption), "   :header-rows: 1", ""]
            for row in [t.header] + t.rows {
                for (i, cell) in row.enumerated() {
                    let c = rstInline(cell)
                    out.append((i == 0 ? "   * - " : "     - ") + (c.isEmpty ? "\\-" : c))
                }
            }
            out.append("")
            return out
        }
    }

    static func rstFieldName(_ s: String) -> String {
        rstEscape(s).replacingOccurrences(of: ":", with: "\\:")
    }

    /// Characters after which an inline markup start-string may follow, and before which an end-string may.
    static let rstBefore: Set<Character> = [" ", "'", "\"", "(", "[", "{", "<", "-", "/", ":"]
    static let rstAfter: Set<Character> = [" ", "'", "\"", ")", "]", "}", ">", "-", "/", ":", ".", ",", ";", "!", "?", "\\"]

    static func rstInline(_ s: String) -> String {
        var out = ""
        let segs = segments(s)
        for (k, seg) in segs.enumerated() {
            switch seg {
            case let .text(t):
                var e = rstEscape(t)
                if k == 0, looksLikeListMarker(e) { e = "\\" + e }
                out += e
            case let .code(c), let .bold(c):
                let open = seg == .code(c) ? "``" : "**"
                let inner = seg == .code(c) ? c.trimmingChar(" ") : rstEscape(c)
                if let p = out.last, !rstBefore.contains(p) { out += "\\ " }
                out += open + inner + open
                if k + 1 < segs.count, case let .text(next) = segs[k + 1], let n = next.first, !rstAfter.contains(n) {
                    out += "\\ "
                }
            }
        }
        return out
    }

    /// Whether text at the start of a paragraph or cell would be read as a list item, an enumerator or a
    /// comment/directive (`- `, `+ `, `#. `, `1. `, `2) `, `(3) `, `..`).
    static func looksLikeListMarker(_ s: String) -> Bool {
        let c = Array(s.prefix(8))
        guard let f = c.first else { return false }
        if "-+".contains(f) { return c.count == 1 || c[1] == " " }
        if s.hasPrefix("..") || s.hasPrefix("#.") || s.hasPrefix("#)") { return true }
        var i = f == "(" ? 1 : 0
        let start = i
        while i < c.count, c[i].isNumber { i += 1 }
        if i == start, i < c.count, c[i].isLetter || c[i] == "#" { i += 1 }
        guard i > start, i < c.count, c[i] == "." || c[i] == ")" else { return false }
        return i + 1 == c.count || c[i + 1] == " "
    }

    /// Backslash-escapes what docutils would read as markup: `\\`, `*`, `` ` ``, `|`, and `_` where it could end a
    /// reference (`word_`, `[1]_`, `__`), i.e. unless a letter or digit follows. `foo_bar` stays readable.
    static func rstEscape(_ s: String) -> String {
        var o = ""
        let chars = Array(s)
        for (i, c) in chars.enumerated() {
            switch c {
            case "\\", "*", "`", "|": o += "\\" + String(c)
            case "_":
                let next = i + 1 < chars.count ? chars[i + 1] : " "
                o += (next.isLetter || next.isNumber) ? "_" : "\\_"
            default: o.append(c)
            }
        }
        return o.replacingOccurrences(of: "::", with: ":\\:")
    }
}

extension String {
    func trimmingChar(_ chars: Character) -> String {
        var s = Substring(self)
        while s.first == chars { s = s.dropFirst() }
        while s.last == chars { s = s.dropLast() }
        return String(s)
    }
}
