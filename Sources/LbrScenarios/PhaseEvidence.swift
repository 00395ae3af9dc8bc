// One phase's observations accumulated into signal readings: one function per observation kind while the
// phase is read, one function per host-side signal once it has been read, then the phase verdict.
// Pure; `VerdictEngine.judge` drives it phase by phase (the guest's DEBUGCTL.LBR state carries over).

import LbrCore

/// The evidence of one phase as it is read, observation by observation.
struct PhaseEvidence {
    let layout: LbrLayout?
    /// Contenders that use the LBR (their samples feed the sample-based votes).
    let lbrContenders: Set<String>
    /// LBR contenders all of whose events exclude the guest (every sample is taken in host mode).
    let hostModeOnly: Set<String>
    /// The guest's own code ranges (host-branch-leak detection); nil when unknown.
    let guestCode: [Range<UInt64>]?
    /// Guest DEBUGCTL.LBR as last written (carried across phases).
    var guestLbrOn: Bool

    var evidence: [String] = []
    var readings: [SignalKind: SignalReading] = [:]
    var truth = GroundTruth(vlbr: nil, passthrough: nil, agreesWithInference: nil)
    var hostOrder: [String] = []
    var host: [String: HostReading] = [:]
    var lbrAccesses: [MsrAccess] = []
    var branchedWithLbrOn = false
    var kmsgLines = 0
    var kmsgSuppressed = 0

    static func hex(_ v: UInt64) -> String { VerdictEngine.hex(v) }

    // MARK: observations

    mutating func add(_ o: Observation) {
        switch o {
        case let .guest(r): guestResult(r)
        case let .msrAccess(a): msrAccess(a)
        case let .kmsg(line): kmsg(line)
        case let .hostEvent(c, state, en, run): hostEvent(c, state: state, enabledNs: en, runningNs: run)
        case let .hostSamples(s): hostSamples(s)
        case .hostSampleRecords, .kvmMsrTrace: break
        case let .vlbr(s): truth.vlbr = s
        case let .passthrough(p): truth.passthrough = p
        case let .contextSwitches(n): evidence.append("vCPU thread context switches: \(n)")
        case let .exits(e): evidence.append("exits: \(e.exits) (io \(e.ioExits), msr \(e.msrExits))")
        case let .hostActionWindow(w): evidence.append("note: \(w)")
        case let .modelContextSwitches(n): evidence.append("note: \(modelContextSwitchesText(n))")
        case let .note(n): evidence.append("note: \(n)")
        }
    }

    mutating func guestResult(_ r: GuestResult) {
        let cmd = r.command
        if case let .fault(v, rip) = r.status {
            evidence.append("guest \(cmd): #\(v == 13 ? "GP" : "vector \(v)") at \(Self.hex(rip))")
            if VerdictEngine.touchesLbrMsr(cmd, layout: layout) {
                readings[.guestFault] = SignalReading(kind: .guestFault, vote: .noLbr,
                                                      evidence: "guest \(cmd) faulted (vector \(v))")
            }
            return
        }
        if r.status != .ok { evidence.append("guest \(cmd): \(r.status)"); return }
        switch cmd {
        case .enableLbr:
            let on = r.values.first.map { $0 & DebugCtl.lbr != 0 } ?? true
            guestLbrOn = on
            evidence.append("guest \(cmd): DEBUGCTL reads \(r.values.first.map(Self.hex) ?? "?")\(on ? "" : " (LBR bit did not stick)")")
        case .disableLbr:
            guestLbrOn = false
            evidence.append("guest \(cmd): DEBUGCTL reads \(r.values.first.map(Self.hex) ?? "?")")
        case .branchPattern:
            if guestLbrOn { branchedWithLbrOn = true }
        case .writeTos, .probeTos:
            tosProbe(r)
        case .readLbrStack:
            stackRead(r)
        case .spin, .spinFor, .readTsc, .rdmsr, .wrmsr, .exitLoop, .hostSampleTime, .tracedPattern:
            break
        }
        // The payload's own control flow (command loop, helper call/ret) is recorded too with LBR on.
        if guestLbrOn { branchedWithLbrOn = true }
    }

    /// tos-readback: a LBR_TOS write that stuck ⇒ active, read back 0 ⇒ dropped.
    mutating func tosProbe(_ r: GuestResult) {
        let cmd = r.command
        guard let layout, let v = cmd.tosProbeValue else { return }
        let k = cmd.tosProbeBranchesBetween ?? 0
        let probe = VerdictEngine.classifyTos(written: v, result: r, tosMask: layout.tosMask, branchesBetween: k)
        let rb = r.values.first.map(Self.hex) ?? "?"
        switch probe {
        case .sticks:
            readings[.tosReadback] = SignalReading(kind: .tosReadback, vote: .active,
                evidence: "LBR_TOS write \(Self.hex(v)) read back \(rb) = value & \(Self.hex(layout.tosMask)): write stuck\(k == 0 ? " (branch-free probe)" : "")")
        case let .sticksAfterBranches(j):
            readings[.tosReadback] = SignalReading(kind: .tosReadback, vote: .active,
                evidence: "LBR_TOS write \(Self.hex(v)) read back \(rb) = (value + \(j)) & \(Self.hex(layout.tosMask)): write stuck, TOS moved by \(j) of the payload's own recorded branches between WRMSR and RDMSR")
        case .dropped:
            readings[.tosReadback] = SignalReading(kind: .tosReadback, vote: .notActive,
                evidence: "LBR_TOS write \(Self.hex(v)) read back 0: write dropped")
        case let .odd(x):
            evidence.append("LBR_TOS write \(Self.hex(v)) read back \(Self.hex(x)) (neither the value nor 0)")
        case .fault, .noValue:
            evidence.append("LBR_TOS write \(Self.hex(v)): no readback value")
        }
        evidence.append("guest \(cmd): readback \(rb)")
    }

    /// stack-content and host-branch-leak from one guest read of its LBR stack.
    mutating func stackRead(_ r: GuestResult) {
        guard let s = r.stack else { evidence.append("guest read-lbr-stack: no stack returned"); return }
        let n = s.nonZeroEntries
        let split = guestCode.map { VerdictEngine.splitStack(s, guestCode: $0) }
        evidence.append("guest read-lbr-stack: TOS \(s.tos), \(n)/\(s.from.count) non-zero entries"
                        + (split.map { ": \($0.own) in the guest's own code, \($0.outside.count) outside it" } ?? ""))
        if let split, !split.outside.isEmpty {
            let e = split.outside[0]
            readings[.hostBranchLeak] = SignalReading(kind: .hostBranchLeak, vote: .active,
                evidence: "\(split.outside.count) LBR entries outside the guest's code (e.g. \(Self.hex(e.from)) -> \(Self.hex(e.to)), \(VerdictEngine.addressClass(e))): host records read by the guest")
        }
        if n > 0 {
            readings[.stackContent] = SignalReading(kind: .stackContent, vote: .active,
                evidence: "LBR stack has \(n) non-zero entries"
                    + (split.map { " (\($0.own) of them the guest's own branches: pattern or payload control flow)" } ?? ""))
        } else if branchedWithLbrOn {
            readings[.stackContent] = SignalReading(kind: .stackContent, vote: .notActive,
                evidence: "LBR stack all zero after guest branches with DEBUGCTL.LBR=1")
        }
    }

    mutating func msrAccess(_ a: MsrAccess) {
        guard let layout, layout.isLbrMsr(a.index) else { return }
        if a.faulted {
            readings[.guestFault] = SignalReading(kind: .guestFault, vote: .noLbr,
                evidence: "\(a.isWrite ? "WRMSR" : "RDMSR") \(Self.hex(UInt64(a.index))) faulted")
        }
        lbrAccesses.append(a)
    }

    mutating func kmsg(_ line: String) {
        if line.contains(failToPassthroughMessage) {
            kmsgLines += 1
            readings[.kmsgFailToPassthrough] = SignalReading(kind: .kmsgFailToPassthrough, vote: .notActive,
                evidence: "\(kmsgLines) kmsg line(s): \(line)"
                    + (kmsgSuppressed > 0 ? "; \(kmsgSuppressed) suppressed by the global ratelimit" : "")
                    + " (weak: the ratelimit is system-wide and other VMs print the same line)")
        } else if let n = VerdictEngine.suppressedCount(line) {
            kmsgSuppressed += n
            evidence.append("kmsg: \(line) (global ratelimit: \(n) lines not printed, from any VM)")
        }
    }

    mutating func hostEntry(_ name: String) -> HostReading {
        if let h = host[name] { return h }
        hostOrder.append(name); return HostReading(contender: name, state: nil)
    }

    mutating func hostEvent(_ c: String, state: HostEventState, enabledNs: UInt64, runningNs: UInt64) {
        var h = hostEntry(c); h.state = state; host[c] = h
        evidence.append("host \(c): \(state.rawValue) (enabled \(enabledNs) ns, running \(runningNs) ns)")
    }

    mutating func hostSamples(_ s: HostSampleSummary) {
        var h = hostEntry(s.contender)
        h.samples += s.samples; h.withBranches += s.withBranches
        h.emptyBranches += s.emptyBranches; h.guestAddresses += s.guestAddresses
        h.staleRepeats = (h.staleRepeats ?? 0) + s.staleRepeats
        if h.staleExample == nil { h.staleExample = s.staleExample }
        host[s.contender] = h
        evidence.append("host \(s.contender): \(s.samples) samples, \(s.withBranches) with branches, \(s.emptyBranches) empty, \(s.staleRepeats) stale repeats (\(s.withHwIndex) with hw_idx)\(s.staleExample.map { ", e.g. \($0)" } ?? ""), \(s.guestAddresses) guest addresses, \(s.lost) lost\(s.samplePeriod.map { ", period \($0)" } ?? "")\(s.throttled > 0 ? ", \(s.throttled) throttled" : "")\(s.filteredOut > 0 ? ", \(s.filteredOut) filtered out" : "")")
    }

    // MARK: signals read once the phase is complete

    var hostList: [HostReading] { hostOrder.compactMap { host[$0] } }
    var lbrHost: [HostReading] { hostList.filter { lbrContenders.contains($0.contender) } }
    /// N: kept samples of the phase's LBR contenders.
    var lbrSamples: Int { lbrHost.reduce(0) { $0 + $1.samples } }

    /// msr-passthrough: whether the last LBR MSR access was still trapped (a lone first access: no vote).
    mutating func msrPassthroughSignal() {
        guard let last = lbrAccesses.last, !last.faulted else { return }
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

    /// vlbr-slot-holder: the 0x1b00 contender ACTIVE ⇒ counter 58 is the host's.
    mutating func slotHolderSignal() {
        guard let slot = host[Contender.vlbrSlot.name], let st = slot.state else { return }
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

    /// Whether a contender's stale repeats prove starvation: they do "while branches certainly ran" — for
    /// exclude_guest events, whose samples are all taken in host mode where the kernel's own code branches
    /// between any two samples; for an include-guest event only with guest DEBUGCTL.LBR=1 through the phase
    /// (a guest with LBR off records nothing, and identical stacks sampled in guest mode are genuine).
    func staleCounts(_ h: HostReading) -> Bool {
        hostModeOnly.contains(h.contender) || (guestLbrOn && branchedWithLbrOn)
    }

    /// The exact stale repeats behind the starvation vote (contenders whose repeats count).
    var staleRepeats: Int { lbrHost.filter(staleCounts).reduce(0) { $0 + ($1.staleRepeats ?? 0) } }

    /// host-starvation: votes only on N >= `VerdictEngine.minimumHostSamples`, from exact stale repeats
    /// only; empty stacks (nr == 0) are noted, never counted as starved (§9.6).
    mutating func starvationSignal() {
        guard !lbrHost.isEmpty else { return }
        let n = lbrSamples
        let empty = lbrHost.reduce(0) { $0 + $1.emptyBranches }
        if empty > 0 {
            evidence.append("host LBR samples with an empty stack (nr == 0): \(empty)/\(n) — noted, not a starvation vote: after the vLBR ran, cpuc->br_sel left by intel_pmu_lbr_del() makes intel_pmu_lbr_filter() drop host kernel-mode entries; only an exact repeat is starvation (§9.6)")
        }
        let stale = staleRepeats
        guard n >= VerdictEngine.minimumHostSamples else {
            evidence.append("host-starvation: no vote: too few samples (N = \(n) < \(VerdictEngine.minimumHostSamples), §9.6)")
            return
        }
        let vote = SampleVote(samples: n, matching: stale)
        let starved = stale * 2 > n
        let example = stale > 0 ? lbrHost.filter(staleCounts).compactMap(\.staleExample).first : nil
        readings[.hostStarvation] = SignalReading(kind: .hostStarvation, vote: starved ? .active : .notActive,
            evidence: "N = \(n) host LBR samples, \(vote.text) exact stale repeats of the same hw_idx and entries\(example.map { " (e.g. \($0))" } ?? "")\(empty > 0 ? ", \(empty) empty (nr == 0, not counted)" : "")",
            sampleVote: vote)
    }

    /// Whether the host contenders were starved: an ERROR/INACTIVE contender, or the starvation vote (N above
    /// the minimum); false when only non-LBR contenders ran, all ACTIVE; nil without evidence.
    var hostStarved: Bool? {
        let states = hostList.compactMap(\.state).filter { $0 != .closed && $0 != .off }
        if states.contains(where: { $0 == .error || $0 == .inactive }) { return true }
        if let r = readings[.hostStarvation] { return r.vote == .active }
        if !states.isEmpty && lbrHost.isEmpty { return false }
        return nil
    }

    // MARK: verdict

    mutating func verdict(phase: String, role: PhaseRole, durationNs: UInt64) -> PhaseVerdict {
        msrPassthroughSignal()
        slotHolderSignal()
        starvationSignal()
        if layout == nil {
            readings[.guestFault] = readings[.guestFault] ?? SignalReading(kind: .guestFault, vote: .noLbr,
                evidence: "the backend reports no guest LBR (no LBR layout)")
        }
        // Decision: first present signal in precedence order.
        let present = SignalKind.allCases.compactMap { readings[$0] }
        let inferred = present.first?.vote ?? .unknown
        var gt = truth
        if let v = gt.vlbr {
            switch inferred {
            case .active: gt.agreesWithInference = v == .active
            case .notActive: gt.agreesWithInference = v != .active
            case .noLbr: gt.agreesWithInference = v == .none
            case .unknown: gt.agreesWithInference = nil
            }
        }
        var pv = PhaseVerdict(phase: phase, role: role, inferred: inferred, signals: present,
                              agreeing: present.filter { $0.vote == inferred }.map(\.kind),
                              disagreeing: present.filter { $0.vote != inferred }.map(\.kind),
                              host: hostList, hostStarved: hostStarved,
                              groundTruth: (gt.vlbr != nil || gt.passthrough != nil) ? gt : nil,
                              evidence: evidence, durationNs: durationNs)
        pv.hostLbrSamples = lbrHost.isEmpty ? nil : lbrSamples
        return pv
    }
}
