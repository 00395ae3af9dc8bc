// XML 1.0 escaping (JUnit, the timeline SVG).

/// XML 1.0 escaping for text and attribute values, ASCII output (JUnit and the timeline SVG): markup characters
/// as entities; TAB/LF/CR kept (`keepLineBreaks`) or turned into spaces; other C0/C1 controls, surrogates and
/// non-characters (which XML 1.0 forbids or which would break a one-line label) as `?`; anything else
/// non-ASCII as a numeric character reference.
public func xmlEscape(_ s: String, keepLineBreaks: Bool) -> String {
    // Fast path: printable ASCII without markup characters is returned as is.
    if s.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f && $0 != 0x26 && $0 != 0x3c && $0 != 0x3e && $0 != 0x22 && $0 != 0x27 }) {
        return s
    }
    var out = ""
    out.reserveCapacity(s.utf8.count)
    for u in s.unicodeScalars {
        switch u {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        case "\t", "\n", "\r": if keepLineBreaks { out.unicodeScalars.append(u) } else { out += " " }
        default:
            if u.value >= 0x20 && u.value < 0x7f { out.unicodeScalars.append(u) }
            else if u.value < 0x20 || (0x7f...0x9f).contains(u.value) || (0xd800...0xdfff).contains(u.value)
                        || u.value == 0xfffe || u.value == 0xffff { out += "?" }
            else { out += "&#x\(String(u.value, radix: 16));" }
        }
    }
    return out
}
