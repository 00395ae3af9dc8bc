// `--expect FILE`: expected outcomes per scenario (and optionally per kernel model).
//
//   # comment (also after an entry)
//   scenario[@model]  outcome[|outcome…]
//   model-departure   fail|report     (shadow model departures FAIL / are only reported; default report)
//
// An outcome is one or more terms joined by `+` (see `ScenarioOutcome.code`). A term is an outcome code
// (`host-wins-vlbr-error`, `recovered(lbr-msr-access)`, …), `recovered` / `recovered(*)` for any recovery
// path, or `*` for any single term. Latencies and reasons are never part of a pattern. An entry with
// `@model` wins over the plain entry for runs of that model. A mismatch makes the scenario FAIL.

/// One pattern term.
public enum TermPattern: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Exactly this outcome code.
    case code(String)
    /// Any `recovered(<path>)`.
    case anyRecovered
    /// Any single term.
    case any

    public func matches(_ o: Outcome) -> Bool {
        switch self {
        case let .code(c): return o.code == c
        case .anyRecovered: if case .recovered = o { return true }; return false
        case .any: return true
        }
    }
    public var description: String {
        switch self {
        case let .code(c): return c
        case .anyRecovered: return "recovered(*)"
        case .any: return "*"
        }
    }
}

/// One expectation line.
public struct Expectation: Hashable, Sendable, Codable {
    public var scenario: String
    public var model: String?
    /// Alternatives; each is a sequence of term patterns.
    public var alternatives: [[TermPattern]]
    /// The outcome text as written.
    public var text: String
    public var line: Int

    public func matches(_ outcome: ScenarioOutcome) -> Bool {
        alternatives.contains { alt in
            alt.count == outcome.terms.count && zip(alt, outcome.terms).allSatisfy { $0.matches($1) }
        }
    }
}

/// A parse error with its line number.
public struct ExpectationError: Error, Hashable, Sendable, CustomStringConvertible {
    public var line: Int
    public var message: String
    public var description: String { "line \(line): \(message)" }
}

/// Every error found in an expectation file.
public struct ExpectationParseError: Error, Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var errors: [ExpectationError]
    public var description: String { errors.map { "\(file):\($0.line): \($0.message)" }.joined(separator: "\n") }
}

/// A parsed expectation file.
public struct ExpectationSet: Hashable, Sendable, Codable {
    public var entries: [Expectation]
    /// `model-departure fail`: a run whose shadow model departs from what was observed (a `.modelDeparture`
    /// finding, Shadow.swift) FAILs; `model-departure report` (the default) only reports it.
    public var failOnModelDeparture = false

    public init(entries: [Expectation], failOnModelDeparture: Bool = false) {
        self.entries = entries; self.failOnModelDeparture = failOnModelDeparture
    }

    /// The directive key of `model-departure fail|report` lines.
    public static let modelDepartureKey = "model-departure"

    /// The entry for a run: `scenario@model` first, then plain `scenario`.
    public func entry(scenario: String, model: String?) -> Expectation? {
        if let model, let e = entries.first(where: { $0.scenario == scenario && $0.model == model }) { return e }
        return entries.first { $0.scenario == scenario && $0.model == nil }
    }

    /// The lines of a text file: split on LF, CRLF and lone CR as unicode scalars (Swift's Character "\r\n" is
    /// one grapheme, so splitting Characters on "\n" would miss CRLF), after a leading UTF-8 byte order mark.
    public static func lines(_ text: String) -> [Substring] {
        let u = text.unicodeScalars
        var start = u.startIndex
        if start < u.endIndex, u[start] == "\u{FEFF}" { start = u.index(after: start) }
        var out: [Substring] = []
        var i = start
        while i < u.endIndex {
            let c = u[i]
            if c == "\n" || c == "\r" {
                out.append(Substring(u[start..<i]))
                var next = u.index(after: i)
                if c == "\r", next < u.endIndex, u[next] == "\n" { next = u.index(after: next) }
                start = next; i = next
            } else {
                i = u.index(after: i)
            }
        }
        out.append(Substring(u[start..<u.endIndex]))
        return out
    }

    /// Parses an expectation file.
    /// - Parameters:
    ///   - knownScenarios: when given, unknown scenario names are errors.
    ///   - knownModels: when given, unknown `@model` names are errors (models are opaque names here).
    public static func parse(_ text: String, file: String = "<expect>", knownScenarios: Set<String>? = nil,
                             knownModels: Set<String>? = nil) throws(ExpectationParseError) -> ExpectationSet {
        var entries: [Expectation] = []
        var errors: [ExpectationError] = []
        var seen: [String: Int] = [:]
        // The "known:" lists of the messages, built once (a file of many bad lines must stay linear).
        let scenarioList = knownScenarios.map { $0.sorted().joined(separator: ", ") } ?? ""
        let modelList = knownModels.map { $0.sorted().joined(separator: ", ") } ?? ""
        let termList = Outcome.allCodes.joined(separator: ", ")
        var failOnDeparture = false
        let lines = ExpectationSet.lines(text)
        for (i, raw) in lines.enumerated() {
            let n = i + 1
            var s = Substring(raw)
            if let hash = s.firstIndex(of: "#") { s = s[..<hash] }
            let fields = s.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if fields.isEmpty { continue }
            guard fields.count == 2 else {
                errors.append(ExpectationError(line: n, message: fields.count == 1
                    ? "missing outcome after '\(shown(fields[0]))' (expected: scenario[@model] outcome[|outcome...])"
                    : "too many fields (expected: scenario[@model] outcome[|outcome...]; terms join with '+', alternatives with '|', no spaces)"))
                continue
            }
            let key = fields[0]
            if key == Self.modelDepartureKey {
                switch fields[1] {
                case "fail": failOnDeparture = true
                case "report": failOnDeparture = false
                default: errors.append(ExpectationError(line: n, message: "model-departure takes 'fail' or 'report' (got '\(fields[1])')"))
                }
                continue
            }
            var scenario = String(key)
            var model: String?
            if let at = key.firstIndex(of: "@") {
                scenario = String(key[..<at])
                model = String(key[key.index(after: at)...])
                if model!.isEmpty { errors.append(ExpectationError(line: n, message: "empty model after '@'")); continue }
            }
            if scenario.isEmpty { errors.append(ExpectationError(line: n, message: "empty scenario name")); continue }
            if let knownScenarios, !knownScenarios.contains(scenario) {
                errors.append(ExpectationError(line: n, message: "unknown scenario '\(shown(scenario))' (known: \(scenarioList))"))
                continue
            }
            if let model, let knownModels, !knownModels.contains(model) {
                errors.append(ExpectationError(line: n, message: "unknown model '\(shown(model))' (known: \(modelList))"))
                continue
            }
            let k = scenario + "@" + (model ?? "")
            if let prev = seen[k] {
                errors.append(ExpectationError(line: n, message: "duplicate entry for '\(shown(key))' (first on line \(prev))"))
                continue
            }
            var alternatives: [[TermPattern]] = []
            var bad = false
            for alt in fields[1].split(separator: "|", omittingEmptySubsequences: false) {
                var terms: [TermPattern] = []
                for t in alt.split(separator: "+", omittingEmptySubsequences: false) {
                    if let p = termPattern(String(t)) { terms.append(p) } else {
                        errors.append(ExpectationError(line: n, message: "unknown outcome term '\(shown(t))' (known: \(termList), recovered(*), *)"))
                        bad = true
                    }
                }
                alternatives.append(terms)
            }
            if bad { continue }
            seen[k] = n
            entries.append(Expectation(scenario: scenario, model: model, alternatives: alternatives,
                                       text: String(fields[1]), line: n))
        }
        if !errors.isEmpty { throw ExpectationParseError(file: file, errors: errors) }
        return ExpectationSet(entries: entries, failOnModelDeparture: failOnDeparture)
    }

    /// Longest token echoed in a message, in characters; longer ones are cut (a 100 MB token must not reach stderr).
    public static let shownTokenLimit = 64

    /// `token` as quoted in messages: control characters as `?`, cut at `limit` characters (default
    /// `shownTokenLimit`; a path the user typed is shown up to PATH_MAX) with "...(N bytes)" appended.
    public static func shown<S: StringProtocol>(_ token: S, limit: Int = shownTokenLimit) -> String {
        var out = ""
        var count = 0
        for ch in token {
            if count == limit { return out + "...(\(token.utf8.count) bytes)" }
            out.append(ch.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7f } ? ch : "?")
            count += 1
        }
        return out
    }

    static func termPattern(_ t: String) -> TermPattern? {
        if t == "*" { return .any }
        if t == "recovered" || t == "recovered(*)" { return .anyRecovered }
        if Outcome.allCodes.contains(t) { return .code(t) }
        return nil
    }
}
