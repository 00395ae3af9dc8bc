// What the host actor does in a step (open or close a contender, read them, read the kernel log): the vocabulary
// the scenarios use and the backends observe, so a host action taken while the vCPU ran is reported typed
// (`HostActionWindow.action`). Each spelling (`description`) reads back with `init?(code:)`.

/// Which contender(s) a host step opens or closes. Most are fixed `Contender`s; counter exhaustion
/// depends on the host's PMU and is resolved by the backend.
public enum ContenderSpec: Hashable, Sendable, Codable, CustomStringConvertible {
    /// A fixed contender from LbrCore (attributes live in Contenders.swift only).
    case contender(Contender)
    /// One CPU-pinned counting event on every general-purpose and fixed counter of the vCPU's CPU
    /// (`Contender.counterExhaustion(gp:fixed:)` with the counts from CPUID.0xA — the backend resolves them
    /// and reports the resolved contender in a `.note`), reference §3.4 (b).
    case everyCounter

    public var description: String {
        switch self {
        case let .contender(c): return c.name
        case .everyCounter: return "counter-exhaustion-all"
        }
    }

    /// Whether the contender uses the LBR hardware (so its samples can show starvation).
    public var usesLbr: Bool {
        switch self {
        case let .contender(c): return c.usesLbr
        case .everyCounter: return false
        }
    }

    /// The spec spelled `code` (its `description`), nil for anything else.
    public init?(code: String) {
        if code == ContenderSpec.everyCounter.description { self = .everyCounter; return }
        guard let c = Contender(name: code) else { return nil }
        self = .contender(c)
    }
}

/// What the host actor does.
public enum HostAction: Hashable, Sendable, SpelledValue, CustomStringConvertible {
    public static let spellingKind = "host action"
    public var code: String { description }
    /// Open the contender on the vCPU's CPU (pid = -1, cpu = N for CPU-scoped ones) and enable it.
    case open(ContenderSpec)
    /// Close the contender (all of its events).
    case close(ContenderSpec)
    /// Read every open contender: one `.hostEvent` per event (state from time_enabled/time_running or a 0-byte
    /// read for ERROR, §3.3) and one `.hostSamples` summary of the samples taken on the vCPU's CPU while the
    /// vCPU ran since the previous read (§3.4, §8.1).
    case readContenders
    /// Drain kernel log lines since the previous read; report every line containing
    /// `failToPassthroughMessage` as `.kmsg` (§1.5).
    case readKmsg

    public var description: String {
        switch self {
        case let .open(c): return "open(\(c))"
        case let .close(c): return "close(\(c))"
        case .readContenders: return "read-contenders"
        case .readKmsg: return "read-kmsg"
        }
    }

    /// The action spelled `code` (its `description`), nil for anything else.
    public init?(code: String) {
        switch WireSpelling.call(code) {
        case ("read-contenders", nil): self = .readContenders
        case ("read-kmsg", nil): self = .readKmsg
        case let ("open", c?): guard let spec = ContenderSpec(code: c) else { return nil }; self = .open(spec)
        case let ("close", c?): guard let spec = ContenderSpec(code: c) else { return nil }; self = .close(spec)
        default: return nil
        }
    }
}
