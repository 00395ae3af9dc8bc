import Foundation
import LbrCore
import LbrReport
import LbrScenarios
import Testing

/// Farm outputs keep a model's predictions apart from hardware measurements: names, paths, statuses, metadata.
@Suite struct FarmTestIdentityTests {
    @Test func modelResultsAreNamedAfterTheModelInTapJUnitAndKcidb() throws {
        let report = Fixtures.mixedReport(kind: .sim)
        let tap = TapReport.render(report)
        let results = tap.split(separator: "\n").filter { $0.hasPrefix("ok ") || $0.hasPrefix("not ok ") }
        #expect(results.count == 9)
        for line in results {
            let name = line.split(separator: " ")[line.hasPrefix("ok ") ? 2 : 3]
            #expect(name.hasPrefix("sim-model-mainline."), "TAP result not named after the model: \(line)")
        }
        #expect(tap.contains("# basis: every result is the prediction of model mainline"))

        let xml = JUnitReport.render(report)
        #expect(xml.contains("<testsuite name=\"lbrprobe.sim-model-mainline\""))
        #expect(xml.contains("<testcase classname=\"lbrprobe.sim-model-mainline\" name=\"host-first\""))
        #expect(xml.contains("<property name=\"basis\" value=\"model\"/>"))

        let doc = KcidbReport.document(report, buildId: "kernelci:b")
        for t in doc.tests {
            #expect(t.path.hasPrefix("lbrprobe_model.sim.mainline."), "\(t.path)")
            #expect(!t.path.hasPrefix("kvm.vlbr"))
            #expect(t.status != "PASS", "a prediction is never a KCIDB PASS: \(t.path)")
            #expect(t.misc.basis == "model")
        }
        let hf = try #require(doc.tests.first { $0.path == "lbrprobe_model.sim.mainline.host_first" })
        #expect(hf.status == "DONE")
        #expect(doc.tests.first { $0.path.hasSuffix(".slot_contention") }?.status == "FAIL") // unmet expectation
        #expect(doc.tests.first { $0.path.hasSuffix(".counter_exhaustion") }?.status == "SKIP")
    }

    @Test func hardwareResultsKeepTheirPlainNames() {
        let report = Fixtures.mixedReport(kind: .hw)
        let tap = TapReport.render(report)
        #expect(tap.contains("\nok 1 guest-baseline\n"))
        #expect(!tap.contains("-model-"))
        #expect(JUnitReport.render(report).contains("<testcase classname=\"lbrprobe.hw\" name=\"host-first\""))
        let doc = KcidbReport.document(report, buildId: "kernelci:b")
        #expect(doc.tests.allSatisfy { $0.path.hasPrefix("kvm.vlbr.") && $0.misc.basis == "hardware" })
        #expect(doc.tests.first { $0.path == "kvm.vlbr.host_first" }?.status == "PASS")
    }

    @Test func identitySegmentsAreSafeTestNames() {
        #expect(TestIdentity.modelSegment(backend: .hw, model: "mainline") == nil)
        #expect(TestIdentity.modelSegment(backend: .hybrid, model: "seed-2023") == "hybrid-model-seed-2023")
        #expect(TestIdentity.kcidbStatus(.pass, backend: .hybrid) == "DONE")
        #expect(TestIdentity.kcidbStatus(.pass, backend: .hw) == "PASS")
        #expect(TestIdentity.kcidbStatus(.timeout, backend: .sim) == "ERROR")
    }
}
