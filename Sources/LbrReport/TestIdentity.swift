// Farm test identity: how a result is named in TAP, JUnit, KCIDB and (through TAP) LAVA, so that a dashboard
// never files a model's prediction under the same name as a hardware measurement.
//
//   hw      TAP `host-first`                     JUnit classname `lbrprobe.hw`
//           KCIDB path `kvm.vlbr.host_first`
//   hybrid  TAP `hybrid-model-mainline.host-first`   JUnit classname `lbrprobe.hybrid-model-mainline`
//   sim     KCIDB path `lbrprobe_model.hybrid.mainline.host_first` (likewise `sim`)
//
// A model result's KCIDB path lies outside the `kvm.vlbr` subtree, so a dashboard's roll-up of `kvm.vlbr` for a
// build only ever counts hardware runs; its status is DONE instead of PASS (`kcidbStatus`): the model produced
// a prediction, which says nothing about the kernel under test. docs/farms.md explains the choice.

import Foundation
import LbrCore
import LbrScenarios

/// Names a result in farm outputs, with the basis in the name when the result is not a hardware measurement.
public enum TestIdentity {
    /// The segment that marks a model result (`hybrid-model-mainline`, `sim-model-seed-2023`); nil for hw.
    public static func modelSegment(backend: BackendKind, model: String?) -> String? {
        guard backend.usesModel else { return nil }
        return ReportSupport.testName("\(backend.rawValue)-model-\(model ?? "unnamed")")
    }

    /// The TAP (and LAVA test-case) name of a result: its test name, prefixed by the model segment.
    public static func tapName(_ r: ScenarioResult) -> String {
        let name = ReportSupport.testName(r.testName)
        return modelSegment(backend: r.backend, model: r.model).map { "\($0).\(name)" } ?? name
    }

    /// The JUnit testsuite name and testcase classname: `lbrprobe.hw`, `lbrprobe.hybrid-model-mainline`.
    public static func junitSuite(backend: BackendKind, model: String?) -> String {
        "lbrprobe." + (modelSegment(backend: backend, model: model) ?? backend.rawValue)
    }

    /// The KCIDB path: `kvm.vlbr.<scenario>` for hw, `lbrprobe_model.<backend>.<model>.<scenario>` otherwise
    /// (`-` spelled `_`, as KCIDB path components are conventionally written).
    public static func kcidbPath(_ r: ScenarioResult) -> String {
        func part(_ s: String) -> String { ReportSupport.testName(s).replacingOccurrences(of: "-", with: "_") }
        guard r.backend.usesModel else { return "kvm.vlbr." + part(r.scenario) }
        return ["lbrprobe_model", part(r.backend.rawValue), part(r.model ?? "unnamed"), part(r.scenario)]
            .joined(separator: ".")
    }

    /// KCIDB status. A model's PASS is DONE ("finished without a pass/fail judgement" of the kernel under
    /// test); FAIL (an unmet expectation the farm asked for), ERROR and SKIP keep their meaning.
    public static func kcidbStatus(_ s: ResultStatus, backend: BackendKind) -> String {
        switch s {
        case .pass: return backend.usesModel ? "DONE" : "PASS"
        case .fail: return "FAIL"
        case .error, .timeout: return "ERROR"
        case .skip: return "SKIP"
        }
    }

    /// What a result rests on, in one word for farm metadata: `hardware` or `model`.
    public static func basisWord(_ backend: BackendKind) -> String { backend.usesModel ? "model" : "hardware" }
}
