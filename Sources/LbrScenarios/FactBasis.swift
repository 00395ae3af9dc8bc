// Carries each observation's basis (LbrCore `Basis`) onto what the verdict engine and the shadow comparison
// derive from it: signals, host readings and findings. Done once per result, from the records, so that every
// producer of a signal or a finding (present or future) is covered without knowing about bases.

import LbrCore

public enum FactBasis {
    /// Which observations a signal is read from.
    static func feeds(_ kind: SignalKind, _ o: Observation) -> Bool {
        switch (kind, o) {
        case (.guestFault, .guest), (.guestFault, .msrAccess): return true
        case (.tosReadback, .guest), (.stackContent, .guest), (.hostBranchLeak, .guest): return true
        case (.msrPassthrough, .msrAccess): return true
        case (.vlbrSlotHolder, .hostEvent): return true
        case (.hostStarvation, .hostSamples), (.hostStarvation, .hostEvent): return true
        case (.kmsgFailToPassthrough, .kmsg): return true
        default: return false
        }
    }

    /// The weakest basis of `observations` (model beats kvm beats hardware); nil when there are none.
    static func weakest<S: Sequence>(_ observations: S) -> Basis? where S.Element == TimedObservation {
        var acc: Basis?
        for t in observations {
            let b = acc.map { $0.weakest(t.basis) } ?? t.basis
            // Nothing is weaker than a model fact: `weakest` keeps it whatever follows, so the rest is not read.
            if case .model = b { return b }
            acc = b
        }
        return acc
    }

    /// The basis of what the contender named `name` showed (its state and samples).
    static func hostBasis(_ name: String, in rec: PhaseRecord) -> Basis? {
        weakest(rec.observations.lazy.filter {
            switch $0.observation {
            case let .hostEvent(c, _, _, _): return c == name
            case let .hostSamples(s): return s.contender == name
            default: return false
            }
        })
    }

    /// Stamps the signals and host readings of every phase and every finding of `r` with the basis of the
    /// observations they rest on. A finding rests on its phase's observations (all phases when it names none);
    /// anything already stamped by its producer keeps its basis.
    public static func stamp(_ r: inout ScenarioResult) {
        let records = Dictionary(r.records.map { ($0.phase, $0) }, uniquingKeysWith: { a, b in
            var m = a; m.observations += b.observations; return m
        })
        for i in r.phases.indices {
            guard let rec = records[r.phases[i].phase] else { continue }
            let phaseBasis = weakest(rec.observations)
            for j in r.phases[i].signals.indices where r.phases[i].signals[j].basis == nil {
                let kind = r.phases[i].signals[j].kind
                r.phases[i].signals[j].basis = weakest(rec.observations.lazy.filter { feeds(kind, $0.observation) }) ?? phaseBasis
            }
            for j in r.phases[i].host.indices where r.phases[i].host[j].basis == nil {
                r.phases[i].host[j].basis = hostBasis(r.phases[i].host[j].contender, in: rec) ?? phaseBasis
            }
        }
        // Without records (evidence not kept), the backend says: a model backend's findings are its model's.
        let all = weakest(r.records.lazy.flatMap(\.observations))
            ?? (r.backend.usesModel ? .model(r.model ?? "unnamed") : .hardware)
        for k in r.findings.indices where r.findings[k].basis == nil {
            let phase = r.findings[k].phase.flatMap { records[$0] }
            r.findings[k].basis = phase.flatMap { weakest($0.observations) } ?? all
        }
    }
}
