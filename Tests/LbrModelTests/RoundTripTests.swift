// `vcpuRoundTrips` (the exit loop, with its quiet runs applied at once) against the same round trips stepped one by
// one, on every variant and era, with and without host LBR events and with the vLBR active, absent or in ERROR.
import Testing
import LbrCore
@testable import LbrModel

@Suite struct RoundTrips {
    /// What is on the CPU before the exit loop starts.
    enum Setup: CaseIterable {
        case nothing, guestLbr, hostPinnedLbr, hostIncludingGuestLbrOff, vlbrErrorWithHostLbr, pinnedLbrThenGuest
    }

    static let eras = [ModelEra.current, ModelEra(hostDebugctlSnapshot: true), ModelEra(zeroPeriodVlbr: true)]

    /// A fresh model (own ratelimit state) in guest mode after `setup`.
    /// (1,300 round trips of 3.3 µs cross a 4 ms rotation tick and dozens of sample periods.)
    static func model(_ v: KernelVariant, _ era: ModelEra, _ setup: Setup) -> KernelModel {
        var m = KernelModel(variant: v, pmu: .skylake, era: era)
        switch setup {
        case .nothing: break
        case .guestLbr: guestStartsLbr(&m)
        case .hostPinnedLbr: _ = m.openHost(.pinnedLbr, cpu: 0)
        case .hostIncludingGuestLbrOff:
            _ = m.openHost(.pinnedLbrIncludingGuest, cpu: 0)
            _ = m.guestWrmsr(MSR.debugctl, 0)
        case .vlbrErrorWithHostLbr:
            _ = m.openHost(.vlbrSlot, cpu: 0)
            _ = m.openHost(.pinnedLbrIncludingGuest, cpu: 0)
            guestStartsLbr(&m)
        case .pinnedLbrThenGuest:
            _ = m.openHost(.pinnedLbr, cpu: 0)
            guestStartsLbr(&m)
        }
        m.vcpuEnter()
        m.advance(ns: 7_000)
        return m
    }

    /// Everything observable of `m` (reads every event, so call it last).
    static func observable(_ m: inout KernelModel) -> [String] {
        var out = ["now \(m.nowNs)", "stats \(m.stats)", "vlbr \(m.vlbrState)", "passthrough \(m.passthrough)",
                   "lbr \(m.hardwareLbr())", "provenance \(m.hardwareLbrProvenance())",
                   "ratelimit clock \(m.ratelimit.clockNs)", "loaded \(m.isLoaded) in guest \(m.isInGuest)"]
        out += m.observations.map { "observation \($0)" }
        for id in m.allEvents {
            out.append("\(id) \(m.state(id)) \(String(describing: m.read(id))) \(m.drainSamples(id))")
        }
        return out
    }

    @Test(arguments: KernelVariant.allCases)
    func batchedEqualsStepped(_ v: KernelVariant) {
        for era in Self.eras {
            for setup in Setup.allCases {
                for (count, hostNs) in [(UInt64(1_300), UInt64(2_500)), (200, 0), (200, 100), (40, 90_000)] {
                    var stepped = Self.model(v, era, setup)
                    for _ in 0..<count { stepped.vcpuPut(); stepped.advance(ns: hostNs); stepped.vcpuEnter() }
                    var batched = Self.model(v, era, setup)
                    batched.vcpuRoundTrips(count, hostNs: hostNs)
                    let a = Self.observable(&stepped), b = Self.observable(&batched)
                    #expect(a == b, "\(v) \(era) \(setup) \(count)×\(hostNs) ns")
                    if a != b {
                        for (x, y) in zip(a, b) where x != y { Issue.record("stepped: \(x)\nbatched: \(y)") ; break }
                    }
                }
            }
        }
    }

    /// The quiet runs do apply where the exit loop spends its time: a host LBR event recording host branches and
    /// the vLBR active (starved host samples), on mainline.
    @Test func quietRunsApply() {
        for setup in [Setup.hostIncludingGuestLbrOff, .pinnedLbrThenGuest, .vlbrErrorWithHostLbr] {
            var m = Self.model(.mainline, .current, setup)
            // Past the first entries, whose kmsg lines print (burst), the runs are applied at once.
            for _ in 0..<20 { m.vcpuPut(); m.advance(ns: 2_500); m.vcpuEnter() }
            #expect(m.quietRoundTrips(upTo: 1_000, hostNs: 2_500) > 0, "\(setup)")
        }
    }
}
