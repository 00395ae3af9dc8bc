import Foundation
import LbrCore
@testable import LbrScenarios

/// A small deterministic backend for report tests: every scenario runs with an active vLBR except the
/// ones named in `inactive`; `skip`, `fail` and `timeout` scenarios are steered through the runner.
final class ReportFixtureBackend: ScenarioBackend {
    var kind: BackendKind = .sim
    var modelName: String? = "mainline"
    var avail: BackendAvailability = .available(detail: "kernel model mainline")
    var unsupported: [String: String] = [:]
    var throwIn: [String: BackendError] = [:]
    var inactive: Set<String> = []
    var hugeEvidence = false
    /// Where a host action taken while the vCPU runs falls after its guest command's start (guest TSC ticks);
    /// nil: no host action window is observed.
    var hostWindowStartAfterBegin: UInt64? = nil
    private var scenario = ""
    private var open: [ContenderSpec] = []
    private var tsc: UInt64 = 0
    private(set) var ends = 0

    func availability() -> BackendAvailability { avail }
    func support(for s: Scenario) -> ScenarioSupport { unsupported[s.name].map { .unsupported(reason: $0) } ?? .supported }
    func begin(_ s: Scenario, cpu: Int) throws(BackendError) -> SessionInfo {
        scenario = s.name; open = []
        return SessionInfo(backend: kind, model: modelName, cpu: cpu, lbrLayout: .skylake, notes: ["fixture <&\"'>"])
    }
    func perform(_ step: Step, deadlineNs: UInt64) throws(BackendError) -> [TimedObservation] {
        if let e = throwIn[scenario] { throw e }
        let active = !inactive.contains(scenario)
        var out: [Observation] = []
        if case let .open(c)? = step.hostAction { open.append(c) }
        if case let .close(c)? = step.hostAction { open.removeAll { $0 == c } }
        if let g = step.guestCommand {
            let b = tsc; tsc += 500
            switch g {
            case let .writeTos(v), let .probeTos(v):
                out.append(.msrAccess(MsrAccess(index: MSR.lbrTos, isWrite: true, value: v, trapped: !active)))
                out.append(.guest(GuestResult(command: g, status: .ok, values: [active ? v & 31 : 0], tscBegin: b, tscEnd: tsc,
                                              exits: ExitCounters(exits: 1))))
            case .readLbrStack:
                let st = LbrStackSnapshot(tos: 1, from: [0x1000, 0x1010], to: [0x2000, 0x2010])
                out.append(.guest(GuestResult(command: g, status: .ok, stack: st, tscBegin: b, tscEnd: tsc)))
            case .enableLbr:
                out.append(.guest(GuestResult(command: g, status: .ok, values: [1], tscBegin: b, tscEnd: tsc)))
            default:
                out.append(.guest(GuestResult(command: g, status: .ok, tscBegin: b, tscEnd: tsc)))
            }
            if step.timing == .whileVcpuRuns, let after = hostWindowStartAfterBegin, let action = step.hostAction {
                out.append(.hostActionWindow(HostActionWindow(action: action, guestTscStart: b + after,
                    guestTscEnd: b + after + 50, commandTscBegin: b, commandTscEnd: tsc, errorTicks: 5)))
            }
        }
        if step.hostAction == .readContenders {
            for c in open {
                out.append(.hostEvent(contender: c.description, state: c.usesLbr ? .active : (active ? .error : .active),
                                      enabledNs: 10, runningNs: 10))
                if c.usesLbr {
                    out.append(.hostSamples(HostSampleSummary(contender: c.description, samples: 8,
                        withBranches: 8, emptyBranches: 0, guestAddresses: 0, staleRepeats: active ? 8 : 0)))
                }
            }
        }
        if step.hostAction == .readKmsg && !active { out.append(.kmsg("kvm_intel: vcpu-0: fail to passthrough LBR.")) }
        if hugeEvidence { out += (0..<400).map { .note("padding line \($0) " + String(repeating: "x", count: 80)) } }
        out.append(.vlbr(active ? .active : .error))
        let basis: Basis = kind == .hw ? .hardware : .model(modelName ?? "mainline")
        return out.enumerated().map { TimedObservation(timeNs: UInt64($0.offset), $0.element, basis: basis) }
    }
    func end() -> [TimedObservation] { ends += 1; return [] }
}

enum Fixtures {
    /// A report with every status: pass, fail (unmet expectation), skip, error, timeout.
    static func mixedReport(kind: BackendKind = .sim) -> RunReport {
        let b = ReportFixtureBackend()
        b.kind = kind
        if kind == .hw { b.modelName = nil }
        b.unsupported["counter-exhaustion"] = "no CPUID.0xA counters # on this \"host\" <x>"
        b.throwIn["irq-takeover"] = .failed("KVM_RUN: EFAULT & <bad>")
        b.throwIn["switch-retention"] = .timeout("guest did not answer within 45 s")
        b.inactive = ["slot-contention"]
        let exp = try! ExpectationSet.parse("slot-contention coexist\nguest-baseline vlbr-active\n")
        let opts = RunOptions(cpu: 1, repeats: 1, kernelRelease: "6.18.0-test", selection: AutoSelection(chosen: .hw, detail: "no LBR here", passedOver: []),
                              expectFile: "expectations/x.expect")
        return Runner(backend: b, options: opts, expectations: exp, wallClockUnixNs: { 1_700_000_000_123_456_789 })
            .run(Catalog.all)
    }

    static func unavailableReport() -> RunReport {
        let b = ReportFixtureBackend()
        b.avail = .unavailable([.init(.noCorePmu, "no LBR: no Intel PMU (/sys/bus/event_source/devices/cpu absent)", ref: "§4")])
        return Runner(backend: b, options: RunOptions(kernelRelease: "6.18")).run(Catalog.all)
    }
}

