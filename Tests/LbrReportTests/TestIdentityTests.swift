import Foundation
import LbrTestSupport
import LbrCore
import LbrDocument
import LbrReport
import LbrScenarios
import Testing

/// Farm outputs keep a model's predictions apart from hardware measurements: names, paths, statuses, metadata.
@Suite struct FarmTestIdentityTests {
    @Test func modelResultsAreNamedAfterTheModelInTapJUnitAndKcidb() throws {
        let report = Fixtures.mixedReport(kind: .sim)
        let tap = TapReport.render(report)
        let results = tap.split(separator: "\n").filter { $0.hasPrefix("ok ") || $0.hasPrefix("not ok ") }
        #expect(results.count == report.results.count)
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

    /// The run document (lbrprobe.run/3) carries the basis of every finding, signal, host reading and timeline
    /// event: the model's name on a model backend, `hardware` on hw; the published schema accepts it.
    @Test func runDocumentCarriesTheBasisOfEachFact() throws {
        let schema = try JSONSerialization.jsonObject(with: Data(try repoFile("docs/run.schema.json").utf8)) as! [String: Any]
        for (kind, want) in [(BackendKind.sim, "model:mainline"), (.hw, "hardware")] {
            let json = try JsonReport.render(Fixtures.mixedReport(kind: kind))
            let doc = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
            #expect(doc["schema"] as? String == "lbrprobe.run/3")
            #expect(try SchemaValidator(schema: schema).validate(doc).isEmpty, "\(kind)")
            let results = doc["results"] as! [[String: Any]]
            var seen = 0
            for r in results {
                for p in r["phases"] as? [[String: Any]] ?? [] {
                    for s in (p["signals"] as? [[String: Any]] ?? []) + (p["host"] as? [[String: Any]] ?? []) {
                        #expect(s["basis"] as? String == want, "\(kind): \(s)"); seen += 1
                    }
                }
                for f in r["findings"] as? [[String: Any]] ?? [] { #expect(f["basis"] as? String == want); seen += 1 }
                for e in r["timeline"] as? [[String: Any]] ?? [] {
                    let lane = try #require((e["lane"] as? String).flatMap(TimelineLane.init(code:)), "\(e)")
                    switch lane {
                    case .phase, .step, .outcome: #expect(e["basis"] == nil)
                    case .kmsg, .host: #expect(e["basis"] as? String == want, "\(e)"); seen += 1
                    default: break
                    }
                }
            }
            #expect(seen > 20)
        }
    }
}
