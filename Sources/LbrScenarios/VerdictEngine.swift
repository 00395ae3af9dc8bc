// The verdict engine: per phase, the vLBR state inferred from the signals the backend observed, with
// which signals agreed and which disagreed; per scenario, an outcome from the fixed vocabulary.
// Model ground truth (`.vlbr`, `.passthrough`) is only reported as a cross-check, never used to infer.
// The per-phase accumulation of signals lives in PhaseEvidence.swift, findings in VerdictFindings.swift.

import LbrCore

/// The verdict engine. Pure: same inputs, same verdict.
public enum VerdictEngine {
    /// The fewest kept host LBR samples a sample-based vote (host-starvation, not-traced) may stand on. Below
    /// it the vote abstains and the phase says `inconclusive(too few samples: N)`, never `coexist` (§9.6): with
    /// N <= 2 a single unlucky sample decides the share, and hardware phases without calibrated host-mode time
    /// keep 0-5 samples (docs/reference.md §9.6).
    public static let minimumHostSamples = 8

    /// The tos probe sticks iff the readback equals `(written + j) & tosMask` for some 0 ≤ j ≤ the number of
    /// taken branches the payload runs between its WRMSR and RDMSR (each recorded branch moves TOS by one, §9.3:
    /// `writeTos` reads back v+2 on hardware; the branch-free `probeTos` exactly v), and is non-zero.
    public enum TosProbe: Hashable, Sendable {
        case sticks
        /// Stuck, and TOS moved by this many of the payload's own recorded branches before the read.
        case sticksAfterBranches(Int)
        case dropped, odd(UInt64), fault, noValue
        public var stuck: Bool {
            switch self { case .sticks, .sticksAfterBranches: return true; default: return false }
        }
    }

    public static func classifyTos(written: UInt64, result: GuestResult, tosMask: UInt64,
                                   branchesBetween: Int = 0) -> TosProbe {
        if case .fault = result.status { return .fault }
        guard result.status == .ok, let rb = result.values.first else { return .noValue }
        if rb == 0 { return .dropped }
        for j in 0...max(0, branchesBetween) where rb == (written &+ UInt64(j)) & tosMask {
            return j == 0 ? .sticks : .sticksAfterBranches(j)
        }
        return .odd(rb)
    }

    /// Judges every recorded phase and derives the scenario outcome.
    public static func evaluate(scenario: Scenario, session: SessionInfo, records: [PhaseRecord])
        -> (phases: [PhaseVerdict], outcome: ScenarioOutcome) {
        let phases = judge(scenario: scenario, session: session, records: records)
        return (phases, outcome(scenario: scenario, session: session, records: records, verdicts: phases))
    }

    // MARK: phase verdicts

    /// Judges each recorded phase in order (guest DEBUGCTL.LBR state is carried across phases).
    public static func judge(scenario: Scenario, session: SessionInfo, records: [PhaseRecord]) -> [PhaseVerdict] {
        var lbrOn = false
        var out: [PhaseVerdict] = []
        let lbrContenders = Set(scenario.contenders.filter(\.usesLbr).map(\.description))
        let hostModeOnly = Set(scenario.contenders.compactMap { spec -> String? in
            guard case let .contender(c) = spec, c.usesLbr, c.attributes.allSatisfy({ $0.excludeGuest }) else { return nil }
            return spec.description
        })
        for rec in records {
            let role = scenario.phases.first { $0.name == rec.phase }?.role ?? .setup
            out.append(judgePhase(rec, role: role, layout: session.lbrLayout, lbrContenders: lbrContenders,
                                  hostModeOnly: hostModeOnly, guestCode: session.guestCodeRanges, guestLbrOn: &lbrOn))
        }
        return out
    }

    static func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }

    /// Judges one phase: its observations in order through a `PhaseEvidence`, then the host-side signals.
    static func judgePhase(_ rec: PhaseRecord, role: PhaseRole, layout: LbrLayout?, lbrContenders: Set<String>,
                           hostModeOnly: Set<String> = [], guestCode: [Range<UInt64>]? = nil,
                           guestLbrOn: inout Bool) -> PhaseVerdict {
        var e = PhaseEvidence(layout: layout, lbrContenders: lbrContenders, hostModeOnly: hostModeOnly,
                              guestCode: guestCode, guestLbrOn: guestLbrOn)
        for t in rec.observations { e.add(t.observation) }
        guestLbrOn = e.guestLbrOn
        return e.verdict(phase: rec.phase, role: role, durationNs: rec.endNs &- rec.startNs)
    }

    /// Entries of `s` inside / outside the guest's code ranges (an entry counts as outside when its FROM or TO
    /// is non-zero and outside every range).
    public static func splitStack(_ s: LbrStackSnapshot, guestCode: [Range<UInt64>]) -> (own: Int, outside: [(from: UInt64, to: UInt64)]) {
        var own = 0
        var outside: [(from: UInt64, to: UInt64)] = []
        func inside(_ a: UInt64) -> Bool { a == 0 || guestCode.contains { $0.contains(a) } }
        for (f, t) in zip(s.from, s.to) where f != 0 || t != 0 {
            if inside(f) && inside(t) { own += 1 } else { outside.append((f, t)) }
        }
        return (own, outside)
    }

    /// "host kernel address" / "host user address" (canonical upper / lower half; the guest's code is known).
    static func addressClass(_ e: (from: UInt64, to: UInt64)) -> String {
        (e.from >= 0xffff_8000_0000_0000 || e.to >= 0xffff_8000_0000_0000) ? "host kernel address" : "host user-space address"
    }

    /// The N of a "<func>: N callbacks suppressed" kmsg line (lib/ratelimit.c ___ratelimit), else nil.
    static func suppressedCount(_ line: String) -> Int? {
        let suffix = " callbacks suppressed"
        guard line.hasSuffix(suffix) || line.contains(suffix) else { return nil }
        guard let cut = line.split(separator: ":").last?.split(separator: " ").first else { return nil }
        let digits = String(cut).filter(\.isNumber)
        return digits.isEmpty ? nil : Int(digits)
    }

    static func touchesLbrMsr(_ c: GuestCommand, layout: LbrLayout?) -> Bool {
        switch c {
        case .writeTos, .probeTos, .readLbrStack: return true
        case let .rdmsr(i), let .wrmsr(i, _): return layout?.isLbrMsr(i) ?? (i == MSR.lbrTos || i == MSR.lbrSelect)
        default: return false
        }
    }

    // MARK: outcome

    /// Derives the outcome terms from the phase verdicts according to the scenario's rule.
    public static func outcome(scenario: Scenario, session: SessionInfo, records: [PhaseRecord],
                               verdicts: [PhaseVerdict]) -> ScenarioOutcome {
        func v(_ name: String) -> PhaseVerdict? { verdicts.first { $0.phase == name } }
        if session.lbrLayout == nil || verdicts.contains(where: { $0.inferred == .noLbr }) {
            // A guest without LBR can still be traced by the host (arch-LBR hosts: the host's LBR_CTL records in
            // guest mode, reference §9.9): a tracing scenario whose host samples carry guest records is judged as
            // one; otherwise the question is moot.
            guard case let .tracing(ps) = scenario.rule,
                  ps.contains(where: { (v($0)?.guestAddressesInHostSamples ?? 0) > 0 }) else {
                return ScenarioOutcome(.noGuestLbr)
            }
        }
        func missing(_ name: String) -> Outcome { .inconclusive("phase \(name) did not run") }

        switch scenario.rule {
        case let .baseline(p):
            guard let pv = v(p) else { return ScenarioOutcome(missing(p)) }
            switch pv.inferred {
            case .active: return ScenarioOutcome(.vlbrActive)
            case .notActive: return ScenarioOutcome(.vlbrInactive)
            case .noLbr: return ScenarioOutcome(.noGuestLbr)
            case .unknown: return ScenarioOutcome(.inconclusive("no vLBR signal in phase \(p)"))
            }

        case let .contention(c, a):
            return contentionOutcome(contended: c, attempts: [a], scenario: scenario, session: session,
                                     records: records, verdicts: verdicts)
        case let .recovery(c, attempts):
            return contentionOutcome(contended: c, attempts: attempts, scenario: scenario, session: session,
                                     records: records, verdicts: verdicts)

        case let .takeover(ps):
            return ScenarioOutcome(ps.map { p in v(p).map(contendedTerm) ?? missing(p) })

        case let .tracing(ps):
            return ScenarioOutcome(ps.map { p -> Outcome in
                guard let pv = v(p) else { return missing(p) }
                // A guest address in a host sample is a hit whatever N; "not traced" is a sample vote.
                if pv.guestAddressesInHostSamples > 0 { return .guestTraced }
                let n = pv.hostLbrSamples ?? pv.hostSamples
                if n >= minimumHostSamples { return .notTraced }
                return .inconclusive("too few samples: \(n)")
            })

        case let .retention(pairs):
            return ScenarioOutcome(pairs.map { pair -> Outcome in
                guard let r = records.first(where: { $0.phase == pair.reference }) else { return missing(pair.reference) }
                guard let c = records.first(where: { $0.phase == pair.check }) else { return missing(pair.check) }
                guard let ref = lastStack(r) else { return .inconclusive("no LBR stack read in \(pair.reference)") }
                guard let chk = lastStack(c) else { return .inconclusive("no LBR stack read in \(pair.check)") }
                if ref.nonZeroEntries == 0 { return .inconclusive("reference stack in \(pair.reference) is empty") }
                return (ref.tos == chk.tos && ref.from == chk.from && ref.to == chk.to) ? .retained : .lost
            })
        }
    }

    static func lastStack(_ r: PhaseRecord) -> LbrStackSnapshot? {
        var s: LbrStackSnapshot?
        for t in r.observations {
            if case let .guest(g) = t.observation, g.command == .readLbrStack, g.status == .ok, let st = g.stack { s = st }
        }
        return s
    }

    /// The contended-phase term: who won.
    public static func contendedTerm(_ pv: PhaseVerdict) -> Outcome {
        switch pv.inferred {
        case .noLbr: return .noGuestLbr
        case .unknown: return .inconclusive("no vLBR signal in phase \(pv.phase)")
        case .notActive: return .hostWinsVlbrError
        case .active:
            switch pv.hostStarved {
            case true?: return .guestWinsHostStarved
            case false?: return .coexist
            case nil:
                if let n = pv.hostLbrSamples { return .inconclusive("too few samples: \(n)") }
                return .inconclusive("vLBR active in \(pv.phase) but no host-side evidence (no samples or event states)")
            }
        }
    }

    static func contentionOutcome(contended: String, attempts: [String], scenario: Scenario, session: SessionInfo,
                                  records: [PhaseRecord], verdicts: [PhaseVerdict]) -> ScenarioOutcome {
        guard let cv = verdicts.first(where: { $0.phase == contended }) else {
            return ScenarioOutcome(.inconclusive("phase \(contended) did not run"))
        }
        let first = contendedTerm(cv)
        switch first {
        case .hostWinsVlbrError:
            return ScenarioOutcome([first, recoveryTerm(attempts: attempts, scenario: scenario, session: session,
                                                        records: records)])
        case .guestWinsHostStarved, .coexist:
            // The guest never lost; flag an anomaly if it is not active at the end of the first attempt phase.
            if let a = attempts.first, let av = verdicts.first(where: { $0.phase == a }), av.inferred == .notActive {
                return ScenarioOutcome([first, .vlbrInactive])
            }
            return ScenarioOutcome(first)
        default:
            return ScenarioOutcome(first)
        }
    }

    /// Walks the attempt phases in order and finds the first guest command whose LBR_TOS write stuck.
    static func recoveryTerm(attempts: [String], scenario: Scenario, session: SessionInfo,
                             records: [PhaseRecord]) -> Outcome {
        guard let layout = session.lbrLayout else { return .noGuestLbr }
        var tscStart: UInt64?
        var exits: UInt64 = 0
        var commands = 0
        for (i, name) in attempts.enumerated() {
            guard let rec = records.first(where: { $0.phase == name }) else {
                return .inconclusive("phase \(name) did not run")
            }
            let phase = scenario.phases.first { $0.name == name }
            // Order of a command's `.msrAccess` and `.guest` observations within one step is not fixed.
            let firstLbrAccess: MsrAccess? = rec.observations.lazy.compactMap { t -> MsrAccess? in
                if case let .msrAccess(a) = t.observation, layout.isLbrMsr(a.index) { return a }
                return nil
            }.first
            for t in rec.observations {
                switch t.observation {
                case let .guest(g):
                    if tscStart == nil { tscStart = g.tscBegin }
                    commands += 1
                    exits &+= g.exits?.exits ?? 0
                    guard let v = g.command.tosProbeValue,
                          classifyTos(written: v, result: g, tosMask: layout.tosMask,
                                      branchesBetween: g.command.tosProbeBranchesBetween ?? 0).stuck else { continue }
                    let latency = RecoveryLatency(guestTscTicks: g.tscEnd >= (tscStart ?? 0) ? g.tscEnd - (tscStart ?? 0) : 0,
                                                  exits: exits, guestCommands: commands)
                    if i == 0 {
                        // The first attempt is a plain LBR MSR access; if the first LBR MSR access after
                        // contention ended was already passed through, the vLBR came back by itself.
                        guard let fa = firstLbrAccess else {
                            return .inconclusive("cannot tell recovered(none) from recovered(lbr-msr-access): no MSR trap signal")
                        }
                        return .recovered(fa.trapped ? .lbrMsrAccess : RecoveryPath.none, latency)
                    }
                    return .recovered(phase?.recoveryPath ?? .lbrMsrAccess, latency)
                default: break
                }
            }
        }
        return .staysErrored
    }
}
