// Expectation files are text files like any other: LF, CRLF, lone CR, and a UTF-8 byte order mark.

import LbrScenarios
import Testing

@Suite struct ExpectationLineEndTests {
    static let body = ["# gate", "guest-baseline vlbr-active", "", "host-first@mainline host-wins-vlbr-error|*"]

    @Test(arguments: ["\n", "\r\n", "\r"])
    func everyLineEndGivesTheSameEntries(_ eol: String) throws {
        let lf = try ExpectationSet.parse(Self.body.joined(separator: "\n") + "\n")
        for prefix in ["", "\u{FEFF}"] {
            let set = try ExpectationSet.parse(prefix + Self.body.joined(separator: eol) + eol)
            #expect(set.entries.count == 2)
            #expect(set.entries.map(\.scenario) == lf.entries.map(\.scenario))
            #expect(set.entries.map(\.line) == [2, 4])
        }
    }

    @Test func linesSplitOnUnicodeScalarsNotCharacters() {
        #expect(ExpectationSet.lines("a\r\nb\rc\nd").map(String.init) == ["a", "b", "c", "d"])
        #expect(ExpectationSet.lines("\u{FEFF}a\r\n").map(String.init) == ["a", ""])
        #expect(ExpectationSet.lines("").map(String.init) == [""])
    }
}
