// KCIDB v5-shaped JSON (kcidb-io schema 5.3, reference conventions.md): one test object per scenario run.
// lbrprobe only emits the document; farms submit it. Paths and statuses say whether a result is a hardware
// measurement or a model's prediction (TestIdentity). Test ids are `<origin>:<run id>.<backend>.<model|host>.
// <test name>`, so two invocations never share an id (KCIDB merges objects with equal ids). All strings are
// printable ASCII except the newlines of `log_excerpt`, whose lines are at most `ReportSupport.maxLineBytes`.

import LbrDocument
import Foundation
import LbrCore
import LbrScenarios

/// Renders a `RunReport` as a KCIDB v5 document with `tests` only.
public enum KcidbReport {
    /// The default KCIDB origin (`[a-z0-9_]+`); farms that submit under their own origin pass theirs.
    public static let origin = "lbrprobe"
    /// Maximum log_excerpt size in bytes (KCIDB: 16 KiB).
    public static let logExcerptLimit = 16 * 1024

    /// - Parameter buildId: the KCIDB build this run tested (farms pass theirs; e.g. "kernelci:abc123").
    /// - Parameter origin: the KCIDB origin of the ids and objects (default `lbrprobe`).
    public static func render(_ report: RunReport, buildId: String, origin: String = KcidbReport.origin) throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try enc.encode(document(report, buildId: buildId, origin: origin)), as: UTF8.self) + "\n"
    }

    /// The local part of a test id: the run id (the build id when the report has none), backend, model or
    /// `host`, test name, each restricted to `[A-Za-z0-9_.-]`.
    public static func localId(_ report: RunReport, _ r: ScenarioResult, buildId: String) -> String {
        [ReportSupport.testName(report.runId == RunId.unset || report.runId.isEmpty ? buildId : report.runId), r.backend.rawValue,
         r.model.map(ReportSupport.testName) ?? "host", ReportSupport.testName(r.testName)].joined(separator: ".")
    }

    /// Streams the same bytes as `render(_:buildId:origin:)` to `sink`, one test object at a time (memory is
    /// flat in `--repeat`: no document is held whole).
    public static func render(_ report: RunReport, buildId: String, origin: String = KcidbReport.origin,
                              to sink: (String) -> Void) throws {
        if report.results.isEmpty { sink(try render(report, buildId: buildId, origin: origin)); return }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        sink("{\n  \"tests\" : [\n")
        var ids: Set<String> = []
        // When every test name is unique (a run's own results) no id needs remembering: memory stays flat in N.
        let dedupe = !ReportSupport.testNamesUnique(report.results)
        for (i, r) in report.results.enumerated() {
            let body = String(decoding: try enc.encode(test(report, i, r, buildId: buildId, origin: origin, ids: &ids)), as: UTF8.self)
            if !dedupe { ids.removeAll(keepingCapacity: true) }
            var chunk = i > 0 ? ",\n" : ""
            for (k, line) in body.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                if k > 0 { chunk += "\n" }
                chunk += line.isEmpty ? "" : "    " + line
            }
            sink(chunk)
        }
        sink("\n  ],\n  \"version\" : {\n    \"major\" : 5,\n    \"minor\" : 3\n  }\n}\n")
    }

    public static func document(_ report: RunReport, buildId: String, origin: String = KcidbReport.origin) -> Document {
        var ids: Set<String> = []
        let tests = report.results.enumerated().map { (i, r) -> Test in
            test(report, i, r, buildId: buildId, origin: origin, ids: &ids)
        }
        return Document(version: .init(major: 5, minor: 3), tests: tests)
    }

    /// The test object of result `i` (`ids`: the ids given so far, to keep them unique).
    static func test(_ report: RunReport, _ i: Int, _ r: ScenarioResult, buildId: String, origin: String,
                     ids: inout Set<String>) -> Test {
        let a = { (s: String) in ReportSupport.ascii(s) }
        do {
            let local = localId(report, r, buildId: buildId)
            var id = "\(origin):\(local)"
            if !ids.insert(id).inserted { id += ".\(i + 1)"; ids.insert(id) }
            return Test(
                id: id, build_id: a(buildId), origin: origin,
                path: TestIdentity.kcidbPath(r),
                status: TestIdentity.kcidbStatus(r.status, backend: r.backend),
                start_time: r.startUnixNs.map(ReportSupport.rfc3339(unixNs:)),
                duration: ReportSupport.seconds(r.durationNs),
                log_excerpt: excerpt(ReportSupport.evidenceLines(r)
                    .flatMap { ReportSupport.wrapped(a($0), width: ReportSupport.maxLineBytes) }.joined(separator: "\n")),
                misc: Misc(outcome: a(r.outcome.code), outcome_detail: a(r.outcome.detail),
                           basis: TestIdentity.basisWord(r.backend), backend: r.backend.rawValue,
                           model: r.model.map(a), cpu: r.cpu, kernel_release: a(r.kernelRelease), repeat: r.repeatIndex + 1,
                           expectation: r.expectation.code, expected: r.expectation.expected.map(a), reason: r.reason.map(a),
                           run_id: report.runId.isEmpty ? nil : a(report.runId),
                           findings: r.findings.map { .init(kind: $0.kind, security_relevant: $0.kind.securityRelevant,
                                                            phase: $0.phase, count: $0.count,
                                                            summary: ReportSupport.oneLine($0.summary),
                                                            example: $0.example.map(ReportSupport.oneLine)) },
                           phases: r.phases.map { .init(name: a($0.phase), inferred: $0.inferred.rawValue,
                                                        agreeing: $0.agreeing.map(\.rawValue),
                                                        disagreeing: $0.disagreeing.map(\.rawValue)) },
                           fallback: report.fallback, runs: r.runsCovered > 1 ? r.runsCovered : nil,
                           evidence_folded_into: r.evidenceFoldedInto))
        }
    }

    /// Truncates to `logExcerptLimit` UTF-8 bytes on a character boundary, keeping the head.
    public static func excerpt(_ s: String) -> String {
        if s.utf8.count <= logExcerptLimit { return s }
        let marker = "\n[truncated]"
        var out = ""
        var bytes = 0
        for ch in s {
            let n = String(ch).utf8.count
            if bytes + n + marker.utf8.count > logExcerptLimit { break }
            out.append(ch); bytes += n
        }
        return out + marker
    }

    public struct Document: Codable, Sendable {
        public struct Version: Codable, Sendable { public var major: Int; public var minor: Int }
        public var version: Version
        public var tests: [Test]
    }
    public struct Test: Codable, Sendable {
        public var id: String
        public var build_id: String
        public var origin: String
        public var path: String
        public var status: String
        public var start_time: String?
        public var duration: Double
        public var log_excerpt: String
        public var misc: Misc
    }
    public struct Misc: Codable, Sendable {
        public struct Phase: Codable, Sendable {
            public var name: String; public var inferred: String; public var agreeing: [String]; public var disagreeing: [String]
        }
        public var outcome: String
        public var outcome_detail: String
        /// `hardware` (a measurement) or `model` (the prediction of `model`; path under `lbrprobe_model`).
        public var basis: String
        public var backend: String
        public var model: String?
        public var cpu: Int
        public var kernel_release: String
        public var `repeat`: Int
        public var expectation: String
        public var expected: String?
        public var reason: String?
        /// The run id the test id is built from (absent when the report has none).
        public var run_id: String?
        public var findings: [Finding]
        public var phases: [Phase]
        // `--backend auto` fallback notice; runs an entry stands for; folded evidence.
        public var fallback: String?
        public var runs: Int?
        public var evidence_folded_into: String?
    }
    /// The run document's finding shape (ASCII text here).
    public typealias Finding = JsonReport.FindingDTO
}
