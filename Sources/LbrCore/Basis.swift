// Where a fact comes from. Every observation a backend produces carries one, and so does everything derived
// from observations (signals, host readings, findings, timeline events, contract statements), so that a fact
// the kernel model made up never reads like a measurement.
//
//   hw      everything is `hardware`: real perf events and KVM's real vLBR on an LBR-capable Intel host.
//   hybrid  `kvm` for what the real KVM guest did on this host (VM-exits, MSR-filter exits, the vCPU thread's
//           context switches, tracepoints); `model NAME` for what the model played (host perf events and
//           their samples, the vLBR's state and the LBR contents the guest read, kernel messages).
//   sim     everything is `model NAME`.

/// The basis of one fact: a hardware measurement, a real KVM fact of this host, or a kernel model's prediction.
public enum Basis: Hashable, Sendable, SpelledValue, CustomStringConvertible {
    public static let spellingKind = "basis"
    /// Real perf events and KVM's real vLBR on LBR hardware.
    case hardware
    /// Real KVM (or kernel) activity on this host: exits, MSR-filter exits, context switches, tracepoints.
    case kvm
    /// Made by the kernel model of this name (`KernelVariant.name`).
    case model(String)

    /// Whether the fact was measured on this host (hardware or real KVM), as opposed to predicted by a model.
    public var isMeasured: Bool { if case .model = self { return false } else { return true } }

    /// The model's name, for a model fact.
    public var modelName: String? { if case let .model(m) = self { return m } else { return nil } }

    /// The stable kind word: `hardware`, `kvm`, `model`.
    public var kind: String {
        switch self {
        case .hardware: return "hardware"
        case .kvm: return "kvm"
        case .model: return "model"
        }
    }

    /// "hardware", "kvm", "model mainline": how text names it.
    public var description: String { modelName.map { "model \($0)" } ?? kind }

    /// The wire form: `hardware`, `kvm`, `model:NAME`.
    public var code: String { modelName.map { "model:\($0)" } ?? kind }

    /// Parses the wire form (`code`).
    public init?(code: String) {
        switch code {
        case "hardware": self = .hardware
        case "kvm": self = .kvm
        default:
            guard code.hasPrefix("model:"), code.count > 6 else { return nil }
            self = .model(String(code.dropFirst(6)))
        }
    }


    /// The weaker of two bases: a model fact makes anything derived from it a model fact; otherwise real KVM
    /// is weaker than hardware.
    public func weakest(_ other: Basis) -> Basis {
        func rank(_ b: Basis) -> Int { switch b { case .hardware: return 0; case .kvm: return 1; case .model: return 2 } }
        return rank(other) > rank(self) ? other : self
    }
}
