// The fixed outcome vocabulary. Every outcome has a stable ASCII code (used by TAP, JSON, JUnit,
// KCIDB and `--expect` files) and a detail form that adds measured values.

/// Which guest/host action brought the vLBR back after contention ended.
public enum RecoveryPath: String, Hashable, Sendable, Codable, CaseIterable {
    /// The vLBR was active again before the guest did anything LBR-related (the first LBR MSR access after
    /// contention ended was already passed through).
    case none
    /// The first trapped LBR MSR access brought it back (Xiong's PATCH 3/4, reference §6.1).
    case lbrMsrAccess = "lbr-msr-access"
    /// Re-writing DEBUGCTL.LBR=1 brought it back (Sean's question in the seed thread).
    case debugctlRewrite = "debugctl-rewrite"
    /// DEBUGCTL.LBR=0, preemption inside KVM_RUN, then a fresh event on the next access: mainline's only
    /// path (`intel_pmu_cleanup()`, reference §1.6, §8.2, §8.4).
    case releaseAfterPreemption = "release-after-preemption"
}

/// How long a recovery took, measured from the first guest command after contention ended to the end of
/// the first guest command whose LBR_TOS readback stuck.
public struct RecoveryLatency: Hashable, Sendable, Codable {
    /// Guest TSC ticks.
    public var guestTscTicks: UInt64
    /// VM-exits counted over those guest commands.
    public var exits: UInt64
    /// Guest commands executed (including the successful one).
    public var guestCommands: Int
    public init(guestTscTicks: UInt64, exits: UInt64, guestCommands: Int) {
        self.guestTscTicks = guestTscTicks; self.exits = exits; self.guestCommands = guestCommands
    }
}

/// One outcome term.
public enum Outcome: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The vLBR stayed active during contention and the host's LBR event was starved (empty branch stacks,
    /// or the host event ended INACTIVE/ERROR) — mainline's behaviour with a host LBR event (§3.4, §8.1).
    case guestWinsHostStarved
    /// The vLBR was not active during contention (ERROR/INACTIVE/none): guest LBR writes were dropped and/or
    /// KVM logged "fail to passthrough LBR" (§1.4, §1.5, §8.2).
    case hostWinsVlbrError
    /// Both active, nothing starved.
    case coexist
    /// The vLBR became active again after contention ended, by `path`.
    case recovered(RecoveryPath, RecoveryLatency?)
    /// The vLBR stayed not active after contention ended, through every recovery attempt.
    case staysErrored
    /// Host LBR samples contained guest branch addresses.
    case guestTraced
    /// Host LBR samples contained no guest branch addresses.
    case notTraced
    /// The guest's LBR stack read the same after the vCPU thread was switched out.
    case retained
    /// The guest's LBR stack changed (or was wiped) across the switch.
    case lost
    /// The vLBR worked without contention (writes stick, MSRs passed through after the first access).
    case vlbrActive
    /// The vLBR did not work even without contention.
    case vlbrInactive
    /// The guest has no LBR at all (#GP on LBR MSRs): mediated-PMU or arch-LBR hosts (§1.10, §6.3). A tracing
    /// scenario whose host samples carry guest records is judged as one instead (arch-LBR hosts, §9.9).
    case noGuestLbr
    /// The backend or model cannot run this scenario.
    case unsupported(String)
    /// The signals did not allow a decision (missing or contradictory evidence).
    case inconclusive(String)
    /// The scenario could not be executed (backend failure, timeout).
    case error(String)

    /// Stable code, without measured values or reasons.
    public var code: String {
        switch self {
        case .guestWinsHostStarved: return "guest-wins-host-starved"
        case .hostWinsVlbrError: return "host-wins-vlbr-error"
        case .coexist: return "coexist"
        case let .recovered(p, _): return "recovered(\(p.rawValue))"
        case .staysErrored: return "stays-errored"
        case .guestTraced: return "guest-traced"
        case .notTraced: return "not-traced"
        case .retained: return "retained"
        case .lost: return "lost"
        case .vlbrActive: return "vlbr-active"
        case .vlbrInactive: return "vlbr-inactive"
        case .noGuestLbr: return "no-guest-lbr"
        case .unsupported: return "unsupported"
        case .inconclusive: return "inconclusive"
        case .error: return "error"
        }
    }

    /// Code plus measured values / reason, ASCII only, e.g. `recovered(lbr-msr-access,tsc=1200,exits=3,cmds=2)`.
    public var detail: String {
        switch self {
        case let .recovered(p, l?):
            return "recovered(\(p.rawValue),tsc=\(l.guestTscTicks),exits=\(l.exits),cmds=\(l.guestCommands))"
        case let .unsupported(r): return "unsupported(\(asciiReason(r)))"
        case let .inconclusive(r): return "inconclusive(\(asciiReason(r)))"
        case let .error(r): return "error(\(asciiReason(r)))"
        default: return code
        }
    }

    public var description: String { detail }

    /// The reason carried by unsupported/inconclusive/error outcomes.
    public var reason: String? {
        switch self {
        case let .unsupported(r), let .inconclusive(r), let .error(r): return r
        default: return nil
        }
    }

    /// Every code without parameters, plus the parameterised `recovered(<path>)` codes.
    public static let allCodes: [String] = {
        var c = ["guest-wins-host-starved", "host-wins-vlbr-error", "coexist"]
        c += RecoveryPath.allCases.map { "recovered(\($0.rawValue))" }
        c += ["stays-errored", "guest-traced", "not-traced", "retained", "lost", "vlbr-active", "vlbr-inactive",
              "no-guest-lbr", "unsupported", "inconclusive", "error"]
        return c
    }()
}

/// A scenario's outcome: one or more terms (see `Scenario.outcomeForm`), written joined by `+`.
public struct ScenarioOutcome: Hashable, Sendable, Codable, CustomStringConvertible {
    public var terms: [Outcome]
    public init(_ terms: [Outcome]) { self.terms = terms }
    public init(_ single: Outcome) { self.terms = [single] }

    /// Stable code, e.g. `host-wins-vlbr-error+recovered(lbr-msr-access)`.
    public var code: String { terms.map(\.code).joined(separator: "+") }
    /// Detailed form with latencies and reasons.
    public var detail: String { terms.map(\.detail).joined(separator: "+") }
    public var description: String { detail }

    /// The terms without latencies or reasons: what the `code` says, typed.
    public var termCodes: [OutcomeTerm] { terms.map(OutcomeTerm.init) }

    /// Whether both have the same terms, latencies and reasons aside (what their `code`s say).
    public func sameTerms(as other: ScenarioOutcome) -> Bool { termCodes == other.termCodes }

    /// The first unsupported/inconclusive/error term, if any.
    public var abnormal: Outcome? {
        terms.first { if case .unsupported = $0 { return true }; if case .inconclusive = $0 { return true }
                      if case .error = $0 { return true }; return false }
    }
}

/// Restricts a free-text reason to printable ASCII without `#`, newlines or parentheses imbalance issues.
func asciiReason(_ s: String) -> String {
    var out = ""
    for u in s.unicodeScalars {
        if u.value >= 0x20 && u.value < 0x7f && u != "#" { out.unicodeScalars.append(u) } else { out += "_" }
    }
    return out
}
