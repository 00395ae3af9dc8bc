// The one factory for `lbrprobe run`'s backends, the model names, and the runner wiring.

import LbrCore
import LbrLinux
import LbrModel
import LbrScenarios
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Why a backend could not be constructed (a usage error for the CLI).
public struct BackendConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Backend construction.
public enum Backends {
    /// The kernel model used when `--model` is not given.
    public static let defaultModel = KernelVariant.mainline.name

    /// Every `--model` name (LbrModel's variants), in catalog order.
    public static var modelNames: [String] { KernelVariant.allCases.map(\.name) }

    /// The kernel variant for a model name.
    public static func variant(named name: String) throws(BackendConfigError) -> KernelVariant {
        guard let v = KernelVariant(name: name) else {
            throw BackendConfigError("unknown model '\(name)' (known: \(modelNames.joined(separator: ", ")))")
        }
        return v
    }

    /// Makes the backend of `kind`.
    /// - Parameters:
    ///   - model: the kernel variant name for hybrid/sim (default `defaultModel`); ignored by hw.
    ///   - profile: this host's profile (`HostProbe().probe()`); availability decisions come from
    ///     `LbrCore.Eligibility` on it.
    ///   - pmu: the PMU the model simulates (hybrid/sim).
    ///   - recordSamples: report every raw host sample (`.hostSampleRecords`), for `run --capture`.
    public static func make(kind: BackendKind, model: String?, profile: HostProfile, pmu: ModelPMU = .skylake,
                            logger: Logger? = nil, recordSamples: Bool = false) throws(BackendConfigError) -> any ScenarioBackend {
        switch kind {
        case .hw:
            // Shadow model (ShadowedBackend): hw runs also drive the kernel model `model` (default mainline).
            let hw = HwBackend(profile: profile, logger: logger)
            hw.recordSamples = recordSamples
            return ShadowedBackend(hw, variant: try variant(named: model ?? defaultModel), pmu: shadowPMU(profile))
        case .hybrid:
            let v = try variant(named: model ?? defaultModel)
            let hybrid = HybridBackend(variant: v, profile: profile, pmu: pmu, logger: logger)
            hybrid.recordSamples = recordSamples
            return ShadowedBackend(hybrid, variant: v, pmu: pmu)
        case .sim:
            let sim = SimBackend(variant: try variant(named: model ?? defaultModel), pmu: pmu, profile: profile,
                                 logger: logger)
            sim.recordSamples = recordSamples
            return sim
        }
    }

    /// The PMU a hw run's shadow model simulates: the host's CPUID.0xA counters, its LBR layout and KVM's LBR
    /// format where known, else the default Skylake-like PMU.
    public static func shadowPMU(_ profile: HostProfile) -> ModelPMU {
        var pmu = ModelPMU.skylake
        if let cpu = profile.cpu {
            if let a = cpu.archPmu, a.version > 0 { pmu.gpCounters = a.gpCounters; pmu.fixedCounters = a.fixedCounters }
            if let l = LbrLayout.forIntel(family: cpu.family, model: cpu.model) { pmu.lbrLayout = l }
        }
        if let caps = profile.kvm.supportedPerfCapabilities.value, PerfCapabilities.lbrFormat(caps).code != 0 {
            pmu.lbrFormat = PerfCapabilities.lbrFormat(caps)
        }
        return pmu
    }

    /// `--backend auto`: the availability of all three, then `BackendSelection.auto` (hw, else hybrid, else sim).
    /// Returns the chosen backend and the choice (what was passed over, with the blockers).
    public static func auto(model: String?, profile: HostProfile, pmu: ModelPMU = .skylake,
                            logger: Logger? = nil, recordSamples: Bool = false) throws(BackendConfigError) -> (backend: any ScenarioBackend, choice: AutoSelection) {
        var made: [BackendKind: any ScenarioBackend] = [:]
        var availability: [BackendKind: BackendAvailability] = [:]
        for k in BackendKind.allCases {
            let b = try make(kind: k, model: model, profile: profile, pmu: pmu, logger: logger, recordSamples: recordSamples)
            made[k] = b
            availability[k] = b.availability()
        }
        guard let pick = BackendSelection.auto(availability), let b = made[pick.chosen] else {
            // sim is always available; this only happens if Eligibility.sim ever gains a blocker.
            let passed = BackendKind.allCases.map { AutoSelection.PassedOver(backend: $0, reasons: availability[$0]?.blockers ?? []) }
            return (made[.sim]!, AutoSelection(chosen: .sim, detail: "no backend available", passedOver: passed))
        }
        return (b, pick)
    }

    /// A runner whose clock is CLOCK_MONOTONIC, the clock the backends compare `deadlineNs` with.
    /// - Parameter interruption: polled by the runner after every step (`Runner.init`); the CLI passes its
    ///   `TerminationSignals` flag.
    public static func runner(backend: any ScenarioBackend, options: RunOptions, expectations: ExpectationSet? = nil,
                              wallClockUnixNs: @escaping () -> UInt64? = { LbrLinux.wallClockUnixNs() },
                              interruption: @escaping @Sendable () -> Interruption? = { nil },
                              progress: @escaping (RunProgress) -> Void = { _ in }) -> Runner {
        Runner(backend: backend, options: options, expectations: expectations,
               monotonicNs: { LbrLinux.monotonicNs() }, wallClockUnixNs: wallClockUnixNs, interruption: interruption,
               progress: progress)
    }
}
