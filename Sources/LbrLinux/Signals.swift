// SIGINT, SIGTERM, SIGHUP and SIGQUIT on the main side (conventions "Signals"): the vCPU threads and CPU hogs
// block them, so the process-directed signal lands on a thread of the main side; the handler only records
// which signal came first (an atomic store, async-signal-safe), says so on fd 2, and puts all four back to
// their default action, so a second one terminates the process at once. SIGHUP (the terminal went away) and
// SIGQUIT (Ctrl-\) are treated like SIGTERM: the run stops after the current step and reports in full
// (exit 129 / 131). `quitWithoutCrashReport()` gives every other subcommand SIGQUIT's plain default action
// (terminate) instead of the Swift runtime's crash handler, which would print "Program crashed".

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

    /// The signals handled (and blocked by the vCPU and hog threads).
    public static let handled: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]

    /// Installs the recording handler for the `handled` signals (SA_RESTART: interrupted system calls of the
    /// main side resume, nothing sees a spurious EINTR).
    public static func install() throws(LinuxError) {
        _ = caught.load(ordering: .relaxed) // initialise the global before a handler can touch it
        var sa = sigaction()
        sa.__sigaction_handler.sa_handler = terminationSignalHandler
        sigemptyset(&sa.sa_mask)
        for sig in handled { sigaddset(&sa.sa_mask, sig) }
        sa.sa_flags = SA_RESTART
        for sig in handled where sigaction(sig, &sa, nil) != 0 {
            throw LinuxError.current("sigaction(\(String(cString: strsignal(sig))))")
        }
    }

    /// SIGQUIT back to its plain default action (the Swift runtime installs a crash handler for it).
    public static func quitWithoutCrashReport() { _ = signal(SIGQUIT, SIG_DFL) }

    /// Adds the `handled` signals to `set` (for threads that leave them to the main side).
    public static func addHandled(to set: inout sigset_t) { for sig in handled { sigaddset(&set, sig) } }

    /// The signal number of the first handled signal received, nil if none yet.
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
    _ = signal(SIGHUP, SIG_DFL)
    _ = signal(SIGQUIT, SIG_DFL)
}
