// JSON run report following the versioned schema `lbrprobe.run/2` (docs/run.schema.json, docs/run-format.md).
// The document is built from explicit DTOs so the wire format never changes by accident when the Swift
// types evolve; a change of shape requires a new schema version.

import Foundation
import LbrCore
import LbrScenarios

/// Renders a `RunReport` as `lbrprobe.run/2` JSON.
public enum JsonReport {
    public static let schemaId = RunReport.schema

    /// Pretty-printed, key-sorted JSON (UTF-8).
    public static func render(_ report: RunReport) throws -> String {
        var text = ""
        try render(report) { text += $0 }
        return text
    }

    /// Streams the same text to `sink` (issue 11: a `--repeat` document is never held whole): the document
    /// without its results is encoded once, then each result is encoded on its own and spliced into the
    /// `"results"` array, indented as the whole-document encoding would (byte-identical to it).
    public static func render(_ report: RunReport, to sink: (String) -> Void) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let head = String(decoding: try enc.encode(document(report, withResults: false)), as: UTF8.self)
        let marker = "\n  \"results\" : ["
        guard !report.results.isEmpty, let m = head.range(of: marker),
              let close = head[m.upperBound...].firstIndex(of: "]") else {
            sink(head + "\n"); return
        }
        sink(String(head[..<m.upperBound]))
        var first = true
        for r in report.results {
            let item = String(decoding: try enc.encode(result(r)), as: UTF8.self)
            // Indent every non-empty line by two levels (the encoder leaves empty containers' blank line bare).
            let indented = item.split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.isEmpty ? "" : "    " + $0 }.joined(separator: "\n")
            sink((first ? "\n" : ",\n") + indented)
            first = false
        }
        sink("\n  " + String(head[close...]) + "\n")
    }

    /// The DTO tree (exposed for tests and for tools embedding the document).
    public static func document(_ r: RunReport) -> RunDocument { document(r, withResults: true) }

    static func document(_ r: RunReport, withResults: Bool) -> RunDocument {
        RunDocument(
            schema: schemaId, tool: "lbrprobe", backend: r.backend.rawValue, model: r.model,
            availability: .init(available: r.availability.isAvailable, detail: r.availability.text),
            selection_reason: r.selectionReason, cpu: r.cpu, kernel_release: r.kernelRelease, repeats: r.repeats,
            timeout_ms: Double(r.timeoutNs) / 1e6, expect_file: r.expectFile,
            start_time: r.startUnixNs.map(ReportSupport.rfc3339(unixNs:)), duration_ms: Double(r.durationNs) / 1e6,
            exit_code: Int(r.exitCode.rawValue), interrupted: r.interruption?.rawValue,
            totals: { let t = r.totals; return .init(pass: t.pass, fail: t.fail, skip: t.skip, error: t.error, timeout: t.timeout) }(),
            results: withResults ? r.results.map(result) : [],
            distributions: r.distributions.map { d in
                .init(scenario: d.scenario, runs: d.runs, counts: d.counts.map { .init(outcome: $0.outcome, count: $0.count) })
            },
            fallback: r.fallback, runs_not_started: r.interruption == nil ? nil : r.runsNotStarted)
    }

    static func result(_ r: ScenarioResult) -> ResultDTO {
        ResultDTO(
            scenario: r.scenario, test_name: r.testName, repeat: r.repeatIndex + 1, backend: r.backend.rawValue,
            model: r.model, cpu: r.cpu, kernel_release: r.kernelRelease, status: r.status.rawValue, reason: r.reason,
            outcome: r.outcome.code, outcome_detail: r.outcome.detail, terms: r.outcome.terms.map(term),
            expectation: .init(check: r.expectation.code, expected: r.expectation.expected, line: line(r.expectation)),
            start_time: r.startUnixNs.map(ReportSupport.rfc3339(unixNs:)), duration_ms: Double(r.durationNs) / 1e6,
            lbr_depth: r.lbrDepth, notes: r.sessionNotes, phases: r.phases.map(phase),
            runs: r.runsCovered > 1 ? r.runsCovered : nil, evidence_folded_into: r.evidenceFoldedInto)
    }

    static func line(_ e: ExpectationCheck) -> Int? {
        switch e {
        case let .met(_, l), let .unmet(_, l), let .notChecked(_, l): return l
        case .none, .notListed: return nil
        }
    }

    static func term(_ o: Outcome) -> TermDTO {
        var t = TermDTO(code: o.code, detail: o.detail, path: nil, latency: nil, reason: o.reason)
        if case let .recovered(p, l) = o {
            t.path = p.rawValue
            t.latency = l.map { .init(guest_tsc_ticks: $0.guestTscTicks, exits: $0.exits, guest_commands: $0.guestCommands) }
        }
        return t
    }

    static func phase(_ p: PhaseVerdict) -> PhaseDTO {
        PhaseDTO(
            name: p.phase, role: p.role.rawValue, inferred: p.inferred.rawValue,
            agreeing: p.agreeing.map(\.rawValue), disagreeing: p.disagreeing.map(\.rawValue),
            signals: p.signals.map { .init(kind: $0.kind.rawValue, vote: $0.vote.rawValue, evidence: $0.evidence) },
            host: p.host.map { .init(contender: $0.contender, state: $0.state?.rawValue, samples: $0.samples,
                                     with_branches: $0.withBranches, empty_branches: $0.emptyBranches,
                                     guest_addresses: $0.guestAddresses) },
            host_starved: p.hostStarved,
            ground_truth: p.groundTruth.map { .init(vlbr: $0.vlbr?.rawValue, passthrough: $0.passthrough,
                                                    agrees_with_inference: $0.agreesWithInference) },
            evidence: p.evidence, duration_ms: Double(p.durationNs) / 1e6)
    }

    // MARK: DTOs (field names are the wire names)

    public struct RunDocument: Codable, Sendable {
        public struct Availability: Codable, Sendable { public var available: Bool; public var detail: String }
        public struct Totals: Codable, Sendable { public var pass, fail, skip, error, timeout: Int }
        public struct Distribution: Codable, Sendable {
            public struct Count: Codable, Sendable { public var outcome: String; public var count: Int }
            public var scenario: String; public var runs: Int; public var counts: [Count]
        }
        public var schema: String
        public var tool: String
        public var backend: String
        public var model: String?
        public var availability: Availability
        public var selection_reason: String?
        public var cpu: Int
        public var kernel_release: String
        public var repeats: Int
        public var timeout_ms: Double
        public var expect_file: String?
        public var start_time: String?
        public var duration_ms: Double
        public var exit_code: Int
        /// "SIGINT" / "SIGTERM" when a signal stopped the run early (absent otherwise).
        public var interrupted: String?
        public var totals: Totals
        public var results: [ResultDTO]
        public var distributions: [Distribution]
        // Issue 11 (robustness):
        /// `--backend auto` fell back from hw (and why); absent otherwise.
        public var fallback: String?
        /// Runs never started because a signal stopped the run (present only when interrupted).
        public var runs_not_started: Int?
    }

    public struct ResultDTO: Codable, Sendable {
        public struct Expectation: Codable, Sendable { public var check: String; public var expected: String?; public var line: Int? }
        public var scenario: String
        public var test_name: String
        public var `repeat`: Int
        public var backend: String
        public var model: String?
        public var cpu: Int
        public var kernel_release: String
        public var status: String
        public var reason: String?
        public var outcome: String
        public var outcome_detail: String
        public var terms: [TermDTO]
        public var expectation: Expectation
        public var start_time: String?
        public var duration_ms: Double
        public var lbr_depth: Int?
        public var notes: [String]
        public var phases: [PhaseDTO]
        // Issue 11 (bounded memory for --repeat):
        /// Runs this entry stands for when more than one (a block of runs not started or skipped alike).
        public var runs: Int?
        /// A repeated run whose evidence was not kept: the test name of the kept run with the same status and
        /// outcome (this entry's phases and notes are then empty).
        public var evidence_folded_into: String?
    }

    public struct TermDTO: Codable, Sendable {
        public struct Latency: Codable, Sendable { public var guest_tsc_ticks: UInt64; public var exits: UInt64; public var guest_commands: Int }
        public var code: String
        public var detail: String
        public var path: String?
        public var latency: Latency?
        public var reason: String?
    }

    public struct PhaseDTO: Codable, Sendable {
        public struct Signal: Codable, Sendable { public var kind: String; public var vote: String; public var evidence: String }
        public struct Host: Codable, Sendable {
            public var contender: String; public var state: String?
            public var samples, with_branches, empty_branches, guest_addresses: Int
        }
        public struct Truth: Codable, Sendable { public var vlbr: String?; public var passthrough: Bool?; public var agrees_with_inference: Bool? }
        public var name: String
        public var role: String
        public var inferred: String
        public var agreeing: [String]
        public var disagreeing: [String]
        public var signals: [Signal]
        public var host: [Host]
        public var host_starved: Bool?
        public var ground_truth: Truth?
        public var evidence: [String]
        public var duration_ms: Double
    }
}
