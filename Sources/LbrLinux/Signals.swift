// SIGINT/SIGTERM on the main side (conventions "Signals"): the vCPU threads and CPU hogs block both
// signals, so the process-directed signal lands on a thread of the main side; the handler only records
// which signal came first (an atomic store, async-signal-safe), says so on fd 2, and puts both signals
// back to their default action, so a second one terminates the process at once.

import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The first SIGINT or SIGTERM the process received after `install()`.
///
/// The caller polls `received` (e.g. the scenario runner after every step) and tears down in order; the
/// handler itself does nothing but record. A second SIGINT/SIGTERM gets the default action (terminate):
/// the escape hatch when the teardown itself hangs.
public enum TerminationSignals {
    /// 0 until the first signal, then its number. Written only by the handler.
    static let caught = Atomic<Int32>(0)

    /// Installs the recording handler for SIGINT and SIGTERM (SA_RESTART: interrupted system calls of the
    /// main side resume, nothing sees a spurious EINTR).
    public static func install() throws(LinuxError) {
        _ = caught.load(ordering: .relaxed) // initialise the global before a handler can touch it
        var sa = sigaction()
        sa.__sigaction_handler.sa_handler = terminationSignalHandler
        sigemptyset(&sa.sa_mask)
        sigaddset(&sa.sa_mask, SIGINT)
        sigaddset(&sa.sa_mask, SIGTERM)
        sa.sa_flags = SA_RESTART
        for sig in [SIGINT, SIGTERM] where sigaction(sig, &sa, nil) != 0 {
            throw LinuxError.current("sigaction(\(sig == SIGINT ? "SIGINT" : "SIGTERM"))")
        }
    }

    /// The signal number of the first SIGINT/SIGTERM received, nil if none yet.
    public static var received: Int32? {
        let s = caught.load(ordering: .relaxed)
        return s == 0 ? nil : s
    }
}

/// The handler: async-signal-safe calls only (atomic compare-exchange, write(2), signal(2)).
private func terminationSignalHandler(_ sig: Int32) {
    if TerminationSignals.caught.compareExchange(expected: 0, desired: sig, ordering: .relaxed).exchanged {
        let msg: StaticString = "lbrprobe: signal received: stopping after the current step (send it again to exit at once)\n"
        _ = write(2, msg.utf8Start, msg.utf8CodeUnitCount)
    }
    _ = signal(SIGINT, SIG_DFL)
    _ = signal(SIGTERM, SIG_DFL)
}
