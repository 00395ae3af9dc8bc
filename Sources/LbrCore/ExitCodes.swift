// Process exit codes: the one place they are defined (kselftest conventions, reference/conventions.md).

/// Exit codes of `lbrprobe`.
public enum LbrExitCode: Int32, Sendable {
    /// Everything ran and passed (or `caps`/`list` succeeded).
    case success = 0
    /// A scenario failed or an `--expect` expectation was not met.
    case failure = 1
    /// Nothing could run on the requested backend (kselftest SKIP).
    case skip = 4
    /// Usage error (swift-argument-parser's default, EX_USAGE).
    case usage = 64
    /// Input file unreadable or malformed (EX_DATAERR / EX_NOINPUT class), e.g. a bad `--expect` file.
    case dataError = 65
    /// The operating system refused a resource lbrprobe needs to start its work (EX_OSERR): a thread could not
    /// be created (`pthread_create` EAGAIN: RLIMIT_NPROC reached, or no address space left under RLIMIT_AS), checked
    /// before a hybrid/hw `run` or `contract` and before `compare` reads its documents.
    case osError = 71
    /// Output file could not be written (EX_CANTCREAT).
    case cannotCreate = 73
    /// Writing a report failed after the run (EX_IOERR): standard output closed (EBADF), full (ENOSPC) or a
    /// broken pipe (EPIPE), or an output file's write failed. The other outputs are still written in full.
    case ioError = 74
    /// Temporary failure, try again (EX_TEMPFAIL): another lbrprobe holds the per-CPU probe lock of the CPU
    /// (`--wait` waits for it instead).
    case tempFail = 75
    /// `run` stopped early by SIGHUP (128 + 1: the terminal went away); otherwise as `interrupted`.
    case hangup = 129
    /// `run` stopped early by SIGINT (128 + 2, the shell's convention): the scenario in progress is an
    /// ERROR, the ones not started SKIP, and the reports and requested files are still written in full.
    case interrupted = 130
    /// `run` stopped early by SIGTERM (128 + 15); otherwise as `interrupted`.
    case terminated = 143
    /// `run` stopped early by SIGQUIT (128 + 3; lbrprobe treats it like SIGTERM, without a core dump or a
    /// crash report); otherwise as `interrupted`.
    case quit = 131
}
