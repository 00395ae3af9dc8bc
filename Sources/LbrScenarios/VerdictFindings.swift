// The run's findings from its records (reported in every format next to the outcome).

import LbrCore

extension VerdictEngine {
    /// The run's findings from its records: `host-branch-leak` when the guest read LBR entries outside its own
    /// code (distinct FROM/TO pairs over every stack read; phase = the first phase that saw one).
    public static func findings(scenario: Scenario, session: SessionInfo, records: [PhaseRecord],
                                verdicts: [PhaseVerdict]) -> [Finding] {
        hostBranchLeak(session: session, records: records) + guestBranchLeak(records: records)
            + stackWipes(scenario: scenario, records: records, verdicts: verdicts)
    }

    /// `guest-lbr-wiped`: for each of the scenario's stack watches, the guest's frozen stack (the last read of the
    /// reference phase) against the first read of the check phase. Only while the check phase's vLBR is ACTIVE: a
    /// vLBR that lost the LBRs reads zeros (dummy accesses, §1.4), which the outcome already reports.
    static func stackWipes(scenario: Scenario, records: [PhaseRecord], verdicts: [PhaseVerdict]) -> [Finding] {
        scenario.stackWatches.compactMap { w -> Finding? in
            guard let r = records.first(where: { $0.phase == w.reference }), let ref = lastStack(r),
                  let c = records.first(where: { $0.phase == w.check }), let chk = firstStack(c),
                  verdicts.first(where: { $0.phase == w.check })?.inferred == .active,
                  ref.nonZeroEntries > 0, ref.tos != chk.tos || ref.from != chk.from || ref.to != chk.to
            else { return nil }
            let kept = Set(zip(chk.from, chk.to).filter { $0.0 != 0 || $0.1 != 0 }.map { [$0.0, $0.1] })
            let records = zip(ref.from, ref.to).filter { $0.0 != 0 || $0.1 != 0 }
            let gone = records.filter { !kept.contains([$0.0, $0.1]) }
            let top = Int(ref.tos) < ref.from.count ? (ref.from[Int(ref.tos)], ref.to[Int(ref.tos)]) : (0, 0)
            let now = Int(chk.tos) < chk.from.count ? (chk.from[Int(chk.tos)], chk.to[Int(chk.tos)]) : (0, 0)
            let step = scenario.phases.first { $0.name == w.check }?.steps.first { $0.guestCommand != .readLbrStack }
            return Finding(kind: .guestLbrWiped, phase: w.check, count: gone.count,
                           summary: "the guest's LBR stack, frozen at the end of phase \(w.reference) (LBR_SELECT suppressing every branch), read back changed at the first stack read of phase \(w.check) with the vLBR ACTIVE: \(gone.count) of its \(records.count) record(s) gone, TOS \(hex(ref.tos)) -> \(hex(chk.tos))"
                               + (step.map { " across `\($0.description)`" } ?? "")
                               + ": perf took the LBRs and gave them back without the guest's records (an install IPI's ctx_resched() schedules the vLBR out, the host event's intel_pmu_lbr_add() resets as the CPU's first LBR user; reference §9.8)",
                           example: "TOS entry before FROM \(hex(top.0)) -> TO \(hex(top.1)); after FROM \(hex(now.0)) -> TO \(hex(now.1))")
        }
    }

    static func firstStack(_ r: PhaseRecord) -> LbrStackSnapshot? {
        for t in r.observations {
            if case let .guest(g) = t.observation, g.command == .readLbrStack, g.status == .ok, let st = g.stack { return st }
        }
        return nil
    }

    /// `guest-branch-leak`: host LBR samples carried entries that exactly match the guest payload's edges
    /// (`HostSampleSummary.guestAddresses`; the model counts the entries its guest recorded). Phase = the first
    /// phase that saw one; the summary names every phase and contender with its sample count.
    static func guestBranchLeak(records: [PhaseRecord]) -> [Finding] {
        var total = 0
        var first: String?
        var parts: [String] = []
        for rec in records {
            var byContender: [(String, Int, Int)] = []
            for t in rec.observations {
                guard case let .hostSamples(s) = t.observation, s.guestAddresses > 0 else { continue }
                byContender.append((s.contender, s.guestAddresses, s.samples))
            }
            guard !byContender.isEmpty else { continue }
            if first == nil { first = rec.phase }
            for (c, n, samples) in byContender {
                total += n
                parts.append("\(rec.phase): \(n) guest branch record(s) in \(samples) sample(s) of \(c)")
            }
        }
        guard let first else { return [] }
        return [Finding(kind: .guestBranchLeak, phase: first, count: total,
                        summary: "host LBR samples carried \(total) record(s) of the guest's own branches (exact matches of the payload's edges) — \(parts.joined(separator: "; ")): the host profile contains the guest's control flow (a vLBR that is not ACTIVE while the guest runs with DEBUGCTL.LBR=1: vmx_set_msr() loads the guest's DEBUGCTL whatever the vLBR state and vlbr_exclude_host() is false; reference §9.7)")]
    }

    /// `host-branch-leak`: the guest read LBR entries outside its own code.
    static func hostBranchLeak(session: SessionInfo, records: [PhaseRecord]) -> [Finding] {
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

}
