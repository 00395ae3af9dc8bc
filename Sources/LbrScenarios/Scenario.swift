// Scenarios as data: what the host actor and the guest actor do, in which order and with which
// timing relative to the vCPU's KVM_RUN, grouped into phases the verdict engine judges separately.
// A backend executes these steps literally; nothing here touches the kernel.

import LbrCore

/// When a host action happens relative to the vCPU.
public enum TimingMode: String, Hashable, Sendable, Codable, CaseIterable {
    /// The host acts while the vCPU thread is outside KVM_RUN (between two guest commands).
    /// A CPU event is then installed without interrupting the guest.
    case betweenExits = "between-exits"
    /// The host acts concurrently while the guest executes a command inside KVM_RUN, so perf installs a
    /// CPU event by IPI on the vCPU's CPU (`perf_install_in_context()` → `cpu_function_call()`, reference §3.5);
    /// the IPI forces a VM-exit and KVM re-evaluates the vLBR state at the next VM-entry (§1.5).
    case whileVcpuRuns = "while-vcpu-runs"
    /// A CPU hog pinned to the vCPU's CPU preempts the vCPU thread while the guest executes a command inside
    /// KVM_RUN, so `kvm_sched_out()`/`kvm_sched_in()` run with the vCPU loaded and `kvm_arch_vcpu_load()`
    /// flags a PMU cleanup (reference §1.6, §8.4).
    case preemption
}

/// What a host task does when it preempts the vCPU thread (`TimingMode.preemption`).
public enum PreemptingTask: Hashable, Sendable, Codable, CustomStringConvertible {
    /// A plain CPU hog pinned to the vCPU's CPU (busy loop at the same priority), §8.4.
    case cpuHog
    /// A host task pinned to the vCPU's CPU that uses LBR call-stack mode while it runs
    /// (`Contender.lbrCallStackTask` opened on that task), §3.4 last bullet, 2018 seed.
    case lbrCallStackTask

    public var description: String { self == .cpuHog ? "cpu-hog" : "lbr-call-stack-task" }

    /// The task spelled `code` (its `description`), nil for anything else.
    public init?(code: String) {
        switch code {
        case PreemptingTask.cpuHog.description: self = .cpuHog
        case PreemptingTask.lbrCallStackTask.description: self = .lbrCallStackTask
        default: return nil
        }
    }
}

/// One step: an action by one actor, or a host action timed against a guest command.
public enum StepAction: Hashable, Sendable, Codable {
    /// The guest executes one command (one or more KVM_RUN calls until the mailbox reports completion).
    case guest(GuestCommand)
    /// The host acts while the vCPU is out of KVM_RUN (`TimingMode.betweenExits`).
    case host(HostAction)
    /// The host performs `host` while the guest is inside KVM_RUN executing `during`
    /// (`TimingMode.whileVcpuRuns`): the backend starts the guest command, waits until the vCPU is in
    /// KVM_RUN, then performs the host action, then waits for the guest command to finish.
    case hostWhileGuestRuns(HostAction, during: GuestCommand)
    /// A `task` pinned to the vCPU's CPU preempts the vCPU thread at least once while the guest executes
    /// `during` (`TimingMode.preemption`). The backend must report the number of involuntary context
    /// switches of the vCPU thread as `.contextSwitches` (0 ⇒ the preemption did not happen).
    case preemptGuest(by: PreemptingTask, during: GuestCommand)

    /// The step as text (`host open(pinned-lbr-any-cycles) [while-vcpu-runs: guest spin-for(2000us)]`): the
    /// spelling of `measures.timed_steps[].step` in a run document.
    public var code: String {
        switch self {
        case let .guest(g): return "guest \(g)"
        case let .host(h): return "host \(h) [between-exits]"
        case let .hostWhileGuestRuns(h, g): return "host \(h) [while-vcpu-runs: guest \(g)]"
        case let .preemptGuest(t, g): return "preempt by \(t) [preemption: guest \(g)]"
        }
    }

    /// The step spelled `code` (its `code`), nil for anything else.
    public init?(code: String) {
        if code.hasPrefix("guest ") {
            guard let g = GuestCommand(code: String(code.dropFirst(6))) else { return nil }
            self = .guest(g)
            return
        }
        // `ACTOR [TIMING]` or `ACTOR [TIMING: guest COMMAND]`; no spelling inside contains " [".
        guard code.hasSuffix("]"), let open = code.firstRange(of: " [") else { return nil }
        let actor = String(code[..<open.lowerBound])
        let bracket = code[open.upperBound..<code.index(before: code.endIndex)]
        let timing: String, during: GuestCommand?
        if let colon = bracket.firstRange(of: ": guest ") {
            timing = String(bracket[..<colon.lowerBound])
            guard let g = GuestCommand(code: String(bracket[colon.upperBound...])) else { return nil }
            during = g
        } else {
            timing = String(bracket); during = nil
        }
        switch (TimingMode(rawValue: timing), during) {
        case (.betweenExits?, nil) where actor.hasPrefix("host "):
            guard let h = HostAction(code: String(actor.dropFirst(5))) else { return nil }
            self = .host(h)
        case let (.whileVcpuRuns?, g?) where actor.hasPrefix("host "):
            guard let h = HostAction(code: String(actor.dropFirst(5))) else { return nil }
            self = .hostWhileGuestRuns(h, during: g)
        case let (.preemption?, g?) where actor.hasPrefix("preempt by "):
            guard let t = PreemptingTask(code: String(actor.dropFirst(11))) else { return nil }
            self = .preemptGuest(by: t, during: g)
        default:
            return nil
        }
    }
}

/// Which actor(s) a step involves.
public enum StepActor: String, Hashable, Sendable, Codable {
    case host, guest, both
}

/// One step of a scenario.
public struct Step: Hashable, Sendable, Codable, CustomStringConvertible {
    public var action: StepAction
    /// Why the step is there (shown in verbose text output).
    public var purpose: String

    public init(_ action: StepAction, _ purpose: String = "") { self.action = action; self.purpose = purpose }

    public static func guest(_ c: GuestCommand, _ purpose: String = "") -> Step { Step(.guest(c), purpose) }
    public static func host(_ h: HostAction, _ purpose: String = "") -> Step { Step(.host(h), purpose) }
    public static func hostWhileGuestRuns(_ h: HostAction, during g: GuestCommand, _ purpose: String = "") -> Step {
        Step(.hostWhileGuestRuns(h, during: g), purpose)
    }
    public static func preempt(by t: PreemptingTask, during g: GuestCommand, _ purpose: String = "") -> Step {
        Step(.preemptGuest(by: t, during: g), purpose)
    }

    /// The timing mode of the host part of this step, nil for a guest-only step.
    public var timing: TimingMode? {
        switch action {
        case .guest: return nil
        case .host: return .betweenExits
        case .hostWhileGuestRuns: return .whileVcpuRuns
        case .preemptGuest: return .preemption
        }
    }

    public var actor: StepActor {
        switch action {
        case .guest: return .guest
        case .host: return .host
        case .hostWhileGuestRuns, .preemptGuest: return .both
        }
    }

    /// The guest command this step runs, if any.
    public var guestCommand: GuestCommand? {
        switch action {
        case let .guest(g), let .hostWhileGuestRuns(_, g), let .preemptGuest(_, g): return g
        case .host: return nil
        }
    }

    /// The host action this step performs, if any.
    public var hostAction: HostAction? {
        switch action {
        case let .host(h), let .hostWhileGuestRuns(h, _): return h
        case .guest, .preemptGuest: return nil
        }
    }

    public var description: String { action.code }
}

/// What a phase is for, as far as the verdict engine is concerned.
public enum PhaseRole: String, Hashable, Sendable, Codable {
    /// Establishes state; judged and reported but not used for the outcome.
    case setup
    /// The guest uses LBR with no contender present.
    case baseline
    /// A contender is present (or the contention is being created).
    case contended
    /// Contention has ended; the phase probes whether the vLBR is active again.
    case afterContention = "after-contention"
    /// A recovery attempt by a specific guest action (see `Phase.recoveryPath`).
    case recoveryAttempt = "recovery-attempt"
    /// Host LBR samples are inspected for guest branch addresses.
    case tracing
    /// A reference copy of the guest's LBR stack is taken.
    case stackReference = "stack-reference"
    /// The guest's LBR stack is read again and compared with the previous `stackReference` phase.
    case stackCheck = "stack-check"
}

/// A named group of steps judged together.
public struct Phase: Hashable, Sendable, Codable {
    /// ASCII name, unique within the scenario ([a-z0-9-]).
    public var name: String
    public var role: PhaseRole
    /// For `.recoveryAttempt` phases: the path this phase tries.
    public var recoveryPath: RecoveryPath?
    public var steps: [Step]

    public init(_ name: String, _ role: PhaseRole, recoveryPath: RecoveryPath? = nil, _ steps: [Step]) {
        self.name = name; self.role = role; self.recoveryPath = recoveryPath; self.steps = steps
    }
}

/// How the verdict engine turns phase verdicts into the scenario's outcome terms.
public enum OutcomeRule: Hashable, Sendable, Codable {
    /// One term: `vlbr-active` if the baseline phase shows an active vLBR, else `vlbr-inactive`.
    case baseline(phase: String)
    /// Term 1 from the contended phase (`guest-wins-host-starved`, `coexist` or `host-wins-vlbr-error`);
    /// if the vLBR lost, term 2 from the after-contention phase (`recovered(path)` or `stays-errored`).
    case contention(contended: String, after: String)
    /// Term 1 from the contended phase; term 2 from the first recovery attempt (in order) after which the
    /// vLBR is active again (`recovered(path)`), else `stays-errored`.
    case recovery(contended: String, attempts: [String])
    /// One term per phase, in order: `guest-traced` or `not-traced`.
    case tracing(phases: [String])
    /// One term per contended phase, in order (`guest-wins-host-starved`, `coexist` or `host-wins-vlbr-error`).
    case takeover(phases: [String])
    /// One term per (reference, check) pair, in order: `retained` or `lost`.
    case retention(pairs: [StackPair])
}

/// A reference phase and the phase that re-reads the stack.
public struct StackPair: Hashable, Sendable, Codable {
    public var reference: String
    public var check: String
    public init(_ reference: String, _ check: String) { self.reference = reference; self.check = check }
}

/// A contention scenario.
public struct Scenario: Hashable, Sendable, Codable, Identifiable {
    /// Stable ASCII name ([a-z0-9-]), used on the command line, in expectation files and test names.
    public var name: String
    /// The question the scenario answers.
    public var question: String
    /// Where the question comes from (reference sections, seed messages).
    public var citation: String
    /// Whether the citation's claims are confirmed (`unverified`: the contract lists it under its caveats).
    public var citationStatus: CitationStatus
    /// The expected shape of the outcome, e.g. `<contended>[+<after>]`, with the labels of its term positions.
    public var outcomeForm: OutcomeForm
    public var phases: [Phase]
    public var rule: OutcomeRule
    /// Stack watches (besides the outcome): the last LBR stack read of each pair's `reference` phase, taken with the
    /// stack frozen, must read back the same at the first stack read of its `check` phase; a difference while the
    /// check phase's vLBR is ACTIVE is the `guest-lbr-wiped` finding (`VerdictEngine.stackWipes`).
    public var stackWatches: [StackPair] = []
    /// Whether the scenario needs the guest to run while the host acts concurrently or preempts it.
    public var timingModes: Set<TimingMode> {
        Set(phases.flatMap { $0.steps.compactMap(\.timing) })
    }
    /// Every contender the scenario opens.
    public var contenders: [ContenderSpec] {
        var out: [ContenderSpec] = []
        for s in phases.flatMap(\.steps) {
            if case let .open(c)? = s.hostAction, !out.contains(c) { out.append(c) }
        }
        return out
    }
    public var id: String { name }

    public init(name: String, question: String, citation: String, citationStatus: CitationStatus = .settled,
                outcomeForm: OutcomeForm, phases: [Phase], rule: OutcomeRule, stackWatches: [StackPair] = []) {
        self.name = name; self.question = question; self.citation = citation; self.citationStatus = citationStatus
        self.outcomeForm = outcomeForm; self.phases = phases; self.rule = rule; self.stackWatches = stackWatches
    }

    /// Every step in order.
    public var steps: [Step] { phases.flatMap(\.steps) }

    /// Structural problems (names, rule references, balanced open/close); empty when the scenario is sound.
    public func validate() -> [String] {
        var problems: [String] = []
        func asciiName(_ s: String) -> Bool {
            !s.isEmpty && s.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
        }
        if !asciiName(name) { problems.append("scenario name '\(name)' is not [a-z0-9-]") }
        var seen: Set<String> = []
        for p in phases {
            if !asciiName(p.name) { problems.append("phase name '\(p.name)' is not [a-z0-9-]") }
            if !seen.insert(p.name).inserted { problems.append("duplicate phase '\(p.name)'") }
            if p.steps.isEmpty { problems.append("phase '\(p.name)' has no steps") }
            if (p.role == .recoveryAttempt) != (p.recoveryPath != nil) {
                problems.append("phase '\(p.name)': recoveryPath must be set exactly for recovery attempts")
            }
        }
        let referenced: [String]
        switch rule {
        case let .baseline(p): referenced = [p]
        case let .contention(c, a): referenced = [c, a]
        case let .recovery(c, attempts): referenced = [c] + attempts
        case let .tracing(ps), let .takeover(ps): referenced = ps
        case let .retention(pairs): referenced = pairs.flatMap { [$0.reference, $0.check] }
        }
        for r in referenced where !seen.contains(r) { problems.append("rule references unknown phase '\(r)'") }
        for w in stackWatches {
            for r in [w.reference, w.check] where !seen.contains(r) { problems.append("stack watch references unknown phase '\(r)'") }
            let ref = phases.first { $0.name == w.reference }?.steps.last { $0.guestCommand == .readLbrStack }
            let chk = phases.first { $0.name == w.check }?.steps.contains { $0.guestCommand == .readLbrStack } ?? false
            if ref == nil || !chk { problems.append("stack watch \(w.reference) -> \(w.check): both phases must read the LBR stack") }
        }
        var open: [ContenderSpec] = []
        for s in steps {
            switch s.hostAction {
            case let .open(c)?:
                if open.contains(c) { problems.append("\(c) opened twice") }
                open.append(c)
            case let .close(c)?:
                if let i = open.firstIndex(of: c) { open.remove(at: i) } else { problems.append("\(c) closed but not open") }
            default: break
            }
        }
        for c in open { problems.append("\(c) never closed") }
        return problems
    }
}
