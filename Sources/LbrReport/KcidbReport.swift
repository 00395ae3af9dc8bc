// KCIDB v5-shaped JSON (kcidb-io schema 5.3, reference conventions.md): one test object per scenario run.
// lbrprobe only emits the document; farms submit it.

import Foundation
import LbrScenarios

/// Renders a `RunReport` as a KCIDB v5 document with `tests` only.
public enum KcidbReport {
    public static let origin = "lbrprobe"
    /// Maximum log_excerpt size in bytes (KCIDB: 16 KiB).
    public static let logExcerptLimit = 16 * 1024

    /// - Parameter buildId: the KCIDB build this run tested (farms pass theirs; e.g. "kernelci:abc123").
    /// - Parameter origin: the KCIDB origin of the submitter (`--kcidb-origin`; default "lbrprobe").
    public static func render(_ report: RunReport, buildId: String, origin: String = KcidbReport.origin) throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try enc.encode(document(report, buildId: buildId, origin: origin)), as: UTF8.self) + "\n"
    }

    public static func document(_ report: RunReport, buildId: String, origin: String = KcidbReport.origin) -> Document {
        var ids: Set<String> = []
        let tests = report.results.enumerated().map { (i, r) -> Test in
            let local = [ReportSupport.testName(buildId), r.backend.rawValue, r.model.map(ReportSupport.testName) ?? "host",
                         ReportSupport.testName(r.testName)].joined(separator: ".")
            var id = "\(origin):\(local)"
            if !ids.insert(id).inserted { id += ".\(i + 1)"; ids.insert(id) }
            return Test(
                id: id, build_id: buildId, origin: origin,
                path: "kvm.vlbr." + r.scenario.replacingOccurrences(of: "-", with: "_"),
                status: status(r.status),
                start_time: r.startUnixNs.map(ReportSupport.rfc3339(unixNs:)),
                duration: ReportSupport.seconds(r.durationNs),
                log_excerpt: excerpt(ReportSupport.evidenceLines(r).joined(separator: "\n")),
                misc: Misc(outcome: r.outcome.code, outcome_detail: r.outcome.detail, backend: r.backend.rawValue,
                           model: r.model, cpu: r.cpu, kernel_release: r.kernelRelease, repeat: r.repeatIndex + 1,
                           expectation: r.expectation.code, expected: r.expectation.expected, reason: r.reason,
                           phases: r.phases.map { .init(name: $0.phase, inferred: $0.inferred.rawValue,
                                                        agreeing: $0.agreeing.map(\.rawValue),
                                                        disagreeing: $0.disagreeing.map(\.rawValue)) }))
        }
        return Document(version: .init(major: 5, minor: 3), tests: tests)
    }

    /// KCIDB status: PASS, FAIL, ERROR (could not run correctly, incl. timeouts), SKIP.
    public static func status(_ s: ResultStatus) -> String {
        switch s {
        case .pass: return "PASS"
        case .fail: return "FAIL"
        case .error, .timeout: return "ERROR"
        case .skip: return "SKIP"
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
        public var backend: String
        public var model: String?
        public var cpu: Int
        public var kernel_release: String
        public var `repeat`: Int
        public var expectation: String
        public var expected: String?
        public var reason: String?
        public var phases: [Phase]
    }
}
