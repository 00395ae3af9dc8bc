// JSON run report following the versioned schema `lbrprobe.run/3` (docs/run.schema.json, docs/run-format.md):
// maps a `RunReport` onto the document model of LbrDocument and encodes it.

import Foundation
import LbrCore
import LbrDocument
import LbrScenarios

/// Renders a `RunReport` as `lbrprobe.run/3` JSON.
public enum JsonReport {
    public static let schemaId = RunReport.schema

    /// Key-sorted JSON (UTF-8): pretty-printed for people (`--format json`), or compact — the same document
    /// without layout whitespace, ≈40 % smaller and as much faster to read back — for machine files (`--json
    /// FILE`, the input of `compare`, `contract --from` and `timeline`).
    public static func render(_ report: RunReport, compact: Bool = false) throws -> String {
        var text = ""
        try render(report, compact: compact) { text += $0 }
        return text
    }

    /// Streams the same text to `sink` (a `--repeat` document is never held whole): the document
    /// without its results is encoded once, then each result is encoded on its own and spliced into the
    /// `"results"` array, laid out as the whole-document encoding would (byte-identical to it).
    public static func render(_ report: RunReport, compact: Bool = false, to sink: (String) -> Void) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = compact ? [.sortedKeys, .withoutEscapingSlashes] : [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let head = String(decoding: try enc.encode(document(report, withResults: false)), as: UTF8.self)
        let marker = compact ? "\"results\":[" : "\n  \"results\" : ["
        guard !report.results.isEmpty, let m = head.range(of: marker),
              let close = head[m.upperBound...].firstIndex(of: "]") else {
            sink(head + "\n"); return
        }
        sink(String(head[..<m.upperBound]))
        var first = true
        var timelineSeen = Set<ScenarioOutcomeKey>()   // as timelineRuns: the first run of each (scenario, outcome) has one
        for r in report.results {
            let withTimeline = timelineSeen.insert(ScenarioOutcomeKey(r)).inserted
            let item = String(decoding: try enc.encode(result(r, timeline: withTimeline)), as: UTF8.self)
            if compact {
                sink((first ? "" : ",") + item)
            } else {
                // Indent every non-empty line by two levels (the encoder leaves empty containers' blank line bare).
                let indented = item.split(separator: "\n", omittingEmptySubsequences: false)
                    .map { $0.isEmpty ? "" : "    " + $0 }.joined(separator: "\n")
                sink((first ? "\n" : ",\n") + indented)
            }
            first = false
        }
        sink((compact ? "" : "\n  ") + String(head[close...]) + "\n")
    }

    /// The DTO tree (exposed for tests and for tools embedding the document).
    public static func document(_ r: RunReport) -> RunDocument { document(r, withResults: true) }

    static func document(_ r: RunReport, withResults: Bool) -> RunDocument {
        RunDocument(
            schema: schemaId, tool: "lbrprobe", backend: r.backend, model: r.model,
            availability: .init(available: r.availability.isAvailable, detail: r.availability.text,
                                 blockers: r.availability.isAvailable ? nil : r.availability.blockers),
            selection_reason: r.selectionReason, cpu: r.cpu, kernel_release: r.kernelRelease, repeats: r.repeats,
            timeout_ms: Double(r.timeoutNs) / 1e6, expect_file: r.expectFile,
            start_time: r.startUnixNs.map(ReportSupport.rfc3339(unixNs:)), duration_ms: Double(r.durationNs) / 1e6,
            exit_code: Int(r.exitCode.rawValue), interrupted: r.interruption,
            totals: { let t = r.totals; return .init(pass: t.pass, fail: t.fail, skip: t.skip, error: t.error, timeout: t.timeout) }(),
            results: withResults ? timelineRuns(r.results).map { result($0.0, timeline: $0.1) } : [],
            distributions: r.distributions.map { d in
                .init(scenario: d.scenario, runs: d.runs, counts: d.counts.map { .init(outcome: $0.outcome, count: $0.count) })
            },
            fallback: r.fallback, runs_not_started: r.interruption == nil ? nil : r.runsNotStarted,
            run_id: r.runId, host: r.host.map(host),
            repeat_statistics: r.repeats > 1 ? RepeatStatistics.dto(RepeatStatistics.compute(r)) : nil)
    }

    static func host(_ h: HostIdentity) -> RunDocument.Host {
        .init(hostname: h.hostname, kernel_release: h.kernelRelease, cpu_vendor: h.cpuVendor, cpu_family: h.cpuFamily,
              cpu_model: h.cpuModel, cpu_stepping: h.cpuStepping, cpu_model_name: h.cpuModelName)
    }

    /// Which results carry a timeline: the first run of each (scenario, outcome) — so `--repeat N` documents
    /// stay small while every distinct outcome, outliers included, can still be drawn.
    static func timelineRuns<S: Sequence<ScenarioResult>>(_ results: S) -> [(ScenarioResult, Bool)] {
        var seen = Set<ScenarioOutcomeKey>()
        return results.map { ($0, seen.insert(ScenarioOutcomeKey($0)).inserted) }
    }

    static func result(_ r: ScenarioResult, timeline withTimeline: Bool = true) -> ResultDTO {
        var d = ResultDTO(
            scenario: r.scenario, test_name: r.testName, repeat: r.repeatIndex + 1, backend: r.backend,
            model: r.model, cpu: r.cpu, kernel_release: r.kernelRelease, status: r.status, reason: r.reason,
            outcome: OutcomeCode(r.outcome), outcome_detail: r.outcome.detail, terms: r.outcome.terms.map(term),
            expectation: .init(check: r.expectation.code, expected: r.expectation.expected, line: line(r.expectation)),
            start_time: r.startUnixNs.map(ReportSupport.rfc3339(unixNs:)), duration_ms: Double(r.durationNs) / 1e6,
            lbr_depth: r.lbrDepth, notes: r.sessionNotes,
            phases: r.phases.map { p in
                var d = phase(p)
                d.measures = ContractMeasures.measures(of: p.phase, in: r)
                return d
            },
            findings: r.findings.map(finding),
            runs: r.runsCovered > 1 ? r.runsCovered : nil, evidence_folded_into: r.evidenceFoldedInto,
            shadow: r.shadow.map { .init(model: $0.model, predicted_outcome: $0.predictedOutcome.map(OutcomeCode.init),
                                         observed_outcome: OutcomeCode($0.observedOutcome), agrees: $0.agrees,
                                         departing_phases: $0.departingPhases, unavailable: $0.unavailable) })
        d.not_run = r.notRun
        // Plain answer and timeline.
        d.answer = PlainAnswer.sentence(for: r)
        if withTimeline, let t = Timeline.events(r) {
            d.timeline = t.events; d.timeline_clock = t.clock
            d.timeline_truncated = t.truncated > 0 ? t.truncated : nil
        }
        return d
    }

    static func finding(_ f: Finding) -> FindingDTO {
        FindingDTO(kind: f.kind, security_relevant: f.kind.securityRelevant, phase: f.phase, count: f.count,
                   summary: f.summary, example: f.example, basis: f.basis)
    }

    static func line(_ e: ExpectationCheck) -> Int? {
        switch e {
        case let .met(_, l), let .unmet(_, l), let .notChecked(_, l): return l
        case .none, .notListed: return nil
        }
    }

    static func term(_ o: Outcome) -> TermDTO {
        var t = TermDTO(code: OutcomeTerm(o), detail: o.detail, path: nil, latency: nil, reason: o.reason)
        if case let .recovered(p, l) = o {
            t.path = p
            t.latency = l.map { .init(guest_tsc_ticks: $0.guestTscTicks, exits: $0.exits, guest_commands: $0.guestCommands) }
        }
        return t
    }

    static func phase(_ p: PhaseVerdict) -> PhaseDTO {
        var dto = PhaseDTO(
            name: p.phase, role: p.role, inferred: p.inferred,
            agreeing: p.agreeing, disagreeing: p.disagreeing,
            signals: p.signals.map { .init(kind: $0.kind, vote: $0.vote, evidence: $0.evidence, sampleVote: $0.sampleVote,
                                           basis: $0.basis) },
            host: p.host.map { .init(contender: $0.contender, state: $0.state, samples: $0.samples,
                                     with_branches: $0.withBranches, empty_branches: $0.emptyBranches,
                                     guest_addresses: $0.guestAddresses,
                                     stale_repeats: $0.staleRepeats, stale_example: $0.staleExample, basis: $0.basis) },
            host_starved: p.hostStarved,
            ground_truth: p.groundTruth.map { .init(vlbr: $0.vlbr, passthrough: $0.passthrough,
                                                    agrees_with_inference: $0.agreesWithInference) },
            evidence: p.evidence, duration_ms: Double(p.durationNs) / 1e6,
            shadow: p.shadow.map { .init(model: $0.model, predicted_vlbr: $0.predictedVlbr,
                                         predicted_passthrough: $0.predictedPassthrough,
                                         predicted_inferred: $0.predictedInferred,
                                         predicted_host_starved: $0.predictedHostStarved,
                                         observed_inferred: $0.observedInferred,
                                         observed_passthrough: $0.observedPassthrough,
                                         observed_host_starved: $0.observedHostStarved,
                                         agrees: $0.agrees, departures: $0.departures) })
        dto.host_lbr_samples = p.hostLbrSamples
        return dto
    }

    // MARK: the document's types (LbrDocument), under the names the writers use

    public typealias RunDocument = LbrDocument.RunDocument
    public typealias ResultDTO = LbrDocument.ResultDTO
    public typealias ShadowResultDTO = LbrDocument.ShadowResultDTO
    public typealias ShadowPhaseDTO = LbrDocument.ShadowPhaseDTO
    public typealias MeasuresDTO = LbrDocument.MeasuresDTO
    public typealias TimedStepDTO = LbrDocument.TimedStepDTO
    public typealias FindingDTO = LbrDocument.FindingDTO
    public typealias TimelineEventDTO = LbrDocument.TimelineEventDTO
    public typealias TermDTO = LbrDocument.TermDTO
    public typealias PhaseDTO = LbrDocument.PhaseDTO
}
