// The verdict for one phase: the inferred vLBR state and the signals behind it.

import LbrCore

/// The verdict for one phase.
public struct PhaseVerdict: Hashable, Sendable, Codable {
    public var phase: String
    public var role: PhaseRole
    public var inferred: InferredVlbr
    /// Every signal present, in precedence order.
    public var signals: [SignalReading]
    /// Signals whose vote equals `inferred`.
    public var agreeing: [SignalKind]
    /// Signals whose vote differs from `inferred`.
    public var disagreeing: [SignalKind]
    public var host: [HostReading]
    /// Whether the host contender(s) were starved (empty LBR stacks, or ERROR/INACTIVE); nil without evidence.
    public var hostStarved: Bool?
    public var groundTruth: GroundTruth?
    /// Human-readable evidence lines, one per observation summary.
    public var evidence: [String]
    public var durationNs: UInt64
    /// N of the host LBR samples the phase's sample-based votes stand on (kept samples of its LBR contenders);
    /// nil when the phase had no LBR contender. Below `VerdictEngine.minimumHostSamples` those votes abstain.
    public var hostLbrSamples: Int? = nil
    /// Shadow model: predicted versus observed for this phase (hw/hybrid runs with a shadow model; Shadow.swift).
    public var shadow: ShadowPhase? = nil

    /// Total guest branch addresses in host samples of LBR contenders during the phase.
    public var guestAddressesInHostSamples: Int { host.reduce(0) { $0 + $1.guestAddresses } }
    public var hostSamples: Int { host.reduce(0) { $0 + $1.samples } }
}
