// How text outputs say what a fact rests on (LbrCore `Basis`): hardware facts carry no mark; real KVM facts
// and model facts say so where a reader could take them for a hardware measurement.

import Foundation
import LbrCore
import LbrScenarios

enum BasisText {
    /// ", model mainline" / ", kvm" for a signal's `[kind => vote...]` tag; "" for hardware or unknown.
    static func tag(_ b: Basis?) -> String {
        guard let b, b != .hardware else { return "" }
        return ", \(b)"
    }

    /// "[tos-readback => active, model mainline] ...": one signal as an evidence line.
    static func signalLine(_ s: SignalReading) -> String {
        "[\(s.kind.rawValue) => \(s.vote.rawValue)\(tag(s.basis))] \(s.evidence)"
    }

    /// For a phase that mixes bases: "basis: model mainline (tos-readback, ...; host perf-lbr-...); kvm (...)";
    /// nil when its facts share one basis (then each signal's tag says which).
    static func phaseLine(_ p: PhaseVerdict) -> String? {
        var order: [Basis] = []
        var what: [Basis: [String]] = [:]
        func add(_ b: Basis?, _ s: String) {
            guard let b else { return }
            if what[b] == nil { order.append(b); what[b] = [] }
            what[b]!.append(s)
        }
        for s in p.signals { add(s.basis, s.kind.rawValue) }
        for h in p.host { add(h.basis, "host \(h.contender)") }
        // One basis: the signals' own tags say it; the line is for phases that mix real and model facts.
        guard order.count > 1, order.contains(where: { $0 != .hardware }) else { return nil }
        return "basis: " + order.map { "\($0) (\(what[$0]!.joined(separator: ", ")))" }.joined(separator: "; ")
    }

    /// The shadow comparison, worded for what it is: on hw, the kernel measured against a model; on a model
    /// backend, the backend's own model run without the real guest (it cannot check a kernel).
    static func shadowSummary(_ sh: ShadowSummary, backend: BackendKind) -> String {
        if let u = sh.unavailable { return "shadow model \(sh.model): not compared (\(u))" }
        if backend.usesModel {
            return "own model \(sh.model) (this backend's model, run without the real guest; not a check of any kernel): "
                + "predicted outcome \(sh.predictedCode), this run's \(sh.observedOutcome.code)"
                + (sh.agrees ? " (same)" : " (differs: the real guest did not behave as the simulated one)")
        }
        return "shadow model \(sh.model): predicted outcome \(sh.predictedCode), measured \(sh.observedOutcome.code)"
            + (sh.agrees ? " (agrees)" : " (kernel departs from model \(sh.model))")
    }

    /// One phase's shadow line: on a model backend, "own model ..." instead of "shadow model ...".
    static func shadowPhase(_ sp: ShadowPhase, backend: BackendKind) -> String {
        guard backend.usesModel else { return sp.line }
        return "own model (not a check): " + sp.line
            .replacingOccurrences(of: "shadow model ", with: "")
            .replacingOccurrences(of: "; observed ", with: "; this run ")
            .replacingOccurrences(of: " (agrees)", with: " (same)")
    }
}
