// Scenario benchmark: the full default scenario set (`lbrprobe run` with no scenario named) on hybrid (the
// real KVM guest, MSR exits answered by the kernel model) and sim, for the mainline model. Prints the wall
// time of each whole set and the median per scenario. Goal: the default set on hybrid completes in seconds.
// Usage: lbrbench scenarios [rounds] [cpu]
#if canImport(Glibc)
import Glibc
#endif
import LbrBackends
import LbrCore
import LbrLinux
import LbrReport
import LbrScenarios

func benchScenarios() {
    let args = Array(CommandLine.arguments.dropFirst(2))
    let rounds = args.first.flatMap { Int($0) } ?? 5
    let profile = HostProbe(mountTracefs: false).probe()
    let cpu = args.dropFirst().first.flatMap { Int($0) } ?? profile.topology.onlineCpus.value?.first ?? 0
    let set = Catalog.defaultSet
    print("scenarios: default set (\(set.count) scenarios), model mainline, cpu \(cpu), \(rounds) rounds")
    for kind in [BackendKind.hybrid, .sim] {
        guard let backend = try? Backends.make(kind: kind, model: "mainline", profile: profile) else { continue }
        if case let a = backend.availability(), !a.isAvailable {
            print("  \(kind.rawValue): unavailable: \(a.text)")
            continue
        }
        var totals: [Double] = []
        var per: [String: [Double]] = [:]
        var statuses: Set<String> = []
        for _ in 0..<rounds {
            let t0 = monotonicNs()
            let report = Backends.runner(backend: backend,
                                         options: RunOptions(cpu: cpu, kernelRelease: "bench")).run(set)
            totals.append(Double(monotonicNs() - t0) / 1e9)
            for r in report.results {
                per[r.scenario, default: []].append(Double(r.durationNs) / 1e6)
                statuses.insert(r.status.rawValue)
            }
        }
        func median(_ a: [Double]) -> Double { let s = a.sorted(); return s.isEmpty ? 0 : s[s.count / 2] }
        print("  \(kind.rawValue): whole default set median \(fmt(median(totals), 3)) s (min \(fmt(totals.min() ?? 0, 3)) s, max \(fmt(totals.max() ?? 0, 3)) s), statuses: \(statuses.sorted().joined(separator: ","))")
        for s in set {
            let pad = String(repeating: " ", count: max(0, 20 - s.name.count))
            print("    \(s.name)\(pad) \(fmt(median(per[s.name] ?? []), 2)) ms")
        }
    }
    benchWatchOverhead(rounds: rounds, cpu: cpu, profile: profile)
}

/// What a watched run costs. Interleaved rounds of the default set on hybrid and sim: A plain (no
/// progress, no timeline) and B as `lbrprobe run --timeline FILE` on a terminal — every progress update
/// formatted and written (to /dev/null here, in place of the terminal) and, after the run, the run document
/// built with its timelines and the SVG rendered. Prints the medians and the ratio A/B (1.0 = no cost).
func benchWatchOverhead(rounds: Int, cpu: Int, profile: HostProfile) {
    let set = Catalog.defaultSet
    let sink = open("/dev/null", O_WRONLY)
    defer { close(sink) }
    print("watch overhead (progress + timeline): default set, \(rounds) interleaved rounds each")
    for kind in [BackendKind.hybrid, .sim] {
        guard let backend = try? Backends.make(kind: kind, model: "mainline", profile: profile),
              backend.availability().isAvailable else { print("  \(kind.rawValue): unavailable"); continue }
        var plain: [Double] = [], watched: [Double] = [], progressOnly: [Double] = []
        var updates = 0, svgBytes = 0
        var docMs: [Double] = [], svgMs: [Double] = []
        // The three variants in a rotating order, so warm-up and drift do not favour one of them.
        for round in 0..<rounds {
            for variant in (0..<3).map({ ($0 + round) % 3 }) {
                let t0 = monotonicNs()
                switch variant {
                case 0:
                    _ = Backends.runner(backend: backend, options: RunOptions(cpu: cpu, kernelRelease: "bench")).run(set)
                    plain.append(Double(monotonicNs() - t0) / 1e6)
                case 1:
                    _ = Backends.runner(backend: backend, options: RunOptions(cpu: cpu, kernelRelease: "bench"),
                                        progress: { p in
                                            let l = "\r" + p.line(elapsedNs: monotonicNs() - t0) + "\u{1b}[K"
                                            _ = l.withCString { write(sink, $0, strlen($0)) }
                                        }).run(set)
                    progressOnly.append(Double(monotonicNs() - t0) / 1e6)
                default:
                    let report = Backends.runner(backend: backend, options: RunOptions(cpu: cpu, kernelRelease: "bench"),
                                                 progress: { p in
                                                     let l = "\r" + p.line(elapsedNs: monotonicNs() - t0) + "\u{1b}[K"
                                                     _ = l.withCString { write(sink, $0, strlen($0)) }
                                                     updates += 1
                                                 }).run(set)
                    let t1 = monotonicNs()
                    let doc = JsonReport.document(report)
                    let t2 = monotonicNs()
                    let svg = TimelineSvg.render(doc)
                    svgBytes = svg.utf8.count
                    let t3 = monotonicNs()
                    watched.append(Double(t3 - t0) / 1e6)
                    docMs.append(Double(t2 - t1) / 1e6); svgMs.append(Double(t3 - t2) / 1e6)
                }
            }
        }
        func median(_ a: [Double]) -> Double { let s = a.sorted(); return s.isEmpty ? 0 : s[s.count / 2] }
        let a = median(plain), b = median(watched), c = median(progressOnly)
        print("  \(kind.rawValue): plain median \(fmt(a, 2)) ms, with progress (\(updates / max(1, rounds)) updates) + timeline (\(svgBytes) B SVG) median \(fmt(b, 2)) ms, ratio plain/watched \(fmt(a / b, 3)); progress only median \(fmt(c, 2)) ms, ratio plain/progress \(fmt(a / c, 3)) (run document with timelines \(fmt(median(docMs), 2)) ms, SVG \(fmt(median(svgMs), 2)) ms)")
        let added = median(docMs) + median(svgMs)
        print("    timeline's own cost \(fmt(added, 2)) ms per run document: ratio plain/(plain + timeline) \(fmt(a / (a + added), 3))")
    }
}

private func fmt(_ v: Double, _ digits: Int) -> String {
    var p = 1.0
    for _ in 0..<digits { p *= 10 }
    let r = (v * p).rounded() / p
    return "\(r)"
}
