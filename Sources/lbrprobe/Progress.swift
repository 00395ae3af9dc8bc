import CLbrShim
import Foundation
import LbrLinux
import LbrScenarios

/// Progress of `lbrprobe run` on standard error, updated in place: scenario i/N, repeat k/M, elapsed, ETA,
/// current phase. Active only when stderr is a terminal (isatty(2)) and `--quiet` is not given; never
/// written to standard output.
final class ProgressLine {
    let enabled: Bool
    private let startNs: UInt64
    private var lastWidth = 0
    private var shown = false

    init(quiet: Bool) {
        enabled = !quiet && isatty(2) == 1
        startNs = LbrLinux.monotonicNs()
    }

    /// The line for `p` at `elapsedNs` (pure; tested).
    static func line(_ p: RunProgress, elapsedNs: UInt64) -> String {
        var s = "lbrprobe [scenario \(p.scenarioIndex + 1)/\(p.scenarioCount) \(p.scenario)"
        if p.repeats > 1 { s += ", repeat \(p.repeatIndex + 1)/\(p.repeats)" }
        s += "] elapsed \(duration(elapsedNs))"
        if p.runsDone > 0 {
            let per = Double(elapsedNs) / Double(p.runsDone)
            let left = per * Double(p.runsTotal - p.runsDone)
            s += ", ETA \(duration(UInt64(left)))"
        }
        if let ph = p.phase { s += ", phase \(ph)" }
        return s
    }

    static func duration(_ ns: UInt64) -> String {
        let s = Double(ns) / 1e9
        if s < 60 { return String(format: "%.1fs", s) }
        let m = Int(s) / 60
        return "\(m)m\(String(format: "%02d", Int(s) % 60))s"
    }

    func update(_ p: RunProgress) {
        guard enabled else { return }
        var l = ProgressLine.line(p, elapsedNs: LbrLinux.monotonicNs() &- startNs)
        // Never wider than the terminal: a wrapped line could not be rewritten in place.
        var ws = winsize()
        let cols = ioctl(2, UInt(TIOCGWINSZ), &ws) == 0 && ws.ws_col > 1 ? Int(ws.ws_col) - 1 : 79
        if l.count > cols { l = String(l.prefix(cols)) }
        // Carriage return, the line, clear to end of line: updated in place.
        write("\r" + l + "\u{1b}[K")
        shown = true
    }

    /// Erases the line (before reports or messages follow on the terminal).
    func finish() {
        guard enabled, shown else { return }
        write("\r\u{1b}[K")
        shown = false
    }

    private func write(_ s: String) {
        _ = s.withCString { Glibc.write(2, $0, strlen($0)) }
    }
}
