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

    func update(_ p: RunProgress) {
        guard enabled else { return }
        var l = p.line(elapsedNs: LbrLinux.monotonicNs() &- startNs)
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
