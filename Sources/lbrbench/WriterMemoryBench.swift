// Writer memory benchmark: the peak RSS of writing one report format for `--repeat N` of the default set on sim,
// without running the N × 10 scenario runs (2 M runs take ~40 CPU-minutes): the default set is run twice for
// real, then each scenario's block is grown to N runs as the runner stores repeated runs (the first kept whole,
// every later one folded into a template: ScenarioResults.appendFolded, ~8 bytes each, with jittered durations
// and start times), and the report is written as `lbrprobe run` writes it (64 KiB buffered to /dev/null, or a
// file through AtomicFile). Prints the peak RSS after building the report and after writing it.
// One format per process, so each peak is its own: `lbrbench writers N FORMAT` (FORMAT: text, summary, tap,
// json, json-file, junit, kcidb, timeline, write-expect).
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LbrBackends
import LbrCore
import LbrLinux
import LbrReport
import LbrScenarios

func benchWriterMemory() {
    let args = Array(CommandLine.arguments.dropFirst(2))
    guard let n = args.first.flatMap({ Int($0) }), n >= 2, args.count >= 2 else {
        let usage = "usage: lbrbench writers N FORMAT (text, summary, tap, json, json-file, junit, kcidb, timeline, write-expect)\n"
        _ = usage.withCString { write(2, $0, strlen($0)) }
        exit(LbrExitCode.usage.rawValue)
    }
    let format = args[1]
    let profile = HostProbe(mountTracefs: false).probe()
    guard let backend = try? Backends.make(kind: .sim, model: "mainline", profile: profile) else { exit(1) }
    var report = Backends.runner(backend: backend, options: RunOptions(repeats: 2, kernelRelease: "bench")).run(Catalog.defaultSet)
    let real = Array(report.results)
    var results = ScenarioResults()
    var rng = SplitMix64(state: 1)
    var start = real.first?.startUnixNs ?? 1_765_000_000_000_000_000
    for s in Catalog.defaultSet {
        let runs = real.filter { $0.scenario == s.name }
        guard runs.count == 2 else { continue }
        results.append(runs[0])
        for i in 1..<n {
            var r = runs[1]
            r.repeatIndex = i
            r.repeats = n
            r.durationNs = 300_000 + rng.next() % 2_700_000
            start += r.durationNs + rng.next() % 50_000
            r.startUnixNs = start
            results.appendFolded(r, exemplar: runs[0].testName)
        }
    }
    report.results = results
    report.repeats = n
    let built = peakRssKb()
    let t0 = monotonicNs()
    let path = "/tmp/lbrbench-writers-\(getpid())"
    defer { unlink(path) }
    do {
        switch format {
        case "text": try toDevNull { TextReport.render(report, to: $0) }
        case "summary": try toDevNull { TextReport.render(report, summary: true, to: $0) }
        case "tap": try toDevNull { TapReport.render(report, to: $0) }
        case "json": try toDevNull { try JsonReport.render(report, to: $0) }
        case "json-file": try AtomicFile.write(to: path) { try JsonReport.render(report, compact: true, to: $0) }
        case "junit": try AtomicFile.write(to: path) { JUnitReport.render(report, to: $0) }
        case "kcidb": try AtomicFile.write(to: path) { try KcidbReport.render(report, buildId: "lbrprobe:bench", to: $0) }
        case "timeline": try AtomicFile.write(to: path) { $0(TimelineSvg.render(report)) }
        case "write-expect": try AtomicFile.write(to: path) { $0(ExpectWriter.render(report)) }
        default:
            _ = "lbrbench writers: unknown format \(format)\n".withCString { write(2, $0, strlen($0)) }
            exit(LbrExitCode.usage.rawValue)
        }
    } catch {
        print("writers: \(format) failed: \(error)")
        exit(1)
    }
    let secs = Double(monotonicNs() - t0) / 1e9
    print("writers \(format) N=\(n) (\(report.results.count) runs, coded entries \(report.results.entryBytes / 1024) KB): peak RSS \(built) KB after building the report, \(peakRssKb()) KB after writing (\((secs * 10).rounded() / 10) s)")
}

/// The process's peak RSS so far (getrusage, KB).
func peakRssKb() -> Int {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return u.ru_maxrss
}

/// A writer's text to /dev/null through a 64 KiB buffer, as `lbrprobe run` writes standard output.
func toDevNull(_ produce: ((String) -> Void) throws -> Void) throws {
    let fd = open("/dev/null", O_WRONLY | O_CLOEXEC)
    defer { close(fd) }
    var buffer: [UInt8] = []
    buffer.reserveCapacity(1 << 16)
    try produce { s in
        buffer.append(contentsOf: s.utf8)
        if buffer.count >= 1 << 16 { _ = AtomicFile.writeAll(fd, buffer, path: "/dev/null"); buffer.removeAll(keepingCapacity: true) }
    }
    _ = AtomicFile.writeAll(fd, buffer, path: "/dev/null")
}
