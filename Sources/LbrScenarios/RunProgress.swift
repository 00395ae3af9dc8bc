// Progress of a run: what the runner tells a progress display, and the line it shows.

/// Where a run is, for a progress display: told when each scenario run and each of its phases starts.
public struct RunProgress: Hashable, Sendable {
    public var scenario: String
    /// 0-based index of the scenario and the number of scenarios.
    public var scenarioIndex: Int
    public var scenarioCount: Int
    /// 0-based repeat index and the number of repeats.
    public var repeatIndex: Int
    public var repeats: Int
    /// The phase starting, nil at the start of a scenario run.
    public var phase: String?
    public init(scenario: String, scenarioIndex: Int, scenarioCount: Int, repeatIndex: Int, repeats: Int, phase: String?) {
        self.scenario = scenario; self.scenarioIndex = scenarioIndex; self.scenarioCount = scenarioCount
        self.repeatIndex = repeatIndex; self.repeats = repeats; self.phase = phase
    }
    /// Scenario runs finished before this one, and the total.
    public var runsDone: Int { scenarioIndex * repeats + repeatIndex }
    public var runsTotal: Int { scenarioCount * repeats }
    public func with(phase: String) -> RunProgress { var p = self; p.phase = phase; return p }

    /// The progress line at `elapsedNs` since the run started: scenario i/N, repeat k/M, elapsed, ETA (from
    /// the mean time of the runs done), current phase — most important first, so a narrow terminal cuts the
    /// phase off rather than the counts.
    public func line(elapsedNs: UInt64) -> String {
        var s = "lbrprobe [scenario \(scenarioIndex + 1)/\(scenarioCount) \(scenario)"
        if repeats > 1 { s += ", repeat \(repeatIndex + 1)/\(repeats)" }
        s += "] elapsed \(RunProgress.duration(elapsedNs))"
        if runsDone > 0 {
            let left = Double(elapsedNs) / Double(runsDone) * Double(runsTotal - runsDone)
            s += ", ETA \(RunProgress.duration(UInt64(left)))"
        }
        if let phase { s += ", phase \(phase)" }
        return s
    }

    /// "3.4s" below a minute, "2m05s" above.
    public static func duration(_ ns: UInt64) -> String {
        let tenths = (ns + 50_000_000) / 100_000_000
        if tenths < 600 { return "\(tenths / 10).\(tenths % 10)s" }
        let secs = ns / 1_000_000_000
        let ss = secs % 60
        return "\(secs / 60)m\(ss < 10 ? "0" : "")\(ss)s"
    }
}

