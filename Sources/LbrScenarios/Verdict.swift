// The verdict engine: per phase, the vLBR state inferred from the signals the backend observed, with
// which signals agreed and which disagreed; per scenario, an outcome from the fixed vocabulary.
// Model ground truth (`.vlbr`, `.passthrough`) is only reported as a cross-check, never used to infer.

import LbrCore

/// The vLBR state as inferred from signals (what a guest or host could actually see).
public enum InferredVlbr: String, Hashable, Sendable, Codable, CaseIterable {
    /// Guest LBR writes stick / MSRs passed through / host starved.
    case active
    /// ERROR, INACTIVE or no event: writes dropped, accesses trapped, "fail to passthrough LBR".
    case notActive = "not-active"
    /// The guest has no LBR at all (#GP on LBR MSRs, or the backend reports no guest LBR layout).
    case noLbr = "no-lbr"
    /// No signal in this phase.
    case unknown
}

/// A kind of signal the verdict engine reads. Listed in precedence order: when signals disagree, the
/// phase's inferred state is the vote of the first present signal in this order.
public enum SignalKind: String, Hashable, Sendable, Codable, CaseIterable {
    /// The guest got #GP on an LBR MSR (§1.3: not a valid LBR MSR for this vCPU ⇒ no guest LBR).
    case guestFault = "guest-fault"
    /// LBR_TOS write-then-read: `value & tosMask` ⇒ the write stuck ⇒ active; 0 ⇒ dropped (§1.4, §8.3).
    case tosReadback = "tos-readback"
    /// Whether LBR MSR accesses after the first one were still trapped: passed through ⇒ active (§1.5).
    case msrPassthrough = "msr-passthrough"
    /// LBR stack read: non-zero entries ⇒ reads hit hardware ⇒ active; all zero after the guest branched with
    /// DEBUGCTL.LBR=1 ⇒ dummy reads ⇒ not active (§1.4). The payload's own branches (command loop, helper
    /// call/ret) count as the guest's: any entry inside the guest's code is the guest's own recording (§9.3).
    case stackContent = "stack-content"
    /// The guest read LBR entries outside its own code: host records reached the guest (reference §9). A
    /// dummy read returns 0, so this also means the reads hit the hardware ⇒ active; reported as a finding.
    case hostBranchLeak = "host-branch-leak"
    /// The CPU-pinned 0x1b00 contender holds counter 58 (ACTIVE) ⇒ the vLBR cannot; lost it ⇒ the vLBR has it (§3.4 a).
    case vlbrSlotHolder = "vlbr-slot-holder"
    /// Host LBR samples taken while the vCPU ran were starved ⇒ the vLBR is active and `vlbr_exclude_host()`
    /// starves the host; fresh stacks ⇒ not active (§3.4, §8.1). Starved = a stale repeat (the same hw_idx and
    /// entries as the previous sample although branches certainly ran: `cpuc->lbr_stack` re-attached, §9.1) or
    /// an empty stack (nr == 0: that CPU never read its LBRs).
    case hostStarvation = "host-starvation"
    /// "fail to passthrough LBR" kernel messages ⇒ not active at some VM-entry (§1.5). A weak signal, last in
    /// precedence: the ratelimit is global (10 lines per 5 s, then "callbacks suppressed"), so silence is not
    /// evidence, and a line may come from another VM's vCPU (§9.4).
    case kmsgFailToPassthrough = "kmsg-fail-to-passthrough"
}

/// One signal's reading in one phase.
public struct SignalReading: Hashable, Sendable, Codable {
    public var kind: SignalKind
    public var vote: InferredVlbr
    public var evidence: String
    public init(kind: SignalKind, vote: InferredVlbr, evidence: String) {
        self.kind = kind; self.vote = vote; self.evidence = evidence
    }
}

/// What the host side looked like at the end of a phase, per contender.
public struct HostReading: Hashable, Sendable, Codable {
    public var contender: String
    public var state: HostEventState?
    public var samples: Int
    public var withBranches: Int
    public var emptyBranches: Int
    public var guestAddresses: Int
    // ---
    /// Stale repeats (same hw_idx and entries as the previous sample, §9.1); nil in documents written before.
    public var staleRepeats: Int?
    /// One stale stack, as evidence.
    public var staleExample: String?
    public init(contender: String, state: HostEventState?, samples: Int = 0, withBranches: Int = 0,
                emptyBranches: Int = 0, guestAddresses: Int = 0) {
        self.contender = contender; self.state = state; self.samples = samples; self.withBranches = withBranches
        self.emptyBranches = emptyBranches; self.guestAddresses = guestAddresses
    }
}

/// Model ground truth for a phase (hybrid/sim only), kept for cross-checking.
public struct GroundTruth: Hashable, Sendable, Codable {
    /// Last `.vlbr` state reported in the phase.
    public var vlbr: VlbrState?
    /// Last `.passthrough` reported in the phase.
    public var passthrough: Bool?
    /// Whether the inferred state matches `vlbr` (active ⇔ active); nil when not comparable.
    public var agreesWithInference: Bool?
}

/// The verdict for one phase.
public struct PhaseVerdict: Hashable, Sendable, Codable {
    public var phase: String
    public var role: PhaseRole
    public var inferred: InferredVlbr
    /// Every signal present, in precedence order.
    public var signals: [SignalReading]
    /// Signals whose vote equals `inferred`.
    public var agreeing: [SignalKind]
    /// Signals whose vote differs from `inferred`.
    public var disagreeing: [SignalKind]
    public var host: [HostReading]
    /// Whether the host contender(s) were starved (empty LBR stacks, or ERROR/INACTIVE); nil without evidence.
    public var hostStarved: Bool?
    public var groundTruth: GroundTruth?
    /// Human-readable evidence lines, one per observation summary.
    public var evidence: [String]
    public var durationNs: UInt64
    /// Shadow model: predicted versus observed for this phase (hw/hybrid runs with a shadow model; Shadow.swift).
    public var shadow: ShadowPhase? = nil

    /// Total guest branch addresses in host samples of LBR contenders during the phase.
    public var guestAddressesInHostSamples: Int { host.reduce(0) { $0 + $1.guestAddresses } }
    public var hostSamples: Int { host.reduce(0) { $0 + $1.samples } }
}

/// What the runner recorded for one phase.
public struct PhaseRecord: Hashable, Sendable, Codable {
    public var phase: String
    public var observations: [TimedObservation]
    /// Steps of this phase that completed.
    public var stepsCompleted: Int
    public var startNs: UInt64
    public var endNs: UInt64
    /// `observations.count` after each completed step (step k's observations are
    /// `observations[stepEnds[k-1]..<stepEnds[k]]`); nil when the producer did not record step boundaries.
    /// Used by the timeline to draw timed steps.
    public var stepEnds: [Int]?
    public init(phase: String, observations: [TimedObservation], stepsCompleted: Int, startNs: UInt64, endNs: UInt64,
                stepEnds: [Int]? = nil) {
        self.phase = phase; self.observations = observations; self.stepsCompleted = stepsCompleted
        self.startNs = startNs; self.endNs = endNs; self.stepEnds = stepEnds
    }
}

/// The verdict engine. Pure: same inputs, same verdict.
public enum VerdictEngine {
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

    /// The old, idealised rule (before stale repeats were understood): sticks only when the readback is exactly `written & mask`; and
    /// host starvation only from empty stacks. Kept as a named function for the test that shows what it would
    /// have concluded on hardware-shaped data; nothing else uses it.
    public static func idealisedTosSticks(written: UInt64, readback: UInt64, tosMask: UInt64) -> Bool {
        let expected = written & tosMask
        return expected != 0 && readback == expected
    }
    /// The old starvation rule: more than half of the host LBR samples empty.
    public static func idealisedHostStarved(samples: Int, empty: Int) -> Bool { empty * 2 > samples }

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

    static func judgePhase(_ rec: PhaseRecord, role: PhaseRole, layout: LbrLayout?, lbrContenders: Set<String>,
                           hostModeOnly: Set<String> = [], guestCode: [Range<UInt64>]? = nil,
                           guestLbrOn: inout Bool) -> PhaseVerdict {
        var evidence: [String] = []
        var readings: [SignalKind: SignalReading] = [:]
        var gt = GroundTruth(vlbr: nil, passthrough: nil, agreesWithInference: nil)
        var hostOrder: [String] = []
        var host: [String: HostReading] = [:]
        var lbrAccesses: [MsrAccess] = []
        var branchedWithLbrOn = false
        var kmsgLines = 0
        var kmsgSuppressed = 0

        func hostEntry(_ name: String) -> HostReading {
            if let h = host[name] { return h }
            hostOrder.append(name); return HostReading(contender: name, state: nil)
        }

        for t in rec.observations {
            switch t.observation {
            case let .guest(r):
                let cmd = r.command
                if case let .fault(v, rip) = r.status {
                    evidence.append("guest \(cmd): #\(v == 13 ? "GP" : "vector \(v)") at \(hex(rip))")
                    if touchesLbrMsr(cmd, layout: layout) {
                        readings[.guestFault] = SignalReading(kind: .guestFault, vote: .noLbr,
                                                              evidence: "guest \(cmd) faulted (vector \(v))")
                    }
                    continue
                }
                if r.status != .ok { evidence.append("guest \(cmd): \(r.status)"); continue }
                switch cmd {
                case .enableLbr:
                    let on = r.values.first.map { $0 & DebugCtl.lbr != 0 } ?? true
                    guestLbrOn = on
                    evidence.append("guest \(cmd): DEBUGCTL reads \(r.values.first.map(hex) ?? "?")\(on ? "" : " (LBR bit did not stick)")")
                case .disableLbr:
                    guestLbrOn = false
                    evidence.append("guest \(cmd): DEBUGCTL reads \(r.values.first.map(hex) ?? "?")")
                case .branchPattern:
                    if guestLbrOn { branchedWithLbrOn = true }
                case .writeTos, .probeTos:
                    guard let layout, let v = cmd.tosProbeValue else { break }
                    let k = cmd.tosProbeBranchesBetween ?? 0
                    let probe = classifyTos(written: v, result: r, tosMask: layout.tosMask, branchesBetween: k)
                    let rb = r.values.first.map(hex) ?? "?"
                    switch probe {
                    case .sticks:
                        readings[.tosReadback] = SignalReading(kind: .tosReadback, vote: .active,
                            evidence: "LBR_TOS write \(hex(v)) read back \(rb) = value & \(hex(layout.tosMask)): write stuck\(k == 0 ? " (branch-free probe)" : "")")
                    case let .sticksAfterBranches(j):
                        readings[.tosReadback] = SignalReading(kind: .tosReadback, vote: .active,
                            evidence: "LBR_TOS write \(hex(v)) read back \(rb) = (value + \(j)) & \(hex(layout.tosMask)): write stuck, TOS moved by \(j) of the payload's own recorded branches between WRMSR and RDMSR")
                    case .dropped:
                        readings[.tosReadback] = SignalReading(kind: .tosReadback, vote: .notActive,
                            evidence: "LBR_TOS write \(hex(v)) read back 0: write dropped")
                    case let .odd(x):
                        evidence.append("LBR_TOS write \(hex(v)) read back \(hex(x)) (neither the value nor 0)")
                    case .fault, .noValue:
                        evidence.append("LBR_TOS write \(hex(v)): no readback value")
                    }
                    evidence.append("guest \(cmd): readback \(rb)")
                case .readLbrStack:
                    guard let s = r.stack else { evidence.append("guest read-lbr-stack: no stack returned"); break }
                    let n = s.nonZeroEntries
                    let split = guestCode.map { splitStack(s, guestCode: $0) }
                    evidence.append("guest read-lbr-stack: TOS \(s.tos), \(n)/\(s.from.count) non-zero entries"
                                    + (split.map { ": \($0.own) in the guest's own code, \($0.outside.count) outside it" } ?? ""))
                    if let split, !split.outside.isEmpty {
                        let e = split.outside[0]
                        readings[.hostBranchLeak] = SignalReading(kind: .hostBranchLeak, vote: .active,
                            evidence: "\(split.outside.count) LBR entries outside the guest's code (e.g. \(hex(e.from)) -> \(hex(e.to)), \(addressClass(e))): host records read by the guest")
                    }
                    if n > 0 {
                        readings[.stackContent] = SignalReading(kind: .stackContent, vote: .active,
                            evidence: "LBR stack has \(n) non-zero entries"
                                + (split.map { " (\($0.own) of them the guest's own branches: pattern or payload control flow)" } ?? ""))
                    } else if branchedWithLbrOn {
                        readings[.stackContent] = SignalReading(kind: .stackContent, vote: .notActive,
                            evidence: "LBR stack all zero after guest branches with DEBUGCTL.LBR=1")
                    }
                case .spin, .spinFor, .readTsc, .rdmsr, .wrmsr:
                    break
                }
                // The payload's own control flow (command loop, helper call/ret) is recorded too with LBR on.
                if guestLbrOn { branchedWithLbrOn = true }
            case let .msrAccess(a):
                guard let layout, layout.isLbrMsr(a.index) else { continue }
                if a.faulted {
                    readings[.guestFault] = SignalReading(kind: .guestFault, vote: .noLbr,
                        evidence: "\(a.isWrite ? "WRMSR" : "RDMSR") \(hex(UInt64(a.index))) faulted")
                }
                lbrAccesses.append(a)
            case let .kmsg(line):
                if line.contains(failToPassthroughMessage) {
                    kmsgLines += 1
                    readings[.kmsgFailToPassthrough] = SignalReading(kind: .kmsgFailToPassthrough, vote: .notActive,
                        evidence: "\(kmsgLines) kmsg line(s): \(line)"
                            + (kmsgSuppressed > 0 ? "; \(kmsgSuppressed) suppressed by the global ratelimit" : "")
                            + " (weak: the ratelimit is system-wide and other VMs print the same line)")
                } else if let n = suppressedCount(line) {
                    kmsgSuppressed += n
                    evidence.append("kmsg: \(line) (global ratelimit: \(n) lines not printed, from any VM)")
                }
            case let .hostEvent(c, state, en, run):
                var h = hostEntry(c); h.state = state; host[c] = h
                evidence.append("host \(c): \(state.rawValue) (enabled \(en) ns, running \(run) ns)")
            case let .hostSamples(s):
                var h = hostEntry(s.contender)
                h.samples += s.samples; h.withBranches += s.withBranches
                h.emptyBranches += s.emptyBranches; h.guestAddresses += s.guestAddresses
                h.staleRepeats = (h.staleRepeats ?? 0) + s.staleRepeats
                if h.staleExample == nil { h.staleExample = s.staleExample }
                host[s.contender] = h
                evidence.append("host \(s.contender): \(s.samples) samples, \(s.withBranches) with branches, \(s.emptyBranches) empty, \(s.staleRepeats) stale repeats (\(s.withHwIndex) with hw_idx)\(s.staleExample.map { ", e.g. \($0)" } ?? ""), \(s.guestAddresses) guest addresses, \(s.lost) lost\(s.samplePeriod.map { ", period \($0)" } ?? "")\(s.throttled > 0 ? ", \(s.throttled) throttled" : "")\(s.filteredOut > 0 ? ", \(s.filteredOut) filtered out" : "")")
            case let .vlbr(s): gt.vlbr = s
            case let .passthrough(p): gt.passthrough = p
            case let .contextSwitches(n): evidence.append("vCPU thread context switches: \(n)")
            case let .exits(e): evidence.append("exits: \(e.exits) (io \(e.ioExits), msr \(e.msrExits))")
            case let .note(n): evidence.append("note: \(n)")
            }
        }

        // msr-passthrough signal.
        if let last = lbrAccesses.last, !last.faulted {
            let trapped = lbrAccesses.filter(\.trapped).count
            let summary = "\(lbrAccesses.count) LBR MSR accesses, \(trapped) trapped, last \(last.trapped ? "trapped" : "passed through")"
            if lbrAccesses.count == 1 && last.trapped {
                // The first access is always trapped (it creates the event, §1.4): no vote.
                evidence.append(summary + " (a lone first access: no vote)")
            } else {
                readings[.msrPassthrough] = SignalReading(kind: .msrPassthrough, vote: last.trapped ? .notActive : .active,
                                                          evidence: summary)
            }
        }

        // Host-side signals.
        let hostList = hostOrder.compactMap { host[$0] }
        if let slot = host[Contender.vlbrSlot.name], let st = slot.state {
            switch st {
            case .active:
                readings[.vlbrSlotHolder] = SignalReading(kind: .vlbrSlotHolder, vote: .notActive,
                    evidence: "\(slot.contender) ACTIVE: counter 58 is held by the host")
            case .error, .inactive:
                readings[.vlbrSlotHolder] = SignalReading(kind: .vlbrSlotHolder, vote: .active,
                    evidence: "\(slot.contender) \(st.rawValue): counter 58 is not the host's")
            case .off, .closed: break
            }
        }
        let lbrHost = hostList.filter { lbrContenders.contains($0.contender) }
        let samples = lbrHost.reduce(0) { $0 + $1.samples }
        let empty = lbrHost.reduce(0) { $0 + $1.emptyBranches }
        // Stale repeats prove starvation only "while branches certainly ran": for exclude_guest events, whose
        // samples are all taken in host mode, where the kernel's own code branches between any two samples. An
        // include-guest event also samples in guest mode, where a guest with DEBUGCTL.LBR=0 records nothing and
        // identical stacks are genuine.
        // With guest DEBUGCTL.LBR=1 through the phase the guest records too, so an include-guest event's
        // repeats count as well.
        let staleCounts: (HostReading) -> Bool = { hostModeOnly.contains($0.contender) || (guestLbrOn && branchedWithLbrOn) }
        let stale = lbrHost.filter(staleCounts).reduce(0) { $0 + ($1.staleRepeats ?? 0) }
        let starvedSamples = empty + stale
        if samples > 0 {
            let starved = starvedSamples * 2 > samples
            let example = stale > 0 ? lbrHost.filter(staleCounts).compactMap(\.staleExample).first : nil
            readings[.hostStarvation] = SignalReading(kind: .hostStarvation, vote: starved ? .active : .notActive,
                evidence: "\(starvedSamples)/\(samples) host LBR samples starved: \(stale) stale repeats of the same hw_idx and entries\(example.map { " (e.g. \($0))" } ?? ""), \(empty) empty (nr == 0)")
        }
        var hostStarved: Bool? = nil
        let states = hostList.compactMap(\.state).filter { $0 != .closed && $0 != .off }
        if states.contains(where: { $0 == .error || $0 == .inactive }) {
            hostStarved = true
        } else if samples > 0 {
            hostStarved = starvedSamples * 2 > samples
        } else if !states.isEmpty && lbrHost.isEmpty {
            hostStarved = false   // non-LBR contenders all ACTIVE
        }

        if layout == nil {
            readings[.guestFault] = readings[.guestFault] ?? SignalReading(kind: .guestFault, vote: .noLbr,
                evidence: "the backend reports no guest LBR (no LBR layout)")
        }

        // Decision: first present signal in precedence order.
        let present = SignalKind.allCases.compactMap { readings[$0] }
        let inferred = present.first?.vote ?? .unknown
        let agreeing = present.filter { $0.vote == inferred }.map(\.kind)
        let disagreeing = present.filter { $0.vote != inferred }.map(\.kind)

        if gt.vlbr != nil || gt.passthrough != nil {
            if let v = gt.vlbr {
                switch inferred {
                case .active: gt.agreesWithInference = v == .active
                case .notActive: gt.agreesWithInference = v != .active
                case .noLbr: gt.agreesWithInference = v == .none
                case .unknown: gt.agreesWithInference = nil
                }
            }
        }

        return PhaseVerdict(phase: rec.phase, role: role, inferred: inferred, signals: present, agreeing: agreeing,
                            disagreeing: disagreeing, host: hostList, hostStarved: hostStarved,
                            groundTruth: (gt.vlbr != nil || gt.passthrough != nil) ? gt : nil,
                            evidence: evidence, durationNs: rec.endNs &- rec.startNs)
    }

    /// Entries of `s` inside / outside the guest's code ranges (an entry counts as outside when its FROM or TO
    /// is non-zero and outside every range).
    static func splitStack(_ s: LbrStackSnapshot, guestCode: [Range<UInt64>]) -> (own: Int, outside: [(from: UInt64, to: UInt64)]) {
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

    // MARK: findings

    /// The run's findings from its records: `host-branch-leak` when the guest read LBR entries outside its own
    /// code (distinct FROM/TO pairs over every stack read; phase = the first phase that saw one).
    public static func findings(session: SessionInfo, records: [PhaseRecord]) -> [Finding] {
        guard let code = session.guestCodeRanges else { return [] }
        var seen = Set<[UInt64]>()
        var first: (phase: String, e: (from: UInt64, to: UInt64))?
        var kernel = 0, user = 0
        var phases: [String] = []
        for rec in records {
            for t in rec.observations {
                guard case let .guest(g) = t.observation, g.command == .readLbrStack, g.status == .ok, let s = g.stack else { continue }
                for e in splitStack(s, guestCode: code).outside where seen.insert([e.from, e.to]).inserted {
                    if first == nil { first = (rec.phase, e) }
                    if addressClass(e) == "host kernel address" { kernel += 1 } else { user += 1 }
                    if phases.last != rec.phase { phases.append(rec.phase) }
                }
            }
        }
        guard let first else { return [] }
        let n = seen.count
        return [Finding(kind: .hostBranchLeak, phase: first.phase, count: n,
                        summary: "guest read \(n) LBR record(s) outside its own code (\(kernel) host kernel, \(user) host user-space addresses) in phase(s) \(phases.joined(separator: ", ")): host branch records reached the guest (e.g. intel_pmu_lbr_add() does not reset the LBRs for a second LBR user; reference §9)",
                        example: "FROM \(hex(first.e.from)) -> TO \(hex(first.e.to)) (\(addressClass(first.e)))")]
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
        if session.lbrLayout == nil || verdicts.contains(where: { $0.inferred == .noLbr }) {
            return ScenarioOutcome(.noGuestLbr)
        }
        func v(_ name: String) -> PhaseVerdict? { verdicts.first { $0.phase == name } }
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
                if pv.guestAddressesInHostSamples > 0 { return .guestTraced }
                if pv.hostSamples > 0 { return .notTraced }
                return .inconclusive("no host LBR samples in phase \(p)")
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
            case nil: return .inconclusive("vLBR active in \(pv.phase) but no host-side evidence (no samples or event states)")
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
