import LbrTestSupport
import Foundation
import LbrDocument
@testable import LbrBackends
import LbrCore
import LbrModel
import LbrReport
import LbrScenarios
import Testing

/// The shadow model on the REAL hw step machinery (eligibility and guest-LBR gates lifted, as in
/// HwBackendTests.StepTests): this host's KVM gives the guest no LBR, model mainline predicts an ACTIVE vLBR,
/// so the real kernel departs from the model, and every report says so.
@Suite("shadow model on the real hw backend (LBR gate lifted)", .enabled(if: access("/dev/kvm", R_OK | W_OK) == 0 && geteuid() == 0, "needs /dev/kvm and root"))
struct ShadowHwTests {
    @Test func realKernelWithoutGuestLbrDepartsFromMainline() throws {
        let hw = HwBackend(profile: RecordedProfiles.skylakeSP)
        hw.testingWithoutGuestLbr = true
        let shadowed = ShadowedBackend(hw, variant: .mainline)
        let report = Backends.runner(backend: shadowed,
                                     options: RunOptions(cpu: 0, timeoutNs: 30_000_000_000, kernelRelease: "test"))
            .run([Catalog.guestBaseline])
        let r = try #require(report.results.first)
        #expect(r.backend == .hw && r.model == nil)
        #expect(r.outcome.code == "no-guest-lbr", "\(r.outcome.detail) \(r.reason ?? "")")
        #expect(r.status == .pass)
        #expect(r.sessionNotes.contains { $0.hasPrefix("shadow model mainline: every step is also performed") })
        let sh = try #require(r.shadow)
        #expect(sh.predictedOutcome == ScenarioOutcome(.vlbrActive) && sh.observedOutcome == ScenarioOutcome(.noGuestLbr) && !sh.agrees)
        let p = try #require(r.phases.first?.shadow)
        #expect(p.predictedVlbr == .active && p.observedInferred == .noLbr)
        let f = try #require(r.findings.first { $0.kind == .modelDeparture })
        #expect(f.summary.contains("kernel departs from model mainline: phase baseline: vLBR predicted active, observed no-lbr"))
        #expect(f.summary.contains("outcome predicted vlbr-active, observed no-guest-lbr"))
        #expect(TapReport.render(report).contains("kernel departs from model mainline"))
        let doc = try RunDocumentReader.decode(Data(try JsonReport.render(report).utf8), source: "hw")
        let md = try Contract.render([doc], models: [], format: .markdown)
        #expect(md.contains("measured on hardware") && md.contains("The kernel departs from model mainline"))
    }
}
