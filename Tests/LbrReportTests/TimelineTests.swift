import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import LbrDocument
import LbrCore
@testable import LbrScenarios
@testable import LbrReport

/// Parses XML and counts the elements; nil and the error when it is not well-formed.
final class XmlCheck: NSObject, XMLParserDelegate {
    var elements: [String: Int] = [:]
    var ids: [String] = []
    var texts: [String] = []
    func parser(_ p: XMLParser, didStartElement e: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        elements[e, default: 0] += 1
        if let id = attributes["id"] { ids.append(id) }
    }
    func parser(_ p: XMLParser, foundCharacters s: String) { texts.append(s) }
    static func parse(_ s: String) -> (XmlCheck?, String?) {
        let c = XmlCheck()
        let p = XMLParser(data: Data(s.utf8))
        p.delegate = c
        return p.parse() ? (c, nil) : (nil, p.parserError.map { "\($0)" } ?? "parse failed")
    }
}

@Suite struct TimelineTests {
    @Test func eventsFollowThePhasesAndEndWithTheOutcome() throws {
        let r = Fixtures.mixedReport()
        let res = try #require(r.results.first { $0.scenario == "host-first" })
        let t = try #require(Timeline.events(res))
        #expect(t.clock == .model)
        let phases = t.events.filter { $0.lane == Timeline.Lane.phase }.map(\.label)
        #expect(phases == res.records.map(\.phase))
        #expect(t.events.last?.lane == Timeline.Lane.outcome && t.events.last?.label == res.outcome.code)
        #expect(zip(t.events, t.events.dropFirst()).allSatisfy { $0.t_ns <= $1.t_ns })
        // Steps: one span per completed step, labelled as the catalog names it.
        let steps = t.events.filter { $0.lane == Timeline.Lane.step }
        #expect(steps.count == res.records.reduce(0) { $0 + $1.stepsCompleted })
        #expect(steps.first?.label == "\(Catalog.named("host-first")!.phases[0].steps[0])")
        // Guest TOS writes are classified, the model's vLBR state recorded once per change.
        #expect(t.events.contains { $0.lane == Timeline.Lane.guest && $0.state == "stuck" })
        #expect(t.events.filter { $0.lane == Timeline.Lane.vlbrModel }.count == 1)
        #expect(t.events.contains { $0.lane == "host:pinned-lbr-any-cycles" && $0.state == "starved" })
        // A skipped run has no records and no timeline.
        let skipped = try #require(r.results.first { $0.status == .skip })
        #expect(Timeline.events(skipped) == nil)
    }

    @Test func droppedAccessesAndKmsgShowOnTheirLanes() throws {
        let res = try #require(Fixtures.mixedReport().results.first { $0.scenario == "slot-contention" })
        let ev = try #require(Timeline.events(res)).events
        #expect(ev.contains { $0.lane == Timeline.Lane.guest && $0.state == "dropped" })
        #expect(ev.contains { $0.lane == Timeline.Lane.msrAccess && $0.state == "trapped" })
        #expect(ev.contains { $0.lane == Timeline.Lane.kmsg && $0.label.contains("fail to passthrough LBR") })
        #expect(ev.contains { $0.lane == Timeline.Lane.vlbrModel && $0.state == "error" })
    }

    @Test func eventsAreCappedAndTheCapIsReported() throws {
        let b = ReportFixtureBackend()
        b.hugeEvidence = true
        let r = Runner(backend: b, options: RunOptions(kernelRelease: "t")).runOnce(Catalog.named("recovery-paths")!)
        let t = try #require(Timeline.events(r))
        #expect(t.events.count <= Timeline.maxEvents)
        #expect(t.events.filter { $0.lane == Timeline.Lane.note }.count <= 24)
        #expect(t.events.contains { $0.lane == Timeline.Lane.outcome })
    }

    @Test func svgIsWellFormedAsciiAndNamesEveryScenario() throws {
        let doc = JsonReport.document(Fixtures.mixedReport())
        let svg = TimelineSvg.render(doc)
        let (x, err) = XmlCheck.parse(svg)
        let c = try #require(x, "not well-formed: \(err ?? "")")
        #expect(c.elements["svg"] == 1)
        for s in Catalog.all { #expect(c.ids.contains("scenario-\(s.name)"), "\(s.name) missing") }
        #expect(svg.unicodeScalars.allSatisfy { $0.isASCII })
        #expect(!svg.contains("http://") || svg.components(separatedBy: "http://").count == 2, "only the SVG namespace URI")
        #expect(!svg.contains("<image") && !svg.contains("href=") && !svg.contains("<script"))
        // Lanes and legend are labelled in words, not only colour.
        #expect(svg.contains(">vLBR observed<") && svg.contains(">vLBR model<") && svg.contains(">guest MSR results<"))
        #expect(svg.contains("error, not-active, off, dropped, trapped"))
        #expect(c.texts.joined().contains("host-first: guest-wins-host-starved  [PASS]"))
    }

    @Test func escapingKeepsTheFileAsciiAndXmlSafe() {
        #expect(TimelineSvg.esc("a<b & \"c\" 'd'>") == "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;")
        #expect(TimelineSvg.esc("§1.5 µs → ok") == "&#xa7;1.5 &#xb5;s &#x2192; ok")
        #expect(TimelineSvg.esc("bell\u{7}") == "bell?")
    }

    @Test func timelineRoundTripsThroughTheRunDocument() throws {
        let report = Fixtures.mixedReport()
        let json = try JsonReport.render(report)
        let doc = try RunDocumentReader.decode(Data(json.utf8), source: "mem")
        let r = try #require(doc.results.first { $0.scenario == "host-first" })
        #expect(r.timeline_clock == .model)
        #expect((r.timeline ?? []).contains { $0.lane == Timeline.Lane.outcome })
        #expect(r.answer == "The guest got the LBRs (its LBR writes stuck) and the host's LBR event was starved.")
        // The picture of the saved document is the picture of the run (the renderer is a pure function).
        #expect(TimelineSvg.render(doc) == TimelineSvg.render(JsonReport.document(report)))
    }
}

@Suite struct TextSummaryTests {
    @Test func blockersAreOneLineEachAndVendorFirst() {
        let layout = EligibilityReason(.unknownLbrLayout, "no legacy LBR layout known for family 6 model 0xcf (Emerald Rapids); lbrprobe cannot place it", ref: "§5, §1.10")
        let module = EligibilityReason(.kvmIntelNotLoaded, "kvm_intel is not loaded", ref: "§1")
        let pmu = EligibilityReason(.noCorePmu, "no core PMU (cpu)", ref: "§4")
        #expect(ReportSupport.blockerTexts([layout, module, pmu]) == [
            "no legacy LBR layout known for family 6 model 0xcf (Emerald Rapids); lbrprobe cannot place it [§5, §1.10]",
            "kvm_intel is not loaded [§1]", "no core PMU (cpu) [§4]"])
        let vendor = EligibilityReason(.notIntel, "CPU vendor is AuthenticAMD; KVM's guest LBR (vLBR) exists only in kvm_intel", ref: "§1, §6.4")
        let caps = EligibilityReason(.kvmNoLbrFormat, "KVM-supported PERF_CAPABILITIES = 0x0", ref: "§2")
        #expect(ReportSupport.blockerTexts([module, vendor, pmu, caps]) == [
            "CPU vendor is AuthenticAMD; KVM's guest LBR (vLBR) exists only in kvm_intel [§1, §6.4]",
            "no core PMU (cpu) [§4]", "(Intel-only) kvm_intel is not loaded [§1]",
            "(Intel-only) KVM-supported PERF_CAPABILITIES = 0x0 [§2]"])
        // The text report lists the passed-over backends from the typed selection.
        var r = Fixtures.unavailableReport()
        r.selection = AutoSelection(chosen: .sim, detail: "model", passedOver: [
            .init(backend: .hw, reasons: [layout, pmu]), .init(backend: .hybrid, reasons: [module])])
        let head = TextReport.headerLines(r)
        #expect(head.contains("selected because: --backend auto chose sim: model"))
        #expect(head.contains("hw unavailable (2 blockers):"))
        #expect(head.contains("hybrid unavailable (1 blocker):"))
        #expect(head.contains("FALLBACK: --backend auto fell back to sim (why: the blockers above)"))
    }

    @Test func unavailableReasonIsPrintedOnce() {
        let r = Fixtures.unavailableReport()
        for evidence in [false, true] {
            let t = TextReport.render(r, evidence: evidence)
            #expect(t.components(separatedBy: "/sys/bus/event_source/devices/cpu absent").count == 2, "\(t)")
        }
    }

    @Test func summaryIsOneRowPerScenarioWithItsAnswer() {
        let b = ReportFixtureBackend()
        let r = Runner(backend: b, options: RunOptions(repeats: 5, kernelRelease: "t")).run(Catalog.all)
        let t = TextReport.render(r, summary: true)
        let lines = t.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count < 40, "\(lines.count) lines")
        #expect(lines.filter { $0.contains("-> ") }.count == Catalog.all.count)
        #expect(!t.contains("phase ") && !t.contains("[tos-readback"))
        #expect(t.contains("x5"))
        // Without --expect, the report says PASS was not checked against anything.
        #expect(t.contains("it was not compared with an expected outcome"))
        let full = TextReport.render(r)
        #expect(full.contains("not checked (no --expect)"))
    }
}

@Suite struct TimelineRepeatTests {
    @Test func onlyTheFirstRunOfEachOutcomeCarriesATimeline() {
        let b = ReportFixtureBackend()
        let r = Runner(backend: b, options: RunOptions(repeats: 3, kernelRelease: "t"))
            .run([Catalog.named("host-first")!, Catalog.named("slot-contention")!])
        let doc = JsonReport.document(r)
        #expect(doc.results.count == 6)
        #expect(doc.results.map { $0.timeline != nil } == [true, false, false, true, false, false])
        #expect(doc.results.allSatisfy { $0.answer != nil })
        // The picture still has both scenarios, drawn from their first runs.
        let svg = TimelineSvg.render(doc)
        #expect(svg.contains("id=\"scenario-host-first\"") && svg.contains("shown: repeat 1 of 3"))
    }
}

@Suite struct TimelineUnavailableTests {
    @Test func blockersAreDrawnOnceNotPerScenario() throws {
        let doc = JsonReport.document(Fixtures.unavailableReport())
        let svg = TimelineSvg.render(doc)
        let (x, err) = XmlCheck.parse(svg)
        let c = try #require(x, "not well-formed: \(err ?? "")")
        for s in Catalog.all { #expect(c.ids.contains("scenario-\(s.name)")) }
        #expect(svg.components(separatedBy: "/sys/bus/event_source/devices/cpu absent").count == 2)
        #expect(svg.contains("not run, the backend is unavailable (blockers at the top)"))
    }
}
