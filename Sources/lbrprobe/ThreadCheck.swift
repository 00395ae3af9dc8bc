import ArgumentParser
import LbrCore
import LbrLinux

extension ThreadCreation {
    /// `check(count:)`, or one line on standard error and exit 71 (EX_OSERR) when the threads cannot be created.
    static func require(count: Int, for purpose: String) throws {
        do { try check(count: count) } catch {
            printError("Error: cannot create the threads \(purpose) needs: \(error)")
            throw ExitCode(LbrExitCode.osError.rawValue)
        }
    }
}
