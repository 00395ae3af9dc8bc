// Compare benchmark: `lbrprobe compare` must stay pure and fast — ≤ 50 ms for 100 documents of the
// 9-scenario default set. Writes 100 real sim run documents (every kernel model, several kernel releases) to a
// temporary directory, then times reading + decoding them (Compare.load, the same path as the CLI) and building
// the fleet matrix and its three renderings, and a two-document compare. Prints medians over the rounds.
// Usage: lbrbench compare [rounds] [documents]
import Foundation
import LbrBackends
import LbrCore
import LbrDocument
import LbrLinux
import LbrModel
import LbrReport
import LbrScenarios

func benchCompare() {
    let args = Array(CommandLine.arguments.dropFirst(2))
    let rounds = args.first.flatMap { Int($0) } ?? 10
    let count = args.dropFirst().first.flatMap { Int($0) } ?? 100
    let profile = HostProbe(mountTracefs: false).probe()
    let dir = NSTemporaryDirectory() + "lbrbench-compare-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let models = Backends.modelNames
    var paths: [String] = []
    var bytes = 0
    for i in 0..<count {
        let model = models[i % models.count]
        guard let b = try? Backends.make(kind: .sim, model: model, profile: profile) else { continue }
        let kernel = "6.\(i % 20).\(i)-bench"
        let opts = RunOptions(cpu: 0, kernelRelease: kernel, runId: RunId.v7(unixMs: 1_764_000_000_000 + UInt64(i), random: []),
                              host: HostIdentity(hostname: "node\(i)", kernelRelease: kernel, cpuVendor: "GenuineIntel",
                                                 cpuFamily: 6, cpuModel: [0x55, 0x6a, 0x8f][i % 3]))
        let report = Backends.runner(backend: b, options: opts).run(Catalog.defaultSet)
        // As `lbrprobe run --json FILE` writes them (compact), the documents farms collect for compare.
        guard let json = try? JsonReport.render(report, compact: true) else { continue }
        let p = "\(dir)/run\(i).json"
        bytes += json.utf8.count
        try? json.write(toFile: p, atomically: false, encoding: .utf8)
        paths.append(p)
    }
    print("compare: \(paths.count) sim documents of \(Catalog.defaultSet.count) scenarios (\(bytes / paths.count / 1024) KiB each on average), \(rounds) rounds")
    var load: [Double] = [], matrix: [Double] = [], total: [Double] = [], pair: [Double] = [], cpu: [Double] = []
    for _ in 0..<rounds {
        let c0 = threadCpuNs()
        let t0 = monotonicNs()
        let inputs = (try? Compare.loadAll(paths: paths, detail: false)) ?? []
        let t1 = monotonicNs()
        guard inputs.count == paths.count, let rep = try? Compare.run(inputs) else { print("  compare failed"); return }
        for f in Compare.Format.allCases { _ = try? Compare.render(rep, format: f) }
        let t2 = monotonicNs()
        cpu.append(Double(threadCpuNs() - c0) / 1e6)
        let pairCompared = (try? Compare.run([try Compare.load(path: paths[0]), try Compare.load(path: paths[1])])) != nil
        let t3 = monotonicNs()
        guard pairCompared else { print("  pair compare failed"); return }
        load.append(Double(t1 - t0) / 1e6); matrix.append(Double(t2 - t1) / 1e6)
        total.append(Double(t2 - t0) / 1e6); pair.append(Double(t3 - t2) / 1e6)
    }
    // CPU-time breakdown of one pass: read, decode, matrix, render.
    var stages: [String: [Double]] = [:]
    for _ in 0..<rounds {
        var c = threadCpuNs()
        func lap(_ k: String) { let n = threadCpuNs(); stages[k, default: []].append(Double(n - c) / 1e6); c = n }
        let datas = paths.compactMap { try? RunDocumentReader.readData(path: $0) }
        lap("read")
        let inputs = datas.enumerated().compactMap { try? Compare.decode($0.element, source: paths[$0.offset], detail: false) }
        lap("decode")
        guard let rep = try? Compare.run(inputs) else { return }
        lap("matrix")
        for f in Compare.Format.allCases { _ = try? Compare.render(rep, format: f) }
        lap("render")
    }
    func median(_ a: [Double]) -> Double { let s = a.sorted(); return s.isEmpty ? 0 : s[s.count / 2] }
    func f(_ v: Double) -> String { String(format: "%.2f", v) }
    print("  \(paths.count) documents: read+decode \(f(median(load))) ms, matrix + text/markdown/json \(f(median(matrix))) ms, total \(f(median(total))) ms (median; min \(f(total.min() ?? 0)) ms); target 50 ms: ratio \(f(median(total) / 50))")
    print("  same, CPU time of the process, all threads (what the load of other processes inflates least): median \(f(median(cpu))) ms, min \(f(cpu.min() ?? 0)) ms; target 50 ms: ratio \(f(median(cpu) / 50))")
    print("  CPU time by stage (median): " + ["read", "decode", "matrix", "render"].map { "\($0) \(f(median(stages[$0] ?? [])))" }.joined(separator: ", ") + " ms")
    print("  2 documents (pair, incl. read+decode): \(f(median(pair))) ms")
}

/// CPU time consumed by the process, all threads (CLOCK_PROCESS_CPUTIME_ID).
func threadCpuNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
