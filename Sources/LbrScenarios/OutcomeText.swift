// Plain-language answers: the one place that says, in words, what each outcome term means for
// the guest and the host. Text reports print `PlainAnswer.sentence(for:)` under each outcome; JSON carries it
// as `answer`; the timeline shows it. Wording follows docs/run-format.md's vocabulary table.

import LbrCore

extension Outcome {
    /// One clause (no capital, no final period) saying who got the LBRs, what the guest saw, whether the host
    /// was starved, whether anything leaked and what recovered — as far as this term tells.
    public var plainClause: String {
        switch self {
        case .guestWinsHostStarved:
            return "the guest got the LBRs (its LBR writes stuck) and the host's LBR event was starved"
        case .hostWinsVlbrError:
            return "the host kept the LBRs: KVM's vLBR event was not active, so the guest's LBR writes were dropped and it read zeros"
        case .coexist:
            return "guest and host both had working LBRs and nothing was starved"
        case let .recovered(path, latency):
            let how: String
            switch path {
            case .none: how = "by itself, before the guest did anything"
            case .lbrMsrAccess: how = "on the guest's next LBR MSR access"
            case .debugctlRewrite: how = "when the guest re-wrote DEBUGCTL.LBR=1"
            case .releaseAfterPreemption: how = "only after the guest cleared DEBUGCTL.LBR and the vCPU thread was preempted (event released and re-created)"
            }
            let cost = latency.map { ", after \($0.guestCommands) guest command(s) and \($0.exits) VM-exit(s)" } ?? ""
            return "the guest's LBR came back \(how)\(cost)"
        case .staysErrored:
            return "nothing the guest tried brought its LBR back"
        case .guestTraced:
            return "the host's LBR samples contained guest branch addresses (guest branches leaked to the host)"
        case .notTraced:
            return "no guest branch addresses leaked into the host's LBR samples"
        case .retained:
            return "the guest's LBR stack survived the vCPU thread being switched out"
        case .lost:
            return "the guest's LBR stack was lost or changed when the vCPU thread was switched out"
        case .vlbrActive:
            return "with no contender the guest's LBR worked (writes stuck, LBR MSRs passed through)"
        case .vlbrInactive:
            return "even with no contender the guest's LBR did not work"
        case .noGuestLbr:
            return "the guest has no LBR at all (#GP on the LBR MSRs)"
        case let .unsupported(r):
            return "not run: \(r)"
        case let .inconclusive(r):
            return "no answer: the evidence was missing or contradictory (\(r))"
        case let .error(r):
            return "the run failed: \(r)"
        }
    }
}

/// One-sentence answers for results, from `Outcome.plainClause` and the scenario's outcome form.
public enum PlainAnswer {
    /// One sentence for an outcome of `scenario` (nil: unknown scenario, clauses unlabelled).
    public static func sentence(_ outcome: ScenarioOutcome, scenario: Scenario?) -> String {
        let labels = scenario?.outcomeForm.termLabels ?? []
        let contexts = outcome.terms.indices.map { i in i < labels.count ? labels[i].context : nil }
        let plain = outcome.terms.map(\.plainClause)
        var s: String
        if plain.count > 1, Set(plain).count == 1 {
            // The same answer in every case: say it once, and in which cases.
            let cs = contexts.compactMap { $0 }
            s = plain[0] + (cs.count == plain.count ? " (" + (cs.count == 2 ? "both \(cs[0]) and \(cs[1])" : "in every case: " + cs.joined(separator: ", ")) + ")" : "")
        } else if plain.count > 1 {
            s = zip(plain, contexts).map { p, c in c.map { "\($0), \(p)" } ?? p }.joined(separator: "; ")
        } else if let p = plain.first {
            s = p
        } else {
            return "No outcome."
        }
        return s.prefix(1).uppercased() + s.dropFirst() + "."
    }

    /// The answer of a run skipped because its backend is unavailable, without the final period (text reports
    /// go on with "; so is every run below").
    public static func backendUnavailableClause(_ backend: BackendKind) -> String {
        "Not run: backend \(backend.rawValue) is unavailable on this host (its blockers are listed once, at the top)"
    }

    /// The sentence for a result (its scenario looked up in the catalog).
    public static func sentence(for r: ScenarioResult) -> String {
        // The backend's blockers are reported once per run, not again in every skipped result.
        if r.notRun == .backendUnavailable { return backendUnavailableClause(r.backend) + "." }
        return sentence(r.outcome, scenario: Catalog.named(r.scenario))
    }

    /// What PASS/FAIL meant for this result: whether an expectation was checked.
    public static func statusMeaning(_ r: ScenarioResult) -> String {
        switch (r.status, r.expectation) {
        case (.pass, .met(let e, _)): return "PASS: verdict reached and it matches the expectation \(e)"
        case (.pass, .none): return "PASS: verdict reached; no expectation was checked (no --expect file)"
        case (.pass, .notListed): return "PASS: verdict reached; the --expect file has no entry for it, nothing was checked"
        case (.fail, .unmet(let e, _)): return "FAIL: the verdict \(r.outcome.code) does not match the expectation \(e)"
        case (.skip, _): return "SKIP: not run\(r.expectation.expected.map { "; expectation \($0) not checked" } ?? "")"
        case (.timeout, _): return "TIMEOUT: no verdict\(r.expectation.expected.map { "; expectation \($0) not checked" } ?? "")"
        case (.error, _): return "ERROR: no verdict\(r.expectation.expected.map { "; expectation \($0) not checked" } ?? "")"
        default: return "\(r.status.rawValue.uppercased()): expectation \(r.expectation.code)"
        }
    }
}
