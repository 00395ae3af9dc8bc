// Model benchmark: model events (public operations) per second on one core, and random-interleaving
// exploration steps per second with every invariant checked. Goal: ≥ 1M model events/s (release build).
#if canImport(Glibc)
import Glibc
#endif
import LbrCore
import LbrLinux
import LbrModel

/// A realistic mixed workload: guest LBR accesses (emulated and passed through), branches, exits and
/// entries, host contender open/close, preemption, reads and sample drains.
private func scriptedWorkload(variant: KernelVariant, rounds: Int, logging: Bool) -> (ops: UInt64, ns: UInt64) {
    var m = KernelModel(variant: variant, pmu: .skylake, logging: logging)
    let L = m.pmu.lbrLayout
    var sites: [(from: UInt64, to: UInt64)] = []
    for k in 0..<8 {
        let base = UInt64(k) * 16
        sites.append((from: 0x1000 + base, to: 0x2000 + base))
    }
    let t0 = monotonicNs()
    for r in 0..<rounds {
        _ = m.guestWrmsr(MSR.debugctl, DebugCtl.lbr)
        _ = m.guestRdmsr(L.tos)
        _ = m.guestWrmsr(L.from + UInt32(r & 7), UInt64(r))
        m.guestBranches(sites)
        _ = m.guestRdmsr(L.to + UInt32(r & 7))
        m.vcpuExit()
        m.advance(ns: 3_000)
        m.vcpuEnter()
        if r % 16 == 0 {
            let ids = m.openHost(r % 32 == 0 ? .pinnedLbr : .vlbrSlot, cpu: 0)
            m.advance(ns: 50_000)
            for id in ids { _ = m.read(id); _ = m.drainSamples(id); m.close(id) }
        }
        if r % 64 == 0 {
            _ = m.guestWrmsr(MSR.debugctl, 0)
            m.preemptVcpu(durationNs: 20_000)
        }
        if logging && r % 256 == 0 { _ = m.drainObservations() }
    }
    return (m.stats.operations, monotonicNs() - t0)
}

func benchModel() {
    print("== model (LbrModel, one core) ==")
    let rounds = 200_000
    _ = scriptedWorkload(variant: .mainline, rounds: 2_000, logging: false) // warm-up
    for (variant, logging) in [(KernelVariant.mainline, false), (.mainline, true), (.seed2023, false),
                               (.perfRequest, false), (.lazyRestore, false)] {
        let (ops, ns) = scriptedWorkload(variant: variant, rounds: rounds, logging: logging)
        let rate = Double(ops) / (Double(ns) / 1e9)
        let line = "model events/s  variant=\(variant.name) logging=\(logging ? "on " : "off"): "
            + "\(Int(rate)) (\(ops) events in \(ns / 1_000_000) ms) goal>=1000000 \(rate >= 1e6 ? "OK" : "BELOW GOAL")"
        print(line)
    }
    let steps = 200_000
    for variant in KernelVariant.allCases {
        var e = ModelExplorer(variant: variant, seed: 1)
        let t0 = monotonicNs()
        let r = e.run(steps: steps)
        let ns = monotonicNs() - t0
        let rate = Double(r.stepsRun) / (Double(ns) / 1e9)
        let verdict = r.violation.map { "VIOLATION \($0.invariant.rawValue) at step \($0.step)" } ?? "invariants hold"
        print("exploration steps/s variant=\(variant.name): \(Int(rate)) (\(r.stepsRun) steps, \(r.stats.operations) model events, "
              + "\(ns / 1_000_000) ms, \(verdict), host-leak reads \(r.hostLeakReads))")
    }
}
