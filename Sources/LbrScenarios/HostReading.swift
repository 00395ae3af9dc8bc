// What the host side looked like at the end of a phase, per contender.

import LbrCore

/// What the host side looked like at the end of a phase, per contender.
public struct HostReading: Hashable, Sendable, Codable {
    public var contender: String
    public var state: HostEventState?
    public var samples: Int
    public var withBranches: Int
    public var emptyBranches: Int
    public var guestAddresses: Int
    /// Stale repeats (same hw_idx and entries as the previous sample, §9.1); nil in documents written before.
    public var staleRepeats: Int?
    /// One stale stack, as evidence.
    public var staleExample: String?
    public init(contender: String, state: HostEventState?, samples: Int = 0, withBranches: Int = 0,
                emptyBranches: Int = 0, guestAddresses: Int = 0) {
        self.contender = contender; self.state = state; self.samples = samples; self.withBranches = withBranches
        self.emptyBranches = emptyBranches; self.guestAddresses = guestAddresses
    }
}
