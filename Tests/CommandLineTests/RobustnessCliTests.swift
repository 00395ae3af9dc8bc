// Robustness, through the built binary: outputs never destroy what their path names, bad inputs
// give one line and a documented code, a closed/full/broken stdout is exit 74 with --junit still written,
// one probe per CPU, --cpu checked against the allowed set, the auto fallback said everywhere.

import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import LbrBackends
import LbrCore
import LbrScenarios
import LbrTestSupport
import Testing

/// `sh -c script` with the binary as $0 (for redirections the test cannot express with Process pipes).
func shell(_ script: String, env: [String: String] = Cli.environment) throws -> (code: Int32, out: String, err: String) {
    defer { Cli.removeLockDir(env) }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/bash")
    p.arguments = ["-c", script, try #require(Cli.binary)]
    p.currentDirectoryURL = repoRoot()
    p.environment = env
    let out = Pipe(), err = Pipe()
    p.standardOutput = out; p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

func fileType(_ path: String) -> mode_t? {
    var st = stat()
    return lstat(path, &st) == 0 ? st.st_mode & S_IFMT : nil
}

func junitParses(_ path: String) -> Bool {
    guard let xml = try? String(contentsOfFile: path, encoding: .utf8) else { return false }
    #if canImport(FoundationXML) || os(macOS)
    return (try? XMLDocument(xmlString: xml, options: []))?.rootElement()?.name == "testsuites"
    #else
    return xml.contains("</testsuites>")
    #endif
}

@Suite("Robustness through the CLI", .serialized, .enabled(if: Cli.available, "the lbrprobe binary is not built"))
struct RobustnessCliTests {
    @Test(.enabled(if: getuid() == 0, "mknod needs root"))
    func characterDeviceFifoAndSymlinkTargetsAreNeverReplaced() throws {
        let dir = Cli.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A character device (1,3 = /dev/null's numbers) made in the temp dir.
        #expect(mknod(dir + "/cdev", S_IFCHR | 0o666, dev_t((1 << 8) | 3)) == 0)
        let r = try Cli.run(["run", "guest-baseline", "--backend", "sim", "--junit", dir + "/cdev"])
        #expect(r.code == 0, "\(r.stderr)")
        #expect(fileType(dir + "/cdev") == S_IFCHR, "--junit replaced the character device")
        // A FIFO with a reader: written through, still a FIFO, the reader got the whole document.
        #expect(mkfifo(dir + "/fifo", 0o644) == 0)
        let reader = Process()
        reader.executableURL = URL(fileURLWithPath: "/bin/cat")
        reader.arguments = [dir + "/fifo"]
        let got = Pipe()
        reader.standardOutput = got
        try reader.run()
        let f = try Cli.run(["run", "guest-baseline", "--backend", "sim", "--kcidb", dir + "/fifo"])
        let data = got.fileHandleForReading.readDataToEndOfFile()
        reader.waitUntilExit()
        #expect(f.code == 0, "\(f.stderr)")
        #expect(fileType(dir + "/fifo") == S_IFIFO)
        #expect((try? JSONSerialization.jsonObject(with: data)) != nil, "the FIFO reader got a whole KCIDB document")
        // A symlink to a regular file: followed, the link stays a link, the target is replaced atomically.
        try "old".write(toFile: dir + "/target.xml", atomically: true, encoding: .utf8)
        #expect(symlink("target.xml", dir + "/link.xml") == 0)
        let l = try Cli.run(["run", "guest-baseline", "--backend", "sim", "--junit", dir + "/link.xml"])
        #expect(l.code == 0, "\(l.stderr)")
        #expect(fileType(dir + "/link.xml") == S_IFLNK)
        #expect(junitParses(dir + "/target.xml"))
        // A dangling symlink is refused before the run (73), and not created.
        #expect(symlink("nowhere/x.xml", dir + "/dangling.xml") == 0)
        let d = try Cli.run(["run", "guest-baseline", "--backend", "sim", "--junit", dir + "/dangling.xml"])
        #expect(d.code == 73 && d.stderr.contains("dangling symbolic link"), "\(d.code) \(d.stderr)")
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(left == ["cdev", "dangling.xml", "fifo", "link.xml", "target.xml"], "nothing else left: \(left)")
    }

    @Test func sameOutputPathTwiceIsAUsageError() throws {
        let dir = Cli.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Cli.run(["run", "guest-baseline", "--backend", "sim", "--junit", dir + "/out", "--kcidb", dir + "/out"])
        #expect(r.code == 64, "\(r.stderr)")
        #expect(r.stderr.contains("name the same file") && r.stdout.isEmpty)
        // Also when the two spellings differ but name one file (a symlink to it).
        try "x".write(toFile: dir + "/real.xml", atomically: true, encoding: .utf8)
        #expect(symlink(dir + "/real.xml", dir + "/alias.xml") == 0)
        let a = try Cli.run(["run", "guest-baseline", "--backend", "sim", "--junit", dir + "/real.xml", "--kcidb", dir + "/alias.xml"])
        #expect(a.code == 64, "\(a.stderr)")
        #expect(try String(contentsOfFile: dir + "/real.xml", encoding: .utf8) == "x", "nothing written")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out"))
    }

    @Test func expectFileProblemsAreOneLineAndExit65() throws {
        let dir = Cli.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "# only a comment\n\n   \n".write(toFile: dir + "/empty.expect", atomically: true, encoding: .utf8)
        let e = try Cli.run(["run", "guest-baseline", "--backend", "sim", "--expect", dir + "/empty.expect"])
        #expect(e.code == 65, "\(e.stderr)")
        #expect(e.stderr.contains("no expectation entries") && e.stdout.isEmpty)
        let ok = try Cli.run(["run", "guest-baseline", "--backend", "sim", "--expect", dir + "/empty.expect", "--allow-empty-expect"])
        #expect(ok.code == 0, "\(ok.stderr)")
        for (path, words) in [(dir, "is a directory"), ("/dev/null", "is a character device"), (dir + "/absent", "no such file")] {
            let r = try Cli.run(["run", "guest-baseline", "--backend", "sim", "--expect", path])
            #expect(r.code == 65, "\(path): \(r.stderr)")
            #expect(r.stderr.contains(words), "\(path): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(path): \(r.stderr)")
            #expect(!r.stderr.contains("NSCocoaErrorDomain"))
        }
        // A 1 MB token is cut in the message.
        try ("guest-baseline " + String(repeating: "x", count: 1_000_000) + "\n").write(toFile: dir + "/big.expect", atomically: true, encoding: .utf8)
        let big = try Cli.run(["run", "guest-baseline", "--backend", "sim", "--expect", dir + "/big.expect"])
        #expect(big.code == 65)
        #expect(big.stderr.utf8.count < 2000 && big.stderr.contains("...(1000000 bytes)"), "\(big.stderr.prefix(300))")
    }

    /// `>&-`, `>/dev/full` and `| head -1`: exit 74 (EX_IOERR) with one line saying why, and --junit written.
    @Test func brokenStandardOutputExits74AndStillWritesJunit() throws {
        let dir = Cli.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cases = [
            ("closed", #""$0" run guest-baseline --backend sim --junit "$J" >&-"#, "was closed"),
            ("full", #""$0" run guest-baseline --backend sim --junit "$J" >/dev/full"#, "No space left on device"),
            ("pipe", #""$0" run --backend sim --repeat 100 --junit "$J" | head -1 >/dev/null; exit ${PIPESTATUS[0]}"#, "Broken pipe"),
        ]
        for (name, script, words) in cases {
            let j = "\(dir)/\(name).xml"
            var env = Cli.environment
            env["J"] = j
            let r = try shell(script, env: env)
            #expect(r.code == LbrExitCode.ioError.rawValue, "\(name): \(r.code) \(r.err)")
            #expect(r.err.contains(words) && r.err.contains("standard output"), "\(name): \(r.err)")
            #expect(junitParses(j), "\(name): --junit not written")
        }
        // stdin and stderr closed too: still runs, stdout intact.
        let quiet = try shell(#""$0" run guest-baseline --backend sim --format tap <&- 2>&-"#)
        #expect(quiet.code == 0 && quiet.out.hasPrefix("TAP version 13"))
    }

    @Test(.enabled(if: ThisHost.usableCpus.count >= 2 && FileManager.default.isExecutableFile(atPath: "/usr/bin/taskset"),
                   "needs 2 CPUs this process may run on and /usr/bin/taskset"))
    func cpuOutsideTheAllowedSetIsRefusedUpFront() throws {
        let (refused, allowed) = (ThisHost.usableCpus[0], ThisHost.usableCpus[1])
        var env = Cli.environment
        env["REFUSED"] = "\(refused)"
        env["ALLOWED"] = "\(allowed)"
        let r = try shell(#"exec taskset -c "$ALLOWED" "$0" run guest-baseline --backend sim --cpu "$REFUSED""#, env: env)
        #expect(r.code == 64, "\(r.err)")
        #expect(r.err.contains("--cpu \(refused) is not in the CPUs this process may run on (sched_getaffinity: \(allowed)"), "\(r.err)")
        #expect(r.out.isEmpty)
        let ok = try shell(#"exec taskset -c "$ALLOWED" "$0" run guest-baseline --backend sim --format tap"#, env: env)
        #expect(ok.code == 0 && ok.out.contains("cpu \(allowed)"), "\(ok.err)")
        // A cpuset (cgroup v1 here) that allows one CPU only: the message names it as the reason.
        let cs = "/sys/fs/cgroup/cpuset/lbrprobe-test-\(getpid())"
        guard getuid() == 0, FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cpuset/tasks") else {
            print("# cpuset part not run: needs root and a cgroup v1 cpuset hierarchy at /sys/fs/cgroup/cpuset"); return
        }
        guard mkdir(cs, 0o755) == 0 else { Issue.record("mkdir \(cs): errno \(errno)"); return }
        defer { rmdir(cs) }
        try "\(allowed)\n".write(toFile: cs + "/cpuset.cpus", atomically: false, encoding: .utf8)
        let mems = (try? String(contentsOfFile: "/sys/fs/cgroup/cpuset/cpuset.mems", encoding: .utf8))?
            .split(separator: ",").first.flatMap { $0.split(separator: "-").first }.map(String.init) ?? "0"
        try "\(mems)\n".write(toFile: cs + "/cpuset.mems", atomically: false, encoding: .utf8)
        env["CS"] = cs
        let c = try shell(#"echo $$ > "$CS/tasks" && exec "$0" run guest-baseline --backend sim --cpu "$REFUSED""#, env: env)
        #expect(c.code == 64, "\(c.err)")
        #expect(c.err.contains("the reason is the cpuset /lbrprobe-test-\(getpid())"), "\(c.err)")
    }

    @Test(.enabled(if: ThisHost.hybridAvailable, "needs /dev/kvm"))
    func autoFallbackIsSaidOnStderrAndInEveryReport() throws {
        guard HwBackendProbe.unavailable else { return }
        let dir = Cli.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Cli.run(["run", "guest-baseline", "--format", "json", "--junit", dir + "/j.xml", "--kcidb", dir + "/k.json"])
        #expect(r.code == 0, "\(r.stderr)")
        #expect(r.stderr.contains("note: --backend auto fell back to hybrid"))
        let d = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect((d["fallback"] as? String)?.hasPrefix("--backend auto fell back to hybrid") == true)
        #expect(try String(contentsOfFile: dir + "/j.xml", encoding: .utf8).contains("<property name=\"fallback\""))
        #expect(try String(contentsOfFile: dir + "/k.json", encoding: .utf8).contains("\"fallback\""))
        let t = try Cli.run(["run", "guest-baseline", "--format", "tap"])
        #expect(t.stdout.contains("\n# fallback: --backend auto fell back to hybrid"))
    }

    /// Two hybrid probes on one CPU: the second refuses at once (75, naming the holder's pid) or, with --wait,
    /// waits and then runs; a probe on another CPU runs alongside.
    @Test(.enabled(if: ThisHost.hybridAvailable && ThisHost.usableCpus.count >= 2, "needs /dev/kvm and 2 CPUs this process may run on"))
    func oneProbePerCpu() throws {
        let (cpu, otherCpu) = (ThisHost.usableCpus[0], ThisHost.usableCpus[1])
        let env = Cli.environment // one lock directory shared by the probes of this test only
        defer { Cli.removeLockDir(env) }
        let lockDir = try #require(env["LBRPROBE_LOCK_DIR"])
        let first = Process()
        first.executableURL = URL(fileURLWithPath: try #require(Cli.binary))
        first.arguments = ["run", "--backend", "hybrid", "--cpu", "\(cpu)", "--repeat", "6", "--format", "tap"]
        first.currentDirectoryURL = repoRoot()
        first.environment = env
        first.standardOutput = FileHandle.nullDevice
        first.standardError = FileHandle.nullDevice
        try first.run()
        defer { if first.isRunning { kill(first.processIdentifier, SIGKILL) }; first.waitUntilExit() }
        // Wait until it holds the lock (it writes its pid into the lock file once locked).
        var held = false
        for _ in 0..<200 {
            if (try? String(contentsOfFile: lockDir + "/cpu\(cpu).lock", encoding: .utf8))?.hasPrefix("\(first.processIdentifier)\n") == true { held = true; break }
            usleep(20_000)
        }
        #expect(held, "the first probe did not take the CPU \(cpu) lock")
        let second = try Cli.run(["run", "guest-baseline", "--backend", "hybrid", "--cpu", "\(cpu)"], env: env)
        #expect(first.isRunning, "the first probe ended too early for this test")
        #expect(second.code == LbrExitCode.tempFail.rawValue, "\(second.code) \(second.stderr)")
        #expect(second.stderr.contains("CPU \(cpu) is being probed by another lbrprobe (pid \(first.processIdentifier)"), "\(second.stderr)")
        #expect(second.stdout.isEmpty)
        let other = try Cli.run(["run", "guest-baseline", "--backend", "hybrid", "--cpu", "\(otherCpu)", "--format", "tap"], env: env)
        #expect(other.code == 0, "different CPUs both run: \(other.stderr)")
        let waited = try Cli.run(["run", "guest-baseline", "--backend", "hybrid", "--cpu", "\(cpu)", "--wait", "--format", "tap"], env: env)
        #expect(waited.code == 0, "\(waited.stderr)")
        #expect(waited.stderr.contains("--wait: waiting for it") || !first.isRunning)
        #expect(!first.isRunning || waited.code == 0)
        first.waitUntilExit()
        #expect(first.terminationStatus == 0)
    }
}

/// Whether the hw backend is unavailable here (then `--backend auto` falls back).
enum HwBackendProbe {
    static var unavailable: Bool { HwBackend(profile: ThisHost.profile).unavailableReason != nil }
}
