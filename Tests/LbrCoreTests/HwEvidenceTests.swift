import LbrTestSupport
import Testing
@testable import LbrCore

/// The hw observation path on recorded-shape hardware data (docs/reference.md §9.1, §9.4): what a starved
/// host looks like on real LBR hardware (stale repeats with one hw_idx), what a ratelimited kernel log looks like.
@Suite struct HwEvidenceTests {
    static let attr = Contender.pinnedLbr.attributes[0]
    static let vcpuTid: UInt32 = 4242
    static let hogTid: UInt32 = 777
    /// A host stack as `intel_pmu_lbr_read()` would leave it: 32 host kernel/user addresses.
    static func hostStack(_ base: UInt64) -> [PerfBranchEntry] {
        (0..<32).map { PerfBranchEntry(from: 0xffff_ffff_8100_0000 + base + UInt64($0) * 0x10, to: 0x55_5555_0000 + base + UInt64($0)) }
    }

    /// A ring as real hardware writes it around one guest command (window 1_000..2_000 ns): the hog's sample
    /// (a real read, hw_idx 5), then the vCPU thread's samples while its vLBR is scheduled in — all re-attach that
    /// same read — then one sample after the window and one of another CPU.
    static func starvedRing() -> [UInt8] {
        var w = PerfRecordWriter(attr)
        w.sample(tid: hogTid, time: 900, cpu: 2, hwIndex: 5, entries: hostStack(0))        // last real read on CPU 2
        w.sample(tid: vcpuTid, time: 1_100, cpu: 2, hwIndex: 5, entries: hostStack(0))     // stale
        w.sample(tid: vcpuTid, time: 1_400, cpu: 2, hwIndex: 5, entries: hostStack(0))     // stale
        w.sample(tid: vcpuTid, time: 1_900, cpu: 2, hwIndex: 5, entries: hostStack(0))     // stale
        w.sample(tid: vcpuTid, time: 2_500, cpu: 2, hwIndex: 5, entries: hostStack(0))     // after the window
        w.sample(tid: vcpuTid, time: 1_500, cpu: 3, hwIndex: 9, entries: hostStack(0x100)) // other CPU
        w.lost(count: 3)
        w.throttle(time: 1_950)
        return w.bytes
    }

    @Test func windowsKeepOnlyTheVcpuThreadInsideTheCommand() {
        let win = GuestCommandWindow(tid: Self.vcpuTid, startNs: 1_000, endNs: 2_000)
        var s = PerfSampleRecord()
        s.tid = Self.vcpuTid; s.time = 1_000
        #expect(win.contains(s))
        s.time = 2_000
        #expect(win.contains(s))
        s.time = 2_001
        #expect(!win.contains(s))
        s.time = 1_500; s.tid = Self.hogTid
        #expect(!win.contains(s))
        s.tid = Self.vcpuTid; s.time = nil
        #expect(!win.contains(s))   // no time: never kept
        #expect(!GuestCommandWindow.keep(s, in: []))
    }

    @Test func staleRepeatsAreJudgedAgainstThePreviousSampleOnTheCpuKeptOrNot() throws {
        let records = try PerfRecordParser.parse(Self.starvedRing(), layout: PerfSampleLayout(Self.attr)).records
        var previous: PerfBranchStack?
        let s = HwEvidence.hostSamples(contender: "pinned", records: records,
                                       windows: [GuestCommandWindow(tid: Self.vcpuTid, startNs: 1_000, endNs: 2_000)],
                                       cpu: 2, guestRange: 0x1000..<0x2000, samplePeriod: 100_000, previous: &previous)
        #expect(s.samples == 3)
        #expect(s.staleRepeats == 3)                  // the first kept sample repeats the hog's (filtered) real read
        #expect(s.withHwIndex == 3 && s.withBranches == 3 && s.emptyBranches == 0)
        #expect(s.filteredOut == 3)                   // hog, after-window, other CPU
        #expect(s.lost == 3 && s.throttled == 1 && s.samplePeriod == 100_000)
        #expect(s.staleExample?.hasPrefix("hw_idx 0x5, 32 entries, 0xffffffff81000000->") == true)
        #expect(s.starvedSamples == 3)
        #expect(previous?.hwIndex == 5)               // carried to the next drain
    }

    @Test func previousStackIsCarriedAcrossDrains() throws {
        var w1 = PerfRecordWriter(Self.attr)
        w1.sample(tid: Self.vcpuTid, time: 10, cpu: 0, hwIndex: 7, entries: Self.hostStack(0))
        var w2 = PerfRecordWriter(Self.attr)
        w2.sample(tid: Self.vcpuTid, time: 20, cpu: 0, hwIndex: 7, entries: Self.hostStack(0))
        w2.sample(tid: Self.vcpuTid, time: 30, cpu: 0, hwIndex: 8, entries: Self.hostStack(0x40))  // a fresh read
        let layout = PerfSampleLayout(Self.attr)
        let win = [GuestCommandWindow(tid: Self.vcpuTid, startNs: 0, endNs: 100)]
        var previous: PerfBranchStack?
        let a = HwEvidence.hostSamples(contender: "p", records: try PerfRecordParser.parse(w1.bytes, layout: layout).records,
                                       windows: win, cpu: 0, guestRange: nil, samplePeriod: nil, previous: &previous)
        let b = HwEvidence.hostSamples(contender: "p", records: try PerfRecordParser.parse(w2.bytes, layout: layout).records,
                                       windows: win, cpu: 0, guestRange: nil, samplePeriod: nil, previous: &previous)
        #expect(a.staleRepeats == 0 && b.staleRepeats == 1)
        // Same entries but a different hw_idx is a fresh read, not a repeat.
        var w3 = PerfRecordWriter(Self.attr)
        w3.sample(tid: Self.vcpuTid, time: 40, cpu: 0, hwIndex: 9, entries: Self.hostStack(0x40))
        let c = HwEvidence.hostSamples(contender: "p", records: try PerfRecordParser.parse(w3.bytes, layout: layout).records,
                                       windows: win, cpu: 0, guestRange: nil, samplePeriod: nil, previous: &previous)
        #expect(c.staleRepeats == 0 && c.withBranches == 1)
    }

    @Test func samplingNotesReportThrottleLostAndMissingHwIndex() {
        var s = HostSampleSummary(contender: "pinned", samples: 4, withBranches: 4, emptyBranches: 0, guestAddresses: 0,
                                  lost: 2, withHwIndex: 3, throttled: 1, samplePeriod: 100_000)
        let notes = HwEvidence.samplingNotes(s, maxSampleRate: 25_000)
        #expect(notes.count == 3)
        #expect(notes[0].contains("throttled") && notes[0].contains("sample_period 100000")
                && notes[0].contains("perf_event_max_sample_rate 25000"))
        #expect(notes[1].contains("2 sample(s) lost"))
        #expect(notes[2].contains("1 of 4"))
        s.lost = 0; s.throttled = 0; s.withHwIndex = 4
        #expect(HwEvidence.samplingNotes(s, maxSampleRate: nil).isEmpty)
    }

    // MARK: kmsg

    @Test func classifiesTheCallSitesLines() {
        #expect(KvmLbrKmsg.classify("kvm_intel: vcpu-0: fail to passthrough LBR.") == .failToPassthrough(vcpuId: 0))
        #expect(KvmLbrKmsg.classify("kvm_intel: vcpu-13: fail to passthrough LBR.") == .failToPassthrough(vcpuId: 13))
        #expect(KvmLbrKmsg.classify("vmx_passthrough_lbr_msrs: 42 callbacks suppressed") == .suppressed(count: 42))
        #expect(KvmLbrKmsg.classify("some_other_function: 42 callbacks suppressed") == .unrelated)
        #expect(KvmLbrKmsg.classify("vmx_passthrough_lbr_msrs: many callbacks suppressed") == .unrelated)
        #expect(KvmLbrKmsg.classify("kvm: already loaded") == .unrelated)
    }

    @Test func parsesKmsgRecordsDmesgLinesAndBareMessages() {
        let text = """
        4,1234,5000000,-;kvm_intel: vcpu-0: fail to passthrough LBR.
         SUBSYSTEM=kvm
        12,1235,5000100,-;kvm_intel: vcpu-0: fail to passthrough LBR.
        [   10.250000] vmx_passthrough_lbr_msrs: 7 callbacks suppressed
        [ 7.5] kvm_intel: vcpu-1: fail to passthrough LBR.
        kvm_intel: vcpu-0: fail to passthrough LBR.

        """
        let e = KvmLbrKmsg.parseText(text)
        #expect(e.count == 5)
        #expect(e[0] == KmsgEntry(isKernel: true, timestampUs: 5_000_000, message: "kvm_intel: vcpu-0: fail to passthrough LBR."))
        #expect(!e[1].isKernel)                                  // prio 12 = facility user
        #expect(e[2].timestampUs == 10_250_000 && e[2].message.hasPrefix("vmx_passthrough_lbr_msrs"))
        #expect(e[3].timestampUs == 7_500_000)
        #expect(e[4].timestampUs == nil && e[4].isKernel)
    }

    @Test func ourLinesCountOthersAndForgeriesAreNotes() {
        var view = KmsgRatelimitView()
        let entries = KvmLbrKmsg.parseText("""
        4,1,1000000,-;kvm_intel: vcpu-0: fail to passthrough LBR.
        4,2,1000100,-;kvm_intel: vcpu-3: fail to passthrough LBR.
        12,3,1000200,-;kvm_intel: vcpu-0: fail to passthrough LBR.
        4,4,6500000,-;vmx_passthrough_lbr_msrs: 25 callbacks suppressed
        """)
        let obs = HwEvidence.kmsgObservations(entries, ourVcpuIds: [0], otherVms: [], view: &view, reportSilence: true)
        let kmsg = obs.compactMap { if case let .kmsg(l) = $0 { return l } else { return nil } }
        let notes = obs.compactMap { if case let .note(n) = $0 { return n } else { return nil } }
        #expect(kmsg == ["kvm_intel: vcpu-0: fail to passthrough LBR.", "vmx_passthrough_lbr_msrs: 25 callbacks suppressed"])
        #expect(notes.contains { $0.contains("vcpu-3, not ours") })
        #expect(notes.contains { $0.hasPrefix("user-space /dev/kmsg line ignored") })
        #expect(notes.contains { $0.contains("25 \"fail to passthrough LBR\" line(s) swallowed") })
        #expect(!notes.contains { $0.contains("silence") })      // there were fail lines
        #expect(view.suppressedTotal == 25 && view.printedUs.count == 2)
    }

    @Test func otherVmsMakeOurLinesNotesAndSilenceIsNeverEvidence() {
        var view = KmsgRatelimitView()
        let line = [KmsgEntry(timestampUs: 1, message: "kvm_intel: vcpu-0: fail to passthrough LBR.")]
        let o = HwEvidence.kmsgObservations(line, ourVcpuIds: [0], otherVms: ["pid 99 (qemu-system-x86): 1 VM fd(s), 4 vCPU fd(s)"],
                                            view: &view, reportSilence: false)
        #expect(o.count == 1)
        guard case let .note(n) = o[0] else { Issue.record("expected a note"); return }
        #expect(n.contains("not counted") && n.contains("qemu-system-x86"))
        // Ten lines fill the burst; then silence.
        var v2 = KmsgRatelimitView()
        let burst = (0..<10).map { KmsgEntry(timestampUs: 1_000_000 + UInt64($0), message: "kvm_intel: vcpu-0: fail to passthrough LBR.") }
        _ = HwEvidence.kmsgObservations(burst, ourVcpuIds: [0], otherVms: [], view: &v2, reportSilence: true)
        #expect(v2.linesInLatestInterval == 10)
        let quiet = HwEvidence.kmsgObservations([], ourVcpuIds: [0], otherVms: [], view: &v2, reportSilence: true)
        #expect(quiet.count == 1)
        guard case let .note(q) = quiet.first else { Issue.record("expected the silence note"); return }
        #expect(q.contains("silence is not evidence") && q.contains("10 seen in the latest interval"))
        #expect(HwEvidence.kmsgObservations([], ourVcpuIds: [0], otherVms: [], view: &v2, reportSilence: false).isEmpty)
        // Placed at "now": 2 s after the burst all ten still count, 7 s after none do.
        #expect(v2.lines(inIntervalEndingAt: 3_000_000) == 10 && v2.lines(inIntervalEndingAt: 8_000_000) == 0)
        let later = HwEvidence.kmsgObservations([], ourVcpuIds: [0], otherVms: [], view: &v2, reportSilence: true, nowUs: 8_000_000)
        guard case let .note(l) = later.first else { Issue.record("expected the silence note"); return }
        #expect(l.contains("0 seen in the last 5 s"))
    }

    // MARK: replay

    @Test func replayTurnsRecordedHardwareIntoTheHwObservations() throws {
        let kmsg = """
        4,100,3000000,-;kvm_intel: vcpu-0: fail to passthrough LBR.
        4,101,8200000,-;vmx_passthrough_lbr_msrs: 12 callbacks suppressed
        """
        let obs = try HwReplay.observations(HwReplay.Input(
            ringBytes: Self.starvedRing(), cpu: 2,
            windows: [GuestCommandWindow(tid: Self.vcpuTid, startNs: 1_000, endNs: 2_000)],
            guestRange: 0x1000..<0x2000, maxSampleRate: 100_000, kmsgText: kmsg))
        guard case let .hostSamples(s) = obs.first else { Issue.record("first observation is not hostSamples"); return }
        #expect(s.contender == Contender.pinnedLbr.name)
        #expect(s.samples == 3 && s.staleRepeats == 3 && s.emptyBranches == 0 && s.withBranches == 3)
        #expect(s.samplePeriod == Contender.lbrSamplePeriod)
        let notes = obs.compactMap { if case let .note(n) = $0 { return n } else { return nil } }
        #expect(notes.contains { $0.contains("throttled") } && notes.contains { $0.contains("3 sample(s) lost") })
        #expect(notes.contains { $0.contains("3 of 3 kept sample(s) repeat the previous stack") && $0.contains("hw_idx 0x5") })
        let kmsgObs = obs.compactMap { if case let .kmsg(l) = $0 { return l } else { return nil } }
        #expect(kmsgObs.count == 2)
        #expect(notes.contains { $0.contains("12 \"fail to passthrough LBR\" line(s) swallowed") })
        // The idealised reading (starved = empty stacks) sees a host with branches: the artefact §9.1 describes.
        #expect(s.emptyBranches == 0 && s.withBranches == s.samples)
        // Garbage ring bytes fail loudly.
        #expect(throws: PerfRecordError.self) {
            _ = try HwReplay.observations(HwReplay.Input(ringBytes: [1, 2, 3, 4, 5, 6, 7, 8, 9], windows: []))
        }
    }

    @Test func recordedShapesReplayAsStarvedFreshAndRatelimited() throws {
        let win = GuestCommandWindow(tid: 321, startNs: 10_000, endNs: 20_000)
        let starved = try HwReplay.observations(HwReplay.Input(
            ringBytes: HwReplay.RecordedShape.starvedHostRing(window: win, cpu: 1, starved: 4), cpu: 1, windows: [win],
            kmsgText: HwReplay.RecordedShape.ratelimitedKmsg()))
        guard case let .hostSamples(s) = starved.first else { Issue.record("shape"); return }
        #expect(s.samples == 4 && s.staleRepeats == 4 && s.filteredOut == 2 && s.emptyBranches == 0)
        let kmsg = starved.compactMap { if case let .kmsg(l) = $0 { return l } else { return nil } }
        #expect(kmsg.count == 11 && kmsg.last == "vmx_passthrough_lbr_msrs: 12 callbacks suppressed")
        let fresh = try HwReplay.observations(HwReplay.Input(
            ringBytes: HwReplay.RecordedShape.freshHostRing(window: win, cpu: 1), cpu: 1, windows: [win]))
        guard case let .hostSamples(f) = fresh.first else { Issue.record("shape"); return }
        #expect(f.samples == 3 && f.staleRepeats == 0 && f.withBranches == 3)
    }

    @Test func replayWithoutKmsgSaysSilenceIsNotEvidence() throws {
        let obs = try HwReplay.observations(HwReplay.Input(ringBytes: [], windows: []))
        #expect(obs.count == 2)
        guard case let .hostSamples(s) = obs[0], case let .note(n) = obs[1] else { Issue.record("shape"); return }
        #expect(s.samples == 0)
        #expect(n.contains("silence is not evidence"))
    }
}
