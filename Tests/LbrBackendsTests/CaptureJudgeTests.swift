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
        let report = ThisHost.run(try Backends.make(kind: .hybrid, model: "mainline", profile: ThisHost.profile))
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let file = try enc.encode(RunCapture(report: report))
        let capture = try JSONDecoder().decode(RunCapture.self, from: file)
        #expect(capture.problem == nil && capture.runs.count == report.results.count)
        let judged = capture.rejudge(source: "test")
        #expect(judged.results.count == report.results.count)
        for (a, b) in zip(report.results, judged.results) {
            #expect(a.scenario == b.scenario)
            #expect(try Self.verdictBytes(a) == Self.verdictBytes(b), "\(a.scenario)")
        }
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
        #expect(c.contains("Not while its vLBR is ACTIVE"))
        #expect(c.contains("the guest is traced exactly when it runs with DEBUGCTL.LBR=1 while its vLBR is not ACTIVE"))
        #expect(c.contains("`guest-branch-leak` finding"))
        #expect(c.contains("| `guest-leak` | `incl-guest` |"))
    }
}
