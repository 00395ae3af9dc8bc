// Thread creation refused by the system (RLIMIT_NPROC, RLIMIT_AS), through the built binary: `caps` and `list`
// need no thread and work; `compare` and a hybrid `run` or `contract` stop at once with one line and exit 71 (EX_OSERR);
// nothing traps and nothing waits in libdispatch's endless thread-creation retry (each call is bounded by
// timeout(1) with SIGKILL — a process hung in that retry has SIGTERM blocked in every thread: a hang is exit
// 137, a trap 132/134).

import Foundation
import LbrCore
import LbrTestSupport
import Testing

@Suite(.serialized, .enabled(if: Cli.available, "the lbrprobe binary is not built next to the tests (swift build)"),
       .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit"), "prlimit(1) (util-linux) is not installed"))
struct ThreadLimitCliTests {
    /// `timeout -s KILL 20 [setpriv to nobody] prlimit LIMIT -- lbrprobe ARGS`. RLIMIT_NPROC does not bind root, so as root
    /// the command runs as the unprivileged user nobody; the binary and the files it reads must be readable by it.
    static func limited(_ limit: String, _ args: [String], asNobody: Bool = false) throws -> ProcessOutput {
        var argv = ["-s", "KILL", "20"]
        if asNobody && getuid() == 0 { argv += ["/usr/bin/setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"] }
        argv += ["/usr/bin/prlimit", limit, "--", try #require(Cli.binary)] + args
        let env = Cli.environment
        defer { Cli.removeLockDir(env) }
        return try runProcess("/usr/bin/timeout", argv, environment: env)
    }

    /// Two identical sim run documents, world-readable.
    static func documents() throws -> [String] {
        let dir = Cli.tempDir()
        _ = chmod(dir, 0o755)
        let a = dir + "/a.json", b = dir + "/b.json"
        let r = try Cli.run(["run", "--backend", "sim", "guest-baseline", "--json", a])
        #expect(r.code == 0, "\(r.stderr)")
        try FileManager.default.copyItem(atPath: a, toPath: b)
        for f in [a, b] { _ = chmod(f, 0o644) }
        return [a, b]
    }

    static func expectOneLine71(_ r: ProcessOutput, _ what: String) {
        #expect(r.code == LbrExitCode.osError.rawValue, "\(what): exit \(r.code), stderr: \(r.stderr)")
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("Error: cannot create the threads ")
                && lines[0].contains("pthread_create"), "\(what): \(r.stderr)")
    }

    @Test func noThreadAllowedCapsAndListWorkCompareFailsFast() throws {
        let docs = try Self.documents()
        for args in [["caps"], ["list"]] {
            let r = try Self.limited("--nproc=1", args, asNobody: true)
            #expect(r.code == 0, "\(args): exit \(r.code), stderr: \(r.stderr)")
            #expect(!r.stdout.isEmpty, "\(args) printed nothing")
        }
        Self.expectOneLine71(try Self.limited("--nproc=1", ["compare"] + docs, asNobody: true), "compare")
    }

    /// Under an address-space limit with room for the program but not for two more thread stacks (8 MiB each),
    /// a hybrid run (and contract) stops before the guest exists (the limit is found from where `list` starts to work).
    @Test(.enabled(if: access("/dev/kvm", R_OK | W_OK) == 0, "no /dev/kvm access"))
    func addressSpaceForNoThreadStackHybridRunAndCompareFailFast() throws {
        // Smallest RLIMIT_AS (KiB, 1 MiB steps) under which `list` runs: the program itself fits, nothing more.
        var low = 16 << 10, high = 1 << 20
        #expect(try Self.limited("--as=\(high << 10)", ["list"]).code == 0, "list fails even with 1 GiB of address space")
        while high - low > 1 << 10 {
            let mid = (low + high) / 2
            if try Self.limited("--as=\(mid << 10)", ["list"]).code == 0 { high = mid } else { low = mid }
        }
        let limit = "--as=\((high + (6 << 10)) << 10)" // 6 MiB more: less than one thread stack
        Self.expectOneLine71(try Self.limited(limit, ["run", "--backend", "hybrid", "guest-baseline"]), "run --backend hybrid")
        Self.expectOneLine71(try Self.limited(limit, ["contract", "--backend", "hybrid", "-o", Cli.tempDir() + "/c.md"]),
                             "contract --backend hybrid")
        Self.expectOneLine71(try Self.limited(limit, ["compare"] + (try Self.documents())), "compare")
    }
}
