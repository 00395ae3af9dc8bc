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
        if case let .unavailable(reason) = backend.availability() {
            print("  \(kind.rawValue): unavailable: \(reason)")
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
}

private func fmt(_ v: Double, _ digits: Int) -> String {
    var p = 1.0
    for _ in 0..<digits { p *= 10 }
    let r = (v * p).rounded() / p
    return "\(r)"
}
