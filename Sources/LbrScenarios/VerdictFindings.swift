// The run's findings from its records (reported in every format next to the outcome).

import LbrCore

extension VerdictEngine {
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

}
