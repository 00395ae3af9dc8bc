import Foundation
import LbrTestSupport
import LbrBackends
import LbrCore
import LbrDocument
import LbrModel
import LbrReport
import LbrScenarios
import Testing

/// The timeline draws what the run document says: a host contender's bar starts when the contender was
/// installed, and a leak marker sits on the stack read that itself returned records outside the guest's code.
@Suite struct TimelineTruthTests {
    static func hostFirst() throws -> (doc: JsonReport.RunDocument, result: ScenarioResult) {
        let b = SimBackend(variant: .mainline)
        let report = Backends.runner(backend: b, options: RunOptions(kernelRelease: "t")).run([Catalog.hostFirst])
        return (JsonReport.document(report), try #require(report.results.first))
    }

    @Test func hostBarStartsAtTheInstallAndLeakMarkerSitsOnTheForeignRead() throws {
        let (doc, result) = try Self.hostFirst()
        let events = try #require(doc.results.first?.timeline)
        let phase = { (name: String) in events.first { $0.lane == .phase && $0.label == name } }
        let contended = try #require(phase("contended")), after = try #require(phase("after"))
        let lane = TimelineLane.host(Contender.pinnedLbr.name)
        let host = events.filter { $0.lane == lane }
        // The bar opens with the install, at the contended phase's first step, not at the first read or later.
        let install = try #require(host.first)
        #expect(install.state == .installed && install.t_ns == contended.t_ns, "\(host)")
        #expect(install.t_ns < after.t_ns)
        let firstRead = try #require(host.first { $0.state == .active || $0.state == .error })
        #expect(firstRead.t_ns >= install.t_ns && firstRead.t_ns <= contended.t_ns + (contended.dur_ns ?? 0))
        // It closes in the after phase (probeAfterClose closes it there).
        let closed = try #require(host.last { $0.state == .closed })
        #expect(closed.t_ns >= after.t_ns)

        // Leak markers: exactly the reads whose records lie outside the guest's code, per the raw evidence.
        let leak = try #require(result.findings.first { $0.kind == .hostBranchLeak })
        let code = try #require(result.guestCodeRanges)
        let reads = result.records.flatMap { rec in rec.observations.compactMap { t -> (String, LbrStackSnapshot)? in
            if case let .guest(g) = t.observation, g.command == .readLbrStack, let s = g.stack { return (rec.phase, s) }
            return nil
        } }
        let foreign = reads.map { VerdictEngine.splitStack($0.1, guestCode: code).outside.count }
        let markers = events.filter { $0.lane == .guest && $0.label.hasPrefix("read-lbr-stack") }
        #expect(markers.count == reads.count)
        for (m, n) in zip(markers, foreign) {
            #expect((m.state == .leak) == (n > 0), "\(m.label) vs \(n) foreign record(s)")
            if n > 0 { #expect(m.label.contains("leak: \(n) record(s) outside the guest's code")) }
        }
        #expect(foreign.reduce(0, +) == leak.count, "the finding counts the records the markers show")
        // host-first's second read is the guest's own (LBR on): it is not a leak marker.
        #expect(markers.count >= 2 && markers[1].state != .leak && markers[1].label.contains("in the guest's own code"))

        // The SVG draws the host bar from the install: the installed span starts at the contended phase's x.
        let svg = TimelineSvg.render(doc)
        let phaseX = try #require(svg.firstMatch(of: /<rect x="([0-9.]+)" y="[0-9.]+" width="[0-9.]+" height="[0-9.]+" fill="[^"]+" opacity="0.45"\/>/)).1
        let hostSpan = try #require(svg.firstMatch(of: /<title>host:pinned-lbr[^<]*: installed[^<]*<\/title>\n<rect x="([0-9.]+)"/), "\(svg.prefix(400))")
        #expect(hostSpan.1 == phaseX)
        // A sim run: host perf, the guest's LBR results and the vLBR are the model's: hatched, titled "(model)".
        #expect(svg.contains(">host pinned-lbr-any-cycl. (model)</text>"), "\(svg.prefix(3000))")
        #expect(svg.contains(">guest MSR results (model)</text>") && svg.contains(">phase</text>"))
        #expect(svg.components(separatedBy: "class=\"model\"").count > 3)
        #expect(svg.contains("host-&gt;guest leak: \(foreign.first { $0 > 0 } ?? 0) record(s) outside the guest&apos;s code")
                || svg.contains("host->guest leak: \(foreign.first { $0 > 0 } ?? 0) record(s) outside the guest's code"))
    }

    /// hybrid: what the real guest's vCPU thread did (context switches) is `kvm`; what the model played (the
    /// guest's LBR reads, host perf, the vLBR) is the model's, and so is everything judged from it.
    @Test(.enabled(if: ThisHost.hybridAvailable, "needs /dev/kvm with user-space MSR exits and MSR filters"))
    func hybridKeepsRealAndModelFactsApart() throws {
        let b = HybridBackend(variant: .mainline, profile: ThisHost.profile)
        let report = Backends.runner(backend: b, options: RunOptions(cpu: ThisHost.cpu, kernelRelease: "t"))
            .run([Catalog.recoveryPaths])
        let r = try #require(report.results.first)
        try #require(r.status == .pass, "\(r.reason ?? "")")
        let obs = r.records.flatMap(\.observations)
        let switches = obs.filter { if case .contextSwitches = $0.observation { return true }; return false }
        #expect(!switches.isEmpty && switches.allSatisfy { $0.basis == .kvm }, "\(switches)")
        let made = obs.filter {
            switch $0.observation { case .guest, .hostEvent, .hostSamples, .vlbr, .kmsg: return true; default: return false }
        }
        #expect(!made.isEmpty && made.allSatisfy { $0.basis == .model("mainline") })
        #expect(r.phases.flatMap(\.signals).allSatisfy { $0.basis == .model("mainline") })
        let events = try #require(JsonReport.document(report).results.first?.timeline)
        #expect(events.contains { $0.lane == .contextSwitchReal && $0.basis == .kvm })
    }
}
