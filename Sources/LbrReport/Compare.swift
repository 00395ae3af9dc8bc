// `lbrprobe compare`: what changed between saved runs. Pure: a function of `lbrprobe.run/3`
// documents (read with `RunDocumentReader`), no system calls besides reading the files in `load`.
//
// Two documents: per scenario, the outcome (with --repeat: the majority outcome and the set of outcomes seen),
// per phase the inferred vLBR state, the model's ground truth (vLBR state, passthrough) and every signal's vote,
// the findings present in the results (`findings[] {kind, count, summary}`, decoded tolerantly: any result
// object may carry them), and timing shifts beyond noise. Changed = an outcome changed, a scenario is in one
// document only, or a finding kind appeared or disappeared (exit 1); phase, signal, finding-count and timing
// differences are reported but do not change the exit code on their own.
//
// N ≥ 3 documents (or --matrix): a fleet matrix, rows scenario, columns (kernel release, host CPU, backend,
// model), cells that differ from the first column marked.

import LbrDocument
import LbrScenarios
import Foundation
import Histogram
import LbrCore
import Synchronization

public enum Compare {
    /// Schema id of the JSON output.
    public static let schemaId = "lbrprobe.compare/1"

    // MARK: Input

    /// A finding reported in a result (`findings[]`), decoded tolerantly: only `kind` is required.
    public struct Finding: Hashable, Sendable, Codable {
        public var kind: String
        public var count: Int?
        public var summary: String?
        public init(kind: String, count: Int? = nil, summary: String? = nil) {
            self.kind = kind; self.count = count; self.summary = summary
        }
    }

    /// The part of an `lbrprobe.run/3` document compare reads (a projection of `JsonReport.RunDocument`: the
    /// same wire names, without evidence text, so 100 documents decode in one pass each), plus the findings.
    public struct Document: RunDocumentProjection, Sendable {
        public struct Result: Decodable, Sendable {
            public struct Term: Decodable, Sendable, Hashable { public var latency: JsonReport.TermDTO.Latency? }
            public struct Signal: Decodable, Sendable { public var kind: SignalKind; public var vote: InferredVlbr }
            public struct Phase: Decodable, Sendable {
                public var name: String
                public var role: PhaseRole
                public var inferred: InferredVlbr
                public var signals: [Signal]
                public var ground_truth: JsonReport.PhaseDTO.Truth?
            }
            public var scenario: String
            public var status: ResultStatus
            public var outcome: OutcomeCode
            public var duration_ms: Double
            public var terms: [Term]
            public var phases: [Phase]
            /// The findings, decoded tolerantly (only `kind` is required; anything else is ignored).
            public var findings: [Finding]
            /// Runs this entry stands for (a block of runs skipped or not started alike).
            public var runs: Int
            enum K: String, CodingKey { case scenario, status, outcome, duration_ms, terms, phases, findings, runs }
            public init(from d: any Decoder) throws {
                let c = try d.container(keyedBy: K.self)
                scenario = try c.decode(String.self, forKey: .scenario)
                status = try c.decode(ResultStatus.self, forKey: .status)
                outcome = try c.decode(OutcomeCode.self, forKey: .outcome)
                duration_ms = try c.decode(Double.self, forKey: .duration_ms)
                // The fleet matrix needs outcomes and findings only: leave phases and terms undecoded.
                let detail = d.userInfo[Compare.detailKey] as? Bool ?? true
                terms = detail ? try c.decode([Term].self, forKey: .terms) : []
                phases = detail ? try c.decode([Phase].self, forKey: .phases) : []
                findings = ((try? c.decodeIfPresent([Tolerant].self, forKey: .findings)) ?? nil)?.compactMap(\.finding) ?? []
                runs = max(1, (try? c.decodeIfPresent(Int.self, forKey: .runs)) ?? 1)
            }
        }
        public var schema: String
        public var backend: BackendKind
        public var model: String?
        public var kernel_release: String
        public var repeats: Int
        public var run_id: String?
        public var host: JsonReport.RunDocument.Host?
        public var results: [Result]
        /// Run-level findings, if a writer puts any at the top level.
        public var findings: [Finding]
        enum K: String, CodingKey { case schema, backend, model, kernel_release, repeats, run_id, host, results, findings }
        public init(from d: any Decoder) throws {
            let c = try d.container(keyedBy: K.self)
            schema = try c.decode(String.self, forKey: .schema)
            backend = try c.decode(BackendKind.self, forKey: .backend)
            model = try c.decodeIfPresent(String.self, forKey: .model)
            kernel_release = try c.decode(String.self, forKey: .kernel_release)
            repeats = try c.decode(Int.self, forKey: .repeats)
            run_id = try c.decodeIfPresent(String.self, forKey: .run_id)
            host = try c.decodeIfPresent(JsonReport.RunDocument.Host.self, forKey: .host)
            results = try c.decode([Result].self, forKey: .results)
            findings = ((try? c.decodeIfPresent([Tolerant].self, forKey: .findings)) ?? nil)?.compactMap(\.finding) ?? []
        }

        /// The wire members these fields come from: the reader passes only them to the decoder.
        public static func members(_ userInfo: [CodingUserInfoKey: any Sendable]) -> (top: JsonKeep, result: JsonKeep) {
            let detail = userInfo[Compare.detailKey] as? Bool ?? true
            // The matrix shows finding kinds; the pair also counts and summarises them.
            let finding = JsonKeep.members(detail ? [("kind", .all), ("count", .all), ("summary", .all)] : [("kind", .all), ("count", .all)])
            let top = JsonKeep.members([("schema", .all), ("backend", .all), ("model", .all), ("kernel_release", .all),
                                        ("repeats", .all), ("run_id", .all), ("host", .all), ("findings", finding)])
            var result: [(name: String, keep: JsonKeep)] = [("scenario", .all), ("status", .all), ("outcome", .all),
                                                            ("duration_ms", .all), ("findings", finding), ("runs", .all)]
            if detail {
                result.append(("terms", .members([("latency", .all)])))
                result.append(("phases", .members([("name", .all), ("role", .all), ("inferred", .all), ("ground_truth", .all),
                                                   ("signals", .members([("kind", .all), ("vote", .all)]))])))
            }
            return (top, .members(result))
        }

        /// Counts that compare adds up must be in `RunDocumentLimits`' range (durations saturate instead).
        public func outOfRange() -> String? {
            func count(_ v: Int, _ at: @autoclosure () -> String) -> String? {
                v >= 0 && v <= RunDocumentLimits.maxCount ? nil : "\(at()) = \(v) is outside [0, \(RunDocumentLimits.maxCount)]"
            }
            if let e = count(repeats, "repeats") { return e }
            for (i, r) in results.enumerated() {
                if let e = count(r.runs, "results[\(i)].runs") { return e }
                for (j, f) in r.findings.enumerated() {
                    if let n = f.count, let e = count(n, "results[\(i)].findings[\(j)].count") { return e }
                }
            }
            for (j, f) in findings.enumerated() {
                if let n = f.count, let e = count(n, "findings[\(j)].count") { return e }
            }
            return nil
        }

        public static func share(_ r: inout Result, _ pool: inout SharedValues) {
            pool.share(&r.scenario); pool.share(&r.outcome); pool.share(&r.findings); pool.share(&r.terms)
        }
    }

    /// One loaded document.
    public struct Input: Sendable {
        public var source: String
        public var document: Document
        /// Findings per result (same order as `document.results`).
        public var findings: [[Finding]] { document.results.map(\.findings) }
    }

    /// Decoder option: false skips phases and terms (what the fleet matrix does not show).
    static let detailKey = CodingUserInfoKey(rawValue: "lbrprobe.compare.detail")!

    /// Reads `path` (`-` = stdin) as a run document with its findings; errors are `RunDocumentReader`'s one-liners.
    /// `detail` false reads only outcomes and findings (enough for the matrix).
    public static func load(path: String, detail: Bool = true) throws(RunDocumentError) -> Input {
        Input(source: path, document: try RunDocumentReader.read(Document.self, path: path, userInfo: [detailKey: detail]))
    }

    public static func decode(_ data: Data, source: String, detail: Bool = true) throws(RunDocumentError) -> Input {
        Input(source: source, document: try RunDocumentReader.decode(Document.self, from: data, source: source,
                                                                      userInfo: [detailKey: detail]))
    }

    /// Whether `count` documents (with `--matrix` or not) make a matrix.
    public static func isMatrix(count: Int, forced: Bool) -> Bool { count != 2 || forced }

    /// Loads every path, decoding on all CPUs (documents are independent); the first failure in argument order
    /// is thrown. `detail` as in `load`.
    public static func loadAll(paths: [String], detail: Bool = true) throws(RunDocumentError) -> [Input] {
        let slots = Mutex<[Result<Input, RunDocumentError>?]>(Array(repeating: nil, count: paths.count))
        DispatchQueue.concurrentPerform(iterations: paths.count) { i in
            let r = Result { () throws(RunDocumentError) -> Input in try load(path: paths[i], detail: detail) }
            slots.withLock { $0[i] = r }
        }
        var out: [Input] = []
        for r in slots.withLock({ $0 }) { out.append(try r!.get()) }
        return out
    }

    /// A finding object, or nil when it has no string `kind`.
    struct Tolerant: Decodable {
        var finding: Finding?
        enum K: String, CodingKey { case kind, count, summary }
        init(from d: any Decoder) throws {
            guard let c = try? d.container(keyedBy: K.self), let kind = try? c.decode(String.self, forKey: .kind)
            else { finding = nil; return }
            finding = Finding(kind: kind, count: (try? c.decodeIfPresent(Int.self, forKey: .count)) ?? nil,
                              summary: (try? c.decodeIfPresent(String.self, forKey: .summary)) ?? nil)
        }
    }

    // MARK: Errors

    /// A compare failure: usage (64) or input data (65), one line.
    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        public var exitCode: LbrExitCode
        public var message: String
        public var description: String { message }
        public static func usage(_ m: String) -> Failure { Failure(exitCode: .usage, message: m) }
        public static func data(_ m: String) -> Failure { Failure(exitCode: .dataError, message: m) }
    }

    // MARK: Per-document view

    /// Who ran a document: the fleet matrix column.
    public struct Column: Hashable, Sendable, Codable {
        public var source: String
        public var run_id: String?
        public var kernel_release: String
        public var cpu: String
        public var hostname: String?
        public var backend: BackendKind
        public var model: String?
        public var repeats: Int
        /// "6.8.0-45-generic | GenuineIntel 6/0x55 | hw" (+ " | model" for hybrid/sim).
        public var label: String {
            [kernel_release, cpu, backend.rawValue].joined(separator: " | ") + (model.map { " | \($0)" } ?? "")
        }
    }

    /// One scenario as seen in one document (over its repeats).
    public struct ScenarioView: Sendable {
        public var scenario: String
        public var runs: Int
        /// Outcome code → count, by descending count then code.
        public var outcomes: [(outcome: String, count: Int)]
        public var majority: String { outcomes.first?.outcome ?? "" }
        public var outcomeSet: Set<String> { Set(outcomes.map(\.outcome)) }
        public var phases: [PhaseView]
        /// Finding kind → total count over runs (count 1 when a finding has none).
        public var findings: [String: Int]
        public var findingSummaries: [String: String]
        public var runTimesNs: [UInt64]
        public var recoveryTscTicks: [UInt64]

        /// `guest-wins-host-starved` or `a 48/50, b 2/50` when runs disagree.
        public var distributionText: String {
            outcomes.count == 1 && runs == outcomes[0].count ? majority
                : outcomes.map { "\($0.outcome) \($0.count)/\(runs)" }.joined(separator: ", ")
        }
    }

    /// One phase (majority over the runs that have it).
    public struct PhaseView: Sendable {
        public var name: String
        public var inferred: InferredVlbr
        public var groundTruthVlbr: VlbrState?
        public var passthrough: Bool?
        /// Signal kind → vote, in first-seen order.
        public var signals: [(kind: SignalKind, vote: InferredVlbr)]
    }

    public static func column(_ i: Input) -> Column {
        let d = i.document
        var cpu = "unknown CPU"
        if let h = d.host {
            if let v = h.cpu_vendor {
                cpu = v
                if let f = h.cpu_family, let m = h.cpu_model { cpu += " \(f)/0x\(String(m, radix: 16))" }
                if let n = h.cpu_model_name { cpu += " (\(n))" }
            }
        }
        return Column(source: i.source, run_id: d.run_id, kernel_release: d.host?.kernel_release ?? d.kernel_release,
                      cpu: cpu, hostname: d.host?.hostname, backend: d.backend, model: d.model, repeats: d.repeats)
    }

    /// Scenario views of a document, in first-result order; `detail` false leaves out phases and timings (the matrix).
    public static func views(_ input: Input, only filter: Set<String>? = nil, detail: Bool = true) -> [ScenarioView] {
        var order: [String] = []
        var idx: [String: [Int]] = [:]
        for (i, r) in input.document.results.enumerated() where filter?.contains(r.scenario) ?? true {
            if idx[r.scenario] == nil { order.append(r.scenario) }
            idx[r.scenario, default: []].append(i)
        }
        return order.map { name in
            let rs = idx[name]!.map { input.document.results[$0] }
            var findings: [String: Int] = [:], summaries: [String: String] = [:]
            for r in rs {
                for f in r.findings {
                    findings[f.kind] = saturatingSum(findings[f.kind] ?? 0, max(1, f.count ?? 1))
                    if summaries[f.kind] == nil, let s = f.summary { summaries[f.kind] = s }
                }
            }
            let timed = detail ? rs.filter { $0.status != .skip && $0.runs == 1 } : []
            return ScenarioView(
                scenario: name, runs: rs.reduce(0) { saturatingSum($0, $1.runs) },
                outcomes: ranked(rs.map { ($0.outcome.code, $0.runs) }).map { ($0.value, $0.count) },
                phases: detail ? phaseViews(rs) : [], findings: findings, findingSummaries: summaries,
                runTimesNs: timed.map { RepeatStatistics.nanoseconds(ms: $0.duration_ms) },
                recoveryTscTicks: detail ? rs.flatMap { $0.terms.compactMap { $0.latency?.guest_tsc_ticks } } : [])
        }
    }

    static func phaseViews(_ rs: [Document.Result]) -> [PhaseView] {
        var order: [String] = []
        var by: [String: [Document.Result.Phase]] = [:]
        for r in rs {
            for p in r.phases {
                if by[p.name] == nil { order.append(p.name) }
                by[p.name, default: []].append(p)
            }
        }
        return order.map { name in
            let ps = by[name]!
            var kinds: [SignalKind] = []
            var votes: [SignalKind: [InferredVlbr]] = [:]
            for p in ps {
                for s in p.signals {
                    if votes[s.kind] == nil { kinds.append(s.kind) }
                    votes[s.kind, default: []].append(s.vote)
                }
            }
            return PhaseView(
                name: name, inferred: majority(ps.map(\.inferred)) ?? .unknown,
                groundTruthVlbr: majority(ps.compactMap { $0.ground_truth?.vlbr }),
                passthrough: ranked(ps.compactMap { $0.ground_truth?.passthrough }.map { ($0, 1) }, order: { $0 ? "true" : "false" })
                    .first?.value,
                signals: kinds.map { ($0, majority(votes[$0]!)!) })
        }
    }

    /// The most frequent value (ties: the first by wire spelling); nil when there is none.
    static func majority<T: RawRepresentable & Hashable>(_ values: [T]) -> T? where T.RawValue == String {
        ranked(values.map { ($0, 1) }, order: \.rawValue).first?.value
    }

    /// Weighted values (value, how many runs) with counts, by descending count then value.
    static func ranked(_ values: [(String, Int)]) -> [(value: String, count: Int)] { ranked(values, order: { $0 }) }

    /// `a + b`, or `Int.max` past it (counts of runs are each in range, their sum over a document need not be).
    static func saturatingSum(_ a: Int, _ b: Int) -> Int {
        let (s, overflow) = a.addingReportingOverflow(b)
        return overflow ? .max : s
    }

    /// Weighted values with counts, by descending count then `order` (the value's wire spelling).
    static func ranked<T: Hashable>(_ values: [(T, Int)], order: (T) -> String) -> [(value: T, count: Int)] {
        var c: [T: Int] = [:]
        for (v, n) in values { c[v] = saturatingSum(c[v] ?? 0, n) }
        return c.map { ($0.key, $0.value) }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : order($0.0) < order($1.0) }
    }

    // MARK: Two documents

    /// What differs in a phase. On the wire: `vlbr` (inferred state), `ground-truth-vlbr`, `passthrough`,
    /// `signal:<kind>`, or `phase` (present in one document only).
    public enum PhaseField: Hashable, Sendable, Codable, CustomStringConvertible {
        case vlbr
        case groundTruthVlbr
        case passthrough
        case signal(SignalKind)
        case phase

        public var description: String {
            switch self {
            case .vlbr: return "vlbr"
            case .groundTruthVlbr: return "ground-truth-vlbr"
            case .passthrough: return "passthrough"
            case let .signal(k): return "signal:\(k.rawValue)"
            case .phase: return "phase"
            }
        }
        /// How the text report names the field.
        public var words: String {
            switch self {
            case .vlbr: return "vLBR state"
            case .groundTruthVlbr: return "model ground truth vLBR"
            case .passthrough: return "passthrough"
            case let .signal(k): return "signal \(k.rawValue)"
            case .phase: return "phase"
            }
        }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            let s = try c.decode(String.self)
            switch s {
            case "vlbr": self = .vlbr
            case "ground-truth-vlbr": self = .groundTruthVlbr
            case "passthrough": self = .passthrough
            case "phase": self = .phase
            default:
                guard s.hasPrefix("signal:"), let k = SignalKind(rawValue: String(s.dropFirst(7))) else {
                    throw DecodingError.dataCorruptedError(in: c, debugDescription: "unknown phase field \(s)")
                }
                self = .signal(k)
            }
        }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            try c.encode(description)
        }
    }

    public struct PhaseChange: Hashable, Sendable, Codable {
        public var phase: String
        public var field: PhaseField
        /// The field's value in each document as its wire spelling (`active`, `true`, `present`); nil: absent.
        public var base: String?
        public var new: String?
    }

    /// How a finding kind's count changed between the documents.
    public enum FindingChangeKind: String, Hashable, Sendable, Codable, CaseIterable {
        case appeared
        case disappeared
        /// Present in both with a different count (does not change the exit code).
        case count
    }

    public struct FindingChange: Hashable, Sendable, Codable {
        public var kind: String
        public var base_count: Int
        public var new_count: Int
        public var change: FindingChangeKind
        public var summary: String?
    }

    /// A timed quantity compare checks for shifts beyond noise.
    public enum TimedQuantity: String, Hashable, Sendable, Codable, CaseIterable {
        /// Run time, in ms.
        case runTime = "run-time"
        /// Recovery latency, in guest TSC ticks.
        case recoveryLatency = "recovery-latency"
        /// The unit on the wire.
        public var unit: String { self == .runTime ? "ms" : "guest-tsc-ticks" }
    }

    public struct TimingShift: Hashable, Sendable, Codable {
        public var quantity: TimedQuantity
        public var unit: String
        public var base_p50: Double
        public var new_p50: Double
        public var ratio: Double
        public var base_runs: Int
        public var new_runs: Int
    }

    /// A scenario's standing in a two-document comparison.
    public enum DiffStatus: String, Hashable, Sendable, Codable, CaseIterable {
        case same
        case changed
        case onlyInBase = "only-in-base"
        case onlyInNew = "only-in-new"
    }

    public struct ScenarioDiff: Hashable, Sendable, Codable {
        public var scenario: String
        public var status: DiffStatus
        public var base_outcome: String?
        public var new_outcome: String?
        public var base_distribution: String?
        public var new_distribution: String?
        public var outcome_changed: Bool
        public var phase_changes: [PhaseChange]
        public var finding_changes: [FindingChange]
        public var timing_shifts: [TimingShift]
        /// Whether this scenario makes the comparison "changed" (exit 1).
        public var changed: Bool
    }

    public struct PairReport: Hashable, Sendable, Codable {
        public var schema: String
        public var mode: String
        public var base: Column
        public var new: Column
        public var changed: Bool
        public var changed_scenarios: [String]
        public var scenarios: [ScenarioDiff]
        public var exit_code: Int
    }

    /// Timing-shift rule ("beyond noise"): both sides have ≥ `timingMinRuns` runs (one run has no noise
    /// estimate: use --repeat), their medians differ by ≥ 1.5× and by ≥ `floor` (1 ms run time, 1000 guest TSC
    /// ticks recovery latency), and their interquartile ranges [p25, p75] do not overlap.
    public static let timingRatio = 1.5
    public static let timingMinRuns = 3

    public static func pair(_ base: Input, _ new: Input, scenarios filter: Set<String>? = nil) throws(Failure) -> PairReport {
        let bv = views(base, only: filter), nv = views(new, only: filter)
        try checkFilter(filter, [bv, nv])
        let bNames = Set(bv.map(\.scenario)), nNames = Set(nv.map(\.scenario))
        if !bv.isEmpty, !nv.isEmpty, bNames.isDisjoint(with: nNames) {
            throw .data("\(base.source) and \(new.source) have no scenario in common (\(bv.map(\.scenario).joined(separator: ", ")) vs \(nv.map(\.scenario).joined(separator: ", "))): not comparable")
        }
        let nByName = Dictionary(uniqueKeysWithValues: nv.map { ($0.scenario, $0) })
        let bByName = Dictionary(uniqueKeysWithValues: bv.map { ($0.scenario, $0) })
        var diffs: [ScenarioDiff] = []
        for b in bv {
            guard let n = nByName[b.scenario] else {
                diffs.append(ScenarioDiff(scenario: b.scenario, status: .onlyInBase, base_outcome: b.majority, new_outcome: nil,
                                          base_distribution: b.distributionText, new_distribution: nil, outcome_changed: true,
                                          phase_changes: [], finding_changes: [], timing_shifts: [], changed: true))
                continue
            }
            diffs.append(diff(b, n))
        }
        for n in nv where bByName[n.scenario] == nil {
            diffs.append(ScenarioDiff(scenario: n.scenario, status: .onlyInNew, base_outcome: nil, new_outcome: n.majority,
                                      base_distribution: nil, new_distribution: n.distributionText, outcome_changed: true,
                                      phase_changes: [], finding_changes: [], timing_shifts: [], changed: true))
        }
        let changed = diffs.filter(\.changed).map(\.scenario)
        return PairReport(schema: schemaId, mode: "pair", base: column(base), new: column(new), changed: !changed.isEmpty,
                          changed_scenarios: changed, scenarios: diffs,
                          exit_code: Int((changed.isEmpty ? LbrExitCode.success : .failure).rawValue))
    }

    static func checkFilter(_ filter: Set<String>?, _ views: [[ScenarioView]]) throws(Failure) {
        guard let filter else { return }
        let present = Set(views.flatMap { $0.map(\.scenario) })
        let missing = filter.subtracting(present).sorted()
        if !missing.isEmpty { throw .data("--scenario \(missing.joined(separator: ", ")): in none of the documents") }
    }

    static func diff(_ b: ScenarioView, _ n: ScenarioView) -> ScenarioDiff {
        let outcomeChanged = b.majority != n.majority || b.outcomeSet != n.outcomeSet
        var phases: [PhaseChange] = []
        let nPh = Dictionary(n.phases.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let bPh = Set(b.phases.map(\.name))
        for bp in b.phases {
            guard let np = nPh[bp.name] else {
                phases.append(PhaseChange(phase: bp.name, field: .phase, base: "present", new: "absent")); continue
            }
            if bp.inferred != np.inferred {
                phases.append(PhaseChange(phase: bp.name, field: .vlbr, base: bp.inferred.rawValue, new: np.inferred.rawValue))
            }
            if let bg = bp.groundTruthVlbr, let ng = np.groundTruthVlbr, bg != ng {
                phases.append(PhaseChange(phase: bp.name, field: .groundTruthVlbr, base: bg.rawValue, new: ng.rawValue))
            }
            if let bt = bp.passthrough, let nt = np.passthrough, bt != nt {
                phases.append(PhaseChange(phase: bp.name, field: .passthrough, base: "\(bt)", new: "\(nt)"))
            }
            let ns = Dictionary(np.signals.map { ($0.kind, $0.vote) }, uniquingKeysWith: { a, _ in a })
            let bs = Dictionary(bp.signals.map { ($0.kind, $0.vote) }, uniquingKeysWith: { a, _ in a })
            for s in bp.signals where ns[s.kind] != s.vote {
                phases.append(PhaseChange(phase: bp.name, field: .signal(s.kind), base: s.vote.rawValue, new: ns[s.kind]?.rawValue))
            }
            for s in np.signals where bs[s.kind] == nil {
                phases.append(PhaseChange(phase: bp.name, field: .signal(s.kind), base: nil, new: s.vote.rawValue))
            }
        }
        for np in n.phases where !bPh.contains(np.name) {
            phases.append(PhaseChange(phase: np.name, field: .phase, base: "absent", new: "present"))
        }
        var findings: [FindingChange] = []
        for k in Set(b.findings.keys).union(n.findings.keys).sorted() {
            let bc = b.findings[k] ?? 0, nc = n.findings[k] ?? 0
            if bc == nc { continue }
            findings.append(FindingChange(kind: k, base_count: bc, new_count: nc,
                                          change: bc == 0 ? .appeared : nc == 0 ? .disappeared : .count,
                                          summary: n.findingSummaries[k] ?? b.findingSummaries[k]))
        }
        var timing: [TimingShift] = []
        if let t = shift(.runTime, b.runTimesNs, n.runTimesNs, scale: 1e-6, floor: 1) { timing.append(t) }
        if let t = shift(.recoveryLatency, b.recoveryTscTicks, n.recoveryTscTicks, scale: 1, floor: 1000) {
            timing.append(t)
        }
        let changed = outcomeChanged || findings.contains { $0.change != .count }
        return ScenarioDiff(scenario: b.scenario, status: changed ? .changed : .same, base_outcome: b.majority,
                            new_outcome: n.majority, base_distribution: b.distributionText, new_distribution: n.distributionText,
                            outcome_changed: outcomeChanged, phase_changes: phases, finding_changes: findings,
                            timing_shifts: timing, changed: changed)
    }

    /// p25, p50, p75 of `values` (HdrHistogram, 3 significant digits).
    static func quartiles(_ values: [UInt64]) -> (Double, Double, Double) {
        var h = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
        h.autoResize = true
        for v in values { _ = h.record(min(v, RepeatStatistics.maxRecordable)) }
        return (Double(h.valueAtPercentile(25)), Double(h.valueAtPercentile(50)), Double(h.valueAtPercentile(75)))
    }

    static func shift(_ q: TimedQuantity, _ b: [UInt64], _ n: [UInt64], scale: Double, floor: Double) -> TimingShift? {
        guard b.count >= timingMinRuns, n.count >= timingMinRuns else { return nil }
        let (b25, b50, b75) = quartiles(b), (n25, n50, n75) = quartiles(n)
        let bm = b50 * scale, nm = n50 * scale
        guard bm > 0, nm > 0, abs(nm - bm) >= floor else { return nil }
        let ratio = nm / bm
        guard ratio >= timingRatio || ratio <= 1 / timingRatio else { return nil }
        if !(n25 > b75 || n75 < b25) { return nil }
        return TimingShift(quantity: q, unit: q.unit, base_p50: RepeatStatistics.round3(bm), new_p50: RepeatStatistics.round3(nm),
                           ratio: RepeatStatistics.round3(ratio), base_runs: b.count, new_runs: n.count)
    }

    // MARK: Fleet matrix

    public struct Cell: Hashable, Sendable, Codable {
        /// Majority outcome; nil when the scenario is not in this document.
        public var outcome: String?
        /// Every outcome with its count when runs disagree (`a 48/50, b 2/50`).
        public var distribution: String?
        public var findings: [String]
        public var differs_from_first: Bool
    }

    public struct Row: Hashable, Sendable, Codable {
        public var scenario: String
        public var cells: [Cell]
        public var differs: Bool
    }

    public struct MatrixReport: Hashable, Sendable, Codable {
        public var schema: String
        public var mode: String
        public var columns: [Column]
        public var rows: [Row]
        public var changed: Bool
        public var exit_code: Int
    }

    public static func matrix(_ inputs: [Input], scenarios filter: Set<String>? = nil) throws(Failure) -> MatrixReport {
        let all = inputs.map { views($0, only: filter, detail: false) }
        try checkFilter(filter, all)
        var order: [String] = []
        var seen: Set<String> = []
        for vs in all { for v in vs where seen.insert(v.scenario).inserted { order.append(v.scenario) } }
        let maps = all.map { Dictionary(uniqueKeysWithValues: $0.map { ($0.scenario, $0) }) }
        let rows = order.map { s -> Row in
            let first = maps[0][s]
            let cells = maps.map { m -> Cell in
                let v = m[s]
                let differs = !(v.map { x in first.map { same(x, $0) } ?? false } ?? (first == nil))
                return Cell(outcome: v?.majority, distribution: v.flatMap { $0.outcomes.count > 1 ? $0.distributionText : nil },
                            findings: v.map { $0.findings.keys.sorted() } ?? [], differs_from_first: differs)
            }
            return Row(scenario: s, cells: cells, differs: cells.contains(where: \.differs_from_first))
        }
        let changed = rows.contains(where: \.differs)
        return MatrixReport(schema: schemaId, mode: "matrix", columns: inputs.map(column), rows: rows, changed: changed,
                            exit_code: Int((changed ? LbrExitCode.failure : .success).rawValue))
    }

    /// Same cell: same majority, same set of outcomes, same finding kinds.
    static func same(_ a: ScenarioView, _ b: ScenarioView) -> Bool {
        a.majority == b.majority && a.outcomeSet == b.outcomeSet && Set(a.findings.keys) == Set(b.findings.keys)
    }

    // MARK: Entry point

    public enum Format: String, Sendable, CaseIterable { case text, markdown, json }

    public enum Report: Sendable {
        case pair(PairReport)
        case matrix(MatrixReport)
        public var exitCode: LbrExitCode {
            switch self {
            case let .pair(p): return p.changed ? .failure : .success
            case let .matrix(m): return m.changed ? .failure : .success
            }
        }
    }

    /// Two inputs → pair (unless `matrix`), more → matrix. Fewer than two is a usage error.
    public static func run(_ inputs: [Input], scenarios: Set<String>? = nil, matrix forceMatrix: Bool = false) throws(Failure) -> Report {
        guard inputs.count >= 2 else {
            throw .usage("compare needs at least two run documents (got \(inputs.count)): lbrprobe compare BASE.json NEW.json [MORE.json...]")
        }
        if inputs.count == 2 && !forceMatrix { return .pair(try pair(inputs[0], inputs[1], scenarios: scenarios)) }
        return .matrix(try matrix(inputs, scenarios: scenarios))
    }

    public static func render(_ report: Report, format: Format) throws -> String {
        switch (report, format) {
        case let (.pair(p), .json): return try json(p)
        case let (.matrix(m), .json): return try json(m)
        case let (.pair(p), .text): return CompareText.pair(p, markdown: false)
        case let (.pair(p), .markdown): return CompareText.pair(p, markdown: true)
        case let (.matrix(m), .text): return CompareText.matrixText(m)
        case let (.matrix(m), .markdown): return CompareText.matrixMarkdown(m)
        }
    }

    static func json<T: Encodable>(_ v: T) throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try enc.encode(v), as: UTF8.self) + "\n"
    }
}

/// Text and Markdown renderings of compare reports.
enum CompareText {
    static func pair(_ p: Compare.PairReport, markdown md: Bool) -> String {
        var out: [String] = []
        let code: (String) -> String = { md ? "`\($0)`" : $0 }
        if md {
            out.append("### lbrprobe compare: \(p.changed ? "CHANGED" : "same outcomes")")
            out.append("")
            out.append("- base: \(code(p.base.label)) (\(p.base.source)\(p.base.run_id.map { ", run \($0)" } ?? ""))")
            out.append("- new: \(code(p.new.label)) (\(p.new.source)\(p.new.run_id.map { ", run \($0)" } ?? ""))")
            out.append("")
            out.append("| scenario | base | new | |")
            out.append("|---|---|---|---|")
            for d in p.scenarios {
                out.append("| \(d.scenario) | \(d.base_distribution.map(code) ?? "—") | \(d.new_distribution.map(code) ?? "—") | \(d.changed ? "**\(d.status.rawValue)**" : d.status.rawValue) |")
            }
        } else {
            out.append("lbrprobe compare: \(p.changed ? "CHANGED" : "same outcomes") (\(p.changed_scenarios.count) of \(p.scenarios.count) scenario(s) changed)")
            out.append("  base: \(p.base.label)  [\(p.base.source)\(p.base.run_id.map { ", run \($0)" } ?? "")]")
            out.append("  new:  \(p.new.label)  [\(p.new.source)\(p.new.run_id.map { ", run \($0)" } ?? "")]")
            out.append("")
            let w = max(8, p.scenarios.map(\.scenario.count).max() ?? 0)
            for d in p.scenarios {
                let mark = d.changed ? "*" : " "
                let name = d.scenario + String(repeating: " ", count: max(0, w - d.scenario.count))
                if d.outcome_changed {
                    out.append("\(mark) \(name)  \(d.base_distribution ?? "(absent)")  ->  \(d.new_distribution ?? "(absent)")")
                } else {
                    out.append("\(mark) \(name)  \(d.new_distribution ?? "")  (same)")
                }
            }
        }
        var details: [String] = []
        for d in p.scenarios where !d.phase_changes.isEmpty || !d.finding_changes.isEmpty || !d.timing_shifts.isEmpty {
            details.append(md ? "- **\(d.scenario)**" : "  \(d.scenario):")
            let ind = md ? "  - " : "    "
            for f in d.finding_changes {
                details.append("\(ind)finding \(code(f.kind)) \(f.change.rawValue): \(f.base_count) -> \(f.new_count)" + (f.summary.map { " (\($0))" } ?? ""))
            }
            for c in d.phase_changes {
                details.append("\(ind)phase \(c.phase): \(c.field.words) \(c.base ?? "absent") -> \(c.new ?? "absent")")
            }
            for t in d.timing_shifts {
                details.append("\(ind)\(t.quantity.rawValue) p50 \(RepeatStatistics.num(t.base_p50)) -> \(RepeatStatistics.num(t.new_p50)) \(t.unit) (x\(RepeatStatistics.num(t.ratio)); \(t.base_runs) vs \(t.new_runs) run(s))")
            }
        }
        if !details.isEmpty {
            out.append("")
            out.append(md ? "Details:" : "details:")
            out.append("")
            out += details
        }
        out.append("")
        out.append(p.changed ? "changed: \(p.changed_scenarios.joined(separator: ", ")); exit code \(p.exit_code)"
                   : "no outcome or finding changed; exit code \(p.exit_code)")
        return out.joined(separator: "\n") + "\n"
    }

    static func cellText(_ c: Compare.Cell) -> String {
        guard let o = c.outcome else { return "(absent)" }
        var s = c.distribution ?? o
        if !c.findings.isEmpty { s += " [" + c.findings.joined(separator: ",") + "]" }
        return s
    }

    /// Text: a legend of columns, then per scenario the outcome of column 1 and every column that differs.
    static func matrixText(_ m: Compare.MatrixReport) -> String {
        var out: [String] = []
        let nd = m.rows.filter(\.differs).count
        out.append("lbrprobe compare: fleet of \(m.columns.count) runs, \(nd) of \(m.rows.count) scenario(s) differ from column 1")
        for (i, c) in m.columns.enumerated() {
            out.append("  [\(i + 1)] \(c.label)  (\(c.source)\(c.hostname.map { ", host \($0)" } ?? ""))")
        }
        out.append("")
        let w = max(8, m.rows.map(\.scenario.count).max() ?? 0)
        for r in m.rows {
            let name = r.scenario + String(repeating: " ", count: max(0, w - r.scenario.count))
            var groups: [(text: String, cols: [Int])] = []
            for (i, c) in r.cells.enumerated() {
                let t = cellText(c)
                if let g = groups.firstIndex(where: { $0.text == t }) { groups[g].cols.append(i + 1) } else { groups.append((t, [i + 1])) }
            }
            let parts = groups.enumerated().map { (gi, g) in
                (gi == 0 ? "" : "*") + g.text + " on " + g.cols.map { "[\($0)]" }.joined()
            }
            out.append("\(r.differs ? "*" : " ") \(name)  " + parts.joined(separator: ";  "))
        }
        out.append("")
        out.append("* = differs from column [1]; exit code \(m.exit_code)")
        return out.joined(separator: "\n") + "\n"
    }

    /// Markdown table (mailing lists): differing cells in bold.
    static func matrixMarkdown(_ m: Compare.MatrixReport) -> String {
        var out: [String] = []
        out.append("### lbrprobe fleet matrix: \(m.rows.filter(\.differs).count) of \(m.rows.count) scenario(s) differ from column 1")
        out.append("")
        func esc(_ s: String) -> String {
            guard s.utf8.contains(UInt8(ascii: "|")) else { return s }
            return s.split(separator: "|", omittingEmptySubsequences: false).joined(separator: "\\|")
        }
        out.append("| scenario | " + m.columns.map { esc("\($0.kernel_release)<br>\($0.cpu)<br>\($0.backend)\($0.model.map { "/\($0)" } ?? "")") }.joined(separator: " | ") + " |")
        out.append("|---|" + String(repeating: "---|", count: m.columns.count))
        for r in m.rows {
            let cells = r.cells.map { c -> String in
                let t = "`" + esc(cellText(c)) + "`"
                return c.differs_from_first ? "**\(t)**" : t
            }
            out.append("| \(r.scenario) | " + cells.joined(separator: " | ") + " |")
        }
        out.append("")
        out.append("Bold: differs from the first column. Sources: " + m.columns.enumerated().map { "\($0.offset + 1). \($0.element.source)" }.joined(separator: "; "))
        return out.joined(separator: "\n") + "\n"
    }
}
