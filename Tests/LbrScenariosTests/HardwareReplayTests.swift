// Recorded-shape hardware data (§9.1–§9.5) through the hw verdict path: perf records summarized by
// SampleAnalysis (as the hw backend does), the old payload's TOS readback (value + 2: `ret` and `call` between
// WRMSR and RDMSR), passed-through LBR MSR accesses, and a ratelimited kmsg ("callbacks suppressed" only).
// The new engine gets mainline's verdicts; the old idealised rules (exact readback, starvation = empty
// stacks) computed on the same data say `coexist` and `stays-errored`, as the audits predicted (§9.5).
import LbrTestSupport
import LbrCore
@testable import LbrScenarios
import Testing

struct HardwareReplayTests {
    static let layout = LbrLayout.skylake
    static let session = SessionInfo(backend: .hw, model: nil, cpu: 3, lbrLayout: layout)

    /// Host samples of a starved CPU-pinned LBR event: every sample re-attaches the CPU's last real read
    /// (same hw_idx 0x1b, same 32 host kernel entries), on the vCPU's CPU, as the hw backend parses them.
    static func staleSamples(_ n: Int) -> HostSampleSummary {
        let stack = PerfBranchStack(hwIndex: 0x1b, entries: (0..<32).map {
            PerfBranchEntry(from: 0xffff_ffff_8120_0000 + UInt64($0) * 0x40, to: 0xffff_ffff_8120_0010 + UInt64($0) * 0x40)
        })
        let records: [PerfRecord] = (0..<n).map { i in
            var s = PerfSampleRecord()
            s.tid = 4242; s.cpu = 3; s.time = 1_000_000 + UInt64(i) * 4_000; s.branchStack = stack
            return .sample(s)
        }
        return SampleAnalysis.summarize(contender: Contender.pinnedLbr.name, records: records, guestRange: 0x10000..<0x11000,
                                        cpu: 3, samplePeriod: 100_000)
    }

    static func guest(_ c: GuestCommand, _ values: [UInt64], stack: LbrStackSnapshot? = nil) -> TimedObservation {
        TimedObservation(timeNs: 0, .guest(GuestResult(command: c, status: .ok, values: values, stack: stack)), basis: .hardware)
    }
    static func lbrAccess(_ write: Bool, _ v: UInt64, trapped: Bool) -> TimedObservation {
        TimedObservation(timeNs: 0, .msrAccess(MsrAccess(index: MSR.lbrTos, isWrite: write, value: v, trapped: trapped)), basis: .hardware)
    }
    static let kmsgSuppressed = TimedObservation(timeNs: 0, .kmsg("vmx_passthrough_lbr_msrs: 14 callbacks suppressed"), basis: .hardware)

    /// host-first as a Cascade Lake running today's payload would record it.
    static var hostFirstRecords: [PhaseRecord] {
        let contended: [TimedObservation] = [
            guest(.enableLbr(freezeOnPmi: false), [DebugCtl.lbr]),
            guest(.branchPattern(count: 16), [16]),
            lbrAccess(false, 0, trapped: true), lbrAccess(false, 0, trapped: false),
            guest(.writeTos(3), [5]), lbrAccess(true, 3, trapped: false), lbrAccess(false, 5, trapped: false),
            TimedObservation(timeNs: 0, .hostEvent(contender: Contender.pinnedLbr.name, state: .active, enabledNs: 9_000_000, runningNs: 9_000_000), basis: .hardware),
            TimedObservation(timeNs: 0, .hostSamples(staleSamples(24)), basis: .hardware),
            kmsgSuppressed,
        ]
        let after: [TimedObservation] = [
            guest(.writeTos(3), [5]), lbrAccess(true, 3, trapped: false), lbrAccess(false, 5, trapped: false),
            guest(.writeTos(1), [3]),
        ]
        return [PhaseRecord(phase: "contended", observations: contended, stepsCompleted: 6, startNs: 0, endNs: 1),
                PhaseRecord(phase: "after", observations: after, stepsCompleted: 6, startNs: 1, endNs: 2)]
    }

    /// recovery-paths: the slot holder puts the vLBR in ERROR (writes dropped: 0), released after preemption.
    static var recoveryRecords: [PhaseRecord] {
        func rec(_ name: String, _ obs: [TimedObservation]) -> PhaseRecord {
            PhaseRecord(phase: name, observations: obs, stepsCompleted: obs.count, startNs: 0, endNs: 1)
        }
        return [
            rec("setup", [guest(.writeTos(3), [5])]),
            rec("contended", [guest(.writeTos(3), [0]), lbrAccess(true, 3, trapped: true),
                              TimedObservation(timeNs: 0, .hostEvent(contender: Contender.vlbrSlot.name, state: .active, enabledNs: 1, runningNs: 1), basis: .hardware),
                              kmsgSuppressed]),
            rec("after-access", [guest(.spin(iterations: 200), []), guest(.writeTos(3), [0]), guest(.writeTos(1), [0])]),
            rec("debugctl-rewrite", [guest(.enableLbr(freezeOnPmi: false), [DebugCtl.lbr]), guest(.writeTos(3), [0])]),
            rec("release", [guest(.disableLbr, [0]), guest(.enableLbr(freezeOnPmi: false), [DebugCtl.lbr]),
                            guest(.writeTos(3), [5])]),
        ]
    }

    @Test func newEngineGetsMainlineVerdictsFromHardwareShapedData() throws {
        let s = Self.staleSamples(24)
        #expect(s.staleRepeats == 23 && s.emptyBranches == 0 && s.withHwIndex == 24)
        let hf = VerdictEngine.evaluate(scenario: Catalog.hostFirst, session: Self.session, records: Self.hostFirstRecords)
        #expect(hf.outcome.code == "guest-wins-host-starved")
        let c = try #require(hf.phases.first { $0.phase == "contended" })
        #expect(c.hostStarved == true)
        let tos = try #require(c.signals.first { $0.kind == .tosReadback })
        #expect(tos.vote == .active && tos.evidence.contains("(value + 2)"))
        let starve = try #require(c.signals.first { $0.kind == .hostStarvation })
        #expect(starve.evidence.contains("23/24 (96%) exact stale repeats") && starve.evidence.contains("hw_idx 0x1b"))
        #expect(starve.sampleVote == SampleVote(samples: 24, matching: 23))
        // kmsg: only a "callbacks suppressed" line: no vote (silence is not evidence), the count is reported.
        #expect(!c.signals.contains { $0.kind == .kmsgFailToPassthrough })
        #expect(c.evidence.contains { $0.contains("14 lines not printed") })

        let rp = VerdictEngine.evaluate(scenario: Catalog.recoveryPaths, session: Self.session, records: Self.recoveryRecords)
        #expect(rp.outcome.code == "host-wins-vlbr-error+recovered(release-after-preemption)")
    }

    /// The pre-issue-9 rules on the same data: exact TOS readback, starvation = more than half empty stacks.
    @Test func oldIdealisedDetectorWouldHaveSaidCoexist() throws {
        let L = Self.layout
        // host-first, contended phase: the TOS readback 5 for 3 is "odd" (no vote); the passed-through accesses
        // vote active; 0 of 24 samples are empty, so the host looks fed.
        var tosVote: InferredVlbr?
        var passthroughVote: InferredVlbr?
        var samples = 0, empty = 0
        for t in Self.hostFirstRecords[0].observations {
            switch t.observation {
            case let .guest(g):
                if case let .writeTos(v) = g.command, let rb = g.values.first {
                    if IdealisedRules.tosSticks(written: v, readback: rb, tosMask: L.tosMask) { tosVote = .active }
                    else if rb == 0 { tosVote = .notActive }
                }
            case let .msrAccess(a): passthroughVote = a.trapped ? .notActive : .active
            case let .hostSamples(s): samples += s.samples; empty += s.emptyBranches
            default: break
            }
        }
        #expect(tosVote == nil)
        let inferred = tosVote ?? passthroughVote
        #expect(inferred == .active)
        let starved = IdealisedRules.hostStarved(samples: samples, empty: empty)
        let oldTerm: Outcome = inferred == .active ? (starved ? .guestWinsHostStarved : .coexist) : .hostWinsVlbrError
        #expect(oldTerm == .coexist)
        // recovery-paths: no attempt's readback is ever exactly the value, so the old rule finds no recovery.
        let anyStuck = Self.recoveryRecords.dropFirst(2).flatMap(\.observations).contains { t in
            guard case let .guest(g) = t.observation, case let .writeTos(v) = g.command, let rb = g.values.first else { return false }
            return IdealisedRules.tosSticks(written: v, readback: rb, tosMask: L.tosMask)
        }
        #expect(!anyStuck) // => stays-errored under the old rule
    }
}
