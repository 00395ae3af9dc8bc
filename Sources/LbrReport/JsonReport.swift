// JSON run report following the versioned schema `lbrprobe.run/2` (docs/run.schema.json, docs/run-format.md).
// The document is built from explicit DTOs so the wire format never changes by accident when the Swift
// types evolve; a change of shape requires a new schema version.

import Foundation
import LbrCore
import LbrScenarios

/// Renders a `RunReport` as `lbrprobe.run/2` JSON.
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
        var timelineSeen = Set<String>()   // as timelineRuns: the first run of each (scenario, outcome) has one
        for r in report.results {
            let withTimeline = timelineSeen.insert(r.scenario + " " + r.outcome.code).inserted
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
            schema: schemaId, tool: "lbrprobe", backend: r.backend.rawValue, model: r.model,
            availability: .init(available: r.availability.isAvailable, detail: r.availability.text),
            selection_reason: r.selectionReason, cpu: r.cpu, kernel_release: r.kernelRelease, repeats: r.repeats,
            timeout_ms: Double(r.timeoutNs) / 1e6, expect_file: r.expectFile,
            start_time: r.startUnixNs.map(ReportSupport.rfc3339(unixNs:)), duration_ms: Double(r.durationNs) / 1e6,
            exit_code: Int(r.exitCode.rawValue), interrupted: r.interruption?.rawValue,
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
        var seen = Set<String>()
        return results.map { ($0, seen.insert($0.scenario + " " + $0.outcome.code).inserted) }
    }

    static func result(_ r: ScenarioResult, timeline withTimeline: Bool = true) -> ResultDTO {
        var d = ResultDTO(
            scenario: r.scenario, test_name: r.testName, repeat: r.repeatIndex + 1, backend: r.backend.rawValue,
            model: r.model, cpu: r.cpu, kernel_release: r.kernelRelease, status: r.status.rawValue, reason: r.reason,
            outcome: r.outcome.code, outcome_detail: r.outcome.detail, terms: r.outcome.terms.map(term),
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
            shadow: r.shadow.map { .init(model: $0.model, predicted_outcome: $0.predictedOutcome,
                                         observed_outcome: $0.observedOutcome, agrees: $0.agrees,
                                         departing_phases: $0.departingPhases, unavailable: $0.unavailable) })
        // Plain answer and timeline.
        d.answer = PlainAnswer.sentence(for: r)
        if withTimeline, let t = Timeline.events(r) {
            d.timeline = t.events; d.timeline_clock = t.clock
            d.timeline_truncated = t.truncated > 0 ? t.truncated : nil
        }
        return d
    }

    static func finding(_ f: Finding) -> FindingDTO {
        FindingDTO(kind: f.kind.rawValue, security_relevant: f.kind.securityRelevant, phase: f.phase, count: f.count,
                   summary: f.summary, example: f.example)
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
                                     guest_addresses: $0.guestAddresses,
                                     stale_repeats: $0.staleRepeats, stale_example: $0.staleExample) },
            host_starved: p.hostStarved,
            ground_truth: p.groundTruth.map { .init(vlbr: $0.vlbr?.rawValue, passthrough: $0.passthrough,
                                                    agrees_with_inference: $0.agreesWithInference) },
            evidence: p.evidence, duration_ms: Double(p.durationNs) / 1e6,
            shadow: p.shadow.map { .init(model: $0.model, predicted_vlbr: $0.predictedVlbr?.rawValue,
                                         predicted_passthrough: $0.predictedPassthrough,
                                         predicted_inferred: $0.predictedInferred.rawValue,
                                         predicted_host_starved: $0.predictedHostStarved,
                                         observed_inferred: $0.observedInferred.rawValue,
                                         observed_passthrough: $0.observedPassthrough,
                                         observed_host_starved: $0.observedHostStarved,
                                         agrees: $0.agrees, departures: $0.departures) })
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
        /// "SIGINT" / "SIGTERM" / "SIGHUP" / "SIGQUIT" when a signal stopped the run early (absent otherwise).
        public var interrupted: String?
        public var totals: Totals
        public var results: [ResultDTO]
        public var distributions: [Distribution]
        // Robustness:
        /// `--backend auto` fell back from hw (and why); absent otherwise.
        public var fallback: String?
        /// Runs never started because a signal stopped the run (present only when interrupted).
        public var runs_not_started: Int?
        // Regression workflow. Optional for reading documents written before these fields existed;
        // this build always writes run_id (and host when the CLI ran the probe).
        public struct Host: Codable, Sendable {
            public var hostname: String
            public var kernel_release: String
            public var cpu_vendor: String?
            public var cpu_family: Int?
            public var cpu_model: Int?
            public var cpu_stepping: Int?
            public var cpu_model_name: String?
        }
        /// RFC 9562 UUIDv7 of the run (nil UUID when the writer had none).
        public var run_id: String?
        /// The host the run ran on: what `compare` groups fleets by.
        public var host: Host?
        /// With --repeat N > 1: per scenario, outcome shares with 95% Wilson intervals and latency percentiles.
        public var repeat_statistics: [RepeatStatistics.ScenarioDTO]?
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
        /// Findings (host-branch-leak, model-departure); empty when none.
        public var findings: [FindingDTO]
        // Bounded memory for --repeat:
        /// Runs this entry stands for when more than one (a block of runs not started or skipped alike).
        public var runs: Int?
        /// A repeated run whose evidence was not kept: the test name of the kept run with the same status and
        /// outcome (this entry's phases and notes are then empty).
        public var evidence_folded_into: String?
        // MARK: plain answer, timeline — all optional
        /// One plain-language sentence for the outcome (`PlainAnswer`).
        public var answer: String?
        /// Timed events of this run (`Timeline`), absent when the run has no recorded observations.
        public var timeline: [TimelineEventDTO]?
        /// The clock of `timeline[].t_ns`: "monotonic" (hw) or "model" (hybrid, sim).
        public var timeline_clock: String?
        /// Events left out beyond `Timeline.maxEvents`.
        public var timeline_truncated: Int?
        // --- shadow model ---
        /// Shadow model: predicted vs observed outcome (hw/hybrid runs); absent without a shadow.
        public var shadow: ShadowResultDTO?
    }

    // --- shadow model, contract measures ---
    /// `results[].shadow`.
    public struct ShadowResultDTO: Codable, Sendable {
        public var model: String
        public var predicted_outcome: String
        public var observed_outcome: String
        public var agrees: Bool
        public var departing_phases: [String]
        public var unavailable: String?
    }

    /// `results[].phases[].shadow`: what the shadow model predicted for the phase versus what was observed.
    public struct ShadowPhaseDTO: Codable, Sendable {
        public var model: String
        public var predicted_vlbr: String?
        public var predicted_passthrough: Bool?
        public var predicted_inferred: String
        public var predicted_host_starved: Bool?
        public var observed_inferred: String
        public var observed_passthrough: Bool?
        public var observed_host_starved: Bool?
        public var agrees: Bool
        public var departures: [String]
    }

    /// `results[].phases[].measures`: the phase's numbers (from the raw observations) that evidence tables quote.
    public struct MeasuresDTO: Codable, Sendable, Equatable {
        /// Phase start relative to the run's first phase, on the runner's clock.
        public var start_offset_ms: Double
        public var guest_commands: Int
        /// Guest TSC at the start of the phase's first and the end of its last guest command.
        public var guest_tsc_begin: UInt64?
        public var guest_tsc_end: UInt64?
        /// VM-exits counted over the phase's guest commands (msr: exits for MSR accesses, when known).
        public var exits: UInt64
        public var msr_exits: UInt64
        /// LBR-relevant guest MSR accesses the backend saw, and how many of them were trapped.
        public var msr_accesses: Int
        public var msr_trapped: Int
        /// "fail to passthrough LBR" kernel lines.
        public var kmsg_lines: Int
        /// vCPU thread context switches reported.
        public var context_switches: Int
        /// Host LBR samples (all contenders): kept, empty, stale repeats, with guest addresses, lost.
        public var host_samples: Int
        public var host_empty: Int
        public var host_stale_repeats: Int
        public var host_guest_addresses: Int
        public var host_lost: Int
        /// PERF_RECORD_THROTTLE records seen for host LBR events (perf lowered their rate in NMI context).
        public var host_throttled: Int
        /// Timed steps (a host action while the vCPU runs, a preemption) and the first LBR probe after each.
        public var timed_steps: [TimedStepDTO]
    }

    public struct TimedStepDTO: Codable, Sendable, Equatable {
        /// `while-vcpu-runs` or `preemption`.
        public var timing: String
        /// The step as text (`host open(pinned-lbr-any-cycles) [while-vcpu-runs: guest spin-for(2000us)]`).
        public var step: String
        /// Guest TSC span and exits of the guest command the host action overlapped.
        public var guest_tsc_begin: UInt64
        public var guest_tsc_end: UInt64
        public var exits: UInt64
        /// The backend's overlap evidence (hw: the host action's window on the guest's TSC line), when given.
        public var overlap: String?
        /// The first LBR_TOS probe after the step: its end on the guest TSC and what it showed
        /// (`stuck`, `dropped`, `odd`, `fault`).
        public var next_probe_tsc: UInt64?
        public var next_probe: String?
    }

    public struct FindingDTO: Codable, Sendable {
        public var kind: String
        public var security_relevant: Bool
        public var phase: String?
        public var count: Int
        public var summary: String
        public var example: String?
    }

    /// One timeline event: `t_ns` from the scenario run's start on `timeline_clock`, a lane
    /// (docs/run-format.md "Timeline"), a short ASCII label, a state word, and a duration for spans.
    public struct TimelineEventDTO: Codable, Sendable, Hashable {
        public var t_ns: UInt64
        public var dur_ns: UInt64?
        public var lane: String
        public var label: String
        public var state: String?
        public init(t_ns: UInt64, dur_ns: UInt64? = nil, lane: String, label: String, state: String?) {
            self.t_ns = t_ns; self.dur_ns = dur_ns; self.lane = lane; self.label = label; self.state = state
        }
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
            // Stale-repeat starvation evidence (§9.1); absent in older documents.
            public var stale_repeats: Int? = nil
            public var stale_example: String? = nil
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
        // --- shadow model, contract measures ---
        public var shadow: ShadowPhaseDTO? = nil
        public var measures: MeasuresDTO? = nil
    }
}
