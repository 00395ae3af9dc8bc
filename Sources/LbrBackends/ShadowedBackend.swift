// The shadow model (LbrScenarios/Shadow.swift): a decorator that performs every step on the wrapped
// backend AND on a kernel model (`SimBackend`: `ModelHost` + the payload interpreter), so a hw run records
// what the model predicted for exactly the same step sequence. The same decorator wraps hybrid, whose own
// model ground truth (`.vlbr`/`.passthrough`) the shadow must reproduce (LbrBackendsTests checks it): one
// mechanism for both. The shadow never fails or slows the real run beyond its own model time: a shadow
// error stops the shadow (noted), not the run.

import LbrCore
import LbrModel
import LbrScenarios

/// Any backend plus a shadow kernel model driven through the same steps.
public final class ShadowedBackend: ScenarioBackend, ShadowModelSource {
    /// The backend that really runs (hw, hybrid, or a test stub).
    public let inner: any ScenarioBackend
    /// The shadow kernel model.
    public let variant: KernelVariant
    /// The PMU the shadow simulates (hw: the host's counters and LBR layout where known).
    public let pmu: ModelPMU
    private var shadow: SimBackend?
    private var pending: [TimedObservation] = []
    public private(set) var shadowSession: SessionInfo?

    public init(_ inner: any ScenarioBackend, variant: KernelVariant, pmu: ModelPMU = .skylake) {
        self.inner = inner; self.variant = variant; self.pmu = pmu
    }

    public var kind: BackendKind { inner.kind }
    public var modelName: String? { inner.modelName }
    /// The inner backend's guest code ranges (the host-branch-leak signal and finding need them, §9).
    public var guestCodeRanges: [Range<UInt64>]? { inner.guestCodeRanges }
    public var shadowModel: String { variant.name }

    public func availability() -> BackendAvailability { inner.availability() }
    public func support(for scenario: Scenario) -> ScenarioSupport { inner.support(for: scenario) }

    public func begin(_ scenario: Scenario, cpu: Int) throws(BackendError) -> SessionInfo {
        pending.removeAll()
        shadowSession = nil
        var info = try inner.begin(scenario, cpu: cpu)
        let s = SimBackend(variant: variant, pmu: pmu)
        do {
            shadowSession = try s.begin(scenario, cpu: cpu)
            shadow = s
            // On a model backend the shadow is the run's own model without the real guest: no check of a kernel.
            let compared = inner.kind.usesModel
                ? "set beside this run per phase (the same model played this run: not a check of any kernel)"
                : "predicted vs observed per phase"
            info.notes.append("shadow model \(variant.name): every step is also performed on the kernel model (\(pmu.lbrLayout.depth)-deep LBR, \(pmu.gpCounters) GP + \(pmu.fixedCounters) fixed counters); \(compared)")
        } catch {
            _ = s.end()
            info.notes.append("shadow model \(variant.name) not started: \(error.message)")
        }
        return info
    }

    public func perform(_ step: Step, deadlineNs: UInt64) throws(BackendError) -> [TimedObservation] {
        let obs = try inner.perform(step, deadlineNs: deadlineNs)
        if let s = shadow {
            do { pending += try s.perform(step, deadlineNs: UInt64.max) } catch {
                pending.append(TimedObservation(timeNs: 0, .note("shadow model stopped at \(step): \(error.message)"),
                                                basis: .model(variant.name)))
                pending += s.end()
                shadow = nil
            }
        }
        return obs
    }

    public func end() -> [TimedObservation] {
        let late = inner.end()
        if let s = shadow {
            pending += s.end()
            shadow = nil
        }
        return late
    }

    public func drainShadow() -> [TimedObservation] {
        defer { pending.removeAll() }
        return pending
    }
}
