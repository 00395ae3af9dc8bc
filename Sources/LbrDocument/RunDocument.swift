// The `lbrprobe.run/3` run document (docs/run.schema.json, docs/run-format.md): one Codable definition used by
// the JSON writer and by every reader (compare, contract, timeline, repeat statistics). Field names are the wire
// names; closed vocabularies are Swift enums, so a document with a value outside them does not decode.
// The DTOs are explicit so the wire format never changes by accident when the verdict types evolve.

import LbrCore
import LbrScenarios

/// A whole run document.
public struct RunDocument: Codable, Sendable {
    public static let schemaId = RunReport.schema

    public struct Availability: Codable, Sendable {
        public var available: Bool
        /// What the backend uses, or its blockers as one line.
        public var detail: String
        /// The blockers, typed (code, message, reference); present when not available.
        public var blockers: [EligibilityReason]?
        public init(available: Bool, detail: String, blockers: [EligibilityReason]? = nil) {
            self.available = available; self.detail = detail; self.blockers = blockers
        }
    }
    public struct Totals: Codable, Sendable {
        public var pass, fail, skip, error, timeout: Int
        public init(pass: Int, fail: Int, skip: Int, error: Int, timeout: Int) {
            self.pass = pass; self.fail = fail; self.skip = skip; self.error = error; self.timeout = timeout
        }
    }
    public struct Distribution: Codable, Sendable {
        public struct Count: Codable, Sendable {
            /// An outcome code as `ScenarioOutcome.code` spells it (a summary key, kept as text).
            public var outcome: String; public var count: Int
            public init(outcome: String, count: Int) { self.outcome = outcome; self.count = count }
        }
        public var scenario: String; public var runs: Int; public var counts: [Count]
        public init(scenario: String, runs: Int, counts: [Count]) { self.scenario = scenario; self.runs = runs; self.counts = counts }
    }
    /// The host a run ran on: what `compare` groups fleets by.
    public struct Host: Codable, Sendable {
        public var hostname: String
        public var kernel_release: String
        public var cpu_vendor: String?
        public var cpu_family: Int?
        public var cpu_model: Int?
        public var cpu_stepping: Int?
        public var cpu_model_name: String?
        public init(hostname: String, kernel_release: String, cpu_vendor: String?, cpu_family: Int?, cpu_model: Int?,
                    cpu_stepping: Int?, cpu_model_name: String?) {
            self.hostname = hostname; self.kernel_release = kernel_release; self.cpu_vendor = cpu_vendor
            self.cpu_family = cpu_family; self.cpu_model = cpu_model; self.cpu_stepping = cpu_stepping
            self.cpu_model_name = cpu_model_name
        }
    }
    public var schema: String
    public var tool: String
    public var backend: BackendKind
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
    /// The signal that stopped the run early (absent otherwise).
    public var interrupted: Interruption?
    public var totals: Totals
    public var results: [ResultDTO]
    public var distributions: [Distribution]
    /// `--backend auto` fell back from hw (and why); absent otherwise.
    public var fallback: String?
    /// Runs never started because a signal stopped the run (present only when interrupted).
    public var runs_not_started: Int?
    /// RFC 9562 UUIDv7 of the run (nil UUID when the writer had none); optional for reading older documents.
    public var run_id: String?
    /// The host the run ran on.
    public var host: Host?
    /// With --repeat N > 1: per scenario, outcome shares with 95% Wilson intervals and latency percentiles.
    public var repeat_statistics: [RepeatStatisticsDTO]?

    public init(schema: String, tool: String, backend: BackendKind, model: String?, availability: Availability,
                selection_reason: String?, cpu: Int, kernel_release: String, repeats: Int, timeout_ms: Double,
                expect_file: String?, start_time: String?, duration_ms: Double, exit_code: Int,
                interrupted: Interruption?, totals: Totals, results: [ResultDTO], distributions: [Distribution],
                fallback: String?, runs_not_started: Int?, run_id: String?, host: Host?,
                repeat_statistics: [RepeatStatisticsDTO]?) {
        self.schema = schema; self.tool = tool; self.backend = backend; self.model = model
        self.availability = availability; self.selection_reason = selection_reason; self.cpu = cpu
        self.kernel_release = kernel_release; self.repeats = repeats; self.timeout_ms = timeout_ms
        self.expect_file = expect_file; self.start_time = start_time; self.duration_ms = duration_ms
        self.exit_code = exit_code; self.interrupted = interrupted; self.totals = totals; self.results = results
        self.distributions = distributions; self.fallback = fallback; self.runs_not_started = runs_not_started
        self.run_id = run_id; self.host = host; self.repeat_statistics = repeat_statistics
    }
}

/// `results[]`: one scenario run.
public struct ResultDTO: Codable, Sendable {
    public struct Expectation: Codable, Sendable, Hashable {
        public var check: String; public var expected: String?; public var line: Int?
        public init(check: String, expected: String?, line: Int?) { self.check = check; self.expected = expected; self.line = line }
    }
    public var scenario: String
    public var test_name: String
    public var `repeat`: Int
    public var backend: BackendKind
    public var model: String?
    public var cpu: Int
    public var kernel_release: String
    public var status: ResultStatus
    public var reason: String?
    public var outcome: OutcomeCode
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
    /// Runs this entry stands for when more than one (a block of runs not started or skipped alike).
    public var runs: Int?
    /// A repeated run whose evidence was not kept: the test name of the kept run with the same status and
    /// outcome (this entry's phases and notes are then empty).
    public var evidence_folded_into: String?
    /// One plain-language sentence for the outcome (`PlainAnswer`).
    public var answer: String?
    /// Timed events of this run, absent when the run has no recorded observations.
    public var timeline: [TimelineEventDTO]?
    /// The clock of `timeline[].t_ns`.
    public var timeline_clock: TimelineClock?
    /// Events left out beyond the timeline's event limit.
    public var timeline_truncated: Int?
    /// Shadow model: predicted vs observed outcome (hw/hybrid runs); absent without a shadow.
    public var shadow: ShadowResultDTO?
    /// Why the runner skipped this entry without starting it (`backend-unavailable`, `interrupted`); absent for
    /// runs and for skips the backend decided.
    public var not_run: NotRunCause?

    public init(scenario: String, test_name: String, repeat: Int, backend: BackendKind, model: String?, cpu: Int,
                kernel_release: String, status: ResultStatus, reason: String?, outcome: OutcomeCode,
                outcome_detail: String, terms: [TermDTO], expectation: Expectation, start_time: String?,
                duration_ms: Double, lbr_depth: Int?, notes: [String], phases: [PhaseDTO], findings: [FindingDTO],
                runs: Int?, evidence_folded_into: String?, answer: String? = nil, timeline: [TimelineEventDTO]? = nil,
                timeline_clock: TimelineClock? = nil, timeline_truncated: Int? = nil, shadow: ShadowResultDTO?,
                not_run: NotRunCause? = nil) {
        self.scenario = scenario; self.test_name = test_name; self.repeat = `repeat`; self.backend = backend
        self.model = model; self.cpu = cpu; self.kernel_release = kernel_release; self.status = status
        self.reason = reason; self.outcome = outcome; self.outcome_detail = outcome_detail; self.terms = terms
        self.expectation = expectation; self.start_time = start_time; self.duration_ms = duration_ms
        self.lbr_depth = lbr_depth; self.notes = notes; self.phases = phases; self.findings = findings
        self.runs = runs; self.evidence_folded_into = evidence_folded_into; self.answer = answer
        self.timeline = timeline; self.timeline_clock = timeline_clock; self.timeline_truncated = timeline_truncated
        self.shadow = shadow; self.not_run = not_run
    }
}

/// The clock of a result's timeline: the host's monotonic clock (hw) or the kernel model's (hybrid, sim).
public enum TimelineClock: String, Hashable, Sendable, Codable, CaseIterable {
    case monotonic
    case model
}

/// `results[].shadow`.
public struct ShadowResultDTO: Codable, Sendable {
    public var model: String
    /// The shadow model's outcome; nil when it did not start (written `unknown`).
    public var predicted_outcome: OutcomeCode?
    public var observed_outcome: OutcomeCode
    public var agrees: Bool
    public var departing_phases: [String]
    public var unavailable: String?
    public init(model: String, predicted_outcome: OutcomeCode?, observed_outcome: OutcomeCode, agrees: Bool,
                departing_phases: [String], unavailable: String?) {
        self.model = model; self.predicted_outcome = predicted_outcome; self.observed_outcome = observed_outcome
        self.agrees = agrees; self.departing_phases = departing_phases; self.unavailable = unavailable
    }

    /// The predicted outcome's code, `unknown` without one.
    public var predictedCode: String { predicted_outcome?.code ?? ShadowSummary.unknownPrediction }

    private enum CodingKeys: String, CodingKey {
        case model, predicted_outcome, observed_outcome, agrees, departing_phases, unavailable
    }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let predicted = try c.decodeSpelling("outcome code", forKey: .predicted_outcome) { text -> OutcomeCode?? in
            text == ShadowSummary.unknownPrediction ? .some(nil) : OutcomeCode(code: text).map { .some($0) }
        }
        self.init(model: try c.decode(String.self, forKey: .model), predicted_outcome: predicted,
                  observed_outcome: try c.decode(OutcomeCode.self, forKey: .observed_outcome),
                  agrees: try c.decode(Bool.self, forKey: .agrees),
                  departing_phases: try c.decode([String].self, forKey: .departing_phases),
                  unavailable: try c.decodeIfPresent(String.self, forKey: .unavailable))
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model, forKey: .model)
        try c.encode(predictedCode, forKey: .predicted_outcome)
        try c.encode(observed_outcome, forKey: .observed_outcome)
        try c.encode(agrees, forKey: .agrees)
        try c.encode(departing_phases, forKey: .departing_phases)
        try c.encodeIfPresent(unavailable, forKey: .unavailable)
    }
}

/// `results[].phases[].shadow`: what the shadow model predicted for the phase versus what was observed.
public struct ShadowPhaseDTO: Codable, Sendable {
    public var model: String
    public var predicted_vlbr: VlbrState?
    public var predicted_passthrough: Bool?
    public var predicted_inferred: InferredVlbr
    public var predicted_host_starved: Bool?
    public var observed_inferred: InferredVlbr
    public var observed_passthrough: Bool?
    public var observed_host_starved: Bool?
    public var agrees: Bool
    public var departures: [String]
    public init(model: String, predicted_vlbr: VlbrState?, predicted_passthrough: Bool?, predicted_inferred: InferredVlbr,
                predicted_host_starved: Bool?, observed_inferred: InferredVlbr, observed_passthrough: Bool?,
                observed_host_starved: Bool?, agrees: Bool, departures: [String]) {
        self.model = model; self.predicted_vlbr = predicted_vlbr; self.predicted_passthrough = predicted_passthrough
        self.predicted_inferred = predicted_inferred; self.predicted_host_starved = predicted_host_starved
        self.observed_inferred = observed_inferred; self.observed_passthrough = observed_passthrough
        self.observed_host_starved = observed_host_starved; self.agrees = agrees; self.departures = departures
    }
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
    public init(start_offset_ms: Double, guest_commands: Int, guest_tsc_begin: UInt64?, guest_tsc_end: UInt64?,
                exits: UInt64, msr_exits: UInt64, msr_accesses: Int, msr_trapped: Int, kmsg_lines: Int,
                context_switches: Int, host_samples: Int, host_empty: Int, host_stale_repeats: Int,
                host_guest_addresses: Int, host_lost: Int, host_throttled: Int, timed_steps: [TimedStepDTO]) {
        self.start_offset_ms = start_offset_ms; self.guest_commands = guest_commands
        self.guest_tsc_begin = guest_tsc_begin; self.guest_tsc_end = guest_tsc_end; self.exits = exits
        self.msr_exits = msr_exits; self.msr_accesses = msr_accesses; self.msr_trapped = msr_trapped
        self.kmsg_lines = kmsg_lines; self.context_switches = context_switches; self.host_samples = host_samples
        self.host_empty = host_empty; self.host_stale_repeats = host_stale_repeats
        self.host_guest_addresses = host_guest_addresses; self.host_lost = host_lost
        self.host_throttled = host_throttled; self.timed_steps = timed_steps
    }
}

/// What the first LBR_TOS probe after a timed step showed (`measures.timed_steps[].next_probe`).
public enum TosProbeReading: String, Hashable, Sendable, Codable, CaseIterable {
    /// The write reached the hardware (read back exactly, or moved by the branches in between).
    case stuck
    /// The write was dropped.
    case dropped
    /// Neither: another value came back.
    case odd
    /// The probe faulted or returned no value.
    case fault

    /// The reading of a TOS probe's classification.
    public init(_ c: VerdictEngine.TosProbe) {
        switch c {
        case .sticks, .sticksAfterBranches: self = .stuck
        case .dropped: self = .dropped
        case .odd: self = .odd
        case .fault, .noValue: self = .fault
        }
    }
}

/// `measures.timed_steps[]`.
public struct TimedStepDTO: Codable, Sendable, Equatable {
    /// `while-vcpu-runs` or `preemption`.
    public var timing: TimingMode
    /// The step, written as its spelling (`host open(pinned-lbr-any-cycles) [while-vcpu-runs: guest spin-for(2000us)]`).
    public var step: StepAction
    /// Guest TSC span and exits of the guest command the host action overlapped.
    public var guest_tsc_begin: UInt64
    public var guest_tsc_end: UInt64
    public var exits: UInt64
    /// The backend's overlap evidence as one sentence (hw: the host action's window on the guest's TSC line),
    /// when given; `host_window` holds the same numbers typed.
    public var overlap: String?
    /// The first LBR_TOS probe after the step: its end on the guest TSC and what it showed
    /// (`stuck`, `dropped`, `odd`, `fault`).
    public var next_probe_tsc: UInt64?
    public var next_probe: TosProbeReading?
    /// Where the host action fell on the guest's TSC line (hw), when the backend observed it.
    public var host_window: HostWindowDTO?
    public init(timing: TimingMode, step: StepAction, guest_tsc_begin: UInt64, guest_tsc_end: UInt64, exits: UInt64,
                overlap: String? = nil, next_probe_tsc: UInt64? = nil, next_probe: TosProbeReading? = nil,
                host_window: HostWindowDTO? = nil) {
        self.timing = timing; self.step = step; self.guest_tsc_begin = guest_tsc_begin; self.guest_tsc_end = guest_tsc_end
        self.exits = exits; self.overlap = overlap; self.next_probe_tsc = next_probe_tsc; self.next_probe = next_probe
        self.host_window = host_window
    }

    private enum CodingKeys: String, CodingKey {
        case timing, step, guest_tsc_begin, guest_tsc_end, exits, overlap, next_probe_tsc, next_probe, host_window
    }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(timing: try c.decode(TimingMode.self, forKey: .timing),
                  step: try c.decodeSpelling("step", forKey: .step, StepAction.init(code:)),
                  guest_tsc_begin: try c.decode(UInt64.self, forKey: .guest_tsc_begin),
                  guest_tsc_end: try c.decode(UInt64.self, forKey: .guest_tsc_end),
                  exits: try c.decode(UInt64.self, forKey: .exits),
                  overlap: try c.decodeIfPresent(String.self, forKey: .overlap),
                  next_probe_tsc: try c.decodeIfPresent(UInt64.self, forKey: .next_probe_tsc),
                  next_probe: try c.decodeIfPresent(TosProbeReading.self, forKey: .next_probe),
                  host_window: try c.decodeIfPresent(HostWindowDTO.self, forKey: .host_window))
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(timing, forKey: .timing)
        try c.encode(step.code, forKey: .step)
        try c.encode(guest_tsc_begin, forKey: .guest_tsc_begin)
        try c.encode(guest_tsc_end, forKey: .guest_tsc_end)
        try c.encode(exits, forKey: .exits)
        try c.encodeIfPresent(overlap, forKey: .overlap)
        try c.encodeIfPresent(next_probe_tsc, forKey: .next_probe_tsc)
        try c.encodeIfPresent(next_probe, forKey: .next_probe)
        try c.encodeIfPresent(host_window, forKey: .host_window)
    }
}

/// `measures.timed_steps[].host_window`: a host action taken while the vCPU ran the step's guest command, placed
/// on the guest's TSC line (`HostActionWindow`).
public struct HostWindowDTO: Codable, Sendable, Equatable {
    /// The host action, written as its spelling (`open(pinned-lbr-any-cycles)`).
    public var action: HostAction
    /// The action's start and end on the guest TSC line; absent when not measured.
    public var guest_tsc_start: UInt64?
    public var guest_tsc_end: UInt64?
    /// Uncertainty of the placement, in guest TSC ticks.
    public var error_ticks: UInt64
    /// Whether the action finished inside the guest command (within `error_ticks`); absent when not measured.
    public var inside_command: Bool?
    public init(action: HostAction, guest_tsc_start: UInt64?, guest_tsc_end: UInt64?, error_ticks: UInt64, inside_command: Bool?) {
        self.action = action; self.guest_tsc_start = guest_tsc_start; self.guest_tsc_end = guest_tsc_end
        self.error_ticks = error_ticks; self.inside_command = inside_command
    }
    public init(_ w: HostActionWindow) {
        self.init(action: w.action, guest_tsc_start: w.guestTscStart, guest_tsc_end: w.guestTscEnd,
                  error_ticks: w.errorTicks, inside_command: w.insideCommand)
    }
}

extension KeyedDecodingContainer {
    /// A value written as its spelling, read back by `parse`; a spelling `parse` does not know is a data error
    /// at `key` (the reader's exit 65), like an unknown enum case.
    func decodeSpelling<T>(_ what: String, forKey key: Key, _ parse: (String) -> T?) throws -> T {
        let text = try decode(String.self, forKey: key)
        guard let value = parse(text) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "unknown \(what) '\(text)'")
        }
        return value
    }
}

/// `results[].findings[]`.
public struct FindingDTO: Codable, Sendable, Hashable {
    public var kind: FindingKind
    public var security_relevant: Bool
    public var phase: String?
    public var count: Int
    public var summary: String
    public var example: String?
    /// What the finding rests on (hardware, kvm, model:NAME); absent only in documents before lbrprobe.run/3.
    public var basis: Basis?
    public init(kind: FindingKind, security_relevant: Bool, phase: String?, count: Int, summary: String, example: String?,
                basis: Basis? = nil) {
        self.kind = kind; self.security_relevant = security_relevant; self.phase = phase; self.count = count
        self.summary = summary; self.example = example; self.basis = basis
    }
}

/// One timeline event: `t_ns` from the scenario run's start on `timeline_clock`, a lane (docs/run-format.md
/// "Timeline"), a short ASCII label, a state word, and a duration for spans.
public struct TimelineEventDTO: Codable, Sendable, Hashable {
    public var t_ns: UInt64
    public var dur_ns: UInt64?
    public var lane: TimelineLane
    public var label: String
    public var state: TimelineState?
    /// Where the event comes from; absent for the run's own structure (phases, steps, outcome, notes).
    public var basis: Basis?
    public init(t_ns: UInt64, dur_ns: UInt64? = nil, lane: TimelineLane, label: String, state: TimelineState?, basis: Basis? = nil) {
        self.t_ns = t_ns; self.dur_ns = dur_ns; self.lane = lane; self.label = label; self.state = state; self.basis = basis
    }
}

/// `results[].terms[]`: one outcome term with its latency (recovered) or reason (unsupported, inconclusive, error).
public struct TermDTO: Codable, Sendable, Hashable {
    public struct Latency: Codable, Sendable, Hashable {
        public var guest_tsc_ticks: UInt64; public var exits: UInt64; public var guest_commands: Int
        public init(guest_tsc_ticks: UInt64, exits: UInt64, guest_commands: Int) {
            self.guest_tsc_ticks = guest_tsc_ticks; self.exits = exits; self.guest_commands = guest_commands
        }
    }
    public var code: OutcomeTerm
    public var detail: String
    public var path: RecoveryPath?
    public var latency: Latency?
    public var reason: String?
    public init(code: OutcomeTerm, detail: String, path: RecoveryPath? = nil, latency: Latency? = nil, reason: String? = nil) {
        self.code = code; self.detail = detail; self.path = path; self.latency = latency; self.reason = reason
    }
}

extension OutcomeTerm: SpelledValue {
    public static let spellingKind = "outcome term"
    public init?(code: String) { self.init(code: Substring(code)) }
}

/// `results[].phases[]`: one phase's verdict.
public struct PhaseDTO: Codable, Sendable {
    public struct Signal: Codable, Sendable {
        public var kind: SignalKind; public var vote: InferredVlbr; public var evidence: String
        /// A sample-based vote's N, the samples that showed its signature, and their share (absent otherwise;
        /// docs/reference.md §9.6).
        public var samples: Int? = nil
        public var matching: Int? = nil
        public var share: Double? = nil
        /// Where the signal's observations come from; absent only in documents before lbrprobe.run/3.
        public var basis: Basis?
        public init(kind: SignalKind, vote: InferredVlbr, evidence: String, sampleVote: SampleVote? = nil,
                    basis: Basis? = nil) {
            self.kind = kind; self.vote = vote; self.evidence = evidence; self.basis = basis
            self.samples = sampleVote?.samples; self.matching = sampleVote?.matching; self.share = sampleVote?.share
        }
    }
    public struct Host: Codable, Sendable {
        public var contender: String; public var state: HostEventState?
        public var samples, with_branches, empty_branches, guest_addresses: Int
        /// Stale-repeat starvation evidence; absent in older documents.
        public var stale_repeats: Int? = nil
        public var stale_example: String? = nil
        /// Where the contender's state and samples come from (hardware, or the model that played host perf).
        public var basis: Basis? = nil
        public init(contender: String, state: HostEventState?, samples: Int, with_branches: Int, empty_branches: Int,
                    guest_addresses: Int, stale_repeats: Int? = nil, stale_example: String? = nil, basis: Basis? = nil) {
            self.contender = contender; self.state = state; self.samples = samples; self.with_branches = with_branches
            self.empty_branches = empty_branches; self.guest_addresses = guest_addresses
            self.stale_repeats = stale_repeats; self.stale_example = stale_example; self.basis = basis
        }
    }
    public struct Truth: Codable, Sendable {
        public var vlbr: VlbrState?; public var passthrough: Bool?; public var agrees_with_inference: Bool?
        public init(vlbr: VlbrState?, passthrough: Bool?, agrees_with_inference: Bool?) {
            self.vlbr = vlbr; self.passthrough = passthrough; self.agrees_with_inference = agrees_with_inference
        }
    }
    public var name: String
    public var role: PhaseRole
    public var inferred: InferredVlbr
    public var agreeing: [SignalKind]
    public var disagreeing: [SignalKind]
    public var signals: [Signal]
    public var host: [Host]
    public var host_starved: Bool?
    /// N of the phase's host LBR samples (kept samples of its LBR contenders); absent without one. Below 8 its
    /// sample-based votes abstain (docs/reference.md §9.6).
    public var host_lbr_samples: Int? = nil
    public var ground_truth: Truth?
    public var evidence: [String]
    public var duration_ms: Double
    public var shadow: ShadowPhaseDTO? = nil
    public var measures: MeasuresDTO? = nil
    public init(name: String, role: PhaseRole, inferred: InferredVlbr, agreeing: [SignalKind], disagreeing: [SignalKind],
                signals: [Signal], host: [Host], host_starved: Bool?, ground_truth: Truth?, evidence: [String],
                duration_ms: Double, shadow: ShadowPhaseDTO? = nil, measures: MeasuresDTO? = nil) {
        self.name = name; self.role = role; self.inferred = inferred; self.agreeing = agreeing
        self.disagreeing = disagreeing; self.signals = signals; self.host = host; self.host_starved = host_starved
        self.ground_truth = ground_truth; self.evidence = evidence; self.duration_ms = duration_ms
        self.shadow = shadow; self.measures = measures
    }
}

/// `repeat_statistics[]`: one scenario's outcome shares and latency percentiles over its repeated runs.
public struct RepeatStatisticsDTO: Codable, Sendable, Equatable {
    public struct Outcome: Codable, Sendable, Equatable {
        /// An outcome code as `ScenarioOutcome.code` spells it (a summary key, kept as text).
        public var outcome: String; public var count: Int; public var share: Double
        public var wilson95_low: Double; public var wilson95_high: Double
        public init(outcome: String, count: Int, share: Double, wilson95_low: Double, wilson95_high: Double) {
            self.outcome = outcome; self.count = count; self.share = share
            self.wilson95_low = wilson95_low; self.wilson95_high = wilson95_high
        }
    }
    public struct Status: Codable, Sendable, Equatable {
        public var status: String; public var count: Int
        public init(status: String, count: Int) { self.status = status; self.count = count }
    }
    public struct Latency: Codable, Sendable, Equatable {
        public var count: Int; public var unit: String
        public var min, p50, p90, p99, max, mean: Double
        public init(count: Int, unit: String, min: Double, p50: Double, p90: Double, p99: Double, max: Double, mean: Double) {
            self.count = count; self.unit = unit; self.min = min; self.p50 = p50; self.p90 = p90; self.p99 = p99
            self.max = max; self.mean = mean
        }
    }
    public var scenario: String
    public var runs: Int
    public var outcomes: [Outcome]
    public var statuses: [Status]
    public var run_time: Latency?
    public var recovery_tsc_ticks: Latency?
    public var recovery_exits: Latency?
    public var takeover_bound: Latency?
    public init(scenario: String, runs: Int, outcomes: [Outcome], statuses: [Status], run_time: Latency?,
                recovery_tsc_ticks: Latency?, recovery_exits: Latency?, takeover_bound: Latency?) {
        self.scenario = scenario; self.runs = runs; self.outcomes = outcomes; self.statuses = statuses
        self.run_time = run_time; self.recovery_tsc_ticks = recovery_tsc_ticks; self.recovery_exits = recovery_exits
        self.takeover_bound = takeover_bound
    }
}
