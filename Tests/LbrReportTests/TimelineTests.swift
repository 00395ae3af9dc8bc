import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import LbrDocument
import LbrCore
import LbrTestSupport
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
        let phases = t.events.filter { $0.lane == .phase }.map(\.label)
        #expect(phases == res.records.map(\.phase))
        #expect(t.events.last?.lane == .outcome && t.events.last?.label == res.outcome.code)
        #expect(zip(t.events, t.events.dropFirst()).allSatisfy { $0.t_ns <= $1.t_ns })
        // Steps: one span per completed step, labelled as the catalog names it.
        let steps = t.events.filter { $0.lane == .step }
        #expect(steps.count == res.records.reduce(0) { $0 + $1.stepsCompleted })
        #expect(steps.first?.label == "\(Catalog.named("host-first")!.phases[0].steps[0])")
        // Guest TOS writes are classified, the model's vLBR state recorded once per change.
        #expect(t.events.contains { $0.lane == .guest && $0.state == .stuck })
        #expect(t.events.filter { $0.lane == .vlbrModel }.count == 1)
        #expect(t.events.contains { $0.lane == .host("pinned-lbr-any-cycles") && $0.state == .starved })
        // A skipped run has no records and no timeline.
        let skipped = try #require(r.results.first { $0.status == .skip })
        #expect(Timeline.events(skipped) == nil)
    }

    @Test func droppedAccessesAndKmsgShowOnTheirLanes() throws {
        let res = try #require(Fixtures.mixedReport().results.first { $0.scenario == "slot-contention" })
        let ev = try #require(Timeline.events(res)).events
        #expect(ev.contains { $0.lane == .guest && $0.state == .dropped })
        #expect(ev.contains { $0.lane == .msrAccess && $0.state == .trapped })
        #expect(ev.contains { $0.lane == .kmsg && $0.label.contains("fail to passthrough LBR") })
        #expect(ev.contains { $0.lane == .vlbrModel && $0.state == .error })
    }

    @Test func eventsAreCappedAndTheCapIsReported() throws {
        let b = ReportFixtureBackend()
        b.hugeEvidence = true
        let r = Runner(backend: b, options: RunOptions(kernelRelease: "t")).runOnce(Catalog.named("recovery-paths")!)
        let t = try #require(Timeline.events(r))
        #expect(t.events.count <= Timeline.maxEvents)
        #expect(t.events.filter { $0.lane == .note }.count <= 24)
        #expect(t.events.contains { $0.lane == .outcome })
    }

    /// Model lanes are hatched and titled "(model)" on a model backend; on hw only the legend shows the hatch.
    @Test func modelLanesLookDifferentFromHardwareOnes() throws {
        let sim = TimelineSvg.render(JsonReport.document(Fixtures.mixedReport(kind: .sim)))
        let hw = TimelineSvg.render(JsonReport.document(Fixtures.mixedReport(kind: .hw)))
        #expect(sim.components(separatedBy: "class=\"model\"").count > 10)
        #expect(sim.contains("(model)</text>") && !hw.contains("(model)</text>"))
        #expect(hw.components(separatedBy: "class=\"model\"").count == 2, "hw: the legend's swatch only")
        #expect(hw.contains("made up by the kernel model") && sim.contains("made up by the kernel model"))
        for svg in [sim, hw] { #expect(XmlCheck.parse(svg).0 != nil) }
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
        #expect(svg.contains(">vLBR inferred (model)<") && svg.contains(">vLBR state (model)<") && svg.contains(">guest MSR results (model)<"))
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
        #expect((r.timeline ?? []).contains { $0.lane == .outcome })
        #expect(r.answer == "The guest got the LBRs (its LBR writes stuck) and the host's LBR event was starved.")
        // The picture of the saved document is the picture of the run (the renderer is a pure function).
        #expect(TimelineSvg.render(doc) == TimelineSvg.render(JsonReport.document(report)))
    }

    /// A host action taken while the vCPU ran (hw) is a marker on its contender's lane, placed from the typed
    /// window (`HostActionWindow`, the document's `timed_steps[].host_window`): inside the guest command or not.
    @Test func hostActionWindowIsAMarkerOnItsContendersLane() throws {
        for (after, state) in [(UInt64(120), TimelineState.insideCommand), (600, .outsideCommand)] {
            let b = ReportFixtureBackend()
            b.kind = .hw; b.modelName = nil
            b.hostWindowStartAfterBegin = after
            let report = Runner(backend: b, options: RunOptions(kernelRelease: "6.18")).run([Catalog.irqTakeover])
            let doc = try RunDocumentReader.decode(Data(try JsonReport.render(report).utf8), source: "mem")
            let r = try #require(doc.results.first)
            let w = try #require(r.phases.first { $0.name == "while-running" }?.measures?.timed_steps.first?.host_window)
            #expect(w.inside_command == (state == .insideCommand))
            let markers = (r.timeline ?? []).filter { $0.state == state }
            try #require(markers.count == 1, "\(r.timeline ?? [])")
            let m = markers[0]
            #expect(m.lane == .host(Contender.pinnedLbr.name) && m.basis == .hardware && m.dur_ns == nil)
            let start = try #require(w.guest_tsc_start), end = try #require(w.guest_tsc_end)
            #expect(m.label.hasPrefix("\(w.action) \(state == .insideCommand ? "inside" : "not inside") the guest command"))
            #expect(m.label.contains("guest TSC \(start)..\(end) ") && m.label.contains("+-\(w.error_ticks)"), "\(m.label)")
            // Drawn on the host lane of the panel, with its full label in the hover title.
            let svg = TimelineSvg.render(doc)
            #expect(svg.contains("<title>\(TimelineSvg.esc(TimelineSvg.titleText(m)))</title>"))
            #expect(TimelineSvg.titleText(m).hasPrefix("host:\(Contender.pinnedLbr.name) @ "))
        }
        // Without a window (hybrid and sim never measure one) there is no marker.
        let plain = JsonReport.document(Runner(backend: ReportFixtureBackend(), options: RunOptions(kernelRelease: "6.18"))
            .run([Catalog.irqTakeover]))
        let states = Set((plain.results.first?.timeline ?? []).compactMap(\.state))
        #expect(states.isDisjoint(with: [.insideCommand, .outsideCommand, .notMeasured]))
    }

    /// An unmeasured window (no TSC offset) says so.
    @Test func unmeasuredHostActionWindowSaysSo() {
        let w = HostActionWindow(action: .open(.contender(.pinnedLbr)), guestTscStart: nil, guestTscEnd: nil,
                                 commandTscBegin: 10, commandTscEnd: 20, errorTicks: 3)
        #expect(Timeline.hostWindow(w) == ("open(pinned-lbr-any-cycles) while the guest ran (window on the guest TSC not measured)", .notMeasured))
    }

    /// The state word is typed too (`TimelineState`): the schema lists exactly its words, and a document with
    /// any other is the reader's one-line data error (exit 65).
    @Test func statesAreOneClosedVocabulary() throws {
        let schema = try JSONSerialization.jsonObject(with: Data(try repoFile("docs/run.schema.json").utf8))
        func find(_ o: Any, _ path: [String]) -> Any? {
            guard let k = path.first else { return o }
            if let d = o as? [String: Any] { return d[k].flatMap { find($0, Array(path.dropFirst())) } }
            return nil
        }
        let event = find(schema, ["properties", "results", "items", "properties", "timeline", "items", "properties", "state", "enum"])
        #expect(event as? [String] == TimelineState.allCases.map(\.rawValue))
        #expect(TimelineState(VlbrState.none) == .noEvent && TimelineState.noEvent.rawValue == "none")
        let json = try JsonReport.render(Fixtures.mixedReport(), compact: true)
        let good = "\"label\":\"contended\",\"lane\":\"phase\",\"state\":\"contended\""
        let text = json.replacingOccurrences(of: good, with: good.replacingOccurrences(of: "\"state\":\"contended\"", with: "\"state\":\"contention\""))
        try #require(text != json)
        do {
            _ = try RunDocumentReader.decode(Data(text.utf8), source: "bad.json")
            Issue.record("state 'contention' decoded")
        } catch {
            #expect(error.exitCode.rawValue == 65 && !error.description.contains("\n"))
            #expect(error.description.contains(".state"), "\(error.description)")
        }
    }

    /// The lane is typed: it reads and writes exactly the documented wire strings, and an unknown one is the
    /// reader's one-line data error (exit 65).
    @Test func lanesAreTheDocumentedWireStrings() throws {
        let documented = ["phase", "step", "vlbr-observed", "vlbr-model", "passthrough", "msr-access", "guest", "kmsg",
                          "ctx-switch-real", "ctx-switch-model", "note", "outcome", "host:pinned-lbr-any-cycles"]
        for code in documented {
            let lane = try #require(TimelineLane(code: code), "\(code)")
            #expect(lane.code == code)
            let data = try JSONEncoder().encode(lane)
            #expect(String(decoding: data, as: UTF8.self) == "\"\(code)\"")
            #expect(try JSONDecoder().decode(TimelineLane.self, from: data) == lane)
        }
        #expect(TimelineLane(code: "host:pinned-lbr-any-cycles") == .host("pinned-lbr-any-cycles"))
        #expect(Set(TimelineLane.fixed.map(\.code) + ["host:pinned-lbr-any-cycles"]) == Set(documented))
        // Drawing order: the fixed order, every host lane where `host:` is, host lanes by contender.
        #expect([TimelineLane.outcome, .host("b"), .guest, .host("a"), .phase].sorted()
                == [.phase, .host("a"), .host("b"), .guest, .outcome])
        let json = try JsonReport.render(Fixtures.mixedReport(), compact: true)
        for bad in ["\"lane\":\"phases\"", "\"lane\":\"host:\"", "\"lane\":\"Phase\""] {
            let text = json.replacingOccurrences(of: "\"lane\":\"phase\"", with: bad)
            #expect(text != json)
            do {
                _ = try RunDocumentReader.decode(Data(text.utf8), source: "bad.json")
                Issue.record("\(bad) decoded")
            } catch {
                #expect(error.exitCode.rawValue == 65 && !error.description.contains("\n"))
                #expect(error.description.contains("lane"), "\(error.description)")
            }
        }
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
        // Why, not the backend's detail again (that is on the `backend:` line).
        #expect(head.contains("selected because: --backend auto takes the first eligible of hw, hybrid, sim; passed over:"))
        #expect(!head.contains { $0.hasPrefix("selected because:") && $0.contains(": model") })
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

    /// "Not run, so is every run below" follows the typed cause (`ScenarioResult.notRun`), not the reason's wording.
    @Test func unavailableIsTheTypedCauseNotTheReasonText() {
        var r = Fixtures.unavailableReport()
        r.results[r.results.startIndex].notRun = nil
        let t = TextReport.render(r).split(separator: "\n").map(String.init)
        let first = r.results[r.results.startIndex]
        let row = t.firstIndex { $0.hasPrefix(first.testName + " ") }
        #expect(row.map { t[$0 + 1].contains("-> Not run: backend ") && !t[$0 + 1].contains("so is every run below") } == true, "\(t)")
        #expect(t.filter { $0.contains("so is every run below") }.count == 1)
    }

    @Test func summaryWithoutRepeatIsOneLinePerScenario() {
        let r = Fixtures.mixedReport()
        let short = TextReport.render(r, summary: true).split(separator: "\n")
        let full = TextReport.render(r).split(separator: "\n")
        let rows = short.filter { l in Catalog.names.contains { l.hasPrefix($0 + " ") } }
        #expect(rows.count == Catalog.all.count)
        #expect(!short.contains { $0.contains("-> ") || $0.contains("FINDING ") })
        #expect(short.count < full.count, "--summary \(short.count) lines, default \(full.count)")
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

    /// Whether a run was not run for an unavailable backend is the typed `not_run`, never its reason's wording.
    @Test func notRunCauseDecidesNotTheReasonText() throws {
        var doc = JsonReport.document(Fixtures.unavailableReport())
        doc.results = Array(doc.results.prefix(2))
        doc.results[0].not_run = nil
        doc.results[0].reason = "backend hw unavailable: worded like the runner's reason, but a skip the backend decided"
        doc.results[1].reason = "reworded"
        let svg = TimelineSvg.render(doc)
        #expect(svg.contains("no timeline: backend hw unavailable: worded like"))
        #expect(svg.components(separatedBy: "not run, the backend is unavailable (blockers at the top)").count == 2)
    }
}
