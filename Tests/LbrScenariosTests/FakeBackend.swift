// Test-only scripted backends: they return observations the tests choose, so verdicts can be asserted
// for concrete signal combinations (including disagreeing ones).

import LbrCore
@testable import LbrScenarios

/// How the vLBR behaves for one guest command in the fake world.
enum FakeVlbr: Equatable {
    /// Active and passed through at VM-entry.
    case active
    /// Not active at entry; the first (trapped) LBR access brings it back and the write sticks.
    case activatedByAccess
    /// Not active: accesses trapped, writes dropped, reads 0.
    case inactive
    /// No guest LBR: LBR MSR accesses fault.
    case absent
}

/// A fake backend driven by a closure per step. It records the call sequence so tests can check `end()`.
final class ScriptedBackend: ScenarioBackend {
    let kind: BackendKind
    let modelName: String?
    var avail: BackendAvailability = .available(detail: "scripted")
    var supportFor: (Scenario) -> ScenarioSupport = { _ in .supported }
    var layout: LbrLayout? = .skylake
    var beginError: BackendError?
    /// Returns observations for (phase, step); may throw.
    var respond: (String, Step) throws(BackendError) -> [Observation]
    var endObservations: [Observation] = []
    /// Called after each perform (to advance a fake clock).
    var afterStep: () -> Void = {}

    private(set) var calls: [String] = []
    private var plan: [(String, Step)] = []
    private var cursor = 0
    private var time: UInt64 = 0

    init(kind: BackendKind = .sim, model: String? = "fake",
         respond: @escaping (String, Step) throws(BackendError) -> [Observation]) {
        self.kind = kind; self.modelName = model; self.respond = respond
    }

    func availability() -> BackendAvailability { avail }
    func support(for scenario: Scenario) -> ScenarioSupport { supportFor(scenario) }

    func begin(_ scenario: Scenario, cpu: Int) throws(BackendError) -> SessionInfo {
        calls.append("begin(\(scenario.name),\(cpu))")
        if let beginError { throw beginError }
        plan = scenario.phases.flatMap { p in p.steps.map { (p.name, $0) } }
        cursor = 0
        return SessionInfo(backend: kind, model: modelName, cpu: cpu, lbrLayout: layout, notes: ["scripted"])
    }

    func perform(_ step: Step, deadlineNs: UInt64) throws(BackendError) -> [TimedObservation] {
        precondition(cursor < plan.count && plan[cursor].1 == step, "runner performed steps out of order")
        let phase = plan[cursor].0
        cursor += 1
        calls.append("perform(\(phase))")
        defer { afterStep() }
        return try respond(phase, step).map { time += 1; return TimedObservation(timeNs: time, $0) }
    }

    func end() -> [TimedObservation] {
        calls.append("end")
        return endObservations.map { TimedObservation(timeNs: 0, $0) }
    }

    var endCount: Int { calls.filter { $0 == "end" }.count }
    var beginCount: Int { calls.filter { $0.hasPrefix("begin") }.count }
}

/// A consistent signal world: given the vLBR behaviour per (phase, guest command index in the phase), it
/// emits what a backend would see — readbacks, trapped/passed-through MSR accesses, kmsg lines, host
/// samples and contender states. Knobs inject disagreeing signals.
final class SignalWorld {
    var vlbr: (String, Int) -> FakeVlbr
    /// Host samples per read while the vCPU ran.
    var samplesPerRead = 10
    /// Force kmsg lines in these phases regardless of state (a disagreeing signal).
    var extraKmsgPhases: Set<String> = []
    /// Ground truth to report per phase (nil: none).
    var groundTruth: (String) -> VlbrState? = { _ in nil }
    /// Guest addresses in host samples per phase.
    var guestAddresses: (String, Bool) -> Int = { _, _ in 0 }
    /// LBR stack content per phase (nil: derived from the state).
    var stackFor: (String) -> LbrStackSnapshot? = { _ in nil }
    /// Whether host LBR samples are starved while the vLBR is active (mainline) or not.
    var starveWhenActive = true

    private var cmdIndex: [String: Int] = [:]
    private var open: [ContenderSpec] = []
    private var lastState: FakeVlbr = .inactive
    private var tsc: UInt64 = 1_000
    let layout = LbrLayout.skylake

    init(_ vlbr: @escaping (String, Int) -> FakeVlbr) { self.vlbr = vlbr }

    static let fullStack = LbrStackSnapshot(tos: 5, from: (0..<32).map { UInt64(0x1000 + $0) },
                                            to: (0..<32).map { UInt64(0x2000 + $0) })
    static let zeroStack = LbrStackSnapshot(tos: 0, from: Array(repeating: 0, count: 32), to: Array(repeating: 0, count: 32))

    func respond(_ phase: String, _ step: Step) -> [Observation] {
        var out: [Observation] = []
        if case let .open(c)? = step.hostAction { open.append(c) }
        if let g = step.guestCommand { out += guest(phase, g) }
        switch step.hostAction {
        case let .close(c)?: open.removeAll { $0 == c }
        case .readKmsg?:
            if lastState == .inactive || extraKmsgPhases.contains(phase) {
                out.append(.kmsg("kvm_intel: vcpu-0: \(failToPassthroughMessage)."))
            }
        case .readContenders?:
            let active = lastState == .active || lastState == .activatedByAccess
            for c in open {
                if c.usesLbr {
                    let starved = active && starveWhenActive
                    out.append(.hostEvent(contender: c.description, state: .active, enabledNs: 100, runningNs: 100))
                    out.append(.hostSamples(HostSampleSummary(contender: c.description, samples: samplesPerRead,
                        withBranches: samplesPerRead, emptyBranches: 0,
                        guestAddresses: guestAddresses(phase, active), staleRepeats: starved ? samplesPerRead : 0)))
                } else {
                    out.append(.hostEvent(contender: c.description, state: active ? .error : .active,
                                          enabledNs: 100, runningNs: active ? 0 : 100))
                }
            }
        default: break
        }
        if let gt = groundTruth(phase) { out.append(.vlbr(gt)) }
        return out
    }

    func guest(_ phase: String, _ c: GuestCommand) -> [Observation] {
        let i = cmdIndex[phase, default: 0]
        cmdIndex[phase] = i + 1
        var st = vlbr(phase, i)
        let begin = tsc
        tsc += 1_000
        var out: [Observation] = []
        func result(_ status: GuestStatus = .ok, _ values: [UInt64] = [], stack: LbrStackSnapshot? = nil) -> Observation {
            .guest(GuestResult(command: c, status: status, values: values, stack: stack, tscBegin: begin, tscEnd: tsc,
                               exits: ExitCounters(exits: 2)))
        }
        switch c {
        case let .writeTos(v), let .probeTos(v):
            if st == .absent {
                out.append(.msrAccess(MsrAccess(index: MSR.lbrTos, isWrite: true, value: v, trapped: true, faulted: true)))
                out.append(result(.fault(vector: 13, rip: 0x1234)))
                break
            }
            let trappedFirst = st != .active
            let sticks = st != .inactive
            out.append(.msrAccess(MsrAccess(index: MSR.lbrTos, isWrite: true, value: v, trapped: trappedFirst)))
            out.append(.msrAccess(MsrAccess(index: MSR.lbrTos, isWrite: false, value: sticks ? v & layout.tosMask : 0,
                                            trapped: !sticks)))
            out.append(result(.ok, [sticks ? v & layout.tosMask : 0]))
            if st == .activatedByAccess { st = .active }
        case .readLbrStack:
            if st == .absent { out.append(result(.fault(vector: 13, rip: 0x1234))); break }
            let active = st != .inactive
            out.append(.msrAccess(MsrAccess(index: MSR.lbrTos, isWrite: false, value: 5, trapped: st != .active)))
            out.append(.msrAccess(MsrAccess(index: MSR.lbrNhmFrom, isWrite: false, value: 1, trapped: !active)))
            out.append(result(.ok, [], stack: stackFor(phase) ?? (active ? Self.fullStack : Self.zeroStack)))
            if st == .activatedByAccess { st = .active }
        case .enableLbr:
            out.append(result(.ok, [st == .absent ? 0 : DebugCtl.lbr]))
        case .disableLbr:
            out.append(result(.ok, [0]))
        default:
            out.append(result())
        }
        lastState = st
        return out
    }
}

extension ScriptedBackend {
    convenience init(world: SignalWorld, kind: BackendKind = .sim, model: String? = "fake") {
        self.init(kind: kind, model: model) { (p: String, s: Step) throws(BackendError) -> [Observation] in
            world.respond(p, s)
        }
    }
}

/// A deterministic clock for the runner.
final class FakeClock: @unchecked Sendable {
    var now: UInt64 = 0
    func read() -> UInt64 { now }
}
