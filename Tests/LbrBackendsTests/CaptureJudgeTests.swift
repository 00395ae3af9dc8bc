// Captures judged again: a capture written from a hybrid run, decoded from its file form and judged by the verdict
// engine, gives byte-identical verdicts (phases, outcome, status, findings) to the run itself (the CLI round trip
// is in CommandLineTests/JudgeCliTests.swift).
import Foundation
import LbrBackends
import LbrDocument
import LbrReport
import LbrCore
import LbrScenarios
import LbrTestSupport
import Testing

@Suite(.serialized) struct CaptureJudgeTests {
    /// The verdict part of a result, encoded (the shadow comparison is not part of a capture).
    static func verdictBytes(_ r: ScenarioResult) throws -> Data {
        struct V: Encodable { var phases: [PhaseVerdict]; var outcome: String; var status: String; var findings: [Finding] }
        let phases = r.phases.map { p -> PhaseVerdict in var q = p; q.shadow = nil; return q }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return try enc.encode(V(phases: phases, outcome: r.outcome.detail, status: r.status.rawValue,
                                findings: r.findings.filter { $0.kind != .modelDeparture }))
    }

    @Test(.enabled(if: ThisHost.hybridAvailable, "needs /dev/kvm with user-space MSR exits and MSR filters"))
    func hybridCaptureJudgesToTheSameVerdicts() throws {
        let report = ThisHost.run(try Backends.make(kind: .hybrid, model: "mainline", profile: ThisHost.profile,
                                                    recordSamples: true))
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let file = try enc.encode(RunCapture(report: report))
        let capture = try JSONDecoder().decode(RunCapture.self, from: file)
        #expect(capture.problem == nil && capture.runs.count == report.results.count)
        #expect(capture.runs.contains { $0.records.contains { $0.observations.contains {
            if case let .hostSampleRecords(r) = $0.observation { return r.sampleCount > 0 }; return false } } })
        let judged = capture.rejudge(source: "test")
        #expect(judged.results.count == report.results.count)
        for (a, b) in zip(report.results, judged.results) {
            #expect(a.scenario == b.scenario)
            #expect(try Self.verdictBytes(a) == Self.verdictBytes(b), "\(a.scenario)")
        }
    }
}

/// The model's raw samples (recorded for a capture) summarized by the detector give the model's own counts, for
/// every model and scenario: a run that writes a capture judges exactly like one that does not.
@Suite struct ModelSampleRecordsTests {
    /// A summary without its example text (the detector describes the sample, the model its own read).
    static func counts(_ s: HostSampleSummary) -> HostSampleSummary { var t = s; t.staleExample = nil; return t }

    static func summaries(_ r: ScenarioResult) -> [HostSampleSummary] {
        r.records.flatMap { $0.observations.compactMap { if case let .hostSamples(s) = $0.observation { return counts(s) }; return nil } }
    }

    @Test(arguments: Backends.modelNames)
    func recordedSamplesSummarizeToTheModelsCounts(model: String) throws {
        let plain = try Backends.make(kind: .sim, model: model, profile: ThisHost.profile)
        let recording = try Backends.make(kind: .sim, model: model, profile: ThisHost.profile, recordSamples: true)
        let a = ThisHost.run(plain), b = ThisHost.run(recording)
        #expect(a.results.count == b.results.count)
        var sampled = 0
        for (x, y) in zip(a.results, b.results) {
            #expect(Self.summaries(x) == Self.summaries(y), "\(model) \(x.scenario)")
            #expect(x.outcome == y.outcome && x.status == y.status, "\(model) \(x.scenario)")
            for p in y.records {
                for case let .hostSampleRecords(rec) in p.observations.map(\.observation) { sampled += rec.sampleCount }
            }
            #expect(y.session?.guestEdges != nil && x.session?.guestEdges == nil)
        }
        #expect(sampled > 0, "no model sample recorded")
    }

    /// A capture in its file form: compact, and the same records after a round trip.
    @Test func captureRoundTripsRawSamples() throws {
        let report = ThisHost.run(try Backends.make(kind: .sim, model: "mainline", profile: ThisHost.profile, recordSamples: true),
                                  [Catalog.hostFirst, Catalog.guestLeak])
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let capture = RunCapture(report: report)
        let file = try enc.encode(capture)
        let back = try JSONDecoder().decode(RunCapture.self, from: file)
        #expect(back == capture)
        #expect(String(decoding: file, as: UTF8.self).contains("\"lbrprobe.capture/2\""))
    }
}

/// `contract` Q2 from the guest-leak scenario: the flat "no" becomes "not while its vLBR is ACTIVE", and the
/// ERROR + DEBUGCTL.LBR=1 path is named with its evidence (reference §9.7); JSON carries N and the share.
@Suite struct GuestLeakContractTests {
    @Test func q2NamesTheErrorPathWithItsEvidence() throws {
        let report = ThisHost.run(try Backends.make(kind: .sim, model: "mainline", profile: ThisHost.profile),
                                  [Catalog.guestTraced, Catalog.guestLeak])
        let json = try JsonReport.render(report)
        let schema = try JSONSerialization.jsonObject(with: Data(try repoFile("docs/run.schema.json").utf8)) as! [String: Any]
        let errors = try SchemaValidator(schema: schema).validate(try JSONSerialization.jsonObject(with: Data(json.utf8)))
        #expect(errors.isEmpty, "\(errors.prefix(5))")
        #expect(json.contains("\"guest-branch-leak\"") && json.contains("\"host_lbr_samples\""))
        let doc = try RunDocumentReader.decode(Data(json.utf8), source: "test")
        let c = try Contract.render([doc], models: [], format: .markdown)
        // Prose is wrapped for mail: compare it with its line breaks folded to spaces.
        let prose = c.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
        #expect(prose.contains("Not while its vLBR is ACTIVE"))
        #expect(prose.contains("the guest is traced exactly when it runs with DEBUGCTL.LBR=1 while its vLBR is not ACTIVE"))
        #expect(prose.contains("`guest-branch-leak` finding"))
        #expect(c.contains("| `guest-leak` | `incl-guest` |"))
    }
}
