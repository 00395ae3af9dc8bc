import ArgumentParser
import LbrLinux
import Logging

/// Options every subcommand takes (`@OptionGroup var global: GlobalOptions`).
struct GlobalOptions: ParsableArguments {
    @Flag(name: .short, help: "Log more to stderr: -v debug, -vv trace (default: warnings only).")
    var verbose: Int

    /// The swift-log level the -v count selects.
    var logLevel: Logger.Level {
        switch verbose {
        case 0: return .warning
        case 1: return .debug
        default: return .trace
        }
    }

    /// Bootstraps logging (once per process) and returns a logger for `label`.
    /// Every subcommand calls it first, so it also gives SIGQUIT its plain default action (no runtime crash
    /// report; `run` then handles it like SIGTERM).
    func makeLogger(_ label: String) -> Logger {
        TerminationSignals.quitWithoutCrashReport()
        LoggingSetup.bootstrap(level: logLevel)
        var logger = Logger(label: label)
        logger.logLevel = logLevel
        return logger
    }
}

/// swift-log to stderr. Standard output is reserved for reports.
enum LoggingSetup {
    /// Installs a stderr handler at `level`. Call once, before the first `Logger` is made.
    static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
